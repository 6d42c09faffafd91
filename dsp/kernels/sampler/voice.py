"""Rendering sampler voices: every sounding voice of one instrument by one call per span between events.

A voice reads its region's stretch of the pool at a fractional position (linear, 4-point cubic Hermite,
or 16-tap Kaiser-windowed sinc interpolation), loops between the loop points while its loop mode says
so, runs through an optional filter (RBJ biquads in transposed direct form II for the two-pole low-,
high-, band-pass and notch, a one-pole section for the one-pole low- and high-pass),
and is scaled by its amplitude envelope and panned into the stereo sum (and, where its region sends
any, into the reverb and chorus send pairs).

Per sample: the amplitude envelope (linear attack, decay and release linear in dB), the read, the
filter, the gains. Every :data:`CONTROL_SAMPLES` samples of the voice's own life (so the output does not
depend on where blocks split): the modulation envelope and the two LFOs step on, and pitch, filter
coefficients and the output gains are recomputed; the gains are approached linearly over the next
control period, so volume, pan and expression changes do not zipper.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.sampler.layout import (
    BASE_HZ,
    C_BEND,
    C_BEND_RANGE,
    C_CHORUS,
    C_EXPRESSION,
    C_MOD_WHEEL,
    C_PAN,
    C_PRESSURE,
    C_REVERB,
    C_VOLUME,
    CONTROL_SAMPLES,
    COPY_GUARD,
    FILTER_BP2,
    FILTER_BR2,
    FILTER_HP1,
    FILTER_HP2,
    FILTER_LP1,
    FILTER_LP2,
    FILTER_NONE,
    INTERP_CUBIC,
    INTERP_LINEAR,
    INTERP_SINC,
    LOOP_CONTINUOUS,
    LOOP_SUSTAIN,
    R_CHORUS,
    R_COPY_END,
    R_COPY_START,
    R_END,
    R_LOOP_END,
    R_LOOP_START,
    R_MOD_TO_FILTER,
    R_MOD_TO_PITCH,
    R_MODLFO_TO_FILTER,
    R_MODLFO_TO_PITCH,
    R_MODLFO_TO_VOLUME,
    R_PAN,
    R_RESONANCE_DB,
    R_REVERB,
    R_SAMPLE_START,
    R_VIB_TO_PITCH,
    SILENCE,
    SINC_HALF,
    SINC_PHASES,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_DELAY,
    STAGE_FADE,
    STAGE_HOLD,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    V_A1,
    V_A2,
    V_AMP,
    V_ATTACK_STEP,
    V_B0,
    V_B1,
    V_B2,
    V_CENTS,
    V_CHORUS,
    V_CTRL,
    V_CUTOFF_CENTS,
    V_DECAY_K,
    V_DELAY_N,
    V_ENV,
    V_ENV_T,
    V_FADE_STEP,
    V_GAIN_L,
    V_GAIN_R,
    V_HOLD_N,
    V_INC,
    V_LAST_CENTS,
    V_LAST_FC,
    V_LAST_PAN,
    V_MOD,
    V_MOD_ATTACK_STEP,
    V_MOD_DECAY_STEP,
    V_MOD_DELAY_N,
    V_MOD_HOLD_N,
    V_MOD_RELEASE_STEP,
    V_MOD_SUSTAIN,
    V_MOD_T,
    V_MODLFO_INC,
    V_MODLFO_PHASE,
    V_MODLFO_WAIT,
    V_PAN_L,
    V_PAN_R,
    V_POS,
    V_RATIO,
    V_RELEASE_K,
    V_REVERB,
    V_S1,
    V_S2,
    V_STEP_L,
    V_STEP_R,
    V_SUSTAIN,
    V_VIB_INC,
    V_VIB_PHASE,
    V_VIB_WAIT,
    VI_CHANNEL,
    VI_FILTER,
    VI_FILTER_ON,
    VI_IN_COPY,
    VI_LOOP_MODE,
    VI_MOD_STAGE,
    VI_REGION,
    VI_STAGE,
    VI_WRAPPED,
)

__all__ = ["control_update", "make_sinc_table", "render_span", "triangle"]

FILTER_OPEN_HZ = 19000.0  # a low-pass above this, unmodulated and without resonance, is left out
BUTTERWORTH_DB = 3.0102999566398116  # a resonance of 0 dB is the flat (Butterworth) response
MAX_CUTOFF_RATIO = 0.45
DENORMAL = 1e-20
NOISE_FLOOR = 3e-5  # -90 dBFS


def make_sinc_table() -> np.ndarray:
    """Kaiser-windowed sinc taps, ``(SINC_PHASES + 1, 2 * SINC_HALF)``: row ``p`` interpolates at the
    fraction ``p / SINC_PHASES`` from taps ``-SINC_HALF + 1 .. SINC_HALF`` around the read index."""
    taps = 2 * SINC_HALF
    frac = np.arange(SINC_PHASES + 1)[:, None] / SINC_PHASES
    k = np.arange(-SINC_HALF + 1, SINC_HALF + 1)[None, :]
    x = k - frac
    window = np.kaiser(4 * taps + 1, 8.6)  # sampled finely, then read at x
    w = np.interp(x, np.linspace(-SINC_HALF, SINC_HALF, window.size), window)
    table = np.sinc(x) * w
    table /= table.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    return np.ascontiguousarray(table, dtype=np.float64)


@njit(cache=True, nogil=True)
def triangle(phase):
    """A triangle LFO, 0 at phase 0, 1 at 0.25, -1 at 0.75."""
    if phase < 0.25:
        return 4.0 * phase
    if phase < 0.75:
        return 2.0 - 4.0 * phase
    return 4.0 * phase - 4.0


@njit(cache=True, nogil=True)
def _mod_env_advance(vf, vi, v, n):
    # the modulation envelope, stepped n samples at once (control rate); leftover time carries into
    # the next stage
    stage = vi[VI_MOD_STAGE, v]
    level = vf[V_MOD, v]
    left = float(n)
    while left > 0.0:
        if stage == STAGE_DELAY or stage == STAGE_HOLD:
            limit = vf[V_MOD_DELAY_N, v] if stage == STAGE_DELAY else vf[V_MOD_HOLD_N, v]
            t = vf[V_MOD_T, v] + left
            if t < limit:
                vf[V_MOD_T, v] = t
                left = 0.0
            else:
                left = t - limit
                vf[V_MOD_T, v] = 0.0
                stage = STAGE_ATTACK if stage == STAGE_DELAY else STAGE_DECAY
        elif stage == STAGE_ATTACK:
            step = vf[V_MOD_ATTACK_STEP, v]
            need = (1.0 - level) / step
            if need > left:
                level += step * left
                left = 0.0
            else:
                level = 1.0
                left -= need
                stage = STAGE_HOLD
        elif stage == STAGE_DECAY:
            step = vf[V_MOD_DECAY_STEP, v]
            sus = vf[V_MOD_SUSTAIN, v]
            need = (level - sus) / step
            if need > left:
                level -= step * left
                left = 0.0
            else:
                level = sus
                stage = STAGE_SUSTAIN
                left = 0.0
        elif stage == STAGE_RELEASE:
            level -= vf[V_MOD_RELEASE_STEP, v] * left
            if level <= 0.0:
                level = 0.0
                stage = STAGE_IDLE
            left = 0.0
        else:
            left = 0.0
    vi[VI_MOD_STAGE, v] = stage
    vf[V_MOD, v] = level


@njit(cache=True, nogil=True)
def _lfo(vf, v, phase_row, inc_row, wait_row, n):
    # the LFO's value now, then stepped on by n samples (it starts after its delay)
    wait = vf[wait_row, v]
    if wait > 0.0:
        vf[wait_row, v] = wait - n
        return 0.0
    p = vf[phase_row, v]
    value = triangle(p)
    p += vf[inc_row, v] * n
    vf[phase_row, v] = p - math.floor(p)
    return value


@njit(cache=True, nogil=True)
def _design(vf, v, ftype, fc, res_db, sample_rate):
    # RBJ cookbook biquads (one-pole sections for the 1p types); Q from the resonance in dB, 0 dB flat
    w0 = 2.0 * math.pi * fc / sample_rate
    if ftype == FILTER_LP1 or ftype == FILTER_HP1:
        p = math.exp(-w0)  # y = (1 - p) x + p y'  (low-pass); the high-pass is x minus it
        vf[V_B0, v] = 1.0 - p
        vf[V_A1, v] = -p
        vf[V_B1, v] = 0.0
        vf[V_B2, v] = 0.0
        vf[V_A2, v] = 0.0
        return
    q = math.pow(10.0, (max(res_db, -24.0) - BUTTERWORTH_DB) / 20.0)
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    inv = 1.0 / (1.0 + alpha)
    if ftype == FILTER_HP2:
        b0, b1, b2 = (1.0 + cw) * 0.5, -(1.0 + cw), (1.0 + cw) * 0.5
    elif ftype == FILTER_BP2:
        b0, b1, b2 = alpha, 0.0, -alpha
    elif ftype == FILTER_BR2:
        b0, b1, b2 = 1.0, -2.0 * cw, 1.0
    else:
        b0, b1, b2 = (1.0 - cw) * 0.5, 1.0 - cw, (1.0 - cw) * 0.5
    vf[V_B0, v] = b0 * inv
    vf[V_B1, v] = b1 * inv
    vf[V_B2, v] = b2 * inv
    vf[V_A1, v] = -2.0 * cw * inv
    vf[V_A2, v] = (1.0 - alpha) * inv


@njit(cache=True, nogil=True)
def control_update(rf, vf, vi, cf, v, sample_rate, fresh):
    """Recompute voice ``v``'s increment, filter coefficients and gain targets from its modulators and
    channel; step the modulation envelope and LFOs on by one control period. ``fresh``: the voice has
    just started, so its gains jump to their targets instead of ramping."""
    r = vi[VI_REGION, v]
    ch = vi[VI_CHANNEL, v]
    mod = vf[V_MOD, v]
    vib = _lfo(vf, v, V_VIB_PHASE, V_VIB_INC, V_VIB_WAIT, CONTROL_SAMPLES)
    mlfo = _lfo(vf, v, V_MODLFO_PHASE, V_MODLFO_INC, V_MODLFO_WAIT, CONTROL_SAMPLES)
    _mod_env_advance(vf, vi, v, CONTROL_SAMPLES)
    # pitch: the bend, the modulation envelope, vibrato (deepened by the mod wheel and aftertouch, 50
    # cents at full, as General MIDI players do) and the modulation LFO
    depth = rf[R_VIB_TO_PITCH, r] + 50.0 * (cf[C_MOD_WHEEL, ch] + cf[C_PRESSURE, ch])
    cents = vf[V_CENTS, v] + cf[C_BEND, ch] * cf[C_BEND_RANGE, ch] * 100.0
    cents += mod * rf[R_MOD_TO_PITCH, r] + vib * depth + mlfo * rf[R_MODLFO_TO_PITCH, r]
    # most voices are not modulated: what did not move since the last update is not recomputed
    if cents != vf[V_LAST_CENTS, v]:
        vf[V_LAST_CENTS, v] = cents
        vf[V_INC, v] = vf[V_RATIO, v] * math.exp2(cents / 1200.0)
    # filter
    ftype = vi[VI_FILTER, v]
    to_filter = rf[R_MOD_TO_FILTER, r]
    lfo_to_filter = rf[R_MODLFO_TO_FILTER, r]
    fc_cents = vf[V_CUTOFF_CENTS, v] + mod * to_filter + mlfo * lfo_to_filter
    if ftype != FILTER_NONE and fc_cents != vf[V_LAST_FC, v]:
        vf[V_LAST_FC, v] = fc_cents
        fc = BASE_HZ * math.exp2(fc_cents / 1200.0)
        res_db = rf[R_RESONANCE_DB, r]
        lowpass = ftype == FILTER_LP1 or ftype == FILTER_LP2
        still = to_filter == 0.0 and lfo_to_filter == 0.0
        if lowpass and still and res_db <= 0.0 and fc >= min(FILTER_OPEN_HZ, MAX_CUTOFF_RATIO * sample_rate):
            vi[VI_FILTER_ON, v] = 0
        else:
            if vi[VI_FILTER_ON, v] == 0:
                vf[V_S1, v] = 0.0
                vf[V_S2, v] = 0.0
            vi[VI_FILTER_ON, v] = 1
            fc = min(max(fc, 5.0), MAX_CUTOFF_RATIO * sample_rate)
            _design(vf, v, ftype, fc, res_db, sample_rate)
    # gains: level, channel volume and expression (square law), tremolo, constant-power pan
    vol = cf[C_VOLUME, ch] * cf[C_EXPRESSION, ch]
    gain = vf[V_AMP, v] * vol * vol
    swing = rf[R_MODLFO_TO_VOLUME, r]
    if swing != 0.0:  # the modulation LFO swings the level by +/- swing dB
        gain *= math.pow(10.0, swing * mlfo / 20.0)
    pan = min(max(rf[R_PAN, r] + cf[C_PAN, ch], -1.0), 1.0)
    if pan != vf[V_LAST_PAN, v]:
        vf[V_LAST_PAN, v] = pan
        angle = (pan + 1.0) * (math.pi / 4.0)
        vf[V_PAN_L, v] = math.cos(angle)
        vf[V_PAN_R, v] = math.sin(angle)
    target_l = gain * vf[V_PAN_L, v]
    target_r = gain * vf[V_PAN_R, v]
    if fresh:
        vf[V_GAIN_L, v] = target_l
        vf[V_GAIN_R, v] = target_r
        vf[V_STEP_L, v] = 0.0
        vf[V_STEP_R, v] = 0.0
    else:
        vf[V_STEP_L, v] = (target_l - vf[V_GAIN_L, v]) / CONTROL_SAMPLES
        vf[V_STEP_R, v] = (target_r - vf[V_GAIN_R, v]) / CONTROL_SAMPLES
    vf[V_REVERB, v] = min(1.0, rf[R_REVERB, r] + 0.2 * cf[C_REVERB, ch])
    vf[V_CHORUS, v] = min(1.0, rf[R_CHORUS, r] + 0.2 * cf[C_CHORUS, ch])


@njit(cache=True, nogil=True)
def _tap(pool, j, lo, end, ls, le, looping, wrapped):
    # one pool value around the read position, with loop wrap and the sample's bounds
    if looping:
        if j >= le:
            j -= le - ls
        elif wrapped and j < ls:
            j += le - ls
    if j < lo:
        j = lo
    if j >= end:
        return 0.0
    return float(pool[j])


@njit(cache=True, nogil=True)
def _read(pool, scale, pos, lo, end, ls, le, looping, wrapped, interp, sinc):
    # the general read: every tap through _tap (loop wrap, bounds); the voice loop reads directly where
    # all taps lie inside the sample, and comes here near its edges and for sinc
    idx = int(pos)
    f = pos - idx
    if interp == INTERP_CUBIC:
        xm1 = _tap(pool, idx - 1, lo, end, ls, le, looping, wrapped)
        x0 = _tap(pool, idx, lo, end, ls, le, looping, wrapped)
        x1 = _tap(pool, idx + 1, lo, end, ls, le, looping, wrapped)
        x2 = _tap(pool, idx + 2, lo, end, ls, le, looping, wrapped)
        return _hermite(xm1, x0, x1, x2, f) * scale
    if interp == INTERP_LINEAR:
        x0 = _tap(pool, idx, lo, end, ls, le, looping, wrapped)
        x1 = _tap(pool, idx + 1, lo, end, ls, le, looping, wrapped)
        return (x0 + (x1 - x0) * f) * scale
    row = int(f * SINC_PHASES + 0.5)
    acc = 0.0
    first = idx - SINC_HALF + 1
    safe = ls if looping and wrapped else lo
    if first >= safe and idx + SINC_HALF < (le if looping else end):
        for t in range(2 * SINC_HALF):
            acc += sinc[row, t] * pool[first + t]
    else:
        for t in range(2 * SINC_HALF):
            acc += sinc[row, t] * _tap(pool, first + t, lo, end, ls, le, looping, wrapped)
    return acc * scale


@njit(cache=True, nogil=True)
def _hermite(xm1, x0, x1, x2, f):
    c1 = 0.5 * (x1 - xm1)
    c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
    c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
    return ((c3 * f + c2) * f + c1) * f + x0


@njit(cache=True, nogil=True)
def _lean(
    pool,
    scale,
    buf,
    i,
    n,
    pos,
    inc,
    env,
    k_env,
    gl,
    gr,
    sl,
    sr,
    fon,
    s1,
    s2,
    b0,
    b1,
    b2,
    a1,
    a2,
    highpass1,
    rv,
    cv,
    interp,
    lo,
    end,
    ls,
    le,
    looping,
    wrapped,
    reach,
    sinc,
):
    # n samples whose envelope stays in one stage (see _render_voice): read, filter, envelope, mix. Reads
    # are direct where every tap lies inside the sample; near loop points and edges they go through _read
    sends = rv != 0.0 or cv != 0.0
    cubic = interp == INTERP_CUBIC
    back = 1 if cubic else 0
    hi = (le + reach if looping else end) - 2
    safe = (ls - reach if looping and wrapped else lo) + back
    done = False
    for j in range(i, i + n):
        idx = int(pos)
        f = pos - idx
        if idx < safe or idx >= hi:
            x = _read(pool, 1.0, pos, lo, end, ls, le, looping, wrapped, interp, sinc)
        elif cubic:
            x = _hermite(
                float(pool[idx - 1]), float(pool[idx]), float(pool[idx + 1]), float(pool[idx + 2]), f
            )
        else:
            x0 = float(pool[idx])
            x = x0 + (float(pool[idx + 1]) - x0) * f
        x *= scale
        if fon:
            out = b0 * x + s1
            s1 = b1 * x - a1 * out + s2
            s2 = b2 * x - a2 * out
            x = x - out if highpass1 else out
        env *= k_env
        y = x * env
        gl += sl
        gr += sr
        left = y * gl
        right = y * gr
        buf[0, j] += left
        buf[1, j] += right
        if sends:
            buf[2, j] += left * rv
            buf[3, j] += right * rv
            buf[4, j] += left * cv
            buf[5, j] += right * cv
        pos += inc
        if looping:
            if pos >= le:
                pos -= le - ls
                wrapped = True
                safe = ls - reach + back
        elif pos >= end:
            done = True
            break
    return pos, env, gl, gr, s1, s2, wrapped, done


@njit(cache=True, nogil=True)
def render_span(pool, scale, rf, vf, vi, cf, sinc, interp, sample_rate, buf, start, stop, sends):
    """Add every sounding voice's samples ``start .. stop`` of the block into ``buf`` (float64, rows:
    left, right, reverb left, reverb right, chorus left, chorus right; the send rows only with ``sends``).
    Voices that finish become idle."""
    for v in range(vf.shape[1]):
        if vi[VI_STAGE, v] != STAGE_IDLE:
            _render_voice(pool, scale, rf, vf, vi, cf, sinc, interp, sample_rate, buf, start, stop, v, sends)


@njit(cache=True, nogil=True)
def _render_voice(pool, scale, rf, vf, vi, cf, sinc, interp, sample_rate, buf, start, stop, v, sends):
    r = vi[VI_REGION, v]
    lo = int(rf[R_SAMPLE_START, r])
    end = int(rf[R_END, r])
    ls = int(rf[R_LOOP_START, r])
    le = int(rf[R_LOOP_END, r])
    copy_start = int(rf[R_COPY_START, r])
    copy_end = int(rf[R_COPY_END, r])
    reach = 0  # frames past the loop end (and before its start) that read as the loop's own
    mode = vi[VI_LOOP_MODE, v]
    ftype = vi[VI_FILTER, v]
    i = start
    while i < stop:
        stage = vi[VI_STAGE, v]
        if vf[V_CTRL, v] <= 0.0:
            control_update(rf, vf, vi, cf, v, sample_rate, vf[V_GAIN_L, v] < 0.0)
            vf[V_CTRL, v] = CONTROL_SAMPLES
            if copy_end > copy_start and vi[VI_WRAPPED, v] != 0 and vi[VI_IN_COPY, v] == 0:
                # looped once: on into the unrolled copy, at the same place in the loop
                vf[V_POS, v] = copy_start + (vf[V_POS, v] - ls)
                vi[VI_IN_COPY, v] = 1
        if vi[VI_IN_COPY, v] != 0:
            ls, le = copy_start, copy_end
            lo, end = ls - COPY_GUARD, le + COPY_GUARD
            reach = COPY_GUARD
        n = min(stop - i, int(vf[V_CTRL, v]))
        looping = le - ls >= 1 and (
            mode == LOOP_CONTINUOUS or (mode == LOOP_SUSTAIN and stage < STAGE_RELEASE)
        )
        wrapped = vi[VI_WRAPPED, v] != 0
        pos = vf[V_POS, v]
        inc = vf[V_INC, v]
        env = vf[V_ENV, v]
        t = vf[V_ENV_T, v]
        gl = vf[V_GAIN_L, v]
        gr = vf[V_GAIN_R, v]
        sl = vf[V_STEP_L, v]
        sr = vf[V_STEP_R, v]
        fon = vi[VI_FILTER_ON, v] != 0
        s1 = vf[V_S1, v]
        s2 = vf[V_S2, v]
        b0 = vf[V_B0, v]
        b1 = vf[V_B1, v]
        b2 = vf[V_B2, v]
        a1 = vf[V_A1, v]
        a2 = vf[V_A2, v]
        highpass1 = ftype == FILTER_HP1
        rv = vf[V_REVERB, v] if sends else 0.0
        cv = vf[V_CHORUS, v] if sends else 0.0
        hi = le if looping else end
        decay_k = vf[V_DECAY_K, v]
        sustain = vf[V_SUSTAIN, v]
        release_k = vf[V_RELEASE_K, v]
        attack_step = vf[V_ATTACK_STEP, v]
        hold_n = vf[V_HOLD_N, v]
        delay_n = vf[V_DELAY_N, v]
        fade_step = vf[V_FADE_STEP, v]
        # a voice on its way out ends below the noise floor: its envelope times its level under -90 dBFS
        level = max(gl, gr, gl + sl * n, gr + sr * n)
        floor = max(SILENCE, NOISE_FLOOR / level) if level > 0.0 else 1.0
        done = False
        # the common case takes a lean loop: the envelope cannot change stage within these n samples, the
        # reads stay inside the sample and away from its edges, and a loop does not wrap
        k_env = 1.0 if stage == STAGE_SUSTAIN else (decay_k if stage == STAGE_DECAY else release_k)
        n_done = 0
        if interp != INTERP_SINC and (
            stage == STAGE_SUSTAIN
            or (stage == STAGE_DECAY and env * math.pow(decay_k, n) > max(sustain, floor))
            or (stage == STAGE_RELEASE and env * math.pow(release_k, n) >= floor)
        ):
            pos, env, gl, gr, s1, s2, wrapped, done = _lean(
                pool,
                scale,
                buf,
                i,
                n,
                pos,
                inc,
                env,
                k_env,
                gl,
                gr,
                sl,
                sr,
                fon,
                s1,
                s2,
                b0,
                b1,
                b2,
                a1,
                a2,
                highpass1,
                rv,
                cv,
                interp,
                lo,
                end,
                ls,
                le,
                looping,
                wrapped,
                reach,
                sinc,
            )
            n_done = n
        for j in range(i + n_done, i + n if not done else i):
            # amplitude envelope
            if stage == STAGE_SUSTAIN:
                pass
            elif stage == STAGE_DECAY:
                env *= decay_k
                if env <= sustain:
                    env = sustain
                    stage = STAGE_SUSTAIN
                if env < floor and sustain < floor:  # decaying to (near) silence: done when inaudible
                    done = True
            elif stage == STAGE_RELEASE:
                env *= release_k
                if env < floor:
                    done = True
            elif stage == STAGE_ATTACK:
                env += attack_step
                if env >= 1.0:
                    env = 1.0
                    stage = STAGE_HOLD
                    t = 0.0
            elif stage == STAGE_HOLD:
                t += 1.0
                if t >= hold_n:
                    stage = STAGE_DECAY
            elif stage == STAGE_DELAY:
                t += 1.0
                if t >= delay_n:
                    stage = STAGE_ATTACK
                    t = 0.0
            elif stage == STAGE_FADE:
                env -= fade_step
                if env <= 0.0:
                    done = True
            if done:
                break
            idx = int(pos)
            if interp == INTERP_CUBIC and idx > (ls if wrapped else lo) and idx + 2 < hi:
                x = (
                    _hermite(
                        float(pool[idx - 1]),
                        float(pool[idx]),
                        float(pool[idx + 1]),
                        float(pool[idx + 2]),
                        pos - idx,
                    )
                    * scale
                )
            elif interp == INTERP_LINEAR and idx >= (ls if wrapped else lo) and idx + 1 < hi:
                x0 = float(pool[idx])
                x = (x0 + (float(pool[idx + 1]) - x0) * (pos - idx)) * scale
            else:
                x = _read(pool, scale, pos, lo, end, ls, le, looping, wrapped, interp, sinc)
            if fon:  # transposed direct form II: a short dependency chain per sample
                out = b0 * x + s1
                s1 = b1 * x - a1 * out + s2
                s2 = b2 * x - a2 * out
                x = x - out if highpass1 else out
            y = x * env
            gl += sl
            gr += sr
            left = y * gl
            right = y * gr
            buf[0, j] += left
            buf[1, j] += right
            if rv != 0.0:
                buf[2, j] += left * rv
                buf[3, j] += right * rv
            if cv != 0.0:
                buf[4, j] += left * cv
                buf[5, j] += right * cv
            pos += inc
            if looping:
                if pos >= le:
                    pos -= le - ls
                    wrapped = True
            elif pos >= end:
                done = True
                break
        if done:
            vi[VI_STAGE, v] = STAGE_IDLE
            return
        if abs(s1) < DENORMAL:
            s1 = 0.0
        if abs(s2) < DENORMAL:
            s2 = 0.0
        vf[V_POS, v] = pos
        vf[V_ENV, v] = env
        vf[V_ENV_T, v] = t
        vf[V_GAIN_L, v] = gl
        vf[V_GAIN_R, v] = gr
        vf[V_S1, v] = s1
        vf[V_S2, v] = s2
        vi[VI_WRAPPED, v] = 1 if wrapped else 0
        vi[VI_STAGE, v] = stage
        vf[V_CTRL, v] -= n
        i += n
