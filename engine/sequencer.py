"""MIDI clips on a track, compiled to sample positions, and the node that plays them block by block.

Control side: a :class:`Clip` holds notes, controller changes, pitch bends and program changes in beats
relative to its start; :func:`compile_events` places a track's clips on the timeline with the tempo map
and returns an :class:`EventTable` sorted by sample. Notes are cut at their clip's end, and a note that
starts again while the same pitch still sounds ends the earlier one first, so nothing hangs.

Audio side: :class:`Sequencer` is a processor with one event output. Each block it copies the events whose
sample falls inside each segment of the block (segments split at loop wraps) to their exact offsets, keeps
a table of sounding notes, and sends the note-offs it owes wherever the timeline jumps (loop wrap, locate),
on stop, and when a new table replaces the old one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM_CHANGE, EventBuffer
from engine.processor import BlockContext, EventPort, Processor
from engine.tempo import TempoMap

__all__ = [
    "Clip",
    "ControlChange",
    "EventTable",
    "Note",
    "PitchBend",
    "ProgramChange",
    "Sequencer",
    "compile_events",
]


def _check_int(what: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an integer in {lo}..{hi}, got {value!r}")


def _check_beat(what: str, value: float, allow_negative: bool = False) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or (value < 0 and not allow_negative):
        raise ValueError(f"{what} must be a finite number of beats >= 0, got {value!r}")


@dataclass(frozen=True)
class Note:
    pitch: int
    start_beats: float
    length_beats: float
    velocity: int = 100
    channel: int = 0

    def __post_init__(self) -> None:
        _check_int("pitch", self.pitch, 0, 127)
        _check_int("velocity", self.velocity, 1, 127)
        _check_int("channel", self.channel, 0, 15)
        _check_beat("note start", self.start_beats)
        _check_beat("note length", self.length_beats)
        if self.length_beats <= 0:
            raise ValueError(f"note length must be > 0 beats, got {self.length_beats}")


@dataclass(frozen=True)
class ControlChange:
    beat: float
    controller: int
    value: int
    channel: int = 0

    def __post_init__(self) -> None:
        _check_beat("controller change beat", self.beat)
        _check_int("controller", self.controller, 0, 127)
        _check_int("controller value", self.value, 0, 127)
        _check_int("channel", self.channel, 0, 15)


@dataclass(frozen=True)
class PitchBend:
    beat: float
    value: int  # -8192..8191, 0 is centre
    channel: int = 0

    def __post_init__(self) -> None:
        _check_beat("pitch bend beat", self.beat)
        _check_int("pitch bend value", self.value, -8192, 8191)
        _check_int("channel", self.channel, 0, 15)


@dataclass(frozen=True)
class ProgramChange:
    beat: float
    program: int
    channel: int = 0

    def __post_init__(self) -> None:
        _check_beat("program change beat", self.beat)
        _check_int("program", self.program, 0, 127)
        _check_int("channel", self.channel, 0, 15)


@dataclass(frozen=True)
class Clip:
    """A MIDI clip: content in beats relative to the clip, placed at ``start_beats`` on the track.

    ``length_beats`` (default: up to the end of the last note) cuts the clip; ``offset_beats`` skips the
    start of the content (content before it does not play).
    """

    start_beats: float
    notes: tuple[Note, ...] = ()
    controls: tuple[ControlChange, ...] = ()
    pitch_bends: tuple[PitchBend, ...] = ()
    programs: tuple[ProgramChange, ...] = ()
    length_beats: float | None = None
    offset_beats: float = 0.0
    name: str = ""
    _end: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        _check_beat("clip start", self.start_beats)
        _check_beat("clip offset", self.offset_beats)
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "controls", tuple(self.controls))
        object.__setattr__(self, "pitch_bends", tuple(self.pitch_bends))
        object.__setattr__(self, "programs", tuple(self.programs))
        if self.length_beats is not None:
            _check_beat("clip length", self.length_beats)
            if self.length_beats <= 0:
                raise ValueError(f"clip length must be > 0 beats, got {self.length_beats}")
            end = self.length_beats
        else:
            ends = [n.start_beats + n.length_beats for n in self.notes]
            ends += [c.beat for c in self.controls] + [b.beat for b in self.pitch_bends]
            ends += [p.beat for p in self.programs]
            end = max(ends, default=0.0) - self.offset_beats
        object.__setattr__(self, "_end", max(end, 0.0))

    @property
    def end_beats(self) -> float:
        """Timeline beat where the clip ends."""
        return self.start_beats + self._end


# Order of events that share a sample: note-offs first (so a repeated note retriggers), then programs,
# controllers and bends, then note-ons.
_PRIORITY = {NOTE_OFF: 0, PROGRAM_CHANGE: 1, CONTROL_CHANGE: 2, PITCH_BEND: 3, NOTE_ON: 4}


@dataclass(frozen=True)
class EventTable:
    """A track's events on the timeline, sorted by sample: parallel arrays."""

    sample: np.ndarray  # int64
    status: np.ndarray  # uint8
    data1: np.ndarray  # uint8
    data2: np.ndarray  # uint8

    def __len__(self) -> int:
        return int(self.sample.shape[0])

    @property
    def end_sample(self) -> int:
        return int(self.sample[-1]) if len(self) else 0

    @staticmethod
    def empty() -> EventTable:
        return EventTable(
            np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.uint8)
        )


def compile_events(clips: Iterable[Clip], tempo_map: TempoMap, sample_rate: float) -> EventTable:
    """Place clips on the timeline and convert beats to samples (rounded to the nearest sample, half up).

    Every note lasts at least one sample, so its note-off never lands before or on its note-on.
    """
    rows: list[tuple[float, int, int, int, int, int]] = []  # beat, priority, status, d1, d2, note id
    note_id = 0
    for clip in clips:
        lo = clip.offset_beats
        hi = clip.offset_beats + (clip.end_beats - clip.start_beats)
        base = clip.start_beats - clip.offset_beats
        for n in clip.notes:
            if not lo <= n.start_beats < hi:
                continue
            end = min(n.start_beats + n.length_beats, hi)
            rows.append((base + n.start_beats, 4, NOTE_ON | n.channel, n.pitch, n.velocity, note_id))
            rows.append((base + end, 0, NOTE_OFF | n.channel, n.pitch, 64, note_id))
            note_id += 1
        for c in clip.controls:
            if lo <= c.beat < hi:
                rows.append((base + c.beat, 2, CONTROL_CHANGE | c.channel, c.controller, c.value, -1))
        for b in clip.pitch_bends:
            if lo <= b.beat < hi:
                v = b.value + 8192
                rows.append((base + b.beat, 3, PITCH_BEND | b.channel, v & 0x7F, v >> 7, -1))
        for p in clip.programs:
            if lo <= p.beat < hi:
                rows.append((base + p.beat, 1, PROGRAM_CHANGE | p.channel, p.program, 0, -1))
    if not rows:
        return EventTable.empty()
    beats = np.array([r[0] for r in rows], dtype=np.float64)
    seconds = tempo_map.beats_to_seconds(beats)
    samples = np.floor(seconds * float(sample_rate) + 0.5).astype(np.int64)
    on_sample: dict[int, int] = {}
    for i, r in enumerate(rows):
        if r[5] >= 0 and r[1] == 4:
            on_sample[r[5]] = int(samples[i])
    for i, r in enumerate(rows):
        if r[5] >= 0 and r[1] == 0 and samples[i] <= on_sample[r[5]]:
            samples[i] = on_sample[r[5]] + 1  # shorter than half a sample: still one sample long
    keyed = sorted(
        ((int(samples[i]), r[1], i, r[2], r[3], r[4], r[5]) for i, r in enumerate(rows)), key=lambda t: t[:3]
    )
    keyed = _resolve_overlaps(keyed)
    return EventTable(
        np.array([k[0] for k in keyed], dtype=np.int64),
        np.array([k[3] for k in keyed], dtype=np.uint8),
        np.array([k[4] for k in keyed], dtype=np.uint8),
        np.array([k[5] for k in keyed], dtype=np.uint8),
    )


def _resolve_overlaps(rows: Sequence[tuple[int, int, int, int, int, int, int]]) -> list:
    """Where a pitch starts again while it sounds on the same channel, end the earlier note there and drop
    that earlier note's own note-off, so every note-on pairs with exactly one note-off and each note keeps
    its own end."""
    sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> id of the note sounding
    ended_early: set[int] = set()
    out: list = []
    for row in rows:
        sample, _prio, order, status, d1, _d2, nid = row
        kind = status & 0xF0
        key = (status & 0x0F, d1)
        if kind == NOTE_ON:
            earlier = sounding.get(key)
            if earlier is not None:
                out.append((sample, 0, order, NOTE_OFF | key[0], d1, 64, earlier))
                ended_early.add(earlier)
            sounding[key] = nid
        elif kind == NOTE_OFF:
            if nid in ended_early:
                continue
            if sounding.get(key) == nid:
                del sounding[key]
        out.append(row)
    return out


NOTE_OFF_RESERVE = 128  # event-buffer places kept for note-offs, so a crowded block never hangs a note


# a jump of the timeline this small (a clock follower's phase correction) is played through, not flushed
NUDGE_MAX = 64
PEDALS = 16 * 128  # where the sustain pedals' states start in the table of sounding notes


@njit(cache=True, nogil=True)
def _gather(samples, status, d1, d2, start, stop, base, o_off, o_st, o_d1, o_d2, count, active):
    """Copy events with ``start <= sample < stop`` to offsets ``sample - start + base``; track notes.

    A note-off goes out only for a note that sounds (after a locate into a note, its note-off was already
    sent). The last ``NOTE_OFF_RESERVE`` places of the buffer are kept for note-offs, and an event that
    does not fit leaves the note table as it was, so a stop still releases what sounds."""
    m = samples.shape[0]
    lo = 0
    hi = m
    while lo < hi:  # first index with samples[i] >= start
        mid = (lo + hi) >> 1
        if samples[mid] < start:
            lo = mid + 1
        else:
            hi = mid
    cap = o_off.shape[0]
    soft_cap = cap - NOTE_OFF_RESERVE if cap > 2 * NOTE_OFF_RESERVE else cap
    dropped = 0
    i = lo
    while i < m and samples[i] < stop:
        st = status[i]
        kind = st & 0xF0
        key = (st & 0x0F) * 128 + d1[i]
        if kind == 0x80:
            if active[key] > 0:
                if count < cap:
                    active[key] -= 1
                    o_off[count] = samples[i] - start + base
                    o_st[count] = st
                    o_d1[count] = d1[i]
                    o_d2[count] = d2[i]
                    count += 1
                else:
                    dropped += 1
        elif count < soft_cap:
            if kind == 0x90:
                active[key] += 1
            elif kind == 0xB0 and d1[i] == 64:
                active[PEDALS + (st & 0x0F)] = 1 if d2[i] >= 64 else 0
            o_off[count] = samples[i] - start + base
            o_st[count] = st
            o_d1[count] = d1[i]
            o_d2[count] = d2[i]
            count += 1
        else:
            dropped += 1
        i += 1
    return count, dropped


@njit(cache=True, nogil=True)
def _flush(active, offset, o_off, o_st, o_d1, o_d2, count):
    """A note-off at ``offset`` for every sounding note, and a sustain-pedal release for every channel whose
    pedal is down (else the pedal would hold the released notes); what does not fit stays owed."""
    cap = o_off.shape[0]
    for key in range(PEDALS):
        while active[key] > 0 and count < cap:
            o_off[count] = offset
            o_st[count] = 0x80 | (key // 128)
            o_d1[count] = key % 128
            o_d2[count] = 64
            count += 1
            active[key] -= 1
    for ch in range(16):
        if active[PEDALS + ch] > 0 and count < cap:
            o_off[count] = offset
            o_st[count] = 0xB0 | ch
            o_d1[count] = 64
            o_d2[count] = 0
            count += 1
            active[PEDALS + ch] = 0
    return count


class Sequencer(Processor):
    """Plays an :class:`EventTable` into its ``midi`` event output, sample-accurately."""

    event_outputs = (EventPort("midi"),)

    def __init__(self, table: EventTable | None = None) -> None:
        super().__init__()
        self.table = table if table is not None else EventTable.empty()
        self._playing_table = self.table
        self._active = np.zeros(PEDALS + 16, dtype=np.int32)  # notes sounding, then pedals down
        self._expected = -1
        self._owed = False

    def set_table(self, table: EventTable) -> None:
        """Control side: replace the events; notes that sound get their note-offs at the next block."""
        self.table = table

    def active_notes(self) -> int:
        return int(self._active[:PEDALS].sum())

    def reset(self) -> None:
        super().reset()
        self._active[:] = 0
        self._expected = -1

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        out: EventBuffer = events_out[0]
        out.count = 0
        table = self.table
        flush = ctx.notes_off_due or self._owed
        if table is not self._playing_table:
            self._playing_table = table
            flush = True
        if flush:
            out.count = _flush(self._active, 0, out.offset, out.status, out.data1, out.data2, 0)
            # a full buffer leaves note-offs owed: send them next block (the table still knows them)
            self._owed = out.count == out.capacity
        if not ctx.playing:
            self._expected = -1
            return
        count = out.count
        for k in range(ctx.num_segments):
            start = ctx.seg_start[k]
            base = ctx.seg_offset[k]
            stop = start + ctx.seg_frames[k]
            expected = self._expected
            # where to read from, and the offset that sample lands on
            first, first_base = start, base
            if expected >= 0 and start != expected:
                jump = start - expected
                if 0 < jump <= NUDGE_MAX:
                    # nudged ahead (following a clock): the events skipped over play at the segment start
                    before = count
                    count, dropped = _gather(
                        table.sample, table.status, table.data1, table.data2, expected, start, base,
                        out.offset, out.status, out.data1, out.data2, count, self._active,
                    )  # fmt: skip
                    out.offset[before:count] = base
                    out.dropped += dropped
                elif -NUDGE_MAX <= jump < 0:
                    # nudged back: what was already played is not played again
                    first, first_base = expected, base - jump
                else:
                    count = _flush(self._active, base, out.offset, out.status, out.data1, out.data2, count)
            if first < stop:
                count, dropped = _gather(
                    table.sample, table.status, table.data1, table.data2, first, stop, first_base,
                    out.offset, out.status, out.data1, out.data2, count, self._active,
                )  # fmt: skip
                out.dropped += dropped
            self._expected = stop if stop > expected or first == start else expected
        out.count = count

    def rebase(self, table: EventTable, position: int) -> None:
        """Audio side (from the transport, before this block runs): play ``table`` from timeline sample
        ``position`` on as if it had always been the table (the same music at a new tempo): sounding notes
        keep sounding and get their note-offs from the new table."""
        self.table = table
        self._playing_table = table
        if self._expected >= 0:
            self._expected = position
