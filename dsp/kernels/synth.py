"""Kernels of the basic polyphonic synth: all voices of one instrument rendered by one call.

A voice is a band-limited oscillator (PolyBLEP saw and square, PolyBLAMP triangle, sine) into a
zero-delay-feedback (TPT) state-variable low-pass, times an exponential ADSR envelope and a velocity gain.
Voice state is struct of arrays: row ``F_*`` of a float64 array ``fst`` of shape ``(NUM_F_ROWS, slots)``
and row ``I_*`` of an int64 array ``ist`` of shape ``(NUM_I_ROWS, slots)``; column ``v`` is voice ``v``.
:mod:`instruments.voices` starts, releases and steals voices by writing those columns; the kernel only
renders them and frees the ones whose envelope has finished.

Call :func:`render_voices` once per span of samples between two events (it sums every voice into a mono
float64 buffer), then :func:`write_stereo` once per block to apply the output gain into a stereo buffer.
:func:`render_oscillator` renders one oscillator alone (for tests and, later, LFOs).

Speed: :func:`render_voices` gathers the sounding voices into the columns of a scratch array (``work``),
runs a sample-outer, voice-inner loop over them that LLVM vectorizes across voices (the loop body has no
branches: wraps and PolyBLEP corrections are selects), and scatters the state back. Stage changes of the
envelope are rare; the loop stops after the sample where one happens and the changes are made in scalar
code (:func:`_settle`) before it goes on.

The envelope is the one-pole-to-target kind: each stage moves toward a target a little beyond its end
level (``1 + ATTACK_TARGET_RATIO`` for the attack, ``sustain - DECAY_TARGET_RATIO`` for the decay,
``-DECAY_TARGET_RATIO`` for the release) so that it reaches the end level in exactly the stage time. A
voice is freed when its release falls to ``SILENCE_LEVEL`` (-100 dB). ``STAGE_FADE`` is a linear fade of
``F_FADE`` per sample, used for the tail of a stolen voice.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "ATTACK_TARGET_RATIO",
    "DECAY_TARGET_RATIO",
    "F_AMP",
    "F_ENV",
    "F_FADE",
    "F_G",
    "F_INC",
    "F_PHASE",
    "F_PITCH",
    "F_S1",
    "F_S2",
    "I_CHANNEL",
    "I_DIRTY",
    "I_HELD",
    "I_NOTE",
    "I_SERIAL",
    "I_STAGE",
    "NUM_CACHE",
    "NUM_F_ROWS",
    "NUM_I_ROWS",
    "NUM_W_ROWS",
    "SILENCE_LEVEL",
    "STAGE_ATTACK",
    "STAGE_DECAY",
    "STAGE_FADE",
    "STAGE_IDLE",
    "STAGE_RELEASE",
    "STAGE_SUSTAIN",
    "WAVE_SAW",
    "WAVE_SINE",
    "WAVE_SQUARE",
    "WAVE_TRIANGLE",
    "envelope_coefficient",
    "render_oscillator",
    "render_voices",
    "render_voices_stepped",
    "svf_k",
    "write_stereo",
]

WAVE_SAW = 0
WAVE_SQUARE = 1
WAVE_TRIANGLE = 2
WAVE_SINE = 3

STAGE_IDLE = 0
STAGE_ATTACK = 1
STAGE_DECAY = 2
STAGE_SUSTAIN = 3
STAGE_RELEASE = 4
STAGE_FADE = 5

# fst rows (float64)
F_PHASE = 0  # oscillator phase in cycles, 0 <= phase < 1
F_PITCH = 1  # MIDI pitch with pitch bend, in semitones
F_ENV = 2  # envelope level
F_AMP = 3  # velocity gain
F_S1 = 4  # filter integrator states
F_S2 = 5
F_FADE = 6  # linear fade per sample (STAGE_FADE)
F_INC = 7  # phase increment per sample, derived from F_PITCH
F_G = 8  # filter tan(pi * cutoff / rate), derived from F_PITCH, the cutoff and key tracking
NUM_F_ROWS = 9

# ist rows (int64)
I_STAGE = 0
I_CHANNEL = 1
I_NOTE = 2
I_SERIAL = 3  # note-on order, for oldest-first stealing
I_HELD = 4  # key released while the sustain pedal is down
I_DIRTY = 5  # F_PITCH changed: recompute F_INC and F_G before the next sample
NUM_I_ROWS = 6

# work rows (float64 scratch, one column per sounding voice): state, then per-span coefficients
W_PHASE, W_ENV, W_S1, W_S2, W_INC, W_INV, W_BASE, W_COEF, W_SIGN, W_LIMIT, W_AMP = range(11)
W_M11, W_M12, W_B1, W_M21, W_M22, W_B2, W_A2, W_C2, W_A3 = range(11, 20)
NUM_W_ROWS = 20

NUM_CACHE = 3  # the cutoff, key tracking and rate that F_G and F_INC were computed with

ATTACK_TARGET_RATIO = 0.3  # a gently curved attack
DECAY_TARGET_RATIO = 1e-4  # decay and release: exponential, reaching their end level at -80 dB overshoot
SILENCE_LEVEL = 1e-5  # -100 dB: a releasing voice below this is freed
MAX_INC = 0.45  # phase increment limit (PolyBLEP needs < 0.5)
MAX_CUTOFF_RATIO = 0.48  # cutoff limit as a fraction of the sample rate (tan grows without bound at 0.5)
MIN_CUTOFF_HZ = 5.0
K_OPEN = 1.4142135623730951  # damping 1/Q at resonance 0: Butterworth, no peak
K_CLOSED = 0.05  # damping at resonance 1: Q = 20, a loud peak, still stable
TWO_PI = 2.0 * math.pi
# reassoc lets LLVM vectorize the sum over voices (the order is fixed for a given set of voices)
_FAST = {"reassoc", "contract"}


@njit(cache=True, nogil=True)
def envelope_coefficient(samples, ratio):
    """Pole of a one-pole segment that covers its span in ``samples`` when aiming ``ratio`` beyond it."""
    if samples < 1.0:
        return 0.0
    return math.exp(-math.log((1.0 + ratio) / ratio) / samples)


@njit(cache=True, nogil=True)
def svf_k(resonance):
    """Damping ``k = 1/Q`` of the state-variable filter for a resonance in 0..1."""
    return K_OPEN - (K_OPEN - K_CLOSED) * resonance


# -- oscillators: branch-free, so the voice loop vectorizes ---------------------------------------------
@njit(cache=True, nogil=True, fastmath=_FAST)
def _wrap(q):
    return q - 1.0 if q >= 1.0 else q


@njit(cache=True, nogil=True, fastmath=_FAST)
def _blep(t, dt, inv_dt):
    # residual of a +2 step at t = 0 (two-sample polynomial); t in cycles, dt the increment
    xa = 1.0 - t * inv_dt
    xb = (t - 1.0) * inv_dt + 1.0
    return -xa * xa if t < dt else (xb * xb if t > 1.0 - dt else 0.0)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _blamp(t, dt, inv_dt):
    # residual of a unit slope change (per sample) at t = 0: the integral of half the BLEP residual
    xa = 1.0 - t * inv_dt
    xb = (t - 1.0) * inv_dt + 1.0
    return xa * xa * xa * (1.0 / 6.0) if t < dt else (xb * xb * xb * (1.0 / 6.0) if t > 1.0 - dt else 0.0)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _saw(p, dt, inv_dt):
    q = _wrap(p + 0.5)  # starts at a rising zero crossing
    return 2.0 * q - 1.0 - _blep(q, dt, inv_dt)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _square(p, dt, inv_dt):
    v = 1.0 if p < 0.5 else -1.0
    return v + _blep(p, dt, inv_dt) - _blep(_wrap(p + 0.5), dt, inv_dt)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _triangle(p, dt, inv_dt):
    q = _wrap(p + 0.25)  # starts at a rising zero crossing
    r = _wrap(q + 0.5)
    # corners: trough at q = 0 (slope change +8 dt per sample), peak at q = 0.5 (-8 dt)
    return 1.0 - 4.0 * abs(q - 0.5) + 8.0 * dt * (_blamp(q, dt, inv_dt) - _blamp(r, dt, inv_dt))


@njit(cache=True, nogil=True, fastmath=_FAST)
def _sine(p):
    # sin(2 pi p) for p in [0, 1): fold to [-pi/2, pi/2], odd Taylor polynomial to x^13 (error < 1e-9)
    u = p - 0.5
    u = 0.5 - u if u > 0.25 else (-0.5 - u if u < -0.25 else u)
    x = TWO_PI * u
    x2 = x * x
    s = 1.0 / 6227020800.0
    s = -1.0 / 39916800.0 + x2 * s
    s = 1.0 / 362880.0 + x2 * s
    s = -1.0 / 5040.0 + x2 * s
    s = 1.0 / 120.0 + x2 * s
    s = -1.0 / 6.0 + x2 * s
    return -x * (1.0 + x2 * s)


@njit(cache=True, nogil=True)
def render_oscillator(waveform, phase, inc, out):
    """Fill ``out`` with one oscillator (advance the phase by ``inc`` cycles, then sample); returns the
    phase after the last sample. The voices use the same oscillators."""
    inv = 1.0 / inc
    for i in range(out.shape[0]):
        phase = _wrap(phase + inc)
        if waveform == WAVE_SAW:
            out[i] = _saw(phase, inc, inv)
        elif waveform == WAVE_SQUARE:
            out[i] = _square(phase, inc, inv)
        elif waveform == WAVE_TRIANGLE:
            out[i] = _triangle(phase, inc, inv)
        else:
            out[i] = _sine(phase)
    return phase


# -- the voice loop ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=_FAST)
def _voice_out(w, j, x):
    # filter, envelope and gain of voice column j for oscillator sample x; returns (output, stage ended)
    s1 = w[W_S1, j]
    s2 = w[W_S2, j]
    y = w[W_A2, j] * s1 + w[W_C2, j] * s2 + w[W_A3, j] * x
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
        out[i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_square(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _square(p, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[i] = acc
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
        out[i] = acc
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
        out[i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True)
def _set_stage(w, j, stage, env_coefs):
    # env <- base + env * coef; the stage ends after the sample where sign * env >= limit
    att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef, fade_step = env_coefs
    if stage == STAGE_ATTACK:
        base, coef, sign, limit = att_base, att_coef, 1.0, 1.0
    elif stage == STAGE_DECAY:
        base, coef, sign, limit = dec_base, dec_coef, -1.0, -sustain
    elif stage == STAGE_SUSTAIN:
        # follows later sustain changes smoothly; never ends by itself, unless the sustain level is
        # turned down to silence while the key is held: then it ends there and the voice is freed
        if sustain > SILENCE_LEVEL:
            base, coef, sign, limit = sustain * (1.0 - dec_coef), dec_coef, 1.0, np.inf
        else:
            base, coef, sign, limit = sustain * (1.0 - dec_coef), dec_coef, -1.0, -SILENCE_LEVEL
    elif stage == STAGE_RELEASE:
        base, coef, sign, limit = rel_base, rel_coef, -1.0, -SILENCE_LEVEL
    elif stage == STAGE_FADE:
        base, coef, sign, limit = -fade_step, 1.0, -1.0, 0.0
    else:
        base, coef, sign, limit = 0.0, 0.0, 1.0, np.inf
        w[W_ENV, j] = 0.0
        w[W_AMP, j] = 0.0
    w[W_BASE, j] = base
    w[W_COEF, j] = coef
    w[W_SIGN, j] = sign
    w[W_LIMIT, j] = limit


@njit(cache=True, nogil=True)
def _settle(w, slots, fst, n, env_coefs):
    # move the voices whose stage ended to their next stage; returns how many still sound
    sustain = env_coefs[4]
    alive = 0
    for j in range(n):
        stage = slots[1, j]
        e = w[W_ENV, j]
        if stage != STAGE_IDLE and w[W_SIGN, j] * e >= w[W_LIMIT, j]:
            if stage == STAGE_ATTACK:
                w[W_ENV, j] = 1.0
                stage = STAGE_DECAY
            elif stage == STAGE_DECAY:
                stage = STAGE_SUSTAIN if sustain > SILENCE_LEVEL else STAGE_IDLE
            else:
                stage = STAGE_IDLE
            slots[1, j] = stage
            _set_stage(w, j, stage, (env_coefs[0], env_coefs[1], env_coefs[2], env_coefs[3], sustain,
                                     env_coefs[5], env_coefs[6], fst[F_FADE, slots[0, j]]))  # fmt: skip
        if stage != STAGE_IDLE:
            alive += 1
    return alive


@njit(cache=True, nogil=True)
def _tune(fst, v, cutoff_hz, key_tracking, sample_rate):
    pitch = fst[F_PITCH, v]
    inc = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0) / sample_rate
    fst[F_INC, v] = min(inc, MAX_INC)
    fc = cutoff_hz * 2.0 ** (key_tracking * (pitch - 60.0) / 12.0)
    fc = min(max(fc, MIN_CUTOFF_HZ), MAX_CUTOFF_RATIO * sample_rate)
    fst[F_G, v] = math.tan(math.pi * fc / sample_rate)


@njit(cache=True, nogil=True)
def _gather(fst, ist, w, slots, retune, cutoff_hz, key_tracking, sample_rate, k, env_coefs):
    n = 0
    for v in range(ist.shape[1]):
        stage = ist[I_STAGE, v]
        if stage == STAGE_IDLE:
            continue
        if retune or ist[I_DIRTY, v] != 0:
            _tune(fst, v, cutoff_hz, key_tracking, sample_rate)
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
        w[W_AMP, n] = fst[F_AMP, v] if inc < MAX_INC else 0.0
        # the TPT SVF low-pass as a 2x2 state update, which keeps the recursion short:
        # y = a2 s1 + (1 - a3) s2 + a3 x;  s1' = (2 a1 - 1) s1 - 2 a2 s2 + 2 a2 x;
        # s2' = 2 a2 s1 + (1 - 2 a3) s2 + 2 a3 x   with a1 = 1 / (1 + g (g + k)), a2 = g a1, a3 = g a2
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
        w[W_A2, n] = a2
        w[W_C2, n] = 1.0 - a3
        w[W_A3, n] = a3
        _set_stage(w, n, stage, (env_coefs[0], env_coefs[1], env_coefs[2], env_coefs[3], env_coefs[4],
                                 env_coefs[5], env_coefs[6], fst[F_FADE, v]))  # fmt: skip
        n += 1
    return n


@njit(cache=True, nogil=True)
def _scatter(fst, ist, w, slots, n):
    for j in range(n):
        v = slots[0, j]
        fst[F_PHASE, v] = w[W_PHASE, j]
        fst[F_ENV, v] = w[W_ENV, j]
        fst[F_S1, v] = w[W_S1, j]
        fst[F_S2, v] = w[W_S2, j]
        ist[I_STAGE, v] = slots[1, j]


@njit(cache=True, nogil=True)
def render_voices(
    fst, ist, work, slots, cache, out, start, stop, waveform, sample_rate,
    attack_ms, decay_ms, sustain, release_ms, cutoff_hz, resonance, key_tracking,
):  # fmt: skip
    """Set ``out[start:stop]`` to the sum of all voices over that span and advance their state.

    ``fst``/``ist`` are the voice state (see the module docstring); ``work`` (float64, ``(NUM_W_ROWS,
    slots)``) and ``slots`` (int64, ``(2, slots)``) are scratch; ``cache`` is a float64 array of
    ``NUM_CACHE`` (fill it with NaN to start). The parameters are held for the span. A voice whose
    envelope finishes is set to ``STAGE_IDLE``. Returns the number of voices still sounding.
    """
    for i in range(start, stop):
        out[i] = 0.0
    if stop <= start:
        return 0
    ms = 0.001 * sample_rate
    att_coef = envelope_coefficient(attack_ms * ms, ATTACK_TARGET_RATIO)
    att_base = (1.0 + ATTACK_TARGET_RATIO) * (1.0 - att_coef) if att_coef > 0.0 else 1.0
    dec_coef = envelope_coefficient(decay_ms * ms, DECAY_TARGET_RATIO)
    dec_base = (sustain - DECAY_TARGET_RATIO) * (1.0 - dec_coef)
    rel_coef = envelope_coefficient(release_ms * ms, DECAY_TARGET_RATIO)
    rel_base = -DECAY_TARGET_RATIO * (1.0 - rel_coef)
    env_coefs = (att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef)
    retune = cache[0] != cutoff_hz or cache[1] != key_tracking or cache[2] != sample_rate
    if retune:
        cache[0] = cutoff_hz
        cache[1] = key_tracking
        cache[2] = sample_rate
    n = _gather(fst, ist, work, slots, retune, cutoff_hz, key_tracking, sample_rate, svf_k(resonance),
                env_coefs)  # fmt: skip
    alive = n
    i = start
    while i < stop and alive > 0:
        if waveform == WAVE_SAW:
            i = _span_saw(work, out, i, stop, n)
        elif waveform == WAVE_SQUARE:
            i = _span_square(work, out, i, stop, n)
        elif waveform == WAVE_TRIANGLE:
            i = _span_triangle(work, out, i, stop, n)
        else:
            i = _span_sine(work, out, i, stop, n)
        alive = _settle(work, slots, fst, n, env_coefs)
    _scatter(fst, ist, work, slots, n)
    return alive


@njit(cache=True, nogil=True)
def render_voices_stepped(
    fst, ist, work, slots, cache, out, start, stop, sample_rate, values, curves, moving, points, num_points,
    next_point,
):  # fmt: skip
    """:func:`render_voices` over ``start..stop`` with parameters that move during the block.

    ``values`` (float64, 8: waveform, attack_ms, decay_ms, sustain, release_ms, cutoff_hz, resonance,
    key_tracking) holds each parameter's current value and is updated in place; for a parameter with
    ``moving[k]`` set, it takes ``curves[k, p]`` at every update point ``p`` in ``points[:num_points]``
    (block offsets, ascending) from ``next_point`` on. The value of the latest point at or before a sample
    holds until the next point. Returns the index of the next update point not yet reached.
    """
    j = next_point
    x = start
    while x < stop:
        while j < num_points and points[j] <= x:
            at = points[j]
            for k in range(values.shape[0]):
                if moving[k]:
                    values[k] = curves[k, at]
            j += 1
        y = stop
        if j < num_points and points[j] < stop:
            y = points[j]
        render_voices(
            fst, ist, work, slots, cache, out, x, y, int(values[0]), sample_rate, values[1], values[2],
            values[3], values[4], values[5], values[6], values[7],
        )  # fmt: skip
        x = y
    return j


@njit(cache=True, nogil=True)
def write_stereo(mono, frames, gain_db, gain_is_constant, dst):
    """Write ``mono[:frames]`` times the per-sample gain (``gain_db[:frames]``, or ``gain_db[0]`` for the
    whole block when ``gain_is_constant``) into both rows of the stereo float32 buffer ``dst``."""
    if gain_is_constant:
        g = 10.0 ** (gain_db[0] * 0.05)
        for i in range(frames):
            s = mono[i] * g
            dst[0, i] = s
            dst[1, i] = s
    else:
        for i in range(frames):
            s = mono[i] * 10.0 ** (gain_db[i] * 0.05)
            dst[0, i] = s
            dst[1, i] = s
