"""Locking the live engine to an external MIDI clock: tempo, Start/Stop/Continue, Song Position Pointer.

Three parts, so that nothing heavy runs in the audio callback:

* the audio side hands every clock message, with its arrival time, to :meth:`ClockSync.on_message` (a
  queue push);
* a control thread (:meth:`ClockSync.service`, run by :meth:`ClockSync.start`) feeds them to a
  :class:`engine.clock_follow.ClockFollower`, publishes the fitted line (one tuple, swapped whole), carries
  out Start/Stop/Continue on the transport, and when the tempo has moved by more than
  ``retime_threshold_bpm`` has the engine play on at the new tempo (:mod:`engine.retime`);
* before each block the audio side reads the line (:meth:`ClockSync.before_block`): the clock's beat at the
  block's start against the transport's, and nudges the position by a share (``gain``) of the difference
  (the sequencers play through such small jumps without dropping or repeating a note), or locates when
  the two are far apart (after a Start or a Song Position Pointer).

The tempo is therefore the clock's within the retime threshold, and the beat follows the clock's line to a
sample or two for as long as the clock runs; a constant offset (``offset_ms``) shifts the engine ahead of
the clock (positive) or behind it, to make up for a path's latency.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from engine.clock_follow import ClockFollower
from engine.midi_out import PPQN
from engine.queues import SPSCQueue
from engine.retime import constant_tempo, retime
from engine.sequencer import NUDGE_MAX

if TYPE_CHECKING:
    from engine.session import BuildResult, Session

__all__ = ["ClockSync", "TransportFollower"]

# pulses in the fit: two bars of 4/4. Over JACK a pulse's arrival is known only to its period (rtmidi
# stamps a period's events together), and the line's phase error falls with the root of the pulses in it
WINDOW = 192


class TransportFollower:
    """What following an outside tempo source takes on the engine's side: a line that says which beat the
    source is on at any moment (published whole by a control thread), a phase correction before each block
    and retiming when the source's tempo moves. :class:`ClockSync` (MIDI clock) and
    :class:`engine.link_sync.LinkSync` (Ableton Link) fill in the line."""

    def __init__(
        self,
        session: Session,
        built: BuildResult,
        retime_threshold_bpm: float = 0.02,
        offset_ms: float = 0.0,
        locate_beyond_ms: float = 50.0,
        gain: float = 0.05,
    ) -> None:
        self.session = session
        self.built = built
        self.engine = built.engine
        self.sample_rate = self.engine.sample_rate
        self.retime_threshold_bpm = float(retime_threshold_bpm)
        self.offset_s = float(offset_ms) / 1000.0
        self.locate_beyond = int(locate_beyond_ms * 1e-3 * self.sample_rate)
        self.gain = float(gain)
        # the source's beat as the audio side reads it: (a time on time.monotonic, the beat then, beats per
        # second, quantum). With a quantum of 0 the beat is the song's; with a quantum q only the phase
        # within q beats counts (Link): the engine keeps its own bar and aligns to the source's beat in it
        self.line: tuple[float, float, float, float] | None = None
        self.tempo_bpm: float | None = None  # the tempo the engine plays at, once the source set it
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # statistics (audio side writes, control side reads)
        self.nudges = 0
        self.nudged_samples = 0
        self.locates = 0
        self.last_error_samples = 0.0
        self.retimes = 0

    # -- audio side -------------------------------------------------------------------------------------
    def on_message(self, status: int, data1: int, data2: int, arrival: float) -> None:
        """A MIDI clock message from an input: only a MIDI clock follower takes them."""

    def before_block(self, block_time: float) -> None:
        """Before the engine's block that starts at ``block_time`` (``time.monotonic``): bring the transport
        to the source's beat."""
        line = self.line
        if line is None:
            return
        tr = self.engine.transport
        if not tr.playing:
            return
        t_ref, beat_ref, bps, quantum = line
        dt = block_time + self.offset_s - t_ref
        if quantum == 0.0 and dt < 0.0:
            return  # the source starts later (Start came, its first pulse not yet)
        beat = beat_ref + dt * bps
        sr = self.sample_rate
        tm = tr.tempo_map
        if quantum > 0.0:
            own = tm.sample_to_beat(tr.position, sr)
            d = beat - own
            d -= quantum * math.floor(d / quantum + 0.5)
            beat = own + d
        target = tm.beat_to_sample(beat if beat > 0.0 else 0.0, sr)
        err = target - tr.position
        self.last_error_samples = err
        if err > self.locate_beyond or err < -self.locate_beyond:
            tr.locate_now(math.floor(target + 0.5))
            self.locates += 1
        elif err >= 1.5 or err <= -1.5:
            # a share of the error each block: the source's jitter averages out instead of being played
            step = int(err * self.gain)
            if step == 0:
                step = 1 if err > 0 else -1
            half = NUDGE_MAX // 2
            step = half if step > half else (-half if step < -half else step)
            tr.nudge(step)
            self.nudges += 1
            self.nudged_samples += abs(step)

    # -- control side -----------------------------------------------------------------------------------
    def start(self, interval: float = 0.005) -> None:
        """Run :meth:`service` on a thread every ``interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.service()
                except Exception:  # a bad message must not end following; the next ones still count
                    pass

        self._thread = threading.Thread(target=loop, name="strum-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._thread = None

    def service(self) -> None:
        raise NotImplementedError

    def follow_tempo(self, bpm: float | None) -> None:
        """Play on at ``bpm`` if it moved by more than the threshold since the last retime."""
        if bpm is None or not 1.0 <= bpm <= 999.0:
            return
        if self.tempo_bpm is not None and abs(bpm - self.tempo_bpm) < self.retime_threshold_bpm:
            return
        tm = constant_tempo(self.session.tempo_map, bpm)
        retime(self.session, self.built, tm)
        self.tempo_bpm = bpm
        self.retimes += 1


class ClockSync(TransportFollower):
    """Follows an external MIDI clock with the engine of a built session (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        built: BuildResult,
        retime_threshold_bpm: float = 0.02,
        offset_ms: float = 0.0,
        locate_beyond_ms: float = 50.0,
        gain: float = 0.05,
        follower: ClockFollower | None = None,
    ) -> None:
        super().__init__(session, built, retime_threshold_bpm, offset_ms, locate_beyond_ms, gain)
        self.follower = follower or ClockFollower(window=WINDOW)
        self._inbox: SPSCQueue[tuple[int, int, int, float]] = SPSCQueue(4096)
        self.stopped_beat = 0.0
        self.messages = 0

    def on_message(self, status: int, data1: int, data2: int, arrival: float) -> None:
        """Audio side: a clock message from an input (its arrival time on ``time.monotonic``)."""
        self._inbox.try_push((status, data1, data2, arrival))

    def service(self) -> None:
        """Feed what arrived to the follower, act on Start/Stop/Continue, publish the line, retime."""
        f = self.follower
        tr = self.engine.transport
        fed = False
        while True:
            m = self._inbox.try_pop()
            if m is None:
                break
            self.messages += 1
            fed = True
            st, d1, d2, t = m
            what = f.feed((st, d1, d2), t)
            if what == "start" or what == "continue":
                pos = f.beat_at(t) if what == "continue" else 0.0
                tr.locate_beats(0.0 if pos is None else pos)
                tr.play()
                self._publish()
            elif what == "stop":
                tr.stop()
                self._publish()
                beat = f.beat_at(t)
                self.stopped_beat = 0.0 if beat is None else beat
            elif what == "position" and not f.running:
                beat = f.beat_at(t)
                if beat is not None:
                    tr.locate_beats(beat)
        if fed:
            self._publish()
            self._follow_tempo()

    def _publish(self) -> None:
        fit = self.follower.line()
        if fit is None or not fit[0]:
            self.line = None
            return
        _, slope, icept, anchor_count, anchor_pos = fit
        self.line = (icept + slope * anchor_count, anchor_pos / PPQN, 1.0 / (PPQN * slope), 0.0)

    def _follow_tempo(self) -> None:
        self.follow_tempo(self.follower.tempo_bpm())
