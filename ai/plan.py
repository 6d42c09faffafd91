"""The arrangement plan: the plain data every arranger stage reads and writes.

A request (:class:`GenerateRequest`, checked by :mod:`ai.request`) goes through the stages in order:
structure (:class:`Section` list) -> progression (:class:`ChordEvent` list) -> instrumentation
(:class:`Part` list, notes empty) -> parts (notes filled in) -> :class:`Arrangement`, which
:mod:`ai.song` turns into a song document for the engine. Positions are in beats (quarter notes) from the
song start; bars are 4/4 unless ``beats_per_bar`` says otherwise.

Chord qualities and scales are tables (:data:`CHORD_QUALITIES`, :data:`SCALES`), so every stage spells
harmony the same way: a chord is a root pitch class plus a quality name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHORD_QUALITIES",
    "GENRES",
    "NOTE_NAMES",
    "SCALES",
    "Arrangement",
    "ChordEvent",
    "GenerateRequest",
    "Key",
    "Note",
    "Part",
    "Section",
]

GENRES = ("pop", "rock", "jazz", "electronic", "hip-hop", "classical", "country", "blues", "folk")

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# scale name -> semitones above the tonic
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "blues": (0, 3, 5, 6, 7, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
}

# chord quality -> semitones above the root (the chord tones; tensions beyond the 7th are listed too)
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dom7": (0, 4, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "minmaj7": (0, 3, 7, 11),
    "7sus4": (0, 5, 7, 10),
    "maj9": (0, 4, 7, 11, 14),
    "min9": (0, 3, 7, 10, 14),
    "dom9": (0, 4, 7, 10, 14),
    "dom13": (0, 4, 7, 10, 14, 21),
    "min11": (0, 3, 7, 10, 14, 17),
    "power": (0, 7),
}


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C .. 11 = B) and a mode (a name in :data:`SCALES`)."""

    tonic_pc: int
    mode: str = "major"

    @property
    def scale_pcs(self) -> tuple[int, ...]:
        return tuple((self.tonic_pc + s) % 12 for s in SCALES[self.mode])

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic_pc]} {self.mode}"


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate, already checked (build one with :func:`ai.request.make_request`)."""

    genre: str
    key: Key
    tempo_bpm: float
    bars: int
    duration_s: float | None = None  # when given, the rendered audio is exactly this long
    energy: str = "mid"  # low | mid | high
    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    beats_per_bar: int = 4
    prompt: str = ""
    instruments: tuple[str, ...] = ()  # instrument words from the prompt (roles or preset names)
    mood: str = ""
    seed_notes: tuple[Note, ...] = ()  # a user's tune to open the melody with (ai.seed), beats from 0

    @property
    def seed_length_beats(self) -> float:
        """Where the seed tune ends (0 without one)."""
        return max((n.start_beats + n.length_beats for n in self.seed_notes), default=0.0)


@dataclass(frozen=True)
class Section:
    """A named part of the song: ``bars`` bars from ``start_bar``; ``energy`` 0..1 drives the density plan."""

    name: str  # intro, verse, pre_chorus, chorus, bridge, solo, breakdown, drop, outro, head...
    start_bar: int
    bars: int
    energy: float


@dataclass(frozen=True)
class ChordEvent:
    """A chord from ``start_beats`` for ``length_beats``: root pitch class and quality
    (:data:`CHORD_QUALITIES`); ``bass_pc`` for a slash chord (None: the root)."""

    root_pc: int
    quality: str
    start_beats: float
    length_beats: float
    bass_pc: int | None = None

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple(sorted({(self.root_pc + i) % 12 for i in CHORD_QUALITIES[self.quality]}))

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.root_pc]}:{self.quality}"


@dataclass(frozen=True)
class Note:
    pitch: int  # MIDI note number
    start_beats: float
    length_beats: float
    velocity: int  # 1..127


@dataclass
class Part:
    """One track of the arrangement: its ``role`` (melody, bass, drums, chords, pad, counter), the song
    file's ``instrument`` entry (``{type: synth, preset: NAME}``, ``{type: drums}``...), its mix settings,
    the bars it plays per section (the density plan) and, once the parts stage ran, its notes."""

    name: str
    role: str
    instrument: dict[str, Any]
    volume_db: float = -6.0
    pan: float = 0.0
    sends_db: float | None = None  # reverb send level, None: no send
    active_sections: tuple[str, ...] = ()  # section names it plays in (empty: all)
    gm_program: int | None = None  # the General MIDI program for MIDI export (None for drums)
    notes: list[Note] = field(default_factory=list)


@dataclass
class Arrangement:
    """The whole generated song, ready for :mod:`ai.song` (song document) or MIDI export."""

    request: GenerateRequest
    sections: list[Section]
    chords: list[ChordEvent]
    parts: list[Part]

    @property
    def length_beats(self) -> float:
        return float(sum(s.bars for s in self.sections) * self.request.beats_per_bar)
