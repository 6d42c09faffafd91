"""MIDI leaving the engine: a track's notes sent to external gear, and MIDI clock for gear that follows.

:class:`MidiSend` is an instrument for a track whose sound comes from outside: it makes no audio and hands
the track's events (sequencer and live) to a :class:`engine.midi_io.MidiOutput` after each block. It
remembers the notes it left sounding, so a stop, a locate or a closing engine always sends their note-offs.

:class:`MidiClock` sends 24 pulses per quarter note while the transport plays, Start from the top, Song
Position Pointer and Continue from anywhere else, and Stop, so a DAW or a drum machine can follow.

Both run on the audio side after the block (no allocation: messages are preallocated lists that rtmidi
copies). A message goes out when the block is computed, so its timing is that of the block (with JACK it
lands at the start of the next period): gear that follows a clock smooths it.
"""

from __future__ import annotations

import math

import numpy as np

from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, EventBuffer
from engine.midi_io import MidiOutput
from engine.processor import AudioPort, BlockContext, EventPort, Processor

__all__ = ["CLOCK", "CONTINUE", "SONG_POSITION", "START", "STOP", "MidiClock", "MidiSend"]

CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
SONG_POSITION = 0xF2
PPQN = 24


class MidiSend(Processor):
    """A track instrument that sends the track's MIDI to an output port instead of making sound.

    ``channel`` (0..15) rewrites every message to that channel; None keeps the track's channels.
    ``port_name`` names the port to open when the track plays live (a song file's ``midi_out`` track);
    ``output``, when given, is an open port."""

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)

    def __init__(
        self, output: MidiOutput | None = None, channel: int | None = None, port_name: str | None = None
    ) -> None:
        super().__init__()
        if channel is not None and not 0 <= channel <= 15:
            raise ValueError(f"MIDI out channel must be 0..15 (MIDI channels 1..16), got {channel}")
        self.output = output
        self.port_name = port_name
        self.channel = -1 if channel is None else channel
        self.pending = EventBuffer(4096)
        self._held = np.zeros((16, 128), dtype=np.bool_)
        self._msg3 = [0, 0, 0]
        self._msg2 = [0, 0]
        self.sent = 0

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        audio_out[0][:] = 0.0
        src: EventBuffer = events_in[0]
        dst = self.pending
        n = src.count
        dst.offset[:n] = src.offset[:n]
        dst.status[:n] = src.status[:n]
        dst.data1[:n] = src.data1[:n]
        dst.data2[:n] = src.data2[:n]
        dst.count = n

    def reset(self) -> None:
        super().reset()
        self.pending.count = 0

    def flush_to_port(self) -> None:
        """Audio side, after the block: send this block's events."""
        out = self.output
        ev = self.pending
        n = ev.count
        ev.count = 0
        if out is None or n == 0:
            return
        chan = self.channel
        held = self._held
        for i in range(n):
            st = int(ev.status[i])
            if chan >= 0:
                st = (st & 0xF0) | chan
            kind = st & 0xF0
            d1 = int(ev.data1[i])
            if kind == NOTE_ON:
                held[st & 0x0F, d1] = True
            elif kind == NOTE_OFF:
                held[st & 0x0F, d1] = False
            if kind in (0xC0, 0xD0):
                m = self._msg2
                m[0] = st
                m[1] = d1
            else:
                m = self._msg3
                m[0] = st
                m[1] = d1
                m[2] = int(ev.data2[i])
            out.send(m)
            self.sent += 1

    def all_notes_off(self) -> None:
        """Note-offs for every note this track left sounding on the gear, then CC123 on its channels."""
        out = self.output
        if out is None:
            return
        m = self._msg3
        for ch in range(16):
            row = self._held[ch]
            if not row.any():
                continue
            for note in np.flatnonzero(row):
                m[0], m[1], m[2] = NOTE_OFF | ch, int(note), 64
                out.send(m)
            row[:] = False
            m[0], m[1], m[2] = CONTROL_CHANGE | ch, 123, 0
            out.send(m)


class MidiClock:
    """MIDI clock and transport messages from the engine's transport, one block at a time."""

    def __init__(self, output: MidiOutput) -> None:
        self.output = output
        self._was_playing = False
        self._last_pos = -1
        self._next_pulse = 0  # the index of the next pulse to send (beats * 24)
        self._one = [0]
        self._spp = [SONG_POSITION, 0, 0]
        self.pulses = 0

    def _send(self, status: int) -> None:
        m = self._one
        m[0] = status
        self.output.send(m)

    def _song_position(self, beat: float) -> int:
        # in MIDI beats (sixteenth notes), the pointer's unit; the clock resumes at that sixteenth
        sixteenth = min(16383, max(0, math.floor(beat * 4 + 1e-9)))
        m = self._spp
        m[1] = sixteenth & 0x7F
        m[2] = sixteenth >> 7
        self.output.send(m)
        return sixteenth * 6

    def after_block(self, ctx: BlockContext, beat_end: float) -> None:
        """Audio side, after a block: ``ctx`` describes the block, ``beat_end`` is the beat at its end."""
        playing = ctx.playing
        wrapped = ctx.num_segments > 1  # the loop wrapped inside the block: chase it like a locate
        if playing and not self._was_playing:
            beat = ctx.beat_pos
            if ctx.sample_pos == 0:
                self._send(START)
                self._next_pulse = 0
            else:
                self._next_pulse = self._song_position(beat)
                self._send(CONTINUE)
        elif not playing and self._was_playing:
            self._send(STOP)
        elif not playing and ctx.sample_pos != self._last_pos and self._last_pos >= 0:
            self._song_position(ctx.beat_pos)  # located while stopped: tell the followers where
        elif playing and (ctx.notes_off_due or wrapped):
            # located while playing: stop, point, continue (the way sequencers chase a jump)
            self._send(STOP)
            self._next_pulse = self._song_position(beat_end if wrapped else ctx.beat_pos)
            self._send(CONTINUE)
        self._was_playing = playing
        self._last_pos = ctx.sample_pos
        if not playing:
            return
        end_pulse = beat_end * PPQN
        while self._next_pulse < end_pulse:
            self._send(CLOCK)
            self._next_pulse += 1
            self.pulses += 1
