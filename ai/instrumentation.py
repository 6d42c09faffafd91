"""Instrumentation: :func:`plan_parts` picks the tracks for a genre and energy, and when each one plays.

Each genre lists its tracks (:data:`ENSEMBLES`): a role (melody, bass, drums, chords, pad, counter), a
factory synth preset (bass, brass, keys, lead, pad, pluck, strings; see ``presets/factory/synth/``) or
the drum machine, a General MIDI program for MIDI export, mix settings, and the lowest section energy at
which it plays. That threshold is the density plan: sparse intros and breakdowns, everything in the
choruses and drops. Instrument words from the prompt (``piano``, ``strings``...) swap the preset of the
track with that role or add a track. Next: :func:`ai.arranger.arrange` fills in the notes.
"""

from __future__ import annotations

from typing import Any

from ai.plan import GenerateRequest, Part, Section

__all__ = ["DRUMS", "ENERGY_MIN_SCALE", "ENSEMBLES", "plan_parts"]

DRUMS: dict[str, Any] = {"type": "drums"}  # the General MIDI drum machine (instruments/drums.py)

Track = tuple[str, str, str, int | None, float, float, float | None, float]
# name, role, preset ("drums" for the drum machine), GM program, volume_db, pan, reverb send_db, min energy
ENSEMBLES: dict[str, tuple[Track, ...]] = {
    "pop": (
        ("lead", "melody", "lead", 80, -9, 0.0, -14, 0.45),
        ("keys", "chords", "keys", 4, -11, -0.2, -16, 0.0),
        ("pad", "pad", "pad", 89, -16, 0.2, -10, 0.7),
        ("bass", "bass", "bass", 38, -8, 0.0, None, 0.4),
        ("drums", "drums", "drums", None, -6, 0.0, -22, 0.35),
    ),
    "rock": (
        ("lead", "melody", "lead", 29, -9, 0.0, -16, 0.45),
        ("guitar", "chords", "pluck", 30, -10, -0.3, -18, 0.0),
        ("organ", "pad", "keys", 16, -15, 0.3, -14, 0.75),
        ("bass", "bass", "bass", 33, -7, 0.0, None, 0.3),
        ("drums", "drums", "drums", None, -5, 0.0, -20, 0.3),
    ),
    "jazz": (
        ("horn", "melody", "brass", 65, -10, 0.15, -12, 0.3),
        ("piano", "chords", "keys", 0, -11, -0.25, -14, 0.0),
        ("bass", "bass", "bass", 32, -8, 0.0, None, 0.25),
        ("drums", "drums", "drums", None, -9, 0.0, -18, 0.3),
    ),
    "electronic": (
        ("lead", "melody", "lead", 81, -10, 0.0, -12, 0.6),
        ("pluck", "chords", "pluck", 84, -12, 0.2, -10, 0.0),
        ("pad", "pad", "pad", 90, -14, -0.2, -8, 0.3),
        ("bass", "bass", "bass", 38, -7, 0.0, None, 0.5),
        ("drums", "drums", "drums", None, -5, 0.0, -24, 0.3),
    ),
    "hip-hop": (
        ("keys", "chords", "keys", 4, -11, -0.2, -14, 0.0),
        ("lead", "melody", "pluck", 11, -12, 0.2, -12, 0.55),
        ("bass", "bass", "bass", 38, -6, 0.0, None, 0.3),
        ("drums", "drums", "drums", None, -5, 0.0, -24, 0.0),
    ),
    "classical": (
        ("violin", "melody", "strings", 40, -9, 0.2, -8, 0.0),
        ("strings", "chords", "strings", 48, -12, -0.2, -8, 0.0),
        ("cello", "bass", "strings", 42, -10, -0.1, -8, 0.3),
        ("horns", "pad", "brass", 60, -16, 0.3, -6, 0.75),
    ),
    "country": (
        ("fiddle", "melody", "strings", 110, -10, 0.2, -14, 0.45),
        ("guitar", "chords", "pluck", 25, -10, -0.25, -16, 0.0),
        ("bass", "bass", "bass", 32, -8, 0.0, None, 0.3),
        ("drums", "drums", "drums", None, -8, 0.0, -22, 0.35),
    ),
    "blues": (
        ("lead", "melody", "lead", 27, -10, 0.15, -14, 0.0),
        ("piano", "chords", "keys", 0, -11, -0.2, -16, 0.0),
        ("organ", "pad", "keys", 17, -17, 0.3, -14, 0.8),
        ("bass", "bass", "bass", 33, -8, 0.0, None, 0.0),
        ("drums", "drums", "drums", None, -8, 0.0, -20, 0.0),
    ),
    "folk": (
        ("whistle", "melody", "lead", 78, -11, 0.1, -12, 0.0),
        ("guitar", "chords", "pluck", 24, -9, -0.2, -14, 0.0),
        ("fiddle", "counter", "strings", 110, -15, 0.3, -12, 0.6),
        ("bass", "bass", "bass", 32, -11, 0.0, None, 0.45),
        ("drums", "drums", "drums", None, -14, 0.0, -20, 0.55),
    ),
}
ENERGY_MIN_SCALE = {"low": 1.15, "mid": 1.0, "high": 0.8}  # low energy thins the plan, high fills it
ROLE_OF_WORD = {
    "keys": "chords",
    "pluck": "chords",
    "strings": "pad",
    "pad": "pad",
    "brass": "melody",
    "lead": "melody",
    "bass": "bass",
    "drums": "drums",
}
GM_OF_PRESET = {"keys": 0, "pluck": 25, "strings": 48, "pad": 89, "brass": 61, "lead": 80, "bass": 33}


def _instrument(preset: str) -> dict[str, Any]:
    return dict(DRUMS) if preset == "drums" else {"type": "synth", "preset": preset}


def plan_parts(request: GenerateRequest, sections: list[Section]) -> list[Part]:
    """The tracks of the arrangement, notes still empty, with the sections each plays in."""
    tracks = list(ENSEMBLES[request.genre])
    for word in request.instruments:  # the prompt's instruments: recolour the role's track, or add one
        role = ROLE_OF_WORD.get(word)
        if role is None:
            continue
        hit = [i for i, t in enumerate(tracks) if t[1] == role]
        if word == "drums" or (hit and tracks[hit[0]][2] == word):
            continue
        if hit:
            t = tracks[hit[0]]
            tracks[hit[0]] = (t[0], t[1], word, GM_OF_PRESET[word], *t[4:])
        else:
            tracks.append((word, role, word, GM_OF_PRESET[word], -13.0, 0.25, -12.0, 0.5))
    scale = ENERGY_MIN_SCALE[request.energy]
    parts = []
    for name, role, preset, program, vol, pan, send, min_energy in tracks:
        active = tuple(dict.fromkeys(s.name for s in sections if s.energy >= min(0.95, min_energy * scale)))
        if not active and role in ("melody", "chords"):
            active = tuple(dict.fromkeys(s.name for s in sections))
        parts.append(Part(name, role, _instrument(preset), float(vol), float(pan), send, active, program))
    return parts
