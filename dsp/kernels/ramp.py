"""Kernels for parameter values over a block: linear smoothing ramps and breakpoint automation.

Curve codes for breakpoint segments (the segment from breakpoint ``i`` to ``i + 1`` uses ``curves[i]``):
``CURVE_LINEAR``, ``CURVE_EXP`` (constant ratio per sample; falls back to linear when the end points differ
in sign or one is zero) and ``CURVE_HOLD`` (keeps the value of breakpoint ``i`` until ``i + 1``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CURVE_EXP", "CURVE_HOLD", "CURVE_LINEAR", "eval_breakpoints", "fill_ramp"]

CURVE_LINEAR = 0
CURVE_EXP = 1
CURVE_HOLD = 2


@njit(cache=True, nogil=True)
def fill_ramp(out, start, n, current, step, remaining, target):
    """Write ``n`` values from ``out[start]`` on: a linear ramp of ``step`` per sample for ``remaining``
    samples, landing exactly on ``target``, then constant. Returns ``(current, remaining)`` after the last
    sample written."""
    for i in range(start, start + n):
        if remaining > 0:
            remaining -= 1
            current = target if remaining == 0 else current + step
        out[i] = current
    return current, remaining


@njit(cache=True, nogil=True)
def _value_at(times, values, curves, t):
    m = times.shape[0]
    if t <= times[0]:
        return values[0]
    if t >= times[m - 1]:
        return values[m - 1]
    # binary search: largest i with times[i] <= t
    lo = 0
    hi = m - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if times[mid] <= t:
            lo = mid
        else:
            hi = mid
    t0 = times[lo]
    t1 = times[lo + 1]
    v0 = values[lo]
    v1 = values[lo + 1]
    c = curves[lo]
    if c == CURVE_HOLD or t1 <= t0:
        return v0
    x = (t - t0) / (t1 - t0)
    if c == CURVE_EXP and v0 * v1 > 0.0:
        return v0 * (v1 / v0) ** x
    return v0 + (v1 - v0) * x


@njit(cache=True, nogil=True)
def eval_breakpoints(times, values, curves, timeline_start, out, start, n):
    """Fill ``out[start:start+n]`` with the automation value at timeline samples
    ``timeline_start .. timeline_start + n - 1``. ``times`` (samples, float64) must be non-decreasing."""
    for i in range(n):
        out[start + i] = _value_at(times, values, curves, float(timeline_start + i))


def breakpoint_value(times: np.ndarray, values: np.ndarray, curves: np.ndarray, t: float) -> float:
    """The automation value at one timeline sample (control side)."""
    return float(_value_at(times, values, curves, float(t)))
