"""The piano roll of a song: every track's notes on bars and sections, chord names above, drums below."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from bridge.plots.canvas import DPI, SECTION_COLOR, Layout, PlotInfo, check_size, section_label
from bridge.plots.grid import bar_lines, beat_lines, clock, label_step, meter_text, tempo_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from engine.session import Session
    from engine.tempo import TempoMap

__all__ = ["note_label", "plot_roll"]

TRACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SECTION_FILLS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2")
BLACK_KEYS = {1, 3, 6, 8, 10}
GM_DRUMS = {
    35: "Kick 2", 36: "Kick", 37: "Side stick", 38: "Snare", 39: "Clap", 40: "Snare 2", 41: "Floor tom lo",
    42: "Hi-hat closed", 43: "Floor tom hi", 44: "Hi-hat pedal", 45: "Tom lo", 46: "Hi-hat open",
    47: "Tom lo-mid", 48: "Tom hi-mid", 49: "Crash", 50: "Tom hi", 51: "Ride", 52: "China", 53: "Ride bell",
    54: "Tambourine", 55: "Splash", 56: "Cowbell", 57: "Crash 2", 59: "Ride 2", 75: "Claves",
}  # fmt: skip


def note_label(pitch: int, spelling: str = "mixed") -> str:
    """``60`` -> ``"C4"`` (the song format's convention); black keys as :data:`bridge.chords.SPELLINGS`
    spell them (``"mixed"``: Eb, F#, Bb)."""
    from bridge.chords import SPELLINGS

    return f"{SPELLINGS[spelling][pitch % 12]}{pitch // 12 - 1}"


def _bar_axis(ax: Axes, tm: TempoMap, end_beats: float, plot_w: float, labels: bool) -> None:
    """Bar lines, the beat grid where there is room, and bar numbers (1-based) on ``ax``; x in beats."""
    bars = bar_lines(tm, end_beats)
    beats = beat_lines(tm, end_beats)
    step = label_step(len(bars), plot_w, 34.0)
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

    check_size(width_px)
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

    lay = Layout(width_px, height_px)
    lay.info.chords = chords
    end_s = tm.beat_to_seconds(end_beats)
    details = [f"key {session.key}"] if session.key else []
    details += [tempo_text(tm), meter_text(tm), f"{len(bar_lines(tm, end_beats)) - 1} bars", clock(end_s)]
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
        section_label(label_ax, sec.start_beats, sec.name, fill, y=1.04)
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
