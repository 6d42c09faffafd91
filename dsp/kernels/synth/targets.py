"""Where each voice column's controls are heading: pitch (glide, unison detune, LFO), cutoff (key tracking,
filter envelope, LFO, velocity), tremolo gain and pulse-width offset, as the phase increment and filter
``g``, set at once (:func:`_set_still`) or ramped over a grid cell (:func:`_set_ramp`); the filter damping
(:func:`svf_k`), the pan gains, and the tests that choose between the static and the modulated path.
"""

from __future__ import annotations

import math

from numba import njit

from dsp.kernels.synth.params import (
    F_CUT_T,
    F_DG,
    F_DINC,
    F_DINV,
    F_DMAMP,
    F_DPWM,
    F_G,
    F_G_T,
    F_GLIDE,
    F_GLIDE_T,
    F_INC,
    F_INC_T,
    F_INV,
    F_INV_T,
    F_MAMP,
    F_MAMP_T,
    F_OCT_T,
    F_PITCH,
    F_PITCH_T,
    F_PWM,
    F_PWM_T,
    F_UPOS,
    F_VEL,
    I_STAGE,
    K_CLOSED,
    K_OPEN,
    LN2,
    LN2_12,
    MAX_CUTOFF_RATIO,
    MAX_INC,
    MIN_CUTOFF_HZ,
    P_FILTER_ENV_AMOUNT,
    P_KEY_TRACKING,
    P_LFO_PERIOD_BEATS,
    P_LFO_RATE_HZ,
    P_LFO_SYNC,
    P_LFO_TO_AMP,
    P_LFO_TO_CUTOFF,
    P_LFO_TO_PITCH,
    P_LFO_TO_PULSE_WIDTH,
    P_NOISE_LEVEL,
    P_OSC1_FINE_CENTS,
    P_OSC1_OCTAVES,
    P_OSC1_SEMITONES,
    P_OSC2_FINE_CENTS,
    P_OSC2_LEVEL,
    P_OSC2_OCTAVES,
    P_OSC2_SEMITONES,
    P_SUB_LEVEL,
    P_UNISON_DETUNE,
    P_VELOCITY_TO_FILTER,
    STAGE_IDLE,
)


# -- filter damping and pan gains ------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def svf_k(resonance):
    """Damping ``k = 1/Q`` of the state-variable filter for a resonance in 0..1."""
    return K_OPEN - (K_OPEN - K_CLOSED) * resonance


@njit(cache=True, nogil=True)
def pan_gains(pan):
    """(left, right) gains of a constant-power pan in -1..1, both 1 at the centre."""
    a = (pan + 1.0) * (0.25 * math.pi)
    return math.sqrt(2.0) * math.cos(a), math.sqrt(2.0) * math.sin(a)


# -- modulation targets -----------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _glide_offset(fst, c, glide_samples):
    start = fst[F_GLIDE, c]
    if start == 0.0 or glide_samples < 1.0:
        return 0.0
    t = fst[F_GLIDE_T, c]
    if t >= glide_samples:
        return 0.0
    return start * (1.0 - t / glide_samples)


@njit(cache=True, nogil=True)
def _osc1_offset(values):
    return 12.0 * values[P_OSC1_OCTAVES] + values[P_OSC1_SEMITONES] + 0.01 * values[P_OSC1_FINE_CENTS]


@njit(cache=True, nogil=True)
def _osc2_ratio(values):
    # oscillator 2's frequency over oscillator 1's
    o2 = 12.0 * values[P_OSC2_OCTAVES] + values[P_OSC2_SEMITONES] + 0.01 * values[P_OSC2_FINE_CENTS]
    return math.exp((o2 - _osc1_offset(values)) * LN2_12)


@njit(cache=True, nogil=True)
def _targets(fst, c, values, osc1, glide_samples, lfo, fenv):
    """Pitch (semitones), cutoff offset (octaves), tremolo gain and pulse-width offset of column c for an
    LFO value and a filter envelope level (both 0: the unmodulated values)."""
    key = fst[F_PITCH, c] + _glide_offset(fst, c, glide_samples)
    pitch = key + osc1 + fst[F_UPOS, c] * values[P_UNISON_DETUNE] * 0.01 + lfo * values[P_LFO_TO_PITCH] * 0.01
    octaves = (
        values[P_KEY_TRACKING] * (key - 60.0) / 12.0
        + values[P_FILTER_ENV_AMOUNT] * fenv
        + values[P_LFO_TO_CUTOFF] * lfo
        + values[P_VELOCITY_TO_FILTER] * (fst[F_VEL, c] - 1.0)
    )
    mamp = 1.0 - values[P_LFO_TO_AMP] * (1.0 - lfo) * 0.5
    pwm = values[P_LFO_TO_PULSE_WIDTH] * lfo
    return pitch, octaves, mamp, pwm


@njit(cache=True, nogil=True)
def _inc_of(pitch, sample_rate):
    return min(440.0 * math.exp((pitch - 69.0) * LN2_12) / sample_rate, MAX_INC)


@njit(cache=True, nogil=True)
def _g_of(cutoff_hz, octaves, sample_rate):
    fc = cutoff_hz * math.exp(octaves * LN2)
    fc = min(max(fc, MIN_CUTOFF_HZ), MAX_CUTOFF_RATIO * sample_rate)
    return math.tan(math.pi * fc / sample_rate)


@njit(cache=True, nogil=True)
def _set_still(fst, c, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate):
    # jump to the targets (a new note or pitch, or the static path's values)
    inc = _inc_of(pitch, sample_rate)
    g = _g_of(cutoff_hz, octaves, sample_rate)
    fst[F_PITCH_T, c] = pitch
    fst[F_OCT_T, c] = octaves
    fst[F_CUT_T, c] = cutoff_hz
    fst[F_INC, c] = inc
    fst[F_INC_T, c] = inc
    fst[F_DINC, c] = 0.0
    fst[F_INV, c] = 1.0 / inc
    fst[F_INV_T, c] = 1.0 / inc
    fst[F_DINV, c] = 0.0
    fst[F_G, c] = g
    fst[F_G_T, c] = g
    fst[F_DG, c] = 0.0
    fst[F_MAMP, c] = mamp
    fst[F_MAMP_T, c] = mamp
    fst[F_DMAMP, c] = 0.0
    fst[F_PWM, c] = pwm
    fst[F_PWM_T, c] = pwm
    fst[F_DPWM, c] = 0.0


@njit(cache=True, nogil=True)
def _set_ramp(fst, c, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate, length):
    # from the previous grid point's targets to the new ones over one grid cell; exp and tan only when
    # the pitch or cutoff moved
    scale = 1.0 / length
    inc = fst[F_INC_T, c]
    inv = fst[F_INV_T, c]
    if pitch != fst[F_PITCH_T, c]:
        fst[F_PITCH_T, c] = pitch
        inc = _inc_of(pitch, sample_rate)
        inv = 1.0 / inc
    g = fst[F_G_T, c]
    if octaves != fst[F_OCT_T, c] or cutoff_hz != fst[F_CUT_T, c]:
        fst[F_OCT_T, c] = octaves
        fst[F_CUT_T, c] = cutoff_hz
        g = _g_of(cutoff_hz, octaves, sample_rate)
    cur = fst[F_INC_T, c]
    fst[F_INC, c] = cur
    fst[F_DINC, c] = (inc - cur) * scale
    fst[F_INC_T, c] = inc
    cur = fst[F_INV_T, c]
    fst[F_INV, c] = cur
    fst[F_DINV, c] = (inv - cur) * scale
    fst[F_INV_T, c] = inv
    cur = fst[F_G_T, c]
    fst[F_G, c] = cur
    fst[F_DG, c] = (g - cur) * scale
    fst[F_G_T, c] = g
    cur = fst[F_MAMP_T, c]
    fst[F_MAMP, c] = cur
    fst[F_DMAMP, c] = (mamp - cur) * scale
    fst[F_MAMP_T, c] = mamp
    cur = fst[F_PWM_T, c]
    fst[F_PWM, c] = cur
    fst[F_DPWM, c] = (pwm - cur) * scale
    fst[F_PWM_T, c] = pwm


@njit(cache=True, nogil=True)
def _lfo_inc(values, sample_rate, tempo_bpm):
    if values[P_LFO_SYNC] >= 0.5:
        return tempo_bpm / (60.0 * values[P_LFO_PERIOD_BEATS]) / sample_rate
    return values[P_LFO_RATE_HZ] / sample_rate


@njit(cache=True, nogil=True)
def _modulated(values):
    # parameters that need the modulated path whatever the voices do
    return (
        values[P_OSC2_LEVEL] != 0.0
        or values[P_SUB_LEVEL] != 0.0
        or values[P_NOISE_LEVEL] != 0.0
        or values[P_FILTER_ENV_AMOUNT] != 0.0
        or values[P_LFO_TO_PITCH] != 0.0
        or values[P_LFO_TO_CUTOFF] != 0.0
        or values[P_LFO_TO_AMP] != 0.0
        or values[P_LFO_TO_PULSE_WIDTH] != 0.0
    )


@njit(cache=True, nogil=True)
def _voices_modulated(fst, ist, ncols, glide_samples, spread):
    # a column gliding, still moving toward its last targets, or panned away from the centre
    for c in range(ncols):
        if ist[I_STAGE, c] == STAGE_IDLE:
            continue
        if fst[F_DINC, c] != 0.0 or fst[F_DG, c] != 0.0 or fst[F_DMAMP, c] != 0.0 or fst[F_DPWM, c] != 0.0:
            return True
        if _glide_offset(fst, c, glide_samples) != 0.0:
            return True
        if spread != 0.0 and fst[F_UPOS, c] != 0.0:
            return True
    return False
