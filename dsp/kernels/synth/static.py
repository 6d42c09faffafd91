"""The static path, the common case: oscillator 1 alone, centred, nothing modulated.

The fused loop of the basic synth. It gathers the sounding columns into a scratch array (``work``), runs a
sample-outer, column-inner loop that LLVM vectorizes across columns (branch-free oscillators), and
scatters the state back. Unused features cost a few flag checks per span. :func:`_scatter_common` writes
back the state both paths share.
"""

from __future__ import annotations

from numba import njit

from dsp.kernels.synth.envelopes import _fenv_events, _set_stage, _settle
from dsp.kernels.synth.oscillators import _pulse, _saw, _sine, _triangle, _wrap
from dsp.kernels.synth.params import (
    _FAST,
    C_CUTOFF,
    C_DETUNE,
    C_KEY_TRACKING,
    C_OSC1,
    C_RATE,
    C_VELOCITY_TO_FILTER,
    F_AGE,
    F_AMP,
    F_ENV,
    F_FADE,
    F_G,
    F_GLIDE_T,
    F_INC,
    F_LFO_PHASE,
    F_MAMP,
    F_PHASE,
    F_S1,
    F_S2,
    FILTER_BANDPASS,
    FILTER_HIGHPASS,
    I_DIRTY,
    I_FENV_RELEASED,
    I_RETRIGGER,
    I_STAGE,
    MAX_INC,
    P_CUTOFF_HZ,
    P_FILTER_MODE,
    P_GLIDE_MS,
    P_KEY_TRACKING,
    P_OSC1_LEVEL,
    P_OSC1_PULSE_WIDTH,
    P_RESONANCE,
    P_UNISON_DETUNE,
    P_VELOCITY_TO_FILTER,
    P_WAVEFORM,
    STAGE_IDLE,
    STAGE_RELEASE,
    W_AMP,
    W_B1,
    W_B2,
    W_BASE,
    W_COEF,
    W_ENV,
    W_INC,
    W_INV,
    W_LIMIT,
    W_M11,
    W_M12,
    W_M21,
    W_M22,
    W_O1,
    W_O2,
    W_O3,
    W_PHASE,
    W_S1,
    W_S2,
    W_SIGN,
    WAVE_SAW,
    WAVE_SQUARE,
    WAVE_TRIANGLE,
)
from dsp.kernels.synth.targets import _osc1_offset, _set_still, _targets, svf_k


@njit(cache=True, nogil=True, fastmath=_FAST)
def _voice_out(w, j, x):
    # filter, envelope and gain of voice column j for oscillator sample x; returns (output, stage ended)
    s1 = w[W_S1, j]
    s2 = w[W_S2, j]
    y = w[W_O1, j] * s1 + w[W_O2, j] * s2 + w[W_O3, j] * x
    w[W_S1, j] = w[W_M11, j] * s1 + w[W_M12, j] * s2 + w[W_B1, j] * x
    w[W_S2, j] = w[W_M21, j] * s1 + w[W_M22, j] * s2 + w[W_B2, j] * x
    e = w[W_BASE, j] + w[W_ENV, j] * w[W_COEF, j]
    w[W_ENV, j] = e
    return y * e * w[W_AMP, j], w[W_SIGN, j] * e >= w[W_LIMIT, j]


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_saw(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _saw(p, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_square(w, out, start, stop, n, pw):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _pulse(p, pw, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_triangle(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _triangle(p, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_sine(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _sine(p))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True)
def _gather_static(fst, ist, w, slots, cache, ncols, values, sample_rate, env_coefs, fe):
    cutoff_hz = values[P_CUTOFF_HZ]
    key_tracking = values[P_KEY_TRACKING]
    osc1 = _osc1_offset(values)
    detune = values[P_UNISON_DETUNE]
    vtf = values[P_VELOCITY_TO_FILTER]
    retune = (
        cache[C_CUTOFF] != cutoff_hz
        or cache[C_KEY_TRACKING] != key_tracking
        or cache[C_RATE] != sample_rate
        or cache[C_OSC1] != osc1
        or cache[C_DETUNE] != detune
        or cache[C_VELOCITY_TO_FILTER] != vtf
    )
    if retune:
        cache[C_CUTOFF] = cutoff_hz
        cache[C_KEY_TRACKING] = key_tracking
        cache[C_RATE] = sample_rate
        cache[C_OSC1] = osc1
        cache[C_DETUNE] = detune
        cache[C_VELOCITY_TO_FILTER] = vtf
    k = svf_k(values[P_RESONANCE])
    mode = int(values[P_FILTER_MODE])
    level = values[P_OSC1_LEVEL]
    glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
    n = 0
    for v in range(ncols):
        stage = ist[I_STAGE, v]
        if stage == STAGE_IDLE:
            continue
        if ist[I_RETRIGGER, v] != 0 or (stage == STAGE_RELEASE and ist[I_FENV_RELEASED, v] == 0):
            _fenv_events(fst, ist, v, stage, fe)
        if retune or ist[I_DIRTY, v] != 0:
            pitch, octaves, mamp, pwm = _targets(fst, v, values, osc1, glide_samples, 0.0, 0.0)
            _set_still(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate)
            ist[I_DIRTY, v] = 0
        slots[0, n] = v
        slots[1, n] = stage
        w[W_PHASE, n] = fst[F_PHASE, v]
        w[W_ENV, n] = fst[F_ENV, v]
        w[W_S1, n] = fst[F_S1, v]
        w[W_S2, n] = fst[F_S2, v]
        inc = fst[F_INC, v]
        w[W_INC, n] = inc
        w[W_INV, n] = 1.0 / inc
        # a fundamental at or above MAX_INC * rate (0.45: 19.8 kHz at 44.1 kHz) is silent rather than
        # pinned to a wrong, audible pitch
        w[W_AMP, n] = fst[F_AMP, v] * level * fst[F_MAMP, v] if inc < MAX_INC else 0.0
        # the TPT SVF as a 2x2 state update, which keeps the recursion short:
        # s1' = (2 a1 - 1) s1 - 2 a2 s2 + 2 a2 x;  s2' = 2 a2 s1 + (1 - 2 a3) s2 + 2 a3 x
        # with a1 = 1 / (1 + g (g + k)), a2 = g a1, a3 = g a2; outputs band = a1 s1 - a2 s2 + a2 x,
        # low = a2 s1 + (1 - a3) s2 + a3 x, high = x - k band - low
        g = fst[F_G, v]
        a1 = 1.0 / (1.0 + g * (g + k))
        a2 = g * a1
        a3 = g * a2
        w[W_M11, n] = 2.0 * a1 - 1.0
        w[W_M12, n] = -2.0 * a2
        w[W_B1, n] = 2.0 * a2
        w[W_M21, n] = 2.0 * a2
        w[W_M22, n] = 1.0 - 2.0 * a3
        w[W_B2, n] = 2.0 * a3
        if mode == FILTER_HIGHPASS:
            w[W_O1, n] = -k * a1 - a2
            w[W_O2, n] = k * a2 - 1.0 + a3
            w[W_O3, n] = 1.0 - k * a2 - a3
        elif mode == FILTER_BANDPASS:
            w[W_O1, n] = a1
            w[W_O2, n] = -a2
            w[W_O3, n] = a2
        else:
            w[W_O1, n] = a2
            w[W_O2, n] = 1.0 - a3
            w[W_O3, n] = a3
        _set_stage(w, n, stage, env_coefs, fst[F_FADE, v])
        n += 1
    return n


@njit(cache=True, nogil=True)
def _scatter_common(fst, ist, w, slots, n, length, lfo_inc):
    for j in range(n):
        v = slots[0, j]
        fst[F_PHASE, v] = w[W_PHASE, j]
        fst[F_ENV, v] = w[W_ENV, j]
        fst[F_S1, v] = w[W_S1, j]
        fst[F_S2, v] = w[W_S2, j]
        ist[I_STAGE, v] = slots[1, j]
        fst[F_AGE, v] += length
        fst[F_GLIDE_T, v] += length
        fst[F_LFO_PHASE, v] += length * lfo_inc


@njit(cache=True, nogil=True)
def _render_static(fst, ist, w, slots, cache, out, start, stop, ncols, values, sample_rate, env_coefs, fe,
                   lfo_inc):  # fmt: skip
    n = _gather_static(fst, ist, w, slots, cache, ncols, values, sample_rate, env_coefs, fe)
    waveform = int(values[P_WAVEFORM])
    pw = values[P_OSC1_PULSE_WIDTH]
    alive = n
    i = start
    while i < stop and alive > 0:
        if waveform == WAVE_SAW:
            i = _span_saw(w, out, i, stop, n)
        elif waveform == WAVE_SQUARE:
            i = _span_square(w, out, i, stop, n, pw)
        elif waveform == WAVE_TRIANGLE:
            i = _span_triangle(w, out, i, stop, n)
        else:
            i = _span_sine(w, out, i, stop, n)
        alive = _settle(w, slots, fst, n, env_coefs)
    _scatter_common(fst, ist, w, slots, n, stop - start, lfo_inc)
