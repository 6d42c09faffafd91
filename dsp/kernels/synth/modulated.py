"""The modulated path: oscillator 2, sub, noise, LFO routing, filter envelope, a glide, unison panning.

Pieces end on the 32-sample timeline grid (:data:`SUB_BLOCK`). At each grid point every column's
modulation targets are computed (LFO, filter envelope, glide, velocity) and the phase increment, filter
``g``, tremolo gain and pulse-width offset glide linearly to them over the next grid cell, so the output
does not depend on where blocks or events split the timeline. The oscillators are summed per sample into
a ``tile`` (``SUB_BLOCK x columns``), one vectorized pass each (a silent oscillator is skipped), then one
pass filters, shapes and pans it. Those passes are :mod:`~dsp.kernels.synth.tile`; here the sounding
columns are gathered, their targets set at the grid points, and their state scattered back.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsp.kernels.synth.envelopes import _fenv_column, _fenv_events, _set_stage, _settle
from dsp.kernels.synth.oscillators import lfo_value
from dsp.kernels.synth.params import (
    F_AMP,
    F_DG,
    F_DINC,
    F_DINV,
    F_DMAMP,
    F_DPWM,
    F_ENV,
    F_FADE,
    F_G,
    F_GL,
    F_GR,
    F_INC,
    F_INC_T,
    F_INV,
    F_LFO_PHASE,
    F_MAMP,
    F_NOISE,
    F_PAN,
    F_PHASE,
    F_PHASE2,
    F_PHASE_SUB,
    F_PWM,
    F_S1,
    F_S2,
    F_SEED,
    F_UPOS,
    FILTER_BANDPASS,
    FILTER_HIGHPASS,
    FILTER_LOWPASS,
    I_DIRTY,
    I_FENV_RELEASED,
    I_RETRIGGER,
    I_STAGE,
    MAX_INC,
    P_CUTOFF_HZ,
    P_FILTER_ENV_AMOUNT,
    P_FILTER_MODE,
    P_GLIDE_MS,
    P_LFO_RETRIGGER,
    P_LFO_SHAPE,
    P_NOISE_LEVEL,
    P_OSC1_LEVEL,
    P_OSC1_PULSE_WIDTH,
    P_OSC2_LEVEL,
    P_OSC2_PULSE_WIDTH,
    P_OSC2_WAVEFORM,
    P_RESONANCE,
    P_SUB_LEVEL,
    P_SUB_WAVEFORM,
    P_UNISON_SPREAD,
    P_WAVEFORM,
    STAGE_IDLE,
    STAGE_RELEASE,
    SUB_SQUARE,
    W_A1,
    W_AMP,
    W_DG,
    W_DINC,
    W_DINV,
    W_DMAMP,
    W_DPWM,
    W_ENV,
    W_G,
    W_GL,
    W_GR,
    W_INC,
    W_INV,
    W_L1,
    W_L2,
    W_LS,
    W_MAMP,
    W_NOISE,
    W_PHASE,
    W_PHASE2,
    W_PHASE_SUB,
    W_PWM,
    W_S1,
    W_S2,
    WAVE_SINE,
    WAVE_SQUARE,
)
from dsp.kernels.synth.static import _scatter_common
from dsp.kernels.synth.targets import (
    _osc1_offset,
    _osc2_ratio,
    _set_ramp,
    _set_still,
    _targets,
    pan_gains,
    svf_k,
)
from dsp.kernels.synth.tile import _noise_pass, _osc_pass, _span_modulated


@njit(cache=True, nogil=True)
def _gather_modulated(fst, ist, w, slots, ncols, values, sample_rate, env_coefs, fe, at_point, ramp_len,
                      lfo_free):  # fmt: skip
    osc1 = _osc1_offset(values)
    ratio = _osc2_ratio(values)
    glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
    spread = values[P_UNISON_SPREAD]
    shape = int(values[P_LFO_SHAPE])
    per_note = values[P_LFO_RETRIGGER] >= 0.5
    fenv_on = values[P_FILTER_ENV_AMOUNT] != 0.0
    l1 = values[P_OSC1_LEVEL]
    l2 = values[P_OSC2_LEVEL]
    ls = values[P_SUB_LEVEL]
    cutoff_hz = values[P_CUTOFF_HZ]
    k = svf_k(values[P_RESONANCE])
    panned = False
    sweeping = False
    n = 0
    for v in range(ncols):
        stage = ist[I_STAGE, v]
        if stage == STAGE_IDLE:
            continue
        if ist[I_RETRIGGER, v] != 0 or (stage == STAGE_RELEASE and ist[I_FENV_RELEASED, v] == 0):
            _fenv_events(fst, ist, v, stage, fe)
        dirty = ist[I_DIRTY, v] != 0
        if dirty or at_point:
            lfo = lfo_value(shape, fst[F_LFO_PHASE, v], np.int64(fst[F_SEED, v])) if per_note else lfo_free
            fenv = _fenv_column(fst, ist, v, fe) if fenv_on else 0.0
            pitch, octaves, mamp, pwm = _targets(fst, v, values, osc1, glide_samples, lfo, fenv)
            if dirty:  # a new note or pitch starts where it belongs
                _set_still(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate)
                ist[I_DIRTY, v] = 0
            else:
                _set_ramp(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate, ramp_len)
        slots[0, n] = v
        slots[1, n] = stage
        w[W_PHASE, n] = fst[F_PHASE, v]
        w[W_PHASE2, n] = fst[F_PHASE2, v]
        w[W_PHASE_SUB, n] = fst[F_PHASE_SUB, v]
        w[W_NOISE, n] = fst[F_NOISE, v]
        w[W_ENV, n] = fst[F_ENV, v]
        w[W_S1, n] = fst[F_S1, v]
        w[W_S2, n] = fst[F_S2, v]
        w[W_INC, n] = fst[F_INC, v]
        w[W_DINC, n] = fst[F_DINC, v]
        w[W_INV, n] = fst[F_INV, v]
        w[W_DINV, n] = fst[F_DINV, v]
        g = fst[F_G, v]
        w[W_G, n] = g
        w[W_DG, n] = fst[F_DG, v]
        w[W_A1, n] = 1.0 / (1.0 + g * (g + k))
        if fst[F_DG, v] != 0.0:
            sweeping = True
        w[W_MAMP, n] = fst[F_MAMP, v]
        w[W_DMAMP, n] = fst[F_DMAMP, v]
        w[W_PWM, n] = fst[F_PWM, v]
        w[W_DPWM, n] = fst[F_DPWM, v]
        w[W_AMP, n] = fst[F_AMP, v]
        target = fst[F_INC_T, v]
        w[W_L1, n] = l1 if target < MAX_INC else 0.0
        w[W_L2, n] = l2 if target * ratio < MAX_INC else 0.0
        w[W_LS, n] = ls
        pan = fst[F_UPOS, v] * spread
        gl = 1.0
        gr = 1.0
        if pan != 0.0:
            panned = True
            if pan != fst[F_PAN, v] or (fst[F_GL, v] == 0.0 and fst[F_GR, v] == 0.0):
                fst[F_PAN, v] = pan
                fst[F_GL, v], fst[F_GR, v] = pan_gains(pan)
            gl = fst[F_GL, v]
            gr = fst[F_GR, v]
        w[W_GL, n] = gl
        w[W_GR, n] = gr
        _set_stage(w, n, stage, env_coefs, fst[F_FADE, v])
        n += 1
    return n, panned, sweeping


@njit(cache=True, nogil=True)
def _render_modulated(fst, ist, w, tile, slots, out, start, stop, ncols, values, sample_rate, env_coefs,
                      fe, lfo_inc, at_point, ramp_len, lfo_free):  # fmt: skip
    n, panned, sweeping = _gather_modulated(fst, ist, w, slots, ncols, values, sample_rate, env_coefs, fe,
                                            at_point, ramp_len, lfo_free)  # fmt: skip
    length = stop - start
    if n > 0:
        ratio = _osc2_ratio(values)
        _osc_pass(w, tile, n, length, int(values[P_WAVEFORM]), W_PHASE, 1.0, 1.0, W_L1,
                  values[P_OSC1_PULSE_WIDTH], 1.0, False)  # fmt: skip
        if values[P_OSC2_LEVEL] != 0.0:
            _osc_pass(w, tile, n, length, int(values[P_OSC2_WAVEFORM]), W_PHASE2, ratio, 1.0 / ratio, W_L2,
                      values[P_OSC2_PULSE_WIDTH], 1.0, True)  # fmt: skip
        if values[P_SUB_LEVEL] != 0.0:
            wave = WAVE_SQUARE if int(values[P_SUB_WAVEFORM]) == SUB_SQUARE else WAVE_SINE
            _osc_pass(w, tile, n, length, wave, W_PHASE_SUB, 0.5, 2.0, W_LS, 0.5, 0.0, True)
        if values[P_NOISE_LEVEL] != 0.0:
            _noise_pass(w, tile, n, length, values[P_NOISE_LEVEL])
    k_damp = svf_k(values[P_RESONANCE])
    mode = int(values[P_FILTER_MODE])
    c_low = 1.0 if mode == FILTER_LOWPASS else 0.0
    c_band = 1.0 if mode == FILTER_BANDPASS else 0.0
    c_high = 1.0 if mode == FILTER_HIGHPASS else 0.0
    alive = n
    i = start
    while i < stop and alive > 0:
        i = _span_modulated(w, tile, out, start, i, stop, n, k_damp, c_low, c_band, c_high, panned, sweeping)
        alive = _settle(w, slots, fst, n, env_coefs)
    for j in range(n):
        v = slots[0, j]
        # a filter fed silence (every source at level 0) decays toward denormal numbers, which are
        # slow: flush its states long before
        if abs(w[W_S1, j]) < 1e-30:
            w[W_S1, j] = 0.0
        if abs(w[W_S2, j]) < 1e-30:
            w[W_S2, j] = 0.0
        fst[F_PHASE2, v] = w[W_PHASE2, j]
        fst[F_PHASE_SUB, v] = w[W_PHASE_SUB, j]
        fst[F_NOISE, v] = w[W_NOISE, j]
        fst[F_INC, v] = w[W_INC, j] + length * w[W_DINC, j]
        fst[F_INV, v] = w[W_INV, j] + length * w[W_DINV, j]
        fst[F_G, v] = w[W_G, j] + length * w[W_DG, j]
        fst[F_MAMP, v] = w[W_MAMP, j] + length * w[W_DMAMP, j]
        fst[F_PWM, v] = w[W_PWM, j] + length * w[W_DPWM, j]
    _scatter_common(fst, ist, w, slots, n, length, lfo_inc)
