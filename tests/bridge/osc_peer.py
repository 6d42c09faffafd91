"""An OSC client in a process of its own, driven by JSON lines on stdin (for the OSC tests).

It holds one UDP socket and, when asked, one TCP connection (SLIP framing) to a server on 127.0.0.1, and
collects everything that comes back on either. Commands (one JSON object a line; each answered with one
JSON line):

* ``{"op": "connect", "udp": PORT, "tcp": PORT}``
* ``{"op": "send", "proto": "udp"|"tcp", "address": A, "args": [...]}`` (ints go as i, floats as f)
* ``{"op": "bundle", "proto": ..., "at": UNIX_TIME, "messages": [[A, [...]], ...]}``
* ``{"op": "raw", "proto": ..., "hex": "..."}`` (bytes as they are: malformed packets; with proto
  ``tcp-unframed`` not even SLIP-framed)
* ``{"op": "flood", "seconds": S, "rate": N}``: N messages a second over UDP, all of them refused ones
  (unknown addresses, out-of-range values, wrong types, garbage), evenly spaced
* ``{"op": "collect", "seconds": S}``: wait, then answer ``{"received": [[proto, address, args], ...]}`` with
  everything received since the last collect
* ``{"op": "quit"}``
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

from pythonosc import slip
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.osc.server import parse_packet, take_frames


def message(address: str, args: list) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        if isinstance(a, float):
            b.add_arg(a, "f")
        else:
            b.add_arg(a)
    return b.build().dgram


def bundle(at: float, messages: list) -> bytes:
    b = OscBundleBuilder(at)
    for address, args in messages:
        mb = OscMessageBuilder(address)
        for a in args:
            mb.add_arg(a, "f") if isinstance(a, float) else mb.add_arg(a)
        b.add_content(mb.build())
    return b.build().dgram


FLOOD = [
    message("/track/0/volume", [99.0]),  # out of range
    message("/no/such/address", [1]),
    message("/track/0/pan", ["left"]),  # wrong type
    b"\x00garbage\x01",
    message("/track/999/volume", [0.0]),
    message("/transport/tempo", [-5.0]),
]


class Peer:
    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.1)
        self.tcp: socket.socket | None = None
        self.udp_port = 0
        self.received: list = []
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self._udp_loop, daemon=True).start()

    def _keep(self, proto: str, data: bytes) -> None:
        try:
            for _, address, args in parse_packet(data):
                args = [a if isinstance(a, (int, float, str)) or a is None else repr(a) for a in args]
                with self.lock:
                    self.received.append([proto, address, args, time.time()])
        except ValueError as exc:
            with self.lock:
                self.received.append([proto, "!unparsable", [str(exc)], time.time()])

    def _udp_loop(self) -> None:
        while not self.stop:
            try:
                data, _ = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self._keep("udp", data)

    def _tcp_loop(self, conn: socket.socket) -> None:
        buf = bytearray()
        while not self.stop:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            for frame in take_frames(buf):
                self._keep("tcp", slip.decode(frame))

    def out(self, proto: str, data: bytes) -> None:
        if proto == "tcp-unframed":  # bytes straight onto the stream (bad SLIP)
            assert self.tcp is not None
            self.tcp.sendall(data)
        elif proto == "tcp":
            assert self.tcp is not None
            self.tcp.sendall(slip.encode(data))
        else:
            self.udp.sendto(data, ("127.0.0.1", self.udp_port))

    def run(self, cmd: dict) -> dict:
        op = cmd["op"]
        proto = cmd.get("proto", "udp")
        if op == "connect":
            self.udp_port = cmd["udp"]
            if cmd.get("tcp"):
                self.tcp = socket.create_connection(("127.0.0.1", cmd["tcp"]))
                self.tcp.settimeout(0.1)
                threading.Thread(target=self._tcp_loop, args=(self.tcp,), daemon=True).start()
            return {"ok": True}
        if op == "send":
            self.out(proto, message(cmd["address"], cmd.get("args", [])))
            return {"ok": True}
        if op == "bundle":
            self.out(proto, bundle(cmd["at"], cmd["messages"]))
            return {"ok": True}
        if op == "raw":
            self.out(proto, bytes.fromhex(cmd["hex"]))
            return {"ok": True}
        if op == "flood":
            n = int(cmd["seconds"] * cmd["rate"])
            start = time.monotonic()
            for k in range(n):
                due = start + k / cmd["rate"]
                while time.monotonic() < due:
                    pass
                self.udp.sendto(FLOOD[k % len(FLOOD)], ("127.0.0.1", self.udp_port))
            return {"ok": True, "sent": n, "seconds": time.monotonic() - start}
        if op == "collect":
            time.sleep(cmd.get("seconds", 0.2))
            with self.lock:
                got, self.received = self.received, []
            return {"received": got}
        if op == "quit":
            self.stop = True
            return {"ok": True}
        return {"error": f"unknown op {op}"}


def main() -> None:
    peer = Peer()
    print(json.dumps({"ready": True, "port": peer.udp.getsockname()[1]}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        result = peer.run(json.loads(line))
        print(json.dumps(result), flush=True)
        if peer.stop:
            return


if __name__ == "__main__":
    main()
