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

Speed: per-sample loops index their arrays themselves and call only helpers of plain numbers, inlined
(``inline="always"``): a call per sample, or the reference counting an inlined helper that takes arrays
brings along, would cost more than the work. At a whole-number delay both interpolations give the stored
sample exactly, so the echo reads it directly while the delay is not gliding. :func:`feedback_delay` takes
its controls as the rows of one matrix (``D_*``), one argument instead of one per parameter.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "DAMPING_OFF_HZ",
    "DENORMAL_FLOOR",
    "D_DAMPING_HZ",
    "D_FEEDBACK",
    "D_MIX",
    "D_PING_PONG",
    "D_SYNC",
    "D_TIME_BEATS",
    "D_TIME_MS",
    "FD_CURRENT",
    "FD_DAMP_HZ",
    "FD_DAMP_POLE",
    "FD_GLIDE",
    "FD_INTERP",
    "FD_LP",
    "FD_READY",
    "FD_SAMPLE_RATE",
    "FD_WRITE",
    "INTERP_HERMITE",
    "INTERP_LINEAR",
    "NUM_D_CONTROLS",
    "NUM_FD_STATE",
    "buffer_size",
    "damping_pole",
    "delay_targets",
    "feedback_delay",
    "fractional_delay",
    "interpolate",
    "new_line",
    "read_delay",
    "ring_index",
]

INTERP_LINEAR = 0
INTERP_HERMITE = 1
DENORMAL_FLOOR = 1e-15  # -300 dB: far below any audible or 24-bit level, and reached in reasonable time
DAMPING_OFF_HZ = 20000.0  # a damping frequency at or above this leaves the feedback path unfiltered
SNAP_SAMPLES = 1e-6  # a glide this close to its target lands on it (so the delay becomes exact again)

# feedback_delay state (float64 array of NUM_FD_STATE + channels, from new_delay_state): glided delay, ready
# flag, damping cache, write index (whole numbers are exact in a float64 for 2**53 samples), the settings
# (sample rate, glide coefficient, interpolation code), then one low-pass state per channel from FD_LP on
FD_CURRENT = 0
FD_READY = 1
FD_DAMP_HZ = 2
FD_DAMP_POLE = 3
FD_WRITE = 4
FD_SAMPLE_RATE = 5
FD_GLIDE = 6
FD_INTERP = 7
FD_LP = 8
NUM_FD_STATE = 8
# rows of feedback_delay's control matrix (per-sample values)
D_SYNC = 0
D_TIME_MS = 1
D_TIME_BEATS = 2
D_FEEDBACK = 3
D_DAMPING_HZ = 4
D_MIX = 5
D_PING_PONG = 6
NUM_D_CONTROLS = 7


def buffer_size(max_delay_samples: float) -> int:
    """The power-of-two line length that holds ``max_delay_samples`` plus the interpolation taps."""
    need = math.ceil(max_delay_samples) + 4
    return 1 << max(need - 1, 1).bit_length()


@njit(cache=True, nogil=True, inline="always")
def ring_index(i, mask):
    """Slot ``i & mask`` of a ring, as an unsigned integer: numba then skips its check for negative
    indices (a few instructions per access in the per-sample loops)."""
    return np.uint64(i & mask)


@njit(cache=True, nogil=True, inline="always")
def interpolate(xm1, x0, x1, x2, f, interp):
    """The value a fraction ``f`` of the way from ``x0`` to ``x1`` (``xm1`` and ``x2`` the outer neighbours,
    used by Hermite only)."""
    if interp == INTERP_LINEAR:
        return x0 + f * (x1 - x0)
    # Catmull-Rom through x0 (f = 0) and x1 (f = 1) with slopes from the outer neighbours
    c1 = 0.5 * (x1 - xm1)
    c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
    c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
    return ((c3 * f + c2) * f + c1) * f + x0


@njit(cache=True, nogil=True)
def read_delay(buf, c, mask, w, d, interp):
    """The value ``d`` samples before slot ``w`` of channel ``c`` (``d >= 1``; ``>= 2`` for Hermite when
    slot ``w - 1`` is the newest sample written). Per-sample kernels do these reads themselves."""
    i = int(d)
    j = w - i
    return interpolate(
        buf[c, ring_index(j + 1, mask)],
        buf[c, ring_index(j, mask)],
        buf[c, ring_index(j - 1, mask)],
        buf[c, ring_index(j - 2, mask)],
        d - i,
        interp,
    )


@njit(cache=True, nogil=True, inline="always")
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
            buf[c, ring_index(w, mask)] = inp[c, i]
        w += 1
        for c in range(chans):
            # the newest sample now sits one slot before w, so delay d is d + 1 before w
            d = min(max(delays[c, i], lo), hi) + 1.0
            k = int(d)
            j = w - k
            out[c, i] = interpolate(
                buf[c, ring_index(j + 1, mask)], buf[c, ring_index(j, mask)],
                buf[c, ring_index(j - 1, mask)], buf[c, ring_index(j - 2, mask)],
                d - k, interp,
            )  # fmt: skip
    windex[0] = w


@njit(cache=True, nogil=True, inline="always")
def _delay_target(sync, time_ms, time_beats, beat_samples, sample_rate):
    if sync >= 0.5:
        return time_beats * beat_samples
    return time_ms * 1e-3 * sample_rate


@njit(cache=True, nogil=True)
def delay_targets(sync, time_ms, time_beats, tempo_bpm, sample_rate, out, n):
    """Delay in samples per sample: ``time_beats * 60 / bpm`` seconds while ``sync`` is on, else
    ``time_ms``."""
    beat_samples = 60.0 / tempo_bpm * sample_rate
    for i in range(n):
        out[i] = _delay_target(sync[i], time_ms[i], time_beats[i], beat_samples, sample_rate)


@njit(cache=True, nogil=True, inline="always")
def _flush(v):
    return 0.0 if abs(v) < DENORMAL_FLOOR else v


def new_delay_state(channels: int, sample_rate: float, glide: float, interp: int) -> np.ndarray:
    """A cleared :func:`feedback_delay` state for ``channels`` channels with its settings (control side)."""
    state = np.zeros(NUM_FD_STATE + channels, dtype=np.float64)
    state[FD_SAMPLE_RATE] = sample_rate
    state[FD_GLIDE] = glide
    state[FD_INTERP] = interp
    clear_delay_state(state)
    return state


def clear_delay_state(state: np.ndarray) -> None:
    """Forget the signal state (glide, write index, low-passes), keeping the settings (control side)."""
    state[FD_CURRENT : FD_WRITE + 1] = 0.0
    state[FD_LP:] = 0.0
    state[FD_DAMP_HZ] = -1.0  # no damping pole cached yet


@njit(cache=True, nogil=True)
def feedback_delay(inp, out, buf, state, ctl, still, n, tempo_bpm):
    """The feedback echo of :class:`dsp.delay.Delay` over ``(channels, n)`` blocks of one or two channels;
    per-sample controls in the rows ``D_*`` of ``ctl``.

    The wanted delay in samples comes from ``sync``, ``time_ms`` and ``time_beats`` as in
    :func:`delay_targets`; the delay follows it through a one-pole glide of coefficient ``glide`` (the first
    sample after a reset starts on it, so echoes land exactly). Each channel's line is fed
    ``x + feedback * lowpass(echo)``; with ``ping_pong`` on (stereo only) the left line takes the mono sum
    of the input plus the right echo's feedback and the right line only the left echo's, so echoes
    alternate left, right, left... ``out = (1 - mix) * x + mix * echo``. Input and output may be the same
    array. ``state`` comes from :func:`new_delay_state`. The loop keeps the glide, the damping pole and the
    low-pass states in local variables.

    ``still`` promises that each row of ``ctl`` holds one value. Then, once the delay has settled on a whole
    number of samples (and without ping-pong), a lean loop runs: a plain read, the low-pass flushed once
    per block instead of per sample (within a block it cannot decay from the floor into subnormals).
    """
    stereo = inp.shape[0] > 1
    mask = buf.shape[1] - 1
    sample_rate = state[FD_SAMPLE_RATE]
    glide = state[FD_GLIDE]
    interp = int(state[FD_INTERP])
    lo = 1.0 if interp == INTERP_LINEAR else 2.0
    hi = float(mask - 3)
    beat_samples = 60.0 / tempo_bpm * sample_rate
    w = int(state[FD_WRITE])
    d = state[FD_CURRENT]
    ready = state[FD_READY] != 0.0
    damp_hz = state[FD_DAMP_HZ]
    p = state[FD_DAMP_POLE]
    lp0 = state[FD_LP]
    lp1 = state[FD_LP + 1] if stereo else 0.0
    if still and ready and n > 0 and not (stereo and ctl[D_PING_PONG, 0] >= 0.5):
        target = _delay_target(
            ctl[D_SYNC, 0], ctl[D_TIME_MS, 0], ctl[D_TIME_BEATS, 0], beat_samples, sample_rate
        )
        if d == min(max(target, lo), hi) and d == math.floor(d):
            if ctl[D_DAMPING_HZ, 0] != damp_hz:
                damp_hz = ctl[D_DAMPING_HZ, 0]
                p = damping_pole(damp_hz, sample_rate)
            fb = ctl[D_FEEDBACK, 0]
            m = ctl[D_MIX, 0]
            a = 1.0 - p
            dry = 1.0 - m
            k = int(d)
            for i in range(n):
                x0 = float(inp[0, i])
                e0 = buf[0, ring_index(w - k, mask)]
                lp0 = a * e0 + p * lp0
                buf[0, ring_index(w, mask)] = _flush(x0 + fb * lp0)
                out[0, i] = dry * x0 + m * e0
                if stereo:
                    x1 = float(inp[1, i])
                    e1 = buf[1, ring_index(w - k, mask)]
                    lp1 = a * e1 + p * lp1
                    buf[1, ring_index(w, mask)] = _flush(x1 + fb * lp1)
                    out[1, i] = dry * x1 + m * e1
                w += 1
            n = 0  # done: the general loop below has nothing left
            lp0 = _flush(lp0)
            lp1 = _flush(lp1)
    e1 = x1 = 0.0
    for i in range(n):
        target = _delay_target(
            ctl[D_SYNC, i], ctl[D_TIME_MS, i], ctl[D_TIME_BEATS, i], beat_samples, sample_rate
        )
        t = min(max(target, lo), hi)
        if not ready:
            d = t
            ready = True
        elif d != t:
            d += glide * (t - d)
            if abs(t - d) < SNAP_SAMPLES:
                d = t
        if ctl[D_DAMPING_HZ, i] != damp_hz:
            damp_hz = ctl[D_DAMPING_HZ, i]
            p = damping_pole(damp_hz, sample_rate)
        fb = ctl[D_FEEDBACK, i]
        m = ctl[D_MIX, i]
        k = int(d)
        f = d - k  # 0 at a whole-number delay: either interpolation gives the stored sample itself
        j = w - k
        x0 = float(inp[0, i])
        e0 = buf[0, ring_index(j, mask)]
        if f != 0.0:
            e0 = interpolate(
                buf[0, ring_index(j + 1, mask)], e0, buf[0, ring_index(j - 1, mask)],
                buf[0, ring_index(j - 2, mask)], f, interp,
            )  # fmt: skip
        if stereo:
            x1 = float(inp[1, i])
            e1 = buf[1, ring_index(j, mask)]
            if f != 0.0:
                e1 = interpolate(
                    buf[1, ring_index(j + 1, mask)], e1, buf[1, ring_index(j - 1, mask)],
                    buf[1, ring_index(j - 2, mask)], f, interp,
                )  # fmt: skip
        if stereo and ctl[D_PING_PONG, i] >= 0.5:
            # the left line is fed by the right echo and vice versa: each echo crosses to the other side
            lp0 = _flush((1.0 - p) * e1 + p * lp0)
            lp1 = _flush((1.0 - p) * e0 + p * lp1)
            buf[0, ring_index(w, mask)] = _flush(0.5 * (x0 + x1) + fb * lp0)
            buf[1, ring_index(w, mask)] = _flush(fb * lp1)
        else:
            lp0 = _flush((1.0 - p) * e0 + p * lp0)
            buf[0, ring_index(w, mask)] = _flush(x0 + fb * lp0)
            if stereo:
                lp1 = _flush((1.0 - p) * e1 + p * lp1)
                buf[1, ring_index(w, mask)] = _flush(x1 + fb * lp1)
        out[0, i] = (1.0 - m) * x0 + m * e0
        if stereo:
            out[1, i] = (1.0 - m) * x1 + m * e1
        w += 1
    state[FD_WRITE] = w
    state[FD_CURRENT] = d
    state[FD_READY] = 1.0 if ready else 0.0
    state[FD_DAMP_HZ] = damp_hz
    state[FD_DAMP_POLE] = p
    state[FD_LP] = lp0
    if stereo:
        state[FD_LP + 1] = lp1


def new_line(channels: int, max_delay_samples: float) -> np.ndarray:
    """A zeroed line for ``channels`` that holds delays up to ``max_delay_samples`` (control side)."""
    return np.zeros((channels, buffer_size(max_delay_samples)), dtype=np.float64)
