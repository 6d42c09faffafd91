"""Loudness kernels after ITU-R BS.1770-4 and EBU R 128 / Tech 3341 / Tech 3342, plus peak/RMS ballistics.

K-weighting is two biquads: a high shelf (+4 dB above ~1.7 kHz, the head) and the RLB high-pass
(~38 Hz). :func:`k_weighting_coefficients` designs them for any sample rate by the bilinear transform with
the analogue parameters of libebur128 (pyloudnorm's "DeMan" class), which reproduce the standard's 48 kHz
table. The weighted mean square is summed over channels with weights ``G`` (L, R, C 1.0; Ls, Rs 1.41; LFE
0) per 100 ms step; a 400 ms gating block is four steps (75% overlap), the 3 s short-term window thirty.

:func:`loudness_process` runs the live meter over one block: filter, step energies in a 30-step ring,
momentary and short-term values, every 400 ms block and every short-term value added to a histogram of
0.01 LU bins from -70 to +30 LUFS holding both the count and the exact energy sum of each bin (so gated
integrated loudness and loudness range cost fixed memory for any length, and the integrated value is
exact except for blocks within 0.01 LU of the relative gate), and a 4x-oversampled true peak.
:func:`step_energies` is the offline version (one call over a whole signal). :func:`peak_rms_process`
drives the peak (hold, then release in dB per second) and RMS meters.

The state arrays come from the ``new_*`` helpers below; the readouts are in :mod:`dsp.meters`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "ABS_GATE_LUFS",
    "HIST_BINS",
    "HIST_MIN_LUFS",
    "HIST_STEP_LU",
    "LUFS_OFFSET",
    "M_BLOCKS",
    "M_MAX_MOMENTARY",
    "M_MAX_SHORT",
    "M_MOMENTARY",
    "M_SHORT",
    "M_STEPS",
    "M_TRUE_PEAK",
    "NUM_M",
    "REL_GATE_LU",
    "SHORT_STEPS",
    "STEPS_PER_BLOCK",
    "TP_FACTOR",
    "TP_TAPS",
    "default_channel_weights",
    "k_weighting_coefficients",
    "loudness_process",
    "new_peak_rms_state",
    "peak_rms_process",
    "step_energies",
    "true_peak_coefficients",
]

LUFS_OFFSET = -0.691  # BS.1770: loudness = -0.691 + 10 log10(weighted mean square)
ABS_GATE_LUFS = -70.0
REL_GATE_LU = -10.0
STEPS_PER_BLOCK = 4  # 400 ms momentary / gating block in 100 ms steps
SHORT_STEPS = 30  # 3 s short-term window
HIST_MIN_LUFS = -70.0
HIST_STEP_LU = 0.01
HIST_BINS = 10000  # -70 .. +30 LUFS; louder blocks go to the top bin (their energy stays exact)
TP_FACTOR = 4
TP_TAPS = 49  # odd: phase 0 passes the input samples through unchanged
FLUSH = 1e-30  # filter states and meter levels below this are zero (no denormals in silence)

# meter fields (float64 array of NUM_M)
M_ACC, M_COUNT, M_STEPS, M_RING, M_MOMENTARY, M_SHORT, M_MAX_MOMENTARY, M_MAX_SHORT = range(8)
M_BLOCKS, M_TRUE_PEAK, M_TP_POS = range(8, 11)
NUM_M = 11

# peak/RMS state columns (float64 array of shape (channels, 4))
P_LEVEL, P_HOLD, P_MS, P_MAX = range(4)

# Analogue prototypes of libebur128 (Brecht De Man's fit of the BS.1770 48 kHz table)
_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXP = 0.4996667741545416
_HP_HZ = 38.13547087602444
_HP_Q = 0.5003270373238773

# BS.1770 channel weights by channel count (L R C LFE Ls Rs order for 5.1)
_WEIGHTS = {
    1: (1.0,),
    2: (1.0, 1.0),
    3: (1.0, 1.0, 1.0),
    4: (1.0, 1.0, 1.41, 1.41),
    5: (1.0, 1.0, 1.0, 1.41, 1.41),
    6: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41),
}


def default_channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights for a layout of ``channels``: mono, stereo, L R C, quad (L R Ls Rs), 5.0
    (L R C Ls Rs) or 5.1 (L R C LFE Ls Rs, LFE excluded). Other counts need explicit weights."""
    try:
        return np.array(_WEIGHTS[channels], dtype=np.float64)
    except KeyError:
        known = ", ".join(str(k) for k in _WEIGHTS)
        raise ValueError(
            f"no default loudness weights for {channels} channels (known: {known}); pass channel_weights"
        ) from None


def k_weighting_coefficients(sample_rate: float) -> np.ndarray:
    """The two K-weighting biquads for ``sample_rate``: rows ``[b0, b1, b2, a1, a2]`` (a0 = 1), shelf
    first. At 48 kHz they equal the BS.1770-4 table to about 1e-8."""
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"sample_rate must be finite and > 0, got {sample_rate}")
    k = math.tan(math.pi * _SHELF_HZ / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXP
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HP_HZ / sample_rate)
    a0 = 1.0 + k / _HP_Q + k * k
    # the standard's numerator is exactly 1, -2, 1 (passband gain a hair above 1, as in libebur128)
    highpass = [1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HP_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def true_peak_coefficients() -> np.ndarray:
    """The 4x interpolator as a polyphase matrix ``(TP_FACTOR, taps per phase)``: a Hann-windowed sinc of
    ``TP_TAPS`` taps at the oversampled rate (libebur128's design; BS.1770-4 Annex 2 allows any
    interpolator of this order). Row ``p`` makes the sample ``p / 4`` of the way to the next input."""
    m = np.arange(TP_TAPS) - (TP_TAPS - 1) / 2.0
    h = np.sinc(m / TP_FACTOR) * (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(TP_TAPS) / (TP_TAPS - 1)))
    per = (TP_TAPS + TP_FACTOR - 1) // TP_FACTOR
    poly = np.zeros((TP_FACTOR, per), dtype=np.float64)
    for j in range(TP_TAPS):
        poly[j % TP_FACTOR, j // TP_FACTOR] = h[j]
    return poly


def new_peak_rms_state(channels: int) -> np.ndarray:
    """State of :func:`peak_rms_process` for ``channels`` channels (all levels zero)."""
    return np.zeros((channels, 4), dtype=np.float64)


@njit(cache=True, nogil=True)
def _k_weight(v, coefs, filt, c):
    # two transposed direct-form II biquads; states flushed to zero before they turn denormal
    y = coefs[0, 0] * v + filt[c, 0]
    filt[c, 0] = coefs[0, 1] * v - coefs[0, 3] * y + filt[c, 1]
    filt[c, 1] = coefs[0, 2] * v - coefs[0, 4] * y
    z = coefs[1, 0] * y + filt[c, 2]
    filt[c, 2] = coefs[1, 1] * y - coefs[1, 3] * z + filt[c, 3]
    filt[c, 3] = coefs[1, 2] * y - coefs[1, 4] * z
    for s in range(4):
        if abs(filt[c, s]) < FLUSH:
            filt[c, s] = 0.0
    return z


@njit(cache=True, nogil=True)
def step_energies(x, coefs, weights, step_samples, filt, out):
    """Offline: the channel-weighted K-weighted mean square of every complete step of ``step_samples``
    over ``x`` (channels, frames) into ``out``; returns how many steps were written."""
    chans = min(x.shape[0], filt.shape[0], weights.shape[0])
    n = x.shape[1]
    steps = min(n // step_samples, out.shape[0])
    for j in range(steps):
        acc = 0.0
        for i in range(j * step_samples, (j + 1) * step_samples):
            for c in range(chans):
                z = _k_weight(float(x[c, i]), coefs, filt, c)
                acc += weights[c] * z * z
        out[j] = acc / step_samples
    return steps


@njit(cache=True, nogil=True)
def _window_mean(ring, pos, count):
    # mean of the last `count` steps in the ring (missing steps at the start read as zero)
    size = ring.shape[0]
    acc = 0.0
    for k in range(1, count + 1):
        acc += ring[(pos - k) % size]
    return acc / count


@njit(cache=True, nogil=True)
def _hist_add(count, energy, e):
    if e <= 0.0:
        return
    lufs = LUFS_OFFSET + 10.0 * math.log10(e)
    if lufs < ABS_GATE_LUFS:
        return
    b = min(int((lufs - HIST_MIN_LUFS) / HIST_STEP_LU), HIST_BINS - 1)
    count[b] += 1
    energy[b] += e


@njit(cache=True, nogil=True)
def loudness_process(
    x, n, coefs, weights, step_samples, filt, meter, ring, hist_count, hist_energy, st_count, st_energy,
    tp_coefs, tp_hist,
):  # fmt: skip
    """The live loudness meter over ``x[:, :n]`` (channels, frames); see the module docstring.

    ``filt`` (channels, 4) filter states; ``meter`` NUM_M fields (``M_*``); ``ring`` SHORT_STEPS step
    energies; ``hist_*`` the 400 ms block histogram and ``st_*`` the short-term one (HIST_BINS each);
    ``tp_coefs`` from :func:`true_peak_coefficients` and ``tp_hist`` (channels, 2 * taps per phase) the
    interpolator's input history.
    """
    chans = min(x.shape[0], filt.shape[0], weights.shape[0], tp_hist.shape[0])  # never index past state
    taps = tp_coefs.shape[1]
    size = ring.shape[0]
    acc = meter[M_ACC]
    count = int(meter[M_COUNT])
    tp_pos = int(meter[M_TP_POS])
    peak = meter[M_TRUE_PEAK]
    for i in range(n):
        e = 0.0
        tp_pos += 1
        if tp_pos == taps:
            tp_pos = 0
        newest = tp_pos + taps
        for c in range(chans):
            v = float(x[c, i])
            z = _k_weight(v, coefs, filt, c)
            e += weights[c] * z * z
            # the history is stored twice over, so the last `taps` inputs are contiguous (no modulo)
            tp_hist[c, tp_pos] = v
            tp_hist[c, newest] = v
            # phase 0 is the input itself (delayed): only the three in-between phases need the filter
            if abs(v) > peak:
                peak = abs(v)
            for p in range(1, tp_coefs.shape[0]):
                y = 0.0
                for k in range(taps):
                    y += tp_coefs[p, k] * tp_hist[c, newest - k]
                if abs(y) > peak:
                    peak = abs(y)
        acc += e
        count += 1
        if count < step_samples:
            continue
        # a 100 ms step is complete: the momentary and short-term windows move on
        pos = int(meter[M_RING])
        ring[pos] = acc / step_samples
        pos = (pos + 1) % size
        meter[M_RING] = pos
        meter[M_STEPS] += 1
        acc = 0.0
        count = 0
        mom = _window_mean(ring, pos, STEPS_PER_BLOCK)
        short = _window_mean(ring, pos, SHORT_STEPS)
        meter[M_MOMENTARY] = mom
        meter[M_SHORT] = short
        if meter[M_STEPS] >= STEPS_PER_BLOCK:
            meter[M_BLOCKS] += 1
            _hist_add(hist_count, hist_energy, mom)
            meter[M_MAX_MOMENTARY] = max(meter[M_MAX_MOMENTARY], mom)
        if meter[M_STEPS] >= SHORT_STEPS:
            _hist_add(st_count, st_energy, short)
            meter[M_MAX_SHORT] = max(meter[M_MAX_SHORT], short)
    meter[M_ACC] = acc
    meter[M_COUNT] = count
    meter[M_TP_POS] = tp_pos
    meter[M_TRUE_PEAK] = peak


@njit(cache=True, nogil=True)
def peak_rms_process(x, n, hold_ms, release_db_per_s, rms_window_ms, constant, sample_rate, state):
    """Peak and RMS ballistics over ``x[:, :n]``; controls per sample unless ``constant``.

    Peak: rises at once to ``|x|``, holds ``hold_ms``, then falls ``release_db_per_s``. RMS: mean square
    through a one-pole smoother of time constant ``rms_window_ms``. ``state[c]`` holds
    ``[peak level, hold samples left, mean square, maximum |x| since reset]``.
    """
    chans = min(x.shape[0], state.shape[0])
    hold = hold_ms[0] * 1e-3 * sample_rate
    fall = 10.0 ** (-release_db_per_s[0] / (20.0 * sample_rate))
    smooth = math.exp(-1.0 / max(rms_window_ms[0] * 1e-3 * sample_rate, 1.0))
    for i in range(n):
        if not constant:
            hold = hold_ms[i] * 1e-3 * sample_rate
            fall = 10.0 ** (-release_db_per_s[i] / (20.0 * sample_rate))
            smooth = math.exp(-1.0 / max(rms_window_ms[i] * 1e-3 * sample_rate, 1.0))
        for c in range(chans):
            v = float(x[c, i])
            a = abs(v)
            if a >= state[c, P_LEVEL]:
                state[c, P_LEVEL] = a
                state[c, P_HOLD] = hold
            elif state[c, P_HOLD] >= 1.0:
                state[c, P_HOLD] -= 1.0
            else:
                lv = state[c, P_LEVEL] * fall
                state[c, P_LEVEL] = lv if lv >= a and lv > FLUSH else a
            if a > state[c, P_MAX]:
                state[c, P_MAX] = a
            ms = state[c, P_MS] + (1.0 - smooth) * (v * v - state[c, P_MS])
            state[c, P_MS] = ms if ms > FLUSH else 0.0
