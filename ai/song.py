"""Arrangements as song documents (song format version 2, ``docs/song-format.md``), YAML and MIDI.

:func:`song_document` lays an :class:`ai.plan.Arrangement` out as the plain dicts
:mod:`presets.song` reads: metadata (title, genre, a comment with the request and seed), key, sections,
tempo, ``length_beats`` (the bars, or the requested duration in beats), one track per part with one clip
of its notes (each part on its own MIDI channel with a General MIDI program change, drums on channel 10,
so the MIDI export plays on any GM synth), a ``reverb`` bus the tracks send to, and a master chain (glue
compressor, then a limiter at -1 dBFS). :func:`write_song` saves it checked and atomically
(:func:`presets.song_yaml.save_song`); :func:`song_session` and :func:`song_midi` give the engine session
and the Standard MIDI File bytes (:func:`bridge.midi_export.midi_bytes`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ai.plan import NOTE_NAMES, Arrangement

__all__ = [
    "DRUM_CHANNEL",
    "MASTER_CHAIN",
    "REVERB_BUS",
    "song_document",
    "song_midi",
    "song_session",
    "write_song",
]

DRUM_CHANNEL = 9  # General MIDI channel 10
REVERB_BUS: dict[str, Any] = {
    "name": "reverb",
    "inserts": [
        {
            "type": "reverb",
            "params": {
                "predelay_ms": 20.0,
                "decay_s": 2.2,
                "damping_hz": 7000.0,
                "size": 0.7,
                "width": 1.0,
                "mix": 1.0,
            },
        }
    ],
    "volume_db": -3.0,
}
MASTER_CHAIN: list[dict[str, Any]] = [
    {
        "type": "compressor",
        "params": {"threshold_db": -14.0, "ratio": 2.0, "attack_ms": 20.0, "release_ms": 200.0},
    },
    {"type": "limiter", "params": {"ceiling_db": -1.0, "release_ms": 80.0}},
]


def song_document(arrangement: Arrangement, length_beats: float | None = None) -> dict[str, Any]:
    """The song document of ``arrangement``; ``length_beats`` defaults to its bars (a request with a
    duration passes the duration in beats, so the song ends exactly there)."""
    r = arrangement.request
    bar = r.beats_per_bar
    key = f"{NOTE_NAMES[r.key.tonic_pc]} {r.key.mode}"
    comment = (
        f"strum generate: {r.genre}, {key}, {r.tempo_bpm:g} bpm, {r.bars} bars, energy {r.energy}, "
        f"seed {r.seed}"
    )
    if r.prompt:
        comment += f", prompt {r.prompt!r}"
    tracks = []
    # every pitched part on a channel of its own (a GM player keeps one program per channel); drums on 10
    free_channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for k, part in enumerate(arrangement.parts):
        drums = part.role == "drums"
        channel = DRUM_CHANNEL if drums else free_channels[k % len(free_channels)]
        notes = [
            [n.pitch, n.start_beats, n.length_beats, n.velocity, channel]
            for n in sorted(part.notes, key=lambda n: (n.start_beats, n.pitch))
        ]
        clip: dict[str, Any] = {"name": part.role, "start_beats": 0, "notes": notes}
        if part.gm_program is not None and not drums:
            clip["programs"] = [{"beat": 0, "program": part.gm_program, "channel": channel}]
        track: dict[str, Any] = {
            "name": part.name,
            "instrument": dict(part.instrument),
            "volume_db": part.volume_db,
            "pan": part.pan,
        }
        if part.sends_db is not None:
            track["sends"] = [{"bus": "reverb", "level_db": part.sends_db}]
        if notes:
            track["clips"] = [clip]
        tracks.append(track)
    return {
        "schema_version": 2,
        "metadata": {"title": f"{r.genre.capitalize()} in {key}", "genre": r.genre, "comment": comment},
        "key": key,
        "tempo": r.tempo_bpm,
        "sections": [{"name": s.name, "beat": s.start_bar * bar} for s in arrangement.sections],
        "length_beats": float(length_beats if length_beats is not None else arrangement.length_beats),
        "buses": [REVERB_BUS],
        "tracks": tracks,
        "master": {"volume_db": 0.0, "inserts": list(MASTER_CHAIN)},
    }


def write_song(doc: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Save ``doc`` as YAML at ``path`` (checked first; nothing is written for a document that would not
    load)."""
    from presets.song_yaml import save_song

    return save_song(doc, path, backup=False)


def song_session(doc: dict[str, Any], file: str = "<generated>") -> Any:
    """The engine session of ``doc``, read through the same checks as a song file (and the same session
    as the file :func:`write_song` saves would give)."""
    from presets.song import parse_song_document

    return parse_song_document(doc, file)


def song_midi(doc: dict[str, Any]) -> bytes:
    """``doc`` as the bytes of a type 1 Standard MIDI File."""
    from bridge.midi_export import midi_bytes

    return midi_bytes(song_session(doc))
