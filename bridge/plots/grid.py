"""The song's time grid as the pictures draw it: section starts, bar and beat lines from the tempo map,
how often a bar number fits, and the header's words for tempo, meter and length."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.session import Session
    from engine.tempo import TempoMap

__all__ = ["bar_lines", "beat_lines", "clock", "label_step", "meter_text", "section_markers", "tempo_text"]


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


def label_step(count: int, room_px: float, min_px: float) -> int:
    """Every how many bars a label fits: 1, 2, 4, 8... so that labels are at least ``min_px`` apart."""
    step = 1
    while count / step * min_px > room_px and step < 1 << 20:
        step *= 2
    return step


def clock(seconds: float, _pos: object = None) -> str:
    """``75.0`` -> ``"1:15"``; tenths under ten seconds (``"0:04.5"``). Also a matplotlib tick formatter."""
    m, s = divmod(max(seconds, 0.0), 60.0)
    return f"{int(m)}:{s:04.1f}" if m < 1 and seconds < 10 else f"{int(m)}:{int(s):02d}"


def tempo_text(tm: TempoMap) -> str:
    """``"♩ = 120"``, or the first and last tempo of a song that changes it."""
    bpms: list[float] = []
    for p in tm.points:
        if not bpms or bpms[-1] != p.bpm:
            bpms.append(p.bpm)
    sep = " → " if len(bpms) == 2 else " … "
    return "♩ = " + (f"{bpms[0]:g}" if len(bpms) == 1 else f"{bpms[0]:g}{sep}{bpms[-1]:g}")


def meter_text(tm: TempoMap) -> str:
    """The time signatures in the order they come: ``"4/4, 6/8"``."""
    sigs: list[str] = []
    for s in tm.time_signatures:
        t = f"{s.numerator}/{s.denominator}"
        if not sigs or sigs[-1] != t:
            sigs.append(t)
    return ", ".join(sigs)
