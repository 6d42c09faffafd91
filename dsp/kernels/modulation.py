"""Modulation kernels: the LFO, a modulated delay (chorus and flanger) and an all-pass phaser.

The LFO is a phase in cycles (``state[MOD_PHASE]``, kept in 0..1) advanced per sample by a per-sample
increment, so a render does not depend on the block size; channel ``c`` reads it
``c * stereo_phase_deg / 360`` of a cycle later. :func:`lfo_increments` turns ``rate_hz`` or a tempo-synced
period ``rate_beats`` into those increments.

- :func:`modulated_delay`: ``echo = x[n - d(n)]`` with the delay swept by the LFO, fed back with
  ``feedback``, mixed ``(1 - mix) * x + mix * echo``. ``centered`` sweeps ``delay_ms +- depth_ms``
  (chorus); otherwise ``delay_ms .. delay_ms + depth_ms`` (flanger). Read with
  :func:`dsp.kernels.delay.read_delay`.
- :func:`phaser`: ``stages`` first-order all-passes ``(a + z^-1) / (1 + a z^-1)`` in series, their
  break frequency (phase -90 degrees) swept ``center_hz * 2 ** (depth_octaves * lfo)``, the chain output
  fed back to its input one sample later with ``feedback``, mixed like the delay.

States below ``DENORMAL_FLOOR`` are flushed to zero, so silence in reaches true silence.
"""

from __future__ import annotations

import math

from numba import njit

from dsp.kernels.delay import DENORMAL_FLOOR, INTERP_LINEAR, read_delay

__all__ = [
    "LFO_SINE",
    "LFO_TRIANGLE",
    "MAX_STAGES",
    "MIN_PHASER_HZ",
    "MOD_PHASE",
    "MOD_STAGES",
    "NUM_MOD_STATE",
    "lfo_increments",
    "lfo_value",
    "modulated_delay",
    "phaser",
    "phaser_coefficient",
]

LFO_SINE = 0
LFO_TRIANGLE = 1
MAX_STAGES = 12
MIN_PHASER_HZ = 10.0
MAX_PHASER_RATIO = 0.49  # of the sample rate

# state (float64 array of NUM_MOD_STATE): the LFO phase and, for the phaser, the stage count last run
MOD_PHASE = 0
MOD_STAGES = 1
NUM_MOD_STATE = 2


@njit(cache=True, nogil=True)
def lfo_value(phase, shape):
    """The LFO at ``phase`` cycles, in -1..1: both shapes start at 0 rising and peak a quarter cycle in."""
    if shape == LFO_TRIANGLE:
        p = phase + 0.25
        p -= math.floor(p)
        return 1.0 - 4.0 * abs(p - 0.5)
    return math.sin(2.0 * math.pi * phase)


@njit(cache=True, nogil=True)
def lfo_increments(sync, rate_hz, rate_beats, tempo_bpm, sample_rate, out, n):
    """Cycles per sample: ``rate_hz / sr``, or one cycle per ``rate_beats`` quarter notes while ``sync``."""
    for i in range(n):
        if sync[i] >= 0.5:
            out[i] = tempo_bpm / (60.0 * rate_beats[i] * sample_rate)
        else:
            out[i] = rate_hz[i] / sample_rate


@njit(cache=True, nogil=True)
def _flush(v):
    return 0.0 if abs(v) < DENORMAL_FLOOR else v


@njit(cache=True, nogil=True)
def modulated_delay(
    inp, out, buf, windex, state, inc, delay_ms, depth_ms, feedback, mix, stereo_phase_deg, shape,
    centered, n, sample_rate, interp,
):  # fmt: skip
    """Chorus (``centered``) or flanger over ``(channels, n)`` blocks; see the module docstring; every
    control, ``shape`` (an ``LFO_*`` code) included, is given per sample. The delay
    is clamped to at least 1 sample (2 for Hermite) and to the line. Input and output may be the same
    array."""
    chans = inp.shape[0]
    mask = buf.shape[1] - 1
    lo = 1.0 if interp == INTERP_LINEAR else 2.0
    hi = float(mask - 3)
    ms_to_samples = 1e-3 * sample_rate
    w = windex[0]
    phase = state[MOD_PHASE]
    for i in range(n):
        fb = feedback[i]
        m = mix[i]
        for c in range(chans):
            lfo = lfo_value(phase + c * stereo_phase_deg[i] / 360.0, int(shape[i]))
            sweep = lfo if centered else 0.5 * (1.0 + lfo)
            d = min(max((delay_ms[i] + depth_ms[i] * sweep) * ms_to_samples, lo), hi)
            x = float(inp[c, i])
            e = read_delay(buf, c, mask, w, d, interp)
            buf[c, w & mask] = _flush(x + fb * e)
            out[c, i] = (1.0 - m) * x + m * e
        w += 1
        phase += inc[i]
        phase -= math.floor(phase)
    windex[0] = w
    state[MOD_PHASE] = phase


@njit(cache=True, nogil=True)
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
