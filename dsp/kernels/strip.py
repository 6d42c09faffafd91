"""The channel-strip kernel: fader gain in dB, constant-power pan and a mute gate, per sample.

Pan law: the "-3 dB compensated" constant-power law. With ``theta = (pan + 1) * pi / 4`` the left and right
gains are ``sqrt(2) * cos(theta)`` and ``sqrt(2) * sin(theta)``: unity at centre, +3 dB at the sides, and
the summed power is the same at every position. A mono input is spread to both sides by the same gains.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["SILENCE_DB", "gain_db", "strip_gain_pan"]

SILENCE_DB = -96.0  # at or below this a fader is fully closed
_QUARTER_PI = math.pi / 4.0
_SQRT2 = math.sqrt(2.0)
_DB_TO_LN = math.log(10.0) / 20.0


@njit(cache=True, nogil=True)
def _gain(db):
    if db <= SILENCE_DB:
        return 0.0
    return math.exp(db * _DB_TO_LN)


@njit(cache=True, nogil=True)
def strip_gain_pan(inp, out, volume_db, pan, gate, n, constant):
    """``out[0..1, :n]`` from ``inp`` (1 or 2 channels). ``volume_db``, ``pan`` and ``gate`` are per-sample
    arrays; with ``constant`` only their first values are used (the cheap path for settled controls)."""
    mono = inp.shape[0] == 1
    r_in = 0 if mono else 1
    if constant:
        g = _gain(volume_db[0]) * gate[0]
        theta = (pan[0] + 1.0) * _QUARTER_PI
        gl = g * _SQRT2 * math.cos(theta)
        gr = g * _SQRT2 * math.sin(theta)
        for i in range(n):
            out[0, i] = inp[0, i] * gl
            out[1, i] = inp[r_in, i] * gr
        return
    for i in range(n):
        g = _gain(volume_db[i]) * gate[i]
        theta = (pan[i] + 1.0) * _QUARTER_PI
        out[0, i] = inp[0, i] * (g * _SQRT2 * math.cos(theta))
        out[1, i] = inp[r_in, i] * (g * _SQRT2 * math.sin(theta))


@njit(cache=True, nogil=True)
def gain_db(inp, out, level_db, gate, n, constant):
    """``out[:, :n] = inp * gain(level_db) * gate`` per channel; per-sample controls unless ``constant``."""
    chans = out.shape[0]
    if constant:
        g = _gain(level_db[0]) * gate[0]
        for c in range(chans):
            for i in range(n):
                out[c, i] = inp[c, i] * g
        return
    for i in range(n):
        g = _gain(level_db[i]) * gate[i]
        for c in range(chans):
            out[c, i] = inp[c, i] * g
