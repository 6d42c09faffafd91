"""Pictures of a song for musicians: the rendered audio (waveform over spectrogram) and a piano roll.

:class:`AudioSummary` is a sink that takes the render's blocks as they come and keeps a bounded summary
(peak/RMS envelope and a log-frequency power spectrogram, halving its time resolution whenever it grows
past a fixed size), so a song of any length is drawn without holding its audio. :func:`plot_render` draws
it on the song's bars and sections; :func:`plot_roll` draws the notes of every track with the chords of
:mod:`bridge.chords`. Both return a matplotlib figure (Agg, no display needed) and a :class:`PlotInfo`
with pixel positions (the tests check the section markers against the tempo map); :func:`write_png`
saves a figure atomically. Import this module only where a picture is drawn: it pulls in matplotlib.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from engine.session import Session
    from engine.tempo import TempoMap

__all__ = [
    "AudioSummary",
    "PlotInfo",
    "bar_lines",
    "beat_lines",
    "note_label",
    "plot_render",
    "plot_roll",
    "section_markers",
    "write_png",
]

DPI = 100
SECTION_COLOR = "#e8311a"  # section markers, the same red on both pictures
WAVE_COLOR = "#3d7cc9"
RMS_COLOR = "#1b4a82"
TRACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SECTION_FILLS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2")
BLACK_KEYS = {1, 3, 6, 8, 10}
GM_DRUMS = {
    35: "Kick 2", 36: "Kick", 37: "Side stick", 38: "Snare", 39: "Clap", 40: "Snare 2", 41: "Floor tom lo",
    42: "Hi-hat closed", 43: "Floor tom hi", 44: "Hi-hat pedal", 45: "Tom lo", 46: "Hi-hat open",
    47: "Tom lo-mid", 48: "Tom hi-mid", 49: "Crash", 50: "Tom hi", 51: "Ride", 52: "China", 53: "Ride bell",
    54: "Tambourine", 55: "Splash", 56: "Cowbell", 57: "Crash 2", 59: "Ride 2", 75: "Claves",
}  # fmt: skip
MIN_WIDTH, MAX_WIDTH = 400, 20000
MIN_HEIGHT, MAX_HEIGHT = 300, 20000


def note_label(pitch: int, spelling: str = "mixed") -> str:
    """``60`` -> ``"C4"`` (the song format's convention); black keys as :data:`bridge.chords.SPELLINGS`
    spell them (``"mixed"``: Eb, F#, Bb)."""
    from bridge.chords import SPELLINGS

    return f"{SPELLINGS[spelling][pitch % 12]}{pitch // 12 - 1}"


# -- the audio summary ---------------------------------------------------------------------------------


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


# -- the song's time grid ------------------------------------------------------------------------------


def section_markers(session: Session, end_seconds: float | None = None) -> list[tuple[str, float]]:
    """``(name, seconds)`` for each section start, placed with the tempo map; those at or past
    ``end_seconds`` (when given) are left out."""
    tm = session.tempo_map
    out = [(s.name, tm.beat_to_seconds(s.start_beats)) for s in session.sections]
    return [m for m in out if end_seconds is None or m[1] < end_seconds]


def bar_lines(tempo_map: TempoMap, end_beats: float) -> list[tuple[int, float]]:
    """``(bar, beat)`` for each bar line from bar 0 up to and including ``end_beats``."""
    out: list[tuple[int, float]] = []
    bar = 0
    while (beat := tempo_map.bar_to_beat(bar)) <= end_beats + 1e-9:
        out.append((bar, beat))
        bar += 1
    return out


def beat_lines(tempo_map: TempoMap, end_beats: float) -> list[tuple[int, int, float]]:
    """``(bar, beat_in_bar, beat)`` for each counted beat (the signature's denominator: eighths in 6/8)."""
    out: list[tuple[int, int, float]] = []
    for bar, start in bar_lines(tempo_map, end_beats):
        sig = tempo_map.time_signature_at_bar(bar)
        unit = 4.0 / sig.denominator
        for k in range(sig.numerator):
            if start + k * unit <= end_beats + 1e-9:
                out.append((bar, k, start + k * unit))
    return out


def _label_step(count: int, room_px: float, min_px: float) -> int:
    """Every how many bars a label fits: 1, 2, 4, 8... so that labels are at least ``min_px`` apart."""
    step = 1
    while count / step * min_px > room_px and step < 1 << 20:
        step *= 2
    return step


def _clock(seconds: float, _pos: object = None) -> str:
    m, s = divmod(max(seconds, 0.0), 60.0)
    return f"{int(m)}:{s:04.1f}" if m < 1 and seconds < 10 else f"{int(m)}:{int(s):02d}"


def _tempo_text(tm: TempoMap) -> str:
    bpms: list[float] = []
    for p in tm.points:
        if not bpms or bpms[-1] != p.bpm:
            bpms.append(p.bpm)
    sep = " → " if len(bpms) == 2 else " … "
    return "♩ = " + (f"{bpms[0]:g}" if len(bpms) == 1 else f"{bpms[0]:g}{sep}{bpms[-1]:g}")


def _meter_text(tm: TempoMap) -> str:
    sigs: list[str] = []
    for s in tm.time_signatures:
        t = f"{s.numerator}/{s.denominator}"
        if not sigs or sigs[-1] != t:
            sigs.append(t)
    return ", ".join(sigs)


@dataclass
class PlotInfo:
    """Where things landed in the picture, in pixels from its top-left corner."""

    width_px: int
    height_px: int
    section_px: list[float] = field(default_factory=list)  # x of each section marker drawn
    # name -> (left, top, right, bottom) of each axes
    axes_px: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    chords: list[tuple[float, float, str]] = field(default_factory=list)  # the roll's chord names


class _Layout:
    """Axes placed in pixels (top-left origin) on a figure of exactly ``width`` x ``height`` pixels."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        self.info = PlotInfo(width, height)

    def axes(self, name: str, left: float, top: float, width: float, height: float) -> Axes:
        w, h = self.width, self.height
        ax = self.fig.add_axes((left / w, 1.0 - (top + height) / h, width / w, height / h))
        self.info.axes_px[name] = (left, top, left + width, top + height)
        return ax

    def x_px(self, ax: Axes, x: float) -> float:
        return float(ax.transData.transform((x, 0.0))[0])

    def header(self, title: str, details: str, left: float) -> None:
        self.fig.text(left / self.width, 1 - 10 / self.height, title, fontsize=15, weight="bold", va="top")
        self.fig.text(
            left / self.width, 1 - 34 / self.height, details, fontsize=10, color="#555555", va="top"
        )


def _check_size(width_px: int, height_px: int | None = None) -> None:
    if not MIN_WIDTH <= width_px <= MAX_WIDTH:
        raise ValueError(f"width must be in {MIN_WIDTH}..{MAX_WIDTH} pixels, got {width_px}")
    if height_px is not None and not MIN_HEIGHT <= height_px <= MAX_HEIGHT:
        raise ValueError(f"height must be in {MIN_HEIGHT}..{MAX_HEIGHT} pixels, got {height_px}")


def _section_label(ax: Axes, x: float, name: str, color: str, y: float = 1.02) -> None:
    ax.text(
        x, y, f" {name} ", transform=ax.get_xaxis_transform(), fontsize=9, color="white", weight="bold",
        va="bottom", ha="left", clip_on=False,
        bbox={"boxstyle": "square,pad=0.15", "facecolor": color, "edgecolor": "none"},
    )  # fmt: skip


# -- the render picture --------------------------------------------------------------------------------


def plot_render(
    summary: AudioSummary,
    session: Session,
    *,
    width_px: int = 1600,
    height_px: int = 900,
    time_axis: str = "bars",
    name: str = "",
    peak_dbfs: float | None = None,
) -> tuple[Figure, PlotInfo]:
    """The rendered song: waveform (peak and RMS per pixel column, L over R) above a log-frequency
    spectrogram, bar lines from the tempo map, section markers, and a header with title, key, tempo,
    meter and length. ``time_axis`` labels the x axis ``"bars"`` (bar:beat) or ``"seconds"``."""
    _check_size(width_px, height_px)
    if time_axis not in ("bars", "seconds"):
        raise ValueError(f"time axis must be 'bars' or 'seconds', got {time_axis!r}")
    tm = session.tempo_map
    lay = _Layout(width_px, height_px)
    left, right, top, bottom = 64, 92, 84, 46
    plot_w = width_px - left - right
    avail = height_px - top - bottom - 10
    wave_h = round(avail * 0.36)
    duration = max(summary.seconds, 1e-3)
    details = [f"key {session.key}"] if session.key else []
    details += [
        _tempo_text(tm),
        _meter_text(tm),
        _clock(summary.seconds),
        f"{summary.sample_rate / 1000:g} kHz",
    ]
    if peak_dbfs is not None:
        details.append(f"peak {peak_dbfs:.1f} dBFS")
    lay.header(session.title or name or "untitled", "  ·  ".join(details), left)

    wave = lay.axes("waveform", left, top, plot_w, wave_h)
    spec = lay.axes("spectrogram", left, top + wave_h + 10, plot_w, avail - wave_h)
    columns = max(1, int(plot_w))
    t = (np.arange(columns) + 0.5) * duration / columns
    mn, mx, rms = summary.envelope(columns)
    offsets = [1.0, -1.0] if summary.channels == 2 else [0.0] * summary.channels
    for ch, off in enumerate(offsets):
        wave.fill_between(t, off + 0.95 * mn[ch], off + 0.95 * mx[ch], color=WAVE_COLOR, lw=0, zorder=2)
        r = np.minimum(rms[ch], np.maximum(mx[ch], 0))
        wave.fill_between(t, off - 0.95 * r, off + 0.95 * r, color=RMS_COLOR, lw=0, zorder=3)
    wave.set_ylim(-2.0, 2.0) if summary.channels == 2 else wave.set_ylim(-1.0, 1.0)
    wave.set_yticks(offsets[:2] if summary.channels == 2 else [0.0])
    wave.set_yticklabels(["L", "R"] if summary.channels == 2 else ["mid"])
    if summary.channels == 2:
        wave.axhline(0.0, color="#999999", lw=0.8, zorder=1)
    wave.set_facecolor("#f7f7f4")

    db = summary.spectrogram(columns)
    top_db = float(np.ceil(max(float(db.max()), -100.0) / 10.0) * 10.0)
    y0, y1 = math.log10(summary.low_hz), math.log10(summary.high_hz)
    image = spec.imshow(
        db, origin="lower", aspect="auto", extent=(0.0, duration, y0, y1), cmap="magma",
        vmin=top_db - 90.0, vmax=top_db, interpolation="nearest",
    )  # fmt: skip
    ticks = [f for f in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if f <= summary.high_hz]
    spec.yaxis.set_major_locator(FixedLocator([math.log10(f) for f in ticks]))
    spec.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    spec.set_ylabel("Hz")
    cax = lay.axes("colorbar", width_px - right + 16, top + wave_h + 10, 12, avail - wave_h)
    lay.fig.colorbar(image, cax=cax)
    cax.set_title("dB", fontsize=9, loc="left")

    # the grid: bars (and beats where there is room) from the tempo map
    end_beats = tm.seconds_to_beat(duration)
    bars = bar_lines(tm, end_beats)
    beats = beat_lines(tm, end_beats)
    beat_px = plot_w / max(len(beats), 1)
    step = _label_step(len(bars), plot_w, 40.0)
    for ax in (wave, spec):
        ax.set_xlim(0.0, duration)
        for bar, beat in bars:
            strong = bar % step == 0
            if not strong and plot_w / max(len(bars), 1) < 6:
                continue  # a bar line every few pixels is a grey wash, not a grid
            color = ("#555555" if strong else "#aaaaaa") if ax is wave else "#ffffff"
            alpha = 1.0 if ax is wave else (0.35 if strong else 0.15)
            ax.axvline(tm.beat_to_seconds(beat), color=color, lw=0.8, alpha=alpha, zorder=4)
        if ax is wave and beat_px >= 8:
            for _bar, k, beat in beats:
                if k:
                    ax.axvline(tm.beat_to_seconds(beat), color="#dddddd", lw=0.5, zorder=1)
    if time_axis == "bars":
        if beat_px >= 40:
            pos = [tm.beat_to_seconds(b) for _bar, _k, b in beats]
            labels = [f"{bar + 1}:{k + 1}" for bar, k, _b in beats]
            spec.set_xlabel("bar:beat")
        else:
            pos = [tm.beat_to_seconds(b) for bar, b in bars if bar % step == 0]
            labels = [str(bar + 1) for bar, _b in bars if bar % step == 0]
            spec.set_xlabel("bar")
        spec.xaxis.set_major_locator(FixedLocator(pos))
        spec.set_xticklabels(labels)
    else:
        spec.xaxis.set_major_locator(MaxNLocator(nbins=max(2, plot_w // 90), steps=[1, 2, 2.5, 5, 6, 10]))
        spec.xaxis.set_major_formatter(FuncFormatter(_clock))
        spec.set_xlabel("time (m:ss)")
    wave.tick_params(axis="x", labelbottom=False, length=0)

    for section_name, sec in section_markers(session, duration):
        for ax in (wave, spec):
            ax.axvline(sec, color=SECTION_COLOR, lw=1.6, zorder=6)
        _section_label(wave, sec, section_name, SECTION_COLOR)
        lay.info.section_px.append(lay.x_px(wave, sec))
    return lay.fig, lay.info


# -- the piano roll ------------------------------------------------------------------------------------


def _bar_axis(ax: Axes, tm: TempoMap, end_beats: float, plot_w: float, labels: bool) -> None:
    """Bar lines, the beat grid where there is room, and bar numbers (1-based) on ``ax``; x in beats."""
    bars = bar_lines(tm, end_beats)
    beats = beat_lines(tm, end_beats)
    step = _label_step(len(bars), plot_w, 34.0)
    if plot_w / max(len(beats), 1) >= 5:
        for _bar, k, beat in beats:
            if k:
                ax.axvline(beat, color="#e2e2e2", lw=0.5, zorder=1)
    for bar, beat in bars:
        ax.axvline(beat, color="#8a8a8a" if bar % step == 0 else "#bdbdbd", lw=0.8, zorder=1)
    ax.set_xlim(0.0, end_beats)
    ax.xaxis.set_major_locator(FixedLocator([b for bar, b in bars if bar % step == 0]))
    ax.set_xticklabels([str(bar + 1) for bar, _b in bars if bar % step == 0])
    ax.tick_params(axis="x", labelbottom=labels, length=3 if labels else 0)


def _notes_collection(
    rects: Sequence[tuple[float, float, float, float]], colors: Sequence[tuple[float, float, float, float]]
) -> PolyCollection:
    verts = [((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for x0, x1, y0, y1 in rects]
    edges = [(c[0] * 0.6, c[1] * 0.6, c[2] * 0.6, min(1.0, c[3] + 0.2)) for c in colors]
    return PolyCollection(verts, facecolors=colors, edgecolors=edges, linewidths=0.5, zorder=3)


def _char_px(size: float) -> float:
    return 0.62 * size * DPI / 72.0  # the mean width of a bold DejaVu Sans character


def _chord_strip(chords: Sequence[tuple[float, float, str]], px_per_beat: float) -> tuple[int, float, bool]:
    """(height in pixels, font size, vertical?) for the chord names: one size for all, across if every
    name fits its span, else turned up with the size the narrowest span allows."""
    if not chords:
        return 0, 0.0, False
    for across in (11.0, 10.0, 9.0, 8.0, 7.0):
        if all(len(c) * _char_px(across) <= (b - a) * px_per_beat - 4 for a, b, c in chords):
            return 24, across, False
    narrowest = min(b - a for a, b, _c in chords) * px_per_beat
    up = min(9.0, max(5.0, math.floor(narrowest / (1.2 * DPI / 72.0))))
    return math.ceil(max(len(c) for _a, _b, c in chords) * _char_px(up)) + 10, up, True


def _draw_chords(
    ax: Axes, chords: Sequence[tuple[float, float, str]], px_per_beat: float, size: float, vertical: bool
) -> None:
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    ax.set_facecolor("#fbfaf5")
    line_px = 1.2 * size * DPI / 72.0
    last_px = -math.inf
    for a, b, chord in chords:
        ax.axvline(a, color="#cfcfcf", lw=0.6, zorder=2)
        x_px = (a + b) / 2 * px_per_beat
        if vertical and x_px - last_px < line_px:
            continue  # no room beside the last name: leave this one out rather than overprint it
        last_px = x_px
        if vertical:
            ax.text(
                (a + b) / 2, 0.5, chord, ha="center", va="center", rotation=90, fontsize=size, weight="bold"
            )
        else:
            ax.text((a + b) / 2, 0.45, chord, ha="center", va="center", fontsize=size, weight="bold")


def plot_roll(session: Session, *, width_px: int = 1600, name: str = "") -> tuple[Figure, PlotInfo]:
    """A piano roll of every track (one colour each, velocity as opacity) over the used pitch range, with
    bar lines and beat grid from the time signatures, section bands, chord names per bar (or half bar)
    above, and drum notes (channel 9) in their own lanes below. The height follows the pitch range."""
    from matplotlib.patches import Patch

    from bridge.chords import DRUM_CHANNEL, chords_per_bar, placed_notes, spelling_for_key

    _check_size(width_px)
    tm = session.tempo_map
    notes = placed_notes(session)
    pitched = [n for n in notes if n.channel != DRUM_CHANNEL]
    drums = [n for n in notes if n.channel == DRUM_CHANNEL]
    chords = chords_per_bar(session)
    end_beats = max([session.end_beats(), 4.0] + [n.end_beats for n in notes])
    end_beats = tm.bar_to_beat(tm.beat_to_bar(end_beats - 1e-9)[0] + 1)  # to the next bar line

    lo = min((n.pitch for n in pitched), default=60) - 1
    hi = max((n.pitch for n in pitched), default=60) + 1
    if hi - lo < 12:  # at least an octave, so a few notes do not become fat bars
        lo, hi = max(0, (lo + hi) // 2 - 6), min(127, (lo + hi) // 2 + 6)
    rows = hi - lo + 1
    lanes = sorted({n.pitch for n in drums})

    left, right = 78, 24
    plot_w = width_px - left - right
    roll_h = min(max(rows * 12, 180), 1100)
    drum_h = max(len(lanes) * 14, 42) if lanes else 0
    tracks_with_notes = sorted({n.track for n in notes})
    per_row = max(1, plot_w // 150)
    legend_rows = math.ceil(len(tracks_with_notes) / per_row) if tracks_with_notes else 0
    chord_h, chord_size, chord_vertical = _chord_strip(chords, plot_w / end_beats)
    top = 64 + (22 if session.sections else 0)
    chord_top = top
    top += chord_h + 2 if chords else 0
    roll_top = top
    top += roll_h
    drum_top = top + 8
    top = drum_top + drum_h if lanes else top
    height_px = top + 34 + 22 * legend_rows + 8

    lay = _Layout(width_px, height_px)
    lay.info.chords = chords
    end_s = tm.beat_to_seconds(end_beats)
    details = [f"key {session.key}"] if session.key else []
    details += [_tempo_text(tm), _meter_text(tm), f"{len(bar_lines(tm, end_beats)) - 1} bars", _clock(end_s)]
    details.append(f"{len(session.tracks)} tracks")
    lay.header(session.title or name or "untitled", "  ·  ".join(details), left)

    roll = lay.axes("roll", left, roll_top, plot_w, roll_h)
    axes = [roll]
    chord_ax = lay.axes("chords", left, chord_top, plot_w, chord_h) if chords else None
    drum_ax = lay.axes("drums", left, drum_top, plot_w, drum_h) if lanes else None
    for ax in (chord_ax, drum_ax):
        if ax is not None:
            axes.append(ax)
    for ax in axes:
        _bar_axis(ax, tm, end_beats, plot_w, labels=ax is (drum_ax or roll))

    # pitch axis: black keys shaded, C lines, note names on every row where there is room
    for p in range(lo, hi + 1):
        if p % 12 in BLACK_KEYS:
            roll.axhspan(p - 0.5, p + 0.5, color="#f0f0f0", lw=0, zorder=0)
        if p % 12 == 0:
            roll.axhline(p - 0.5, color="#c8c8c8", lw=0.6, zorder=1)
    roll.set_ylim(lo - 0.5, hi + 0.5)
    shown = list(range(lo, hi + 1)) if roll_h / rows >= 11 else [p for p in range(lo, hi + 1) if p % 12 == 0]
    roll.yaxis.set_major_locator(FixedLocator(shown or [lo]))
    spelling = spelling_for_key(session.key)
    roll.set_yticklabels([note_label(p, spelling) for p in shown or [lo]], fontsize=8)

    colors = {t: TRACK_COLORS[t % len(TRACK_COLORS)] for t in range(len(session.tracks))}
    for ax, group, ypos in ((roll, pitched, None), (drum_ax, drums, {p: i for i, p in enumerate(lanes)})):
        if ax is None or not group:
            continue
        rects, fills = [], []
        for n in group:
            y = n.pitch if ypos is None else ypos[n.pitch]
            x1 = n.end_beats if ypos is None else max(n.end_beats, n.start_beats + 0.125)
            rects.append((n.start_beats, x1, y - 0.42, y + 0.42))
            fills.append(to_rgba(colors[n.track], 0.25 + 0.75 * n.velocity / 127.0))
        ax.add_collection(_notes_collection(rects, fills))
    if not pitched:
        roll.text(0.5, 0.5, "no notes", transform=roll.transAxes, ha="center", va="center", color="#999999")
    if drum_ax is not None:
        drum_ax.set_ylim(-0.5, len(lanes) - 0.5)
        drum_ax.yaxis.set_major_locator(FixedLocator(list(range(len(lanes)))))
        drum_ax.set_yticklabels([GM_DRUMS.get(p, note_label(p)) for p in lanes], fontsize=7)
    (drum_ax or roll).set_xlabel("bar")

    if chord_ax is not None:
        _draw_chords(chord_ax, chords, plot_w / end_beats, chord_size, chord_vertical)

    # sections: a tinted band each, a red line at each start, the name above
    label_ax = chord_ax or roll
    for i, sec in enumerate(session.sections):
        if not 0.0 <= sec.start_beats < end_beats:
            continue
        nxt = session.sections[i + 1].start_beats if i + 1 < len(session.sections) else end_beats
        fill = SECTION_FILLS[i % len(SECTION_FILLS)]
        for ax in axes:
            ax.axvspan(sec.start_beats, min(nxt, end_beats), color=fill, alpha=0.07, lw=0, zorder=0)
            ax.axvline(sec.start_beats, color=SECTION_COLOR, lw=1.6, zorder=5)
        _section_label(label_ax, sec.start_beats, sec.name, fill, y=1.04)
        lay.info.section_px.append(lay.x_px(roll, sec.start_beats))

    if tracks_with_notes:
        handles = []
        for t in tracks_with_notes:
            spec = session.tracks[t]
            label = spec.name + (" (muted)" if spec.mute else "")
            handles.append(Patch(facecolor=colors[t], edgecolor="none", label=label))
        lay.fig.legend(
            handles=handles, loc="lower left", ncol=per_row, frameon=False, fontsize=9,
            bbox_to_anchor=(left / width_px, 4 / height_px), handlelength=1.4, borderaxespad=0.0,
        )  # fmt: skip
    return lay.fig, lay.info


# -- files ---------------------------------------------------------------------------------------------


def _new_file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_png(fig: Figure, path: str | os.PathLike[str], publish: bool = True) -> Path:
    """Save ``fig`` as a PNG of its exact pixel size: into a temporary file beside ``path``, flushed, then
    renamed over ``path``. With ``publish=False`` the temporary file's path is returned instead, to be
    renamed (``os.replace``) by the caller once everything else it writes is ready."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": "StrumSpace"})
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(target))
        if not publish:
            return Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
