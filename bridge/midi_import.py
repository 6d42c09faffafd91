"""Standard MIDI Files as sessions: one track per (file track, channel), tempo map and meters included.

:func:`session_from_midi` reads a file with :func:`bridge.midifile.read_midi_file` and builds an
:class:`engine.session.Session` that plays every channel on an instrument made by ``make_instrument``
(the built-in synth by default). Notes pair note-ons with note-offs first-in first-out per pitch and
channel; a note left open closes at its track's end.

:func:`song_document_from_midi` reads the same tracks into a song document (plain dicts and lists, the
song-file format of :mod:`presets.song`); write it with :func:`presets.song_yaml.dump_song_yaml`.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.errors import MidiFileError
from bridge.midi_export import key_name
from bridge.midifile import MidiFileData, parse_midi_bytes, read_midi_file
from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM_CHANGE
from engine.processor import Processor
from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange
from engine.session import BusSpec, Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint, TimeSignature

__all__ = [
    "DRUM_INSTRUMENT",
    "GM_FAMILY_PRESETS",
    "note_parts",
    "session_from_midi",
    "session_from_midi_data",
    "song_document_from_midi",
    "song_header",
    "synth_preset_for_program",
    "tempo_map_from_midi",
]

DRUM_CHANNEL = 9  # channel 10 as musicians count


def _default_instrument(channel: int) -> Processor:
    from instruments.synth import PolySynth

    synth = PolySynth(max_voices=32)
    if channel == DRUM_CHANNEL:
        # the synth has no drum map: short plucks keep the groove audible (--soundfont plays real drums)
        synth.param("attack_ms").set(0.5)
        synth.param("decay_ms").set(60.0)
        synth.param("sustain").set(0.0)
        synth.param("release_ms").set(40.0)
    for p in synth.params.values():
        p.reset()
    return synth


def tempo_map_from_midi(data: MidiFileData) -> TempoMap:
    """Tempo steps and time signatures of a file; a signature off a bar line starts a new bar there."""
    points: list[TempoPoint] = []
    for t in data.tempo_changes:
        beat = data.tick_to_beat(t.tick)
        bpm = min(999.0, max(1.0, 60_000_000 / t.microseconds_per_beat))
        if points and abs(points[-1].beat - beat) < 1e-12:
            points[-1] = TempoPoint(beat, bpm)
        else:
            points.append(TempoPoint(beat, bpm))
    if points and points[0].beat > 0:
        points.insert(0, TempoPoint(0.0, points[0].bpm))
    sigs: list[TimeSignature] = [TimeSignature(0, 4, 4)]
    bar_beat = 0.0  # beat where the latest signature's first bar starts
    for ts in data.time_signatures:
        if not (1 <= ts.numerator <= 64 and 1 <= ts.denominator <= 64):
            raise MidiFileError(
                f"{data.path}: tick {ts.tick}: time signature {ts.numerator}/{ts.denominator} is outside"
                " what StrumSpace plays (numerator and denominator 1..64)"
            )
        last = sigs[-1]
        beat = data.tick_to_beat(ts.tick)
        elapsed = (beat - bar_beat) / last.bar_length_beats
        bar = last.bar + max(0, math.ceil(elapsed - 1e-9))
        if bar == last.bar:
            sigs[-1] = TimeSignature(bar, ts.numerator, ts.denominator)
        else:
            sigs.append(TimeSignature(bar, ts.numerator, ts.denominator))
            bar_beat += (bar - last.bar) * last.bar_length_beats
    return TempoMap(points, sigs)


@dataclass
class _Part:
    """What one (file track, channel) plays, in ticks; ``name`` is unique among the parts of a file."""

    name: str
    channel: int
    notes: list[tuple[int, int, int, int]]  # pitch, start tick, end tick, velocity; in start order
    controls: list[tuple[int, int, int]]  # tick, controller, value
    bends: list[tuple[int, int]]  # tick, value -8192..8191
    programs: list[tuple[int, int]]  # tick, program


def _parts(data: MidiFileData, orphans: list[_Part] | None = None) -> list[_Part]:
    """One part per (file track, channel) that has notes; note-ons pair with note-offs first in, first out
    per pitch and channel, and a note left open closes at its track's end (or the file's, if later).
    Parts without notes (program changes or controllers alone) are appended to ``orphans`` if given."""
    parts: list[_Part] = []
    used_names: set[str] = set()
    for track in data.tracks:
        by_channel: dict[int, _Part] = {}
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for ev in track.events:
            ch = ev.status & 0x0F
            kind = ev.status & 0xF0
            part = by_channel.setdefault(ch, _Part("", ch, [], [], [], []))
            if kind == NOTE_ON:
                open_notes.setdefault((ch, ev.data1), []).append((ev.tick, ev.data2))
            elif kind == NOTE_OFF:
                stack = open_notes.get((ch, ev.data1))
                if stack:
                    start, vel = stack.pop(0)
                    _add_note(part.notes, ev.data1, start, ev.tick, vel)
            elif kind == CONTROL_CHANGE:
                part.controls.append((ev.tick, ev.data1, ev.data2))
            elif kind == PITCH_BEND:
                part.bends.append((ev.tick, (ev.data1 | (ev.data2 << 7)) - 8192))
            elif kind == PROGRAM_CHANGE:
                part.programs.append((ev.tick, ev.data1))
        track_end = max((e.tick for e in track.events), default=0)
        for (ch, pitch), stack in open_notes.items():
            for start, vel in stack:
                _add_note(by_channel[ch].notes, pitch, start, max(track_end, data.end_tick), vel)
        for ch in sorted(by_channel):
            part = by_channel[ch]
            if not part.notes:
                if orphans is not None and (part.controls or part.programs or part.bends):
                    orphans.append(part)
                continue
            base = _safe_name(track.name) or f"track{track.index + 1}"
            name = base if len(by_channel) == 1 else f"{base}-ch{ch + 1}"
            while name in used_names or name == "master":
                name += "_"
            used_names.add(name)
            part.name = name
            part.notes.sort(key=lambda n: (n[1], n[0]))  # stable: same-pitch notes keep their pairing order
            parts.append(part)
    return parts


def note_parts(data: MidiFileData) -> list[tuple[str, int, list[tuple[int, int, int, int]]]]:
    """(name, channel, notes) of every (file track, channel) that has notes, split and paired as the
    importer does; notes are (pitch, start tick, end tick, velocity) in start order."""
    return [(p.name, p.channel, list(p.notes)) for p in _parts(data)]


def _adopt_orphans(parts: list[_Part], orphans: list[_Part]) -> None:
    # a channel's program changes and controllers written on a track without its notes (a set-up track)
    # still choose that channel's sound: every part of the channel takes them
    for part in parts:
        for orphan in orphans:
            if orphan.channel == part.channel:
                part.controls = sorted(part.controls + orphan.controls, key=lambda e: e[0])
                part.programs = sorted(part.programs + orphan.programs, key=lambda e: e[0])
                part.bends = sorted(part.bends + orphan.bends, key=lambda e: e[0])


def session_from_midi_data(
    data: MidiFileData,
    make_instrument: Callable[[int], Processor] = _default_instrument,
    *,
    soundfont: str | os.PathLike[str] | None = None,
    dry: bool = False,
) -> Session:
    """The session of a read MIDI file. With ``soundfont`` (an .sf2, .sf3, .sfz, kit or WAV folder) every
    part plays a sampler of it, as a General MIDI player would (programs, bank select, drums on channel
    10), and each voice's reverb and chorus send amounts (the font's, plus CC91 and CC93) feed a
    ``reverb`` and a ``chorus`` bus, unless ``dry``; :class:`instruments.errors.SampleFileError` if the
    font cannot be read."""
    session = Session(tempo_map=tempo_map_from_midi(data), title=os.path.basename(data.path))
    end_beat = data.tick_to_beat(data.end_tick)
    beat = data.tick_to_beat
    orphans: list[_Part] = []
    parts = _parts(data, orphans)
    sends: dict[str, str] = {}
    if soundfont is not None:
        from instruments.sampler import Sampler, load_bank

        bank = load_bank(soundfont)

        def make_instrument(channel: int) -> Processor:
            return Sampler(bank, sends=not dry)

        _adopt_orphans(parts, orphans)
        if not dry:
            session.buses += _effect_returns()
            sends = {"reverb": "reverb", "chorus": "chorus"}
    for part in parts:
        ch = part.channel
        notes = [Note(p, beat(start), beat(end - start), vel, ch) for p, start, end, vel in part.notes]
        clip = Clip(
            0.0,
            tuple(notes),
            tuple(ControlChange(beat(t), c, v, ch) for t, c, v in part.controls),
            tuple(PitchBend(beat(t), v, ch) for t, v in part.bends),
            tuple(ProgramChange(beat(t), p, ch) for t, p in part.programs),
            length_beats=max(end_beat, max(n.start_beats + n.length_beats for n in notes)),
            name=part.name,
        )
        session.tracks.append(
            TrackSpec(
                name=part.name,
                instrument=make_instrument(ch),
                clips=[clip],
                volume_db=-6.0,
                instrument_sends=dict(sends),
            )
        )
    return session


def _effect_returns() -> list[BusSpec]:
    """The reverb and chorus a General MIDI player sends its voices to, wet only."""
    from presets.devices import build_device

    reverb = {
        "type": "reverb",
        "params": {"predelay_ms": 10.0, "decay_s": 2.0, "damping_hz": 6000.0, "size": 0.7, "mix": 1.0},
    }
    chorus = {"type": "chorus", "params": {"rate_hz": 0.3, "depth_ms": 2.0, "mix": 1.0}}
    return [
        BusSpec("reverb", [build_device(reverb, "effect")]),
        BusSpec("chorus", [build_device(chorus, "effect")]),
    ]


def _add_note(notes: list[tuple[int, int, int, int]], pitch: int, start: int, end: int, vel: int) -> None:
    if end <= start or vel == 0:
        return  # zero-length notes make no sound
    notes.append((pitch, start, end, vel))


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name.strip())


def session_from_midi(
    path: str | os.PathLike[str], soundfont: str | os.PathLike[str] | None = None, dry: bool = False
) -> Session:
    """Read a .mid file (MidiFileError names the place of any problem) and build its session, played by
    the built-in synth or, with ``soundfont``, by a sampler of it (with reverb and chorus returns unless
    ``dry``)."""
    return session_from_midi_data(read_midi_file(path), soundfont=soundfont, dry=dry)


# -- song documents ---------------------------------------------------------------------------------------

# General MIDI program families (programs 0..127) -> the factory synth preset that comes closest.
GM_FAMILY_PRESETS: tuple[tuple[range, str], ...] = (
    (range(0, 24), "keys"),  # pianos, chromatic percussion, organs
    (range(24, 32), "pluck"),  # guitars
    (range(32, 40), "bass"),
    (range(40, 52), "strings"),  # strings and ensembles
    (range(56, 64), "brass"),
    (range(80, 88), "lead"),
    (range(88, 96), "pad"),
    (range(104, 112), "pluck"),  # ethnic plucked instruments
)
DEFAULT_PRESET = "keys"
# The synth has no drum map: on the drum channel a short pluck keeps the groove audible (--soundfont plays
# real drums).
DRUM_INSTRUMENT: dict[str, Any] = {
    "type": "synth",
    "preset": "pluck",
    "params": {"attack_ms": 0.5, "decay_ms": 60.0, "sustain": 0.0, "release_ms": 40.0},
}
BEAT_DECIMALS = 6  # 1e-6 beat: far below a tick of any file (at most 32767 per beat)


def synth_preset_for_program(program: int) -> str:
    """The factory synth preset for a General MIDI program (0..127), by its family."""
    for programs, preset in GM_FAMILY_PRESETS:
        if program in programs:
            return preset
    return DEFAULT_PRESET


def song_header(title: str = "", key: str = "", sections: Sequence[tuple[str, float]] = ()) -> dict[str, Any]:
    """The first fields of a song document, laid out for the schema version :mod:`presets.song` reads.

    From version 2 on, the title goes into ``metadata`` and ``key`` and ``sections`` are kept; version 1
    has only a top-level ``title`` (a key and sections are then left out). Empty values are left out."""
    import presets.song

    version = presets.song.SCHEMA_VERSION
    doc: dict[str, Any] = {"schema_version": version}
    if version >= 2:
        if title:
            doc["metadata"] = {"title": title}
        if key:
            doc["key"] = key
        if sections:
            doc["sections"] = [{"name": name, "beat": beat} for name, beat in sections]
    elif title:
        doc["title"] = title
    return doc


def song_document_from_midi(path_or_data: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """A Standard MIDI File (a path, or its bytes) as a song document: plain dicts and lists, ready for
    :func:`presets.song_yaml.dump_song_yaml` and :func:`presets.song.parse_song`.

    Tracks are split per (file track, channel) and named as :func:`session_from_midi` does; each gets a
    factory synth preset chosen from the General MIDI family of its first program change (channel 10
    gets :data:`DRUM_INSTRUMENT`) and one clip from beat 0 to the end of the file. Positions are the
    file's ticks in beats, rounded to 1e-6. The title is the first track's name (the sequence name, as the
    spec has it) or the file name; the first key signature and the markers become ``key`` and
    ``sections`` (the first non-empty marker at each place). A file that cannot be read, a malformed key
    signature included, raises :class:`MidiFileError` naming the place."""
    if isinstance(path_or_data, (bytes, bytearray, memoryview)):
        name = ""
        data = parse_midi_bytes(bytes(path_or_data), "<bytes>")
    else:
        name = os.fspath(path_or_data)
        data = read_midi_file(name)
    tempo_map = tempo_map_from_midi(data)
    key = ""
    if data.key_signatures:
        first_key = data.key_signatures[0]
        key = key_name(first_key.sharps, first_key.minor)
    sections: list[tuple[str, float]] = []
    for marker in data.markers:
        text, beat = marker.text.strip(), _beats(marker.tick, data.ticks_per_beat)
        if text and (not sections or beat > sections[-1][1]):  # one section per place: the first marker
            sections.append((text, beat))
    title = data.tracks[0].name.strip() if data.tracks else ""
    doc = song_header(title or os.path.splitext(os.path.basename(name))[0], key, sections)
    doc["tempo_map"] = [
        {"beat": round(p.beat, BEAT_DECIMALS), "bpm": round(p.bpm, BEAT_DECIMALS)} for p in tempo_map.points
    ]
    doc["time_signatures"] = [
        {"bar": s.bar, "numerator": s.numerator, "denominator": s.denominator}
        for s in tempo_map.time_signatures
    ]
    doc["tracks"] = [_track_document(part, data) for part in _parts(data)]
    return doc


def _beats(tick: int, ppq: int) -> float:
    return round(tick / ppq, BEAT_DECIMALS)


def _track_document(part: _Part, data: MidiFileData) -> dict[str, Any]:
    ppq, ch = data.ticks_per_beat, part.channel
    if ch == DRUM_CHANNEL:
        instrument = copy.deepcopy(DRUM_INSTRUMENT)
    else:
        program = min(part.programs)[1] if part.programs else 0
        instrument = {"type": "synth", "preset": synth_preset_for_program(program)}
    end_tick = max(data.end_tick, max(end for _p, _s, end, _v in part.notes))
    clip: dict[str, Any] = {
        "name": part.name,
        "start_beats": 0.0,
        "length_beats": _beats(end_tick, ppq),
        "notes": [
            [pitch, _beats(start, ppq), _beats(end - start, ppq), vel, ch]
            for pitch, start, end, vel in part.notes
        ],
    }
    if part.controls:
        clip["controls"] = [
            {"beat": _beats(t, ppq), "controller": c, "value": v, "channel": ch} for t, c, v in part.controls
        ]
    if part.bends:
        clip["pitch_bends"] = [{"beat": _beats(t, ppq), "value": v, "channel": ch} for t, v in part.bends]
    if part.programs:
        clip["programs"] = [{"beat": _beats(t, ppq), "program": p, "channel": ch} for t, p in part.programs]
    return {"name": part.name, "instrument": instrument, "volume_db": -6.0, "clips": [clip]}
