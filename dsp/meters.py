"""Meters: a BS.1770-4 / EBU R 128 loudness meter, a peak and RMS meter, and offline loudness functions.

Both meters pass their audio through untouched (in place) and are read on the control side:
:class:`LoudnessMeter` with :meth:`~LoudnessMeter.integrated_lufs`, :meth:`~LoudnessMeter.momentary_lufs`,
:meth:`~LoudnessMeter.short_term_lufs`, :meth:`~LoudnessMeter.loudness_range_lu` and
:meth:`~LoudnessMeter.true_peak_dbtp`; :class:`PeakRmsMeter` with :meth:`~PeakRmsMeter.peak_dbfs`,
:meth:`~PeakRmsMeter.rms_dbfs` and :meth:`~PeakRmsMeter.max_peak_dbfs`. Readings are whatever the audio
side last wrote (a reading taken mid-block may mix two blocks; meters tolerate that). For a finished
signal call :func:`integrated_loudness` or :func:`loudness_range`. The kernels are
:mod:`dsp.kernels.loudness`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dsp.kernels.loudness import (
    ABS_GATE_LUFS,
    HIST_BINS,
    HIST_MIN_LUFS,
    HIST_STEP_LU,
    LUFS_OFFSET,
    M_MAX_MOMENTARY,
    M_MAX_SHORT,
    M_MOMENTARY,
    M_SHORT,
    M_STEPS,
    M_TRUE_PEAK,
    NUM_M,
    REL_GATE_LU,
    SHORT_STEPS,
    STEPS_PER_BLOCK,
    default_channel_weights,
    k_weighting_coefficients,
    loudness_process,
    new_peak_rms_state,
    peak_rms_process,
    step_energies,
    true_peak_coefficients,
)
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["LRA_REL_GATE_LU", "LoudnessMeter", "PeakRmsMeter", "integrated_loudness", "loudness_range"]

LRA_REL_GATE_LU = -20.0  # EBU Tech 3342
_LRA_LOW, _LRA_HIGH = 10.0, 95.0  # percentiles of the gated short-term distribution


def _lufs(energy: float) -> float:
    return LUFS_OFFSET + 10.0 * math.log10(energy) if energy > 0.0 else -math.inf


def _db(level: float) -> float:
    return 20.0 * math.log10(level) if level > 0.0 else -math.inf


def _step_samples(sample_rate: float) -> int:
    return max(1, round(0.1 * sample_rate))


def _weights(channels: int, channel_weights: Sequence[float] | None) -> np.ndarray:
    if channel_weights is None:
        return default_channel_weights(channels)
    w = np.asarray(channel_weights, dtype=np.float64)
    if w.shape != (channels,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(
            f"channel_weights must be {channels} finite values >= 0, got {list(channel_weights)}"
        )
    return w


def _as_channels(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim == 1:
        return x[None, :]
    if x.ndim != 2:
        raise ValueError(f"audio must be (frames,) or (channels, frames), got shape {x.shape}")
    if x.shape[0] > 64 and x.shape[1] <= 64:
        raise ValueError(f"audio of shape {x.shape} looks like (frames, channels); pass (channels, frames)")
    return x


def _block_energies(
    audio: np.ndarray, sample_rate: float, channel_weights: Sequence[float] | None, steps: int
):
    x = _as_channels(audio)
    w = _weights(x.shape[0], channel_weights)
    step = _step_samples(sample_rate)
    coefs = k_weighting_coefficients(sample_rate)
    filt = np.zeros((x.shape[0], 4), dtype=np.float64)
    e = np.zeros(x.shape[1] // step, dtype=np.float64)
    m = step_energies(x, coefs, w, step, filt, e)
    if m < steps:
        return np.zeros(0)
    # mean over each window of `steps` consecutive 100 ms steps
    c = np.concatenate([[0.0], np.cumsum(e[:m])])
    return (c[steps:] - c[:-steps]) / steps


def integrated_loudness(
    audio: np.ndarray, sample_rate: float, channel_weights: Sequence[float] | None = None
) -> float:
    """Gated integrated loudness in LUFS of ``audio`` (``(channels, frames)`` or mono ``(frames,)``),
    BS.1770-4: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU. ``-inf`` when no
    block passes the gates (silence, or under 400 ms of audio). Default weights: see
    :func:`dsp.kernels.loudness.default_channel_weights`."""
    z = _block_energies(audio, sample_rate, channel_weights, STEPS_PER_BLOCK)
    with np.errstate(divide="ignore"):
        lj = LUFS_OFFSET + 10.0 * np.log10(z)
    kept = z[lj >= ABS_GATE_LUFS]
    if kept.size == 0:
        return -math.inf
    gate = _lufs(float(kept.mean())) + REL_GATE_LU
    kept = z[(lj >= ABS_GATE_LUFS) & (lj > gate)]
    return _lufs(float(kept.mean()))


def loudness_range(
    audio: np.ndarray, sample_rate: float, channel_weights: Sequence[float] | None = None
) -> float:
    """Loudness range in LU (EBU Tech 3342): the spread between the 10th and 95th percentiles of the 3 s
    short-term loudness (every 100 ms) after an absolute gate of -70 LUFS and a relative gate of -20 LU.
    NaN when no short-term value passes the gates."""
    z = _block_energies(audio, sample_rate, channel_weights, SHORT_STEPS)
    with np.errstate(divide="ignore"):
        st = LUFS_OFFSET + 10.0 * np.log10(z)
    st = st[st >= ABS_GATE_LUFS]
    if st.size == 0:
        return math.nan
    gate = 10.0 * math.log10(float(np.mean(10.0 ** (st / 10.0)))) + LRA_REL_GATE_LU
    st = st[st >= gate]
    lo, hi = np.percentile(st, [_LRA_LOW, _LRA_HIGH])
    return float(hi - lo)


def _hist_percentile(counts: np.ndarray, q: float) -> float:
    # np.percentile's linear rule over values known to 0.01 LU (each value taken as its bin's centre)
    total = int(counts.sum())
    rank = q / 100.0 * (total - 1)
    lo = math.floor(rank)
    frac = rank - lo
    cum = np.cumsum(counts)
    b_lo = int(np.searchsorted(cum, lo + 1))
    b_hi = int(np.searchsorted(cum, min(lo + 2, total)))
    v_lo = HIST_MIN_LUFS + (b_lo + 0.5) * HIST_STEP_LU
    v_hi = HIST_MIN_LUFS + (b_hi + 0.5) * HIST_STEP_LU
    return v_lo + frac * (v_hi - v_lo)


class LoudnessMeter(Processor):
    """A BS.1770-4 loudness meter with EBU R 128 readouts; audio passes through unchanged.

    Fixed memory for any duration: 400 ms block loudness and 3 s short-term loudness go into histograms
    of 0.01 LU bins (-70..+30 LUFS) with exact energy sums per bin. Momentary and short-term values update
    every 100 ms of input; before the first 400 ms (3 s) the missing time counts as silence. The true peak
    is measured 4x oversampled. Counting starts at :meth:`reset` (or ``prepare``), independent of the
    transport. No parameters.
    """

    in_place = True

    def __init__(self, channels: int = 2, channel_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.channels = int(channels)
        self.audio_inputs = (AudioPort("in", self.channels),)
        self.audio_outputs = (AudioPort("out", self.channels),)
        self.weights = _weights(self.channels, channel_weights)
        self._tp_coefs = true_peak_coefficients()
        self._meter = np.zeros(NUM_M, dtype=np.float64)
        self._ring = np.zeros(SHORT_STEPS, dtype=np.float64)
        self._hist_count = np.zeros(HIST_BINS, dtype=np.int64)
        self._hist_energy = np.zeros(HIST_BINS, dtype=np.float64)
        self._st_count = np.zeros(HIST_BINS, dtype=np.int64)
        self._st_energy = np.zeros(HIST_BINS, dtype=np.float64)
        self._filt = np.zeros((self.channels, 4), dtype=np.float64)
        self._tp_hist = np.zeros((self.channels, 2 * self._tp_coefs.shape[1]), dtype=np.float64)
        self._coefs = k_weighting_coefficients(48000.0)
        self._step = _step_samples(48000.0)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Design the K-weighting for ``sample_rate`` and start a new measurement."""
        super().prepare(sample_rate, max_block_size)
        self._coefs = k_weighting_coefficients(sample_rate)
        self._step = _step_samples(sample_rate)
        self.reset()

    def reset(self) -> None:
        """Start a new measurement: all readings back to -inf."""
        super().reset()
        for a in (self._meter, self._ring, self._hist_energy, self._st_energy, self._filt, self._tp_hist):
            a.fill(0.0)
        self._hist_count.fill(0)
        self._st_count.fill(0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        x = audio_in[0]
        if x.shape[0] != self.channels or x.shape[1] < n:
            # the kernel does not check bounds: refuse rather than read past the buffers
            raise ValueError(f"expected {self.channels} channels of {n} frames, got shape {x.shape}")
        loudness_process(
            x, n, self._coefs, self.weights, self._step, self._filt, self._meter, self._ring,
            self._hist_count, self._hist_energy, self._st_count, self._st_energy, self._tp_coefs,
            self._tp_hist,
        )  # fmt: skip
        out = audio_out[0]
        if out is not x:
            out[:, :n] = x[:, :n]

    # -- readouts (control side) ------------------------------------------------------------------------
    def momentary_lufs(self) -> float:
        """Loudness of the last 400 ms (updated every 100 ms); -inf before any."""
        return _lufs(float(self._meter[M_MOMENTARY]))

    def short_term_lufs(self) -> float:
        """Loudness of the last 3 s (updated every 100 ms); -inf before any."""
        return _lufs(float(self._meter[M_SHORT]))

    def max_momentary_lufs(self) -> float:
        """The highest momentary loudness since reset (complete 400 ms blocks only)."""
        return _lufs(float(self._meter[M_MAX_MOMENTARY]))

    def max_short_term_lufs(self) -> float:
        """The highest short-term loudness since reset (complete 3 s windows only)."""
        return _lufs(float(self._meter[M_MAX_SHORT]))

    def integrated_lufs(self) -> float:
        """Gated integrated loudness since reset (absolute gate -70 LUFS, relative -10 LU); -inf when no
        400 ms block passed the gates."""
        counts = self._hist_count
        energy = self._hist_energy
        total = int(counts.sum())
        if total == 0:
            return -math.inf
        gate = _lufs(float(energy.sum()) / total) + REL_GATE_LU
        # a bin counts when its lower edge is at or above the gate, or its mean block is above it
        first = max(0, math.floor((gate - HIST_MIN_LUFS) / HIST_STEP_LU))
        if first >= HIST_BINS:
            return -math.inf
        n0 = int(counts[first])
        if n0 and _lufs(float(energy[first]) / n0) <= gate:
            first += 1
        n = int(counts[first:].sum())
        if n == 0:
            return -math.inf
        return _lufs(float(energy[first:].sum()) / n)

    def loudness_range_lu(self) -> float:
        """Loudness range (EBU Tech 3342) of the short-term values since reset, in LU, to 0.01 LU; NaN
        while no 3 s window passed the gates."""
        counts = self._st_count
        total = int(counts.sum())
        if total == 0:
            return math.nan
        gate = _lufs(float(self._st_energy.sum()) / total) + LRA_REL_GATE_LU
        first = max(0, math.ceil((gate - HIST_MIN_LUFS) / HIST_STEP_LU - 0.5))
        kept = counts.copy()
        kept[:first] = 0
        if kept.sum() == 0:
            return math.nan
        return _hist_percentile(kept, _LRA_HIGH) - _hist_percentile(kept, _LRA_LOW)

    def true_peak_dbtp(self) -> float:
        """The highest 4x-oversampled sample magnitude since reset, in dBTP."""
        return _db(float(self._meter[M_TRUE_PEAK]))

    @property
    def measured_seconds(self) -> float:
        """Input time measured since reset, in completed 100 ms steps."""
        return float(self._meter[M_STEPS]) * self._step / self.sample_rate if self.sample_rate else 0.0


class PeakRmsMeter(Processor):
    """Peak and RMS levels per channel in dBFS; audio passes through unchanged.

    Parameters: ``hold_ms`` (0..10000, default 1500: how long a peak holds), ``release_db_per_s``
    (1..200, default 20: how fast it falls after the hold) and ``rms_window_ms`` (10..3000, default 300:
    time constant of the RMS smoother). Read :meth:`peak_dbfs`, :meth:`rms_dbfs` and
    :meth:`max_peak_dbfs` (arrays, one value per channel; -inf for silence).
    """

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.channels = int(channels)
        self.audio_inputs = (AudioPort("in", self.channels),)
        self.audio_outputs = (AudioPort("out", self.channels),)
        add = self.add_param
        self._hold_ms = add(Parameter("hold_ms", 0.0, 10000.0, 1500.0, "ms"))
        self._release = add(Parameter("release_db_per_s", 1.0, 200.0, 20.0, "dB/s"))
        self._window_ms = add(Parameter("rms_window_ms", 10.0, 3000.0, 300.0, "ms"))
        self._state = new_peak_rms_state(self.channels)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self.reset()

    def reset(self) -> None:
        """All levels back to silence."""
        super().reset()
        self._state.fill(0.0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        x = audio_in[0]
        if x.shape[0] != self.channels or x.shape[1] < n:
            raise ValueError(f"expected {self.channels} channels of {n} frames, got shape {x.shape}")
        hold = self._hold_ms.render(ctx)
        constant = self._hold_ms.is_constant
        release = self._release.render(ctx)
        constant = constant and self._release.is_constant
        window = self._window_ms.render(ctx)
        constant = constant and self._window_ms.is_constant
        peak_rms_process(x, n, hold, release, window, constant, self.sample_rate, self._state)
        out = audio_out[0]
        if out is not x:
            out[:, :n] = x[:, :n]

    # -- readouts (control side) ------------------------------------------------------------------------
    def peak_dbfs(self) -> np.ndarray:
        """The held and released peak level of each channel."""
        return self._to_db(self._state[:, 0], 20.0)

    def rms_dbfs(self) -> np.ndarray:
        """The RMS level of each channel (a full-scale sine reads -3.01 dBFS)."""
        return self._to_db(self._state[:, 2], 10.0)

    def max_peak_dbfs(self) -> np.ndarray:
        """The highest sample magnitude of each channel since reset (the clip indicator)."""
        return self._to_db(self._state[:, 3], 20.0)

    @staticmethod
    def _to_db(values: np.ndarray, scale: float) -> np.ndarray:
        v = np.array(values, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return scale * np.log10(v)
