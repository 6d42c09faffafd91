"""Chord names from notes: :func:`chord_name` names a set of pitches, :func:`chords_per_bar` reads a song's
harmony bar by bar (half bar by half bar where it changes inside a bar).

Chord qualities are a table (:data:`QUALITIES`): intervals above the root -> suffix. A set of pitches is
named when its pitch classes are exactly one quality on one root; where several readings fit (C6 is also
Am7/C), the one whose root is the lowest note wins, then the earlier quality in the table. A lowest note
that is not the root is written as a slash bass ("C/E"). :func:`placed_notes` lists the notes that play
on the timeline, cut by their clips as the sequencer cuts them; the piano roll draws the same list.

Everything here is plain Python over the session's data: deterministic, and cheap to import.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.session import Session

__all__ = [
    "DRUM_CHANNEL",
    "MODE_OFFSETS",
    "QUALITIES",
    "SPELLINGS",
    "PlacedNote",
    "chord_name",
    "chords_per_bar",
    "placed_notes",
    "spelling_for_key",
]

DRUM_CHANNEL = 9  # General MIDI channel 10: percussion, no pitch to name

# suffix -> intervals above the root, in order of preference where one set of notes reads two ways
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "add9": (0, 2, 4, 7),
}
# sevenths with the fifth left out, as players voice them; named like the full chord, preferred last
_NO_FIFTH: dict[str, tuple[int, ...]] = {"7": (0, 4, 10), "maj7": (0, 4, 11), "m7": (0, 3, 10)}

SPELLINGS: dict[str, tuple[str, ...]] = {
    "mixed": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "sharps": ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"),
    "flats": ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"),
}
# semitones from a mode's tonic down to its relative major's: the key signature it shares
MODE_OFFSETS = {
    "major": 0, "ionian": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7,
    "minor": 9, "aeolian": 9, "locrian": 11,
}  # fmt: skip
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_FLAT_MAJORS = {5, 10, 3, 8, 1}  # F Bb Eb Ab Db
_SHARP_MAJORS = {7, 2, 9, 4, 11, 6}  # G D A E B F#


@dataclass(frozen=True)
class _Reading:
    root: int  # pitch class
    suffix: str
    rank: int  # place in the preference order
    mask: int  # the pitch classes, bit k for pitch class k


def _build_table() -> dict[int, list[_Reading]]:
    table: dict[int, list[_Reading]] = {}
    entries = list(QUALITIES.items()) + list(_NO_FIFTH.items())
    for rank, (suffix, intervals) in enumerate(entries):
        for root in range(12):
            mask = 0
            for iv in intervals:
                mask |= 1 << ((root + iv) % 12)
            table.setdefault(mask, []).append(_Reading(root, suffix, rank, mask))
    return table


_TABLE = _build_table()
_READINGS = sorted((r for rs in _TABLE.values() for r in rs), key=lambda r: (r.rank, r.root))


def spelling_for_key(key: str) -> str:
    """``"flats"``, ``"sharps"`` or ``"mixed"`` (Eb, F#, Bb...) for a key like ``"F major"``, ``"E minor"``
    or ``"G dorian"``: the accidentals of its key signature; C major and its modes, or no key, get mixed."""
    words = key.split()
    if not words or words[0][:1].upper() not in _LETTERS:
        return "mixed"
    tonic = words[0]
    if tonic[1:2] in ("b", "#"):
        return "flats" if tonic[1] == "b" else "sharps"
    mode = words[1].lower() if len(words) > 1 else "major"
    relative_major = (_LETTERS[tonic[0].upper()] - MODE_OFFSETS.get(mode, 0)) % 12
    if relative_major in _FLAT_MAJORS:
        return "flats"
    if relative_major in _SHARP_MAJORS:
        return "sharps"
    return "mixed"


def _names(spelling: str) -> tuple[str, ...]:
    try:
        return SPELLINGS[spelling]
    except KeyError:
        raise ValueError(f"spelling must be one of {', '.join(SPELLINGS)}, got {spelling!r}") from None


# the scale degree of each interval above the root, to spell a slash bass from the root's letter
_DEGREE = {0: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5, 8: 5, 9: 6, 10: 7, 11: 7}
_LETTER_ORDER = "CDEFGAB"


def _bass_name(root_name: str, interval: int, bass_pc: int, names: tuple[str, ...]) -> str:
    """The bass spelled as the chord tone it is (A/C#, Eb/G, C7/Bb), or from ``names`` where that would
    take a double sharp or flat."""
    letter = _LETTER_ORDER[(_LETTER_ORDER.index(root_name[0]) + _DEGREE[interval] - 1) % 7]
    diff = (bass_pc - _LETTERS[letter] + 6) % 12 - 6
    if abs(diff) > 1:
        return names[bass_pc]
    return letter + {-1: "b", 0: "", 1: "#"}[diff]


def _format(reading: _Reading, bass_pc: int | None, names: tuple[str, ...]) -> str:
    root = names[reading.root]
    if bass_pc is None or bass_pc == reading.root:
        return root + reading.suffix
    return f"{root}{reading.suffix}/{_bass_name(root, (bass_pc - reading.root) % 12, bass_pc, names)}"


def _best(readings: Iterable[_Reading], bass_pc: int | None) -> _Reading:
    return min(readings, key=lambda r: (r.root != bass_pc, r.rank, r.root))


def chord_name(pitches: Iterable[int], spelling: str = "mixed") -> str | None:
    """The chord the MIDI ``pitches`` spell (any order, doublings and octaves allowed), e.g. ``[64, 67, 72]``
    -> ``"C/E"``; ``None`` for fewer than three pitch classes or a set that is no chord in the table.

    ``spelling`` picks the black-key names: ``"mixed"`` (Eb, F#, Bb...), ``"sharps"`` or ``"flats"``.
    """
    names = _names(spelling)
    ps = [int(p) for p in pitches]
    for p in ps:
        if not 0 <= p <= 127:
            raise ValueError(f"pitch must be in 0..127, got {p}")
    if not ps:
        return None
    mask = 0
    for p in ps:
        mask |= 1 << (p % 12)
    readings = _TABLE.get(mask)
    if not readings:
        return None
    bass_pc = min(ps) % 12
    return _format(_best(readings, bass_pc), bass_pc, names)


@dataclass(frozen=True)
class PlacedNote:
    """A note as it plays on the timeline: ``start_beats`` to ``end_beats``, cut by its clip."""

    track: int  # index into session.tracks
    pitch: int
    start_beats: float
    end_beats: float
    velocity: int
    channel: int


def placed_notes(session: Session) -> list[PlacedNote]:
    """Every note of every track where it plays, sorted by start then track then pitch.

    A clip plays the content from ``offset_beats`` for its length; a note starting outside that window is
    not heard and one running past its end is cut there (as :func:`engine.sequencer.compile_events` does).
    A note that starts again on the same pitch and channel while it sounds ends the earlier one there.
    """
    out: list[PlacedNote] = []
    for ti, track in enumerate(session.tracks):
        mine: list[PlacedNote] = []
        for clip in track.clips:
            lo = clip.offset_beats
            hi = clip.offset_beats + (clip.end_beats - clip.start_beats)
            base = clip.start_beats - clip.offset_beats
            for n in clip.notes:
                if not lo <= n.start_beats < hi:
                    continue
                end = min(n.start_beats + n.length_beats, hi)
                mine.append(PlacedNote(ti, n.pitch, base + n.start_beats, base + end, n.velocity, n.channel))
        mine.sort(key=lambda m: (m.channel, m.pitch, m.start_beats, m.end_beats))
        for i, m in enumerate(mine):
            nxt = mine[i + 1] if i + 1 < len(mine) else None
            if (
                nxt is not None
                and (nxt.channel, nxt.pitch) == (m.channel, m.pitch)
                and nxt.start_beats < m.end_beats
            ):
                if nxt.start_beats <= m.start_beats:
                    continue  # two notes on one start: the later one plays
                m = PlacedNote(m.track, m.pitch, m.start_beats, nxt.start_beats, m.velocity, m.channel)
            out.append(m)
    out.sort(key=lambda n: (n.start_beats, n.track, n.pitch))
    return out


def _heard_tracks(session: Session) -> set[int]:
    soloed = {i for i, t in enumerate(session.tracks) if t.solo}
    if soloed:
        return soloed
    return {i for i, t in enumerate(session.tracks) if not t.mute}


def _span_chord(notes: Sequence[PlacedNote], start: float, end: float, names: tuple[str, ...]) -> str | None:
    """The chord of the notes sounding in ``[start, end)``, each pitch class weighted by how long it
    sounds there; tones under a quarter of the strongest one's weight count as passing notes."""
    weight = [0.0] * 12
    overlaps: list[tuple[int, float]] = []
    for n in notes:
        d = min(n.end_beats, end) - max(n.start_beats, start)
        if d > 0:
            weight[n.pitch % 12] += d
            overlaps.append((n.pitch, d))
    if not overlaps:
        return None
    top = max(weight)
    significant = 0
    for pc in range(12):
        if weight[pc] >= 0.25 * top:
            significant |= 1 << pc
    # the bass: the heaviest pitch class within an octave of the lowest note, the lower one on a tie
    lowest = min(p for p, _ in overlaps)
    low_weight: dict[int, float] = {}
    low_pitch: dict[int, int] = {}
    for p, d in overlaps:
        if p < lowest + 12:
            low_weight[p % 12] = low_weight.get(p % 12, 0.0) + d
            low_pitch[p % 12] = min(low_pitch.get(p % 12, 127), p)
    bass_pc = min(low_weight, key=lambda pc: (-low_weight[pc], low_pitch[pc]))

    best: _Reading | None = None
    best_key: tuple[float, bool, int, int] | None = None
    for r in _READINGS:
        if r.mask & ~significant:
            continue
        covered = sum(weight[pc] for pc in range(12) if r.mask >> pc & 1)
        key = (-covered, r.root != bass_pc, r.rank, r.root)
        if best_key is None or key < best_key:
            best, best_key = r, key
    if best is None:
        return None
    return _format(best, bass_pc if best.mask >> bass_pc & 1 else None, names)


def chords_per_bar(session: Session, spelling: str | None = None) -> list[tuple[float, float, str]]:
    """``(start_beats, end_beats, name)`` for each bar of the song whose notes name a chord, or for each
    half of a bar where the two halves name different chords. Bars without a chord are left out.

    Notes are weighted by how long they sound in the span; drum notes (channel 9) and tracks that are not
    heard (muted, or not soloed while another track is) are ignored. ``spelling`` defaults to the one of
    ``session.key`` (flats in F major, sharps in E minor, mixed otherwise).
    """
    names = _names(spelling if spelling is not None else spelling_for_key(session.key))
    heard = _heard_tracks(session)
    notes = [n for n in placed_notes(session) if n.channel != DRUM_CHANNEL and n.track in heard]
    if not notes:
        return []
    starts = [n.start_beats for n in notes]
    longest = max(n.end_beats - n.start_beats for n in notes)
    song_end = max(session.end_beats(), max(n.end_beats for n in notes))
    tm = session.tempo_map
    out: list[tuple[float, float, str]] = []
    bar = 0
    while True:
        a = tm.bar_to_beat(bar)
        if a >= song_end:
            break
        b = tm.bar_to_beat(bar + 1)
        # notes that can sound in [a, b): started before b, and not ended before a
        window = notes[bisect.bisect_left(starts, a - longest) : bisect.bisect_left(starts, b)]
        window = [n for n in window if n.end_beats > a]
        mid = (a + b) / 2.0
        first = _span_chord(window, a, mid, names)
        second = _span_chord(window, mid, b, names)
        # split where the harmony changes, not where only the bass walks (C, C/E is one bar of C)
        if first is not None and second is not None and first.split("/")[0] != second.split("/")[0]:
            out += [(a, mid, first), (mid, b, second)]
        else:
            whole = _span_chord(window, a, b, names)
            if whole is not None:
                out.append((a, b, whole))
        bar += 1
    return out
