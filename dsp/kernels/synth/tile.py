"""The modulated path's inner loops, over the ``tile`` of one grid cell (``SUB_BLOCK x columns``, sample
``k`` of column ``j`` at ``k * n + j``): each source of every column summed into the tile, one vectorized
pass each, then the tile through every column's filter, envelope, tremolo and pan into the stereo sum.

The phase increment, filter ``g``, tremolo gain and pulse-width offset move linearly across the cell: each
has a value and a change per sample in the work columns (``W_INC`` and ``W_DINC``, ...), set by
:mod:`~dsp.kernels.synth.modulated`.
"""

from __future__ import annotations

from numba import njit

from dsp.kernels.synth.oscillators import _noise_step, _pulse, _saw, _sine, _triangle, _wrap
from dsp.kernels.synth.params import (
    _FAST,
    MAX_INC,
    MAX_PULSE_WIDTH,
    MIN_PULSE_WIDTH,
    NOISE_M,
    W_A1,
    W_AMP,
    W_BASE,
    W_COEF,
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
    W_LIMIT,
    W_MAMP,
    W_NOISE,
    W_PWM,
    W_S1,
    W_S2,
    W_SIGN,
    WAVE_SAW,
    WAVE_SQUARE,
    WAVE_TRIANGLE,
)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _osc_pass(w, tile, n, length, wave, p_row, scale, inv_scale, level_row, pw_base, pwm_scale, add):
    # one oscillator of every column for ``length`` samples into tile[k * n + j]; its increment is
    # ``scale`` times oscillator 1's ramp (capped below Nyquist; a capped one has level 0)
    keep = 1.0 if add else 0.0
    if wave == WAVE_SAW:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _saw(p, inc, inv)
    elif wave == WAVE_SQUARE:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                pw = pw_base + pwm_scale * (w[W_PWM, j] + k * w[W_DPWM, j])
                pw = min(max(pw, MIN_PULSE_WIDTH), MAX_PULSE_WIDTH)
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _pulse(p, pw, inc, inv)
    elif wave == WAVE_TRIANGLE:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _triangle(p, inc, inv)
    else:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _sine(p)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _noise_pass(w, tile, n, length, level):
    scale = 2.0 / NOISE_M
    for k in range(length):
        base = k * n
        for j in range(n):
            s = _noise_step(w[W_NOISE, j])
            w[W_NOISE, j] = s
            tile[base + j] += level * (s * scale - 1.0)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _modulated_out(w, x, j, k, g, a1, k_damp, c_low, c_band, c_high):
    # filter (g and a1 = 1 / (1 + g (g + k)) at sample k of the grid cell), envelope and tremolo of
    # column j for input x; returns (output, stage ended)
    a2 = g * a1
    a3 = g * a2
    s1 = w[W_S1, j]
    s2 = w[W_S2, j]
    v3 = x - s2
    band = a1 * s1 + a2 * v3
    low = s2 + a2 * s1 + a3 * v3
    w[W_S1, j] = 2.0 * band - s1
    w[W_S2, j] = 2.0 * low - s2
    y = c_low * low + c_band * band + c_high * (x - k_damp * band - low)
    e = w[W_BASE, j] + w[W_ENV, j] * w[W_COEF, j]
    w[W_ENV, j] = e
    return y * e * w[W_AMP, j] * (w[W_MAMP, j] + k * w[W_DMAMP, j]), w[W_SIGN, j] * e >= w[W_LIMIT, j]


# error_model="numpy": a division without Python's zero check, which would keep the loop from vectorizing
@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _span_modulated(w, tile, out, origin, start, stop, n, k_damp, c_low, c_band, c_high, panned, sweeping):
    # the tile through every column's filter and envelope into the stereo sum. With every column centred,
    # one sum goes to both channels (they stay identical); with no cutoff moving, a1 is the column's own
    # (no division per sample).
    for i in range(start, stop):
        k = i - origin
        base = k * n
        hits = 0
        acc_l = 0.0
        acc_r = 0.0
        if sweeping and panned:
            for j in range(n):
                g = w[W_G, j] + k * w[W_DG, j]
                a1 = 1.0 / (1.0 + g * (g + k_damp))
                y, hit = _modulated_out(w, tile[base + j], j, k, g, a1, k_damp, c_low, c_band, c_high)
                acc_l += y * w[W_GL, j]
                acc_r += y * w[W_GR, j]
                hits += hit
        elif sweeping:
            for j in range(n):
                g = w[W_G, j] + k * w[W_DG, j]
                a1 = 1.0 / (1.0 + g * (g + k_damp))
                y, hit = _modulated_out(w, tile[base + j], j, k, g, a1, k_damp, c_low, c_band, c_high)
                acc_l += y
                hits += hit
            acc_r = acc_l
        elif panned:
            for j in range(n):
                y, hit = _modulated_out(w, tile[base + j], j, k, w[W_G, j], w[W_A1, j], k_damp, c_low, c_band,
                                        c_high)  # fmt: skip
                acc_l += y * w[W_GL, j]
                acc_r += y * w[W_GR, j]
                hits += hit
        else:
            for j in range(n):
                y, hit = _modulated_out(w, tile[base + j], j, k, w[W_G, j], w[W_A1, j], k_damp, c_low, c_band,
                                        c_high)  # fmt: skip
                acc_l += y
                hits += hit
            acc_r = acc_l
        out[0, i] = acc_l
        out[1, i] = acc_r
        if hits:
            return i + 1
    return stop
