"""Bass lines: the genre's bass figure over each chord (:data:`BASS_STYLES`).

A figure is a list of (onset beats, length beats, degree) within a bar, where the degree is ``root``,
``fifth``, ``third``, ``sixth``, ``octave`` or ``approach`` (a semitone under or over the next chord's
root). Root and fifth in pop and country, root eighths in rock, walking quarter notes in jazz (root, a
chord tone, a chord tone, then the approach), a syncopated figure in hip-hop, offbeat eighths in
electronic, the boogie (root, third, fifth, sixth) in blues, half notes in classical and folk. Pitches
sit in E1..G3, each chord's root placed closest to the last note.
"""

from __future__ import annotations

import numpy as np

from ai.parts.common import active_spans, chord_at, nearest_pitch, velocity
from ai.plan import CHORD_QUALITIES, ChordEvent, GenerateRequest, Note, Part, Section

__all__ = ["BASS_STYLES", "write_bass"]

Figure = tuple[tuple[float, float, str], ...]
BASS_STYLES: dict[str, Figure] = {
    "pop": ((0, 1.5, "root"), (1.5, 0.5, "root"), (2, 1.5, "fifth"), (3.5, 0.5, "root")),
    "rock": tuple((i * 0.5, 0.45, "root") for i in range(8)),
    "jazz": ((0, 1, "root"), (1, 1, "chord"), (2, 1, "chord"), (3, 1, "approach")),
    "electronic": tuple((i + 0.5, 0.45, "root") for i in range(4)),
    "hip-hop": ((0, 0.75, "root"), (0.75, 0.5, "root"), (2.5, 0.5, "fifth"), (3.25, 0.5, "octave")),
    "classical": ((0, 2, "root"), (2, 2, "fifth")),
    "country": ((0, 1, "root"), (2, 1, "fifth")),
    "blues": ((0, 0.67, "root"), (1, 0.67, "third"), (2, 0.67, "fifth"), (3, 0.67, "sixth")),
    "folk": ((0, 2, "root"), (2, 2, "fifth")),
}
LOW, HIGH = 28, 55


def _degree(chord: ChordEvent, degree: str, nxt: ChordEvent, rng: np.random.Generator) -> int:
    """A pitch class for ``degree`` of ``chord`` (``nxt`` for the approach note)."""
    tones = CHORD_QUALITIES[chord.quality]
    if degree == "approach":
        return (nxt.root_pc + (1 if rng.random() < 0.5 else -1)) % 12
    if degree == "chord":
        return (chord.root_pc + tones[int(rng.integers(1, min(len(tones), 4)))]) % 12
    offset = {
        "root": 0,
        "octave": 0,
        "fifth": tones[2] if len(tones) > 2 else 7,
        "third": tones[1],
        "sixth": 9,
    }[degree]
    return (chord.root_pc + offset) % 12


def write_bass(
    request: GenerateRequest,
    sections: list[Section],
    chords: list[ChordEvent],
    part: Part,
    rng: np.random.Generator,
    end_beats: float | None = None,
) -> list[Note]:
    """The notes of the bass part."""
    bar = float(request.beats_per_bar)
    figure = BASS_STYLES[request.genre]
    notes: list[Note] = []
    prev = 40.0
    song_end = chords[-1].start_beats + chords[-1].length_beats
    for section, start, end in active_spans(request, sections, part):
        b = start
        while b < end - 1e-9:
            for onset, length, degree in figure:
                at = b + onset
                if at >= end - 1e-9 or onset >= bar:
                    continue
                chord = chord_at(chords, at)
                nxt = chord_at(chords, at + 1.0)
                pc = _degree(chord, degree, nxt, rng)
                target = prev + (12 if degree == "octave" else 0)
                if degree == "root":
                    target = min(prev, 45.0)
                pitch = nearest_pitch(pc, target, LOW, HIGH)
                length = min(length, end - at)
                if (
                    end_beats is not None
                    and abs(at + length - song_end) < 1.0
                    and at + 1.0 >= song_end - 1e-9
                ):
                    length = end_beats - at  # the last note rings to the end
                accent = 0.9 if onset == 0 else 0.75
                notes.append(Note(pitch, round(at, 6), round(length, 6), velocity(accent, section.energy)))
                prev = float(pitch)
            b += bar
    return notes
