"""Drums: the genre's groove as step patterns, fills into section changes, humanised timing and velocity.

A groove (:data:`GROOVES`) maps a General MIDI drum note (36 kick, 38 snare, 42 closed hat, 46 open hat,
51 ride, 37 rim...) to a step string over one bar: ``x`` a hit, ``o`` a soft hit (ghost), ``.`` a rest.
Sixteen steps for straight grooves (rock backbeat, four-on-the-floor, boom-bap, the country train beat),
twelve (triplet eighths) for the swung ones (the jazz ride pattern, the blues shuffle). The last bar of a
section before another becomes a fill (snare and toms into a crash on the next downbeat). Timing moves by
up to :data:`HUMANISE_BEATS` and velocities by up to 8, drawn from the seeded generator. Classical has no
drums; folk plays them lightly.
"""

from __future__ import annotations

import numpy as np

from ai.parts.common import active_spans, velocity
from ai.plan import GenerateRequest, Note, Part, Section

__all__ = ["GROOVES", "HUMANISE_BEATS", "write_drums"]

GROOVES: dict[str, dict[int, str]] = {
    "pop": {36: "x......xx.......", 38: "....x.......x...", 42: "x.x.x.x.x.x.x.x."},
    "rock": {36: "x.....x.x.x.....", 38: "....x.......x...", 42: "x.x.x.x.x.x.x.x.", 49: "x..............."},
    "electronic": {
        36: "x...x...x...x...",
        39: "....x.......x...",
        42: "..x...x...x...x.",
        46: "..x...x...x...x.",
    },
    "hip-hop": {36: "x......x..x.....", 38: "....x.......x..o", 42: "x.x.x.x.x.x.xox."},
    "country": {36: "x.......x.......", 38: "oxoxoxoxoxoxoxox", 42: "..x...x...x...x."},
    "jazz": {51: "x..x.xx..x.x", 44: "...x.....x..", 36: "o.....o....."},
    "blues": {36: "x.....x.....", 38: "...x.....x..", 42: "x.xx.xx.xx.x"},
    "folk": {36: "x.......x.......", 37: "....x.......x...", 42: "x...x...x...x..."},
    "classical": {},
}
FILL = {38: "x.xxx.x.", 45: "....x.x.", 41: "......xx"}  # the last half bar, in sixteenths
HUMANISE_BEATS = 0.012
SOFT, HARD = 0.45, 0.9


def write_drums(
    request: GenerateRequest,
    sections: list[Section],
    part: Part,
    rng: np.random.Generator,
) -> list[Note]:
    """The notes of the drum part (GM drum notes, short hits)."""
    groove = GROOVES[request.genre]
    if not groove:
        return []
    bar = float(request.beats_per_bar)
    spans = active_spans(request, sections, part)
    last_bar = sections[-1].start_bar + sections[-1].bars - 1
    notes: list[Note] = []
    for section, _start, _end in spans:
        for b in range(section.start_bar, section.start_bar + section.bars):
            at = b * bar
            fill = b == section.start_bar + section.bars - 1 and b != last_bar and section.bars >= 2
            hits: list[tuple[float, int, float]] = []
            for pitch, steps in groove.items():
                step = bar / len(steps)
                for i, ch in enumerate(steps):
                    pos = i * step
                    if ch == "." or (fill and pos >= bar / 2 and pitch != 36):
                        continue
                    hits.append((pos, pitch, HARD if ch == "x" else SOFT))
            if fill:
                for pitch, steps in FILL.items():
                    hits += [(bar / 2 + i * bar / 16, pitch, HARD) for i, ch in enumerate(steps) if ch == "x"]
            if b == section.start_bar and section.start_bar > 0 and section.energy >= 0.6:
                hits.append((0.0, 49, HARD))  # a crash on the new section's downbeat
            for pos, pitch, accent in sorted(hits):
                jitter = float(rng.uniform(-HUMANISE_BEATS, HUMANISE_BEATS)) if at + pos > 0 else 0.0
                vel = velocity(accent, section.energy) + int(rng.integers(-8, 9))
                start_b = round(max(0.0, at + pos + jitter), 6)
                notes.append(Note(pitch, start_b, 0.25, max(1, min(127, vel))))
    return notes
