"""Jam rooms over real WebSockets on 127.0.0.1: engines that render what one member played at the same
beat, resuming after a lost connection, a server killed and restarted, tokens, and clients that misbehave
while the room plays on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from bench.live_latency import onsets, sine_synth
from bridge.jam.client import JamClient, JoinError
from bridge.jam.player import apply_room
from bridge.jam.server import JamServer
from bridge.jam.store import RoomStore
from bridge.jam.tokens import make_token
from engine.session import Session, TrackSpec
from tests.services import start_redis

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"jam-test-secret-0123456789"
SR = 48000


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def token(room: str, role: str) -> str:
    return make_token(SECRET, room, role, 3600)


async def server(tmp_path: Path | None = None, **kw) -> JamServer:
    store = RoomStore(tmp_path / "rooms.db") if tmp_path is not None else None
    s = JamServer(SECRET, store, **kw)
    await s.start()
    return s


async def host_and_player(url: str, room: str = "r") -> tuple[JamClient, JamClient]:
    """Two members joined: ``a`` the host, ``b`` a player."""
    a = JamClient(url, room, "a", token(room, "host"))
    b = JamClient(url, room, "b", token(room, "player"))
    await a.start()
    await b.start()
    return a, b


def render_room(client: JamClient) -> tuple[np.ndarray, Session]:
    session = Session(tracks=[TrackSpec("keys", sine_synth())])
    assert apply_room(session, client.room.state, client.entries, client.room.me["name"]) == []
    built = session.build(SR, 512)
    eng = built.engine
    eng.transport.play()
    n = built.end_sample + SR // 2
    out = np.zeros(n + 512, dtype=np.float32)
    for k in range(0, n, 512):
        out[k : k + 512] = eng.process_block(512)[0]
    return out, session


def test_notes_played_by_one_are_rendered_by_every_engine_at_the_same_beat() -> None:
    async def main():
        srv = await server()
        url = f"ws://127.0.0.1:{srv.port}"
        host = JamClient(url, "band", "host", token("band", "host"))
        players = [JamClient(url, "band", f"p{k}", token("band", "player")) for k in range(3)]
        for c in [host, *players]:
            await c.start()
        await host.send({"kind": "transport", "action": "tempo", "bpm": 100.0})
        await host.send({"kind": "transport", "action": "play"})
        await host.wait_acked()
        for c in players:
            await c.wait_seq(host.room.seq)
        await asyncio.sleep(0.3)  # the launch: the next bar, a quarter second ahead
        played = []
        for k in range(12):
            p = players[k % 3]
            played.append(await p.note_now("keys", 60 + k, 100, 0.05))
            await asyncio.sleep(0.09)
        for p in players:
            await p.wait_acked()
        last = max(c.room.seq for c in [host, *players])
        for c in [host, *players]:
            await c.wait_seq(last)
        for c in [host, *players]:
            await c.close()
        await srv.stop()
        return host, players, played

    host, players, played = run(main())
    notes = [e for e in host.entries if e["op"]["kind"] == "note"]
    assert len(notes) == 12
    # every note reached the server before its beat came round on the shared timeline (the budget)
    tl = host.room.timeline
    assert all(e["t"] < tl.time_at(e["op"]["beat"]) for e in notes)
    beats = sorted(op["beat"] for op in played)
    renders = [render_room(c)[0] for c in [host, *players]]
    found = [onsets(r, threshold=0.05, quiet=200) for r in renders]
    for f in found[1:]:
        assert np.array_equal(f, found[0]), "every engine renders the room's notes on the same samples"
    onset_beats = found[0] / SR * 100.0 / 60.0
    assert len(onset_beats) == 12
    error_ms = (onset_beats - np.array(beats)) * 60.0 / 100.0 * 1000.0
    assert np.all(np.abs(error_ms) < 1.0), error_ms  # on the timeline's beat within 1 ms


def test_a_lost_connection_resumes_with_nothing_lost_and_nothing_applied_twice() -> None:
    async def main():
        srv = await server()
        url = f"ws://127.0.0.1:{srv.port}"
        a, b = await host_and_player(url)
        await b.drop_connection()
        await b.send({"kind": "chat", "text": "sent while the line was down"})
        for k in range(20):
            await a.send({"kind": "param", "path": "keys/pan", "value": k / 20})
        await a.wait_acked()
        await b.wait_joined()
        await b.wait_acked()
        await a.wait_seq(21)
        await b.wait_seq(21)
        for c in (a, b):
            await c.close()
        await srv.stop()
        return a, b

    a, b = run(main())
    assert b.connects >= 2
    for c in (a, b):
        assert [e["seq"] for e in c.entries] == list(range(1, 22))
        assert sum(e["op"].get("text") == "sent while the line was down" for e in c.entries) == 1
    assert a.room.state == b.room.state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, port: int, redis: str | None = None, db: str | None = None,
           extra: tuple[str, ...] = ()) -> subprocess.Popen:  # fmt: skip
    secret = tmp_path / "secret"
    secret.write_text(SECRET.decode())
    more = [*(["--redis", redis] if redis else []), *extra]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "jam", "serve", "--port", str(port),
         "--db", db or str(tmp_path / f"rooms-{port}.db"), "--secret-file", str(secret), *more],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "serving ws://127.0.0.1" in line, proc.stderr.read() if proc.stderr else line
    return proc


def test_a_server_killed_mid_session_comes_back_with_every_acked_op(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, port)

    async def main():
        a, b = await host_and_player(f"ws://127.0.0.1:{port}")
        for k in range(30):
            await a.send(
                {"kind": "clip", "track": "keys", "clip": f"c{k % 3}", "notes": [[60 + k, k, 1, 90]]}
            )
        await a.wait_acked()
        await b.wait_seq(30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        await asyncio.sleep(0.3)
        assert not a._joined.is_set()
        await b.send({"kind": "chat", "text": "while the server was down"})
        again = await asyncio.to_thread(_serve, tmp_path, port)
        try:
            await a.wait_joined(15)
            await b.wait_joined(15)
            for k in range(5):
                await a.send({"kind": "param", "path": "keys/volume_db", "value": -k})
            await a.wait_acked()
            await b.wait_acked()
            await a.wait_seq(36)
            await b.wait_seq(36)
            for c in (a, b):
                await c.close()
        finally:
            again.terminate()
            again.wait(10)
        return a, b

    a, b = run(main())
    for c in (a, b):
        assert [e["seq"] for e in c.entries] == list(range(1, 37))
    assert a.room.state == b.room.state
    assert a.room.state["clips"]["keys/c2"] == [[89, 29, 1, 90]]
    assert a.room.state["params"]["keys/volume_db"] == -4


def test_a_wrong_token_is_refused() -> None:
    async def main():
        srv = await server()
        url = f"ws://127.0.0.1:{srv.port}"
        results = []
        for tok in [token("other", "host"), make_token(b"not-the-servers-secret", "r", "host"), "garbage"]:
            c = JamClient(url, "r", "x", tok, reconnect=False)
            try:
                await c.start(5)
                results.append(None)
            except JoinError as exc:
                results.append(exc.code)
        await srv.stop()
        return results, srv.rooms.get("r")

    results, room = run(main())
    assert results == ["bad_token"] * 3
    assert room is None or not room.members


async def _raw(url: str, room: str, tok: str):
    from websockets.asyncio.client import connect

    ws = await connect(f"{url}/{room}", max_size=2**24)
    hello = {
        "type": "hello",
        "v": 1,
        "room": room,
        "name": "rogue",
        "token": tok,
        "client": f"rogue{time.time_ns()}",
    }
    await ws.send(json.dumps(hello))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    return ws


async def _next_error(ws) -> dict:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] == "error":
            return msg


def test_bad_oversized_and_flooding_clients_are_refused_or_dropped_while_the_room_plays_on() -> None:
    from websockets.exceptions import ConnectionClosed

    async def main():
        srv = await server()
        url = f"ws://127.0.0.1:{srv.port}"
        a, b = await host_and_player(url)
        steady = asyncio.create_task(_steady(a, 60))  # the room plays on meanwhile
        ws = await _raw(url, "r", token("r", "player"))
        answers = []
        bad_ones = [
            "not json",
            json.dumps({"type": "dance"}),
            json.dumps({"type": "op", "id": "x", "op": {"kind": "note"}}),
            json.dumps({"type": "op", "id": "y", "op": {"kind": "transport", "action": "play"}}),
        ]
        for bad in bad_ones:
            await ws.send(bad)
            answers.append((await _next_error(ws))["code"])
        big = await _raw(url, "r", token("r", "player"))
        await big.send(json.dumps({"type": "op", "id": "z", "op": {"kind": "chat", "text": "x" * 200_000}}))
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(10):
                await asyncio.wait_for(big.recv(), 5)
        flood = await _raw(url, "r", token("r", "player"))
        flooded = None
        try:
            for k in range(5000):
                await flood.send(
                    json.dumps({"type": "op", "id": f"f{k}", "op": {"kind": "chat", "text": "spam"}})
                )
            while True:
                msg = json.loads(await asyncio.wait_for(flood.recv(), 5))
                if msg["type"] == "error":
                    flooded = msg["code"]
        except ConnectionClosed:
            pass
        sent = await steady
        await a.wait_acked()
        await b.wait_seq(a.room.seq)
        await ws.close()
        for c in (a, b):
            await c.close()
        metrics = srv.metrics_text()
        await srv.stop()
        return answers, closed.value, flooded, sent, a, b, metrics

    answers, closed, flooded, sent, _, b, metrics = run(main())
    assert answers == ["bad_message", "bad_message", "bad_op", "forbidden"]
    assert closed.rcvd is not None and closed.rcvd.code == 1009  # over the size limit: closed at once
    assert flooded == "rate_limited"
    assert 'strum_jam_dropped_total{reason="rate_limited"} 1' in metrics
    # the others: every op of the steady player arrived, in order, none twice
    mine = [e["op"]["value"] for e in b.entries if e["op"]["kind"] == "param"]
    assert mine == [k / 60 for k in range(sent)]
    assert [e["seq"] for e in b.entries] == list(range(1, len(b.entries) + 1))
    spam = sum(e["op"].get("text") == "spam" for e in b.entries)
    assert spam <= 400 + 1  # the flooder's burst allowance at most, then it was cut off


async def _steady(client: JamClient, n: int) -> int:
    for k in range(n):
        await client.send({"kind": "param", "path": "keys/pan", "value": k / n})
        await asyncio.sleep(0.02)
    return n


def test_interval_mode_plays_the_others_one_interval_late() -> None:
    async def main():
        srv = await server()
        url = f"ws://127.0.0.1:{srv.port}"
        a, b = await host_and_player(url)
        await a.send({"kind": "room", "mode": "interval", "interval_bars": 2})
        await b.send(
            {"kind": "note", "track": "keys", "beat": 1.0, "pitch": 64, "velocity": 100, "length": 0.5}
        )
        await a.wait_acked()
        await b.wait_acked()
        await a.wait_seq(2)
        await b.wait_seq(2)
        for c in (a, b):
            await c.close()
        await srv.stop()
        return a, b

    a, b = run(main())
    heard_by_a = onsets(render_room(a)[0], threshold=0.05)
    heard_by_b = onsets(render_room(b)[0], threshold=0.05)
    beat = SR * 60 / 120
    assert list(heard_by_b) == [pytest.approx(1.0 * beat, abs=2)]  # its own note: when played
    assert list(heard_by_a) == [pytest.approx(9.0 * beat, abs=2)]  # two bars later for the others


def test_metrics_in_prometheus_format() -> None:
    async def main():
        srv = await server()
        a = JamClient(f"ws://127.0.0.1:{srv.port}", "r", "a", token("r", "host"))
        await a.start()
        await a.send({"kind": "chat", "text": "hello"})
        await a.wait_acked()
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=5).read().decode()
        )
        await a.close()
        await srv.stop()
        return text

    text = run(main())
    assert "# TYPE strum_jam_connections gauge" in text
    assert "strum_jam_ops_logged_total 1" in text and "strum_jam_rooms 1" in text


def test_strum_jam_join_records_and_renders_what_the_room_played(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, port)
    out = tmp_path / "jam.wav"
    try:
        secret = tmp_path / "secret"
        tok = subprocess.run(
            [sys.executable, "-m", "bridge.cli", "jam", "token", "r", "--role", "listener",
             "--secret-file", str(secret)],
            capture_output=True, text=True, cwd=ROOT, check=True,
        ).stdout.strip()  # fmt: skip
        joiner = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "jam", "join", f"ws://127.0.0.1:{port}/r", "--name", "ears",
             "--token", tok, "--seconds", "4", "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ),
        )  # fmt: skip

        async def play():
            a = JamClient(f"ws://127.0.0.1:{port}", "r", "a", token("r", "host"))
            await a.start()
            await asyncio.sleep(1.0)
            for k in range(4):
                op = {"kind": "note", "track": "keys", "beat": float(k), "pitch": 60 + k, "velocity": 100}
                await a.send({**op, "length": 0.5})
            await a.wait_acked()
            await a.close()

        run(play())
        _, err = joiner.communicate(timeout=60)
        assert joiner.returncode == 0, err
        assert "4 notes" in err
    finally:
        proc.terminate()
        proc.wait(10)
    import soundfile as sf

    audio, sr = sf.read(out)
    assert sr == 48000 and np.abs(audio).max() > 0.05
    bad = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "jam", "join", "http://nowhere", "--name", "x", "--token", "t"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode == 2 and "expected ws://HOST:PORT/ROOM" in bad.stderr


@pytest.fixture
def redis_server(tmp_path: Path):
    try:
        url, proc = start_redis(tmp_path)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield url
    proc.terminate()
    proc.wait(10)


def test_members_joining_through_two_server_processes_share_one_room(
    tmp_path: Path, redis_server: str
) -> None:
    ports = [_free_port(), _free_port()]
    servers = [_serve(tmp_path, p, redis_server) for p in ports]

    async def main():
        a = JamClient(f"ws://127.0.0.1:{ports[0]}", "r", "a", token("r", "host"))
        await a.start()  # the first server takes the room
        b = JamClient(f"ws://127.0.0.1:{ports[1]}", "r", "b", token("r", "player"))
        c = JamClient(f"ws://127.0.0.1:{ports[1]}", "r", "c", token("r", "player"))
        await b.start()  # through the second server
        await c.start()
        await a.send({"kind": "transport", "action": "play"})
        for k in range(10):
            await a.send({"kind": "param", "path": "keys/pan", "value": k / 10})
            await b.send({"kind": "note", "track": "keys", "beat": float(k), "pitch": 60 + k, "velocity": 90,
                          "length": 0.5})  # fmt: skip
            await c.send({"kind": "chat", "text": f"c{k}"})
        for x in (a, b, c):
            await x.wait_acked()
        for x in (a, b, c):
            await x.wait_seq(31)
        await b.drop_connection()  # resume through the second server too
        await a.send({"kind": "chat", "text": "after"})
        await a.wait_acked()
        await b.wait_joined()
        await b.wait_seq(32)
        offsets = [x.clock_estimate.rtt for x in (a, b, c)]
        for x in (a, b, c):
            await x.close()
        return a, b, c, offsets

    try:
        a, b, c, rtts = run(main())
    finally:
        for s in servers:
            s.terminate()
            s.wait(10)
    for x in (a, b, c):
        assert [e["seq"] for e in x.entries] == list(range(1, 33))
    assert a.room.state == b.room.state == c.room.state
    assert [e["from"] for e in a.entries].count("b") == 10 and [e["from"] for e in b.entries].count("a") == 12
    assert all(r is not None and r < 0.1 for r in rtts)


def test_tls_when_given_a_certificate(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main():
        srv = await server(ssl=server_ctx)
        a = JamClient(f"wss://127.0.0.1:{srv.port}", "r", "a", token("r", "host"), ssl=client_ctx)
        await a.start()
        await a.send({"kind": "chat", "text": "over TLS"})
        await a.wait_acked()
        await a.wait_seq(1)
        plain = JamClient(f"ws://127.0.0.1:{srv.port}", "r", "p", token("r", "host"), reconnect=False)
        with pytest.raises((TimeoutError, OSError, Exception)):
            await plain.start(3)
        await plain.close()
        await a.close()
        await srv.stop()
        return a

    a = run(main())
    assert a.entries[0]["op"]["text"] == "over TLS"


def test_a_client_too_slow_for_the_room_is_dropped_not_buffered_without_bound() -> None:
    async def main():
        srv = await server(queue_limit=8)
        a = JamClient(f"ws://127.0.0.1:{srv.port}", "r", "a", token("r", "host"))
        await a.start()
        conn = next(c for c in srv.conns.values() if c.member is not None)
        conn.writer.cancel()  # this client stops taking what the room sends
        for k in range(40):
            await a.send({"kind": "chat", "text": f"m{k}"})
            await asyncio.sleep(0.03)  # one fan-out tick each
        await asyncio.sleep(0.2)
        dropped = conn.dropped
        depth = conn.queue.qsize()
        metrics = srv.metrics_text()
        await a.close()
        await srv.stop()
        return dropped, depth, metrics

    dropped, depth, metrics = run(main())
    assert dropped == "too_slow" and depth <= 8
    assert 'strum_jam_dropped_total{reason="too_slow"} 1' in metrics


def test_a_long_log_is_compacted_into_a_snapshot(tmp_path: Path) -> None:
    async def main():
        srv = await server(tmp_path, compact_over=10, keep=5)
        a = JamClient(f"ws://127.0.0.1:{srv.port}", "r", "a", token("r", "host"))
        await a.start()
        for k in range(40):
            await a.send({"kind": "param", "path": "keys/pan", "value": k / 40})
        await a.wait_acked()
        await a.wait_seq(40)
        await asyncio.sleep(0.1)
        late = JamClient(f"ws://127.0.0.1:{srv.port}", "r", "late", token("r", "player"))
        await late.start()
        room = srv.rooms["r"]
        for c in (a, late):
            await c.close()
        await srv.stop()
        return room, late

    room, late = run(main())
    assert len(room.log) <= 15 and room.base_seq >= 25
    assert late.room.seq == 40 and late.room.state["params"]["keys/pan"] == pytest.approx(39 / 40)
    again = RoomStore(tmp_path / "rooms.db").load("r")
    assert again is not None and again.seq == 40 and again.state == room.state


def test_when_the_rooms_server_dies_another_takes_the_room_over_with_nothing_lost(
    tmp_path: Path, redis_server: str
) -> None:
    ports = [_free_port(), _free_port()]
    shared = str(tmp_path / "shared.db")  # two servers on one host share one store
    servers = [_serve(tmp_path, p, redis_server, shared, ("--claim-ttl", "1.5")) for p in ports]

    async def main():
        a = JamClient(f"ws://127.0.0.1:{ports[0]}", "r", "a", token("r", "host"))
        await a.start()  # the first server owns the room
        b = JamClient(f"ws://127.0.0.1:{ports[1]}", "r", "b", token("r", "player"))
        await b.start()
        for k in range(10):
            await b.send({"kind": "param", "path": "keys/pan", "value": k / 10})
        await b.wait_acked()
        await b.wait_seq(10)
        servers[0].send_signal(signal.SIGKILL)  # the owner dies
        servers[0].wait(10)
        await b.send({"kind": "chat", "text": "are you there?"})
        deadline = time.monotonic() + 20
        while b.connects < 2 and time.monotonic() < deadline:  # dropped by its server, which came back
            await asyncio.sleep(0.05)
        await b.wait_joined(20)
        await b.wait_acked(20)
        await b.send({"kind": "chat", "text": "the second server runs the room now"})
        await b.wait_acked()
        await b.wait_seq(12)
        await a.close()
        await b.close()
        return b

    try:
        b = run(main())
    finally:
        for s in servers:
            s.kill()
            s.wait(10)
    assert b.connects >= 2
    assert [e["seq"] for e in b.entries] == list(range(1, 13))
    assert [e["op"].get("text") for e in b.entries[10:]] == [
        "are you there?",
        "the second server runs the room now",
    ]
    assert b.room.state["params"]["keys/pan"] == pytest.approx(0.9)
