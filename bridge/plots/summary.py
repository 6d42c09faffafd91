"""The streaming summary of a render that the render picture is drawn from (numpy only, no matplotlib).

:class:`AudioSummary` is a sink that takes the render's blocks as they come and keeps a bounded summary
(peak/RMS envelope and a log-frequency power spectrogram, halving its time resolution whenever it grows
past a fixed size), so a song of any length is drawn without holding its audio. Draw it with
:func:`bridge.plots.render.plot_render`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["AudioSummary"]


class AudioSummary:
    """A sink (``write(block)`` with ``(channels, frames)`` float blocks) that keeps what the picture needs.

    Envelope: min, max and sum of squares per entry of ``_env_len`` frames; spectrogram: Hann-windowed
    power spectra of the mid signal every ``nfft // 2`` frames, averaged into ``rows`` log-spaced bands
    from 20 Hz to Nyquist. When either list passes its cap, neighbours are merged in pairs, so memory
    stays bounded (a few MB) whatever the length. Call :meth:`envelope` and :meth:`spectrogram` after the
    last write.
    """

    ENVELOPE_CAP = 1 << 15
    SPECTRUM_CAP = 1 << 12

    def __init__(self, sample_rate: int, channels: int = 2, rows: int = 256) -> None:
        if sample_rate < 1000:
            raise ValueError(f"sample rate must be >= 1000 Hz, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = 0
        self.nfft = 1 << max(8, math.ceil(math.log2(sample_rate / 12.0)))  # 4096 at 44.1/48 kHz: 12 Hz bins
        self.hop = self.nfft // 2  # Hann windows at half overlap weigh every sample alike
        self.low_hz = 20.0
        self.high_hz = sample_rate / 2.0
        self.band_edges_hz = np.geomspace(self.low_hz, self.high_hz, rows + 1)
        self.rows = rows
        self._band_plan(rows)
        self._window = np.hanning(self.nfft).astype(np.float32)
        self._norm = 1.0 / (float(self._window.sum()) / 2.0) ** 2  # a full-scale sine peaks near 0 dB
        self._env_len = 64
        # envelope entries: start frame, frame count, then (channels, entries) min, max, sum of squares
        self._env: list[tuple[np.ndarray, ...]] = []
        self._env_count = 0
        self._carry = np.zeros((self.channels, 0), np.float32)
        # spectrum frames: centre frame, weight (frames averaged in), (frames, rows) band power
        self._spec: list[tuple[np.ndarray, ...]] = []
        self._spec_count = 0
        self._mid = np.zeros(self.nfft // 2, np.float32)  # frame k is centred on sample k * hop
        self._mid_start = 0  # spectrum frame index of the window starting at self._mid[0]
        self._done = False

    def _band_plan(self, rows: int) -> None:
        """Each band averages the bins inside it; one narrower than a bin interpolates at its centre."""
        bins = self.nfft // 2 + 1
        df = self.sample_rate / self.nfft
        lo = np.ceil(self.band_edges_hz[:-1] / df).astype(np.int64)
        hi = np.minimum(np.ceil(self.band_edges_hz[1:] / df).astype(np.int64), bins)
        self._band_lo, self._band_hi = lo, np.maximum(hi, lo + 1)
        self._band_wide = hi > lo
        pos = np.sqrt(self.band_edges_hz[:-1] * self.band_edges_hz[1:]) / df
        self._band_j = np.minimum(pos.astype(np.int64), bins - 2)
        self._band_frac = (pos - self._band_j).astype(np.float32)

    def _to_bands(self, power: np.ndarray) -> np.ndarray:
        cs = np.zeros((power.shape[0], power.shape[1] + 1), np.float64)
        np.cumsum(power, axis=1, out=cs[:, 1:])
        wide = (cs[:, self._band_hi] - cs[:, self._band_lo]) / (self._band_hi - self._band_lo)
        j, f = self._band_j, self._band_frac
        narrow = power[:, j] * (1.0 - f) + power[:, j + 1] * f
        return np.where(self._band_wide, wide, narrow)

    def write(self, block: np.ndarray) -> None:
        if self._done:
            raise RuntimeError("AudioSummary: write after the summary was read")
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"blocks must be ({self.channels}, frames), got shape {x.shape}")
        self.frames += x.shape[1]
        self._envelope_feed(x)
        self._mid = np.concatenate([self._mid, x.mean(axis=0)])
        self._spectrum_feed()

    def _envelope_feed(self, x: np.ndarray, final: bool = False) -> None:
        buf = np.concatenate([self._carry, x], axis=1) if self._carry.shape[1] else x
        size = self._env_len
        k = buf.shape[1] // size if not final else math.ceil(buf.shape[1] / size)
        if k:
            first = self.frames - buf.shape[1]
            if final:  # the last, shorter entry: pad with its own last frame (changes no min, max)
                pad = k * size - buf.shape[1]
                buf = np.concatenate([buf, np.repeat(buf[:, -1:], pad, axis=1)], axis=1)
            chunk = buf[:, : k * size].reshape(self.channels, k, size)
            starts = first + np.arange(k, dtype=np.int64) * size
            counts = np.minimum(size, self.frames - starts)
            sq = np.square(chunk, dtype=np.float64).sum(axis=2)
            if final:
                sq[:, -1] -= np.square(buf[:, -1].astype(np.float64)) * (k * size - (self.frames - first))
            self._env.append((starts, counts, chunk.min(axis=2), chunk.max(axis=2), sq))
            self._env_count += k
        self._carry = buf[:, k * size :].copy() if not final else np.zeros((self.channels, 0), np.float32)
        if self._env_count > self.ENVELOPE_CAP:
            starts, counts, mn, mx, sq = (np.concatenate(a, axis=-1) for a in zip(*self._env, strict=True))
            p = starts.shape[0] // 2
            e, o = slice(0, 2 * p, 2), slice(1, 2 * p, 2)
            merged = (
                starts[e],
                counts[e] + counts[o],
                np.minimum(mn[:, e], mn[:, o]),
                np.maximum(mx[:, e], mx[:, o]),
                sq[:, e] + sq[:, o],
            )
            tail = (starts[2 * p :], counts[2 * p :], mn[:, 2 * p :], mx[:, 2 * p :], sq[:, 2 * p :])
            self._env = [merged, tail]
            self._env_count = p + tail[0].shape[0]
            self._env_len *= 2

    def _spectrum_feed(self, final: bool = False) -> None:
        wanted = (self.frames - 1) // self.hop + 1 if self.frames else 0  # frames centred inside the audio
        if final:
            need = (wanted - self._mid_start - 1) * self.hop + self.nfft
            if need > self._mid.shape[0]:
                self._mid = np.concatenate([self._mid, np.zeros(need - self._mid.shape[0], np.float32)])
        n = self._mid.shape[0]
        count = (n - self.nfft) // self.hop + 1 if n >= self.nfft else 0
        if final:
            count = min(count, wanted - self._mid_start)
        if count <= 0:
            return
        frames = np.lib.stride_tricks.sliding_window_view(self._mid, self.nfft)[:: self.hop][:count]
        spectrum = np.fft.rfft(frames * self._window, axis=1)
        bands = self._to_bands(spectrum.real**2 + spectrum.imag**2) * self._norm
        centers = (self._mid_start + np.arange(count)) * float(self.hop)
        self._spec.append((centers, np.ones(count), bands))
        self._spec_count += count
        self._mid = self._mid[count * self.hop :].copy()
        self._mid_start += count
        if self._spec_count > self.SPECTRUM_CAP:
            c, w, s = (np.concatenate(a, axis=0) for a in zip(*self._spec, strict=True))
            p = c.shape[0] // 2
            e, o = slice(0, 2 * p, 2), slice(1, 2 * p, 2)
            wm = w[e] + w[o]
            merged = (
                (c[e] * w[e] + c[o] * w[o]) / wm,
                wm,
                (s[e] * w[e][:, None] + s[o] * w[o][:, None]) / wm[:, None],
            )
            self._spec = [merged, (c[2 * p :], w[2 * p :], s[2 * p :])]
            self._spec_count = p + c.shape[0] - 2 * p

    def _finish(self) -> None:
        if not self._done:
            self._envelope_feed(np.zeros((self.channels, 0), np.float32), final=True)
            self._spectrum_feed(final=True)
            self._done = True

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def _columns_of(self, centers: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """The column of each entry, and for each column the entry nearest its middle (for columns that
        no entry falls in: a short song on a wide picture)."""
        total = max(self.frames, 1)
        col = np.clip((centers * columns / total).astype(np.int64), 0, columns - 1)
        mids = (np.arange(columns) + 0.5) * total / columns
        after = np.clip(np.searchsorted(centers, mids), 0, len(centers) - 1)
        before = np.clip(after - 1, 0, len(centers) - 1)
        nearest = np.where(np.abs(centers[before] - mids) <= np.abs(centers[after] - mids), before, after)
        return col, nearest

    def envelope(self, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(min, max, rms)`` per pixel column, each ``(channels, columns)``; zeros for no audio."""
        self._finish()
        if not self._env:
            z = np.zeros((self.channels, columns), np.float32)
            return z, z.copy(), z.copy()
        starts, counts, mn_e, mx_e, sq_e = (np.concatenate(a, axis=-1) for a in zip(*self._env, strict=True))
        col, nearest = self._columns_of(starts + counts / 2.0, columns)
        mn = np.full((self.channels, columns), np.inf)
        mx = np.full((self.channels, columns), -np.inf)
        sq = np.zeros((self.channels, columns))
        cnt = np.zeros(columns)
        for ch in range(self.channels):
            np.minimum.at(mn[ch], col, mn_e[ch])
            np.maximum.at(mx[ch], col, mx_e[ch])
            np.add.at(sq[ch], col, sq_e[ch])
        np.add.at(cnt, col, counts)
        empty = cnt == 0
        mn[:, empty] = mn_e[:, nearest[empty]]
        mx[:, empty] = mx_e[:, nearest[empty]]
        sq[:, empty] = sq_e[:, nearest[empty]]
        cnt[empty] = counts[nearest[empty]]
        rms = np.sqrt(sq / np.maximum(cnt, 1.0))
        return mn.astype(np.float32), mx.astype(np.float32), rms.astype(np.float32)

    def spectrogram(self, columns: int) -> np.ndarray:
        """Power in dB per (band, pixel column), ``(rows, columns)``, band 0 the lowest (from 20 Hz)."""
        self._finish()
        rows = self.rows
        if not self._spec:
            return np.full((rows, columns), -200.0, np.float32)
        centers, w, s = (np.concatenate(a, axis=0) for a in zip(*self._spec, strict=True))
        col, nearest = self._columns_of(centers, columns)
        acc = np.zeros((columns, rows))
        cnt = np.zeros(columns)
        np.add.at(acc, col, s * w[:, None])
        np.add.at(cnt, col, w)
        empty = cnt == 0
        acc[empty] = s[nearest[empty]]
        cnt[empty] = 1.0
        return (10.0 * np.log10(acc / cnt[:, None] + 1e-20)).T.astype(np.float32)
