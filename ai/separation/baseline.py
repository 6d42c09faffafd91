"""A non-learned 4-stem separator (drums, bass, lead, other), the reference the trained model must beat.

Three steps on the magnitude STFT of a mono mix, each a soft mask, the four masks summing to one in
every bin (so the four estimates sum back to the mix):

1. Harmonic/percussive separation by median filtering (Fitzgerald 2010, "Harmonic/percussive
   separation using median filtering"): a median along time keeps what is steady in pitch, a median
   along frequency what is broadband and short; Wiener-like soft masks (power 2) split every bin.
   The percussive part is ``drums``.
2. The harmonic part below a crossover (:data:`BASS_CUTOFF_HZ`, a Butterworth-shaped magnitude in
   frequency of order :data:`BASS_ORDER`) is ``bass``.
3. The harmonic part above it is split by the predominant pitch: in every frame a harmonic-summation
   salience over candidate f0s in the melody's register (:data:`LEAD_RANGE_HZ`, 10-cent steps) picks the
   strongest pitch, smoothed by a median over a few frames; a comb of soft peaks at its harmonics (a
   Gaussian a quarter-tone wide) is the ``lead`` mask where the frame is voiced (the comb holds at least
   :data:`VOICING_RATIO` of the frame's energy), and the rest is ``other``. This is the classic
   "melody tracking + harmonic masking" separator (Durrieu et al., Salamon's melody extraction), cut
   down to numpy and scipy.

Parameters were chosen on 18 songs of the *training* split (never the test split): the crossover,
its order, the comb width; the others (voicing, HPSS kernels, mask power) changed little there.
Call :func:`separate_baseline`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import istft, stft

from ai.separation.errors import AudioInputError

__all__ = [
    "BASS_CUTOFF_HZ",
    "LEAD_RANGE_HZ",
    "STEMS",
    "VOICING_RATIO",
    "separate_baseline",
]

STEMS = ("drums", "bass", "lead", "other")
FRAME_SECONDS = 2048 / 22050  # ~93 ms: 2048 samples at 22.05 kHz
HOP_FRACTION = 4  # hop = frame / 4
HPSS_TIME_SECONDS = 0.4  # median along time over ~0.4 s (17 frames at 22.05 kHz)
HPSS_FREQ_HZ = 180.0  # median along frequency over ~180 Hz (17 bins at 22.05 kHz)
MASK_POWER = 2.0  # Wiener-like soft masks
BASS_CUTOFF_HZ = 180.0  # 150, 180, 220, 280 tried on the training split: 180 kept the most lead
BASS_ORDER = 8
LEAD_RANGE_HZ = (160.0, 1100.0)  # the melody's register (C4..G5, an octave lower for high keys) with room
CENTS_STEP = 10.0
HARMONICS = 10
HARMONIC_WEIGHT = 0.85  # the weight of harmonic h is HARMONIC_WEIGHT ** (h - 1)
COMB_WIDTH_CENTS = 50.0  # the Gaussian's standard deviation around each harmonic
PITCH_SMOOTH_FRAMES = 5
VOICING_RATIO = 0.25
EPS = 1e-10


def _check(mix: np.ndarray, sr: int) -> np.ndarray:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 8000 <= sr <= 192000:
        raise AudioInputError(f"sample rate must be a whole number of Hz in 8000..192000, got {sr!r}")
    x = np.asarray(mix)
    if x.ndim != 1:
        raise AudioInputError(f"mix must be mono, shaped (frames,), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioInputError(f"mix must be float audio, got dtype {x.dtype}")
    if x.size == 0:
        raise AudioInputError("mix is empty")
    if not np.all(np.isfinite(x)):
        raise AudioInputError("mix holds NaN or infinite samples")
    return x.astype(np.float64)


def _soft(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The soft mask of ``a`` against ``b`` (power :data:`MASK_POWER`)."""
    ap, bp = a**MASK_POWER, b**MASK_POWER
    return (ap + EPS / 2) / (ap + bp + EPS)


def _lead_mask(mag: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """The soft comb mask of the predominant pitch in ``mag`` (bins x frames), 0 in unvoiced frames."""
    lo, hi = LEAD_RANGE_HZ
    n_f0 = int(np.floor(1200 * np.log2(hi / lo) / CENTS_STEP)) + 1
    f0s = lo * 2.0 ** (np.arange(n_f0) * CENTS_STEP / 1200)
    df = freqs[1] - freqs[0]
    # harmonic summation: salience[f0, t] = sum_h w^(h-1) |X(h f0, t)|, linearly interpolated between bins
    salience = np.zeros((n_f0, mag.shape[1]))
    for h in range(1, HARMONICS + 1):
        pos = h * f0s / df
        ok = pos < len(freqs) - 1
        i = np.floor(pos[ok]).astype(int)
        frac = (pos[ok] - i)[:, None]
        salience[ok] += HARMONIC_WEIGHT ** (h - 1) * ((1 - frac) * mag[i] + frac * mag[i + 1])
    best = np.argmax(salience, axis=0)
    cents = median_filter(best.astype(np.float64) * CENTS_STEP, size=PITCH_SMOOTH_FRAMES, mode="nearest")
    f0 = lo * 2.0 ** (cents / 1200)  # per frame
    # the comb: a Gaussian in cents around each harmonic, the nearest harmonic deciding each bin
    safe = np.maximum(freqs, df / 2)[:, None]
    ratio = safe / f0[None, :]
    h = np.clip(np.round(ratio), 1, HARMONICS)
    dist = 1200 * np.log2(ratio / h)
    comb = np.exp(-0.5 * (dist / COMB_WIDTH_CENTS) ** 2)
    comb[freqs < 0.75 * lo] = 0.0
    # voiced where the comb holds enough of the frame's energy
    power = mag**2
    held = (comb * power).sum(axis=0) / (power.sum(axis=0) + EPS)
    voiced = median_filter((held >= VOICING_RATIO).astype(np.float64), size=PITCH_SMOOTH_FRAMES)
    return comb * voiced[None, :]


def separate_baseline(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Split mono ``mix`` (float samples, shaped (frames,), at ``sr`` Hz) into ``drums``, ``bass``,
    ``lead`` and ``other``, each float32 of the input's length; they sum to the mix (within rounding).
    AudioInputError (a ValueError) names a bad input (wrong shape, NaN, an empty mix, a bad rate)."""
    x = _check(mix, sr)
    n_fft = int(2 ** round(np.log2(FRAME_SECONDS * sr)))
    hop = n_fft // HOP_FRACTION
    n = x.shape[0]
    padded = np.pad(x, (0, max(0, n_fft - n)))
    freqs, _, spec = stft(padded, sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop)
    mag = np.abs(spec)
    frames_t = max(3, round(HPSS_TIME_SECONDS * sr / hop) | 1)
    bins_f = max(3, round(HPSS_FREQ_HZ / (sr / n_fft)) | 1)
    harm = median_filter(mag, size=(1, frames_t), mode="nearest")
    perc = median_filter(mag, size=(bins_f, 1), mode="nearest")
    m_perc = _soft(perc, harm)
    m_harm = 1.0 - m_perc
    low = (1.0 / np.sqrt(1.0 + (freqs / BASS_CUTOFF_HZ) ** (2 * BASS_ORDER)))[:, None]
    m_bass = m_harm * low
    upper = m_harm * (1.0 - low)
    m_lead = upper * _lead_mask(mag * upper, freqs)
    masks = {"drums": m_perc, "bass": m_bass, "lead": m_lead, "other": upper - m_lead}
    out = {}
    for stem in STEMS:
        _, y = istft(spec * masks[stem], sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop)
        y = y[:n]
        if y.shape[0] < n:
            y = np.pad(y, (0, n - y.shape[0]))
        out[stem] = y.astype(np.float32)
    return out
