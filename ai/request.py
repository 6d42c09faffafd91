"""Requests: :func:`make_request` checks what the user asked for and returns a
:class:`ai.plan.GenerateRequest`.

Every field is checked at this edge, with an exact message that names the field and the allowed values
(``key: 'H#' is not a key; allowed: C, C#, Db, D, ... B, optionally with major/minor``), raised as
:class:`ai.errors.RequestError`. A free-text ``prompt`` (:mod:`ai.prompt`) fills in what the flags leave
out; a flag given explicitly always wins. Without a tempo, the genre's typical tempo
(:data:`GENRE_TEMPO_BPM`) is used. Give the length as ``duration_s`` or ``bars``, never both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ai.errors import RequestError
from ai.plan import GENRES, GenerateRequest, Key, Note

__all__ = [
    "ENERGIES",
    "GENRE_TEMPO_BPM",
    "MAX_BARS",
    "MAX_DURATION_S",
    "MODES",
    "TEMPO_RANGE_BPM",
    "make_request",
    "parse_key",
]

TEMPO_RANGE_BPM = (20.0, 300.0)
MODES = ("major", "minor")
ENERGIES = ("low", "mid", "high")
MAX_BARS = 1000
MAX_DURATION_S = 3600.0
TEMPERATURE_RANGE = (0.0, 5.0)  # 0: always the most likely allowed token
MAX_TOP_K = 1000

# the tempo a genre is arranged at when none is asked for
GENRE_TEMPO_BPM: dict[str, float] = {
    "pop": 110.0,
    "rock": 126.0,
    "jazz": 140.0,
    "electronic": 124.0,
    "hip-hop": 90.0,
    "classical": 84.0,
    "country": 112.0,
    "blues": 96.0,
    "folk": 100.0,
}
# the mode a genre leans to when none is asked for
GENRE_MODE: dict[str, str] = {g: "major" for g in GENRES} | {"hip-hop": "minor", "electronic": "minor"}

# spellings of the twelve tonics: letters with # or b (and the unicode signs) -> pitch class
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
KEY_SPELLINGS = (
    "C",
    "C#",
    "Db",
    "D",
    "D#",
    "Eb",
    "E",
    "F",
    "F#",
    "Gb",
    "G",
    "G#",
    "Ab",
    "A",
    "A#",
    "Bb",
    "B",
)


def parse_key(text: str) -> tuple[int, str | None]:
    """``"Eb"`` -> ``(3, None)``, ``"A minor"``/``"Am"`` -> ``(9, "minor")``; RequestError otherwise."""
    allowed = f"allowed: {', '.join(KEY_SPELLINGS)}, optionally followed by major or minor (or 'm')"
    words = str(text).strip().split()
    mode: str | None = None
    if len(words) == 2 and words[1].lower() in MODES:
        mode = words[1].lower()
    elif len(words) != 1:
        raise RequestError("key", f"{text!r} is not a key; {allowed}")
    tonic = words[0]
    if len(tonic) >= 2 and tonic.endswith("m") and mode is None and tonic[:-1][:1].upper() in _LETTER_PC:
        tonic, mode = tonic[:-1], "minor"
    letter, accidental = tonic[:1].upper(), tonic[1:]
    if letter not in _LETTER_PC or accidental not in _ACCIDENTAL:
        raise RequestError("key", f"{text!r} is not a key; {allowed}")
    return (_LETTER_PC[letter] + _ACCIDENTAL[accidental]) % 12, mode


def _choice(field: str, value: str, allowed: Sequence[str]) -> str:
    v = str(value).strip().lower()
    if v not in allowed:
        raise RequestError(field, f"unknown {value!r}; allowed: {', '.join(allowed)}")
    return v


def _number(field: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RequestError(field, f"must be a number in {lo:g}..{hi:g}{unit}, got {value!r}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise RequestError(field, f"must be in {lo:g}..{hi:g}{unit}, got {value!r}")
    return v


def _integer(field: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RequestError(field, f"must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


def make_request(
    genre: str | None = None,
    key: str | None = None,
    mode: str | None = None,
    tempo_bpm: float | None = None,
    *,
    duration_s: float | None = None,
    bars: int | None = None,
    energy: str | None = None,
    prompt: str = "",
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    beats_per_bar: int = 4,
    instruments: Sequence[str] = (),
    seed_notes: Sequence[Note] = (),
) -> GenerateRequest:
    """Check a request and fill in defaults: from the ``prompt`` first, then the genre's.

    Raises :class:`ai.errors.RequestError` naming the field, e.g. ``tempo_bpm: must be in 20..300 bpm,
    got 0``. Next: :func:`ai.arranger.arrange`."""
    from ai.prompt import read_prompt

    reading = read_prompt(prompt)
    genre = genre if genre is not None else reading.genre
    if genre is None:
        raise RequestError("genre", f"missing; allowed: {', '.join(GENRES)}")
    genre = _choice("genre", genre, GENRES)
    tonic_pc, key_mode = (0, None)
    if key is not None:
        tonic_pc, key_mode = parse_key(key)
    elif reading.tonic_pc is not None:
        tonic_pc = reading.tonic_pc
    if mode is not None:
        mode = _choice("mode", mode, MODES)
    else:  # the flag, then a mode spelled with the key, then the prompt's, then the genre's
        mode = key_mode or reading.mode or GENRE_MODE[genre]
    if tempo_bpm is None:
        tempo_bpm = reading.tempo_bpm if reading.tempo_bpm is not None else GENRE_TEMPO_BPM[genre]
    tempo = _number("tempo_bpm", tempo_bpm, *TEMPO_RANGE_BPM, " bpm")
    energy = _choice("energy", energy if energy is not None else (reading.energy or "mid"), ENERGIES)
    beats_per_bar = _integer("beats_per_bar", beats_per_bar, 2, 12)
    if (duration_s is None) == (bars is None):
        both = "both were given" if bars is not None else "neither was given"
        raise RequestError("duration_s", f"give the length as duration_s (seconds) or bars, not {both}")
    bar_s = beats_per_bar * 60.0 / tempo
    if duration_s is not None:
        duration = _number("duration_s", duration_s, 0.0, MAX_DURATION_S, " seconds")
        if duration < bar_s:
            raise RequestError(
                "duration_s", f"{duration:g} s is shorter than one bar ({bar_s:g} s at {tempo:g} bpm)"
            )
        n_bars = min(MAX_BARS, math.floor(duration / bar_s + 1e-9))
    else:
        duration = None
        n_bars = _integer("bars", bars if bars is not None else 0, 1, MAX_BARS)
    return GenerateRequest(
        genre=genre,
        key=Key(tonic_pc, mode),
        tempo_bpm=tempo,
        bars=n_bars,
        duration_s=duration,
        energy=energy,
        seed=_integer("seed", seed, 0, 2**63 - 1),
        temperature=_number("temperature", temperature, *TEMPERATURE_RANGE),
        top_k=_integer("top_k", top_k, 0, MAX_TOP_K),
        beats_per_bar=beats_per_bar,
        prompt=prompt,
        instruments=tuple(instruments) + tuple(w for w in reading.instruments if w not in instruments),
        mood=reading.mood or "",
        seed_notes=_seed_notes(seed_notes),
    )


def _seed_notes(notes: Sequence[Note]) -> tuple[Note, ...]:
    for i, n in enumerate(notes):
        if not (0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.start_beats >= 0 and n.length_beats > 0):
            raise RequestError(
                "seed_notes",
                f"note {i} must have pitch 0..127, velocity 1..127, start >= 0 and length > 0, got {n}",
            )
    return tuple(notes)
