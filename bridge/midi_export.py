"""Sessions as Standard MIDI Files: a type 1 file with a conductor track and one track per session track.

Call :func:`export_midi` to write a file or :func:`midi_bytes` for the bytes. Track 0 (the conductor)
holds the song title as its name, the time signatures at their bars, the key signature (from
``session.key`` such as ``"Eb major"``, see :func:`key_signature`), the sections as markers and the
tempo map. A linear tempo ramp becomes a tempo event every 1/8 beat or finer (fine enough that every
tick stays within a quarter tick of where the engine plays it), each one chosen so that the file
reaches the end of its step at the time the engine does. Then one track per session track: its
name, then every clip's notes, controller changes, pitch bends and program changes where
:func:`engine.sequencer.compile_events` plays them (clip start, offset and length honoured, notes cut at
the clip end, content before the offset dropped), each on its own channel.

Positions become ticks rounded half up (``floor(beats * ppq + 0.5)``), as the sequencer rounds samples.
At one tick, note-offs come first, then programs, controllers, bends and note-ons (the sequencer's
order). Notes of one pitch that overlap are written as they are: both note-ons, then both note-offs, in
the order a first-in first-out reader (:func:`bridge.midi_import.session_from_midi`) pairs back into the
same notes. Text (names, markers) is written as Latin-1, as SMF readers decode it; other characters
become ``?``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable

from engine.session import Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint

__all__ = [
    "DEFAULT_PPQ",
    "MAX_PPQ",
    "MODE_SHIFTS",
    "export_midi",
    "key_name",
    "key_signature",
    "midi_bytes",
]

DEFAULT_PPQ = 480
MAX_PPQ = 0x7FFF  # the top bit of the division field would mean SMPTE time
RAMP_STEPS_PER_BEAT = 8
MAX_MICROSECONDS_PER_BEAT = 0xFFFFFF  # three bytes: about 3.58 bpm is the slowest tempo a file can hold
_MAX_DELTA = 0x0FFFFFFF  # four bytes of variable-length quantity

_META = 0xFF
_TRACK_NAME = 0x03
_MARKER = 0x06
_END_OF_TRACK = 0x2F
_TEMPO = 0x51
_TIME_SIGNATURE = 0x58
_KEY_SIGNATURE = 0x59
_NOTE_OFF, _NOTE_ON, _CONTROL, _PROGRAM, _BEND = 0x80, 0x90, 0xB0, 0xC0, 0xE0

# Order of events at one tick. Conductor: name, meter, key, tempo, marker. Channel messages: as the
# sequencer plays them (note-offs first, so a repeated note retriggers, then programs, controls, bends).
_ORDER_NAME, _ORDER_METER, _ORDER_KEY, _ORDER_TEMPO, _ORDER_MARKER = range(5)
_ORDER = {_NOTE_OFF: 0, _PROGRAM: 1, _CONTROL: 2, _BEND: 3, _NOTE_ON: 4}
_ORDER_TRACK_NAME = -1  # a channel track's name comes before its first message

# Keys on the line of fifths: a note's place is its sharps as a major key (F -1, C 0, G 1 ... B 5, each #
# +7, each b -7), and a mode's signature is its tonic's place plus the mode's shift (A minor: 3 - 3 = 0).
_LETTERS = "FCGDAEB"
MODE_SHIFTS = {
    "major": 0,
    "minor": -3,
    "dorian": -2,
    "phrygian": -4,
    "lydian": 1,
    "mixolydian": -1,
    "locrian": -5,
}

Event = tuple[int, int, int, bytes]  # tick, order at the tick, tie-break, the message bytes


def key_signature(key: str) -> tuple[int, int] | None:
    """``(sharps, minor)`` for a key like ``"A minor"``, ``"Eb major"`` or ``"D dorian"`` (flats count
    negative; a mode other than minor is written as its parent major's signature). A tonic off the
    signatures a file can hold (``"D# major"``) takes its enharmonic one (``Eb``, -3). ``None`` for
    anything else, ``""`` included."""
    parts = key.replace("♯", "#").replace("♭", "b").split()
    if len(parts) != 2 or parts[1].lower() not in MODE_SHIFTS or not parts[0]:
        return None
    letter, accidentals = parts[0][0].upper(), parts[0][1:]
    if letter not in _LETTERS or accidentals not in ("", "#", "##", "b", "bb"):
        return None
    sharps = _LETTERS.index(letter) - 1 + 7 * (accidentals.count("#") - accidentals.count("b"))
    sharps += MODE_SHIFTS[parts[1].lower()]
    while sharps > 7:
        sharps -= 12
    while sharps < -7:
        sharps += 12
    return sharps, int(parts[1].lower() == "minor")


def key_name(sharps: int, minor: int) -> str:
    """The key a key-signature event names, e.g. ``key_name(-3, 0) == "Eb major"`` and
    ``key_name(0, 1) == "A minor"``; ``sharps`` must be in -7..7."""
    if not -7 <= sharps <= 7:
        raise ValueError(f"a key signature has -7..7 sharps, got {sharps}")
    place = sharps + (3 if minor else 0) + 1  # the tonic on the line of fifths, counted from F
    accidental = {-1: "b", 0: "", 1: "#"}[place // 7]
    return f"{_LETTERS[place % 7]}{accidental} {'minor' if minor else 'major'}"


def export_midi(session: Session, path: str | os.PathLike[str], *, ppq: int = DEFAULT_PPQ) -> None:
    """Write ``session`` as a type 1 Standard MIDI File at ``path`` (see the module docstring).

    Everything is checked before the file is opened: a ValueError names what cannot be written."""
    data = midi_bytes(session, ppq)
    with open(path, "wb") as file:
        file.write(data)


def midi_bytes(session: Session, ppq: int = DEFAULT_PPQ) -> bytes:
    """The bytes of :func:`export_midi`'s file; ValueError names what cannot be written."""
    if isinstance(ppq, bool) or not isinstance(ppq, numbers.Integral) or not 1 <= ppq <= MAX_PPQ:
        raise ValueError(f"ppq (ticks per beat) must be an integer in 1..{MAX_PPQ}, got {ppq!r}")
    ppq = int(ppq)
    if not session.tracks:
        raise ValueError("the session has no tracks: there is nothing to export")
    tracks = [_channel_track(t, ppq) for t in session.tracks]
    if not any(tracks):
        raise ValueError(
            "the session's tracks have no notes, controls, pitch bends or programs that play: "
            "there is nothing to export"
        )
    song_end = max(_tick(session.end_beats(), ppq), *(e[0] for events in tracks for e in events))
    chunks = [_chunk(_conductor(session, ppq), song_end)]
    for spec, events in zip(session.tracks, tracks, strict=True):
        chunks.append(_chunk([(0, _ORDER_TRACK_NAME, 0, _meta(_TRACK_NAME, _text(spec.name))), *events]))
    header = b"MThd" + (6).to_bytes(4, "big") + b"".join(v.to_bytes(2, "big") for v in (1, len(chunks), ppq))
    return header + b"".join(chunks)


def _tick(beats: float, ppq: int) -> int:
    return math.floor(beats * ppq + 0.5)


def _text(text: str) -> bytes:
    return text.encode("latin-1", errors="replace")


def _vlq(value: int) -> bytes:
    if not 0 <= value <= _MAX_DELTA:
        raise ValueError(
            f"two events are {value} ticks apart, more than a MIDI file can hold ({_MAX_DELTA}); "
            "use a smaller ppq"
        )
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, body: bytes) -> bytes:
    return bytes((_META, kind)) + _vlq(len(body)) + body


def _chunk(events: list[Event], end_tick: int = 0) -> bytes:
    """An MTrk chunk: the events in order, then end-of-track at the last event or ``end_tick``."""
    events = sorted(events, key=lambda e: e[:3])  # stable: equal keys keep the order they were made in
    body = bytearray()
    now = 0
    for tick, _order, _tie, message in events:
        body += _vlq(tick - now) + message
        now = tick
    body += _vlq(max(end_tick - now, 0)) + _meta(_END_OF_TRACK, b"")
    return b"MTrk" + len(body).to_bytes(4, "big") + bytes(body)


def _conductor(session: Session, ppq: int) -> list[Event]:
    tm = session.tempo_map
    events: list[Event] = []
    if session.title:
        events.append((0, _ORDER_NAME, 0, _meta(_TRACK_NAME, _text(session.title))))
    for sig in tm.time_signatures:
        exponent = sig.denominator.bit_length() - 1
        body = bytes((sig.numerator, exponent, 24, 8))  # a metronome click per quarter, 8 32nds per quarter
        events.append((_tick(tm.bar_to_beat(sig.bar), ppq), _ORDER_METER, 0, _meta(_TIME_SIGNATURE, body)))
    key = key_signature(session.key) if session.key else None
    if key is not None:
        sharps, minor = key
        events.append((0, _ORDER_KEY, 0, _meta(_KEY_SIGNATURE, bytes((sharps & 0xFF, minor)))))
    for tick, microseconds in _tempo_events(tm, ppq):
        events.append((tick, _ORDER_TEMPO, 0, _meta(_TEMPO, microseconds.to_bytes(3, "big"))))
    for i, section in enumerate(session.sections):
        start = section.start_beats
        if not (math.isfinite(start) and start >= 0):
            raise ValueError(
                f"section {i} ({section.name!r}): start must be a finite beat >= 0, got {start!r}"
            )
        events.append((_tick(start, ppq), _ORDER_MARKER, 0, _meta(_MARKER, _text(section.name))))
    return events


def _microseconds(bpm: float, what: str) -> int:
    us = math.floor(60_000_000 / bpm + 0.5)
    if not 1 <= us <= MAX_MICROSECONDS_PER_BEAT:
        raise ValueError(
            f"{what}: {bpm:g} bpm is slower than a MIDI file can hold "
            f"(at least {60_000_000 / MAX_MICROSECONDS_PER_BEAT:.2f} bpm)"
        )
    return us


class _TempoTrack:
    """Tempo events in tick order, with the time in the file at the last one (what a player counts)."""

    def __init__(self, ppq: int) -> None:
        self.ppq = ppq
        self.events: list[tuple[int, int]] = []  # (tick, microseconds per beat)
        self.last_us = 0.0  # file time at the last event, in microseconds

    def file_us(self, tick: int) -> float:
        if not self.events:
            return 0.0
        at, us = self.events[-1]
        return self.last_us + (tick - at) * us / self.ppq

    def add(self, tick: int, us: int) -> None:
        if self.events and self.events[-1][1] == us:
            return  # that tempo is already in force
        if self.events and self.events[-1][0] == tick:
            self.events[-1] = (tick, us)  # one tempo per tick: the last wins, as readers do
            return
        self.last_us = self.file_us(tick)
        self.events.append((tick, us))


def _ramp_step(p0: TempoPoint, p1: TempoPoint, ppq: int) -> int:
    """Ticks per tempo step on a linear ramp from ``p0`` to ``p1``: at most 1/8 beat, and short enough
    that the file's constant-tempo steps stay within a quarter tick of the engine's curve. Over a step of
    h beats they differ by at most |s''| h^2 / 8, where s'' = -60 k / T^2 (seconds per beat squared) is
    largest at the slower end of a ramp of slope k bpm per beat."""
    step = max(1, ppq // RAMP_STEPS_PER_BEAT)
    slope = abs(p1.bpm - p0.bpm) / (p1.beat - p0.beat)
    if slope == 0.0:
        return step
    curvature = 60.0 * slope / min(p0.bpm, p1.bpm) ** 2
    quarter_tick = 60.0 / (max(p0.bpm, p1.bpm) * ppq) / 4
    return max(1, min(step, math.floor(math.sqrt(8 * quarter_tick / curvature) * ppq)))


def _tempo_events(tm: TempoMap, ppq: int) -> list[tuple[int, int]]:
    """(tick, microseconds per beat) for every tempo point. A linear ramp is cut into steps (see
    :func:`_ramp_step`), each step's tempo chosen so that the file's time at its end is the engine's; what
    whole microseconds cannot hold is carried into the next step, so it never adds up."""
    points = tm.points
    track = _TempoTrack(ppq)
    for i, p in enumerate(points):
        us = _microseconds(p.bpm, f"tempo point {i} (beat {p.beat:g})")
        start = _tick(p.beat, ppq)
        if i == 0 and (p.ramp != "linear" or start > 0):
            track.add(0, us)  # the first tempo also holds before its point
        elif p.ramp != "linear":
            track.add(start, us)
        if p.ramp != "linear":
            continue
        end = _tick(points[i + 1].beat, ppq)
        step = _ramp_step(p, points[i + 1], ppq)
        for a in range(start, end, step):
            b = min(a + step, end)
            target_us = tm.beat_to_seconds(b / ppq) * 1e6
            step_us = math.floor((target_us - track.file_us(a)) * ppq / (b - a) + 0.5)
            # between the tempi of the ramp's ends, both checked above; the clamp guards the last digit
            track.add(a, min(max(step_us, 1), MAX_MICROSECONDS_PER_BEAT))
    return track.events


def _check(where: str, what: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= int(value) <= hi:
        raise ValueError(f"{where}: {what} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


def _channel_track(track: TrackSpec, ppq: int) -> list[Event]:
    """The channel messages of a track's clips, placed as :func:`engine.sequencer.compile_events` does."""
    events: list[Event] = []
    for k, clip in enumerate(track.clips):
        place = f"track {track.name!r}, clip {k}" + (f" ({clip.name!r})" if clip.name else "")
        lo = clip.offset_beats
        hi = clip.offset_beats + (clip.end_beats - clip.start_beats)
        base = clip.start_beats - clip.offset_beats
        for j, n in enumerate(clip.notes):
            where = f"{place}, note {j}"
            ch = _check(where, "channel", n.channel, 0, 15)
            pitch = _check(where, "pitch", n.pitch, 0, 127)
            velocity = _check(where, "velocity", n.velocity, 1, 127)
            if not lo <= n.start_beats < hi:
                continue
            on = _tick(base + n.start_beats, ppq)
            off = max(_tick(base + min(n.start_beats + n.length_beats, hi), ppq), on + 1)
            # ties broken so that a first-in first-out reader pairs each note-on with its own note-off
            events.append((on, _ORDER[_NOTE_ON], off, bytes((_NOTE_ON | ch, pitch, velocity))))
            events.append((off, _ORDER[_NOTE_OFF], on, bytes((_NOTE_OFF | ch, pitch, 64))))
        for j, c in enumerate(clip.controls):
            where = f"{place}, control {j}"
            ch = _check(where, "channel", c.channel, 0, 15)
            message = bytes(
                (
                    _CONTROL | ch,
                    _check(where, "controller", c.controller, 0, 127),
                    _check(where, "value", c.value, 0, 127),
                )
            )
            events.extend(_placed(c.beat, lo, hi, base, ppq, _CONTROL, message))
        for j, b in enumerate(clip.pitch_bends):
            where = f"{place}, pitch bend {j}"
            ch = _check(where, "channel", b.channel, 0, 15)
            v = _check(where, "value", b.value, -8192, 8191) + 8192
            events.extend(_placed(b.beat, lo, hi, base, ppq, _BEND, bytes((_BEND | ch, v & 0x7F, v >> 7))))
        for j, p in enumerate(clip.programs):
            where = f"{place}, program {j}"
            ch = _check(where, "channel", p.channel, 0, 15)
            message = bytes((_PROGRAM | ch, _check(where, "program", p.program, 0, 127)))
            events.extend(_placed(p.beat, lo, hi, base, ppq, _PROGRAM, message))
    return events


def _placed(
    beat: float, lo: float, hi: float, base: float, ppq: int, kind: int, message: bytes
) -> Iterable[Event]:
    if lo <= beat < hi:
        yield (_tick(base + beat, ppq), _ORDER[kind], 0, message)
