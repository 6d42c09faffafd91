"""Free-text prompts: :func:`read_prompt` picks out genre, mood and energy, tempo, key and mode, and
instrument words from a line such as ``"mellow jazz ballad in Eb at 70 bpm"``.

The reading is a small lexicon (tables below), not a language model: every word either matches an entry
or is reported back in :attr:`PromptReading.unused`, so the user sees what was ignored. Patterns that
span words ("in Eb", "at 70 bpm", "A minor") are read first. :func:`ai.request.make_request` uses the
reading only for the fields no flag gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GENRE_WORDS", "INSTRUMENT_WORDS", "MOOD_WORDS", "PromptReading", "read_prompt"]

GENRE_WORDS: dict[str, str] = {
    "pop": "pop",
    "rock": "rock",
    "punk": "rock",
    "grunge": "rock",
    "metal": "rock",
    "jazz": "jazz",
    "jazzy": "jazz",
    "swing": "jazz",
    "bebop": "jazz",
    "bossa": "jazz",
    "electronic": "electronic",
    "edm": "electronic",
    "techno": "electronic",
    "house": "electronic",
    "trance": "electronic",
    "electro": "electronic",
    "synthwave": "electronic",
    "hip-hop": "hip-hop",
    "hiphop": "hip-hop",
    "rap": "hip-hop",
    "trap": "hip-hop",
    "boom-bap": "hip-hop",
    "lofi": "hip-hop",
    "lo-fi": "hip-hop",
    "classical": "classical",
    "baroque": "classical",
    "orchestral": "classical",
    "symphonic": "classical",
    "chorale": "classical",
    "country": "country",
    "bluegrass": "country",
    "western": "country",
    "blues": "blues",
    "bluesy": "blues",
    "folk": "folk",
    "celtic": "folk",
    "ballad-folk": "folk",
}
# word -> (mood, energy, mode or None)
MOOD_WORDS: dict[str, tuple[str, str, str | None]] = {
    "mellow": ("mellow", "low", None),
    "calm": ("calm", "low", None),
    "chill": ("chill", "low", None),
    "relaxed": ("relaxed", "low", None),
    "gentle": ("gentle", "low", None),
    "soft": ("soft", "low", None),
    "quiet": ("quiet", "low", None),
    "dreamy": ("dreamy", "low", None),
    "ballad": ("ballad", "low", None),
    "slow": ("slow", "low", None),
    "sad": ("sad", "low", "minor"),
    "melancholy": ("melancholy", "low", "minor"),
    "melancholic": ("melancholy", "low", "minor"),
    "dark": ("dark", "mid", "minor"),
    "moody": ("moody", "mid", "minor"),
    "happy": ("happy", "mid", "major"),
    "bright": ("bright", "mid", "major"),
    "sunny": ("sunny", "mid", "major"),
    "groovy": ("groovy", "mid", None),
    "upbeat": ("upbeat", "high", None),
    "energetic": ("energetic", "high", None),
    "driving": ("driving", "high", None),
    "aggressive": ("aggressive", "high", None),
    "epic": ("epic", "high", None),
    "party": ("party", "high", None),
    "fast": ("fast", "high", None),
    "intense": ("intense", "high", None),
    "uplifting": ("uplifting", "high", "major"),
}
# word -> a role or factory preset the instrumentation stage knows (see ai.instrumentation)
INSTRUMENT_WORDS: dict[str, str] = {
    "piano": "keys",
    "keys": "keys",
    "organ": "keys",
    "rhodes": "keys",
    "bass": "bass",
    "brass": "brass",
    "horns": "brass",
    "horn": "brass",
    "trumpet": "brass",
    "sax": "brass",
    "saxophone": "brass",
    "strings": "strings",
    "violin": "strings",
    "cello": "strings",
    "orchestra": "strings",
    "pad": "pad",
    "pads": "pad",
    "lead": "lead",
    "synth": "lead",
    "guitar": "pluck",
    "guitars": "pluck",
    "pluck": "pluck",
    "harp": "pluck",
    "banjo": "pluck",
    "drums": "drums",
    "beat": "drums",
    "beats": "drums",
    "percussion": "drums",
}

_NOTE = r"[A-Ga-g](?:#|b|♯|♭)?"
_KEY_PATTERNS = (
    re.compile(rf"\bin\s+(?P<tonic>{_NOTE})(?:\s*(?P<mode>major|minor|maj|min|m)\b)?(?=\s|$|[,.;!?])"),
    re.compile(rf"(?<!\S)(?P<tonic>{_NOTE})\s*(?P<mode>major|minor)\b", re.IGNORECASE),
)
_TEMPO_PATTERNS = (
    re.compile(r"\b(?:at\s+)?(?P<bpm>\d+(?:\.\d+)?)\s*(?:bpm|beats per minute)\b", re.IGNORECASE),
    re.compile(r"\btempo\s+(?P<bpm>\d+(?:\.\d+)?)\b", re.IGNORECASE),
)
_MODES = {"major": "major", "maj": "major", "minor": "minor", "min": "minor", "m": "minor"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:\.\d+)?")


@dataclass(frozen=True)
class PromptReading:
    """What a prompt said: each field None (or empty) when it said nothing about it."""

    genre: str | None = None
    tonic_pc: int | None = None
    mode: str | None = None
    tempo_bpm: float | None = None
    energy: str | None = None
    mood: str | None = None
    instruments: tuple[str, ...] = ()
    used: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()


def _tonic_pc(text: str) -> int:
    from ai.request import parse_key

    return parse_key(text[0].upper() + text[1:].replace("♯", "#").replace("♭", "b"))[0]


def read_prompt(prompt: str) -> PromptReading:
    """Read ``prompt``; words matched nowhere come back in ``unused``, in their order."""
    text = prompt or ""
    used: list[str] = []
    fields: dict[str, object] = {}

    def consume(m: re.Match[str]) -> str:
        used.extend(m.group(0).split())
        return " " * len(m.group(0))  # keep the other words where they are

    for pat in _TEMPO_PATTERNS:
        m = pat.search(text)
        if m and "tempo_bpm" not in fields:
            fields["tempo_bpm"] = float(m.group("bpm"))
            text = text[: m.start()] + consume(m) + text[m.end() :]
    for pat in _KEY_PATTERNS:
        m = pat.search(text)
        if m and "tonic_pc" not in fields:
            fields["tonic_pc"] = _tonic_pc(m.group("tonic"))
            if m.group("mode"):
                fields["mode"] = _MODES[m.group("mode").lower()]
            text = text[: m.start()] + consume(m) + text[m.end() :]
    instruments: list[str] = []
    unused: list[str] = []
    for raw in _WORD.findall(text):
        word = raw.lower()
        if word in GENRE_WORDS and "genre" not in fields:
            fields["genre"] = GENRE_WORDS[word]
        elif word in MOOD_WORDS:
            mood, energy, mode = MOOD_WORDS[word]
            fields.setdefault("mood", mood)
            fields.setdefault("energy", energy)
            if mode is not None:
                fields.setdefault("mode", mode)
        elif word in INSTRUMENT_WORDS:
            if INSTRUMENT_WORDS[word] not in instruments:
                instruments.append(INSTRUMENT_WORDS[word])
        else:
            unused.append(raw)
            continue
        used.append(raw)
    return PromptReading(
        genre=fields.get("genre"),  # type: ignore[arg-type]
        tonic_pc=fields.get("tonic_pc"),  # type: ignore[arg-type]
        mode=fields.get("mode"),  # type: ignore[arg-type]
        tempo_bpm=fields.get("tempo_bpm"),  # type: ignore[arg-type]
        energy=fields.get("energy"),  # type: ignore[arg-type]
        mood=fields.get("mood"),  # type: ignore[arg-type]
        instruments=tuple(instruments),
        used=tuple(used),
        unused=tuple(unused),
    )
