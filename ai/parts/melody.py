"""Melody: a tune over the chords with phrase structure, in a singable range.

Phrases are four bars: a two-bar question that ends on a long chord tone other than the tonic, and a
two-bar answer on the same rhythm that cadences on the tonic when the chord holds it. Rhythms are the
genre's (:data:`RHYTHMS`, bars of onset and length in beats). The range is a twelfth from the tonic
between C4 and G5 (an octave lower for keys above F#), so every tune is singable.

Pitches: the trained ``melody`` model proposes (tokens ``p-5``..``p+19`` above the tonic, then a duration
``d1``..``d16``) and the melody grammar constrains it, a documented prior: on strong beats (beats 1 and 3)
only chord tones are allowed (:data:`STRONG_TENSION_RATE` of them may be an in-key ninth instead), on the
others only scale tones, always inside the range; without the model the same masks are drawn with
weights that favour steps over leaps. Either way the draws come from the seeded generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ai.corpus.vocab import pitch_token, quantise_sixteenths
from ai.parts.common import active_spans, chord_at, velocity
from ai.plan import ChordEvent, GenerateRequest, Note, Part, Section
from ai.seed import place_seed, seed_placements
from ai.walker import ModelWalker

__all__ = ["RHYTHMS", "STRONG_TENSION_RATE", "melody_range", "write_melody"]

Bar = tuple[tuple[float, float], ...]
RHYTHMS: dict[str, tuple[Bar, ...]] = {
    "pop": (((0, 1), (1, 0.5), (1.5, 1.5), (3, 1)), ((0, 1.5), (1.5, 0.5), (2, 2))),
    "rock": (((0, 0.5), (0.5, 0.5), (1, 1), (2, 1.5), (3.5, 0.5)), ((0, 2), (2, 1), (3, 1))),
    "jazz": (((0, 0.67), (0.67, 0.33), (1, 0.67), (1.67, 0.83), (2.5, 1.5)), ((0, 1.5), (1.5, 0.5), (2, 2))),
    "electronic": (
        ((0, 0.5), (0.75, 0.75), (1.5, 0.5), (2, 1), (3, 0.5), (3.5, 0.5)),
        ((0, 1), (1, 1), (2, 2)),
    ),
    "hip-hop": (((0, 0.75), (0.75, 0.75), (1.5, 1), (2.5, 0.5), (3, 1)), ((0, 1), (1.5, 1.5), (3, 1))),
    "classical": (((0, 1), (1, 1), (2, 1), (3, 1)), ((0, 2), (2, 1), (3, 1)), ((0, 1.5), (1.5, 0.5), (2, 2))),
    "country": (((0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)), ((0, 2), (2, 2))),
    "blues": (((0, 0.67), (0.67, 0.33), (1, 1), (2, 0.67), (2.67, 1.33)), ((0, 1.5), (2, 2))),
    "folk": (((0, 0.5), (0.5, 0.5), (1, 1), (2, 1), (3, 1)), ((0, 1.5), (1.5, 0.5), (2, 1), (3, 1))),
}
STRONG_TENSION_RATE = 0.05
PHRASE_BARS = 4


def melody_range(tonic_pc: int) -> tuple[int, int]:
    """(lowest, highest) MIDI pitch: a twelfth up from the tonic between C4 and G5."""
    lo = 60 + tonic_pc - (12 if tonic_pc > 6 else 0)
    return lo, lo + 19


def _strong(beat: float) -> bool:
    return abs(beat % 2.0) < 1e-6


def _allowed(
    request: GenerateRequest, chord: ChordEvent, beat: float, lo: int, hi: int, tension: bool
) -> list[int]:
    scale = set(request.key.scale_pcs)
    tones = set(chord.pitch_classes)
    if _strong(beat):
        pcs = tones | ({(chord.root_pc + 2) % 12} & scale if tension else set())
    else:
        pcs = scale | tones
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]


def _choose(
    options: list[int], prev: float, rng: np.random.Generator, walker: ModelWalker | None, tonic: int
) -> int:
    if walker is not None:
        by_token = {f"p{p - tonic:+d}": p for p in options}
        if any(walker.knows(t) for t in by_token):
            return by_token[walker.draw(list(by_token), rng)]
    w = np.exp(-np.abs(np.array(options, dtype=np.float64) - prev) / 2.5)
    w[np.array(options) == round(prev)] *= 0.35  # repeated notes are fine, but not all the time
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def write_melody(
    request: GenerateRequest,
    sections: list[Section],
    chords: list[ChordEvent],
    part: Part,
    rng: np.random.Generator,
    model: Any | None = None,
) -> list[Note]:
    """The notes of the melody part. ``model``: a loaded ``melody`` model, or None for the grammar."""
    lo, hi = melody_range(request.key.tonic_pc)
    walker = None
    if model is not None:
        walker = ModelWalker(model, request.temperature, request.top_k)
        walker.feed("<major>" if request.key.mode == "major" else "<minor>")
    bar = float(request.beats_per_bar)
    rhythms = RHYTHMS[request.genre]
    notes: list[Note] = []
    prev = (lo + hi) / 2.0
    tonic_pc = request.key.tonic_pc
    stated = {s.start_bar for s in seed_placements(request, sections, part)}
    seed_bars = int(np.ceil(request.seed_length_beats / bar - 1e-9))
    for section, start, end in active_spans(request, sections, part):
        motif = [rhythms[int(rng.integers(len(rhythms)))] for _ in range(2)]
        first_bar = 0
        if section.start_bar in stated:  # the user's idea, as written; the model continues from it
            seed = place_seed(request, section, lo, hi)
            notes += seed
            if walker is not None:
                for n in seed:
                    walker.feed(pitch_token(n.pitch - lo))
                    walker.feed(f"d{quantise_sixteenths(n.length_beats)}")
            prev = float(seed[-1].pitch) if seed else prev
            first_bar = seed_bars
        for b in range(first_bar, section.bars):
            half = (b % PHRASE_BARS) // 2  # 0 question, 1 answer
            phrase_end = b % 2 == 1 or b == section.bars - 1
            cells = list(motif[b % 2])
            if phrase_end:  # the phrase ends on a long note from beat 3
                cells = [c for c in cells if c[0] < 2] + [(2.0, bar - 2.0)]
            cells = [
                (o, min(ln, nxt[0] - o)) for (o, ln), nxt in zip(cells, [*cells[1:], (bar, 0.0)], strict=True)
            ]
            for onset, length in cells:
                at = start + b * bar + onset
                if at >= end - 1e-9:
                    continue
                chord = chord_at(chords, at)
                last_cell = phrase_end and onset == 2.0
                options = _allowed(request, chord, at - start, lo, hi, rng.random() < STRONG_TENSION_RATE)
                if last_cell:
                    tones = [p for p in options if p % 12 in chord.pitch_classes]
                    want_tonic = half == 1 and tonic_pc in chord.pitch_classes
                    options = [p for p in tones if (p % 12 == tonic_pc) == want_tonic] or tones or options
                pitch = _choose(options, prev, rng, walker, lo)
                if walker is not None:
                    walker.feed(f"d{quantise_sixteenths(length)}")
                vel = velocity(0.85 if _strong(onset) else 0.72, section.energy) + int(rng.integers(-4, 5))
                notes.append(
                    Note(pitch, round(at, 6), round(min(length, end - at) * 0.95, 6), max(1, min(127, vel)))
                )
                prev = float(pitch)
            if walker is not None and phrase_end:
                walker.feed("|")
    return notes
