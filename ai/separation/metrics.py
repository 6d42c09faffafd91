"""Separation quality, measured against the true stems.

:func:`sdr` is the plain signal-to-distortion ratio: the energy of the reference over the energy of
what the estimate gets wrong, in dB. It is *not* BSS Eval's SDR (museval, mir_eval), which first projects
the estimate onto the reference (allowing a short distortion filter) and so forgives gain and small
filtering errors; the plain ratio counts every difference as error, so it is lower or equal, and it is
what the SiSEC/MUSDB "new SDR" (utterance-level, no projection) reports.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["EPSILON", "sdr"]

EPSILON = 1e-10  # keeps silent references and perfect estimates finite


def sdr(reference: np.ndarray, estimate: np.ndarray, epsilon: float = EPSILON) -> float:
    """``10 log10((sum(ref^2) + eps) / (sum((ref - est)^2) + eps))`` in dB, over all channels and frames.

    ``reference`` and ``estimate`` must have the same shape (any, e.g. ``(channels, frames)``); they are
    compared sample by sample in float64. Higher is better: 0 dB is what an all-zero estimate scores,
    and every halving of the error energy adds 3 dB.
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate must have the same shape, got {ref.shape} and {est.shape}")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("reference and estimate must be finite (no NaN or infinity)")
    signal = float(np.sum(ref * ref))
    error = float(np.sum((ref - est) ** 2))
    return 10.0 * math.log10((signal + epsilon) / (error + epsilon))
