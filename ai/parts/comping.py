"""Comping: chords voiced with voice leading and played in the genre's rhythm.

Each chord is voiced from its tones (:data:`ai.plan.CHORD_QUALITIES`, extensions included) as the
candidate closest to the last voicing: every inversion of three or four of its tones inside the part's
range is scored by the total semitones the voices move, so inner voices hold common tones and step to the
next chord. The rhythm (:data:`COMP_RHYTHMS`, onsets and lengths in beats within a bar) is the genre's:
whole-bar pads, pop halves, rock eighths, jazz Charleston stabs, electronic offbeats, folk strums. The
``pad`` and ``counter`` roles hold each chord through, an octave higher. The last chord of the song rings
to ``end_beats``.
"""

from __future__ import annotations

import itertools

import numpy as np

from ai.parts.common import active_spans, velocity
from ai.plan import CHORD_QUALITIES, ChordEvent, GenerateRequest, Note, Part, Section

__all__ = ["COMP_RHYTHMS", "voice", "write_comping"]

Rhythm = tuple[tuple[float, float, float], ...]  # onset, length, accent (0..1) within a bar
COMP_RHYTHMS: dict[str, Rhythm] = {
    "pop": ((0, 1.5, 0.8), (1.5, 1.0, 0.6), (2.5, 1.5, 0.7)),
    "rock": tuple((i * 0.5, 0.45, 0.8 if i % 2 == 0 else 0.6) for i in range(8)),
    "jazz": ((0, 1.4, 0.7), (1.5, 0.5, 0.8), (3.5, 0.5, 0.6)),
    "electronic": ((0.5, 0.4, 0.7), (1.5, 0.4, 0.7), (2.5, 0.4, 0.7), (3.5, 0.4, 0.7)),
    "hip-hop": ((0, 1.75, 0.7), (2.75, 1.25, 0.6)),
    "classical": ((0, 4.0, 0.6),),
    "country": ((0, 0.5, 0.8), (1, 0.5, 0.6), (2, 0.5, 0.8), (3, 0.5, 0.6), (3.5, 0.5, 0.5)),
    "blues": (
        (0, 0.67, 0.8),
        (0.67, 0.33, 0.5),
        (1, 0.67, 0.8),
        (1.67, 0.33, 0.5),
        (2, 0.67, 0.8),
        (2.67, 0.33, 0.5),
        (3, 0.67, 0.8),
        (3.67, 0.33, 0.5),
    ),
    "folk": ((0, 1.0, 0.8), (1, 0.5, 0.5), (1.5, 0.5, 0.6), (2, 1.0, 0.7), (3, 1.0, 0.6)),
}
RANGES = {"chords": (52, 76), "pad": (60, 84), "counter": (62, 86)}
SUSTAINED = ("pad", "counter")


def voice(chord: ChordEvent, last: tuple[int, ...] | None, lo: int, hi: int) -> tuple[int, ...]:
    """The voicing of ``chord`` in ``lo..hi`` that moves least from ``last`` (3 or 4 voices)."""
    pcs = [(chord.root_pc + i) % 12 for i in CHORD_QUALITIES[chord.quality]]
    core = list(dict.fromkeys(pcs[:4] if len(pcs) >= 4 else pcs))
    if len(pcs) > 4:  # extended chords: drop the fifth, keep the colour tone
        core = list(dict.fromkeys([pcs[0], pcs[1], pcs[3], pcs[-1]]))
    centre = (lo + hi) / 2
    best: tuple[float, tuple[int, ...]] | None = None
    for base in range(lo, lo + 12):
        for perm in itertools.permutations(core):
            notes: list[int] = []
            p = base
            for pc in perm:
                while p % 12 != pc:
                    p += 1
                notes.append(p)
                p += 1
            if notes[-1] > hi or notes[0] < lo:
                continue
            v = tuple(notes)
            if last is None:
                cost = abs(sum(v) / len(v) - centre)
            else:
                cost = sum(min(abs(a - b) for b in last) for a in v) + sum(
                    min(abs(a - b) for a in v) for b in last
                )
            key = (cost, v)
            if best is None or key < best:
                best = key
    return best[1] if best is not None else tuple(sorted(60 + pc for pc in core))


def write_comping(
    request: GenerateRequest,
    sections: list[Section],
    chords: list[ChordEvent],
    part: Part,
    rng: np.random.Generator,
    end_beats: float | None = None,
) -> list[Note]:
    """The notes of a chords, pad or counter part."""
    lo, hi = RANGES.get(part.role, RANGES["chords"])
    bar = float(request.beats_per_bar)
    rhythm = COMP_RHYTHMS[request.genre]
    notes: list[Note] = []
    last: tuple[int, ...] | None = None
    song_end = chords[-1].start_beats + chords[-1].length_beats
    for section, start, end in active_spans(request, sections, part):
        for chord in (c for c in chords if start <= c.start_beats < end):
            v = voice(chord, last, lo, hi)
            last = v
            c_end = chord.start_beats + chord.length_beats
            ring = end_beats is not None and abs(c_end - song_end) < 1e-9
            if part.role in SUSTAINED or request.genre == "classical":
                hits: list[tuple[float, float, float]] = [(chord.start_beats, chord.length_beats, 0.6)]
            else:
                bar_start = np.floor(chord.start_beats / bar + 1e-9) * bar
                hits = [
                    (bar_start + o, ln, a)
                    for o, ln, a in rhythm
                    if chord.start_beats - 1e-9 <= bar_start + o < c_end
                ]
                hits = hits or [(chord.start_beats, chord.length_beats, 0.7)]
            for k, (onset, length, accent) in enumerate(hits):
                length = min(length, c_end - onset)
                if ring and k == len(hits) - 1:
                    length = float(end_beats) - onset  # type: ignore[arg-type]
                vel = velocity(accent * (0.85 + 0.15 * float(rng.random())), section.energy)
                notes += [Note(p, round(onset, 6), round(length, 6), vel) for p in v]
    return notes
