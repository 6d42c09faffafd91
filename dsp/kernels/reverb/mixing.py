"""The Hadamard mixing of the sixteen lines, and the small kernels both paths share.

:func:`hadamard` is the mixing in its plain form, in place. The per-sample path applies its butterflies to
sixteen values kept in registers (:func:`_butterflies`); the chunked path steps the sixteen one-poles on
such values (:func:`_poles`, reading a row of ``net`` into them with :func:`_row`); both flush values below
``DENORMAL_FLOOR`` to zero (:func:`_flush`).
"""

from __future__ import annotations

from numba import njit

from dsp.kernels.delay import DENORMAL_FLOOR
from dsp.kernels.reverb.layout import NUM_LINES


@njit(cache=True, nogil=True)
def hadamard(v):
    """``v`` times the orthonormal 16 x 16 Hadamard matrix, in place (fast Walsh-Hadamard transform)."""
    h = 1
    while h < NUM_LINES:
        for i in range(0, NUM_LINES, 2 * h):
            for j in range(i, i + h):
                a = v[j]
                b = v[j + h]
                v[j] = a + b
                v[j + h] = a - b
        h *= 2
    for j in range(NUM_LINES):
        v[j] *= 0.25


@njit(cache=True, nogil=True, inline="always")
def _flush(v):
    return 0.0 if abs(v) < DENORMAL_FLOOR else v


@njit(cache=True, nogil=True, inline="always")
def _butterflies(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15):
    """The butterflies of :func:`hadamard` (without its 1/4) on sixteen values kept in registers."""
    a0, a1, a2, a3, a4, a5, a6, a7 = a0 + a1, a0 - a1, a2 + a3, a2 - a3, a4 + a5, a4 - a5, a6 + a7, a6 - a7
    a8, a9, a10, a11, a12, a13 = a8 + a9, a8 - a9, a10 + a11, a10 - a11, a12 + a13, a12 - a13
    a14, a15 = a14 + a15, a14 - a15
    a0, a2, a1, a3, a4, a6, a5, a7 = a0 + a2, a0 - a2, a1 + a3, a1 - a3, a4 + a6, a4 - a6, a5 + a7, a5 - a7
    a8, a10, a9, a11, a12, a14 = a8 + a10, a8 - a10, a9 + a11, a9 - a11, a12 + a14, a12 - a14
    a13, a15 = a13 + a15, a13 - a15
    a0, a4, a1, a5, a2, a6, a3, a7 = a0 + a4, a0 - a4, a1 + a5, a1 - a5, a2 + a6, a2 - a6, a3 + a7, a3 - a7
    a8, a12, a9, a13, a10, a14 = a8 + a12, a8 - a12, a9 + a13, a9 - a13, a10 + a14, a10 - a14
    a11, a15 = a11 + a15, a11 - a15
    a0, a8, a1, a9, a2, a10, a3, a11 = (
        a0 + a8,
        a0 - a8,
        a1 + a9,
        a1 - a9,
        a2 + a10,
        a2 - a10,
        a3 + a11,
        a3 - a11,
    )
    a4, a12, a5, a13, a6, a14 = a4 + a12, a4 - a12, a5 + a13, a5 - a13, a6 + a14, a6 - a14
    a7, a15 = a7 + a15, a7 - a15
    return a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15


@njit(cache=True, nogil=True, inline="always")
def _poles(a, lp, f, p):
    """The sixteen one-poles ``f[k] * a[k] + p * lp[k]`` on values kept in registers (flushed by the
    caller once per chunk: within one they cannot decay from the floor into subnormals)."""
    return (
        f[0] * a[0] + p * lp[0], f[1] * a[1] + p * lp[1], f[2] * a[2] + p * lp[2], f[3] * a[3] + p * lp[3],
        f[4] * a[4] + p * lp[4], f[5] * a[5] + p * lp[5], f[6] * a[6] + p * lp[6], f[7] * a[7] + p * lp[7],
        f[8] * a[8] + p * lp[8], f[9] * a[9] + p * lp[9], f[10] * a[10] + p * lp[10],
        f[11] * a[11] + p * lp[11], f[12] * a[12] + p * lp[12], f[13] * a[13] + p * lp[13],
        f[14] * a[14] + p * lp[14], f[15] * a[15] + p * lp[15],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _row(net, r):
    """Row ``r`` of ``net`` as a tuple of sixteen values (to keep them in registers)."""
    return (
        net[r, 0], net[r, 1], net[r, 2], net[r, 3], net[r, 4], net[r, 5], net[r, 6], net[r, 7], net[r, 8],
        net[r, 9], net[r, 10], net[r, 11], net[r, 12], net[r, 13], net[r, 14], net[r, 15],
    )  # fmt: skip
