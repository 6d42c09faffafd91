"""Standard MIDI File (.mid) reader: bytes in, frozen tracks, tempo map, meters, keys and markers out.

Call :func:`read_midi_file` (or :func:`parse_midi_bytes` for bytes already in memory). It returns a
:class:`MidiFileData`: the channel messages of every track as :class:`MidiEvent` with absolute ticks, the
tempo changes, time signatures, key signatures and markers; turn ticks into beats with
:meth:`MidiFileData.tick_to_beat` and hand the tracks to the sequencer.

We parse the file ourselves (mido is only used by the tests to write fixtures) so that a malformed file
gives one :class:`~bridge.errors.MidiFileError` that names the file and the exact place, e.g.
``"song.mid: track 2, byte 0x01a3: running status without a previous status byte"``. Tracks are numbered
from 0, as in ``MidiFileData.tracks``; byte offsets count from the start of the file.

Where files in the wild and the spec disagree, we choose:

- Running status survives meta events (the spec cancels it, but many writers rely on it continuing);
  a sysex event cancels it, as the spec says.
- A track without an end-of-track meta event is accepted when its chunk ends between two events; its end
  tick is then the tick of its last event. Bytes after an end-of-track event inside its chunk are ignored.
- Chunks of unknown type are skipped (as the spec asks); bytes after the last declared track are ignored.
- A format 0 file that declares more than one track is read like format 1.
- Tempo, time-signature and key-signature changes of all tracks make one list each, sorted by tick; where
  several fall on one tick, the last (in track order, then file order) wins. Markers are all kept, in the
  same order, since two at one tick are two names.
- Text (track and instrument names, markers) is decoded as Latin-1: any byte is a character.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

from bridge.errors import MidiFileError

__all__ = [
    "KeySignatureChange",
    "Marker",
    "MidiEvent",
    "MidiFileData",
    "MidiTrackData",
    "TempoChange",
    "TimeSignatureChange",
    "parse_midi_bytes",
    "read_midi_file",
]

_NOTE_OFF = 0x80
_NOTE_ON = 0x90
_NOTE_OFF_VELOCITY = 64  # what a note-on with velocity 0 becomes: the spec's default release velocity

# Channel message kinds (upper nibble of the status byte): name and number of data bytes.
_CHANNEL_KINDS: dict[int, tuple[str, int]] = {
    0x80: ("note-off", 2),
    0x90: ("note-on", 2),
    0xA0: ("poly aftertouch", 2),
    0xB0: ("control change", 2),
    0xC0: ("program change", 1),
    0xD0: ("channel aftertouch", 1),
    0xE0: ("pitch bend", 2),
}

# Status bytes that belong on a live MIDI wire, never in a file track.
_SYSTEM_BYTES: dict[int, str] = {
    0xF1: "MIDI time code quarter frame",
    0xF2: "song position pointer",
    0xF3: "song select",
    0xF4: "undefined system common",
    0xF5: "undefined system common",
    0xF6: "tune request",
    0xF8: "timing clock",
    0xF9: "undefined system real-time",
    0xFA: "start",
    0xFB: "continue",
    0xFC: "stop",
    0xFD: "undefined system real-time",
    0xFE: "active sensing",
}

_SYSEX = 0xF0
_SYSEX_ESCAPE = 0xF7
_META = 0xFF
_META_TRACK_NAME = 0x03
_META_MARKER = 0x06
_META_INSTRUMENT_NAME = 0x04
_META_END_OF_TRACK = 0x2F
_META_TEMPO = 0x51
_META_TIME_SIGNATURE = 0x58
_META_KEY_SIGNATURE = 0x59
_MAX_KEY_ACCIDENTALS = 7  # a key signature holds 7 flats (-7) to 7 sharps (7)

_HEADER_MIN_LENGTH = 6
_CHUNK_HEADER_LENGTH = 8
_MAX_VLQ_BYTES = 4


@dataclass(frozen=True)
class MidiEvent:
    """One channel message at an absolute time in ticks.

    ``status`` is kind | channel (``0x90 | 9`` is a note-on on channel 10, the GM drum channel). A note-on
    with velocity 0 has already been turned into a note-off (0x80) with velocity 64. One-data-byte messages
    (program change, channel aftertouch) have ``data2 == 0``; pitch bend keeps data1 = LSB, data2 = MSB.
    """

    tick: int
    status: int
    data1: int
    data2: int

    @property
    def kind(self) -> int:
        """The status without its channel (0x80, 0x90, ..., 0xE0)."""
        return self.status & 0xF0

    @property
    def channel(self) -> int:
        """The channel, 0..15."""
        return self.status & 0x0F


@dataclass(frozen=True)
class MidiTrackData:
    """One MTrk chunk: its name, instrument name and channel messages in file (= tick) order."""

    index: int
    name: str
    events: tuple[MidiEvent, ...]
    instrument_name: str


@dataclass(frozen=True)
class TempoChange:
    """A set-tempo meta event: from ``tick`` on, a beat lasts ``microseconds_per_beat``."""

    tick: int
    microseconds_per_beat: int

    @property
    def bpm(self) -> float:
        return 60_000_000 / self.microseconds_per_beat


@dataclass(frozen=True)
class TimeSignatureChange:
    """A time-signature meta event, e.g. 6/8 is ``numerator=6, denominator=8``."""

    tick: int
    numerator: int
    denominator: int


@dataclass(frozen=True)
class KeySignatureChange:
    """A key-signature meta event: ``sharps`` counts flats negative (-3 is three flats), and ``minor``
    tells the minor key of that signature from the major, e.g. ``sharps=-3`` is Eb major or C minor."""

    tick: int
    sharps: int
    minor: bool


@dataclass(frozen=True)
class Marker:
    """A marker meta event: a name for a place in the song, such as ``"verse"``."""

    tick: int
    text: str


@dataclass(frozen=True)
class MidiFileData:
    """A whole Standard MIDI File, read by :func:`read_midi_file` or :func:`parse_midi_bytes`."""

    path: str
    format: int
    ticks_per_beat: int
    tracks: tuple[MidiTrackData, ...]
    tempo_changes: tuple[TempoChange, ...]
    time_signatures: tuple[TimeSignatureChange, ...]
    end_tick: int
    key_signatures: tuple[KeySignatureChange, ...] = ()
    markers: tuple[Marker, ...] = ()

    def tick_to_beat(self, tick: int) -> float:
        return tick / self.ticks_per_beat


_Change = TypeVar("_Change", TempoChange, TimeSignatureChange, KeySignatureChange)


def read_midi_file(path: str | os.PathLike[str]) -> MidiFileData:
    """Read and parse the .mid file at ``path``; any failure is a :class:`MidiFileError` naming it."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise MidiFileError(f"{name}: cannot read the file: {exc.strerror or exc}") from exc
    return parse_midi_bytes(data, name)


def parse_midi_bytes(data: bytes, name: str = "<bytes>") -> MidiFileData:
    """Parse the bytes of a Standard MIDI File; ``name`` is what error messages call the file."""
    data = bytes(data)
    if data[:4] != b"MThd":
        raise MidiFileError(f"{name}: not a Standard MIDI File (no MThd header at byte 0)")

    def fail(offset: int, what: str) -> MidiFileError:
        return MidiFileError(f"{name}: byte 0x{offset:04x}: {what}")

    if len(data) < _CHUNK_HEADER_LENGTH:
        raise fail(4, "truncated: the file ends inside the MThd chunk length")
    header_length = int.from_bytes(data[4:8], "big")
    if header_length < _HEADER_MIN_LENGTH:
        raise fail(4, f"MThd chunk length is {header_length}, expected at least {_HEADER_MIN_LENGTH}")
    if _CHUNK_HEADER_LENGTH + header_length > len(data):
        raise fail(
            4,
            f"truncated: MThd chunk declares {header_length} bytes "
            f"but only {len(data) - _CHUNK_HEADER_LENGTH} remain in the file",
        )
    file_format = int.from_bytes(data[8:10], "big")
    track_count = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if file_format == 2:
        raise fail(8, "format 2 (independent sequences) is not supported: it is not one song")
    if file_format > 2:
        raise fail(8, f"unknown format {file_format}, expected 0 or 1")
    if division & 0x8000:
        frames_per_second = 256 - (division >> 8)
        raise fail(
            12,
            f"SMPTE time division ({frames_per_second} frames/s, {division & 0xFF} ticks/frame) "
            "is not supported, only ticks per beat",
        )
    if division == 0:
        raise fail(12, "ticks per beat is 0")

    tracks: list[MidiTrackData] = []
    tempos: list[TempoChange] = []
    signatures: list[TimeSignatureChange] = []
    keys: list[KeySignatureChange] = []
    markers: list[Marker] = []
    end_tick = 0
    pos = _CHUNK_HEADER_LENGTH + header_length  # extra header bytes (length > 6) are skipped
    while len(tracks) < track_count:
        if pos >= len(data):
            raise fail(
                pos,
                f"the header declares {track_count} track chunks (MTrk) but the file has only {len(tracks)}",
            )
        if len(data) - pos < _CHUNK_HEADER_LENGTH:
            raise fail(pos, f"truncated: {len(data) - pos} bytes left where an 8-byte chunk header belongs")
        chunk_type = data[pos : pos + 4]
        chunk_length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        body_start = pos + _CHUNK_HEADER_LENGTH
        body_end = body_start + chunk_length
        if body_end > len(data):
            place = f"track {len(tracks)}, byte" if chunk_type == b"MTrk" else "byte"
            raise MidiFileError(
                f"{name}: {place} 0x{pos:04x}: truncated: {chunk_type.decode('latin-1')!r} chunk declares "
                f"{chunk_length} bytes but only {len(data) - body_start} remain in the file"
            )
        if chunk_type == b"MTrk":
            parser = _TrackParser(data, name, len(tracks), body_start, body_end)
            tracks.append(parser.parse())
            tempos.extend(parser.tempos)
            signatures.extend(parser.signatures)
            keys.extend(parser.keys)
            markers.extend(parser.markers)
            end_tick = max(end_tick, parser.end_tick)
        pos = body_end

    return MidiFileData(
        path=name,
        format=file_format,
        ticks_per_beat=division,
        tracks=tuple(tracks),
        tempo_changes=tuple(_last_per_tick(tempos)),
        time_signatures=tuple(_last_per_tick(signatures)),
        end_tick=end_tick,
        key_signatures=tuple(_last_per_tick(keys)),
        markers=tuple(sorted(markers, key=lambda m: m.tick)),  # stable: track order, then file order
    )


def _last_per_tick(changes: list[_Change]) -> list[_Change]:
    """Sort by tick (stable: track order, then file order) and keep the last change at each tick."""
    by_tick: dict[int, _Change] = {}
    for change in sorted(changes, key=lambda c: c.tick):
        by_tick[change.tick] = change
    return list(by_tick.values())


class _TrackParser:
    """Reads the events of one MTrk chunk body, ``data[start:end]``."""

    def __init__(self, data: bytes, name: str, index: int, start: int, end: int) -> None:
        self.data = data
        self.name = name
        self.index = index
        self.pos = start
        self.end = end
        self.tempos: list[TempoChange] = []
        self.signatures: list[TimeSignatureChange] = []
        self.keys: list[KeySignatureChange] = []
        self.markers: list[Marker] = []
        self.end_tick = 0

    def fail(self, offset: int, what: str) -> MidiFileError:
        return MidiFileError(f"{self.name}: track {self.index}, byte 0x{offset:04x}: {what}")

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise self.fail(self.pos, f"truncated: the track chunk ends inside {what}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def vlq(self, what: str) -> int:
        start = self.pos
        value = 0
        for _ in range(_MAX_VLQ_BYTES):
            b = self.byte(what)
            value = (value << 7) | (b & 0x7F)
            if b < 0x80:
                return value
        raise self.fail(start, f"{what} is a variable-length quantity longer than {_MAX_VLQ_BYTES} bytes")

    def payload(self, what: str) -> bytes:
        """A length (VLQ) followed by that many bytes, as in sysex and meta events."""
        length = self.vlq(f"the length of {what}")
        if self.pos + length > self.end:
            raise self.fail(
                self.pos,
                f"truncated: {what} declares {length} bytes "
                f"but the track chunk ends at byte 0x{self.end:04x}",
            )
        body = self.data[self.pos : self.pos + length]
        self.pos += length
        return body

    def parse(self) -> MidiTrackData:
        events: list[MidiEvent] = []
        track_name: str | None = None
        instrument_name: str | None = None
        running: int | None = None
        cancelled_by_sysex = False
        tick = 0
        while self.pos < self.end:
            tick += self.vlq("a delta time")
            self.end_tick = tick
            status_pos = self.pos
            status = self.byte("an event")
            if status == _META:
                meta_type = self.byte("a meta event type")
                body = self.payload(f"meta event 0x{meta_type:02x}")
                if meta_type == _META_END_OF_TRACK:
                    break
                if meta_type == _META_TRACK_NAME and track_name is None:
                    track_name = body.decode("latin-1")
                elif meta_type == _META_INSTRUMENT_NAME and instrument_name is None:
                    instrument_name = body.decode("latin-1")
                elif meta_type == _META_TEMPO:
                    self.tempos.append(self.tempo(tick, body, status_pos))
                elif meta_type == _META_TIME_SIGNATURE:
                    self.signatures.append(self.time_signature(tick, body, status_pos))
                elif meta_type == _META_KEY_SIGNATURE:
                    self.keys.append(self.key_signature(tick, body, status_pos))
                elif meta_type == _META_MARKER:
                    self.markers.append(Marker(tick, body.decode("latin-1")))
                continue
            if status in (_SYSEX, _SYSEX_ESCAPE):
                self.payload(f"sysex event 0x{status:02x}")
                running = None
                cancelled_by_sysex = True
                continue
            if status in _SYSTEM_BYTES:
                raise self.fail(
                    status_pos,
                    f"system byte 0x{status:02x} ({_SYSTEM_BYTES[status]}) "
                    "is not allowed in a MIDI file track",
                )
            if status < 0x80:  # a data byte: running status repeats the previous status
                if running is None:
                    why = " (a sysex event before it cancelled running status)" if cancelled_by_sysex else ""
                    raise self.fail(status_pos, f"running status without a previous status byte{why}")
                self.pos -= 1
                status = running
            running = status
            events.append(self.channel_message(tick, status))
        return MidiTrackData(
            index=self.index,
            name=track_name or "",
            events=tuple(events),
            instrument_name=instrument_name or "",
        )

    def channel_message(self, tick: int, status: int) -> MidiEvent:
        kind_name, data_count = _CHANNEL_KINDS[status & 0xF0]
        values = [0, 0]
        for i in range(data_count):
            value = self.byte(f"a {kind_name} message")
            if value >= 0x80:
                raise self.fail(
                    self.pos - 1,
                    f"status byte 0x{value:02x} inside a {kind_name} message, "
                    f"expected data byte {i + 1} of {data_count} (0x00-0x7f)",
                )
            values[i] = value
        if status & 0xF0 == _NOTE_ON and values[1] == 0:
            return MidiEvent(tick, _NOTE_OFF | (status & 0x0F), values[0], _NOTE_OFF_VELOCITY)
        return MidiEvent(tick, status, values[0], values[1])

    def tempo(self, tick: int, body: bytes, offset: int) -> TempoChange:
        if len(body) != 3:
            raise self.fail(offset, f"tempo meta event (0x51) has length {len(body)}, expected 3")
        microseconds = int.from_bytes(body, "big")
        if microseconds == 0:
            raise self.fail(offset, "tempo meta event (0x51) sets 0 microseconds per beat")
        return TempoChange(tick, microseconds)

    def time_signature(self, tick: int, body: bytes, offset: int) -> TimeSignatureChange:
        if len(body) != 4:
            raise self.fail(offset, f"time signature meta event (0x58) has length {len(body)}, expected 4")
        numerator, exponent = body[0], body[1]
        if numerator == 0:
            raise self.fail(offset, "time signature meta event (0x58) has numerator 0")
        return TimeSignatureChange(tick, numerator, 2**exponent)

    def key_signature(self, tick: int, body: bytes, offset: int) -> KeySignatureChange:
        if len(body) != 2:
            raise self.fail(offset, f"key signature meta event (0x59) has length {len(body)}, expected 2")
        sharps = int.from_bytes(body[:1], "big", signed=True)
        if not -_MAX_KEY_ACCIDENTALS <= sharps <= _MAX_KEY_ACCIDENTALS:
            raise self.fail(
                offset,
                f"key signature meta event (0x59) has {sharps} sharps, "
                f"expected -{_MAX_KEY_ACCIDENTALS}..{_MAX_KEY_ACCIDENTALS} (flats count negative)",
            )
        mode = body[1]
        if mode not in (0, 1):
            raise self.fail(
                offset, f"key signature meta event (0x59) has mode {mode}, expected 0 (major) or 1 (minor)"
            )
        return KeySignatureChange(tick, sharps, mode == 1)
