"""The transport: play, stop, locate and the loop region, advancing the timeline block by block.

The control side calls :meth:`Transport.play`, :meth:`Transport.stop`, :meth:`Transport.locate` and
:meth:`Transport.set_loop`; each posts a small command that the audio side applies at the top of its next
block (:meth:`Transport.begin_block`), which also splits the block into segments where the loop wraps and
fills the :class:`engine.processor.BlockContext` that every processor reads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.processor import MAX_SEGMENTS, BlockContext
from engine.queues import SPSCQueue
from engine.tempo import TempoMap

if TYPE_CHECKING:
    from engine.params import AutomationTable, Parameter
    from engine.sequencer import EventTable, Sequencer

__all__ = ["Transport"]

_PLAY, _STOP, _LOCATE, _LOOP, _TEMPO, _RETIME = range(6)


class Transport:
    """Timeline position (in samples), play state and loop region for one engine."""

    def __init__(self, tempo_map: TempoMap, sample_rate: float, max_block_size: int) -> None:
        self.tempo_map = tempo_map
        self.sample_rate = float(sample_rate)
        self.max_block_size = int(max_block_size)
        self._commands: SPSCQueue[tuple] = SPSCQueue(256)
        self._post_lock = threading.Lock()  # between control threads (console, OSC...); never the audio side
        self._notes_off_owed = False
        self.retimes = 0
        # audio-side state (read freely by the control side for display)
        self.position = 0
        self.playing = False
        self.loop_enabled = False
        self.loop_start = 0
        self.loop_end = 0
        self.loop_wraps = 0

    # -- control side -----------------------------------------------------------------------------------
    def _post(self, cmd: tuple) -> None:
        with self._post_lock:
            ok = self._commands.try_push(cmd)
        if not ok:
            raise RuntimeError("transport command queue is full: the audio side is not running")

    def play(self) -> None:
        self._post((_PLAY,))

    def stop(self) -> None:
        self._post((_STOP,))

    def locate(self, sample: int) -> None:
        """Move the play position to a timeline sample (>= 0)."""
        if sample < 0:
            raise ValueError(f"locate position must be >= 0 samples, got {sample}")
        self._post((_LOCATE, int(sample)))

    def locate_beats(self, beat: float) -> None:
        self.locate(self._sample_of(beat))

    def _sample_of(self, beat: float) -> int:
        # the same rounding as the sequencer's events (half up), so a loop point and a note on it agree
        return math.floor(self.tempo_map.beat_to_sample(beat, self.sample_rate) + 0.5)

    def locate_bar(self, bar: int) -> None:
        self.locate_beats(self.tempo_map.bar_to_beat(bar))

    def set_loop(self, start_beat: float, end_beat: float, enabled: bool = True) -> None:
        """Loop between two beat positions; the loop must be at least one maximum block long."""
        if not (math.isfinite(start_beat) and math.isfinite(end_beat)) or start_beat < 0:
            raise ValueError(f"loop start must be a finite beat >= 0, got {start_beat}")
        start = self._sample_of(start_beat)
        end = self._sample_of(end_beat)
        if end - start < self.max_block_size:
            raise ValueError(
                f"loop {start_beat:g}..{end_beat:g} beats is {end - start} samples; it must be at least"
                f" one block ({self.max_block_size} samples) long"
            )
        self._post((_LOOP, start, end, bool(enabled)))

    def enable_loop(self, enabled: bool) -> None:
        self._post((_LOOP, self.loop_start, self.loop_end, bool(enabled) and self.loop_end > self.loop_start))

    def set_tempo_map(self, tempo_map: TempoMap) -> None:
        """Swap the tempo map the transport reports beats and bars with; the sample position stays where it
        is. Event tables, automation lanes and loop points are in samples: rebuild them for the new map
        (``Session.build`` does) and set the loop again."""
        self._post((_TEMPO, tempo_map))

    def retime(
        self,
        tempo_map: TempoMap,
        tables: Sequence[tuple[Sequencer, EventTable]],
        lanes: Sequence[tuple[Parameter, AutomationTable]],
    ) -> None:
        """Play on at a new tempo map from the same beat: at the top of one block the position moves to
        the sample of the beat it stood on, the loop points to their beats' samples, each sequencer to its
        table compiled for the new map (notes keep sounding) and each automation lane to its new table.
        Build the tables with :mod:`engine.retime`."""
        self._post((_RETIME, tempo_map, tuple(tables), tuple(lanes)))

    # -- positions (control side, for display) -----------------------------------------------------------
    def position_seconds(self) -> float:
        return self.position / self.sample_rate

    def position_beats(self) -> float:
        return self.tempo_map.sample_to_beat(self.position, self.sample_rate)

    def position_bars(self) -> tuple[int, float]:
        """(bar counted from 0, beat inside the bar in quarter notes)."""
        return self.tempo_map.beat_to_bar(self.position_beats())

    def position_text(self) -> str:
        """The position as a musician reads it, e.g. ``3.2.000`` (bar.beat.tick, 1-based)."""
        return self.tempo_map.format_position(self.position_beats())

    # -- audio side -------------------------------------------------------------------------------------
    def apply(self, cmd: tuple) -> bool:
        """Audio side: carry out one command now (before :meth:`begin_block`); True if the notes that
        sound must be released (a stop while playing, a locate)."""
        kind = cmd[0]
        if kind == _PLAY:
            self.playing = True
        elif kind == _STOP:
            was = self.playing
            self.playing = False
            return was
        elif kind == _LOCATE:
            moved = cmd[1] != self.position
            self.position = cmd[1]
            return moved
        elif kind == _LOOP:
            self.loop_start, self.loop_end, self.loop_enabled = cmd[1], cmd[2], cmd[3]
        elif kind == _TEMPO:
            self.tempo_map = cmd[1]
        elif kind == _RETIME:
            self._retime(cmd[1], cmd[2], cmd[3])
        return False

    def locate_now(self, sample: int) -> None:
        """Audio side: move to ``sample`` at the top of this block (for code that runs in the audio callback
        before the engine's block: a clock follower); the notes that sound are released."""
        if self.apply((_LOCATE, max(0, int(sample)))):
            self._notes_off_owed = True

    def nudge(self, samples: int) -> None:
        """Audio side: move the position by a few samples (at most ``engine.sequencer.NUDGE_MAX``) without
        releasing notes: the sequencers play through the jump (a clock follower's phase correction)."""
        self.position = max(0, self.position + int(samples))

    def _retime(self, tm: TempoMap, tables: tuple, lanes: tuple) -> None:
        sr = self.sample_rate
        old = self.tempo_map
        beat = old.sample_to_beat(self.position, sr)
        self.position = math.floor(tm.beat_to_sample(beat, sr) + 0.5)
        if self.loop_end > self.loop_start:
            ls = old.sample_to_beat(self.loop_start, sr)
            le = old.sample_to_beat(self.loop_end, sr)
            self.loop_start = math.floor(tm.beat_to_sample(ls, sr) + 0.5)
            self.loop_end = math.floor(tm.beat_to_sample(le, sr) + 0.5)
        self.tempo_map = tm
        for seq, table in tables:
            seq.rebase(table, self.position)
        for param, table in lanes:
            param.swap_automation(table)
        self.retimes += 1

    def begin_block(self, ctx: BlockContext, frames: int) -> None:
        """Apply pending commands, then describe this block in ``ctx`` (segments, tempo, beat)."""
        notes_off = self._notes_off_owed
        self._notes_off_owed = False
        while True:
            cmd = self._commands.try_pop()
            if cmd is None:
                break
            if self.apply(cmd):
                notes_off = True
        ctx.notes_off_due = notes_off
        ctx.frames = frames
        pos = self.position
        ctx.sample_pos = pos
        ctx.playing = self.playing
        tm = self.tempo_map
        ctx.beat_pos = tm.sample_to_beat(pos, self.sample_rate)
        ctx.tempo_bpm = tm.tempo_at_beat(ctx.beat_pos)
        if not self.playing:
            ctx.set_single_segment(frames, pos, False)
            return
        k = 0
        offset = 0
        remaining = frames
        le = self.loop_end
        while remaining > 0:
            if self.loop_enabled and pos < le < pos + remaining and k < MAX_SEGMENTS - 1:
                f = le - pos
                ctx.seg_start[k] = pos
                ctx.seg_offset[k] = offset
                ctx.seg_frames[k] = f
                k += 1
                offset += f
                remaining -= f
                pos = self.loop_start
                self.loop_wraps += 1
            else:
                ctx.seg_start[k] = pos
                ctx.seg_offset[k] = offset
                ctx.seg_frames[k] = remaining
                k += 1
                pos += remaining
                remaining = 0
        if self.loop_enabled and pos == le:
            # ended exactly on the loop end: the next block starts at the loop start
            pos = self.loop_start
            self.loop_wraps += 1
        ctx.num_segments = k
        self.position = pos
