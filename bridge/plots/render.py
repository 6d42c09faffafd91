"""The picture of a rendered song: waveform over spectrogram on the song's bars and sections."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from bridge.plots.canvas import SECTION_COLOR, Layout, PlotInfo, check_size, section_label
from bridge.plots.grid import (
    bar_lines,
    beat_lines,
    clock,
    label_step,
    meter_text,
    section_markers,
    tempo_text,
)
from bridge.plots.summary import AudioSummary

if TYPE_CHECKING:
    from engine.session import Session

__all__ = ["plot_render"]

WAVE_COLOR = "#3d7cc9"
RMS_COLOR = "#1b4a82"


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
    check_size(width_px, height_px)
    if time_axis not in ("bars", "seconds"):
        raise ValueError(f"time axis must be 'bars' or 'seconds', got {time_axis!r}")
    tm = session.tempo_map
    lay = Layout(width_px, height_px)
    left, right, top, bottom = 64, 92, 84, 46
    plot_w = width_px - left - right
    avail = height_px - top - bottom - 10
    wave_h = round(avail * 0.36)
    duration = max(summary.seconds, 1e-3)
    details = [f"key {session.key}"] if session.key else []
    details += [
        tempo_text(tm),
        meter_text(tm),
        clock(summary.seconds),
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
    step = label_step(len(bars), plot_w, 40.0)
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
        spec.xaxis.set_major_formatter(FuncFormatter(clock))
        spec.set_xlabel("time (m:ss)")
    wave.tick_params(axis="x", labelbottom=False, length=0)

    for section_name, sec in section_markers(session, duration):
        for ax in (wave, spec):
            ax.axvline(sec, color=SECTION_COLOR, lw=1.6, zorder=6)
        section_label(wave, sec, section_name, SECTION_COLOR)
        lay.info.section_px.append(lay.x_px(wave, sec))
    return lay.fig, lay.info
