"""ONNX export of a trained :class:`ai.train.model.TokenLSTM` and the check that ONNX agrees with torch.

:func:`export_onnx` writes the one-step graph (inputs ``token`` [1] int64, ``h`` and ``c``
[layers, 1, hidden] float32; outputs ``logits`` [V], ``h_out``, ``c_out``); :func:`max_logit_error`
steps torch and onnxruntime through the same token sequence and returns the largest logit difference.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ai.train.model import OneStep, TokenLSTM

__all__ = ["export_onnx", "file_sha256", "max_logit_error"]


def export_onnx(model: TokenLSTM, path: Path) -> None:
    """Write the one-step ONNX graph of ``model`` to ``path``."""
    model.eval()
    step = OneStep(model)
    h = torch.zeros(model.layers, 1, model.hidden_size)
    token = torch.zeros(1, dtype=torch.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's batch-size note: the graph is built for batch 1
        torch.onnx.export(
            step,
            (token, h, h.clone()),
            str(path),
            input_names=["token", "h", "c"],
            output_names=["logits", "h_out", "c_out"],
            opset_version=17,
            dynamo=False,
        )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def max_logit_error(model: TokenLSTM, onnx_path: Path, token_ids: Sequence[int]) -> float:
    """Largest |torch - onnxruntime| logit difference over one pass through ``token_ids``."""
    import onnxruntime as ort

    model.eval()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    h = np.zeros((model.layers, 1, model.hidden_size), np.float32)
    c = h.copy()
    with torch.no_grad():
        ids = torch.tensor([list(token_ids)], dtype=torch.int64)
        ref = model(ids)[0].numpy()
    worst = 0.0
    for t, tok in enumerate(token_ids):
        logits, h, c = sess.run(None, {"token": np.array([tok], np.int64), "h": h, "c": c})
        worst = max(worst, float(np.max(np.abs(logits - ref[t]))))
    return worst
