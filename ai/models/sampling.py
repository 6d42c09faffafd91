"""Drawing the next token from a model's logits: temperature, top-k and a mask of allowed tokens.

:func:`sample_token` is deterministic for a given :class:`numpy.random.Generator` state; temperature 0
takes the most likely allowed token (the lowest id on a tie) and draws nothing from ``rng``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_token"]


def sample_token(
    logits: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    mask: np.ndarray | None = None,
) -> int:
    """The id of the next token. ``mask``: bool [V], True = allowed; ``top_k`` 0 keeps all tokens."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature < 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    if mask is not None:
        m = np.asarray(mask, dtype=bool).reshape(-1)
        if m.shape != z.shape:
            raise ValueError(f"mask must have {z.size} entries (one per token), got {m.size}")
        if not m.any():
            raise ValueError("mask allows no token")
        z = np.where(m, z, -np.inf)
    if top_k and top_k < z.size:
        kth = np.partition(z, z.size - top_k)[z.size - top_k]
        z = np.where(z >= kth, z, -np.inf)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    z = z - z[np.isfinite(z)].max()
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(z.size, p=p))
