"""Dynamics kernels: a feed-forward compressor and a look-ahead brick-wall limiter, per sample.

Compressor (Giannoulis, Massberg and Reiss 2012, "Digital Dynamic Range Compressor Design", feed-forward
with the detector in the log domain after the gain computer):

1. level ``x_G`` in dB of the detection signal, stereo-linked (the loudest channel): the sample's peak
   ``20 log10 max|x_c|``, or its RMS ``10 log10 max ms_c`` with ``ms_c`` a one-pole mean square of
   ``RMS_MS``;
2. gain computer with a quadratic soft knee of width ``W`` around threshold ``T``, written as the wanted
   reduction ``x_L = x_G - y_G >= 0``: 0 below the knee, ``s (x_G - T + W/2)^2 / (2W)`` inside,
   ``s (x_G - T)`` above, with slope ``s = 1 - 1/ratio`` (``ratio >= RATIO_LIMIT`` is taken as infinity);
3. their smooth branching peak detector on ``x_L``: ``y_L`` follows with the attack coefficient while
   ``x_L`` rises above it and with the release coefficient otherwise, ``alpha = exp(-1/(tau fs))``, so a
   step reaches 1 - 1/e of its size after ``tau`` (``tau = 0`` is instant);
4. gain ``10^((makeup - y_L)/20)``, mixed with the dry signal by ``mix`` (parallel compression).

Limiter: the loudest channel's peak gives the gain each sample needs, ``g_req = ceiling / peak``. The audio
is delayed by ``L`` samples; the gain applied to a delayed sample is a boxcar average over ``L + 1`` samples
of a minimum filter over ``L + 1`` samples (plus an instant-attack release stage that only lowers it). Every
value averaged is a minimum over a window that contains the delayed sample, so the average can never be
above the gain that sample needs: the output reaches the ceiling at most, and the gain ramps down over the
whole look-ahead before a peak. A clamp after the gain is the last resort against rounding; the kernel
records how far the gain alone went over (``LS_OVERSHOOT``), which stays at rounding level.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "CS_GR",
    "CS_MS",
    "LI_BOX",
    "LI_DQ_COUNT",
    "LI_DQ_HEAD",
    "LI_LOOKAHEAD",
    "LI_TIME",
    "LI_WRITE",
    "LS_GAIN",
    "LS_OVERSHOOT",
    "LS_RELEASE",
    "LS_SUM",
    "NUM_LI",
    "NUM_LS",
    "RATIO_LIMIT",
    "RMS_MS",
    "SAFE_SCALE",
    "compress",
    "gain_computer",
    "limit",
]

RATIO_LIMIT = 100.0  # a ratio at or above this compresses with slope 1: limiting (ratio infinity)
RMS_MS = 10.0  # time constant of the RMS detector's mean square
LEVEL_FLOOR_DB = -200.0  # the detector's level for digital silence
_DB = 20.0 / math.log(10.0)  # dB per neper (amplitude)
_DB_TO_LN = math.log(10.0) / 20.0
_TINY = 1e-12  # below this a decaying dB value is flushed to zero (no denormals after long silence)

# compressor state (float64): the smoothed reduction y_L in dB, then one mean square per channel
CS_GR = 0
CS_MS = 1

# limiter state: float64 slots
LS_RELEASE = 0  # the release stage's last gain
LS_SUM = 1  # running sum of the boxcar ring
LS_OVERSHOOT = 2  # largest |out| / ceiling before the clamp (1.0 or less: the clamp had nothing to do)
LS_GAIN = 3  # the gain applied to the last sample (for meters)
NUM_LS = 4
# limiter state: int64 slots
LI_TIME = 0  # samples processed (the min filter's clock)
LI_WRITE = 1  # delay-line and ceiling-ring index (0..L-1)
LI_BOX = 2  # boxcar ring index (0..L)
LI_DQ_HEAD = 3  # min-filter deque: index of the front
LI_DQ_COUNT = 4  # min-filter deque: entries held
LI_LOOKAHEAD = 5  # L in samples
NUM_LI = 6

# Output buffers may be float32: a value at most SAFE_SCALE * ceiling rounds to at most the ceiling
# (round-to-nearest moves a value by 2^-24 of itself at most).
SAFE_SCALE = 1.0 - 2.0**-23


@njit(cache=True, nogil=True)
def gain_computer(level_db, threshold_db, slope, knee_db):
    """The reduction in dB (>= 0) the static curve asks for at ``level_db`` (Giannoulis et al. soft knee)."""
    over = level_db - threshold_db
    if 2.0 * over < -knee_db:
        return 0.0
    if 2.0 * over <= knee_db and knee_db > 0.0:
        t = over + 0.5 * knee_db
        return slope * t * t / (2.0 * knee_db)
    return slope * over


@njit(cache=True, nogil=True)
def _slope(ratio):
    if ratio >= RATIO_LIMIT:
        return 1.0
    return 1.0 - 1.0 / ratio


@njit(cache=True, nogil=True)
def _coef(time_ms, sample_rate):
    if time_ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (time_ms * sample_rate))


@njit(cache=True, nogil=True)
def compress(
    inp,
    side,
    out,
    n,
    threshold_db,
    ratio,
    knee_db,
    attack_ms,
    release_ms,
    makeup_db,
    mix,
    sidechain,
    detector,
    constant,
    sample_rate,
    state,
    meter,
):
    """Compress ``inp[:, :n]`` into ``out`` (may be ``inp``), detecting on ``side`` where ``sidechain[i]``
    is 1 and on ``inp`` where it is 0; ``detector[i]`` 0 is peak, 1 is RMS. Controls are per-sample
    arrays; with ``constant`` only their first values are read. ``state`` holds ``y_L`` (dB) and the
    per-channel mean squares; ``meter`` gets the reduction in dB now (``[0]``) and its block maximum
    (``[1]``)."""
    chans = inp.shape[0]
    ms_coef = _coef(RMS_MS, sample_rate)
    y = state[CS_GR]
    peak_gr = 0.0
    thr = threshold_db[0]
    slope = _slope(ratio[0])
    knee = knee_db[0]
    a_att = _coef(attack_ms[0], sample_rate)
    a_rel = _coef(release_ms[0], sample_rate)
    makeup = makeup_db[0]
    wet = mix[0]
    use_side = sidechain[0] >= 0.5
    rms = detector[0] >= 0.5
    for i in range(n):
        if not constant:
            thr = threshold_db[i]
            slope = _slope(ratio[i])
            knee = knee_db[i]
            a_att = _coef(attack_ms[i], sample_rate)
            a_rel = _coef(release_ms[i], sample_rate)
            makeup = makeup_db[i]
            wet = mix[i]
            use_side = sidechain[i] >= 0.5
            rms = detector[i] >= 0.5
        src = side if use_side else inp
        peak = 0.0
        ms_max = 0.0
        for c in range(chans):
            v = np.float64(src[c, i])
            a = abs(v)
            if not a < math.inf:
                v = np.float64(0.0)  # a NaN or Inf sample is not detected: it would pin the state for good
                a = np.float64(0.0)
            if a > peak:
                peak = a
            m = state[CS_MS + c]
            m = v * v + ms_coef * (m - v * v)
            if m < 1e-30:
                m = 0.0  # flush: the mean square of silence decays geometrically
            state[CS_MS + c] = m
            if m > ms_max:
                ms_max = m
        if rms:
            level = 0.5 * _DB * math.log(ms_max) if ms_max > 0.0 else LEVEL_FLOOR_DB
        else:
            level = _DB * math.log(peak) if peak > 0.0 else LEVEL_FLOOR_DB
        x_l = gain_computer(level, thr, slope, knee)
        if x_l > y:
            y = x_l + a_att * (y - x_l)
        else:
            y = x_l + a_rel * (y - x_l)
        if y < _TINY:
            y = 0.0
        if y > peak_gr:
            peak_gr = y
        g = 1.0 - wet + wet * math.exp((makeup - y) * _DB_TO_LN)
        for c in range(chans):
            out[c, i] = inp[c, i] * g
    state[CS_GR] = y
    meter[0] = y
    meter[1] = peak_gr


@njit(cache=True, nogil=True)
def limit(
    inp, out, n, ceiling_db, release_ms, constant, sample_rate, ring, ceil_ring, box, dq_val, dq_idx, fs, ist
):
    """Limit ``inp[:, :n]`` into ``out`` (may be ``inp``), delayed by ``ist[LI_LOOKAHEAD]`` samples.

    ``ring`` (channels x L) is the delay line and ``ceil_ring`` (L) the ceiling that travels with each
    sample; ``box`` (L + 1) the boxcar ring; ``dq_val``/``dq_idx`` (L + 2) the min filter's monotonic deque;
    ``fs``/``ist`` the float and int slots named ``LS_*``/``LI_*``. Non-finite input samples enter as 0.
    """
    chans = inp.shape[0]
    la = ist[LI_LOOKAHEAD]
    width = la + 1  # both windows span L + 1 samples: the delayed sample and the L after it
    cap = dq_val.shape[0]
    t = ist[LI_TIME]
    w = ist[LI_WRITE]
    b = ist[LI_BOX]
    head = ist[LI_DQ_HEAD]
    count = ist[LI_DQ_COUNT]
    r = fs[LS_RELEASE]
    total = fs[LS_SUM]
    over = fs[LS_OVERSHOOT]
    lim = SAFE_SCALE * math.exp(ceiling_db[0] * _DB_TO_LN)
    a_rel = _coef(release_ms[0], sample_rate)
    for i in range(n):
        if not constant:
            lim = SAFE_SCALE * math.exp(ceiling_db[i] * _DB_TO_LN)
            a_rel = _coef(release_ms[i], sample_rate)
        # the gain this sample needs
        peak = 0.0
        for c in range(chans):
            a = abs(np.float64(inp[c, i]))
            if a > peak and a < math.inf:
                peak = a
        need = lim / peak if peak > lim else 1.0
        # sliding minimum over the last L + 1 needs (monotonic deque: O(1) per sample on average)
        while count > 0 and dq_val[(head + count - 1) % cap] >= need:
            count -= 1
        k = (head + count) % cap
        dq_val[k] = need
        dq_idx[k] = t
        count += 1
        while dq_idx[head] <= t - width:
            head = (head + 1) % cap
            count -= 1
        m = dq_val[head]
        # release: instant down to the minimum, exponential recovery towards it (never above it)
        if r < m:
            r = m - a_rel * (m - r)
        else:
            r = m
        # boxcar average of the last L + 1 values; the running sum is recomputed at every wrap so
        # rounding cannot drift
        total += r - box[b]
        box[b] = r
        b += 1
        if b == width:
            b = 0
            total = 0.0
            for j in range(width):
                total += box[j]
        g = total / width
        if g > 1.0:
            g = 1.0  # an average of gains at most 1 (rounding could put it a hair above)
        # the delayed sample and the ceiling it arrived with
        c_lim = ceil_ring[w]
        ceil_ring[w] = lim
        for c in range(chans):
            x = np.float64(inp[c, i])
            if not abs(x) < math.inf:
                x = np.float64(0.0)
            d = ring[c, w]
            ring[c, w] = x
            v = d * g
            a = abs(v)
            if a > c_lim:
                # last resort: only rounding of the average can get here
                if a / c_lim > over:
                    over = a / c_lim
                v = c_lim if v > 0.0 else -c_lim
            out[c, i] = v
        w += 1
        if w == la:
            w = 0
        t += 1
    ist[LI_TIME] = t
    ist[LI_WRITE] = w
    ist[LI_BOX] = b
    ist[LI_DQ_HEAD] = head
    ist[LI_DQ_COUNT] = count
    fs[LS_RELEASE] = r
    fs[LS_SUM] = total
    fs[LS_OVERSHOOT] = over
    fs[LS_GAIN] = min(total / width, 1.0)
