"""The oscillator's waveform codes, state layout and limits, and the tables it reads (control side: numpy).

:func:`make_blep_tables` builds the BLEP and BLAMP residuals of the band-limiting kernel,
:func:`make_sine_table` the sine, :func:`make_wavetable` the mip levels of a single-cycle waveform;
:func:`new_osc_state` makes the state :func:`~dsp.kernels.osc.oscillator.osc_fill` carries from one span
to the next. The constants are plain numbers, which numba freezes into every kernel that reads them when it
compiles it (see the note on the cache in :mod:`dsp.kernels.osc`).
"""

from __future__ import annotations

import numpy as np

# waveforms (the first four as in dsp.kernels.synth)
WAVE_SAW = 0
WAVE_SQUARE = 1  # pulse; a square at pulse width 0.5
WAVE_TRIANGLE = 2
WAVE_SINE = 3
WAVE_TABLE = 4
WAVE_WHITE = 5
WAVE_PINK = 6
NUM_WAVEFORMS = 7

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
