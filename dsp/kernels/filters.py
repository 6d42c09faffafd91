"""Filter kernels: state-variable, RBJ biquads, a 4-pole ladder, one-pole smoothers and a DC blocker.

Every kernel runs over ``(channels, n)`` arrays (float32 or float64; state and arithmetic are float64) and
keeps its state in a float64 array it updates in place, so one call filters all channels and the next call
carries on where it stopped. Input and output may be the same array (each sample is read before it is
written). States below ``DENORMAL_FLOOR`` are flushed to zero at the end of a call, so a decaying filter
reaches true silence instead of crawling through denormals.

- :func:`svf_process`: a zero-delay-feedback (topology-preserving transform) state-variable filter, modes
  ``SVF_LOWPASS`` .. ``SVF_ALLPASS``, cutoff, resonance and mode given per sample. The TPT form is the
  bilinear transform of the analog SVF with its integrator states kept as such, which is why it stays
  well behaved while its coefficients change every sample.
- :func:`rbj_coefficients` designs one of the RBJ "Audio EQ Cookbook" biquads (``BQ_*`` kinds);
  :func:`biquad_process` runs one in transposed direct form II; :func:`biquad_cascade` runs several in
  series and :func:`eq_process` does that while re-designing sections on a grid of update points.
- :func:`ladder_process`: a 4-pole Moog-style low-pass of four TPT one-poles; the feedback loop is solved
  exactly for the linear filter and the loop input is then saturated with tanh (stable at any setting;
  self-oscillates above ``resonance`` ~0.95).
- :func:`onepole_lowpass` / :func:`onepole_highpass` with :func:`onepole_pole` or
  :func:`onepole_pole_from_time`; :func:`dc_blocker` with :func:`dc_blocker_pole`.

Processors that wrap these are in :mod:`dsp.filters`.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = [
    "BQ_ALLPASS",
    "BQ_BANDPASS",
    "BQ_HIGHPASS",
    "BQ_HIGHSHELF",
    "BQ_LOWPASS",
    "BQ_LOWSHELF",
    "BQ_NOTCH",
    "BQ_PEAK",
    "DC_BLOCKER_HZ",
    "DENORMAL_FLOOR",
    "EQ_ENABLED",
    "EQ_FREQ",
    "EQ_GAIN",
    "EQ_Q",
    "LADDER_K_MAX",
    "MAX_CUTOFF_RATIO",
    "MIN_CUTOFF_HZ",
    "SVF_ALLPASS",
    "SVF_BANDPASS",
    "SVF_HIGHPASS",
    "SVF_K_CLOSED",
    "SVF_K_OPEN",
    "SVF_LOWPASS",
    "SVF_NOTCH",
    "SVF_PEAK",
    "biquad_cascade",
    "biquad_process",
    "dc_blocker",
    "dc_blocker_pole",
    "eq_process",
    "ladder_k",
    "ladder_process",
    "onepole_highpass",
    "onepole_lowpass",
    "onepole_pole",
    "onepole_pole_from_time",
    "rbj_coefficients",
    "svf_k",
    "svf_process",
]

SVF_LOWPASS = 0
SVF_HIGHPASS = 1
SVF_BANDPASS = 2  # constant 0 dB peak: k * band output
SVF_NOTCH = 3
SVF_PEAK = 4  # low minus high: a resonant bump at the cutoff, unity far below it
SVF_ALLPASS = 5

BQ_LOWPASS = 0
BQ_HIGHPASS = 1
BQ_BANDPASS = 2  # constant 0 dB peak gain
BQ_PEAK = 3
BQ_LOWSHELF = 4
BQ_HIGHSHELF = 5
BQ_NOTCH = 6
BQ_ALLPASS = 7

# eq_process rows of a section's parameters
EQ_FREQ = 0
EQ_Q = 1
EQ_GAIN = 2
EQ_ENABLED = 3

MIN_CUTOFF_HZ = 5.0
MAX_CUTOFF_RATIO = 0.49  # of the sample rate: tan(pi * f / rate) grows without bound at 0.5
SVF_K_OPEN = math.sqrt(2.0)  # damping 1/Q at resonance 0: Butterworth, -3 dB at the cutoff
SVF_K_CLOSED = 0.05  # damping at resonance 1: Q = 20, a loud peak that still decays
LADDER_K_MAX = 4.2  # feedback at resonance 1; the linear ladder self-oscillates from k = 4
DC_BLOCKER_HZ = 10.0
DENORMAL_FLOOR = 1e-20
_DB_TO_LN = math.log(10.0) / 20.0


@njit(cache=True, nogil=True)
def _prewarp(cutoff_hz, sample_rate):
    fc = min(max(cutoff_hz, MIN_CUTOFF_HZ), MAX_CUTOFF_RATIO * sample_rate)
    return math.tan(math.pi * fc / sample_rate)


@njit(cache=True, nogil=True)
def _flush(state):
    flat = state.reshape(-1)
    for j in range(flat.shape[0]):
        if abs(flat[j]) < DENORMAL_FLOOR:
            flat[j] = 0.0


# -- state-variable filter ------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def svf_k(resonance):
    """Damping ``k = 1/Q`` of the state-variable filter for a resonance in 0..1 (linear in ``k``)."""
    return SVF_K_OPEN - (SVF_K_OPEN - SVF_K_CLOSED) * min(max(resonance, 0.0), 1.0)


@njit(cache=True, nogil=True)
def _svf_tick(x, s1, s2, g, k, a1, mode):
    # Simper's trapezoidal SVF: v1 band, v2 low; s1, s2 the integrator states
    v1 = a1 * (s1 + g * (x - s2))
    v2 = s2 + g * v1
    s1 = 2.0 * v1 - s1
    s2 = 2.0 * v2 - s2
    if mode == SVF_LOWPASS:
        y = v2
    elif mode == SVF_HIGHPASS:
        y = x - k * v1 - v2
    elif mode == SVF_BANDPASS:
        y = k * v1
    elif mode == SVF_NOTCH:
        y = x - k * v1
    elif mode == SVF_PEAK:
        y = 2.0 * v2 - x + k * v1
    else:
        y = x - 2.0 * k * v1
    return y, s1, s2


@njit(cache=True, nogil=True)
def svf_process(inp, out, state, cutoff_hz, resonance, mode, sample_rate, n, constant):
    """State-variable filter of ``inp[:, :n]`` into ``out``; ``state`` is float64 ``(channels, 2)``.

    ``cutoff_hz``, ``resonance`` (0..1) and ``mode`` (an ``SVF_*`` code, as float) are per-sample arrays;
    with ``constant`` only their first values are used. Coefficients are computed for every sample.
    """
    chans = out.shape[0]
    if constant:
        g = _prewarp(cutoff_hz[0], sample_rate)
        k = svf_k(resonance[0])
        a1 = 1.0 / (1.0 + g * (g + k))
        m = int(mode[0] + 0.5)
        for c in range(chans):
            s1 = state[c, 0]
            s2 = state[c, 1]
            for i in range(n):
                y, s1, s2 = _svf_tick(inp[c, i], s1, s2, g, k, a1, m)
                out[c, i] = y
            state[c, 0] = s1
            state[c, 1] = s2
    else:
        for i in range(n):
            g = _prewarp(cutoff_hz[i], sample_rate)
            k = svf_k(resonance[i])
            a1 = 1.0 / (1.0 + g * (g + k))
            m = int(mode[i] + 0.5)
            for c in range(chans):
                y, s1, s2 = _svf_tick(inp[c, i], state[c, 0], state[c, 1], g, k, a1, m)
                state[c, 0] = s1
                state[c, 1] = s2
                out[c, i] = y
    _flush(state)


# -- RBJ biquads ----------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def rbj_coefficients(kind, freq_hz, q, gain_db, sample_rate):
    """``(b0, b1, b2, a1, a2)`` (normalised so ``a0 = 1``) of an RBJ cookbook biquad of ``kind`` (``BQ_*``).

    ``q`` is the quality factor (for shelves, ``q = 1/sqrt(2)`` is the steepest slope without overshoot);
    ``gain_db`` is used by peak and shelves only. ``freq_hz`` is held inside 5 Hz .. 0.49 * rate.
    """
    f = min(max(freq_hz, MIN_CUTOFF_HZ), MAX_CUTOFF_RATIO * sample_rate)
    w0 = 2.0 * math.pi * f / sample_rate
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    a = math.exp(gain_db * _DB_TO_LN * 0.5)  # sqrt of the linear gain
    if kind == BQ_LOWPASS:
        b0, b1, b2 = (1.0 - cw) * 0.5, 1.0 - cw, (1.0 - cw) * 0.5
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    elif kind == BQ_HIGHPASS:
        b0, b1, b2 = (1.0 + cw) * 0.5, -(1.0 + cw), (1.0 + cw) * 0.5
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    elif kind == BQ_BANDPASS:
        b0, b1, b2 = alpha, 0.0, -alpha
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    elif kind == BQ_PEAK:
        b0, b1, b2 = 1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a
        a0, a1, a2 = 1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a
    elif kind == BQ_LOWSHELF:
        sq = 2.0 * math.sqrt(a) * alpha
        b0 = a * ((a + 1.0) - (a - 1.0) * cw + sq)
        b1 = 2.0 * a * ((a - 1.0) - (a + 1.0) * cw)
        b2 = a * ((a + 1.0) - (a - 1.0) * cw - sq)
        a0 = (a + 1.0) + (a - 1.0) * cw + sq
        a1 = -2.0 * ((a - 1.0) + (a + 1.0) * cw)
        a2 = (a + 1.0) + (a - 1.0) * cw - sq
    elif kind == BQ_HIGHSHELF:
        sq = 2.0 * math.sqrt(a) * alpha
        b0 = a * ((a + 1.0) + (a - 1.0) * cw + sq)
        b1 = -2.0 * a * ((a - 1.0) + (a + 1.0) * cw)
        b2 = a * ((a + 1.0) + (a - 1.0) * cw - sq)
        a0 = (a + 1.0) - (a - 1.0) * cw + sq
        a1 = 2.0 * ((a - 1.0) - (a + 1.0) * cw)
        a2 = (a + 1.0) - (a - 1.0) * cw - sq
    elif kind == BQ_NOTCH:
        b0, b1, b2 = 1.0, -2.0 * cw, 1.0
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    else:
        b0, b1, b2 = 1.0 - alpha, -2.0 * cw, 1.0 + alpha
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    inv = 1.0 / a0
    return b0 * inv, b1 * inv, b2 * inv, a1 * inv, a2 * inv


@njit(cache=True, nogil=True)
def biquad_process(inp, out, coefs, state, n):
    """One biquad (``coefs`` = ``b0, b1, b2, a1, a2``) in transposed direct form II over ``inp[:, :n]``;
    ``state`` is float64 ``(channels, 2)``."""
    b0, b1, b2, a1, a2 = coefs[0], coefs[1], coefs[2], coefs[3], coefs[4]
    for c in range(out.shape[0]):
        z1 = state[c, 0]
        z2 = state[c, 1]
        for i in range(n):
            x = inp[c, i]
            y = b0 * x + z1
            z1 = b1 * x - a1 * y + z2
            z2 = b2 * x - a2 * y
            out[c, i] = y
        state[c, 0] = z1
        state[c, 1] = z2
    _flush(state)


@njit(cache=True, nogil=True)
def _cascade_span(inp, out, coefs, state, active, start, stop):
    for c in range(out.shape[0]):
        for i in range(start, stop):
            x = inp[c, i]
            for s in range(coefs.shape[0]):
                if active[s]:
                    y = coefs[s, 0] * x + state[s, c, 0]
                    state[s, c, 0] = coefs[s, 1] * x - coefs[s, 3] * y + state[s, c, 1]
                    state[s, c, 1] = coefs[s, 2] * x - coefs[s, 4] * y
                    x = y
            out[c, i] = x


@njit(cache=True, nogil=True)
def biquad_cascade(inp, out, coefs, state, active, n):
    """Biquads ``coefs[s]`` (shape ``(sections, 5)``) in series; sections with ``active[s]`` false are
    skipped. ``state`` is float64 ``(sections, channels, 2)``."""
    _cascade_span(inp, out, coefs, state, active, 0, n)
    _flush(state)


@njit(cache=True, nogil=True)
def _design_section(kinds, values, coefs, active, state, s, sample_rate):
    kind = kinds[s]
    b0, b1, b2, a1, a2 = rbj_coefficients(
        kind, values[s, EQ_FREQ], values[s, EQ_Q], values[s, EQ_GAIN], sample_rate
    )
    coefs[s, 0] = b0
    coefs[s, 1] = b1
    coefs[s, 2] = b2
    coefs[s, 3] = a1
    coefs[s, 4] = a2
    on = values[s, EQ_ENABLED] >= 0.5
    if on and (kind == BQ_PEAK or kind == BQ_LOWSHELF or kind == BQ_HIGHSHELF):
        # at 0 dB these sections are the identity with zero state: skipping them changes nothing
        on = values[s, EQ_GAIN] != 0.0
    if not on:
        for c in range(state.shape[1]):
            state[s, c, 0] = 0.0
            state[s, c, 1] = 0.0
    active[s] = on


@njit(cache=True, nogil=True)
def eq_process(
    inp, out, kinds, values, coefs, active, state, moving, curves, points, num_points, sample_rate, n,
    redesign,
):  # fmt: skip
    """A cascade of RBJ sections whose parameters may move during the block.

    Section ``s`` is of kind ``kinds[s]`` with parameters ``values[s, EQ_FREQ/EQ_Q/EQ_GAIN/EQ_ENABLED]``
    (updated in place), coefficients ``coefs[s]``, on/off ``active[s]`` and state ``state[s]`` (float64
    ``(channels, 2)``). At every update point ``p`` in ``points[:num_points]`` (ascending block offsets)
    each parameter with ``moving[s, r]`` set takes ``curves[s, r, p]`` and the sections whose values
    changed are re-designed; the coefficients hold until the next point. With ``redesign`` every section is
    designed first (after a reset or a sample-rate change).
    """
    sections = kinds.shape[0]
    if redesign:
        for s in range(sections):
            _design_section(kinds, values, coefs, active, state, s, sample_rate)
    j = 0
    x = 0
    while x < n:
        while j < num_points and points[j] <= x:
            at = points[j]
            for s in range(sections):
                changed = False
                for r in range(values.shape[1]):
                    if moving[s, r] and curves[s, r, at] != values[s, r]:
                        values[s, r] = curves[s, r, at]
                        changed = True
                if changed:
                    _design_section(kinds, values, coefs, active, state, s, sample_rate)
            j += 1
        y = n
        if j < num_points and points[j] < n:
            y = points[j]
        _cascade_span(inp, out, coefs, state, active, x, y)
        x = y
    _flush(state)


# -- ladder ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def ladder_k(resonance):
    """Feedback gain of the ladder for a resonance in 0..1."""
    return LADDER_K_MAX * min(max(resonance, 0.0), 1.0)


@njit(cache=True, nogil=True)
def _ladder_tick(x, state, c, big_g, k, inv_den, drive):
    s1 = state[c, 0]
    s2 = state[c, 1]
    s3 = state[c, 2]
    s4 = state[c, 3]
    # a TPT one-pole is y = G * in + (1 - G) * s, so the last output is G^4 * u + sigma
    h = 1.0 - big_g
    sigma = h * (big_g * (big_g * (big_g * s1 + s2) + s3) + s4)
    u = math.tanh((drive * x - k * sigma) * inv_den)
    v = (u - s1) * big_g
    y = v + s1
    state[c, 0] = y + v
    v = (y - s2) * big_g
    y = v + s2
    state[c, 1] = y + v
    v = (y - s3) * big_g
    y = v + s3
    state[c, 2] = y + v
    v = (y - s4) * big_g
    y = v + s4
    state[c, 3] = y + v
    return y


@njit(cache=True, nogil=True)
def ladder_process(inp, out, state, cutoff_hz, resonance, drive_db, sample_rate, n, constant):
    """4-pole ladder low-pass of ``inp[:, :n]`` into ``out``; ``state`` is float64 ``(channels, 4)``.

    ``cutoff_hz``, ``resonance`` (0..1) and ``drive_db`` (input gain into the tanh) are per-sample arrays;
    with ``constant`` only their first values are used. Small signals see the linear ladder
    ``1 / ((1 + s/wc)^4 + k)`` (bilinear, prewarped at the cutoff): 24 dB/octave, and a DC gain of
    ``1 / (1 + k)`` (the classic loss of bass as the resonance rises).
    """
    chans = out.shape[0]
    big_g = k = inv_den = drive = 0.0
    for i in range(n):
        if i == 0 or not constant:
            g = _prewarp(cutoff_hz[i], sample_rate)
            big_g = g / (1.0 + g)
            k = ladder_k(resonance[i])
            inv_den = 1.0 / (1.0 + k * big_g * big_g * big_g * big_g)
            drive = math.exp(drive_db[i] * _DB_TO_LN)
        # sample-outer: the channels' feedback chains (tanh is slow) overlap in the CPU
        for c in range(chans):
            out[c, i] = _ladder_tick(inp[c, i], state, c, big_g, k, inv_den, drive)
    _flush(state)


# -- one-pole smoothers and the DC blocker --------------------------------------------------------------
@njit(cache=True, nogil=True)
def onepole_pole(cutoff_hz, sample_rate):
    """Pole of a one-pole low-pass with its -3 dB point near ``cutoff_hz`` (impulse-invariant)."""
    return math.exp(-2.0 * math.pi * cutoff_hz / sample_rate)


@njit(cache=True, nogil=True)
def onepole_pole_from_time(time_ms, sample_rate):
    """Pole of a one-pole smoother whose step response reaches ``1 - 1/e`` after ``time_ms``."""
    samples = time_ms * 1e-3 * sample_rate
    if samples <= 0.0:
        return 0.0
    return math.exp(-1.0 / samples)


@njit(cache=True, nogil=True)
def onepole_lowpass(inp, out, state, pole, n):
    """``y += (1 - pole) * (x - y)`` per channel; ``state`` is float64 ``(channels,)``."""
    b = 1.0 - pole
    for c in range(out.shape[0]):
        y = state[c]
        for i in range(n):
            y += b * (inp[c, i] - y)
            out[c, i] = y
        state[c] = y
    _flush(state)


@njit(cache=True, nogil=True)
def onepole_highpass(inp, out, state, pole, n):
    """The input minus its one-pole low-pass; ``state`` (the low-pass) is float64 ``(channels,)``."""
    b = 1.0 - pole
    for c in range(out.shape[0]):
        y = state[c]
        for i in range(n):
            x = inp[c, i]
            y += b * (x - y)
            out[c, i] = x - y
        state[c] = y
    _flush(state)


@njit(cache=True, nogil=True)
def dc_blocker_pole(sample_rate):
    """Pole of the DC blocker: its corner sits near ``DC_BLOCKER_HZ``."""
    return math.exp(-2.0 * math.pi * DC_BLOCKER_HZ / sample_rate)


@njit(cache=True, nogil=True)
def dc_blocker(inp, out, state, pole, n):
    """``y[i] = x[i] - x[i-1] + pole * y[i-1]``: a zero at DC; ``state`` is float64 ``(channels, 2)``
    (last input, last output)."""
    for c in range(out.shape[0]):
        x1 = state[c, 0]
        y1 = state[c, 1]
        for i in range(n):
            x = inp[c, i]
            y1 = x - x1 + pole * y1
            x1 = x
            out[c, i] = y1
        state[c, 0] = x1
        state[c, 1] = y1
    _flush(state)
