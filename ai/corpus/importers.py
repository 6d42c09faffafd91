"""Users' own corpora: a folder of MIDI files for ``melody``, a CSV of chord progressions for ``chords``.

:func:`midi_folder_pieces` reads every ``*.mid``/``*.midi`` under a folder (music21): the melody is
the track with the most notes, read as its highest note at each onset (lengths run to the next onset;
gaps become rests); the key is the file's key signature when it names a mode, else estimated with
``analyze('key')``. :func:`csv_pieces` reads a CSV with columns ``song``, ``section``, ``chord`` and
``key`` (the key may be given on the song's first row only): chords are ``ROOT:QUALITY`` (``C:maj``,
``F#:min7``, ``Bb:dom9``) with a quality of :data:`ai.plan.CHORD_QUALITIES`, reduced to the model's
table by :data:`QUALITY_REDUCTION`; keys are ``ROOT:major`` or ``ROOT:minor``. A section change
becomes ``|``. Every refusal is a :class:`CorpusError` naming the file (and line).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ai.corpus.dataset import Piece
from ai.corpus.folk import melody_tokens, score_key
from ai.corpus.vocab import CHORD_MODEL_QUALITIES, EOS, PHRASE, chord_token, mode_token
from ai.plan import CHORD_QUALITIES

__all__ = ["QUALITY_REDUCTION", "CorpusError", "csv_pieces", "midi_folder_pieces", "parse_note_name"]

QUALITY_REDUCTION = {
    "sus2": "sus4",
    "maj6": "maj",
    "min6": "min",
    "minmaj7": "min",
    "7sus4": "sus4",
    "maj9": "maj7",
    "min9": "min7",
    "dom9": "dom7",
    "dom13": "dom7",
    "min11": "min7",
    "power": "maj",
}
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
CSV_COLUMNS = ("song", "section", "chord", "key")


class CorpusError(ValueError):
    """A user's corpus file that cannot be read; the message names the file and line."""


def parse_note_name(text: str) -> int:
    """Pitch class of a note name such as ``C``, ``F#``, ``Bb``, ``Ebb``; ValueError otherwise."""
    if not text or text[0] not in _LETTERS or any(ch not in "#b" for ch in text[1:]):
        raise ValueError(f"not a note name: {text!r} (expected a letter A-G and optional # or b)")
    return (_LETTERS[text[0]] + text.count("#") - text.count("b")) % 12


def _chord(text: str) -> tuple[int, str]:
    root, sep, quality = text.strip().partition(":")
    if not sep:
        raise ValueError(f"chord {text!r} must be written ROOT:QUALITY, e.g. 'C:maj'")
    pc = parse_note_name(root)
    if quality not in CHORD_QUALITIES:
        raise ValueError(
            f"unknown chord quality {quality!r} in {text!r} (allowed: {', '.join(CHORD_QUALITIES)})"
        )
    return pc, QUALITY_REDUCTION.get(quality, quality)


def _key(text: str) -> tuple[int, str]:
    root, sep, mode = text.strip().partition(":")
    mode = {"maj": "major", "min": "minor"}.get(mode, mode)
    if not sep or mode not in ("major", "minor"):
        raise ValueError(f"key {text!r} must be written ROOT:major or ROOT:minor, e.g. 'A:minor'")
    return parse_note_name(root), mode


def csv_pieces(path: str | Path) -> list[Piece]:
    """One piece per song of a chord-progression CSV; CorpusError naming file and line on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot be read: {e}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CorpusError(f"{path}:1: missing column(s) {', '.join(missing)} (need {', '.join(CSV_COLUMNS)})")
    songs: dict[str, dict] = {}
    for row in reader:
        line = reader.line_num
        song = (row["song"] or "").strip()
        if not song:
            raise CorpusError(f"{path}:{line}: empty song name")
        entry = songs.setdefault(song, {"key": None, "chords": [], "line": line})
        try:
            if (row["key"] or "").strip():
                key = _key(row["key"])
                if entry["key"] is not None and entry["key"] != key:
                    raise ValueError(f"key {row['key'].strip()!r} differs from the song's earlier key")
                entry["key"] = key
            entry["chords"].append(((row["section"] or "").strip(), _chord(row["chord"] or "")))
        except ValueError as e:
            raise CorpusError(f"{path}:{line}: {e}") from None
    pieces = []
    for song, entry in songs.items():
        if entry["key"] is None:
            raise CorpusError(f"{path}:{entry['line']}: song {song!r} has no key")
        tonic, mode = entry["key"]
        tokens, last, section = [mode_token(mode)], "", None
        for sec, (pc, quality) in entry["chords"]:
            if section is not None and sec != section and tokens[-1] != PHRASE:
                tokens.append(PHRASE)
                last = ""
            section = sec
            tok = chord_token(pc - tonic, quality)
            if tok != last:
                tokens.append(tok)
                last = tok
        tokens.append(EOS)
        pieces.append(Piece(f"csv:{path.name}:{song}", f"csv {path.name}", tuple(tokens)))
    if not pieces:
        raise CorpusError(f"{path}: no chords in the file")
    assert all(t.split(":")[-1] in CHORD_MODEL_QUALITIES for p in pieces for t in p.tokens if ":" in t)
    return pieces


def _midi_melody(score) -> list[tuple[int | None, float]]:
    parts = list(score.parts) or [score]
    part = max(parts, key=lambda p: len(p.flatten().notes))
    top: dict[float, tuple[int, float]] = {}
    for n in part.flatten().notes:
        on, end, midi = float(n.offset), float(n.offset + n.quarterLength), max(p.midi for p in n.pitches)
        if on not in top or midi > top[on][0]:
            top[on] = (midi, end)
    onsets = sorted(top)
    out: list[tuple[int | None, float]] = []
    for i, on in enumerate(onsets):
        midi, end = top[on]
        nxt = onsets[i + 1] if i + 1 < len(onsets) else end
        out.append((midi, min(end, nxt) - on))
        if nxt - end >= 0.25:
            out.append((None, nxt - end))
    return [(m, ql) for m, ql in out if ql > 0]


def midi_folder_pieces(folder: str | Path) -> list[Piece]:
    """One melody piece per MIDI file under ``folder``; CorpusError naming a file that cannot be read."""
    from music21 import converter

    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not files:
        raise CorpusError(f"{folder}: no .mid or .midi files")
    pieces = []
    for f in files:
        try:
            score = converter.parse(str(f), format="midi")
        except Exception as e:  # music21 raises many types for a broken file
            raise CorpusError(f"{f}: not a readable MIDI file: {e}") from None
        notes = _midi_melody(score)
        tonic, mode = score_key(score)
        toks = melody_tokens(notes, tonic, mode)
        if toks is None:
            raise CorpusError(f"{f}: fewer than 8 notes in its melody track")
        pieces.append(Piece(f"midi:{f.relative_to(folder)}", f"midi {folder.name}", tuple(toks)))
    return pieces
