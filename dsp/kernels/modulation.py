"""Modulation kernels: the LFO, a modulated delay (chorus and flanger) and an all-pass phaser.

The LFO is a phase in cycles (``state[MOD_PHASE]``, kept in 0..1) advanced by a per-sample increment, so
a render does not depend on the block size; channel ``c`` reads it
``c * stereo_phase_deg / 360`` of a cycle later. :func:`lfo_increments` turns ``rate_hz`` or a tempo-synced
period ``rate_beats`` into those increments.

- :func:`modulated_delay`: ``echo = x[n - d(n)]`` with the delay swept by the LFO, fed back with
  ``feedback``, mixed ``(1 - mix) * x + mix * echo``. ``centered`` sweeps ``delay_ms +- depth_ms``
  (chorus); otherwise ``delay_ms .. delay_ms + depth_ms`` (flanger). Read with
  :func:`dsp.kernels.delay.interpolate`. Its controls, the rate included, are the rows ``M_*`` of one
  matrix. While a sine LFO runs at a steady rate it is not evaluated per sample: each stretch of up to
  ``LFO_GRID`` samples (on the kernel's own sample counter) starts from the exact sine and cosine of the
  phase and turns them by the per-sample angle (a rotation: four multiplies instead of a sine); the phase
  itself moves on by the whole stretch, so the next stretch starts exact again. The rotated values stay
  within about 1e-14 of the sine. The delays of a stretch are computed first; the echoes are then read
  per channel, and where the whole part of the delay holds still for a run of samples that reads only
  what was written before it (a chorus, always), the run's taps are consecutive slots and its
  interpolation is a loop the compiler vectorises. ``state`` (:func:`new_modulation_state`) also holds the
  write index, the settings and that scratch.
- :func:`phaser`: ``stages`` first-order all-passes ``(a + z^-1) / (1 + a z^-1)`` in series, their
  break frequency (phase -90 degrees) swept ``center_hz * 2 ** (depth_octaves * lfo)``, the chain output
  fed back to its input one sample later with ``feedback``, mixed like the delay.

States below ``DENORMAL_FLOOR`` are flushed to zero, so silence in reaches true silence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.delay import DENORMAL_FLOOR, INTERP_HERMITE, INTERP_LINEAR, interpolate, ring_index

__all__ = [
    "LFO_GRID",
    "LFO_SINE",
    "LFO_TRIANGLE",
    "MAX_STAGES",
    "MIN_PHASER_HZ",
    "MOD_CENTERED",
    "MOD_INTERP",
    "MOD_PHASE",
    "MOD_SAMPLE_RATE",
    "MOD_STAGES",
    "MOD_WRITE",
    "M_DELAY_MS",
    "M_DEPTH_MS",
    "M_FEEDBACK",
    "M_LFO_SHAPE",
    "M_MIX",
    "M_RATE_BEATS",
    "M_RATE_HZ",
    "M_STEREO_PHASE_DEG",
    "M_SYNC",
    "NUM_MOD_STATE",
    "NUM_M_CONTROLS",
    "lfo_increments",
    "lfo_value",
    "modulated_delay",
    "new_modulation_state",
    "phaser",
    "phaser_coefficient",
]

LFO_SINE = 0
LFO_TRIANGLE = 1
LFO_GRID = 64  # samples between exact evaluations of a steady sine LFO
MAX_STAGES = 12
MIN_PHASER_HZ = 10.0
MAX_PHASER_RATIO = 0.49  # of the sample rate

# state (float64 array of NUM_MOD_STATE): the LFO phase and, for the phaser, the stage count last run
MOD_PHASE = 0
MOD_STAGES = 1
# modulated_delay also keeps its write index (whole numbers are exact in a float64 for 2**53 samples) and its
# settings: the sample rate, centred sweep (1) or not (0), the interpolation code
MOD_WRITE = 2
MOD_SAMPLE_RATE = 3
MOD_CENTERED = 4
MOD_INTERP = 5
# and scratch for one stretch: each channel's delays, then the echoes of the channel being read
MOD_DELAYS = 6
MOD_ECHOES = MOD_DELAYS + 2 * LFO_GRID
NUM_MOD_STATE = MOD_ECHOES + LFO_GRID
# rows of modulated_delay's control matrix (per-sample values)
M_SYNC = 0
M_RATE_HZ = 1
M_RATE_BEATS = 2
M_LFO_SHAPE = 3
M_STEREO_PHASE_DEG = 4
M_MIX = 5
M_DELAY_MS = 6
M_DEPTH_MS = 7
M_FEEDBACK = 8
NUM_M_CONTROLS = 9


@njit(cache=True, nogil=True, inline="always")
def lfo_value(phase, shape):
    """The LFO at ``phase`` cycles, in -1..1: both shapes start at 0 rising and peak a quarter cycle in."""
    if shape == LFO_TRIANGLE:
        p = phase + 0.25
        p -= math.floor(p)
        return 1.0 - 4.0 * abs(p - 0.5)
    return math.sin(2.0 * math.pi * phase)


@njit(cache=True, nogil=True, inline="always")
def _increment(sync, rate_hz, rate_beats, tempo_bpm, sample_rate):
    if sync >= 0.5:
        return tempo_bpm / (60.0 * rate_beats * sample_rate)
    return rate_hz / sample_rate


@njit(cache=True, nogil=True)
def lfo_increments(sync, rate_hz, rate_beats, tempo_bpm, sample_rate, out, n):
    """Cycles per sample: ``rate_hz / sr``, or one cycle per ``rate_beats`` quarter notes while ``sync``."""
    for i in range(n):
        out[i] = _increment(sync[i], rate_hz[i], rate_beats[i], tempo_bpm, sample_rate)


@njit(cache=True, nogil=True, inline="always")
def _flush(v):
    return 0.0 if abs(v) < DENORMAL_FLOOR else v


def new_modulation_state(
    sample_rate: float, centered: bool = False, interp: int = INTERP_LINEAR
) -> np.ndarray:
    """A cleared LFO effect state with the settings :func:`modulated_delay` reads (control side)."""
    state = np.zeros(NUM_MOD_STATE, dtype=np.float64)
    state[MOD_SAMPLE_RATE] = sample_rate
    state[MOD_CENTERED] = 1.0 if centered else 0.0
    state[MOD_INTERP] = interp
    return state


@njit(cache=True, nogil=True)
def _read_stretch(inp, out, buf, state, ctl, c, i, m, w, interp):
    """Channel ``c`` of samples ``i .. i + m`` (written from slot ``w`` on) at the delays in the scratch.

    The delay changes slowly, so its whole part stays put for runs of samples, whose taps are then
    consecutive slots: when such a run reads only slots written before it and does not cross the end of
    the line, its echoes are interpolated in a loop the compiler vectorises, then fed back and mixed.
    Otherwise each sample reads, then writes (a short flanger delay reads what it just wrote)."""
    size = buf.shape[1]
    mask = size - 1
    delays = MOD_DELAYS + c * LFO_GRID
    q0 = 0
    while q0 < m:
        k = int(state[delays + q0])
        run = 1
        while q0 + run < m and int(state[delays + q0 + run]) == k:
            run += 1
        first = (w + q0 - k - 2) & mask  # slot of the oldest tap of the run's first sample
        if k > run + 2 and first + run + 3 <= size:
            # unsigned offsets: numba then skips its negative-index check, which would stop vectorising
            t = np.uint64(first)
            f = np.uint64(delays + q0)
            if interp == INTERP_LINEAR:
                for q in range(run):
                    u = np.uint64(q)
                    state[MOD_ECHOES + q] = interpolate(
                        0.0, buf[c, t + u + 2], buf[c, t + u + 1], 0.0, state[f + u] - k, INTERP_LINEAR
                    )
            else:
                for q in range(run):
                    u = np.uint64(q)
                    state[MOD_ECHOES + q] = interpolate(
                        buf[c, t + u + 3],
                        buf[c, t + u + 2],
                        buf[c, t + u + 1],
                        buf[c, t + u],
                        state[f + u] - k,
                        INTERP_HERMITE,
                    )
            for q in range(run):
                j = i + q0 + q
                e = state[MOD_ECHOES + q]
                x = float(inp[c, j])
                buf[c, ring_index(w + q0 + q, mask)] = _flush(x + ctl[M_FEEDBACK, j] * e)
                out[c, j] = (1.0 - ctl[M_MIX, j]) * x + ctl[M_MIX, j] * e
        else:
            for q in range(run):
                j = i + q0 + q
                d = state[delays + q0 + q]
                b = w + q0 + q - k
                e = interpolate(
                    buf[c, ring_index(b + 1, mask)], buf[c, ring_index(b, mask)],
                    buf[c, ring_index(b - 1, mask)], buf[c, ring_index(b - 2, mask)], d - k, interp,
                )  # fmt: skip
                x = float(inp[c, j])
                buf[c, ring_index(w + q0 + q, mask)] = _flush(x + ctl[M_FEEDBACK, j] * e)
                out[c, j] = (1.0 - ctl[M_MIX, j]) * x + ctl[M_MIX, j] * e
        q0 += run


@njit(cache=True, nogil=True)
def modulated_delay(inp, out, buf, state, ctl, still, n, tempo_bpm):
    """Chorus (centred sweep) or flanger over ``(channels, n)`` blocks; see the module docstring. The
    controls are per sample, in the rows ``M_*`` of ``ctl`` (the LFO shape an ``LFO_*`` code, the rate as in
    :func:`lfo_increments`); ``still`` promises that each row holds one value. ``state`` comes from
    :func:`new_modulation_state`. The delay is clamped to at least 1 sample (2 for Hermite) and to the line.
    Input and output may be the same array."""
    chans = inp.shape[0]
    mask = buf.shape[1] - 1
    sample_rate = state[MOD_SAMPLE_RATE]
    centered = state[MOD_CENTERED] != 0.0
    interp = int(state[MOD_INTERP])
    lo = 1.0 if interp == INTERP_LINEAR else 2.0
    hi = float(mask - 3)
    ms_to_samples = 1e-3 * sample_rate
    w = int(state[MOD_WRITE])
    phase = state[MOD_PHASE]
    i = 0
    while i < n:
        m = min(LFO_GRID - w % LFO_GRID, n - i)
        # steady: a sine at one rate and one stereo offset over the stretch
        steady = int(ctl[M_LFO_SHAPE, i]) == LFO_SINE
        if not still:
            for j in range(i + 1, i + m):
                for row in (M_SYNC, M_RATE_HZ, M_RATE_BEATS, M_LFO_SHAPE, M_STEREO_PHASE_DEG):
                    if ctl[row, j] != ctl[row, i]:
                        steady = False
        inc = _increment(ctl[M_SYNC, i], ctl[M_RATE_HZ, i], ctl[M_RATE_BEATS, i], tempo_bpm, sample_rate)
        # (cos, sin) of each channel's LFO angle, exact at the first sample, then turned by the step
        turn_c = turn_s = c0 = s0 = c1 = s1 = 0.0
        if steady:
            turn_c = math.cos(2.0 * math.pi * inc)
            turn_s = math.sin(2.0 * math.pi * inc)
            angle = 2.0 * math.pi * (phase + ctl[M_STEREO_PHASE_DEG, i] / 360.0)
            c0, s0 = math.cos(2.0 * math.pi * phase), math.sin(2.0 * math.pi * phase)
            c1, s1 = math.cos(angle), math.sin(angle)
        # the delay of each channel at each sample of the stretch
        for j in range(i, i + m):
            if steady:
                lfo0 = s0
                lfo1 = s1
                c0, s0 = c0 * turn_c - s0 * turn_s, c0 * turn_s + s0 * turn_c
                c1, s1 = c1 * turn_c - s1 * turn_s, c1 * turn_s + s1 * turn_c
            else:
                shape = int(ctl[M_LFO_SHAPE, j])
                lfo0 = lfo_value(phase, shape)
                lfo1 = lfo_value(phase + ctl[M_STEREO_PHASE_DEG, j] / 360.0, shape)
                inc = _increment(
                    ctl[M_SYNC, j], ctl[M_RATE_HZ, j], ctl[M_RATE_BEATS, j], tempo_bpm, sample_rate
                )
            for c in range(chans):
                lfo = lfo0 if c == 0 else lfo1
                sweep = lfo if centered else 0.5 * (1.0 + lfo)
                d = min(max((ctl[M_DELAY_MS, j] + ctl[M_DEPTH_MS, j] * sweep) * ms_to_samples, lo), hi)
                state[MOD_DELAYS + c * LFO_GRID + j - i] = d
            if not steady:
                phase += inc
                phase -= math.floor(phase)
        if steady:
            # the phase moves on by the whole stretch at once (a floor per sample would chain the loop)
            phase += m * inc
            phase -= math.floor(phase)
        for c in range(chans):
            _read_stretch(inp, out, buf, state, ctl, c, i, m, w, interp)
        w += m
        i += m
    state[MOD_WRITE] = w
    state[MOD_PHASE] = phase


@njit(cache=True, nogil=True, inline="always")
def phaser_coefficient(break_hz, sample_rate):
    """``a`` of the all-pass ``(a + z^-1) / (1 + a z^-1)`` whose phase is -90 degrees at ``break_hz``."""
    f = min(max(break_hz, MIN_PHASER_HZ), MAX_PHASER_RATIO * sample_rate)
    t = math.tan(math.pi * f / sample_rate)
    return (t - 1.0) / (t + 1.0)


@njit(cache=True, nogil=True)
def phaser(
    inp, out, ap, fb_state, state, inc, center_hz, depth_octaves, feedback, mix, stereo_phase_deg, stages,
    shape, n, sample_rate,
):  # fmt: skip
    """The phaser over ``(channels, n)`` blocks; ``ap[c, k]`` holds stage ``k``'s state (transposed direct
    form II), ``fb_state[c]`` the last chain output; controls are per sample. Stages dropped by a smaller
    ``stages`` are cleared, so they come back silent. Input and output may be the same array."""
    chans = inp.shape[0]
    phase = state[MOD_PHASE]
    for i in range(n):
        k = min(max(int(stages[i]), 1), MAX_STAGES)
        if k != int(state[MOD_STAGES]):
            for c in range(chans):
                for s in range(k, MAX_STAGES):
                    ap[c, s] = 0.0
            state[MOD_STAGES] = k
        fb = feedback[i]
        m = mix[i]
        for c in range(chans):
            lfo = lfo_value(phase + c * stereo_phase_deg[i] / 360.0, int(shape[i]))
            a = phaser_coefficient(center_hz[i] * 2.0 ** (depth_octaves[i] * lfo), sample_rate)
            x = float(inp[c, i])
            u = x + fb * fb_state[c]
            for s in range(k):
                y = a * u + ap[c, s]
                ap[c, s] = _flush(u - a * y)
                u = y
            u = _flush(u)
            fb_state[c] = u
            out[c, i] = (1.0 - m) * x + m * u
        phase += inc[i]
        phase -= math.floor(phase)
    state[MOD_PHASE] = phase
