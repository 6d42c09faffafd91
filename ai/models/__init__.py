"""Trained sequence models served with onnxruntime: :func:`load_model` and :func:`sample_token`."""

from __future__ import annotations

from ai.models.runtime import ModelFileError, SequenceModel, load_model, weights_dir
from ai.models.sampling import sample_token

__all__ = ["ModelFileError", "SequenceModel", "load_model", "sample_token", "weights_dir"]
