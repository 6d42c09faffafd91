"""Pictures of a song for musicians: the rendered audio (waveform over spectrogram) and a piano roll.

The parts, one per module:

- :mod:`bridge.plots.summary`: :class:`AudioSummary`, a sink keeping a bounded summary of the render's
  blocks (numpy only), so a song of any length is drawn without holding its audio;
- :mod:`bridge.plots.render`: :func:`plot_render` draws that summary on the song's bars and sections;
- :mod:`bridge.plots.roll`: :func:`plot_roll` draws the notes of every track with the chords of
  :mod:`bridge.chords`;
- :mod:`bridge.plots.grid`: bar, beat and section positions from the tempo map, shared by both;
- :mod:`bridge.plots.canvas`: the pixel-exact figure, :class:`PlotInfo` and :func:`write_png`.

Both pictures are a matplotlib figure (Agg, no display needed) and a :class:`PlotInfo` with pixel
positions (the tests check the section markers against the tempo map); :func:`write_png` saves a figure
atomically. Import this package only where a picture is drawn: it pulls in matplotlib.
"""

from __future__ import annotations

from bridge.plots.canvas import (
    DPI,
    MAX_HEIGHT,
    MAX_WIDTH,
    MIN_HEIGHT,
    MIN_WIDTH,
    SECTION_COLOR,
    PlotInfo,
    write_png,
)
from bridge.plots.grid import bar_lines, beat_lines, section_markers
from bridge.plots.render import RMS_COLOR, WAVE_COLOR, plot_render
from bridge.plots.roll import BLACK_KEYS, GM_DRUMS, SECTION_FILLS, TRACK_COLORS, note_label, plot_roll
from bridge.plots.summary import AudioSummary

__all__ = [
    "BLACK_KEYS",
    "DPI",
    "GM_DRUMS",
    "MAX_HEIGHT",
    "MAX_WIDTH",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "RMS_COLOR",
    "SECTION_COLOR",
    "SECTION_FILLS",
    "TRACK_COLORS",
    "WAVE_COLOR",
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
