"""Block meters: per-channel peak and RMS of one block."""

from __future__ import annotations

import math

from numba import njit

__all__ = ["peak_rms"]


@njit(cache=True, nogil=True)
def peak_rms(buf, n, peak_out, rms_out):
    """Write each channel's peak |x| and RMS over ``buf[:, :n]`` into ``peak_out`` and ``rms_out``."""
    for c in range(buf.shape[0]):
        pk = 0.0
        acc = 0.0
        for i in range(n):
            x = buf[c, i]
            a = abs(x)
            if a > pk:
                pk = a
            acc += x * x
        peak_out[c] = pk
        rms_out[c] = math.sqrt(acc / n) if n > 0 else 0.0
