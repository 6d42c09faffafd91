"""The envelopes of a voice column: the amplitude ADSR, stepped per sample in the work columns, and the
filter envelope, in closed form of the time since the note-on.

Stage changes of the amplitude envelope are rare; a loop stops after the sample where one happens and
the change is made in scalar code (:func:`_settle`) before it goes on. The amplitude envelope is the
one-pole-to-target kind: each stage moves toward a target a little beyond its end level
(``1 + ATTACK_TARGET_RATIO`` for the attack, ``sustain - DECAY_TARGET_RATIO`` for the decay,
``-DECAY_TARGET_RATIO`` for the release) so that it reaches the end level in the stage time: the attack
peaks (level 1) at the first sample ``n >= attack_ms * rate / 1000`` after the note-on, the decay from 1
reaches the sustain level at most ``decay_ms`` later, and a release from level 1 would reach 0 in
``release_ms``; a voice is freed (exact silence) at the first sample whose level is at or below
``SILENCE_LEVEL`` (-100 dB). ``STAGE_FADE`` is a linear fade of ``F_FADE`` per sample, used for the tail of
a stolen voice. The filter envelope has the same curves in closed form of the time since the note-on
(:func:`filter_envelope_level`), evaluated on the grid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.synth.params import (
    ATTACK_TARGET_RATIO,
    DECAY_TARGET_RATIO,
    F_AGE,
    F_FADE,
    F_REL_AGE,
    F_REL_LEVEL,
    I_FENV_RELEASED,
    I_RETRIGGER,
    NUM_PARAMS,
    P_ATTACK_MS,
    P_DECAY_MS,
    P_FILTER_ATTACK_MS,
    P_FILTER_DECAY_MS,
    P_FILTER_RELEASE_MS,
    P_FILTER_SUSTAIN,
    P_RELEASE_MS,
    P_SUSTAIN,
    SILENCE_LEVEL,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    W_AMP,
    W_BASE,
    W_COEF,
    W_ENV,
    W_LIMIT,
    W_SIGN,
)


# -- amplitude envelope: one-pole stages, stepped per sample in the work columns --------------------------
@njit(cache=True, nogil=True)
def envelope_coefficient(samples, ratio):
    """Pole of a one-pole segment that covers its span in ``samples`` when aiming ``ratio`` beyond it."""
    if samples < 1.0:
        return 0.0
    return math.exp(-math.log((1.0 + ratio) / ratio) / samples)


@njit(cache=True, nogil=True)
def _env_coefs(values, sample_rate):
    ms = 0.001 * sample_rate
    att_coef = envelope_coefficient(values[P_ATTACK_MS] * ms, ATTACK_TARGET_RATIO)
    att_base = (1.0 + ATTACK_TARGET_RATIO) * (1.0 - att_coef) if att_coef > 0.0 else 1.0
    dec_coef = envelope_coefficient(values[P_DECAY_MS] * ms, DECAY_TARGET_RATIO)
    sustain = values[P_SUSTAIN]
    dec_base = (sustain - DECAY_TARGET_RATIO) * (1.0 - dec_coef)
    rel_coef = envelope_coefficient(values[P_RELEASE_MS] * ms, DECAY_TARGET_RATIO)
    rel_base = -DECAY_TARGET_RATIO * (1.0 - rel_coef)
    return (att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef)


@njit(cache=True, nogil=True)
def _set_stage(w, j, stage, env_coefs, fade_step):
    # env <- base + env * coef; the stage ends after the sample where sign * env >= limit
    att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef = env_coefs
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
            _set_stage(w, j, stage, env_coefs, fst[F_FADE, slots[0, j]])
        if stage != STAGE_IDLE:
            alive += 1
    return alive


# -- filter envelope: closed form of the time since the note-on ------------------------------------------
@njit(cache=True, nogil=True)
def _log_coef(samples, ratio):
    return -math.log((1.0 + ratio) / ratio) / samples if samples >= 1.0 else 0.0


@njit(cache=True, nogil=True)
def _fenv_coefs(values, sample_rate):
    ms = 0.001 * sample_rate
    a = values[P_FILTER_ATTACK_MS] * ms
    d = values[P_FILTER_DECAY_MS] * ms
    r = values[P_FILTER_RELEASE_MS] * ms
    return (
        a if a >= 1.0 else 0.0,
        _log_coef(a, ATTACK_TARGET_RATIO),
        d if d >= 1.0 else 0.0,
        _log_coef(d, DECAY_TARGET_RATIO),
        values[P_FILTER_SUSTAIN],
        r if r >= 1.0 else 0.0,
        _log_coef(r, DECAY_TARGET_RATIO),
    )


@njit(cache=True, nogil=True)
def _fenv_at(age, released, rel_age, rel_level, fe):
    a, la, d, ld, s, r, lr = fe
    if released:
        if r <= 0.0:
            return 0.0
        v = -DECAY_TARGET_RATIO + (rel_level + DECAY_TARGET_RATIO) * math.exp(lr * (age - rel_age))
        return v if v > SILENCE_LEVEL else 0.0
    if age < a:
        return (1.0 + ATTACK_TARGET_RATIO) * (1.0 - math.exp(la * age))
    t = age - a
    if t < d:
        return max(s, s - DECAY_TARGET_RATIO + (1.0 - s + DECAY_TARGET_RATIO) * math.exp(ld * t))
    return s


@njit(cache=True, nogil=True)
def filter_envelope_level(
    age_samples, released, release_age_samples, release_level, attack_ms, decay_ms, sustain, release_ms,
    sample_rate,
):  # fmt: skip
    """The filter envelope ``age_samples`` after its note-on: the amplitude envelope's curves in closed
    form (attack toward 1.3 reaching 1 at ``attack_ms``, decay toward ``sustain - 1e-4`` held at
    ``sustain``; after a release at ``release_age_samples`` from ``release_level``, toward -1e-4 and 0
    at or below -100 dB)."""
    values = np.zeros(NUM_PARAMS)
    values[P_FILTER_ATTACK_MS] = attack_ms
    values[P_FILTER_DECAY_MS] = decay_ms
    values[P_FILTER_SUSTAIN] = sustain
    values[P_FILTER_RELEASE_MS] = release_ms
    fe = _fenv_coefs(values, sample_rate)
    return _fenv_at(age_samples, released, release_age_samples, release_level, fe)


@njit(cache=True, nogil=True)
def _fenv_column(fst, ist, c, fe):
    return _fenv_at(fst[F_AGE, c], ist[I_FENV_RELEASED, c] != 0, fst[F_REL_AGE, c], fst[F_REL_LEVEL, c], fe)


@njit(cache=True, nogil=True)
def _fenv_events(fst, ist, c, stage, fe):
    # a mono retrigger restarts the attack from the present level (the age on the attack curve that has
    # it); a release takes the level it starts from. Both happen at the first render after the event.
    if ist[I_RETRIGGER, c] != 0:
        level = _fenv_column(fst, ist, c, fe)
        a, la = fe[0], fe[1]
        age = 0.0
        if a > 0.0:
            age = math.log(max(1.0 - level / (1.0 + ATTACK_TARGET_RATIO), 1e-300)) / la
        fst[F_AGE, c] = age
        ist[I_FENV_RELEASED, c] = 0
        ist[I_RETRIGGER, c] = 0
    if stage == STAGE_RELEASE and ist[I_FENV_RELEASED, c] == 0:
        fst[F_REL_LEVEL, c] = _fenv_column(fst, ist, c, fe)
        fst[F_REL_AGE, c] = fst[F_AGE, c]
        ist[I_FENV_RELEASED, c] = 1
