"""What the part writers share: section spans in beats, the chord sounding at a beat, pitch helpers."""

from __future__ import annotations

import bisect

from ai.plan import ChordEvent, GenerateRequest, Part, Section

__all__ = ["active_spans", "chord_at", "nearest_pitch", "velocity"]


def active_spans(
    request: GenerateRequest, sections: list[Section], part: Part
) -> list[tuple[Section, float, float]]:
    """(section, start beat, end beat) of every section ``part`` plays in."""
    bar = request.beats_per_bar
    return [
        (s, s.start_bar * bar, (s.start_bar + s.bars) * bar)
        for s in sections
        if not part.active_sections or s.name in part.active_sections
    ]


def chord_at(chords: list[ChordEvent], beat: float) -> ChordEvent:
    """The chord sounding at ``beat`` (the last one starting at or before it)."""
    starts = [c.start_beats for c in chords]
    i = max(0, bisect.bisect_right(starts, beat + 1e-9) - 1)
    return chords[i]


def nearest_pitch(pc: int, target: float, lo: int, hi: int) -> int:
    """The pitch of class ``pc`` in ``lo..hi`` closest to ``target``."""
    options = [p for p in range(lo, hi + 1) if p % 12 == pc % 12]
    return min(options, key=lambda p: (abs(p - target), p)) if options else int(target)


def velocity(base: float, energy: float) -> int:
    """A note velocity from a base (0..1 of full) and the section's energy."""
    return int(max(1, min(127, round(127 * base * (0.65 + 0.35 * energy)))))
