"""How each drum kind is made: :func:`start_voice` writes a fresh voice column for a hit.

Every drum is one voice model with parts switched on or off per kind: two sines (the first with a pitch
sweep that falls exponentially toward its end frequency), a click (raw noise of a few milliseconds), white
noise, and a cluster of up to six detuned square oscillators (the metallic source of analog hats and
cymbals, at the classic ratios 205.3, 304.4, 369.6, 522.7, 540 and 800 Hz); noise and squares go through a
state-variable filter (any mix of its low-, band- and high-pass outputs) and then, for the bright
drums, a second, high-pass one. Each part has an exponential envelope stated as the time it takes to fall
60 dB; a voice lasts until the slowest of them is 100 dB down (``I_LEFT``). A clap (and a tambourine)
retriggers its noise a few times in quick succession before its tail.

Velocity ``v`` (0..1 of 127) at sensitivity ``s`` sets the level to ``1 - s + s * v**2`` (square law)
and the filters' cutoffs ``s * (1 - v)`` octaves lower (softer is darker); the kick's click follows the
level too.
"""

from __future__ import annotations

import math

from numba import njit

from dsp.kernels.drums.params import (
    CHOKE_HAT,
    CHOKE_NONE,
    F_A1,
    F_A2,
    F_A3,
    F_B1,
    F_B2,
    F_B3,
    F_BURST_COEF,
    F_BURST_LEFT,
    F_BURST_SPACING,
    F_CLICK_AMP,
    F_CLICK_COEF,
    F_CLICK_ENV,
    F_FADE,
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
    F_SWEEP,
    F_SWEEP_COEF,
    F_TAIL_COEF,
    F_TONE_A,
    F_TONE_B,
    F_TONE_COEF,
    F_TONE_ENV,
    F_WB,
    F_WH,
    F_WL,
    GROUP_CLAP,
    GROUP_CYMBAL,
    GROUP_HAT,
    GROUP_KICK,
    GROUP_PERC,
    GROUP_SNARE,
    GROUP_TOM,
    I_BURSTS,
    I_CHOKE,
    I_HP2,
    I_KIND,
    I_LEFT,
    I_METAL_N,
    I_NOTE,
    I_SERIAL,
    I_STAGE,
    K_CLAP,
    K_CLAVES,
    K_COWBELL,
    K_CRASH,
    K_HAT_CLOSED,
    K_HAT_OPEN,
    K_HAT_PEDAL,
    K_KICK,
    K_RIDE,
    K_RIDE_BELL,
    K_RIM,
    K_SNARE,
    K_TAMBOURINE,
    K_TOM,
    NUM_METAL,
    P_CLAP_DECAY_MS,
    P_CYMBAL_DECAY_MS,
    P_HAT_DECAY_MS,
    P_HAT_TONE,
    P_KICK_CLICK,
    P_KICK_DECAY_MS,
    P_KICK_LEVEL_DB,
    P_KICK_SWEEP_MS,
    P_KICK_SWEEP_SEMITONES,
    P_KICK_TUNE_HZ,
    P_OPEN_HAT_DECAY_MS,
    P_RIDE_DECAY_MS,
    P_SNARE_DECAY_MS,
    P_SNARE_SNAPPY,
    P_SNARE_TONE,
    P_SNARE_TUNE_HZ,
    P_STEREO_SPREAD,
    P_TOM_DECAY_MS,
    P_TOM_TUNE_SEMITONES,
    P_VELOCITY_SENSITIVITY,
    STAGE_PLAYING,
)

__all__ = ["decay_coefficient", "start_voice"]

METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
TOM_HZ = (82.0, 98.0, 110.0, 131.0, 147.0, 175.0)  # low floor .. high tom
TOM_PAN = (0.5, 0.35, 0.15, -0.05, -0.25, -0.45)  # from the drummer's seat: floor toms right
CLICK_MS = 4.0
LIFE = 100.0 / 60.0  # a voice ends 100 dB down: its slowest decay time times this


@njit(cache=True, nogil=True)
def decay_coefficient(ms, sample_rate):
    """Per-sample multiplier of an envelope that falls 60 dB in ``ms`` milliseconds."""
    n = max(ms * 0.001 * sample_rate, 1.0)
    return math.exp(math.log(0.001) / n)


@njit(cache=True, nogil=True)
def _svf(fst, c, sample_rate, cutoff_hz, k, wl, wb, wh):
    g = math.tan(math.pi * min(max(cutoff_hz, 20.0), 0.45 * sample_rate) / sample_rate)
    a1 = 1.0 / (1.0 + g * (g + k))
    fst[F_A1, c] = a1
    fst[F_A2, c] = g * a1
    fst[F_A3, c] = g * g * a1
    fst[F_K, c] = k
    fst[F_WL, c] = wl
    fst[F_WB, c] = wb
    fst[F_WH, c] = wh


@njit(cache=True, nogil=True)
def _hp2(fst, ist, c, sample_rate, cutoff_hz):
    g = math.tan(math.pi * min(max(cutoff_hz, 20.0), 0.45 * sample_rate) / sample_rate)
    k = math.sqrt(2.0)
    b1 = 1.0 / (1.0 + g * (g + k))
    fst[F_B1, c] = b1
    fst[F_B2, c] = g * b1
    fst[F_B3, c] = g * g * b1
    ist[I_HP2, c] = 1


@njit(cache=True, nogil=True)
def _metal(fst, ist, c, sample_rate, scale, first, count, amp, decay_ms):
    for m in range(NUM_METAL):
        fst[F_MINC + m, c] = 0.0
        fst[F_MPHASE + m, c] = 0.0
    for m in range(count):
        fst[F_MINC + m, c] = METAL_HZ[first + m] * scale / sample_rate
        fst[F_MPHASE + m, c] = 0.1 + 0.07 * m  # staggered, all high: the hit starts on one edge
    ist[I_METAL_N, c] = count
    fst[F_METAL_AMP, c] = amp / math.sqrt(count)
    fst[F_METAL_ENV, c] = 1.0
    fst[F_METAL_COEF, c] = decay_coefficient(decay_ms, sample_rate)


@njit(cache=True, nogil=True)
def _tone(fst, c, sample_rate, hz_a, amp_a, hz_b, amp_b, decay_ms):
    fst[F_INC_A, c] = hz_a / sample_rate
    fst[F_INC_B, c] = hz_b / sample_rate
    fst[F_TONE_A, c] = amp_a
    fst[F_TONE_B, c] = amp_b
    fst[F_TONE_ENV, c] = 1.0
    fst[F_TONE_COEF, c] = decay_coefficient(decay_ms, sample_rate)


@njit(cache=True, nogil=True)
def _sweep(fst, c, sample_rate, semitones, ms):
    fst[F_SWEEP, c] = 2.0 ** (semitones / 12.0) - 1.0
    fst[F_SWEEP_COEF, c] = decay_coefficient(ms, sample_rate)


@njit(cache=True, nogil=True)
def _noise(fst, c, sample_rate, amp, decay_ms):
    fst[F_NOISE_AMP, c] = amp
    fst[F_NOISE_ENV, c] = 1.0
    fst[F_NOISE_COEF, c] = decay_coefficient(decay_ms, sample_rate)


@njit(cache=True, nogil=True)
def _bursts(fst, ist, c, sample_rate, count, spacing_ms, tail_ms):
    # the noise envelope restarts `count` more times, `spacing_ms` apart, then decays over `tail_ms`
    spacing = max(1.0, round(spacing_ms * 0.001 * sample_rate))
    ist[I_BURSTS, c] = count
    fst[F_BURST_SPACING, c] = spacing
    fst[F_BURST_LEFT, c] = spacing
    fst[F_BURST_COEF, c] = fst[F_NOISE_COEF, c]
    fst[F_TAIL_COEF, c] = decay_coefficient(tail_ms, sample_rate)
    return count * spacing


@njit(cache=True, nogil=True)
def start_voice(fst, ist, c, kind, variant, note, velocity, ctl, k, sample_rate, serial):
    """Write a fresh voice of drum ``kind`` (``variant``: tom 0..5 low to high, or 0/1 between the two
    notes of a pair) for ``note`` at MIDI ``velocity`` into column ``c``, reading the parameters from
    column ``k`` of the control matrix ``ctl``; ``serial`` seeds its noise and orders steals."""
    for r in range(fst.shape[0]):
        fst[r, c] = 0.0
    for r in range(ist.shape[0]):
        ist[r, c] = 0
    sens = ctl[P_VELOCITY_SENSITIVITY, k]
    v = velocity / 127.0
    level = 1.0 - sens + sens * v * v
    bright = 2.0 ** (-sens * (1.0 - v))
    group = GROUP_PERC
    pan = 0.0
    life = 0.0  # the slowest decay, ms
    extra = 0.0  # samples of bursts before the tail
    choke = CHOKE_NONE
    sr = sample_rate
    if kind == K_KICK:
        group = GROUP_KICK
        hz = ctl[P_KICK_TUNE_HZ, k] * (0.89 if variant == 0 else 1.0)
        life = ctl[P_KICK_DECAY_MS, k]
        _tone(fst, c, sr, hz, 1.0, hz, 0.0, life)
        _sweep(fst, c, sr, ctl[P_KICK_SWEEP_SEMITONES, k], ctl[P_KICK_SWEEP_MS, k])
        fst[F_CLICK_AMP, c] = 0.5 * ctl[P_KICK_CLICK, k]
    elif kind == K_SNARE:
        group = GROUP_SNARE
        hz = ctl[P_SNARE_TUNE_HZ, k] * (1.0 if variant == 0 else 1.12)
        snappy = ctl[P_SNARE_SNAPPY, k]
        life = ctl[P_SNARE_DECAY_MS, k]
        _tone(fst, c, sr, hz, 0.8 * (1.0 - 0.6 * snappy), 1.78 * hz, 0.35 * (1.0 - 0.6 * snappy), 0.5 * life)
        _sweep(fst, c, sr, 4.0, 30.0)
        _noise(fst, c, sr, 0.9 * snappy, life)
        cutoff = 3000.0 * 4.0 ** ctl[P_SNARE_TONE, k] * (1.0 if variant == 0 else 1.3)
        _svf(fst, c, sr, cutoff * bright, 1.2, 1.0, 0.0, 0.0)
        _hp2(fst, ist, c, sr, 900.0)
        fst[F_CLICK_AMP, c] = 0.15
    elif kind == K_RIM:
        life = 40.0
        _tone(fst, c, sr, 1667.0, 0.5, 455.0, 0.35, life)
        _noise(fst, c, sr, 0.3, 15.0)
        _svf(fst, c, sr, 2500.0 * bright, 1.0, 0.0, 1.0, 0.0)
        fst[F_CLICK_AMP, c] = 0.3
    elif kind == K_CLAP:
        group = GROUP_CLAP
        life = ctl[P_CLAP_DECAY_MS, k]
        _noise(fst, c, sr, 1.6, 9.0)
        extra = _bursts(fst, ist, c, sr, 3, 9.0, life)
        _svf(fst, c, sr, 1200.0 * bright, 0.6, 0.0, 1.0, 0.0)
        _hp2(fst, ist, c, sr, 500.0)
    elif kind == K_HAT_CLOSED or kind == K_HAT_PEDAL or kind == K_HAT_OPEN:
        group = GROUP_HAT
        choke = CHOKE_HAT
        pan = -0.35
        if kind == K_HAT_OPEN:
            life = ctl[P_OPEN_HAT_DECAY_MS, k]
        else:
            life = ctl[P_HAT_DECAY_MS, k] * (1.0 if kind == K_HAT_CLOSED else 0.7)
        centre = 7000.0 * (12.0 / 7.0) ** ctl[P_HAT_TONE, k] * (1.0 if kind != K_HAT_PEDAL else 0.85)
        _metal(fst, ist, c, sr, 1.0, 0, NUM_METAL, 1.0, life)
        _noise(fst, c, sr, 0.25, life)
        _svf(fst, c, sr, centre * bright, 0.9, 0.0, 1.0, 0.0)
        _hp2(fst, ist, c, sr, 0.75 * centre * bright)
    elif kind == K_TOM:
        group = GROUP_TOM
        pan = TOM_PAN[variant]
        hz = TOM_HZ[variant] * 2.0 ** (ctl[P_TOM_TUNE_SEMITONES, k] / 12.0)
        life = ctl[P_TOM_DECAY_MS, k]
        _tone(fst, c, sr, hz, 1.0, 1.5 * hz, 0.1, life)
        _sweep(fst, c, sr, 5.0, 0.8 * life)
        _noise(fst, c, sr, 0.08, 0.3 * life)
        _svf(fst, c, sr, 2500.0 * bright, 1.0, 1.0, 0.0, 0.0)
        fst[F_CLICK_AMP, c] = 0.1
    elif kind == K_CRASH:
        group = GROUP_CYMBAL
        pan = -0.45 if variant == 0 else 0.45
        life = ctl[P_CYMBAL_DECAY_MS, k]
        _metal(fst, ist, c, sr, 1.0 if variant == 0 else 1.07, 0, NUM_METAL, 0.9, life)
        _noise(fst, c, sr, 0.45, 0.7 * life)
        _svf(fst, c, sr, 5000.0 * bright, 1.0, 0.0, 0.3, 1.0)
        _hp2(fst, ist, c, sr, 3500.0 * bright)
    elif kind == K_RIDE:
        group = GROUP_CYMBAL
        pan = 0.4
        life = ctl[P_RIDE_DECAY_MS, k]
        _metal(fst, ist, c, sr, 1.45 if variant == 0 else 1.52, 0, NUM_METAL, 0.8, life)
        _noise(fst, c, sr, 0.1, 0.3 * life)
        _svf(fst, c, sr, 8000.0 * bright, 0.7, 0.0, 1.0, 0.0)
        _hp2(fst, ist, c, sr, 4500.0 * bright)
    elif kind == K_RIDE_BELL:
        group = GROUP_CYMBAL
        pan = 0.4
        life = 0.5 * ctl[P_RIDE_DECAY_MS, k]
        _metal(fst, ist, c, sr, 1.45, 2, 4, 1.0, life)
        _tone(fst, c, sr, 1180.0, 0.15, 2350.0, 0.1, 0.6 * life)
        _svf(fst, c, sr, 4000.0 * bright, 0.8, 0.0, 1.0, 0.0)
        _hp2(fst, ist, c, sr, 1500.0)
    elif kind == K_COWBELL:
        pan = 0.2
        life = 350.0
        _metal(fst, ist, c, sr, 1.0, 4, 2, 1.0, life)
        _svf(fst, c, sr, 2600.0, 1.2, 0.0, 1.0, 0.2)
    elif kind == K_TAMBOURINE:
        pan = -0.2
        life = 260.0
        _metal(fst, ist, c, sr, 3.1, 0, NUM_METAL, 0.6, life)
        _noise(fst, c, sr, 0.6, 20.0)
        extra = _bursts(fst, ist, c, sr, 2, 14.0, life)
        _svf(fst, c, sr, 9000.0 * bright, 0.8, 0.0, 1.0, 0.3)
        _hp2(fst, ist, c, sr, 6000.0)
    elif kind == K_CLAVES:
        pan = 0.15
        life = 45.0
        _tone(fst, c, sr, 2500.0, 0.7, 2500.0, 0.0, life)
    fst[F_GAIN, c] = level * 10.0 ** (ctl[P_KICK_LEVEL_DB + group, k] * 0.05)
    spread = pan * ctl[P_STEREO_SPREAD, k]
    fst[F_PAN_L, c] = min(1.0, 1.0 - spread)
    fst[F_PAN_R, c] = min(1.0, 1.0 + spread)
    fst[F_FADE, c] = 1.0
    if fst[F_CLICK_AMP, c] > 0.0:
        fst[F_CLICK_AMP, c] *= level
        fst[F_CLICK_ENV, c] = 1.0
        fst[F_CLICK_COEF, c] = decay_coefficient(CLICK_MS, sr)
    fst[F_NOISE, c] = float((serial * 7919 + note * 104729) % 2147483646 + 1)
    ist[I_STAGE, c] = STAGE_PLAYING
    ist[I_KIND, c] = kind
    ist[I_NOTE, c] = note
    ist[I_SERIAL, c] = serial
    ist[I_CHOKE, c] = choke
    ist[I_LEFT, c] = int(extra + math.ceil(life * LIFE * 0.001 * sr)) + 1
