"""Seeded noise: white from splitmix64 (uniform in [-1, 1)), pink from a filter over the white, and
:func:`hash_uniform`, a random value per ``(seed, index)`` without state (the LFO's random shapes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U53 = 1.0 / 9007199254740992.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _next_white(rng):
    # splitmix64: a full-period 64-bit sequence; uniform in [-1, 1)
    s = rng[0] + _GOLDEN
    rng[0] = s
    return 2.0 * float(_mix64(s) >> np.uint64(11)) * _U53 - 1.0


@njit(cache=True, nogil=True)
def hash_uniform(seed, index):
    """A uniform value in [-1, 1) that depends only on ``(seed, index)`` (integers): random per cycle
    without state, so a value is the same however the blocks fall."""
    z = np.uint64(seed) * _GOLDEN + np.uint64(index) + _GOLDEN
    return 2.0 * float(_mix64(_mix64(z)) >> np.uint64(11)) * _U53 - 1.0


@njit(cache=True, nogil=True)
def white_fill(out, start, stop, rng):
    """Uniform white noise in [-1, 1) into ``out[start:stop]``; ``rng`` is a uint64 array of one seed."""
    for i in range(start, stop):
        out[i] = _next_white(rng)


@njit(cache=True, nogil=True)
def _next_pink(rng, b):
    # Paul Kellet's refined pink filter (within 0.05 dB of -3 dB/octave above 9.2 Hz at 44.1 kHz)
    w = _next_white(rng)
    b[0] = 0.99886 * b[0] + w * 0.0555179
    b[1] = 0.99332 * b[1] + w * 0.0750759
    b[2] = 0.96900 * b[2] + w * 0.1538520
    b[3] = 0.86650 * b[3] + w * 0.3104856
    b[4] = 0.55000 * b[4] + w * 0.5329522
    b[5] = -0.7616 * b[5] - w * 0.0168980
    y = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362
    b[6] = w * 0.115926
    return y * 0.11


@njit(cache=True, nogil=True)
def pink_fill(out, start, stop, rng, b):
    """Pink noise (about -3 dB/octave, peak about 1) into ``out[start:stop]``; ``b`` is 7 float64 filter
    states."""
    for i in range(start, stop):
        out[i] = _next_pink(rng, b)
