"""The LFO: :func:`lfo_shape_value` gives the shapes, :func:`lfo_fill` runs them with free-running or
tempo-locked phase, and :func:`timeline_beats` (from a tempo map) or :func:`linear_beats` (at a constant
tempo) give the beat of every sample that tempo-locked phase follows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.osc.noise import hash_uniform

# LFO shapes
LFO_SINE = 0
LFO_TRIANGLE = 1
LFO_SAW_UP = 2
LFO_SAW_DOWN = 3
LFO_SQUARE = 4
LFO_SAMPLE_HOLD = 5
LFO_SMOOTH_RANDOM = 6
NUM_LFO_SHAPES = 7
TWO_PI = 2.0 * math.pi


@njit(cache=True, nogil=True)
def lfo_shape_value(shape, cycle, frac, seed):
    """The bipolar (-1..1) value of an LFO shape at ``frac`` (0..1) of cycle number ``cycle``.

    Sine ``sin(2 pi f)``; triangle rising from 0 (peak at 0.25); saws ``2f - 1`` and ``1 - 2f``; square
    +1 for the first half; sample & hold one :func:`hash_uniform` value per cycle; smooth random a
    raised-cosine glide from this cycle's value to the next one's."""
    if shape == LFO_SINE:
        return math.sin(TWO_PI * frac)
    if shape == LFO_TRIANGLE:
        q = frac + 0.25
        if q >= 1.0:
            q -= 1.0
        return 1.0 - 4.0 * abs(q - 0.5)
    if shape == LFO_SAW_UP:
        return 2.0 * frac - 1.0
    if shape == LFO_SAW_DOWN:
        return 1.0 - 2.0 * frac
    if shape == LFO_SQUARE:
        return 1.0 if frac < 0.5 else -1.0
    a = hash_uniform(seed, cycle)
    if shape == LFO_SAMPLE_HOLD:
        return a
    b = hash_uniform(seed, cycle + 1)
    return a + (b - a) * (0.5 - 0.5 * math.cos(math.pi * frac))


@njit(cache=True, nogil=True)
def lfo_fill(
    out, start, stop, shape, rate_hz, sync, rate_beats, offset_cycles, unipolar, depth, beats, playing,
    beats_per_sample, sample_rate, state, seed,
):  # fmt: skip
    """One LFO into ``out[start:stop]``; every control is a per-sample array indexed like ``out``.

    Free (``sync < 0.5``): the phase advances ``rate_hz / sample_rate`` per sample. Synced while
    ``playing``: phase ``(beats[i] - anchor) / rate_beats[i]`` (``beats`` from :func:`timeline_beats`), so
    it is locked to the timeline. Synced while stopped: it runs on at ``beats_per_sample / rate_beats``.
    The output is ``depth * v`` (bipolar) or ``depth * (v + 1) / 2`` (``unipolar >= 0.5``) with ``v`` from
    :func:`lfo_shape_value` at the phase plus ``offset_cycles``.

    ``state`` (3 float64): phase in the cycle of the next free-running sample, its cycle count, and the
    anchor beat (0, or the beat of the last retrigger). Retrigger by setting ``state[:2] = 0`` and, while
    playing, ``state[2]`` to the beat of the retrigger sample.
    """
    for i in range(start, stop):
        synced = sync[i] >= 0.5
        if synced and playing:
            total = (beats[i] - state[2]) / rate_beats[i]
            cyc = float(math.floor(total))
            base = total - cyc
            nxt = base + beats_per_sample / rate_beats[i]
            wrap = float(math.floor(nxt))
            state[0] = nxt - wrap
            state[1] = cyc + wrap
        else:
            base = state[0]
            cyc = state[1]
            d = beats_per_sample / rate_beats[i] if synced else rate_hz[i] / sample_rate
            nxt = base + d
            wrap = float(math.floor(nxt))
            state[0] = nxt - wrap
            state[1] = cyc + wrap
        ph = base + offset_cycles[i]
        whole = float(math.floor(ph))
        v = lfo_shape_value(int(shape[i]), np.int64(cyc + whole), ph - whole, seed)
        if unipolar[i] >= 0.5:
            v = 0.5 * (v + 1.0)
        out[i] = depth[i] * v


@njit(cache=True, nogil=True)
def timeline_beats(out, offset, n, start_sample, sample_rate, pt_beats, pt_seconds, pt_bpms, pt_slopes):
    """The beat of timeline samples ``start_sample .. start_sample + n`` into ``out[offset:offset + n]``,
    from a tempo map given as arrays per tempo point (beat, seconds, bpm, slope in bpm per beat): the same
    closed forms as :meth:`engine.tempo.TempoMap.seconds_to_beat`, exact at every sample."""
    k = 0
    last = pt_beats.shape[0] - 1
    for j in range(n):
        s = (start_sample + j) / sample_rate
        while k > 0 and s < pt_seconds[k]:
            k -= 1
        while k < last and s >= pt_seconds[k + 1]:
            k += 1
        ds = s - pt_seconds[k]
        if ds < 0.0 or pt_slopes[k] == 0.0:
            out[offset + j] = pt_beats[k] + ds * pt_bpms[k] / 60.0
        else:
            out[offset + j] = pt_beats[k] + pt_bpms[k] * math.expm1(pt_slopes[k] * ds / 60.0) / pt_slopes[k]


@njit(cache=True, nogil=True)
def linear_beats(out, offset, n, start_sample, ref_sample, ref_beat, beats_per_sample):
    """Beats at a constant tempo: ``ref_beat + (t - ref_sample) * beats_per_sample`` for the timeline
    samples ``t = start_sample .. start_sample + n`` into ``out[offset:offset + n]``."""
    for j in range(n):
        out[offset + j] = ref_beat + (start_sample + j - ref_sample) * beats_per_sample
