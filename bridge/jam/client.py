"""A jam-room client (asyncio, the ``websockets`` package): joins, keeps the room's state in a
:class:`bridge.jam.room.ClientRoom`, keeps the server's clock (pings, :class:`bridge.jam.room.ClockEstimate`),
and comes back by itself after a lost connection, resuming from its last op (nothing lost, nothing applied
twice, unacked ops resent under their ids).

Notes are stamped on the room's timeline: :meth:`JamClient.note_now` puts a note at the beat the timeline
reaches one latency budget from now (so every member has it before it is due); in interval mode the
receiving side adds the interval (see :mod:`bridge.jam.player`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from bridge.jam.protocol import ProtocolError, decode, encode
from bridge.jam.room import ClientRoom, ClockEstimate

__all__ = ["JamClient", "JoinError"]


class JoinError(Exception):
    """The server refused the join (a bad token, another version); ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class JamClient:
    def __init__(
        self,
        url: str,
        room: str,
        name: str,
        token: str,
        client_id: str | None = None,
        on_entries: Callable[[list[dict[str, Any]]], None] | None = None,
        ping_interval: float = 1.0,
        reconnect: bool = True,
        clock: Callable[[], float] = time.monotonic,
        ssl: Any = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.ssl = ssl  # an ssl.SSLContext for wss:// (default: the system's trust store)
        self.room_name = room
        self.token = token
        self.room = ClientRoom(client_id or f"c{uuid.uuid4().hex[:12]}", name)
        self.clock_estimate = ClockEstimate()
        self.on_entries = on_entries
        self.ping_interval = ping_interval
        self.reconnect = reconnect
        self.clock = clock
        self.entries: list[dict[str, Any]] = []  # every entry applied, in order
        self.errors: list[dict[str, Any]] = []
        self.connects = 0
        self._ws: Any = None
        self._task: asyncio.Task | None = None
        self._joined = asyncio.Event()
        self._closing = False
        self._fatal: JoinError | None = None

    # -- life -------------------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> None:
        """Connect and join (raises JoinError if refused), then keep the connection."""
        self._task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self._joined.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._fatal is not None:
            raise self._fatal
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError(f"could not join {self.url}/{self.room_name} within {timeout:g} s")
        # a few quick pings, so the clock is known before the first note
        for _ in range(6):
            await self.ping()
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(encode({"type": "bye"}))
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def drop_connection(self) -> None:
        """Cut the connection as a network failure would (the client reconnects and resumes)."""
        ws = self._ws
        if ws is not None:
            self._joined.clear()
            ws.transport.abort()

    async def wait_joined(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._joined.wait(), timeout)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        backoff = 0.05
        while not self._closing:
            try:
                extra = {"ssl": self.ssl} if self.ssl is not None else {}
                target = f"{self.url}/{self.room_name}"
                async with connect(target, max_size=2**24, compression=None, **extra) as ws:
                    self._ws = ws
                    self.connects += 1
                    await ws.send(encode(self.room.hello(self.room_name, self.token)))
                    pinger = asyncio.create_task(self._pings())
                    try:
                        async for raw in ws:
                            t3 = self.clock()  # before decoding: a pong's arrival, as near the wire as here
                            self._receive(decode(raw), t3)
                            if self._fatal is not None:
                                return
                            if self._joined.is_set():
                                backoff = 0.05
                    finally:
                        pinger.cancel()
            except JoinError:
                return
            except (OSError, ProtocolError, Exception):
                pass
            self._ws = None
            self._joined.clear()
            if not self.reconnect or self._closing or self._fatal is not None:
                return
            await asyncio.sleep(backoff)
            backoff = min(2.0, backoff * 2)

    def _receive(self, msg: dict[str, Any], t3: float) -> None:
        t = msg["type"]
        if t == "error":
            self.errors.append(msg)
            if msg.get("code") in ("bad_token", "version", "forbidden") and not self._joined.is_set():
                self._fatal = JoinError(msg["code"], msg.get("message", ""))
            return
        if t == "pong":
            self.clock_estimate.pong(msg["t0"], msg["t1"], msg["t2"], t3)
            return
        applied = self.room.receive(msg)
        if t == "welcome":
            self._joined.set()
            for m in self.room.resend():  # what the server had not acked before the connection went
                asyncio.get_running_loop().create_task(self._send_raw(m))
        if applied:
            self.entries.extend(applied)
            if self.on_entries is not None:
                self.on_entries(applied)

    async def _pings(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            await self.ping()

    async def ping(self) -> None:
        msg: dict[str, Any] = {"type": "ping", "t0": self.clock()}
        rtt = self.clock_estimate.rtt
        if rtt is not None:
            msg["rtt_ms"] = max(0.0, rtt * 1000.0)
        await self._send_raw(msg)

    async def _send_raw(self, msg: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return  # kept in unacked (ops) or dropped (pings): the reconnect resends ops
        with contextlib.suppress(Exception):
            await ws.send(encode(msg))

    # -- ops --------------------------------------------------------------------------------------------
    async def send(self, op: dict[str, Any]) -> str:
        """Send an op (checked first: ProtocolError if bad); returns its id. It is resent after a reconnect
        until acked."""
        msg = self.room.op(op)
        await self._send_raw(msg)
        return msg["id"]

    def server_now(self) -> float:
        return self.clock_estimate.server_time(self.clock())

    def beat_now(self) -> float:
        return self.room.timeline.beat_at(self.server_now())

    async def note_now(
        self, track: str, pitch: int, velocity: int = 100, length: float = 0.25
    ) -> dict[str, Any]:
        """Play a note now: stamped at the beat the timeline reaches one latency budget ahead."""
        tl = self.room.timeline
        t = self.server_now() + self.room.state["budget_ms"] / 1000.0
        op = {"kind": "note", "track": track, "beat": round(tl.beat_at(t), 6), "pitch": pitch,
              "velocity": velocity, "length": length}  # fmt: skip
        await self.send(op)
        return op

    async def wait_seq(self, seq: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.room.seq < seq:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.room.name}: at op {self.room.seq}, waited for {seq}")
            await asyncio.sleep(0.005)

    async def wait_acked(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.room.unacked:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.room.unacked)} ops not acked")
            await asyncio.sleep(0.005)
