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

Speed: the controls are the rows ``C_*`` of one matrix. While they hold still, :func:`compress` runs the
steps as separate loops over the block: the recursions (mean squares, smoothing) in registers, the logs
and exps as loops of :func:`log_in_place` and :func:`fast_exp` (no calls, no branches) that the compiler
vectorises; the branches of the knee and the smoothing are selects, since on music they flip too often to
be predicted.

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
    "CS_METER",
    "CS_MS",
    "CS_SAMPLE_RATE",
    "C_ATTACK_MS",
    "C_DETECTOR",
    "C_KNEE_DB",
    "C_MAKEUP_DB",
    "C_MIX",
    "C_RATIO",
    "C_RELEASE_MS",
    "C_SIDECHAIN",
    "C_THRESHOLD_DB",
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
    "NUM_C_CONTROLS",
    "NUM_LI",
    "NUM_LS",
    "RATIO_LIMIT",
    "RMS_MS",
    "SAFE_SCALE",
    "compress",
    "fast_exp",
    "gain_computer",
    "limit",
    "log_in_place",
]

RATIO_LIMIT = 100.0  # a ratio at or above this compresses with slope 1: limiting (ratio infinity)
RMS_MS = 10.0  # time constant of the RMS detector's mean square
LEVEL_FLOOR_DB = -200.0  # the detector's level for digital silence
_DB = 20.0 / math.log(10.0)  # dB per neper (amplitude)
_DB_TO_LN = math.log(10.0) / 20.0
_TINY = 1e-12  # below this a decaying dB value is flushed to zero (no denormals after long silence)
# fast_exp: ln 2 split so that k * _LN2_HI is exact for the k that occur, the powers of two it scales by, and
# the Taylor coefficients 1 / j! of its polynomial (degree 13: truncation below 1e-17 on |r| <= ln(2) / 2)
_LOG2E = 1.0 / math.log(2.0)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -708.0
_EXP_MAX = 709.0
_POW2 = np.array([2.0**k for k in range(-1022, 1024)], dtype=np.float64)
_INV_FACT = np.array([1.0 / math.factorial(j) for j in range(14)], dtype=np.float64)
# log_in_place: the bits of a float64 (exponent field and mantissa), and the coefficients 1 / (2j + 1) of
# log(m) = 2 atanh(s) = 2 (s + s^3 / 3 + ...), s = (m - 1) / (m + 1), |s| <= 0.172 (truncation below 1e-17)
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)
_ATANH = np.array([1.0 / (2 * j + 1) for j in range(10)], dtype=np.float64)
_LOG_FLOOR = 1e-30  # log_in_place's smallest argument: the level of digital silence is -600 dB

# compressor state (float64): the smoothed reduction y_L in dB, the meter (reduction now, block maximum), the
# sample rate (a setting), then one mean square per channel
CS_GR = 0
CS_METER = 1
CS_SAMPLE_RATE = 3
CS_MS = 4
# rows of compress()'s control matrix (per-sample values)
C_THRESHOLD_DB = 0
C_RATIO = 1
C_KNEE_DB = 2
C_ATTACK_MS = 3
C_RELEASE_MS = 4
C_MAKEUP_DB = 5
C_MIX = 6
C_DETECTOR = 7
C_SIDECHAIN = 8
NUM_C_CONTROLS = 9

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


@njit(cache=True, nogil=True, inline="always")
def gain_computer(level_db, threshold_db, slope, knee_db):
    """The reduction in dB (>= 0) the static curve asks for at ``level_db`` (Giannoulis et al. soft knee).

    All three pieces are computed and one is selected: on music the level crosses the knee too often for
    branches to be predicted."""
    over = level_db - threshold_db
    t = over + 0.5 * knee_db
    soft = knee_db > 0.0
    knee_part = slope * t * t / (2.0 * knee_db if soft else 1.0)
    upper = knee_part if 2.0 * over <= knee_db and soft else slope * over
    return 0.0 if 2.0 * over < -knee_db else upper


@njit(cache=True, nogil=True, inline="always")
def _slope(ratio):
    if ratio >= RATIO_LIMIT:
        return 1.0
    return 1.0 - 1.0 / ratio


@njit(cache=True, nogil=True, inline="always")
def _coef(time_ms, sample_rate):
    if time_ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (time_ms * sample_rate))


@njit(cache=True, nogil=True, inline="always")
def fast_exp(x):
    """``exp(x)`` within a few units in the last place, with no call and no branch, so that a loop of them
    runs vectorised (``x`` is clamped to -708..709: no overflow, no subnormals)."""
    x = min(max(x, _EXP_MIN), _EXP_MAX)
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _INV_FACT[13]
    for j in range(12, -1, -1):
        p = p * r + _INV_FACT[j]
    return p * _POW2[int(k) + 1022]


@njit(cache=True, nogil=True)
def log_in_place(values, exponents, n):
    """``values[:n] = log(max(values[:n], 1e-30))`` within a few units in the last place, in two loops
    without calls that the compiler vectorises (``exponents`` is scratch of at least ``n``); the values
    must not be NaN or infinite."""
    bits = values.view(np.int64)
    for i in range(n):
        values[i] = max(values[i], _LOG_FLOOR)
        b = bits[i]
        exponents[i] = float((b >> 52) - 1023)
        bits[i] = (b & _MANTISSA) | _ONE_BITS  # the mantissa m, in 1..2
    for i in range(n):
        m = values[i]
        big = m > _SQRT2
        m = 0.5 * m if big else m
        e = exponents[i] + 1.0 if big else exponents[i]
        s = (m - 1.0) / (m + 1.0)
        z = s * s
        p = _ATANH[9]
        for j in range(8, -1, -1):
            p = p * z + _ATANH[j]
        values[i] = e * _LN2 + 2.0 * s * p


@njit(cache=True, nogil=True, inline="always")
def _clean(v):
    """A detection sample as float64; a NaN or Inf is not detected (it would pin the state for good)."""
    v = np.float64(v)
    return v if abs(v) < math.inf else np.float64(0.0)


@njit(cache=True, nogil=True, inline="always")
def _mean_square(m, v, ms_coef):
    m = v * v + ms_coef * (m - v * v)
    return 0.0 if m < 1e-30 else m  # flush: the mean square of silence decays geometrically


@njit(cache=True, nogil=True, inline="always")
def _follow(x_l, y, a_att, a_rel):
    """The branching peak detector on the wanted reduction (dB); the branch is a select (it flips too
    often on music to be predicted)."""
    a = a_att if x_l > y else a_rel
    return x_l + a * (y - x_l)


@njit(cache=True, nogil=True, inline="always")
def _smooth(x_l, y, a_att, a_rel):
    """:func:`_follow`, a reduction below ``_TINY`` flushed to zero."""
    y = _follow(x_l, y, a_att, a_rel)
    return 0.0 if y < _TINY else y


@njit(cache=True, nogil=True)
def compress(inp, side, out, n, ctl, steady, state, work):
    """Compress ``inp[:, :n]`` into ``out`` (may be ``inp``), detecting on ``side`` where the sidechain
    control is 1 and on ``inp`` where it is 0; the detector control 0 is peak, 1 is RMS. The controls are
    per sample, in the rows ``C_*`` of ``ctl``; ``steady`` promises that each row holds one value.
    ``state`` holds ``y_L`` (dB), the meter (``CS_METER``: the reduction in dB now and its block maximum),
    the sample rate and the per-channel mean squares (they advance whichever detector is in use, so
    switching finds them warm); ``work`` (two rows of at least ``n``) is scratch.

    With every control still over the block (and one or two channels) the work is split into loops: the
    detector with its state in registers, then the levels in dB (:func:`log_in_place`) and the curve,
    vectorised, the smoothing with its state in registers, and the gains (:func:`fast_exp`), vectorised.
    The results are those of the general path within a few units in the last place."""
    chans = inp.shape[0]
    sample_rate = state[CS_SAMPLE_RATE]
    ms_coef = _coef(RMS_MS, sample_rate)
    y = state[CS_GR]
    peak_gr = 0.0
    still = steady
    if not still:
        moved = False
        for k in range(NUM_C_CONTROLS):
            for i in range(1, n):
                moved |= ctl[k, i] != ctl[k, 0]
        still = not moved
    if still and chans <= 2:
        thr = ctl[C_THRESHOLD_DB, 0]
        slope = _slope(ctl[C_RATIO, 0])
        knee = ctl[C_KNEE_DB, 0]
        a_att = _coef(ctl[C_ATTACK_MS, 0], sample_rate)
        a_rel = _coef(ctl[C_RELEASE_MS, 0], sample_rate)
        makeup = ctl[C_MAKEUP_DB, 0]
        wet = ctl[C_MIX, 0]
        src = side if ctl[C_SIDECHAIN, 0] >= 0.5 else inp
        rms = ctl[C_DETECTOR, 0] >= 0.5
        ms0 = state[CS_MS]
        ms1 = state[CS_MS + 1] if chans > 1 else 0.0
        level = work[0]
        # the detector: peaks, or for RMS detection the mean squares (each a recursion, its latency paid
        # here); in peak mode the mean squares advance in the smoothing loop below, where their latency
        # overlaps the smoothing's
        if rms:
            for i in range(n):
                ms0 = _mean_square(ms0, _clean(src[0, i]), ms_coef)
                if chans > 1:
                    ms1 = _mean_square(ms1, _clean(src[1, i]), ms_coef)
                level[i] = max(ms0, ms1)
        else:
            for i in range(n):
                peak = abs(_clean(src[0, i]))
                if chans > 1:
                    peak = max(peak, abs(_clean(src[1, i])))
                level[i] = peak
        # levels in dB and the reductions the curve asks for: loops the compiler vectorises
        log_in_place(level, work[1], n)
        scale = 0.5 * _DB if rms else _DB
        for i in range(n):
            level[i] = gain_computer(scale * level[i], thr, slope, knee)
        # the smoothing: no call in this loop, so the recursions stay in registers; the reduction is
        # flushed once per block (within one it cannot decay from _TINY into subnormals)
        if rms:
            for i in range(n):
                y = _follow(level[i], y, a_att, a_rel)
                peak_gr = max(peak_gr, y)
                level[i] = y
        else:
            for i in range(n):
                y = _follow(level[i], y, a_att, a_rel)
                peak_gr = max(peak_gr, y)
                level[i] = y
                ms0 = _mean_square(ms0, _clean(src[0, i]), ms_coef)
                if chans > 1:
                    ms1 = _mean_square(ms1, _clean(src[1, i]), ms_coef)
        y = 0.0 if y < _TINY else y
        state[CS_MS] = ms0
        if chans > 1:
            state[CS_MS + 1] = ms1
        # the gains, a loop of fast_exp the compiler vectorises, then the output
        for i in range(n):
            level[i] = 1.0 - wet + wet * fast_exp((makeup - level[i]) * _DB_TO_LN)
        for c in range(chans):
            for i in range(n):
                out[c, i] = inp[c, i] * level[i]
    else:
        for i in range(n):
            thr = ctl[C_THRESHOLD_DB, i]
            slope = _slope(ctl[C_RATIO, i])
            knee = ctl[C_KNEE_DB, i]
            a_att = _coef(ctl[C_ATTACK_MS, i], sample_rate)
            a_rel = _coef(ctl[C_RELEASE_MS, i], sample_rate)
            makeup = ctl[C_MAKEUP_DB, i]
            wet = ctl[C_MIX, i]
            src = side if ctl[C_SIDECHAIN, i] >= 0.5 else inp
            peak = 0.0
            loud = 0.0
            for c in range(chans):
                v = _clean(src[c, i])
                peak = max(peak, abs(v))
                m = _mean_square(state[CS_MS + c], v, ms_coef)
                state[CS_MS + c] = m
                loud = max(loud, m)
            if ctl[C_DETECTOR, i] >= 0.5:
                level = 0.5 * _DB * math.log(loud) if loud > 0.0 else LEVEL_FLOOR_DB
            else:
                level = _DB * math.log(peak) if peak > 0.0 else LEVEL_FLOOR_DB
            y = _smooth(gain_computer(level, thr, slope, knee), y, a_att, a_rel)
            peak_gr = max(peak_gr, y)
            g = 1.0 - wet + wet * math.exp((makeup - y) * _DB_TO_LN)
            for c in range(chans):
                out[c, i] = inp[c, i] * g
    state[CS_GR] = y
    state[CS_METER] = y
    state[CS_METER + 1] = peak_gr


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
