"""The jam server: rooms over WebSocket (the ``websockets`` package, asyncio).

Per connection: the first message must be a ``hello`` with a token for the room (checked against the
server's secret); then ops, pings and a bye. Every message is size-limited (by the WebSocket layer: a frame
over :data:`bridge.jam.protocol.MAX_MESSAGE` closes the connection), parsed and checked; a bad one is
answered with an ``error`` and changes nothing, and a client that keeps sending bad ones (``max_errors``)
or exceeds its rate (``rate`` messages a second, ``burst`` at once) is dropped with the reason. Each
client has a capped outbound queue: a client too slow to take what the room sends is dropped ("too_slow")
rather than let the server's memory grow.

Fan-out is batched: every ``tick_s`` (25 ms) each room sends the ops logged since the last tick as one
``ops`` message to every member (encoded once). Acks and pongs go out at once. An op is written to the
store (SQLite) before it is acked, so a server killed at any moment loses no op it acknowledged; rooms
are compacted into snapshots when their log grows long.

``GET /metrics`` on the same port answers in Prometheus' text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from bridge.jam.protocol import MAX_MESSAGE, ProtocolError, check_client_message, decode, encode
from bridge.jam.room import Member, Room
from bridge.jam.store import RoomStore
from bridge.jam.tokens import check_token

__all__ = ["JamServer"]


@dataclass
class _Conn:
    ws: Any
    queue: asyncio.Queue
    room: Room | None = None
    member: Member | None = None
    tokens: float = 0.0
    last: float = 0.0
    errors: int = 0
    dropped: str | None = None
    writer: asyncio.Task | None = None
    closing: asyncio.Task | None = None
    held: list[str] | None = None


@dataclass
class Metrics:
    connections: int = 0
    connections_total: int = 0
    messages_in: int = 0
    ops_logged: int = 0
    ops_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    fanout_seconds: float = 0.0
    ticks: int = 0

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class JamServer:
    def __init__(
        self,
        secret: bytes,
        store: RoomStore | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tick_s: float = 0.025,
        rate: float = 200.0,
        burst: float = 400.0,
        queue_limit: int = 4096,
        max_errors: int = 20,
        compact_over: int = 5000,
        keep: int = 1000,
        ssl: ssl_module.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        redis_url: str | None = None,
        claim_ttl_s: float = 10.0,
        tune_gc: bool = False,
    ) -> None:
        self.secret = secret
        self.store = store
        self.host = host
        self.port = port
        self.tick_s = tick_s
        self.rate = rate
        self.burst = burst
        self.queue_limit = queue_limit
        self.max_errors = max_errors
        self.compact_over = compact_over
        self.keep = keep
        self.ssl = ssl
        self.clock = clock
        self.rooms: dict[str, Room] = {}
        self.conns: dict[int, _Conn] = {}
        self.metrics = Metrics()
        self._server: Any = None
        self._ticker: asyncio.Task | None = None
        self.redis_url = redis_url
        self.claim_ttl_s = claim_ttl_s
        self.tune_gc = tune_gc  # set where the server has its process to itself (strum jam serve)
        self._edge_owner: dict[str, str] = {}  # room -> the owner its edge members were relayed to
        self._watcher: asyncio.Task | None = None
        self.bus: Any = None  # a bridge.jam.cluster.RedisBus when rooms are shared with other servers
        self._remote_members: dict[tuple[str, str], tuple[str, str]] = {}  # (server, conn) -> (room, member)
        self._edge_conns: dict[str, dict[str, _Conn]] = {}  # room -> conn key -> conn, relayed to the owner
        self._by_key: dict[str, _Conn] = {}
        self._outbox: asyncio.Queue | None = None
        self._publisher: asyncio.Task | None = None

    # -- life -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        from websockets.asyncio.server import serve

        if self.tune_gc:
            import gc

            # a busy room makes many small objects; collections of the long-lived ones (the logs, the
            # rooms) paused the whole server for tens of milliseconds: move what exists now out of the
            # collector's way and collect the young generation less often (a process of its own only)
            gc.collect()
            gc.freeze()
            gc.set_threshold(20000, 20, 50)

        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=MAX_MESSAGE,
            max_queue=64,
            compression=None,
            ssl=self.ssl,
            process_request=self._http,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=1,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.redis_url is not None:
            from bridge.jam.cluster import RedisBus

            self.bus = RedisBus(self.redis_url, claim_ttl_s=self.claim_ttl_s)
            await self.bus.start()
            self._watcher = asyncio.create_task(self._watch_owners())
            await self.bus.subscribe(self.bus.server_channel(), self._edge_reply)
            self._outbox = asyncio.Queue()
            self._publisher = asyncio.create_task(self._publish_loop())
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._flush_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.bus is not None:
            if self._outbox is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outbox.join(), 2.0)
            if self._publisher is not None:
                self._publisher.cancel()
            if self._watcher is not None:
                self._watcher.cancel()
            await self.bus.stop()
        for room in self.rooms.values():
            if self.store is not None:
                self.store.snapshot(room)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- rooms ------------------------------------------------------------------------------------------
    def room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = (self.store.load(name) if self.store is not None else None) or Room(name)
            self.rooms[name] = room
        return room

    # -- connections ------------------------------------------------------------------------------------
    async def _handle(self, ws: Any) -> None:
        conn = _Conn(ws, asyncio.Queue(self.queue_limit), tokens=self.burst, last=time.monotonic())
        self.conns[id(conn)] = conn
        self.metrics.connections += 1
        self.metrics.connections_total += 1
        conn.writer = asyncio.create_task(self._write(conn))
        try:
            await self._read(conn)
        except Exception as exc:  # the connection's own failure; the room goes on
            self.metrics.count(self.metrics.errors, type(exc).__name__)
        finally:
            self.conns.pop(id(conn), None)
            self.metrics.connections -= 1
            if conn.room is not None and conn.member is not None:
                conn.room.leave(conn.member.id)
                self._broadcast(conn.room, encode(conn.room.presence()))
            conn.writer.cancel()
            with contextlib.suppress(Exception):
                if conn.closing is not None:
                    await conn.closing  # the reason goes out first
                else:
                    await ws.close()

    def _send(self, conn: _Conn, msg: str | dict) -> None:
        try:
            conn.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self._drop(conn, "too_slow", f"more than {self.queue_limit} messages waited for this client")

    def _drop(self, conn: _Conn, code: str, why: str) -> None:
        if conn.dropped is not None:
            return
        conn.dropped = code
        self.metrics.count(self.metrics.dropped, code)
        conn.closing = asyncio.get_running_loop().create_task(self._close(conn, code, why))

    async def _close(self, conn: _Conn, code: str, why: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.send(encode({"type": "error", "code": code, "message": why})), 1.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.close(1008, f"{code}: {why}"[:120]), 1.0)
        with contextlib.suppress(Exception):
            conn.ws.transport.abort()  # a client that does not answer the close is cut off

    async def _write(self, conn: _Conn) -> None:
        while True:
            msg = await conn.queue.get()
            if isinstance(msg, dict):  # a pong: stamped as it leaves
                msg["t2"] = self.clock()
                msg = encode(msg)
            try:
                await conn.ws.send(msg)
            except Exception:
                return

    def _error(self, conn: _Conn, exc: ProtocolError) -> None:
        self.metrics.count(self.metrics.errors, exc.code)
        conn.errors += 1
        if conn.errors > self.max_errors:
            self._drop(conn, exc.code, f"{conn.errors} bad messages; the last: {exc}")
        else:
            self._send(conn, encode({"type": "error", "code": exc.code, "message": str(exc)}))

    def _admit(self, conn: _Conn) -> bool:
        """Count a message from a client; False when the client is gone or over its rate (then dropped)."""
        if conn.dropped is not None:
            return False
        self.metrics.messages_in += 1
        return self._allow(conn)

    def _allow(self, conn: _Conn) -> bool:
        now = time.monotonic()
        conn.tokens = min(self.burst, conn.tokens + (now - conn.last) * self.rate)
        conn.last = now
        if conn.tokens >= 1.0:
            conn.tokens -= 1.0
            return True
        self._drop(conn, "rate_limited", f"more than {self.rate:g} messages a second")
        return False

    async def _read(self, conn: _Conn) -> None:
        ws = conn.ws
        try:
            first = await asyncio.wait_for(ws.recv(), 10.0)
        except (TimeoutError, Exception):
            return
        try:
            hello = check_client_message(decode(first))
            if hello["type"] != "hello":
                raise ProtocolError("bad_message", "the first message must be a hello")
            role = check_token(self.secret, hello["token"], hello["room"])
        except ProtocolError as exc:
            self.metrics.count(self.metrics.errors, exc.code)
            self._drop(conn, exc.code, str(exc))
            await asyncio.sleep(0.2)
            return
        if self.bus is not None:
            owner = await self.bus.claim(hello["room"])
            if owner != self.bus.id:
                self._edge_owner.setdefault(hello["room"], owner)
                await self._edge(conn, hello, role)
                return
            self._edge_owner.pop(hello["room"], None)
            await self.bus.subscribe(self.bus.inbox(hello["room"]), self._owner_inbox(hello["room"]))
        room = self.room(hello["room"])
        member, welcome = room.join(hello["client"], hello["name"], role, hello.get("last_seq"), self.clock())
        conn.room, conn.member = room, member
        self._send(conn, encode(welcome))
        self._broadcast(room, encode(room.presence()))
        async for raw in ws:
            t1 = self.clock()  # first, for the pong: the wait behind other work counts on neither side
            if not self._admit(conn):
                break
            try:
                msg = check_client_message(decode(raw))
                if msg["type"] == "bye":
                    break
                for reply in self._member_message(room, member, msg, t1):
                    self._send(conn, reply)
            except ProtocolError as exc:
                self._error(conn, exc)

    def _member_message(self, room: Room, member: Member, msg: dict[str, Any], t1: float) -> list[str | dict]:
        """A member's checked message (not hello, not bye); returns the replies for that member (a pong
        as a dict, stamped as it leaves). ProtocolError for a message refused."""
        kind = msg["type"]
        if kind == "op":
            entry, ack = room.submit(member.id, msg["id"], msg["op"], t1)
            if entry is not None:
                self.metrics.ops_logged += 1
                if self.store is not None:
                    self.store.append(room.name, [entry])  # on disk before it is acked
            return [encode(ack)]
        if kind == "ping":
            rtt = msg.get("rtt_ms")
            if isinstance(rtt, (int, float)):
                room.measured(member.id, float(rtt))
            return [{"type": "pong", "t0": msg["t0"], "t1": t1}]
        raise ProtocolError("bad_message", "hello was already said")

    # -- several servers: the owner's side ------------------------------------------------------------
    def _owner_inbox(self, name: str) -> Callable[[str], Any]:
        async def handle(data: str) -> None:
            d = json.loads(data)
            server, cid = d["server"], d["conn"]
            key = (server, cid)
            room = self.room(name)
            out = self.bus.server_channel(server)
            t1 = self.clock()

            async def reply(msg: str | dict) -> None:
                if isinstance(msg, dict):
                    msg["t2"] = self.clock()
                    msg = encode(msg)
                await self.bus.publish(out, {"conn": cid, "text": msg})

            kind = d["kind"]
            try:
                if kind == "join":
                    h = d["hello"]
                    member, welcome = room.join(h["client"], h["name"], d["role"], h.get("last_seq"), t1)
                    self._remote_members[key] = (name, member.id)
                    await reply(encode(welcome))
                    self._broadcast(room, encode(room.presence()))
                elif kind == "leave":
                    got = self._remote_members.pop(key, None)
                    if got is not None:
                        room.leave(got[1])
                        self._broadcast(room, encode(room.presence()))
                elif kind == "msg":
                    got = self._remote_members.get(key)
                    if got is None or got[1] not in room.members:
                        raise ProtocolError("bad_message", "not a member of this room (join again)")
                    for r in self._member_message(room, room.members[got[1]], d["msg"], t1):
                        await reply(r)
            except ProtocolError as exc:
                self.metrics.count(self.metrics.errors, exc.code)
                await reply(encode({"type": "error", "code": exc.code, "message": str(exc)}))

        return handle

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            channel, text = await self._outbox.get()
            try:
                await self.bus.publish(channel, text)
            except Exception:
                self.metrics.count(self.metrics.errors, "redis")
            finally:
                self._outbox.task_done()

    # -- several servers: an edge's side --------------------------------------------------------------
    async def _edge(self, conn: _Conn, hello: dict[str, Any], role: str) -> None:
        """Relay a member of a room another server owns: its messages to the owner, the room to it."""
        name = hello["room"]
        key = f"{id(conn)}"
        conns = self._edge_conns.setdefault(name, {})
        conns[key] = conn
        self._by_key[key] = conn
        conn.held = []  # the room's traffic for it, held until its welcome has gone out
        channel = self.bus.room_channel(name)
        await self.bus.subscribe(channel, self._edge_room(name))
        inbox = self.bus.inbox(name)
        me = {"server": self.bus.id, "conn": key}
        h = {"client": hello["client"], "name": hello["name"], "last_seq": hello.get("last_seq")}
        try:
            await self.bus.publish(inbox, {**me, "kind": "join", "hello": h, "role": role})
            async for raw in conn.ws:
                if not self._admit(conn):
                    break
                try:
                    msg = check_client_message(decode(raw))
                except ProtocolError as exc:
                    self._error(conn, exc)
                    continue
                if msg["type"] == "bye":
                    break
                if msg["type"] == "hello":
                    self._error(conn, ProtocolError("bad_message", "hello was already said"))
                    continue
                await self.bus.publish(inbox, {**me, "kind": "msg", "msg": msg})
        finally:
            with contextlib.suppress(Exception):
                await self.bus.publish(inbox, {**me, "kind": "leave"})
            conns.pop(key, None)
            self._by_key.pop(key, None)
            if not conns:
                self._edge_conns.pop(name, None)
                await self.bus.unsubscribe(channel)

    async def _watch_owners(self) -> None:
        """Drop the members relayed to an owner that went away, so they come back to one that runs."""
        while True:
            await asyncio.sleep(max(0.2, self.claim_ttl_s / 4))
            for name in list(self._edge_conns):
                try:
                    owner = await self.bus.owner(name)
                except Exception:
                    continue
                if owner is not None and owner == self._edge_owner.get(name):
                    continue
                self._edge_owner.pop(name, None)
                for conn in list(self._edge_conns.get(name, {}).values()):
                    self._drop(conn, "server", "the room's server went away: join again")

    def _edge_room(self, name: str) -> Callable[[str], None]:
        def forward(text: str) -> None:
            for conn in list(self._edge_conns.get(name, {}).values()):
                if conn.held is not None:
                    conn.held.append(text)
                else:
                    self._send(conn, text)

        return forward

    def _edge_reply(self, data: str) -> None:
        d = json.loads(data)
        conn = self._by_key.get(d["conn"])
        if conn is None:
            return
        text = d["text"]
        self._send(conn, text)
        if conn.held is not None and text.startswith('{"type":"welcome"'):
            held, conn.held = conn.held, None
            for t in held:
                self._send(conn, t)

    def _broadcast(self, room: Room, text: str) -> None:
        for conn in list(self.conns.values()):
            if conn.room is room and conn.dropped is None:
                self._send(conn, text)
        if self._outbox is not None and room.name in self.bus.owned:
            self._outbox.put_nowait((self.bus.room_channel(room.name), text))

    # -- ticks ------------------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            t0 = time.perf_counter()
            self._flush_all()
            self.metrics.fanout_seconds += time.perf_counter() - t0
            self.metrics.ticks += 1

    def _flush_all(self) -> None:
        members: dict[int, list[_Conn]] = {}
        for conn in self.conns.values():
            if conn.room is not None and conn.dropped is None:
                members.setdefault(id(conn.room), []).append(conn)
        for room in self.rooms.values():
            fresh = room.take_fresh()
            if not fresh:
                continue
            text = encode({"type": "ops", "ops": fresh})
            for conn in members.get(id(room), []):
                self._send(conn, text)
                self.metrics.ops_sent += len(fresh)
            if self._outbox is not None and room.name in self.bus.owned:
                self._outbox.put_nowait((self.bus.room_channel(room.name), text))
            if len(room.log) > self.compact_over + self.keep:
                room.compact(self.keep)
                if self.store is not None:
                    self.store.snapshot(room)

    # -- HTTP: metrics -------------------------------------------------------------------------------------
    def _http(self, connection: Any, request: Any) -> Any:
        if request.path == "/metrics":
            return connection.respond(HTTPStatus.OK, self.metrics_text())
        return None

    def metrics_text(self) -> str:
        m = self.metrics
        lines = [
            "# HELP strum_jam_connections Open WebSocket connections.",
            "# TYPE strum_jam_connections gauge",
            f"strum_jam_connections {m.connections}",
            "# TYPE strum_jam_connections_total counter",
            f"strum_jam_connections_total {m.connections_total}",
            "# TYPE strum_jam_rooms gauge",
            f"strum_jam_rooms {len(self.rooms)}",
            "# TYPE strum_jam_members gauge",
            f"strum_jam_members {sum(len(r.members) for r in self.rooms.values())}",
            "# TYPE strum_jam_messages_in_total counter",
            f"strum_jam_messages_in_total {m.messages_in}",
            "# TYPE strum_jam_ops_logged_total counter",
            f"strum_jam_ops_logged_total {m.ops_logged}",
            "# TYPE strum_jam_ops_sent_total counter",
            f"strum_jam_ops_sent_total {m.ops_sent}",
            "# TYPE strum_jam_fanout_seconds_total counter",
            f"strum_jam_fanout_seconds_total {m.fanout_seconds:.6f}",
            "# TYPE strum_jam_errors_total counter",
        ]
        lines += [f'strum_jam_errors_total{{code="{k}"}} {v}' for k, v in sorted(m.errors.items())]
        lines.append("# TYPE strum_jam_dropped_total counter")
        lines += [f'strum_jam_dropped_total{{reason="{k}"}} {v}' for k, v in sorted(m.dropped.items())]
        lines.append("# TYPE strum_jam_queue_depth gauge")
        depth = max((c.queue.qsize() for c in self.conns.values()), default=0)
        lines.append(f"strum_jam_queue_depth {depth}")
        return "\n".join(lines) + "\n"
