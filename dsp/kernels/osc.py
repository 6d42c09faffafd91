"""Oscillator and LFO kernels: band-limited saw, pulse and triangle, table sine, mip-mapped wavetables,
seeded white and pink noise, and the LFO shapes with free-running or tempo-locked phase.

Band limiting (saw, pulse, triangle): every discontinuity of the naive waveform is corrected by a
band-limited step (BLEP) residual, every corner by a band-limited ramp (BLAMP) residual, read from tables
(:func:`make_blep_tables`) of a minimum-phase Kaiser-windowed sinc (cutoff 0.45 of the sample rate, 32
samples long, 128 table points per sample). It is the PolyBLEP idea with a longer kernel: the residuals
start at the discontinuity (no latency) and are added into a 32-sample ring of future corrections. A
5 kHz saw at 48 kHz aliases at -62 dB relative to its harmonics (naive: -8 dB; the synth voices'
six-sample polynomial kernel in :mod:`dsp.kernels.synth`: -39 dB). The filtered signal lags the naive one by
``tau`` samples (the kernel's group delay at DC), so the naive part is evaluated as ``x - tau * x'`` (no DC
offset on a fast saw). Minimum phase rings more than linear phase: a band-limited step overshoots by 21%,
so saw and square peak near +-1.4. A start from silence and a switch of waveform are band-limited steps too.

Phase convention (all periodic waveforms): cycles in [0, 1). Saw and triangle start at a rising zero
crossing, the pulse is +1 while ``phase < pulse_width``, the sine is ``sin(2 pi phase)``.

Call :func:`osc_fill` once per span with per-sample ``waveform``, phase increment and pulse width arrays
and the state made by :func:`new_osc_state`; :func:`lfo_fill` for LFOs (beats from :func:`timeline_beats`
or :func:`linear_beats` when tempo-synced). Tables: :func:`make_sine_table`, :func:`make_wavetable`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "BLEP_OVERSAMPLE",
    "BLEP_SAMPLES",
    "LFO_SAMPLE_HOLD",
    "LFO_SAW_DOWN",
    "LFO_SAW_UP",
    "LFO_SINE",
    "LFO_SMOOTH_RANDOM",
    "LFO_SQUARE",
    "LFO_TRIANGLE",
    "MAX_INC",
    "NUM_LFO_SHAPES",
    "NUM_WAVEFORMS",
    "SINE_TABLE_SIZE",
    "S_INC",
    "S_PHASE",
    "S_POS",
    "S_PW",
    "S_STARTED",
    "S_WAVE",
    "WAVE_PINK",
    "WAVE_SAW",
    "WAVE_SINE",
    "WAVE_SQUARE",
    "WAVE_TABLE",
    "WAVE_TRIANGLE",
    "WAVE_WHITE",
    "WT_LEVELS",
    "hash_uniform",
    "lfo_fill",
    "lfo_shape_value",
    "linear_beats",
    "make_blep_tables",
    "make_sine_table",
    "make_wavetable",
    "new_osc_state",
    "osc_fill",
    "pink_fill",
    "timeline_beats",
    "white_fill",
    "write_channels",
]

# waveforms (the first four as in dsp.kernels.synth)
WAVE_SAW = 0
WAVE_SQUARE = 1  # pulse; a square at pulse width 0.5
WAVE_TRIANGLE = 2
WAVE_SINE = 3
WAVE_TABLE = 4
WAVE_WHITE = 5
WAVE_PINK = 6
NUM_WAVEFORMS = 7

# LFO shapes
LFO_SINE = 0
LFO_TRIANGLE = 1
LFO_SAW_UP = 2
LFO_SAW_DOWN = 3
LFO_SQUARE = 4
LFO_SAMPLE_HOLD = 5
LFO_SMOOTH_RANDOM = 6
NUM_LFO_SHAPES = 7

# oscillator state (float64 array of NUM_STATE): phase of the last sample output, the increment and pulse
# width it was output with, 1.0 once a sample was output, the read position in the BLEP ring, its waveform
S_PHASE, S_INC, S_PW, S_STARTED, S_POS, S_WAVE = range(6)
NUM_STATE = 6

MAX_INC = 0.45  # phase increment limit: the fundamental stays below 0.45 of the sample rate
MIN_PW = 0.01
MAX_PW = 0.99
BLEP_SAMPLES = 32  # residual length in samples (also the ring length, a power of two)
BLEP_OVERSAMPLE = 128  # table points per sample
SINE_TABLE_SIZE = 4096  # linear interpolation error below 3e-7
WT_LEVELS = 12  # mip levels: level k holds 2048 >> k harmonics, alias-free while inc <= 2**k / 4096
WT_TOP_HARMONICS = 2048
WT_MIN_SIZE = 2048
WT_OVERSIZE = 16  # table points per harmonic: keeps cubic-interpolation images below -100 dB
TWO_PI = 2.0 * math.pi
_U53 = 1.0 / 9007199254740992.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


# -- tables (control side: numpy) ----------------------------------------------------------------------
def make_blep_tables(cutoff: float = 0.45, beta: float = 9.0) -> tuple[np.ndarray, np.ndarray, float]:
    """``(step, ramp, tau)``: BLEP and BLAMP residual tables over ``0..BLEP_SAMPLES`` samples at
    ``BLEP_OVERSAMPLE`` points per sample (``BLEP_SAMPLES * BLEP_OVERSAMPLE + 1`` points, zero at the end),
    and the kernel's group delay ``tau`` in samples.

    ``step[j] = S(j / O) - 1`` where ``S`` is the band-limited unit step; ``ramp[j] = R(j / O)`` with
    ``R(d) = integral over s > d of h(s) (s - d) ds``, the correction for a unit slope change.
    """
    o = BLEP_OVERSAMPLE
    m = BLEP_SAMPLES * o
    t = (np.arange(m) - (m - 1) / 2.0) / o
    proto = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * np.kaiser(m, beta)
    # minimum phase by the folded real cepstrum; a long FFT keeps cepstral aliasing negligible
    nfft = 1 << 18
    mag = np.abs(np.fft.rfft(proto, nfft))
    cep = np.fft.irfft(np.log(np.maximum(mag, 1e-14 * mag.max())), nfft)
    fold = np.zeros(nfft)
    fold[0] = cep[0]
    fold[1 : nfft // 2] = 2.0 * cep[1 : nfft // 2]
    fold[nfft // 2] = cep[nfft // 2]
    h = np.fft.irfft(np.exp(np.fft.rfft(fold)), nfft)[:m]
    h *= np.concatenate([np.ones(m - o), 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, o))])  # soft end
    w = h / h.sum()
    step = np.empty(m + 1)
    step[:m] = np.cumsum(w) - 0.5 * w - 1.0  # S at the point: half of the point's own weight counts
    step[m] = 0.0
    idx = np.arange(m, dtype=np.float64)
    tail_w = np.cumsum(w[::-1])[::-1]
    tail_wm = np.cumsum((w * idx)[::-1])[::-1]
    ramp = np.zeros(m + 1)
    ramp[:m] = (tail_wm - idx * tail_w) / o
    tau = float(ramp[0])
    return step, ramp, tau


def make_sine_table(size: int = SINE_TABLE_SIZE) -> np.ndarray:
    """``sin(2 pi k / size)`` for ``k = 0..size`` (one guard point for interpolation)."""
    return np.sin(2.0 * np.pi * np.arange(size + 1) / size)


def make_wavetable(cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mip levels of one single-cycle waveform: ``(flat, offsets, sizes)``.

    Level ``k`` keeps harmonics ``1 .. 2048 >> k`` of ``cycle`` (by FFT; DC removed, the source's scale
    kept) in a table of ``max(2048, 16 * harmonics)`` points, stored in ``flat`` from ``offsets[k]`` with
    one guard point before and two after for cubic interpolation.
    """
    src = np.asarray(cycle, dtype=np.float64).ravel()
    if src.size < 4 or not np.all(np.isfinite(src)):
        raise ValueError(f"a wavetable cycle needs at least 4 finite samples, got {src.size}")
    spec = np.fft.rfft(src) / src.size
    avail = src.size // 2 - (1 if src.size % 2 == 0 else 0)  # no Nyquist bin: it has no phase
    sizes = np.zeros(WT_LEVELS, dtype=np.int64)
    offsets = np.zeros(WT_LEVELS, dtype=np.int64)
    tables = []
    pos = 0
    for k in range(WT_LEVELS):
        harmonics = min(WT_TOP_HARMONICS >> k, avail)
        size = max(WT_MIN_SIZE, WT_OVERSIZE * (WT_TOP_HARMONICS >> k))
        full = np.zeros(size // 2 + 1, dtype=np.complex128)
        full[1 : harmonics + 1] = spec[1 : harmonics + 1] * size
        table = np.fft.irfft(full, size)
        tables.append(np.concatenate([table[-1:], table, table[:2]]))
        sizes[k] = size
        offsets[k] = pos + 1
        pos += size + 3
    return np.concatenate(tables), offsets, sizes


def new_osc_state() -> tuple[np.ndarray, np.ndarray]:
    """``(state, ring)`` for :func:`osc_fill`: phase 0, nothing output yet, an empty BLEP ring."""
    state = np.zeros(NUM_STATE, dtype=np.float64)
    state[S_PW] = 0.5
    state[S_WAVE] = -1.0
    return state, np.zeros(BLEP_SAMPLES, dtype=np.float64)


# -- noise --------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _next_white(rng):
    # splitmix64: a full-period 64-bit sequence; uniform in [-1, 1)
    s = rng[0] + _GOLDEN
    rng[0] = s
    return 2.0 * float(_mix64(s) >> np.uint64(11)) * _U53 - 1.0


@njit(cache=True, nogil=True)
def hash_uniform(seed, index):
    """A uniform value in [-1, 1) that depends only on ``(seed, index)`` (integers): random per cycle
    without state, so a value is the same however the blocks fall."""
    z = np.uint64(seed) * _GOLDEN + np.uint64(index) + _GOLDEN
    return 2.0 * float(_mix64(_mix64(z)) >> np.uint64(11)) * _U53 - 1.0


@njit(cache=True, nogil=True)
def white_fill(out, start, stop, rng):
    """Uniform white noise in [-1, 1) into ``out[start:stop]``; ``rng`` is a uint64 array of one seed."""
    for i in range(start, stop):
        out[i] = _next_white(rng)


@njit(cache=True, nogil=True)
def _next_pink(rng, b):
    # Paul Kellet's refined pink filter (within 0.05 dB of -3 dB/octave above 9.2 Hz at 44.1 kHz)
    w = _next_white(rng)
    b[0] = 0.99886 * b[0] + w * 0.0555179
    b[1] = 0.99332 * b[1] + w * 0.0750759
    b[2] = 0.96900 * b[2] + w * 0.1538520
    b[3] = 0.86650 * b[3] + w * 0.3104856
    b[4] = 0.55000 * b[4] + w * 0.5329522
    b[5] = -0.7616 * b[5] - w * 0.0168980
    y = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362
    b[6] = w * 0.115926
    return y * 0.11


@njit(cache=True, nogil=True)
def pink_fill(out, start, stop, rng, b):
    """Pink noise (about -3 dB/octave, peak about 1) into ``out[start:stop]``; ``b`` is 7 float64 filter
    states."""
    for i in range(start, stop):
        out[i] = _next_pink(rng, b)


# -- band-limited periodic waveforms ---------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _table_at(table, d):
    # linear interpolation of a residual table at distance d (samples) after the event; 0 past the end
    x = d * BLEP_OVERSAMPLE
    j = int(x)
    if j >= table.shape[0] - 1:
        return 0.0
    return table[j] + (x - j) * (table[j + 1] - table[j])


@njit(cache=True, nogil=True)
def _add_residual(ring, pos, table, d, amount):
    # the event lies d (0 < d <= 1) samples before the sample at ring[pos]; spread its correction forward
    mask = ring.shape[0] - 1
    for m in range(BLEP_SAMPLES):
        v = _table_at(table, d + m)
        ring[(pos + m) & mask] += amount * v


@njit(cache=True, nogil=True)
def _naive(wave, p, inc, pw, tau, sine_table):
    # the naive waveform minus tau times its slope (the band-limited part lags by tau samples)
    if wave == WAVE_SAW:
        q = p + 0.5
        if q >= 1.0:
            q -= 1.0
        return 2.0 * q - 1.0 - tau * 2.0 * inc
    if wave == WAVE_SQUARE:
        return 1.0 if p < pw else -1.0
    if wave == WAVE_TRIANGLE:
        if p < 0.25:
            return 4.0 * p - tau * 4.0 * inc
        if p < 0.75:
            return 2.0 - 4.0 * p + tau * 4.0 * inc
        return 4.0 * p - 4.0 - tau * 4.0 * inc
    size = sine_table.shape[0] - 1
    x = p * size
    j = min(int(x), size - 1)  # p a hair below 1 can round up to the guard point
    return sine_table[j] + (x - j) * (sine_table[j + 1] - sine_table[j])


@njit(cache=True, nogil=True)
def _slope(wave, p, inc):
    # slope per sample of the naive saw and triangle (the pulse is flat; the sine is not BLEP-corrected)
    if wave == WAVE_SAW:
        return 2.0 * inc
    if wave == WAVE_TRIANGLE:
        return -4.0 * inc if 0.25 <= p < 0.75 else 4.0 * inc
    return 0.0


@njit(cache=True, nogil=True)
def _periodic(wave, p, inc, pw, tau, sine_table, wt_flat, wt_offsets, wt_sizes):
    if wave == WAVE_TABLE:
        return _wavetable(p, inc, wt_flat, wt_offsets, wt_sizes)
    return _naive(wave, p, inc, pw, tau, sine_table)


@njit(cache=True, nogil=True)
def _pulse_edges(ring, pos, step, t0, t1, g0, g1):
    # g = phase - pulse width moves linearly from g0 (time t0) to g1 (t1) inside the sample interval;
    # the pulse is high while g < 0. A sign change is an edge at the linear crossing.
    if (g0 < 0.0) != (g1 < 0.0):
        tc = t0 + (t1 - t0) * g0 / (g0 - g1)
        _add_residual(ring, pos, step, 1.0 - tc, -2.0 if g0 < 0.0 else 2.0)


@njit(cache=True, nogil=True)
def _events(wave, a, inc, pw0, pw1, ring, pos, step, ramp):
    # discontinuities between the previous sample (phase a, increment inc, width pw0) and this one
    b = a + inc
    if wave == WAVE_SAW:
        if a < 0.5 <= b:
            _add_residual(ring, pos, step, 1.0 - (0.5 - a) / inc, -2.0)
    elif wave == WAVE_SQUARE:
        dw = pw1 - pw0
        if b >= 1.0:
            tw = (1.0 - a) / inc
            pww = pw0 + dw * tw
            _pulse_edges(ring, pos, step, 0.0, tw, a - pw0, 1.0 - pww)
            _add_residual(ring, pos, step, 1.0 - tw, 2.0)  # the wrap: always a rising edge
            _pulse_edges(ring, pos, step, tw, 1.0, -pww, b - 1.0 - pw1)
        else:
            _pulse_edges(ring, pos, step, 0.0, 1.0, a - pw0, b - pw1)
    elif wave == WAVE_TRIANGLE:
        ds = 8.0 * inc
        if a < 0.25 <= b:
            _add_residual(ring, pos, ramp, 1.0 - (0.25 - a) / inc, -ds)
        elif a < 0.75 <= b:
            _add_residual(ring, pos, ramp, 1.0 - (0.75 - a) / inc, ds)
        elif a < 1.25 <= b:
            _add_residual(ring, pos, ramp, 1.0 - (1.25 - a) / inc, -ds)


@njit(cache=True, nogil=True)
def _cubic(flat, base, size, p):
    # 4-point Lagrange interpolation at phase p of the table of `size` points starting at flat[base]
    # (one guard point before it, two after)
    x = p * size
    j = int(x)
    t = x - j
    if j >= size:  # p a hair below 1 can round up to the end
        j -= size
    k = base + j
    ym1 = flat[k - 1]
    y0 = flat[k]
    y1 = flat[k + 1]
    y2 = flat[k + 2]
    tm1 = t - 1.0
    tm2 = t - 2.0
    tp1 = t + 1.0
    return (
        -t * tm1 * tm2 * (1.0 / 6.0) * ym1
        + tp1 * tm1 * tm2 * 0.5 * y0
        - tp1 * t * tm2 * 0.5 * y1
        + tp1 * t * tm1 * (1.0 / 6.0) * y2
    )


@njit(cache=True, nogil=True)
def _wavetable(p, inc, flat, offsets, sizes):
    # level k is alias-free while x = log2(inc * 4096) <= k; fade toward the next (duller) level across
    # the octave below that limit so the timbre moves smoothly with the pitch
    x = math.log2(max(inc, 1e-12) * 4096.0)
    k = max(0, math.ceil(x))
    top = offsets.shape[0] - 1
    if k >= top:
        return _cubic(flat, offsets[top], sizes[top], p)
    f = min(max(x - (k - 1), 0.0), 1.0)
    lo = _cubic(flat, offsets[k], sizes[k], p)
    if f == 0.0:
        return lo
    hi = _cubic(flat, offsets[k + 1], sizes[k + 1], p)
    return lo + f * (hi - lo)


@njit(cache=True, nogil=True)
def osc_fill(
    out, start, stop, waveform, inc, pulse_width, state, ring, step, ramp, tau, sine_table,
    wt_flat, wt_offsets, wt_sizes, rng, pink,
):  # fmt: skip
    """One oscillator into ``out[start:stop]``.

    ``waveform``, ``inc`` (cycles per sample, clamped to 0..MAX_INC) and ``pulse_width`` (clamped to
    0.01..0.99) are per-sample arrays indexed like ``out``. ``state``/``ring`` come from
    :func:`new_osc_state`; ``step``, ``ramp``, ``tau`` from :func:`make_blep_tables`; ``sine_table`` from
    :func:`make_sine_table`; ``wt_*`` from :func:`make_wavetable`; ``rng`` (uint64, one seed) and ``pink``
    (7 float64) drive the noises. A waveform switch is smoothed by a band-limited step.
    """
    mask = ring.shape[0] - 1
    pos = int(state[S_POS])
    for i in range(start, stop):
        wave = int(waveform[i])
        di = min(max(inc[i], 0.0), MAX_INC)
        pw = min(max(pulse_width[i], MIN_PW), MAX_PW)
        prev_wave = int(state[S_WAVE])
        if state[S_STARTED] != 0.0:
            a = state[S_PHASE]
            pinc = state[S_INC]
            if prev_wave == wave:
                _events(wave, a, pinc, state[S_PW], pw, ring, pos, step, ramp)
            p = a + pinc
            if p >= 1.0:
                p -= 1.0
        else:
            p = state[S_PHASE]
            state[S_STARTED] = 1.0
            if wave <= WAVE_TRIANGLE:
                # the start from silence is band-limited too: a step to the value and a corner to the slope
                s = _slope(wave, p, di)
                v = _periodic(wave, p, di, pw, tau, sine_table, wt_flat, wt_offsets, wt_sizes) + tau * s
                _add_residual(ring, pos, step, 0.0, v)
                _add_residual(ring, pos, ramp, 0.0, s)
        if wave == WAVE_WHITE:
            y = _next_white(rng)
        elif wave == WAVE_PINK:
            y = _next_pink(rng, pink)
        else:
            y = _periodic(wave, p, di, pw, tau, sine_table, wt_flat, wt_offsets, wt_sizes)
        if prev_wave != wave and 0 <= prev_wave <= WAVE_TABLE and wave <= WAVE_TABLE:
            # a switch between periodic waveforms: band-limit the jump as a step at this sample
            was = _periodic(prev_wave, p, di, pw, tau, sine_table, wt_flat, wt_offsets, wt_sizes)
            _add_residual(ring, pos, step, 0.0, y - was)
        out[i] = y + ring[pos]
        ring[pos] = 0.0
        pos = (pos + 1) & mask
        state[S_PHASE] = p
        state[S_INC] = di
        state[S_PW] = pw
        state[S_WAVE] = wave
    state[S_POS] = pos


@njit(cache=True, nogil=True)
def write_channels(mono, start, stop, gain_db, constant, out):
    """``out[c, start:stop] = mono * 10 ** (gain_db / 20)`` for every channel; at or below -96 dB silence.
    ``gain_db`` is per sample unless ``constant`` (then its first value is used)."""
    chans = out.shape[0]
    g = 0.0 if gain_db[0] <= -96.0 else 10.0 ** (gain_db[0] / 20.0)
    for i in range(start, stop):
        if not constant:
            g = 0.0 if gain_db[i] <= -96.0 else 10.0 ** (gain_db[i] / 20.0)
        v = mono[i] * g
        for c in range(chans):
            out[c, i] = v


# -- LFO -------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def lfo_shape_value(shape, cycle, frac, seed):
    """The bipolar (-1..1) value of an LFO shape at ``frac`` (0..1) of cycle number ``cycle``.

    Sine ``sin(2 pi f)``; triangle rising from 0 (peak at 0.25); saws ``2f - 1`` and ``1 - 2f``; square
    +1 for the first half; sample & hold one :func:`hash_uniform` value per cycle; smooth random a
    raised-cosine glide from this cycle's value to the next one's."""
    if shape == LFO_SINE:
        return math.sin(TWO_PI * frac)
    if shape == LFO_TRIANGLE:
        q = frac + 0.25
        if q >= 1.0:
            q -= 1.0
        return 1.0 - 4.0 * abs(q - 0.5)
    if shape == LFO_SAW_UP:
        return 2.0 * frac - 1.0
    if shape == LFO_SAW_DOWN:
        return 1.0 - 2.0 * frac
    if shape == LFO_SQUARE:
        return 1.0 if frac < 0.5 else -1.0
    a = hash_uniform(seed, cycle)
    if shape == LFO_SAMPLE_HOLD:
        return a
    b = hash_uniform(seed, cycle + 1)
    return a + (b - a) * (0.5 - 0.5 * math.cos(math.pi * frac))


@njit(cache=True, nogil=True)
def lfo_fill(
    out, start, stop, shape, rate_hz, sync, rate_beats, offset_cycles, unipolar, depth, beats, playing,
    beats_per_sample, sample_rate, state, seed,
):  # fmt: skip
    """One LFO into ``out[start:stop]``; every control is a per-sample array indexed like ``out``.

    Free (``sync < 0.5``): the phase advances ``rate_hz / sample_rate`` per sample. Synced while
    ``playing``: phase ``(beats[i] - anchor) / rate_beats[i]`` (``beats`` from :func:`timeline_beats`), so
    it is locked to the timeline. Synced while stopped: it runs on at ``beats_per_sample / rate_beats``.
    The output is ``depth * v`` (bipolar) or ``depth * (v + 1) / 2`` (``unipolar >= 0.5``) with ``v`` from
    :func:`lfo_shape_value` at the phase plus ``offset_cycles``.

    ``state`` (3 float64): phase in the cycle of the next free-running sample, its cycle count, and the
    anchor beat (0, or the beat of the last retrigger). Retrigger by setting ``state[:2] = 0`` and, while
    playing, ``state[2]`` to the beat of the retrigger sample.
    """
    for i in range(start, stop):
        synced = sync[i] >= 0.5
        if synced and playing:
            total = (beats[i] - state[2]) / rate_beats[i]
            cyc = float(math.floor(total))
            base = total - cyc
            nxt = base + beats_per_sample / rate_beats[i]
            wrap = float(math.floor(nxt))
            state[0] = nxt - wrap
            state[1] = cyc + wrap
        else:
            base = state[0]
            cyc = state[1]
            d = beats_per_sample / rate_beats[i] if synced else rate_hz[i] / sample_rate
            nxt = base + d
            wrap = float(math.floor(nxt))
            state[0] = nxt - wrap
            state[1] = cyc + wrap
        ph = base + offset_cycles[i]
        whole = float(math.floor(ph))
        v = lfo_shape_value(int(shape[i]), np.int64(cyc + whole), ph - whole, seed)
        if unipolar[i] >= 0.5:
            v = 0.5 * (v + 1.0)
        out[i] = depth[i] * v


@njit(cache=True, nogil=True)
def timeline_beats(out, offset, n, start_sample, sample_rate, pt_beats, pt_seconds, pt_bpms, pt_slopes):
    """The beat of timeline samples ``start_sample .. start_sample + n`` into ``out[offset:offset + n]``,
    from a tempo map given as arrays per tempo point (beat, seconds, bpm, slope in bpm per beat): the same
    closed forms as :meth:`engine.tempo.TempoMap.seconds_to_beat`, exact at every sample."""
    k = 0
    last = pt_beats.shape[0] - 1
    for j in range(n):
        s = (start_sample + j) / sample_rate
        while k > 0 and s < pt_seconds[k]:
            k -= 1
        while k < last and s >= pt_seconds[k + 1]:
            k += 1
        ds = s - pt_seconds[k]
        if ds < 0.0 or pt_slopes[k] == 0.0:
            out[offset + j] = pt_beats[k] + ds * pt_bpms[k] / 60.0
        else:
            out[offset + j] = pt_beats[k] + pt_bpms[k] * math.expm1(pt_slopes[k] * ds / 60.0) / pt_slopes[k]


@njit(cache=True, nogil=True)
def linear_beats(out, offset, n, start_sample, ref_sample, ref_beat, beats_per_sample):
    """Beats at a constant tempo: ``ref_beat + (t - ref_sample) * beats_per_sample`` for the timeline
    samples ``t = start_sample .. start_sample + n`` into ``out[offset:offset + n]``."""
    for j in range(n):
        out[offset + j] = ref_beat + (start_sample + j - ref_sample) * beats_per_sample
