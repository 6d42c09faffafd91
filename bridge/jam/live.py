"""Taking part in a jam room with a live engine: the room's timeline drives the engine's transport, the
others' notes play at their beats, and the notes played on the engine's MIDI inputs go to the room.

* **Transport.** :class:`RoomFollower` is a :class:`engine.clock_sync.TransportFollower` whose line is the
  room's timeline seen through the client's clock estimate: the engine plays at the room's tempo (retimed
  when it changes), starts and stops with the room, and its beat is nudged onto the room's beat.
* **The others' notes.** Each note op is posted to the engine's live MIDI queue for the moment its beat
  (plus the interval, in interval mode) falls on this machine's clock, on the channel of its track; the
  queue places it on its sample.
* **Your notes.** The notes the armed track's controller plays are heard at once here, and go to the room as
  ``note_on``/``note_off`` ops stamped one latency budget ahead on the timeline (so they reach everyone
  before they are due).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.jam.client import JamClient
from bridge.jam.player import shift_beats
from engine.clock_sync import TransportFollower
from engine.queues import SPSCQueue
from engine.session import BuildResult, Session

__all__ = ["JamLive", "RoomFollower", "arm_all"]

NOTE_ON, NOTE_OFF = 0x90, 0x80


class RoomFollower(TransportFollower):
    """The engine's transport on the room's timeline (see the module docstring)."""

    def __init__(self, session: Session, built: BuildResult, client: JamClient) -> None:
        super().__init__(session, built, retime_threshold_bpm=1e-6, gain=0.1)
        self.client = client
        self._was_playing: bool | None = None

    def service(self) -> None:
        est = self.client.clock_estimate
        if est.offset is None or not self.client.room.joined:
            return
        tl = self.client.room.timeline
        self.follow_tempo(tl.bpm)
        offset = est.server_time(self.client.clock()) - self.client.clock()
        # the timeline's origin on this machine's clock (time.monotonic, as the live engine's blocks)
        self.line = (tl.time_origin - offset, tl.beat_origin, tl.bpm / 60.0, 0.0) if tl.playing else None
        tr = self.engine.transport
        if tl.playing != self._was_playing:
            if tl.playing:
                tr.locate_beats(max(0.0, tl.beat_at(est.server_time(self.client.clock()))))
                tr.play()
            else:
                tr.stop()
                tr.locate_beats(tl.beat_origin)
            self._was_playing = tl.playing


class JamLive:
    """A live engine (:class:`engine.live.LiveEngine`, built with ``live_tracks`` arming every track of the
    session on its own channel) taking part in a room through ``client``. ``arm`` is the track the local
    controller plays."""

    def __init__(self, live_engine: Any, session: Session, built: BuildResult, channels: dict[str, int],
                 client: JamClient, arm: str) -> None:  # fmt: skip
        self.le = live_engine
        self.session = session
        self.built = built
        self.channels = channels
        self.client = client
        self.arm = arm
        self.follower = RoomFollower(session, built, client)
        self.tap: SPSCQueue[tuple[int, int, int, float]] = SPSCQueue(4096)
        self.sent = 0
        self.scheduled = 0
        self.skipped = 0

    def start(self) -> None:
        live = self.le.live
        live.clock_sync = self.follower
        live.tap = self.tap
        self.client.on_entries = self.on_entries
        self.follower.start()

    def stop(self) -> None:
        self.follower.stop()
        self.le.live.tap = None

    # -- the room to the engine -----------------------------------------------------------------------
    def local_time(self, beat: float) -> float:
        """When ``beat`` of the room's timeline falls on this machine's clock (time.monotonic)."""
        est = self.client.clock_estimate
        server_at = self.client.room.timeline.time_at(beat)
        offset = est.server_time(self.client.clock()) - self.client.clock()
        return server_at - offset

    def on_entries(self, entries: list[dict[str, Any]]) -> None:
        state = self.client.room.state
        me = self.client.room.client
        live = self.le.live
        for e in entries:
            op = e["op"]
            kind = op["kind"]
            if kind not in ("note", "note_on", "note_off") or e.get("client") == me:
                continue  # one's own notes were heard as they were played
            ch = self.channels.get(op["track"])
            if ch is None:
                self.skipped += 1
                continue
            beat = op["beat"] + shift_beats(state, e, self.client.room.name)
            at = self.local_time(beat)
            if kind == "note_off":
                live.post(NOTE_OFF | ch, op["pitch"], 64, at=at)
            else:
                live.post(NOTE_ON | ch, op["pitch"], op["velocity"], at=at)
                if kind == "note":
                    live.post(NOTE_OFF | ch, op["pitch"], 64, at=self.local_time(beat + op["length"]))
            self.scheduled += 1

    # -- the engine to the room -----------------------------------------------------------------------
    async def forward(self, interval: float = 0.002) -> None:
        """Send what the controller plays to the room (run as a task while taking part)."""
        client = self.client
        while True:
            got = self.tap.try_pop()
            if got is None:
                await asyncio.sleep(interval)
                continue
            st, d1, d2, arrival = got
            if client.clock_estimate.offset is None:
                continue
            server_at = client.clock_estimate.server_time(client.clock()) - (client.clock() - arrival)
            budget = client.room.state["budget_ms"] / 1000.0
            beat = round(max(0.0, client.room.timeline.beat_at(server_at + budget)), 6)
            if st & 0xF0 == NOTE_ON:
                op = {"kind": "note_on", "track": self.arm, "beat": beat, "pitch": d1, "velocity": max(1, d2)}
            else:
                op = {"kind": "note_off", "track": self.arm, "beat": beat, "pitch": d1}
            await client.send(op)
            self.sent += 1


def arm_all(session: Session, arm: str) -> dict[str, int]:
    """Every track of the session on a MIDI channel of its own, the one the controller plays (``arm``) on
    channel 1 (0 here), where controllers send by default; the room's notes reach each track on its own."""
    others = [t.name for t in session.tracks if t.name != arm]
    return {arm: 0, **{name: 1 + k % 15 for k, name in enumerate(others)}}
