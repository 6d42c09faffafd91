"""Delay-line kernels: circular buffers read at fractional, per-sample delays.

A delay line is a float64 array of shape ``(channels, size)`` with ``size`` a power of two (so wrapping is
a mask), plus a write index kept by the caller. Sample ``x[n]`` of channel ``c`` goes to
``buf[c, w & mask]`` with ``w`` counting up; :func:`read_delay` reads "``d`` samples before slot ``w``",
interpolated:

- ``INTERP_LINEAR``: two taps; exact at integer ``d``; a gentle low-pass at fractional ``d``.
- ``INTERP_HERMITE``: four taps (third-order Hermite / Catmull-Rom); exact at integer ``d``, flat to far
  higher frequencies, and continuous in value and slope as ``d`` moves, which is what a modulated delay
  needs. It reads one sample newer than ``floor(d)``, so ``d`` must be at least 1 more than for linear.

Kernels:

- :func:`fractional_delay`: write-then-read, ``out[c, i] = x[c, i - delays[c, i]]`` (``delays >= 0``,
  ``>= 1`` for Hermite); the building block the tests check against a slow reference.
- :func:`delay_targets`: per-sample delay in samples from ``time_ms`` or tempo-synced ``time_beats``.
- :func:`feedback_delay`: the echo of :class:`dsp.delay.Delay`: a glided delay time, a one-pole
  low-pass (damping) and gain in the feedback path, ping-pong routing and a dry/wet mix.

Feedback paths flush values below ``DENORMAL_FLOOR`` to zero, so a decaying loop reaches true silence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "DAMPING_OFF_HZ",
    "DENORMAL_FLOOR",
    "FD_CURRENT",
    "FD_DAMP_HZ",
    "FD_DAMP_POLE",
    "FD_LP",
    "FD_READY",
    "INTERP_HERMITE",
    "INTERP_LINEAR",
    "NUM_FD_STATE",
    "buffer_size",
    "damping_pole",
    "delay_targets",
    "feedback_delay",
    "fractional_delay",
    "new_line",
    "read_delay",
]

INTERP_LINEAR = 0
INTERP_HERMITE = 1
DENORMAL_FLOOR = 1e-15  # -300 dB: far below any audible or 24-bit level, and reached in reasonable time
DAMPING_OFF_HZ = 20000.0  # a damping frequency at or above this leaves the feedback path unfiltered
SNAP_SAMPLES = 1e-6  # a glide this close to its target lands on it (so the delay becomes exact again)

# feedback_delay state (float64 array of NUM_FD_STATE + channels): glided delay, ready flag, damping cache,
# then one low-pass state per channel from FD_LP on
FD_CURRENT = 0
FD_READY = 1
FD_DAMP_HZ = 2
FD_DAMP_POLE = 3
FD_LP = 4
NUM_FD_STATE = 4


def buffer_size(max_delay_samples: float) -> int:
    """The power-of-two line length that holds ``max_delay_samples`` plus the interpolation taps."""
    need = math.ceil(max_delay_samples) + 4
    return 1 << max(need - 1, 1).bit_length()


@njit(cache=True, nogil=True)
def read_delay(buf, c, mask, w, d, interp):
    """The value ``d`` samples before slot ``w`` of channel ``c`` (``d >= 1``; ``>= 2`` for Hermite when
    slot ``w - 1`` is the newest sample written)."""
    i = int(d)
    f = d - i
    j = w - i
    x0 = buf[c, j & mask]
    x1 = buf[c, (j - 1) & mask]
    if interp == INTERP_LINEAR:
        return x0 + f * (x1 - x0)
    xm1 = buf[c, (j + 1) & mask]
    x2 = buf[c, (j - 2) & mask]
    # Catmull-Rom through x0 (f = 0) and x1 (f = 1) with slopes from the outer neighbours
    c1 = 0.5 * (x1 - xm1)
    c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
    c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
    return ((c3 * f + c2) * f + c1) * f + x0


@njit(cache=True, nogil=True)
def damping_pole(damping_hz, sample_rate):
    """Pole of the one-pole low-pass ``y = (1 - p) x + p y`` (unity at DC); 0 (no filter) from
    ``DAMPING_OFF_HZ`` up."""
    if damping_hz >= DAMPING_OFF_HZ:
        return 0.0
    return math.exp(-2.0 * math.pi * damping_hz / sample_rate)


@njit(cache=True, nogil=True)
def fractional_delay(inp, out, buf, windex, delays, n, interp):
    """``out[c, i] = inp[c, i - delays[c, i]]``, interpolated; ``windex[0]`` is the running write index.
    Delays are clamped to what the line holds (at least 0, 1 for Hermite)."""
    chans = inp.shape[0]
    mask = buf.shape[1] - 1
    lo = 0.0 if interp == INTERP_LINEAR else 1.0
    hi = float(mask - 3)
    w = windex[0]
    for i in range(n):
        for c in range(chans):
            buf[c, w & mask] = inp[c, i]
        w += 1
        for c in range(chans):
            d = min(max(delays[c, i], lo), hi)
            # the newest sample now sits one slot before w, so delay d is d + 1 before w
            out[c, i] = read_delay(buf, c, mask, w, d + 1.0, interp)
    windex[0] = w


@njit(cache=True, nogil=True)
def delay_targets(sync, time_ms, time_beats, tempo_bpm, sample_rate, out, n):
    """Delay in samples per sample: ``time_beats * 60 / bpm`` seconds while ``sync`` is on, else
    ``time_ms``."""
    beat_samples = 60.0 / tempo_bpm * sample_rate
    for i in range(n):
        if sync[i] >= 0.5:
            out[i] = time_beats[i] * beat_samples
        else:
            out[i] = time_ms[i] * 1e-3 * sample_rate


@njit(cache=True, nogil=True)
def feedback_delay(
    inp, out, buf, windex, state, target, feedback, damping_hz, mix, ping_pong, n, sample_rate, glide, interp
):
    """The feedback echo of :class:`dsp.delay.Delay` over ``(channels, n)`` blocks; per-sample controls.

    ``target`` is the wanted delay in samples; the delay follows it through a one-pole glide of
    coefficient ``glide`` (the first sample after a reset starts on it, so echoes land exactly). Each
    channel's line is fed ``x + feedback * lowpass(echo)``; with ``ping_pong`` on (stereo only) the left
    line takes the mono sum of the input plus the right echo's feedback and the right line only the left
    echo's, so echoes alternate left, right, left... ``out = (1 - mix) * x + mix * echo``. Input and output
    may be the same array.
    """
    chans = inp.shape[0]
    mask = buf.shape[1] - 1
    lo = 1.0 if interp == INTERP_LINEAR else 2.0
    hi = float(mask - 3)
    w = windex[0]
    d = state[FD_CURRENT]
    for i in range(n):
        t = min(max(target[i], lo), hi)
        if state[FD_READY] == 0.0:
            d = t
            state[FD_READY] = 1.0
        else:
            d += glide * (t - d)
            if abs(t - d) < SNAP_SAMPLES:
                d = t
        if damping_hz[i] != state[FD_DAMP_HZ]:
            state[FD_DAMP_HZ] = damping_hz[i]
            state[FD_DAMP_POLE] = damping_pole(damping_hz[i], sample_rate)
        p = state[FD_DAMP_POLE]
        fb = feedback[i]
        m = mix[i]
        if ping_pong[i] >= 0.5 and chans == 2:
            x0 = float(inp[0, i])
            x1 = float(inp[1, i])
            e0 = read_delay(buf, 0, mask, w, d, interp)
            e1 = read_delay(buf, 1, mask, w, d, interp)
            # the left line is fed by the right echo and vice versa: each echo crosses to the other side
            lp0 = (1.0 - p) * e1 + p * state[FD_LP]
            lp1 = (1.0 - p) * e0 + p * state[FD_LP + 1]
            lp0 = 0.0 if abs(lp0) < DENORMAL_FLOOR else lp0
            lp1 = 0.0 if abs(lp1) < DENORMAL_FLOOR else lp1
            state[FD_LP] = lp0
            state[FD_LP + 1] = lp1
            v0 = 0.5 * (x0 + x1) + fb * lp0
            v1 = fb * lp1
            buf[0, w & mask] = 0.0 if abs(v0) < DENORMAL_FLOOR else v0
            buf[1, w & mask] = 0.0 if abs(v1) < DENORMAL_FLOOR else v1
            out[0, i] = (1.0 - m) * x0 + m * e0
            out[1, i] = (1.0 - m) * x1 + m * e1
        else:
            for c in range(chans):
                x = float(inp[c, i])
                e = read_delay(buf, c, mask, w, d, interp)
                lp = (1.0 - p) * e + p * state[FD_LP + c]
                lp = 0.0 if abs(lp) < DENORMAL_FLOOR else lp
                state[FD_LP + c] = lp
                v = x + fb * lp
                buf[c, w & mask] = 0.0 if abs(v) < DENORMAL_FLOOR else v
                out[c, i] = (1.0 - m) * x + m * e
        w += 1
    windex[0] = w
    state[FD_CURRENT] = d


def new_line(channels: int, max_delay_samples: float) -> np.ndarray:
    """A zeroed line for ``channels`` that holds delays up to ``max_delay_samples`` (control side)."""
    return np.zeros((channels, buffer_size(max_delay_samples)), dtype=np.float64)
