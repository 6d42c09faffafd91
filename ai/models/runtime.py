"""One-step inference of the trained ``chords`` and ``melody`` models with onnxruntime (never torch).

A model is two files: ``NAME.onnx`` (the one-step graph of :mod:`ai.train.export`: ``token`` [1] int64,
``h``/``c`` [layers, 1, hidden] in; ``logits`` [V], ``h_out``/``c_out`` out) and ``NAME.json`` (the
vocabulary, the state shape, and how it was made: seed, data recipe, corpus counts, held-out NLL and
baselines, parameter count, the ONNX file's sha256). Call :func:`load_model`, then
:meth:`SequenceModel.initial_state` and :meth:`SequenceModel.step` token by token, drawing each next
token with :func:`ai.models.sampling.sample_token`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

__all__ = ["ModelFileError", "SequenceModel", "load_model", "weights_dir"]


class ModelFileError(ValueError):
    """A model's .onnx or .json file is missing, unreadable or does not match the other."""


def weights_dir() -> Path:
    """The folder of the committed model files."""
    return Path(__file__).resolve().parent / "weights"


State = tuple[np.ndarray, np.ndarray]


class SequenceModel:
    """A loaded model: its vocabulary, its meta data and an onnxruntime session stepping it."""

    def __init__(self, name: str, session: ort.InferenceSession, meta: dict):
        self.name = name
        self.meta = meta
        self.vocab: tuple[str, ...] = tuple(meta["vocab"])
        self._ids = {t: i for i, t in enumerate(self.vocab)}
        self._session = session
        self._state_shape = (int(meta["state"]["layers"]), 1, int(meta["state"]["hidden"]))
        self._token = np.zeros(1, np.int64)

    def token_id(self, token: str) -> int:
        """The id of ``token``; KeyError naming it when the model has no such token."""
        try:
            return self._ids[token]
        except KeyError:
            raise KeyError(f"model {self.name!r} has no token {token!r}") from None

    def initial_state(self) -> State:
        """The recurrent state before the first token."""
        return np.zeros(self._state_shape, np.float32), np.zeros(self._state_shape, np.float32)

    def step(self, token_id: int, state: State) -> tuple[np.ndarray, State]:
        """Feed one token: float32 logits [len(vocab)] for the next token, and the new state."""
        if not 0 <= token_id < len(self.vocab):
            raise ValueError(f"token id must be in 0..{len(self.vocab) - 1}, got {token_id}")
        self._token[0] = token_id
        logits, h, c = self._session.run(None, {"token": self._token, "h": state[0], "c": state[1]})
        return np.asarray(logits, np.float32), (h, c)

    def score(self, token_ids: list[int]) -> tuple[float, int]:
        """(total NLL in nats, number of targets) of a sequence: every token after the first."""
        state = self.initial_state()
        total = 0.0
        for prev, nxt in itertools.pairwise(token_ids):
            logits, state = self.step(prev, state)
            z = logits.astype(np.float64)
            m = z.max()
            total += float(m + np.log(np.exp(z - m).sum()) - z[nxt])
        return total, max(len(token_ids) - 1, 0)


def load_model(name: str, path: str | Path | None = None) -> SequenceModel:
    """Load model ``name`` from the committed weights, or from ``path`` (a .onnx file, or a folder
    holding NAME.onnx; the .json beside it). ModelFileError naming the file when either is missing
    or corrupt."""
    if path is None:
        onnx_path = weights_dir() / f"{name}.onnx"
    else:
        p = Path(path)
        onnx_path = p / f"{name}.onnx" if p.is_dir() else p
    meta_path = onnx_path.with_suffix(".json")
    for f in (onnx_path, meta_path):
        if not f.is_file():
            raise ModelFileError(f"model file not found: {f}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        vocab = meta["vocab"]
        layers, hidden = int(meta["state"]["layers"]), int(meta["state"]["hidden"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"model meta file {meta_path} is not valid: {e}") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a corrupt graph
        raise ModelFileError(f"model file {onnx_path} is not a valid ONNX model: {e}") from None
    names = [i.name for i in session.get_inputs()]
    out_shape = session.get_outputs()[0].shape
    if names != ["token", "h", "c"] or (isinstance(out_shape[0], int) and out_shape[0] != len(vocab)):
        raise ModelFileError(
            f"model file {onnx_path} does not match {meta_path}: inputs {names}, logits {out_shape}, "
            f"vocab of {len(vocab)}"
        )
    model = SequenceModel(name, session, meta)
    logits, _ = model.step(0, model.initial_state())
    if logits.shape != (len(vocab),) or model.initial_state()[0].shape != (layers, 1, hidden):
        raise ModelFileError(f"model file {onnx_path} gives logits {logits.shape}, vocab has {len(vocab)}")
    return model
