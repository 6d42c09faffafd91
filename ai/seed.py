"""Seed continuation: a user's MIDI idea read as a tune (:func:`read_seed`), placed in the arrangement and
harmonised (:func:`seed_placements`, :func:`fit_seed_chords`).

Reading: the melodic part of the file (the non-drum track and channel with the most notes), its highest
note at each onset (a monophonic tune; a note is cut where the next one starts), moved so its first bar
starts at beat 0. The key is the file's first key signature, else estimated from the tune's pitch classes
weighted by length against the Krumhansl-Kessler key profiles; the tempo is the file's first tempo (120
bpm when it has none). Refusals are ``ValueError`` naming the file: a broken MIDI file, or one with no
melodic notes.

Arranging: the idea opens the melody. It is played as written (moved by octaves into the melody's range)
at the start of the first section the melody plays in that holds it whole, and again wherever a section
of that name returns
(every verse states it); the melody model is fed the idea's tokens and continues from there, with the
request's temperature and top-k. The chords under each statement are refitted to the idea: per chord
slot, the chord of the genre's grammar (:func:`ai.grammar.allowed_tokens`) whose tones cover the most
note-time of the idea sounding in that slot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from ai.grammar import allowed_tokens
from ai.plan import CHORD_QUALITIES, NOTE_NAMES, ChordEvent, GenerateRequest, Note, Part, Section
from ai.progression import parse_token
from ai.song import DRUM_CHANNEL

__all__ = ["KEY_PROFILES", "SeedIdea", "estimate_key", "fit_seed_chords", "read_seed", "seed_placements"]

DEFAULT_TEMPO_BPM = 120.0
# Krumhansl-Kessler probe-tone profiles (major, minor), tonic first
KEY_PROFILES: dict[str, tuple[float, ...]] = {
    "major": (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    "minor": (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
}
MAX_SEED_NOTES = 4096


@dataclass(frozen=True)
class SeedIdea:
    """A tune read from a MIDI file: its key (``"Eb major"``), tempo and notes (beats from its first bar)."""

    key: str
    tempo_bpm: float
    notes: tuple[Note, ...]

    @property
    def length_beats(self) -> float:
        return max(n.start_beats + n.length_beats for n in self.notes)


def estimate_key(notes: tuple[Note, ...] | list[Note]) -> tuple[int, str]:
    """(tonic pitch class, mode) whose profile correlates best with the notes' length-weighted pitch
    classes (the Krumhansl-Schmuckler method)."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.length_beats
    best: tuple[float, int, str] = (-2.0, 0, "major")
    for mode, profile in KEY_PROFILES.items():
        prof = np.array(profile)
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(prof, tonic))[0, 1]) if hist.std() > 0 else 0.0
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def read_seed(path: str | os.PathLike[str], beats_per_bar: int = 4) -> SeedIdea:
    """The tune of the MIDI file at ``path`` (see the module docstring); ValueError naming the file."""
    from bridge.midi_export import key_name
    from bridge.midi_import import note_parts
    from bridge.midifile import read_midi_file

    name = os.fspath(path)
    data = read_midi_file(name)  # MidiFileError (a ValueError) names the file and the place
    parts = [(n, ch, notes) for n, ch, notes in note_parts(data) if ch != DRUM_CHANNEL]
    if not parts:
        raise ValueError(f"{name}: no melodic notes (only drums, or no notes at all)")
    notes = max(parts, key=lambda p: len(p[2]))[2]
    top: dict[int, tuple[int, int, int]] = {}  # start tick -> (pitch, end tick, velocity), highest pitch
    for pitch, start, end, vel in notes:
        if start not in top or pitch > top[start][0]:
            top[start] = (pitch, end, vel)
    starts = sorted(top)[:MAX_SEED_NOTES]
    ppq = data.ticks_per_beat
    first_bar = (starts[0] / ppq) // beats_per_bar * beats_per_bar
    tune = []
    for i, s in enumerate(starts):
        pitch, end, vel = top[s]
        if i + 1 < len(starts):
            end = min(end, starts[i + 1])
        tune.append(
            Note(pitch, round(s / ppq - first_bar, 6), round((end - s) / ppq, 6), max(1, min(127, vel)))
        )
    tempo = data.tempo_changes[0].bpm if data.tempo_changes else DEFAULT_TEMPO_BPM
    if data.key_signatures:
        key = key_name(data.key_signatures[0].sharps, data.key_signatures[0].minor)
    else:
        tonic, mode = estimate_key(tune)
        key = f"{NOTE_NAMES[tonic]} {mode}"
    return SeedIdea(key, round(float(tempo), 3), tuple(tune))


def seed_placements(request: GenerateRequest, sections: list[Section], part: Part) -> list[Section]:
    """The sections in which ``part`` (the melody) states the seed: the first it plays in that holds the
    whole idea (the longest, when none does), and every later one of the same name."""
    active = [s for s in sections if not part.active_sections or s.name in part.active_sections]
    if not request.seed_notes or not active:
        return []
    need = request.seed_length_beats
    first = next((s for s in active if s.bars * request.beats_per_bar >= need - 1e-9), None)
    first = first or max(active, key=lambda s: s.bars)
    return [s for s in active if s.name == first.name and s.start_bar >= first.start_bar]


def place_seed(request: GenerateRequest, section: Section, lo: int, hi: int) -> list[Note]:
    """The seed's notes at ``section``'s start, cut at its end, moved by octaves so the tune's middle
    lies in ``lo..hi``."""
    pitches = sorted(n.pitch for n in request.seed_notes)
    middle = pitches[len(pitches) // 2]
    shift = 0
    while middle + shift > hi:
        shift -= 12
    while middle + shift < lo:
        shift += 12
    start = section.start_bar * request.beats_per_bar
    end = start + section.bars * request.beats_per_bar
    out = []
    for n in request.seed_notes:
        at = start + n.start_beats
        if at >= end - 1e-9:
            break
        length = round(min(n.length_beats, end - at), 6)
        out.append(Note(max(0, min(127, n.pitch + shift)), round(at, 6), length, n.velocity))
    return out


def _cover(weight: np.ndarray, root: int, quality: str) -> float:
    """Note-time (``weight`` per pitch class) that the chord's first four tones cover."""
    return float(sum(weight[(root + i) % 12] for i in CHORD_QUALITIES[quality][:4]))


def fit_seed_chords(
    request: GenerateRequest, chords: list[ChordEvent], placements: list[Section]
) -> list[ChordEvent]:
    """``chords`` with every chord under a statement of the seed replaced by the grammar's chord that
    covers the most note-time of the seed in its span (the original chord wins a tie)."""
    if not placements:
        return chords
    tonic = request.key.tonic_pc
    bar = request.beats_per_bar
    length = request.seed_length_beats

    options = []
    for tok in allowed_tokens(request.genre, request.key.mode):
        root, quality = parse_token(tok)
        options.append(((tonic + root) % 12, quality))
    out = []
    for c in chords:
        span = [s for s in placements if s.start_bar * bar <= c.start_beats < s.start_bar * bar + length]
        if not span:
            out.append(c)
            continue
        origin = span[0].start_bar * bar
        a, b = c.start_beats - origin, c.start_beats - origin + c.length_beats
        weight = np.zeros(12)
        for n in request.seed_notes:
            overlap = min(b, n.start_beats + n.length_beats) - max(a, n.start_beats)
            if overlap > 0:
                weight[n.pitch % 12] += overlap
        if weight.sum() == 0:
            out.append(c)
            continue
        here = (c.root_pc, c.quality)
        best = max(options, key=lambda o: (_cover(weight, *o), o == here))
        if _cover(weight, *best) > _cover(weight, *here):
            c = replace(c, root_pc=best[0], quality=best[1], bass_pc=None)
        out.append(c)
    return out
