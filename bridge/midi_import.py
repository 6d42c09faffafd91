"""Standard MIDI Files as sessions: one track per (file track, channel), tempo map and meters included.

:func:`session_from_midi` reads a file with :func:`bridge.midifile.read_midi_file` and builds an
:class:`engine.session.Session` that plays every channel on an instrument made by ``make_instrument``
(the built-in synth by default). Notes pair note-ons with note-offs first-in first-out per pitch and
channel; a note left open closes at its track's end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from bridge.errors import MidiFileError
from bridge.midifile import MidiFileData, read_midi_file
from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM_CHANGE
from engine.processor import Processor
from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint, TimeSignature

__all__ = ["session_from_midi", "session_from_midi_data", "tempo_map_from_midi"]

DRUM_CHANNEL = 9  # channel 10 as musicians count


def _default_instrument(channel: int) -> Processor:
    from instruments.synth import PolySynth

    synth = PolySynth(max_voices=32)
    if channel == DRUM_CHANNEL:
        # until the sampler lands, drums are short plucks so the groove stays audible
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


def session_from_midi_data(
    data: MidiFileData, make_instrument: Callable[[int], Processor] = _default_instrument
) -> Session:
    session = Session(tempo_map=tempo_map_from_midi(data), title=os.path.basename(data.path))
    end_beat = data.tick_to_beat(data.end_tick)
    used_names: set[str] = set()
    for track in data.tracks:
        by_channel: dict[int, dict[str, list]] = {}
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for ev in track.events:
            ch = ev.status & 0x0F
            kind = ev.status & 0xF0
            parts = by_channel.setdefault(ch, {"notes": [], "cc": [], "bend": [], "prog": []})
            beat = data.tick_to_beat(ev.tick)
            if kind == NOTE_ON:
                open_notes.setdefault((ch, ev.data1), []).append((ev.tick, ev.data2))
            elif kind == NOTE_OFF:
                stack = open_notes.get((ch, ev.data1))
                if stack:
                    start, vel = stack.pop(0)
                    _add_note(parts["notes"], data, ev.data1, start, ev.tick, vel, ch)
            elif kind == CONTROL_CHANGE:
                parts["cc"].append(ControlChange(beat, ev.data1, ev.data2, ch))
            elif kind == PITCH_BEND:
                parts["bend"].append(PitchBend(beat, (ev.data1 | (ev.data2 << 7)) - 8192, ch))
            elif kind == PROGRAM_CHANGE:
                parts["prog"].append(ProgramChange(beat, ev.data1, ch))
        track_end = max((e.tick for e in track.events), default=0)
        for (ch, pitch), stack in open_notes.items():
            for start, vel in stack:
                _add_note(by_channel[ch]["notes"], data, pitch, start, max(track_end, data.end_tick), vel, ch)
        for ch in sorted(by_channel):
            parts = by_channel[ch]
            if not parts["notes"]:
                continue
            base = _safe_name(track.name) or f"track{track.index + 1}"
            name = base if len(by_channel) == 1 else f"{base}-ch{ch + 1}"
            while name in used_names or name == "master":
                name += "_"
            used_names.add(name)
            parts["notes"].sort(key=lambda n: (n.start_beats, n.pitch))
            clip = Clip(
                0.0,
                tuple(parts["notes"]),
                tuple(parts["cc"]),
                tuple(parts["bend"]),
                tuple(parts["prog"]),
                length_beats=max(end_beat, max(n.start_beats + n.length_beats for n in parts["notes"])),
                name=name,
            )
            session.tracks.append(
                TrackSpec(name=name, instrument=make_instrument(ch), clips=[clip], volume_db=-6.0)
            )
    return session


def _add_note(notes: list, data: MidiFileData, pitch: int, start: int, end: int, vel: int, ch: int) -> None:
    if end <= start or vel == 0:
        return  # zero-length notes make no sound
    notes.append(Note(pitch, data.tick_to_beat(start), data.tick_to_beat(end - start), vel, ch))


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name.strip())


def session_from_midi(path: str | os.PathLike[str]) -> Session:
    """Read a .mid file (MidiFileError names the place of any problem) and build its session."""
    return session_from_midi_data(read_midi_file(path))
