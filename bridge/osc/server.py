"""The OSC server: UDP and TCP (SLIP-framed, OSC 1.1) on 127.0.0.1 unless told otherwise.

Each packet is parsed (a message, or a bundle of them with a time tag), checked against the sender's rate
allowance, and handed to an :class:`bridge.osc.control.OscControl`. Answers go back to the sender: query
results on the address asked, problems on ``/error`` (the address, then the reason). A flood is cut by a
token bucket per sender (``rate`` messages a second, ``burst`` at once): what exceeds it is dropped unread,
and the sender hears about it on ``/error`` at most twice a second. Nothing a sender sends can stop the
server or the engine: every failure becomes an answer.

Feedback: ``/subscribe [i port] [f rate_hz] [i meters]`` makes the sender (at ``port`` on its host, by
default the port it sent from; over TCP, the same connection) a subscriber: at ``rate_hz`` (default 20,
at most 100) it receives every parameter whose value changed, by its address (``/track/bass/volume -6.0``),
the transport's ``/transport/position`` and ``/transport/state`` when they change, and with ``meters`` 1
every strip's ``/track/{name}/meter``. ``/unsubscribe [i port]`` ends it. A subscriber that cannot be
reached is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pythonosc import slip
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from bridge.osc.control import OscControl, OscError, osc_address_of
from engine.control import ControlError

__all__ = ["OscServer", "build_message", "parse_packet", "take_frames"]

MAX_PACKET = 65536
MAX_SUBSCRIBERS = 16
MAX_TCP_CLIENTS = 32
MAX_DEFERRED = 4096


def build_message(address: str, args: list[Any]) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def parse_packet(data: bytes) -> list[tuple[float | None, str, list[Any]]]:
    """(time tag as ``time.time`` seconds or None for now, address, arguments) for every message of a
    packet, bundles flattened in order. Raises ValueError naming what is wrong with a malformed packet."""
    if data.startswith(b"#bundle\x00"):
        _check_bundle(data, 0)
    elif data.startswith(b"/"):
        _check_tags(data)
    try:
        if OscBundle.dgram_is_bundle(data):
            out: list[tuple[float | None, str, list[Any]]] = []
            _flatten(OscBundle(data), out)
            return out
        if OscMessage.dgram_is_message(data):
            msg = OscMessage(data)
            return [(None, msg.address, list(msg.params))]
    except Exception as exc:  # python-osc's ParseError, and what slips past it on hostile input
        raise ValueError(f"malformed OSC packet ({len(data)} bytes): {exc}") from None
    head = data[:16]
    raise ValueError(f"not an OSC packet ({len(data)} bytes starting {head!r}): expected '/' or '#bundle'")


def take_frames(buf: bytearray) -> list[bytes]:
    """Remove the complete SLIP frames from the front of a stream buffer and return them (with their END
    bytes, empty ones left out); an incomplete frame stays in ``buf``."""
    frames: list[bytes] = []
    while True:
        end = buf.find(slip.END, 1 if buf[:1] == slip.END else 0)
        if end < 0:
            return frames
        frame = bytes(buf[: end + 1])
        del buf[: end + 1]
        if frame.strip(slip.END):
            frames.append(frame)


def _check_bundle(data: bytes, depth: int) -> None:
    # element sizes must add up: a reader that trusts them would read past the packet or lose messages
    if depth > 8:
        raise ValueError("malformed OSC packet: bundles nested more than 8 deep")
    if len(data) < 16:
        raise ValueError(f"malformed OSC packet: a bundle of {len(data)} bytes has no time tag")
    i = 16
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError(f"malformed OSC packet: a bundle element's size is cut short at byte {i}")
        n = int.from_bytes(data[i : i + 4], "big")
        i += 4
        if n <= 0 or n % 4 or i + n > len(data):
            raise ValueError(
                f"malformed OSC packet: a bundle element of {n} bytes at byte {i - 4} does not fit the"
                f" packet ({len(data)} bytes) or is not a multiple of 4"
            )
        if data[i : i + 8] == b"#bundle\x00":
            _check_bundle(data[i : i + n], depth + 1)
        else:
            _check_tags(data[i : i + n])
        i += n


TYPE_TAGS = frozenset("ifsbhdtTFNIcrm[]")


def _check_tags(data: bytes) -> None:
    # a type tag the parser does not know would be skipped with its data unread: refuse the message
    end = data.find(b"\x00")
    if end < 0:
        return  # the parser reports a missing terminator itself
    start = (end + 4) & ~3
    if data[start : start + 1] != b",":
        return
    stop = data.find(b"\x00", start)
    tags = data[start + 1 : stop if stop >= 0 else len(data)].decode("latin-1")
    bad = sorted(set(tags) - TYPE_TAGS)
    if bad:
        raise ValueError(f"malformed OSC packet: unknown type tag(s) {''.join(bad)!r} in {tags!r}")


def _flatten(bundle: OscBundle, out: list) -> None:
    ts = bundle.timestamp
    when = None if ts == osc_types.IMMEDIATELY else float(ts)
    for content in bundle:
        if isinstance(content, OscMessage):
            out.append((when, content.address, list(content.params)))
        else:
            _flatten(content, out)


@dataclass
class _Bucket:
    tokens: float
    last: float
    dropped: int = 0
    noticed: float = 0.0


@dataclass
class _Subscriber:
    send: Callable[[bytes], None]
    key: Any
    interval: float
    meters: bool
    due: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    position: list[Any] = field(default_factory=list)
    state: int = -1


class OscServer:
    """Serves one :class:`OscControl` over UDP and TCP; see the module docstring."""

    def __init__(
        self,
        control: OscControl,
        host: str = "127.0.0.1",
        udp_port: int | None = 0,
        tcp_port: int | None = 0,
        rate: float = 2000.0,
        burst: float = 500.0,
    ) -> None:
        self.control = control
        self.host = host
        self.rate = float(rate)
        self.burst = float(burst)
        self._udp_req = udp_port
        self._tcp_req = tcp_port
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._buckets: dict[Any, _Bucket] = {}
        self._subs: dict[Any, _Subscriber] = {}
        self._subs_lock = threading.Lock()
        self._timer: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_cv = threading.Condition()
        self._seq = itertools.count()
        self._tcp_clients = 0
        # statistics
        self.received = 0
        self.handled = 0
        self.errors = 0
        self.rate_limited = 0

    # -- life -------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._udp_req is not None:
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.bind((self.host, self._udp_req))
            self._udp.settimeout(0.2)
            self.udp_port = self._udp.getsockname()[1]
            self._spawn(self._udp_loop, "strum-osc-udp")
        if self._tcp_req is not None:
            self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._tcp.bind((self.host, self._tcp_req))
            self._tcp.listen(8)
            self._tcp.settimeout(0.2)
            self.tcp_port = self._tcp.getsockname()[1]
            self._spawn(self._tcp_accept, "strum-osc-tcp")
        self._spawn(self._timer_loop, "strum-osc-timer")
        self._spawn(self._feedback_loop, "strum-osc-feedback")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def ready_info(self) -> dict[str, int | None]:
        """The ports bound (for the engine process's "ready" message)."""
        return {"osc_udp_port": self.udp_port, "osc_tcp_port": self.tcp_port}

    def stop(self) -> None:
        self._stop.set()
        with self._timer_cv:
            self._timer_cv.notify_all()
        for t in self._threads:
            t.join(timeout=2)
        for s in (self._udp, self._tcp):
            if s is not None:
                s.close()
        self._threads = []

    # -- rate -------------------------------------------------------------------------------------------
    def _allow(self, key: Any, n: int, reply: Callable[[bytes], None]) -> bool:
        now = time.monotonic()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            b = self._buckets[key] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.last) * self.rate)
        b.last = now
        if b.tokens >= n:
            b.tokens -= n
            return True
        b.dropped += n
        self.rate_limited += n
        if now - b.noticed >= 0.5:
            b.noticed = now
            why = f"rate limited: {b.dropped} messages dropped so far"
            why += f" (at most {self.rate:g} a second, {self.burst:g} at once)"
            self._reply(reply, "/error", ["", why])
        return False

    # -- packets ----------------------------------------------------------------------------------------
    def handle_packet(self, data: bytes, key: Any, reply: Callable[[bytes], None]) -> None:
        """Handle one packet from sender ``key``; answers go to ``reply``."""
        self.received += 1
        if not self._allow(key, 1, reply):
            return
        try:
            items = parse_packet(data)
        except ValueError as exc:
            self.errors += 1
            self._reply(reply, "/error", ["", str(exc)])
            return
        if len(items) > 1 and not self._allow(key, len(items) - 1, reply):
            return
        for when, address, args in items:
            try:
                if address == "/subscribe":
                    self._subscribe(key, args, reply)
                    continue
                if address == "/unsubscribe":
                    self._unsubscribe(key, args)
                    continue
                replies, deferred = self.control.handle(address, args, when)
                self.handled += 1
                if deferred is not None:
                    self._defer(deferred.at, deferred.run)
                for addr, vals in replies:
                    self._reply(reply, addr, vals)
            except (OscError, ControlError, ValueError) as exc:
                self.errors += 1
                self._reply(reply, "/error", [address, str(exc)])
            except Exception as exc:  # never let one message take the server down
                self.errors += 1
                self._reply(reply, "/error", [address, f"internal error: {type(exc).__name__}: {exc}"])

    @staticmethod
    def _reply(reply: Callable[[bytes], None], address: str, args: list[Any]) -> None:
        try:
            reply(build_message(address, args))
        except Exception:
            pass  # the sender went away: nothing to tell it

    # -- UDP --------------------------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        sock = self._udp
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(MAX_PACKET)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue

            def reply(dgram: bytes, addr: Any = addr) -> None:
                sock.sendto(dgram, addr)

            self.handle_packet(data, ("udp", addr), reply)

    # -- TCP --------------------------------------------------------------------------------------------
    def _tcp_accept(self) -> None:
        sock = self._tcp
        assert sock is not None
        while not self._stop.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            if self._tcp_clients >= MAX_TCP_CLIENTS:
                conn.close()
                continue
            self._tcp_clients += 1
            t = threading.Thread(
                target=self._tcp_client, args=(conn, addr), name="strum-osc-tcp", daemon=True
            )
            t.start()

    def _tcp_client(self, conn: socket.socket, addr: Any) -> None:
        lock = threading.Lock()
        key = ("tcp", addr)

        def reply(dgram: bytes) -> None:
            with lock:
                conn.sendall(slip.encode(dgram))

        conn.settimeout(0.2)
        buf = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buf += chunk
                for frame in take_frames(buf):
                    try:
                        data = slip.decode(frame)
                    except Exception:
                        self.errors += 1
                        self._reply(reply, "/error", ["", "malformed SLIP frame (bad escape)"])
                        continue
                    self.handle_packet(data, key, reply)
                if len(buf) > MAX_PACKET * 2:
                    buf.clear()
                    self.errors += 1
                    self._reply(reply, "/error", ["", f"SLIP frame longer than {MAX_PACKET} bytes"])
        except OSError:
            return
        finally:
            self._unsubscribe(key, [])
            self._tcp_clients -= 1
            conn.close()

    # -- timer ------------------------------------------------------------------------------------------
    def _defer(self, at: float, run: Callable[[], None]) -> None:
        with self._timer_cv:
            if len(self._timer) >= MAX_DEFERRED:
                raise OscError(f"too many bundle actions waiting for their time ({MAX_DEFERRED}); try later")
            heapq.heappush(self._timer, (at, next(self._seq), run))
            self._timer_cv.notify()

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            with self._timer_cv:
                wait = 0.5
                if self._timer:
                    wait = max(0.0, min(wait, self._timer[0][0] - time.time()))
                if wait > 0:
                    self._timer_cv.wait(wait)
                due = []
                now = time.time()
                while self._timer and self._timer[0][0] <= now:
                    due.append(heapq.heappop(self._timer)[2])
            for run in due:
                try:
                    run()
                except Exception:
                    self.errors += 1

    # -- feedback ---------------------------------------------------------------------------------------
    def _subscribe(self, key: Any, args: list[Any], reply: Callable[[bytes], None]) -> None:
        port = None
        if args:
            v = args[0]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
                raise OscError(
                    f"/subscribe: the port must be an integer in 0..65535 (0: this one), got {v!r}"
                )
            port = v or None
        rate = 20.0
        if len(args) > 1:
            r = args[1]
            if (
                isinstance(r, bool)
                or not isinstance(r, (int, float))
                or not math.isfinite(r)
                or not 0.5 <= r <= 100
            ):
                raise OscError(f"/subscribe: the rate must be 0.5..100 per second, got {r!r}")
            rate = float(r)
        meters = False
        if len(args) > 2:
            meters = bool(args[2])
        send = reply
        sub_key = key
        if port is not None and key[0] == "udp":
            target = (key[1][0], port)
            udp = self._udp
            assert udp is not None

            def send(dgram: bytes, target: Any = target) -> None:
                udp.sendto(dgram, target)

            sub_key = ("udp", target)
        with self._subs_lock:
            if sub_key not in self._subs and len(self._subs) >= MAX_SUBSCRIBERS:
                raise OscError(f"/subscribe: {MAX_SUBSCRIBERS} subscribers already; unsubscribe one first")
            self._subs[sub_key] = _Subscriber(send, sub_key, 1.0 / rate, meters)
        self._reply(send, "/subscribed", [rate, 1 if meters else 0])

    def _unsubscribe(self, key: Any, args: list[Any]) -> None:
        sub_key = key
        if args and key[0] == "udp" and isinstance(args[0], int) and args[0]:
            sub_key = ("udp", (key[1][0], args[0]))
        with self._subs_lock:
            self._subs.pop(sub_key, None)
            if key[0] == "tcp":
                self._subs.pop(key, None)

    def _feedback_loop(self) -> None:
        while not self._stop.wait(0.01):
            with self._subs_lock:
                subs = list(self._subs.values())
            try:
                learned = self.control.poll()
            except Exception:
                learned = None
            if learned is not None:
                msg = build_message("/learned", [learned.target, learned.describe()])
                for s in subs:
                    try:
                        s.send(msg)
                    except OSError:
                        pass
            if not subs:
                continue
            now = time.monotonic()
            due = [s for s in subs if now >= s.due]
            if not due:
                continue
            try:
                values = self.control.values()
                position = self.control.position()
                state = 1 if self.control.engine.transport.playing else 0
                meters = (
                    {n: self.control.meter(n) for n in self.control.names}
                    if any(s.meters for s in due)
                    else {}
                )
            except Exception:
                continue
            for s in due:
                s.due = now + s.interval
                try:
                    self._feed(s, values, position, state, meters)
                except OSError:
                    with self._subs_lock:
                        self._subs.pop(s.key, None)

    def _feed(self, s: _Subscriber, values: dict[str, float], position: list[Any], state: int,
              meters: dict[str, list[float]]) -> None:  # fmt: skip
        for path, v in values.items():
            if s.values.get(path) != v:
                p = self.control.refs[path].param
                out: float | int = int(v) if p.stepped else float(v)
                s.send(build_message(osc_address_of(path), [out]))
        s.values = values
        if state != s.state:
            s.send(build_message("/transport/state", [state]))
            s.state = state
        if position[:2] != s.position[:2] or (state and position != s.position):
            s.send(build_message("/transport/position", position))
            s.position = position
        if s.meters:
            for name, m in meters.items():
                s.send(build_message(f"/track/{name}/meter", m))
