"""The drum kit's block kernel: :func:`render_block` applies a block's events at their samples and
renders every sounding voice between them, then :func:`voice_span` is the per-voice signal path.

Voices are columns of the struct-of-arrays state ``fst``/``ist`` (rows in :mod:`dsp.kernels.drums.params`).
A note-on takes an idle column; a hit on a hat fades out the ringing hats (the choke group) and a hit on
any other note fades out that note's ringing voice, both over ``CHOKE_MS``; past ``max_voices`` drums the
oldest is faded out over ``STEAL_MS`` (a fade, never a cut, so stealing does not click). Note-offs are
ignored (drums are one-shots); CC 120 (all sound off) fades every voice over ``STEAL_MS``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.drums.params import (
    CHOKE_HAT,
    CHOKE_MS,
    F_A1,
    F_A2,
    F_A3,
    F_B1,
    F_B2,
    F_B3,
    F_BURST_LEFT,
    F_BURST_SPACING,
    F_CLICK_AMP,
    F_CLICK_COEF,
    F_CLICK_ENV,
    F_FADE,
    F_FADE_STEP,
    F_GAIN,
    F_INC_A,
    F_INC_B,
    F_K,
    F_METAL_AMP,
    F_METAL_COEF,
    F_METAL_ENV,
    F_MINC,
    F_MPHASE,
    F_NOISE,
    F_NOISE_AMP,
    F_NOISE_COEF,
    F_NOISE_ENV,
    F_PAN_L,
    F_PAN_R,
    F_PHASE_A,
    F_PHASE_B,
    F_S1,
    F_S2,
    F_SWEEP,
    F_SWEEP_COEF,
    F_T1,
    F_T2,
    F_TAIL_COEF,
    F_TONE_A,
    F_TONE_B,
    F_TONE_COEF,
    F_TONE_ENV,
    F_WB,
    F_WH,
    F_WL,
    I_BURSTS,
    I_CHOKE,
    I_HP2,
    I_LEFT,
    I_METAL_N,
    I_NOTE,
    I_SERIAL,
    I_STAGE,
    K_HAT_CLOSED,
    K_HAT_OPEN,
    K_HAT_PEDAL,
    P_DRIVE,
    P_GAIN_DB,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_PLAYING,
    STEAL_MS,
)
from dsp.kernels.drums.recipes import start_voice

__all__ = ["DRIVE_GAIN", "note_on", "render_block", "voice_span"]

TWO_PI = 2.0 * math.pi
DRIVE_GAIN = 16.0  # 24 dB into the soft clip at full drive, 12 dB of it taken back after
CC = 0xB0
NOTE_ON = 0x90
CC_ALL_SOUND_OFF = 120


@njit(cache=True, nogil=True)
def voice_span(fst, ist, c, buf, start, stop):
    """Add voice ``c`` over ``buf[:, start:stop]`` and advance its state; frees it when it ends."""
    gain = fst[F_GAIN, c]
    pan_l = fst[F_PAN_L, c]
    pan_r = fst[F_PAN_R, c]
    fading = ist[I_STAGE, c] == STAGE_FADE
    fade = fst[F_FADE, c]
    fade_step = fst[F_FADE_STEP, c]
    env_t, coef_t = fst[F_TONE_ENV, c], fst[F_TONE_COEF, c]
    amp_a, amp_b = fst[F_TONE_A, c], fst[F_TONE_B, c]
    ph_a, ph_b = fst[F_PHASE_A, c], fst[F_PHASE_B, c]
    inc_a, inc_b = fst[F_INC_A, c], fst[F_INC_B, c]
    sweep, sweep_coef = fst[F_SWEEP, c], fst[F_SWEEP_COEF, c]
    env_c, coef_c, amp_c = fst[F_CLICK_ENV, c], fst[F_CLICK_COEF, c], fst[F_CLICK_AMP, c]
    env_n, coef_n, amp_n = fst[F_NOISE_ENV, c], fst[F_NOISE_COEF, c], fst[F_NOISE_AMP, c]
    seed = np.int64(fst[F_NOISE, c])  # the generator's state, a whole number below 2**31 kept as float
    env_m, coef_m, amp_m = fst[F_METAL_ENV, c], fst[F_METAL_COEF, c], fst[F_METAL_AMP, c]
    metal_n = ist[I_METAL_N, c]
    a1, a2, a3, k = fst[F_A1, c], fst[F_A2, c], fst[F_A3, c], fst[F_K, c]
    wl, wb, wh = fst[F_WL, c], fst[F_WB, c], fst[F_WH, c]
    s1, s2 = fst[F_S1, c], fst[F_S2, c]
    hp2 = ist[I_HP2, c] != 0
    b1, b2, b3 = fst[F_B1, c], fst[F_B2, c], fst[F_B3, c]
    t1, t2 = fst[F_T1, c], fst[F_T2, c]
    bursts = ist[I_BURSTS, c]
    burst_left, spacing = fst[F_BURST_LEFT, c], fst[F_BURST_SPACING, c]
    left = ist[I_LEFT, c]
    tonal = amp_a != 0.0 or amp_b != 0.0
    stage = ist[I_STAGE, c]
    for i in range(start, stop):
        x = 0.0
        if tonal:
            ratio = 1.0 + sweep
            sweep *= sweep_coef
            ph_a += inc_a * ratio
            ph_a -= math.floor(ph_a)
            ph_b += inc_b * ratio
            ph_b -= math.floor(ph_b)
            x = env_t * (amp_a * math.sin(TWO_PI * ph_a) + amp_b * math.sin(TWO_PI * ph_b))
            env_t *= coef_t
        seed = (seed * 48271) % 2147483647  # in integers: a modulo by a constant is a multiply, not a divide
        noise = seed * (2.0 / 2147483647.0) - 1.0
        if bursts > 0:
            burst_left -= 1.0
            if burst_left <= 0.0:
                env_n = 1.0
                bursts -= 1
                burst_left = spacing
                if bursts == 0:
                    coef_n = fst[F_TAIL_COEF, c]
        src = amp_n * env_n * noise
        env_n *= coef_n
        if metal_n > 0:
            sq = 0.0
            for m in range(metal_n):
                p = fst[F_MPHASE + m, c] + fst[F_MINC + m, c]
                p -= math.floor(p)
                fst[F_MPHASE + m, c] = p
                sq += 1.0 if p < 0.5 else -1.0
            src += amp_m * env_m * sq
            env_m *= coef_m
        # state-variable filter (trapezoidal), then the optional high-pass
        v3 = src - s2
        v1 = a1 * s1 + a2 * v3
        v2 = s2 + a2 * s1 + a3 * v3
        s1 = 2.0 * v1 - s1
        s2 = 2.0 * v2 - s2
        y = wl * v2 + wb * v1 + wh * (src - k * v1 - v2)
        if hp2:
            u3 = y - t2
            u1 = b1 * t1 + b2 * u3
            u2 = t2 + b2 * t1 + b3 * u3
            t1 = 2.0 * u1 - t1
            t2 = 2.0 * u2 - t2
            y = y - math.sqrt(2.0) * u1 - u2
        x += y + amp_c * env_c * noise
        env_c *= coef_c
        g = gain
        if fading:
            fade -= fade_step
            if fade <= 0.0:
                stage = STAGE_IDLE
                break
            g *= fade
        buf[0, i] += x * g * pan_l
        buf[1, i] += x * g * pan_r
        left -= 1
        if left <= 0:
            stage = STAGE_IDLE
            break
    ist[I_STAGE, c] = stage
    fst[F_FADE, c] = fade
    fst[F_TONE_ENV, c], fst[F_PHASE_A, c], fst[F_PHASE_B, c], fst[F_SWEEP, c] = env_t, ph_a, ph_b, sweep
    fst[F_CLICK_ENV, c], fst[F_NOISE_ENV, c], fst[F_NOISE_COEF, c] = env_c, env_n, coef_n
    fst[F_NOISE, c] = float(seed)
    fst[F_METAL_ENV, c], fst[F_S1, c], fst[F_S2, c], fst[F_T1, c], fst[F_T2, c] = env_m, s1, s2, t1, t2
    ist[I_BURSTS, c], fst[F_BURST_LEFT, c], ist[I_LEFT, c] = bursts, burst_left, left


@njit(cache=True, nogil=True)
def _fade(fst, ist, c, ms, sample_rate):
    if ist[I_STAGE, c] != STAGE_PLAYING:
        return  # already fading (or idle)
    ist[I_STAGE, c] = STAGE_FADE
    fst[F_FADE, c] = 1.0
    fst[F_FADE_STEP, c] = 1.0 / max(1.0, ms * 0.001 * sample_rate)


@njit(cache=True, nogil=True)
def note_on(fst, ist, counters, note_kind, note_variant, max_voices, note, velocity, ctl, k, sample_rate):
    """Start the drum of ``note`` (nothing for a note the map leaves out), reading the parameters at
    column ``k`` of ``ctl``; chokes, retriggers and steals as the module docstring says."""
    kind = note_kind[note]
    if kind < 0:
        return
    hat = kind == K_HAT_CLOSED or kind == K_HAT_PEDAL or kind == K_HAT_OPEN
    columns = ist.shape[1]
    playing = 0
    for c in range(columns):
        if ist[I_STAGE, c] != STAGE_PLAYING:
            continue
        if ist[I_NOTE, c] == note or (hat and ist[I_CHOKE, c] == CHOKE_HAT):
            _fade(fst, ist, c, CHOKE_MS, sample_rate)
        else:
            playing += 1
    if playing >= max_voices:
        oldest = -1
        for c in range(columns):
            if ist[I_STAGE, c] == STAGE_PLAYING and (oldest < 0 or ist[I_SERIAL, c] < ist[I_SERIAL, oldest]):
                oldest = c
        _fade(fst, ist, oldest, STEAL_MS, sample_rate)
    target = -1
    for c in range(columns):
        if ist[I_STAGE, c] == STAGE_IDLE:
            target = c
            break
    if target < 0:  # every column fading: the one nearest its end is cut short
        for c in range(columns):
            if target < 0 or fst[F_FADE, c] < fst[F_FADE, target]:
                target = c
    serial = counters[0]
    counters[0] = serial + 1
    start_voice(fst, ist, target, kind, note_variant[note], note, velocity, ctl, k, sample_rate, serial)


@njit(cache=True, nogil=True)
def render_block(
    fst, ist, counters, note_kind, note_variant, max_voices, ctl, steady, ev_offset, ev_status, ev_data1,
    ev_data2, ev_count, frames, sample_rate, buf, out,
):  # fmt: skip
    """Render one block of ``frames`` samples into the float32 stereo ``out``.

    Events (parallel arrays, ``ev_count`` of them, in offset order) apply at their sample, reading the
    parameters from that column of the control matrix ``ctl`` (rows as ``DRUM_PARAMS``; ``steady``: every
    row holds one value). ``buf`` is float64 ``(2, frames)`` scratch; ``counters[0]`` counts note-ons.
    The voice sum passes the drive (``y = (1 - d) x + d tanh(16 x) / 4``) and ``gain_db``.
    """
    columns = ist.shape[1]
    for i in range(frames):
        buf[0, i] = 0.0
        buf[1, i] = 0.0
    pos = 0
    for e in range(ev_count):
        offset = min(int(ev_offset[e]), frames - 1)
        if offset > pos:
            for c in range(columns):
                if ist[I_STAGE, c] != STAGE_IDLE:
                    voice_span(fst, ist, c, buf, pos, offset)
            pos = offset
        kind = ev_status[e] & 0xF0
        if kind == NOTE_ON and ev_data2[e] > 0:
            note_on(fst, ist, counters, note_kind, note_variant, max_voices, int(ev_data1[e]) & 0x7F,
                    int(ev_data2[e]), ctl, offset, sample_rate)  # fmt: skip
        elif kind == CC and ev_data1[e] == CC_ALL_SOUND_OFF:
            for c in range(columns):
                _fade(fst, ist, c, STEAL_MS, sample_rate)
    for c in range(columns):
        if ist[I_STAGE, c] != STAGE_IDLE:
            voice_span(fst, ist, c, buf, pos, frames)
    gain = 10.0 ** (ctl[P_GAIN_DB, 0] * 0.05)
    drive = ctl[P_DRIVE, 0]
    back = 1.0 / math.sqrt(DRIVE_GAIN)
    for i in range(frames):
        if not steady:
            gain = 10.0 ** (ctl[P_GAIN_DB, i] * 0.05)
            drive = ctl[P_DRIVE, i]
        left = buf[0, i]
        right = buf[1, i]
        if drive > 0.0:
            left = (1.0 - drive) * left + drive * math.tanh(DRIVE_GAIN * left) * back
            right = (1.0 - drive) * right + drive * math.tanh(DRIVE_GAIN * right) * back
        out[0, i] = left * gain
        out[1, i] = right * gain
