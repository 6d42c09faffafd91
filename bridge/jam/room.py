"""The jam room without I/O: the server's room (members, roles, the ordered op log, the room's state and its
shared timeline) and the client's side (applying ops once each, in order; resending what was not acked;
estimating the server's clock). Both are plain state machines: the server and client modules feed them
messages and send what they return, and the tests drive them directly.
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from bridge.jam.protocol import PROTOCOL_VERSION, ProtocolError, check_op

__all__ = ["ClientRoom", "ClockEstimate", "Member", "Room", "Timeline", "empty_state"]

ROLES = ("host", "player", "listener")
MAY = {
    "host": {"note", "note_on", "note_off", "param", "transport", "clip", "instrument", "chat", "room"},
    "player": {"note", "note_on", "note_off", "param", "clip", "instrument", "chat"},
    "listener": {"chat"},
}
CHAT_KEPT = 50
OPIDS_KEPT = 4096  # per client: op ids remembered for spotting a resend
STEP_BEYOND = 0.128  # seconds: a clock estimate this far from the offset in use steps to it


@dataclass
class Timeline:
    """The room's shared timeline: the beat ``beat_origin`` falls at server time ``time_origin`` (seconds)
    and beats advance at ``bpm`` while ``playing``; stopped, the song stands at ``beat_origin``."""

    bpm: float = 120.0
    beat_origin: float = 0.0
    time_origin: float = 0.0
    playing: bool = False
    beats_per_bar: int = 4

    def beat_at(self, t: float) -> float:
        if not self.playing:
            return self.beat_origin
        return self.beat_origin + (t - self.time_origin) * self.bpm / 60.0

    def time_at(self, beat: float) -> float:
        return self.time_origin + (beat - self.beat_origin) * 60.0 / self.bpm

    def next_bar(self, beat: float) -> float:
        return math.ceil(beat / self.beats_per_bar - 1e-9) * self.beats_per_bar

    def to_dict(self) -> dict[str, Any]:
        return {"bpm": self.bpm, "beat_origin": self.beat_origin, "time_origin": self.time_origin,
                "playing": self.playing, "beats_per_bar": self.beats_per_bar}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timeline:
        return cls(float(d["bpm"]), float(d["beat_origin"]), float(d["time_origin"]), bool(d["playing"]),
                   int(d.get("beats_per_bar", 4)))  # fmt: skip


def empty_state(bpm: float = 120.0) -> dict[str, Any]:
    return {
        "timeline": Timeline(bpm=bpm).to_dict(),
        "params": {},
        "clips": {},
        "instruments": {},
        "chat": [],
        "mode": {"mode": "live", "interval_bars": 0},
        "budget_ms": 50.0,
    }


def apply_op(state: dict[str, Any], entry: dict[str, Any], launch_lead: float = 0.25) -> None:
    """Apply one logged op to a room state (the server and every client do the same, so they agree)."""
    op = entry["op"]
    kind = op["kind"]
    t = entry["t"]
    if kind == "param":
        state["params"][op["path"]] = op["value"]
    elif kind == "clip":
        state["clips"][f"{op['track']}/{op['clip']}"] = op["notes"]
    elif kind == "instrument":
        state["instruments"][op["track"]] = op["preset"]
    elif kind == "chat":
        state["chat"] = ([*state["chat"], {"from": entry["from"], "text": op["text"], "t": t}])[-CHAT_KEPT:]
    elif kind == "room":
        state["mode"] = {"mode": op["mode"], "interval_bars": op.get("interval_bars", 0)}
    elif kind == "transport":
        tl = Timeline.from_dict(state["timeline"])
        action = op["action"]
        if action == "play" and not tl.playing:
            # launched at the next bar line, far enough ahead for every member to hear the start
            tl.beat_origin = tl.next_bar(tl.beat_origin)
            tl.time_origin = t + launch_lead
            tl.playing = True
        elif action == "stop" and tl.playing:
            tl.beat_origin = tl.beat_at(t)
            tl.playing = False
        elif action == "tempo":
            if tl.playing:
                bar = tl.next_bar(tl.beat_at(t))  # a tempo change lands on the next bar line
                tl.time_origin = tl.time_at(bar)
                tl.beat_origin = bar
            tl.bpm = float(op["bpm"])
        state["timeline"] = tl.to_dict()


@dataclass
class Member:
    id: str
    name: str
    role: str
    client: str
    rtt_ms: float = 0.0


class Room:
    """A room on the server: members, the state after ``seq`` ops, and the log of the ops after
    ``base_seq`` (the older ones are folded into the state: a client behind ``base_seq`` gets a snapshot)."""

    def __init__(self, name: str, state: dict[str, Any] | None = None, seq: int = 0,
                 log: list[dict[str, Any]] | None = None, base_seq: int | None = None) -> None:  # fmt: skip
        self.name = name
        self.state = state if state is not None else empty_state()
        self.seq = seq
        self.log: deque[dict[str, Any]] = deque(log or [])
        self.base_seq = base_seq if base_seq is not None else (self.log[0]["seq"] - 1 if self.log else seq)
        self.members: dict[str, Member] = {}
        self._opids: dict[str, OrderedDict[str, int]] = {}
        for e in self.log:
            self._remember(e["client"], e["id"], e["seq"])
        self._ids = itertools.count(1)
        self.fresh: list[dict[str, Any]] = []  # logged since the last fan-out

    def _remember(self, client: str, opid: str, seq: int) -> None:
        seen = self._opids.setdefault(client, OrderedDict())
        seen[opid] = seq
        if len(seen) > OPIDS_KEPT:
            seen.popitem(last=False)

    # -- members ----------------------------------------------------------------------------------------
    def join(
        self, client: str, name: str, role: str, last_seq: int | None, now: float
    ) -> tuple[Member, dict]:
        """A member joins (or comes back); returns it and the ``welcome`` to send."""
        if role not in ROLES:
            raise ProtocolError("forbidden", f"unknown role {role!r}")
        for m in list(self.members.values()):
            if m.client == client:  # the same client again: its old connection is gone
                del self.members[m.id]
        member = Member(f"m{next(self._ids)}", name, role, client)
        self.members[member.id] = member
        welcome: dict[str, Any] = {
            "type": "welcome",
            "v": PROTOCOL_VERSION,
            "room": self.name,
            "you": {"id": member.id, "name": name, "role": role},
            "seq": self.seq,
            "server_time": now,
        }
        if last_seq is not None and self.base_seq <= last_seq <= self.seq:
            welcome["snapshot"] = None  # resume: only what the client missed
            welcome["ops"] = [e for e in self.log if e["seq"] > last_seq]
        else:
            welcome["snapshot"] = copy.deepcopy(self.state)
            welcome["ops"] = []
        return member, welcome

    def leave(self, member_id: str) -> None:
        self.members.pop(member_id, None)

    def presence(self) -> dict[str, Any]:
        return {"type": "presence", "members": [{"id": m.id, "name": m.name, "role": m.role}
                                                for m in self.members.values()],
                "budget_ms": self.state["budget_ms"]}  # fmt: skip

    def measured(self, member_id: str, rtt_ms: float) -> None:
        """A member's round trip; the room's latency budget covers the slowest member's, plus a margin."""
        m = self.members.get(member_id)
        if m is None or not 0 <= rtt_ms < 10000:
            return
        m.rtt_ms = rtt_ms
        worst = max((x.rtt_ms for x in self.members.values()), default=0.0)
        self.state["budget_ms"] = round(min(1000.0, max(20.0, worst + 15.0)), 1)

    # -- ops --------------------------------------------------------------------------------------------
    def submit(self, member_id: str, opid: str, op: dict[str, Any], now: float) -> tuple[dict | None, dict]:
        """A member's op: logged and applied (returns the entry and the ack), or, when this client sent it
        before, only acked again (entry None). ProtocolError if the op is bad or the role may not."""
        m = self.members[member_id]
        seen = self._opids.get(m.client)
        if seen is not None and opid in seen:
            return None, {"type": "ack", "id": opid, "seq": seen[opid]}
        check_op(op)
        if op["kind"] not in MAY[m.role]:
            raise ProtocolError("forbidden", f"a {m.role} may not send {op['kind']} ops")
        self.seq += 1
        entry = {"seq": self.seq, "from": m.name, "client": m.client, "id": opid, "t": now, "op": op}
        apply_op(self.state, entry)
        self.log.append(entry)
        self._remember(m.client, opid, self.seq)
        self.fresh.append(entry)
        return entry, {"type": "ack", "id": opid, "seq": self.seq}

    def take_fresh(self) -> list[dict[str, Any]]:
        out, self.fresh = self.fresh, []
        return out

    def compact(self, keep: int) -> int:
        """Fold all but the last ``keep`` ops into the state (they are in it already); returns how many."""
        n = 0
        while len(self.log) > keep:
            self.log.popleft()
            n += 1
        self.base_seq = self.log[0]["seq"] - 1 if self.log else self.seq
        return n


class ClockEstimate:
    """The server's clock as a client sees it, NTP-style: from each ping's four times an offset and a round
    trip; the offset is the median of the samples with the shortest round trips among the recent ones, and
    the offset in use moves to it by at most ``slew`` seconds per second. It steps only while settling (until
    ``keep`` samples are in) or for a jump beyond ``STEP_BEYOND`` (128 ms, as NTP does)."""

    def __init__(self, keep: int = 32, best: int = 8, slew: float = 0.0005) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=keep)  # (rtt, offset)
        self.best = best
        self.slew = slew
        self.offset: float | None = None  # server minus local, as applied
        self.target: float | None = None
        self._last_update: float | None = None
        self.rtt: float | None = None

    def pong(self, t0: float, t1: float, t2: float, t3: float) -> None:
        rtt = (t3 - t0) - (t2 - t1)
        off = ((t1 - t0) + (t2 - t3)) / 2.0
        self.samples.append((rtt, off))
        good = sorted(self.samples)[: self.best]
        self.target = statistics.median(o for _, o in good)
        self.rtt = statistics.median(r for r, _ in good)
        if (
            self.offset is None
            or len(self.samples) < (self.samples.maxlen or 0)
            or abs(self.target - self.offset) > STEP_BEYOND
        ):
            # settling (until the window is full: the first samples may have been taken while a crowd
            # joined), or a jump no slew would catch up with: step; afterwards the offset only slews
            self.offset = self.target
            self._last_update = t3

    def server_time(self, local: float) -> float:
        """The server's time at local time ``local`` (call with a steady, increasing local clock)."""
        if self.offset is None or self.target is None:
            raise RuntimeError("no clock estimate yet: exchange pings first")
        last = self._last_update if self._last_update is not None else local
        step = max(0.0, local - last) * self.slew
        diff = self.target - self.offset
        self.offset += max(-step, min(step, diff))
        self._last_update = local
        return local + self.offset


@dataclass
class ClientRoom:
    """A client's copy of the room: the state, the ops applied (each once, in order) and the ops sent but not
    yet acked (resent after a reconnect under the same ids)."""

    client: str
    name: str
    state: dict[str, Any] = field(default_factory=empty_state)
    seq: int = 0
    joined: bool = False
    me: dict[str, Any] = field(default_factory=dict)
    unacked: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    members: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def hello(self, room: str, token: str) -> dict[str, Any]:
        return {"type": "hello", "v": PROTOCOL_VERSION, "room": room, "name": self.name, "token": token,
                "client": self.client, "last_seq": self.seq if self.joined else None}  # fmt: skip

    def op(self, op: dict[str, Any]) -> dict[str, Any]:
        """A message that sends ``op`` (checked here first); kept until acked."""
        check_op(op)
        opid = f"{self.client}-{next(self._ids)}"
        msg = {"type": "op", "id": opid, "op": op}
        self.unacked[opid] = msg
        return msg

    def resend(self) -> list[dict[str, Any]]:
        return list(self.unacked.values())

    def receive(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """Take a server message; returns the log entries newly applied (in order)."""
        t = msg.get("type")
        if t == "welcome":
            self.joined = True
            self.me = msg["you"]
            if msg.get("snapshot") is not None:
                self.state = msg["snapshot"]
                self.seq = msg["seq"]
            return self._apply(msg.get("ops", []))
        if t == "ops":
            return self._apply(msg["ops"])
        if t == "ack":
            self.unacked.pop(msg["id"], None)
        elif t == "presence":
            self.members = msg["members"]
            self.state["budget_ms"] = msg.get("budget_ms", self.state["budget_ms"])
        return []

    def _apply(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = self.state
        params = state["params"]
        seq = self.seq
        first = 0
        for e in entries:  # what was had already is skipped: never applied twice
            if e["seq"] > seq:
                break
            first += 1
        for e in entries[first:]:
            n = e["seq"]
            if n != seq + 1:
                self.seq = seq
                raise ProtocolError("bad_message", f"op {n} arrived after {seq}: a gap in the log")
            op = e["op"]
            if op["kind"] == "param":  # the busiest kind, inline
                params[op["path"]] = op["value"]
            else:
                apply_op(state, e)
            seq = n
        self.seq = seq
        return entries[first:] if first else entries

    @property
    def timeline(self) -> Timeline:
        return Timeline.from_dict(self.state["timeline"])
