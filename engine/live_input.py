"""Notes played live: MIDI arriving from ports (or posted by the control side) placed sample-accurately
into the blocks of a running engine.

:class:`LiveMidi` belongs to one live engine. Every block the audio side calls :meth:`LiveMidi.collect`:
it reads what the inputs received, gives each message a due time of its arrival time plus a constant
latency, and places the messages due inside this block at their sample offsets (not at the block start),
keeping later ones for later blocks. With a constant latency of about one period, a note lands exactly
one latency after it arrived, whatever the moment inside the period it arrived: the jitter is that of
the arrival clock, not a block's length.

:class:`LiveInput` is the graph node that plays those messages into a track's instrument, merged with the
track's own sequencer events. It remembers which live notes are held, so stopping (or a panic) sends
their note-offs and lifts the sustain pedal.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, EventBuffer
from engine.midi_io import MidiInput
from engine.processor import BlockContext, EventPort, Processor
from engine.queues import SPSCQueue

__all__ = ["LiveInput", "LiveMidi"]

_SUSTAIN = 64
_ALL_NOTES_OFF = 123


class LiveMidi:
    """The live MIDI of one engine: inputs, a time-ordered queue of messages not yet due, and the events
    due in the current block (:attr:`events`, read by every :class:`LiveInput`)."""

    def __init__(self, sample_rate: float, latency_s: float = 0.0, capacity: int = 4096) -> None:
        self.sample_rate = float(sample_rate)
        self.latency_s = float(latency_s)
        self.inputs: tuple[MidiInput, ...] = ()
        self.events = EventBuffer(capacity)
        self._cap = capacity
        self._due = np.zeros(capacity, dtype=np.float64)
        self._arrival = np.zeros(capacity, dtype=np.float64)
        self._st = np.zeros(capacity, dtype=np.uint8)
        self._d1 = np.zeros(capacity, dtype=np.uint8)
        self._d2 = np.zeros(capacity, dtype=np.uint8)
        self._n = 0  # messages waiting, in due order in slots 0.._n-1
        self._posted: SPSCQueue[tuple[int, int, int, float]] = SPSCQueue(1024)
        self._post_lock = threading.Lock()
        self.panic_pending = False
        self.clock_sync: Any = None  # an engine.clock_sync.ClockSync that takes clock messages, or None
        self.mapper: Any = None  # an engine.mapping.MidiMapper that takes mapped controls, or None
        # notes played on the inputs, copied for the control side (a jam room hears them), or None
        self.tap: SPSCQueue[tuple[int, int, int, float]] | None = None
        # audio-side statistics (read by the control side)
        self.received = 0
        self.placed = 0
        self.late = 0  # due before this block began: placed at offset 0
        self.dropped = 0
        self.mapped = 0  # messages a MIDI mapping took (they move parameters and are not played)
        # the last few placements, for latency measurement: arrival time and the sample it sounded at
        self.trace_arrival = np.zeros(4096, dtype=np.float64)
        self.trace_placed = np.zeros(4096, dtype=np.float64)
        self.trace_count = 0

    # -- control side -----------------------------------------------------------------------------------
    def set_inputs(self, inputs: list[MidiInput]) -> None:
        self.inputs = tuple(inputs)  # one reference swap: the audio side sees the old tuple or the new

    def post(self, status: int, data1: int = 0, data2: int = 0, at: float | None = None) -> bool:
        """Play a message as if it arrived on a port now (or at ``at``, ``time.monotonic`` seconds)."""
        if not (0x80 <= status <= 0xEF and 0 <= data1 <= 127 and 0 <= data2 <= 127):
            raise ValueError(f"not a channel message: status {status:#x}, data {data1}, {data2}")
        item = (status, data1, data2, time.monotonic() if at is None else at)
        with self._post_lock:  # between control threads; the audio side never takes it
            return self._posted.try_push(item)

    def panic(self) -> None:
        """Note-offs for every held live note, sustain up, at the next block."""
        self.panic_pending = True

    # -- audio side -------------------------------------------------------------------------------------
    def _insert(self, due: float, arrival: float, st: int, d1: int, d2: int) -> None:
        n = self._n
        if n >= self._cap:
            self.dropped += 1
            return
        i = n
        due_a = self._due
        while i > 0 and due_a[i - 1] > due:  # usually none: messages arrive in order
            i -= 1
        if i < n:
            for a in (due_a, self._arrival, self._st, self._d1, self._d2):
                a[i + 1 : n + 1] = a[i:n]
        due_a[i] = due
        self._arrival[i] = arrival
        self._st[i] = st
        self._d1[i] = d1
        self._d2[i] = d2
        self._n = n + 1

    def _receive(self, msg: list[int], arrival: float) -> None:
        self.received += 1
        st = msg[0]
        if st >= 0xF0:
            sync = self.clock_sync
            if sync is not None and (st >= 0xF8 or st == 0xF2):
                d1 = msg[1] & 0x7F if len(msg) > 1 else 0
                d2 = msg[2] & 0x7F if len(msg) > 2 else 0
                sync.on_message(st, d1, d2, arrival)
            return  # system messages are not played
        if st < 0x80:
            return
        kind = st & 0xF0
        d1 = msg[1] & 0x7F if len(msg) > 1 else 0
        d2 = msg[2] & 0x7F if len(msg) > 2 else 0
        if kind == NOTE_ON and d2 == 0:
            st = NOTE_OFF | (st & 0x0F)
            d2 = 64
        tap = self.tap
        if tap is not None and (kind == NOTE_ON or kind == NOTE_OFF):
            tap.try_push((st, d1, d2, arrival))
        self._insert(arrival + self.latency_s, arrival, st, d1, d2)

    def collect(self, now: float, block_time: float, frames: int) -> None:
        """Fill :attr:`events` with the messages due in the block that starts at ``block_time``."""
        for inp in self.inputs:
            while True:
                got = inp.poll(now)
                if got is None:
                    break
                self._receive(got[0], got[1])
        while True:
            p = self._posted.try_pop()
            if p is None:
                break
            self.received += 1
            self._insert(p[3] + self.latency_s, p[3], p[0], p[1], p[2])
        ev = self.events
        ev.count = 0
        n = self._n
        if n == 0:
            return
        sr = self.sample_rate
        end = block_time + frames / sr
        due_a = self._due
        k = 0
        last = 0
        tc = self.trace_count
        while k < n and due_a[k] < end:
            off = int((due_a[k] - block_time) * sr + 0.5)
            if off < 0:
                off = 0
                self.late += 1
            if off >= frames:
                off = frames - 1
            if off < last:
                off = last
            last = off
            mapper = self.mapper
            if mapper is not None and mapper.feed(int(self._st[k]), int(self._d1[k]), int(self._d2[k]), off):
                self.mapped += 1
                k += 1
                continue
            if ev.push(off, int(self._st[k]), int(self._d1[k]), int(self._d2[k])):
                self.placed += 1
                j = tc & 4095
                self.trace_arrival[j] = self._arrival[k]
                self.trace_placed[j] = block_time + off / sr
                tc += 1
            else:
                self.dropped += 1
            k += 1
        self.trace_count = tc
        if k:
            rest = n - k
            for a in (due_a, self._arrival, self._st, self._d1, self._d2):
                a[:rest] = a[k:n]
            self._n = rest

    def pending(self) -> int:
        return self._n


class LiveInput(Processor):
    """Plays the live MIDI of :class:`LiveMidi` into the node it feeds, merged with the events on its
    input (a track's sequencer). ``channel`` (0..15) takes only that channel's messages; None takes all
    (omni), which is what a single played instrument wants."""

    event_inputs = (EventPort("midi"),)
    event_outputs = (EventPort("midi"),)

    def __init__(self, source: LiveMidi, channel: int | None = None) -> None:
        super().__init__()
        if channel is not None and not 0 <= channel <= 15:
            raise ValueError(f"live input channel must be 0..15 (MIDI channels 1..16), got {channel}")
        self.source = source
        self.channel = -1 if channel is None else channel
        self._held = np.zeros((16, 128), dtype=np.bool_)
        self._pedal = np.zeros(16, dtype=np.bool_)

    def reset(self) -> None:
        super().reset()
        self._held[:] = False
        self._pedal[:] = False

    def held_notes(self) -> int:
        return int(self._held.sum())

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        out: EventBuffer = events_out[0]
        seq: EventBuffer = events_in[0]
        live = self.source.events
        out.count = 0
        if self.source.panic_pending:
            self._flush(out)
        n_seq = seq.count
        n_live = live.count
        i = j = 0
        want = self.channel
        held = self._held
        while i < n_seq or j < n_live:
            if j >= n_live or (i < n_seq and seq.offset[i] <= live.offset[j]):
                out.push(int(seq.offset[i]), int(seq.status[i]), int(seq.data1[i]), int(seq.data2[i]))
                i += 1
                continue
            st = int(live.status[j])
            d1 = int(live.data1[j])
            j += 1
            if want >= 0 and (st & 0x0F) != want:
                continue
            kind = st & 0xF0
            d2 = int(live.data2[j - 1])
            if kind == NOTE_ON:
                held[st & 0x0F, d1] = True
            elif kind == NOTE_OFF:
                held[st & 0x0F, d1] = False
            elif kind == CONTROL_CHANGE and d1 == _SUSTAIN:
                self._pedal[st & 0x0F] = d2 >= 64
            out.push(int(live.offset[j - 1]), st, d1, d2)

    def _flush(self, out: EventBuffer) -> None:
        held = self._held
        for ch in range(16):
            if self._pedal[ch]:
                out.push(0, CONTROL_CHANGE | ch, _SUSTAIN, 0)
                self._pedal[ch] = False
            row = held[ch]
            if row.any():
                for note in np.flatnonzero(row):
                    out.push(0, NOTE_OFF | ch, int(note), 64)
                row[:] = False
