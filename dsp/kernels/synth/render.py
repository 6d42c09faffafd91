"""The entry points: :func:`grid_points` once per block, :func:`render_voices` once per span of samples
between two events (it picks the static or the modulated path for every piece of the span),
:func:`write_stereo` once per block, and :func:`take_points` to sample a parameter curve on the grid.
"""

from __future__ import annotations

from numba import njit

from dsp.kernels.synth.envelopes import _env_coefs, _fenv_coefs
from dsp.kernels.synth.modulated import _render_modulated
from dsp.kernels.synth.oscillators import lfo_value
from dsp.kernels.synth.params import (
    FREE_LFO_SEED,
    G_LFO_PHASE,
    G_UNISON_USED,
    I_STAGE,
    P_GLIDE_MS,
    P_LFO_SHAPE,
    P_UNISON_SPREAD,
    STAGE_IDLE,
    SUB_BLOCK,
    UNISON_MAX,
)
from dsp.kernels.synth.static import _render_static
from dsp.kernels.synth.targets import _lfo_inc, _modulated, _voices_modulated


@njit(cache=True, nogil=True)
def grid_points(playing, num_segments, seg_start, seg_offset, seg_frames, frames, points):
    """Fill ``points`` (int64, ``(2, frames // SUB_BLOCK + 3 * segments + 2)``) with the block offsets of
    the grid points (row 0) and the samples to the next one on the timeline (row 1): every SUB_BLOCK
    samples of the timeline while playing, plus the start of each loop-wrap segment; every SUB_BLOCK
    samples of the block while stopped. Returns how many."""
    m = 0
    if playing:
        for k in range(num_segments):
            off = seg_offset[k]
            first = (-seg_start[k]) % SUB_BLOCK
            if k > 0 and first != 0:
                points[0, m] = off
                points[1, m] = first
                m += 1
            i = off + first
            while i < off + seg_frames[k]:
                points[0, m] = i
                points[1, m] = SUB_BLOCK
                m += 1
                i += SUB_BLOCK
    else:
        i = 0
        while i < frames:
            points[0, m] = i
            points[1, m] = SUB_BLOCK
            m += 1
            i += SUB_BLOCK
    return m


@njit(cache=True, nogil=True)
def render_voices(
    fst, ist, work, tile, slots, glob, cache, out, start, stop, sample_rate, tempo_bpm, values, curves,
    moving, points, num_points, next_point,
):  # fmt: skip
    """Set ``out[:, start:stop]`` (float64, 2 rows) to the stereo sum of all voices over that span and
    advance their state; returns the index of the next grid point not yet reached.

    ``fst``/``ist``/``glob`` are the state (see the module docstring); ``work`` (float64,
    ``(NUM_W_ROWS, columns)``), ``tile`` (float64, ``SUB_BLOCK * columns``) and ``slots`` (int64,
    ``(2, columns)``) are scratch; ``cache`` is a float64 array of ``NUM_CACHE`` (fill it with NaN to
    start). ``values`` (``NUM_PARAMS``) holds each parameter's current value and is updated in place: a
    parameter with ``moving[k]`` set takes ``curves[k, j]`` at grid point ``j`` of ``points[:,
    :num_points]`` (from :func:`grid_points`), from ``next_point`` on. A voice whose envelope finishes is
    set to ``STAGE_IDLE``.
    """
    for i in range(start, stop):
        out[0, i] = 0.0
        out[1, i] = 0.0
    any_moving = False
    for k in range(moving.shape[0]):
        if moving[k]:
            any_moving = True
    slots_per_unison = ist.shape[1] // UNISON_MAX
    lfo_inc = _lfo_inc(values, sample_rate, tempo_bpm)
    env_coefs = _env_coefs(values, sample_rate)
    fe = _fenv_coefs(values, sample_rate)
    j = next_point
    x = start
    while x < stop:
        at_point = False
        ramp_len = SUB_BLOCK
        changed = False
        while j < num_points and points[0, j] <= x:
            if points[0, j] == x:
                at_point = True
                ramp_len = points[1, j]
            if any_moving:
                for k in range(moving.shape[0]):
                    if moving[k]:
                        values[k] = curves[k, j]
                changed = True
            j += 1
        if changed:
            lfo_inc = _lfo_inc(values, sample_rate, tempo_bpm)
            env_coefs = _env_coefs(values, sample_rate)
            fe = _fenv_coefs(values, sample_rate)
        ncols = int(glob[G_UNISON_USED]) * slots_per_unison
        glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
        modulated = _modulated(values) or _voices_modulated(fst, ist, ncols, glide_samples,
                                                            values[P_UNISON_SPREAD])  # fmt: skip
        y = stop
        if (modulated or any_moving) and j < num_points and points[0, j] < stop:
            y = points[0, j]
        if modulated:
            y = min(y, x + SUB_BLOCK)  # the tile holds one grid cell
            lfo_free = lfo_value(int(values[P_LFO_SHAPE]), glob[G_LFO_PHASE], FREE_LFO_SEED)
            _render_modulated(fst, ist, work, tile, slots, out, x, y, ncols, values, sample_rate, env_coefs,
                              fe, lfo_inc, at_point, ramp_len, lfo_free)  # fmt: skip
        else:
            _render_static(fst, ist, work, slots, cache, out, x, y, ncols, values, sample_rate, env_coefs, fe,
                           lfo_inc)  # fmt: skip
        glob[G_LFO_PHASE] += (y - x) * lfo_inc
        x = y
    # the highest unison column still sounding bounds the next scan
    used = 1
    for c in range(int(glob[G_UNISON_USED]) * slots_per_unison - 1, -1, -1):
        if ist[I_STAGE, c] != STAGE_IDLE:
            used = c // slots_per_unison + 1
            break
    glob[G_UNISON_USED] = used
    return j


@njit(cache=True, nogil=True)
def write_stereo(buf, frames, gain_db, gain_is_constant, dst):
    """Write ``buf[:, :frames]`` (float64, left and right) times the per-sample gain (``gain_db[:frames]``,
    or ``gain_db[0]`` for the whole block when ``gain_is_constant``) into the stereo float32 ``dst``."""
    if gain_is_constant:
        g = 10.0 ** (gain_db[0] * 0.05)
        for i in range(frames):
            dst[0, i] = buf[0, i] * g
            dst[1, i] = buf[1, i] * g
    else:
        for i in range(frames):
            g = 10.0 ** (gain_db[i] * 0.05)
            dst[0, i] = buf[0, i] * g
            dst[1, i] = buf[1, i] * g


@njit(cache=True, nogil=True)
def take_points(curve, points, num_points, curves, k):
    """Set ``curves[k, j]`` to ``curve[points[0, j]]`` for the first ``num_points`` grid points."""
    for j in range(num_points):
        curves[k, j] = curve[points[0, j]]
