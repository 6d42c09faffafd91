"""Following an external MIDI clock: tempo and beat position from 24 pulses per quarter note, with Start,
Stop, Continue and Song Position Pointer.

A clock's pulses arrive with jitter: each is late by whatever its transport added (with JACK, up to a period,
since a message sent between periods is delivered at the next one). :class:`ClockFollower` fits a straight
line through the arrival times of the last ``window`` pulses (time against pulse number, least squares), so
the tempo is the line's slope and the beat at any moment is read off the line: the jitter of single pulses
averages out (at 97 bpm a two-bar window of pulses quantised to 2.67 ms periods gives the tempo within a few
hundredths of a bpm, the phase within a fraction of a millisecond), and since the line is refitted on every
pulse there is no drift to accumulate.

Under load a transport may hold pulses up (a cycle that ran late) or lose them (a cycle it skipped drops
what it carried), and a pulse count that slips by one moves the song by a 24th of a beat for good. A pulse
far from the line (more than ``jump_fraction`` of a period) is therefore held, out of the fit, until two
pulses in a row sit on the line again at whole pulse numbers (within ``gap_tolerance``, and a period apart
within ``STEP_TOLERANCE``): their numbers say how many pulses came in between, so the held ones are counted
where they belong (``outliers``) and any missing are counted as lost (``missed``, up to ``max_lost`` at a
time). Pulses are only ever late, so lost ones show from the first held pulse on; a first held pulse short
of the gap is a new pace drifting off the line, and nothing is counted as lost. Once ``RESTART_AFTER``
pulses are held, a line of their own is tried on every pulse: at the old tempo and a whole number of
pulses on (within ``gap_tolerance``), they are the same clock after lost pulses, too jittery to pair up,
and they are counted on from there. Held pulses at another pace (``RESTART_AFTER`` of them, at least half
a period apart, their median step off the period by more than ``SAME_TEMPO``), or four times as many of
any kind (a receiver catching up after a stall delivers pulses in bunches; lost pulses under jitter keep
the pace), are the sender's new tempo or place (it changed tempo, or stopped and went on), and the fit
starts again from them: a tempo change is followed within a few pulses, one within ``SAME_TEMPO`` within
a beat.

Pulses count for the tempo whether the transport runs or not (a clock may tick while stopped, so followers
know the tempo before Start); the position advances only while running. Song Position Pointer (in
sixteenths) sets where Continue resumes; Start resumes from the top.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from engine.midi_out import CLOCK, CONTINUE, PPQN, SONG_POSITION, START, STOP

RESTART_AFTER = 6  # pulses off the line, unresolved, that restart the fit
STEP_TOLERANCE = 0.2  # two held pulses that pair up come one period apart, give or take this much
# held pulses whose own line is within this fraction of the fit's slope may be the same tempo (six jittery
# pulses tell the slope only roughly; a tempo change shows in their offset, which starts near half a pulse)
SAME_TEMPO = 0.1

__all__ = ["CLOCK", "CONTINUE", "SONG_POSITION", "START", "STOP", "ClockFollower"]


class ClockFollower:
    """Tempo and position of an external MIDI clock, from the messages and their arrival times (seconds on
    any steady clock, e.g. ``time.monotonic`` or a :class:`engine.midi_io.MidiInput`'s arrival times)."""

    def __init__(
        self,
        window: int = 96,
        min_pulses: int = 6,
        jump_fraction: float = 0.5,
        gap_tolerance: float = 0.3,
        max_lost: int = PPQN,
    ) -> None:
        if window < 4:
            raise ValueError(f"the fit window must hold at least 4 pulses, got {window}")
        self.window = window
        self.min_pulses = max(2, min(min_pulses, window))
        self.jump_fraction = jump_fraction
        self.gap_tolerance = gap_tolerance
        self.max_lost = max_lost
        self._k = np.zeros(window, dtype=np.float64)  # pulse numbers (a running count) in a ring
        self._t = np.zeros(window, dtype=np.float64)
        self._w = 0  # pulses written to the ring
        self._n = 0  # pulses in the fit
        self._count = 0  # pulses seen since the fit began
        self._slope = 0.0  # seconds per pulse
        self._icept = 0.0  # time of pulse 0 of the running count
        self.running = False
        # while running, the pulse numbered _anchor_count (of the running count) sits at _anchor_pos pulses
        # from the song's start; while stopped, the song stands at _stopped_pos
        self._anchor_count = 0
        self._anchor_pos = 0
        self._stopped_pos = 0
        self.restarts = 0
        self.missed = 0  # pulses counted as lost on the way
        self.outliers = 0  # pulses counted but kept out of the fit (held up on their way)
        self._pending: list[tuple[float, float]] = []  # pulses off the line: (time, pulses off)

    # -- input ------------------------------------------------------------------------------------------
    def feed(self, message: list[int] | tuple[int, ...], t: float) -> str | None:
        """Take one message; returns what happened (``"start"``, ``"stop"``, ``"continue"``,
        ``"position"``), or None for a pulse or a message that is not a clock's."""
        if not message:
            return None
        st = message[0]
        if st == CLOCK:
            self._pulse(t)
            return None
        if st in (START, CONTINUE):
            self.running = True
            self._anchor_count = self._count  # the next pulse is the downbeat of where we start
            self._anchor_pos = 0 if st == START else self._stopped_pos
            return "start" if st == START else "continue"
        if st == STOP:
            if self.running:
                self._stopped_pos = self._anchor_pos + (self._count - self._anchor_count)
            self.running = False
            return "stop"
        if st == SONG_POSITION and len(message) >= 3:
            sixteenths = (message[1] & 0x7F) | ((message[2] & 0x7F) << 7)
            self._stopped_pos = sixteenths * 6
            return "position"
        return None

    def _pulse(self, t: float) -> None:
        if self._n < self.min_pulses or self._slope <= 0:
            self._add(t)
            return
        d = (t - self._icept) / self._slope - self._count  # pulses after the next expected one
        if not self._pending and abs(d) <= self.jump_fraction:
            self._add(t)
            return
        # off the line: held until two pulses in a row sit on it again at whole pulse numbers, which says
        # how many came between (some held up on their way, some lost); too many without that is the
        # sender's new tempo or place, and the fit starts again from them
        self._pending.append((t, d))
        if len(self._pending) >= 2 and self._resolve():
            return
        n = len(self._pending)
        if n >= RESTART_AFTER and self._rejoin():
            return
        if n >= 4 * RESTART_AFTER or (n >= RESTART_AFTER and self._pending_even() and not self._same_pace()):
            self._refit_from_pending()

    def _pending_even(self) -> bool:
        """The held pulses come a period or more apart, as a sender's pulses do at a new tempo; pulses
        delivered in a bunch (a receiver catching up after a stall) are not a tempo, so the fit waits."""
        t = [p[0] for p in self._pending]
        return all(b - a >= self.jump_fraction * self._slope for a, b in itertools.pairwise(t))

    def _resolve(self) -> bool:
        (t0, d0), (t1, d1) = self._pending[-2], self._pending[-1]
        j0, j1 = round(d0), round(d1)
        before = len(self._pending) - 2  # pulses that came in between, off the line
        if (
            j1 != j0 + 1
            or abs(d1 - d0 - 1.0) > STEP_TOLERANCE  # a pulse's step at the line's pace, not a new one
            or abs(d0 - j0) > self.gap_tolerance
            or abs(d1 - j1) > self.gap_tolerance
            or not before <= j0 <= before + self.max_lost
            or not self._gap_from_the_first(j0 - before)
        ):
            return False
        self.missed += j0 - before
        self.outliers += before
        self._pending = []
        self._count += j0
        self._add(t0)
        self._add(t1)
        return True

    def _same_pace(self) -> bool:
        """The held pulses keep the fit's pace (the median of their pairwise steps, which late pulses do
        not sway, is a period within ``SAME_TEMPO``): lost pulses under heavy jitter, worth waiting on."""
        d = [p[1] for p in self._pending]
        n = len(d)
        steps = [(d[b] - d[a]) / (b - a) for a in range(n) for b in range(a + 1, n)]
        return abs(float(np.median(steps)) - 1.0) <= SAME_TEMPO

    def _rejoin(self) -> bool:
        """The held pulses, fitted on their own, run at the fit's tempo a whole number of pulses on (lost
        ones): count those and take the held pulses into the fit where they belong."""
        d = np.array([p[1] for p in self._pending])
        i = np.arange(len(d), dtype=np.float64)
        im = i.mean()
        slope = float((i - im) @ (d - d.mean())) / float((i - im) @ (i - im))  # of the old line, per pulse
        offset = float((d - i).mean())  # at the old tempo: pulses lost before the first held one
        lost = round(offset)
        if abs(slope - 1.0) > SAME_TEMPO or abs(offset - lost) > self.gap_tolerance:
            return False
        if not 0 <= lost <= self.max_lost or not self._gap_from_the_first(lost):
            return False
        self.missed += lost
        self._count += lost
        pending, self._pending = self._pending, []
        for t, _ in pending:
            self._add(t)
        return True

    def _gap_from_the_first(self, lost: int) -> bool:
        """Pulses lost before the first held one put it ``lost`` pulses on (a pulse comes late, never
        early); a first held pulse short of that is a pace drifting off the line, not a gap."""
        return lost == 0 or self._pending[0][1] >= lost - self.gap_tolerance

    def _add(self, t: float) -> None:
        i = self._w % self.window
        self._k[i] = self._count
        self._t[i] = t
        self._w += 1
        self._count += 1
        self._n = min(self._n + 1, self.window)
        self._fit()

    def _refit_from_pending(self) -> None:
        self._k[:] = 0.0
        self._t[:] = 0.0
        self._n = 0
        self.restarts += 1
        pending, self._pending = self._pending, []
        for t, _ in pending:
            i = self._w % self.window
            self._k[i] = self._count
            self._t[i] = t
            self._w += 1
            self._count += 1
            self._n += 1
        self._fit()

    def _fit(self) -> None:
        n = self._n
        if n < 2:
            return
        idx = [(self._w - 1 - j) % self.window for j in range(n)]
        k = self._k[idx]
        t = self._t[idx]
        km = k.mean()
        tm = t.mean()
        dk = k - km
        var = float(dk @ dk)
        if var <= 0:
            return
        slope = float(dk @ (t - tm)) / var
        if slope <= 0 or not math.isfinite(slope):
            return
        self._slope = slope
        self._icept = tm - slope * km

    # -- output -----------------------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        """Enough pulses for a tempo."""
        return self._n >= self.min_pulses and self._slope > 0

    def tempo_bpm(self) -> float | None:
        if not self.locked:
            return None
        return 60.0 / (PPQN * self._slope)

    def beat_at(self, t: float) -> float | None:
        """The beat (quarter notes from the song's start) at time ``t``, read off the fitted line while
        running (None before a tempo is known); where the song stands while stopped."""
        if not self.running:
            return self._stopped_pos / PPQN
        if not self.locked:
            return None
        pulses_since = (t - self._icept) / self._slope - self._anchor_count
        return (self._anchor_pos + max(0.0, pulses_since)) / PPQN

    def line(self) -> tuple[bool, float, float, float, float] | None:
        """The fit as numbers (running, seconds per pulse, time of pulse 0 of the running count, the count
        and the song position in pulses that anchor the position), or None before a tempo is known."""
        if not self.locked:
            return None
        return (self.running, self._slope, self._icept, float(self._anchor_count), float(self._anchor_pos))
