"""Playing in time with an Ableton Link session (through the ``LinkPython-extern`` binding, module ``link``).

Link peers on a network share a tempo and a beat grid; each peer keeps its own song position and lines up
its beat within a *quantum* (a bar of 4 beats by default) with everyone's. :class:`LinkSync` joins the
session, and on a control thread every few milliseconds reads Link's tempo and the beat at this moment,
publishing them as the line :class:`engine.clock_sync.TransportFollower` corrects the transport with before
each block: the engine plays at the session's tempo (retimed when it moves), and its beat within the
quantum follows the session's (nudged a few samples at a time; a start is snapped onto the grid). With
``start_stop`` the engine also starts and stops with the session's peers.

Link's clock is not ``time.monotonic``: the offset between the two is measured on every read (the smallest
seen in a short window, since a read may be delayed between the two clocks) so the beat lands on the
engine's block clock. The engine sends tempo changes to the session too: ``set_tempo``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from engine.clock_sync import TransportFollower

if TYPE_CHECKING:
    from engine.session import BuildResult, Session

__all__ = ["LinkSync"]


def _link() -> Any:
    try:
        import link
    except ImportError as exc:  # pragma: no cover - installed with the project
        need = "Ableton Link needs the LinkPython-extern package (pip install LinkPython-extern)"
        raise RuntimeError(f"{need}: {exc}") from None
    return link


class LinkSync(TransportFollower):
    """Follows an Ableton Link session with the engine of a built session (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        built: BuildResult,
        quantum: float = 4.0,
        start_stop: bool = True,
        retime_threshold_bpm: float = 0.005,
        offset_ms: float = 0.0,
        gain: float = 0.1,
    ) -> None:
        super().__init__(session, built, retime_threshold_bpm, offset_ms, gain=gain)
        if not quantum > 0:
            raise ValueError(f"the Link quantum must be a positive number of beats, got {quantum}")
        link = _link()
        tm = built.engine.transport.tempo_map
        self.quantum = float(quantum)
        self.link = link.Link(float(tm.tempo_at_beat(0.0)))
        self.link.startStopSyncEnabled = bool(start_stop)
        self.start_stop = bool(start_stop)
        self._clock = self.link.clock()
        self._offsets: list[float] = []
        self._was_playing: bool | None = None
        self.peers = 0

    def enable(self) -> None:
        self.link.enabled = True

    def start(self, interval: float = 0.005) -> None:
        self.enable()
        super().start(interval)

    def stop(self) -> None:
        super().stop()
        self.link.enabled = False

    def _offset(self) -> float:
        # Link micros minus time.monotonic: read between two monotonic reads, the closest pair wins
        best = None
        for _ in range(3):
            a = time.monotonic()
            m = self._clock.micros() / 1e6
            b = time.monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, m - (a + b) / 2)
        assert best is not None
        self._offsets.append(best[1])
        if len(self._offsets) > 64:
            del self._offsets[0]
        return min(self._offsets)

    def service(self) -> None:
        offset = self._offset()
        state = self.link.captureAppSessionState()
        now_us = self._clock.micros()
        bpm = float(state.tempo())
        beat = float(state.beatAtTime(now_us, self.quantum))
        self.peers = int(self.link.numPeers())
        self.follow_tempo(bpm)
        self.line = (now_us / 1e6 - offset, beat, bpm / 60.0, self.quantum)
        if self.start_stop:
            playing = bool(state.isPlaying())
            if playing != self._was_playing and (self._was_playing is not None or playing):
                tr = self.engine.transport
                if playing:
                    tr.play()
                else:
                    tr.stop()
            self._was_playing = playing

    def set_tempo(self, bpm: float) -> None:
        """Propose a tempo to the whole session (every peer follows, this engine too)."""
        if not 20.0 <= bpm <= 999.0:
            raise ValueError(f"tempo must be in 20..999 bpm, got {bpm}")
        state = self.link.captureAppSessionState()
        state.setTempo(float(bpm), self._clock.micros())
        self.link.commitAppSessionState(state)
