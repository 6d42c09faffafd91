"""A trained sequence model stepped token by token under a mask: :class:`ModelWalker`.

The model proposes, the genre grammar constrains: each draw passes the set of tokens the grammar allows
at that point as a mask to :func:`ai.models.sampling.sample_token` (with the request's temperature and
top-k), and tokens the grammar forces (a cadence, a note held over) are fed with :meth:`ModelWalker.feed`
so the model's state always follows what was really played. :func:`load_optional` loads a model or
returns None, so the arranger can fall back to the grammar alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ai.errors import ModelError

__all__ = ["ModelWalker", "load_optional"]


def load_optional(name: str, required: bool = False) -> Any | None:
    """The trained model ``name`` (:func:`ai.models.runtime.load_model`), or None when its files are not
    there; ModelError instead of None when ``required``."""
    try:
        from ai.models.runtime import load_model

        return load_model(name)
    except (ImportError, ValueError, OSError) as exc:
        if required:
            raise ModelError(f"model {name!r} cannot be loaded: {exc}") from None
        return None


class ModelWalker:
    """One pass of a model through a piece: ``feed`` what is played, ``draw`` the next token."""

    def __init__(self, model: Any, temperature: float = 1.0, top_k: int = 0) -> None:
        self.model = model
        self.temperature = float(temperature)
        self.top_k = int(top_k)
        self.vocab: tuple[str, ...] = tuple(model.vocab)
        self._ids = {t: i for i, t in enumerate(self.vocab)}
        self.state = model.initial_state()
        self.logits: np.ndarray | None = None

    def knows(self, token: str) -> bool:
        return token in self._ids

    def feed(self, token: str) -> None:
        """Advance the model by ``token`` (ignored when the model has no such token)."""
        tid = self._ids.get(token)
        if tid is None:
            return
        self.logits, self.state = self.model.step(tid, self.state)

    def mask(self, allowed: Iterable[str]) -> np.ndarray:
        m = np.zeros(len(self.vocab), dtype=bool)
        for tok in allowed:
            tid = self._ids.get(tok)
            if tid is not None:
                m[tid] = True
        return m

    def draw(self, allowed: Iterable[str], rng: np.random.Generator) -> str:
        """Sample the next token among ``allowed`` (those the model knows), feed it and return it.
        ModelError when the model knows none of them or has not been fed a first token."""
        from ai.models.sampling import sample_token

        allowed = list(allowed)
        m = self.mask(allowed)
        if self.logits is None or not m.any():
            raise ModelError(f"model {getattr(self.model, 'name', '?')!r} cannot draw from {allowed[:4]}...")
        tid = sample_token(self.logits, rng, self.temperature, self.top_k, m)
        token = self.vocab[tid]
        self.feed(token)
        return token
