"""``python -m bench jam``: the jam server under load, on loopback (127.0.0.1) and this machine's cores.

The server runs in a process of its own (a :class:`bridge.jam.server.JamServer` with its SQLite store in a
temporary folder and its default limits, as ``strum jam serve`` runs it); the clients
(:class:`bridge.jam.client.JamClient`) run in :data:`WORKERS` other processes, one asyncio loop each, with a
room's members spread over them. A fresh server serves each phase, so its CPU and memory are the phase's own.

Every op is a ``param`` op whose value is the sender's ``time.time() - T0``, T0 shared by every process (the
op's value range is +-1e9: the epoch itself would not fit), so the relay latency is read on one clock: when
the receiving client got the ``ops`` message (decoded and applied, its ``on_entries`` call) minus when the
sender sent the op. An op's id ends in the sender's count of ops, so each receiver checks that the room's
seqs come without a gap and that every sender's ops come 1..n, each once, in order.

1. one room of 100 clients, 20 ops a second each, for 60 s: nothing lost, relay p50/p99/max (goal: p99 under
   50 ms), the server's CPU share and drops;
2. 1,000 clients in 250 rooms of 4, 2 ops a second each, for 30 s: delivered/expected, relay p50/p99, the
   server's CPU share and RSS;
3. the clock offset error, ``ClockEstimate``'s applied offset against the true one (the server's clock is
   ``time.time()``, the clients' ``time.monotonic()``: one machine, so the truth is their difference read in
   the client's process): 500 idle clients after their pings settled (goal: p99 under 1 ms), and the loaded
   clients of 1 and 2 at the end of their sending;
4. the server's memory per idle client: its RSS with 500 idle clients (rooms of 4) minus its RSS with none.

``--quick``: 20 clients for 5 s, 40 clients in 10 rooms for 5 s, 50 idle clients; a smoke test.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import resource
import secrets
import sys
import tempfile
import time
import traceback
from array import array
from typing import Any

__all__ = ["run"]

HOST = "127.0.0.1"  # loopback only
WORKERS = 4
JOIN_AT_ONCE = 32  # joins in flight per worker


def _raise_open_files(needed: int) -> None:
    # each client is one socket in its worker and one in the server: 1,000 clients need more descriptors than
    # a common soft limit (1,024) allows, so the soft limit is raised toward the hard one when it is short
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard)
        )


# -- the server's process ------------------------------------------------------------------------------------
def _server_main(secret: bytes, db: str, pipe: Any) -> None:
    _raise_open_files(8192)
    try:
        asyncio.run(_serve(secret, db, pipe))
    except Exception:
        pipe.send({"error": traceback.format_exc()})


async def _serve(secret: bytes, db: str, pipe: Any) -> None:
    from dataclasses import asdict

    from bridge.jam.server import JamServer
    from bridge.jam.store import RoomStore

    store = RoomStore(db)
    server = JamServer(secret, store, HOST, 0, tune_gc=True)  # as strum jam serve runs it
    await server.start()
    pipe.send({"port": server.port})
    done = asyncio.Event()

    def command() -> None:  # "metrics" or "stop", from the bench's process
        try:
            what = pipe.recv()
        except EOFError:
            what = "stop"
        if what == "metrics":
            pipe.send(asdict(server.metrics))
        else:
            done.set()

    loop = asyncio.get_running_loop()
    loop.add_reader(pipe.fileno(), command)
    await done.wait()
    loop.remove_reader(pipe.fileno())
    await server.stop()
    store.close()


# -- the clients' processes ----------------------------------------------------------------------------------
class _Tally:
    """What one client received: the room's seqs (each the last + 1?), each sender's op count (the tail of the
    op's id: each the sender's last + 1?) and the relay latency of the other members' ops, in ms."""

    def __init__(self, lat: array, out: array, t0: float) -> None:
        self.lat, self.out, self.t0 = lat, out, t0
        self.client: Any = None
        self.me = ""
        self.seq = self.got = self.gaps = self.disorder = 0
        self.last_k: dict[str, int] = {}

    def take(self, entries: list[dict[str, Any]]) -> None:
        now = time.time() - self.t0
        last_k = self.last_k
        for e in entries:
            if e["seq"] != self.seq + 1:
                self.gaps += 1
            self.seq = e["seq"]
            sender = e["client"]
            k = int(e["id"].rpartition("-")[2])
            if k != last_k.get(sender, 0) + 1:
                self.disorder += 1
            last_k[sender] = k
            if sender != self.me:
                self.lat.append((now - e["op"]["value"]) * 1000.0)
                self.out.append((now - (e["t"] - self.t0)) * 1000.0)  # from the server's log on
        self.got += len(entries)
        self.client.entries.clear()  # counted above: a minute of a busy room kept whole would not fit


def _clock_error_ms(c: Any) -> tuple[float, float]:
    """(applied offset - true offset, the estimate's target - true offset) in ms."""
    m1 = time.monotonic()
    wall = time.time()
    m2 = time.monotonic()
    local = (m1 + m2) / 2.0
    true_offset = wall - local
    applied = c.clock_estimate.server_time(local) - local
    return (applied - true_offset) * 1000.0, (c.clock_estimate.target - true_offset) * 1000.0


async def _keep_clocks(clients: list[Any]) -> None:
    # a player reads the server's time every block, and the applied offset slews toward its target only when
    # read: ten reads a second stand in for that
    while True:
        for c in clients:
            if c.clock_estimate.offset is not None:
                c.server_now()
        await asyncio.sleep(0.1)


async def _send_loop(c: Any, rate: float, start_at: float, stop_at: float, t0: float) -> int:
    path = f"bench/{c.room.name}"
    period = 1.0 / rate
    phase = random.uniform(0.0, period)
    n = 0
    while (due := start_at + phase + n * period) < stop_at:
        delay = due - (time.time() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        await c.send({"kind": "param", "path": path, "value": time.time() - t0})
        n += 1
    return n


def _worker_main(spec: dict[str, Any], pipe: Any) -> None:
    _raise_open_files(len(spec["clients"]) + 256)
    try:
        asyncio.run(_work(spec, pipe))
    except Exception:
        pipe.send({"error": traceback.format_exc()})


async def _work(spec: dict[str, Any], pipe: Any) -> None:
    from bridge.jam.client import JamClient

    loop = asyncio.get_running_loop()
    t0 = spec["t0"]
    lat, out = array("f"), array("f")
    members: list[tuple[str, Any, _Tally]] = []
    gate = asyncio.Semaphore(JOIN_AT_ONCE)

    async def join(room: str, name: str) -> None:
        tally = _Tally(lat, out, t0)
        c = JamClient(spec["url"], room, name, spec["tokens"][room], on_entries=tally.take)
        tally.client, tally.me = c, c.room.client
        async with gate:
            try:
                await c.start(timeout=60.0)
            except BaseException:
                await c.close()
                raise
        members.append((room, c, tally))

    joins = await asyncio.gather(*(join(r, n) for r, n in spec["clients"]), return_exceptions=True)
    failed = [repr(x) for x in joins if isinstance(x, BaseException)]
    pipe.send({"joined": len(members), "failed": failed[:3], "n_failed": len(failed)})

    go = await loop.run_in_executor(None, pipe.recv)
    clients = [c for _, c, _ in members]
    keeper = asyncio.create_task(_keep_clocks(clients))
    if spec["rate"] > 0:
        counts = await asyncio.gather(
            *(_send_loop(c, spec["rate"], go["start_at"], go["stop_at"], t0) for c in clients)
        )
    else:
        await asyncio.sleep(max(0.0, go["stop_at"] - (time.time() - t0)))
        counts = [0] * len(clients)
    clock = [_clock_error_ms(c) for c in clients]
    pipe.send(
        {
            "sent": {c.room.client: n for c, n in zip(clients, counts, strict=True)},
            "rooms": {c.room.client: room for room, c, _ in members},
        }
    )

    expect = await loop.run_in_executor(None, pipe.recv)  # room -> its last seq

    async def drained(room: str, c: Any) -> bool:
        try:
            await c.wait_seq(expect[room], timeout=spec["drain_s"])
            return True
        except TimeoutError:
            return False

    ok = await asyncio.gather(*(drained(room, c) for room, c, _ in members))
    keeper.cancel()
    report = [
        {"room": room, "seq": t.seq, "got": t.got, "gaps": t.gaps, "disorder": t.disorder,
         "last_k": t.last_k, "drained": d, "connects": c.connects, "errors": len(c.errors)}
        for (room, c, t), d in zip(members, ok, strict=True)
    ]  # fmt: skip
    pipe.send({"report": report, "lat": lat.tobytes(), "out": out.tobytes(), "clock": clock})
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


# -- the bench's process -------------------------------------------------------------------------------------
def _recv(pipe: Any, proc: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not pipe.poll(0.2):
        if not proc.is_alive():
            raise RuntimeError(f"{what}: process {proc.pid} exited with {proc.exitcode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: nothing from process {proc.pid} within {timeout:g} s")
    msg = pipe.recv()
    if isinstance(msg, dict) and "error" in msg:
        raise RuntimeError(f"{what}: {msg['error'].strip().splitlines()[-1]}")
    return msg


def _cpu_s(procs: list[Any]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def _phase(label: str, clients: list[tuple[str, str]], rate: float, seconds: float) -> dict[str, Any]:
    """Serve ``clients`` ((room, name) each), let each send ``rate`` ops a second for ``seconds``, and gather
    what every client received."""
    import numpy as np
    import psutil

    from bridge.jam.tokens import make_token

    ctx = mp.get_context("spawn")
    secret = secrets.token_bytes(32)
    t0 = float(int(time.time()))
    procs: list[Any] = []
    rooms = sorted({r for r, _ in clients})
    with tempfile.TemporaryDirectory() as tmp:
        srv_pipe, child = ctx.Pipe()
        server = ctx.Process(
            target=_server_main, args=(secret, os.path.join(tmp, "rooms.db"), child), daemon=True
        )
        server.start()
        procs.append(server)
        try:
            port = _recv(srv_pipe, server, 60, "server start")["port"]
            srv = psutil.Process(server.pid)
            time.sleep(0.5)
            rss_idle = srv.memory_info().rss
            tokens = {r: make_token(secret, r, "player", 3600) for r in rooms}
            workers = []
            for w in range(WORKERS):
                spec = {"url": f"ws://{HOST}:{port}", "clients": clients[w::WORKERS], "tokens": tokens,
                        "rate": rate, "t0": t0, "drain_s": 60.0}  # fmt: skip
                a, b = ctx.Pipe()
                p = ctx.Process(target=_worker_main, args=(spec, b), daemon=True)
                p.start()
                procs.append(p)
                workers.append((a, p))
            t_join = time.monotonic()
            joined = [_recv(a, p, 300, "join") for a, p in workers]
            n_failed = sum(j["n_failed"] for j in joined)
            if n_failed:
                first = next(f for j in joined for f in j["failed"])
                raise RuntimeError(f"{n_failed} of {len(clients)} clients could not join: {first}")
            join_s = time.monotonic() - t_join
            print(f"  .. {label}: {len(clients)} joined in {join_s:.1f} s", file=sys.stderr, flush=True)

            start_at = time.time() - t0 + 1.0
            stop_at = start_at + seconds
            for a, _ in workers:
                a.send({"start_at": start_at, "stop_at": stop_at})
            while time.time() - t0 < start_at:
                time.sleep(0.005)
            wps = [psutil.Process(p.pid) for _, p in workers]
            cpu0, wcpu0, w0 = _cpu_s([srv]), _cpu_s(wps), time.monotonic()
            psutil.cpu_times_percent(None)
            peak = srv.memory_info().rss
            while (left := stop_at - (time.time() - t0)) > 0:
                time.sleep(min(0.5, left))
                peak = max(peak, srv.memory_info().rss)
            wall = time.monotonic() - w0
            server_cpu = (_cpu_s([srv]) - cpu0) / wall * 100.0
            clients_cpu = (_cpu_s(wps) - wcpu0) / wall * 100.0
            machine = psutil.cpu_times_percent(None)
            busy = 100.0 - machine.idle - getattr(machine, "iowait", 0.0)
            steal = getattr(machine, "steal", 0.0)
            rss_end = srv.memory_info().rss

            sent: dict[str, int] = {}
            room_of: dict[str, str] = {}
            for a, p in workers:
                m = _recv(a, p, 120, "sent")
                sent.update(m["sent"])
                room_of.update(m["rooms"])
            expect = dict.fromkeys(rooms, 0)
            senders: dict[str, list[str]] = {r: [] for r in rooms}
            for cid, n in sent.items():
                expect[room_of[cid]] += n
                senders[room_of[cid]].append(cid)
            for a, _ in workers:
                a.send(expect)
            reports = [_recv(a, p, 180, "report") for a, p in workers]
            srv_pipe.send("metrics")
            metrics = _recv(srv_pipe, server, 60, "metrics")
            for _, p in workers:
                p.join(60)
            srv_pipe.send("stop")
            server.join(60)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join(5)

    delivered = expected = gaps = disorder = short = reconnects = stuck = errors = 0
    for rep in reports:
        for r in rep["report"]:
            expected += expect[r["room"]]
            delivered += r["got"]
            gaps += r["gaps"]
            disorder += r["disorder"]
            short += sum(r["last_k"].get(cid, 0) != sent[cid] for cid in senders[r["room"]])
            reconnects += r["connects"] - 1
            stuck += not r["drained"] or r["seq"] != expect[r["room"]]
            errors += r["errors"]
    lat, out = (
        np.concatenate([np.frombuffer(rep[k], dtype=np.float32) for rep in reports]).astype(float)
        for k in ("lat", "out")
    )
    clock = np.array([e for rep in reports for e in rep["clock"]], dtype=float).reshape(-1, 2)
    ticks = max(1, metrics["ticks"])
    return {
        "clients": len(clients), "rooms": len(rooms), "rate": rate, "seconds": seconds, "join_s": join_s,
        "sent": sum(sent.values()), "delivered": delivered, "expected": expected, "gaps": gaps,
        "disorder": disorder, "short_pairs": short, "reconnects": reconnects, "stuck": stuck,
        "client_errors": errors, "dropped": metrics["dropped"], "server_errors": metrics["errors"],
        "ok": delivered == expected and not (gaps or disorder or short or stuck or metrics["dropped"]),
        "lat_ms": lat, "out_ms": out, "clock_ms": clock[:, 0], "clock_target_ms": clock[:, 1],
        "server_cpu": server_cpu, "clients_cpu": clients_cpu, "busy": busy, "steal": steal,
        "rss_idle": rss_idle, "rss_end": rss_end, "rss_peak": peak,
        "fanout_ms": metrics["fanout_seconds"] / ticks * 1000.0,
    }  # fmt: skip


# -- the table -----------------------------------------------------------------------------------------------
def _row(name: str, value: float, unit: str, note: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": float(value), "unit": unit, "note": note, "ratio": False, **extra}


def _pct(x: Any, q: float) -> float:
    import numpy as np

    return float(np.percentile(x, q)) if len(x) else float("nan")


def _load_rows(label: str, r: dict[str, Any], with_max: bool) -> list[dict[str, Any]]:
    drops = ", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "none"
    verdict = "nothing lost" if r["ok"] else "LOST OR DISORDERED OPS"
    lat, out = r["lat_ms"], r["out_ms"]
    p99 = _pct(lat, 99)
    rows = [
        _row(f"{label}: delivered", 100.0 * r["delivered"] / max(1, r["expected"]), "%",
             f"{r['delivered']} of {r['expected']} ({r['sent']} ops sent, {r['rate']:g}/s each for "
             f"{r['seconds']:g} s); {r['gaps']} seq gaps, {r['disorder']} out of order, {r['short_pairs']} "
             f"sender->receiver pairs short, {r['stuck']} clients behind, {r['reconnects']} reconnects, "
             f"server drops {drops}: {verdict}",
             **{k: r[k] for k in ("ok", "delivered", "expected", "gaps", "disorder", "short_pairs", "stuck",
                                  "reconnects", "dropped")}),
        _row(f"{label}: relay p50", _pct(lat, 50), "ms", f"{len(lat)} deliveries, one clock"),
        _row(f"{label}: relay p99", p99, "ms",
             f"goal < 50 ms: {'met' if p99 < 50 else 'MISSED'}; sender to server's log p50/p99 "
             f"{_pct(lat - out, 50):.1f}/{_pct(lat - out, 99):.1f} ms, log to receiver (batched every 25 ms) "
             f"{_pct(out, 50):.1f}/{_pct(out, 99):.1f} ms"),
    ]  # fmt: skip
    if with_max:
        rows.append(_row(f"{label}: relay max", float(lat.max()) if len(lat) else float("nan"), "ms", ""))
    rows.append(
        _row(f"{label}: server CPU", r["server_cpu"], "% core",
             f"clients {r['clients_cpu']:.0f}% over {WORKERS} processes; machine {r['busy']:.0f}% busy of "
             f"{os.cpu_count()} cores, {r['steal']:.1f}% stolen by the host; fan-out {r['fanout_ms']:.2f} ms "
             "per 25-ms tick")
    )  # fmt: skip
    rows.append(
        _row(f"{label}: server RSS", r["rss_end"] / 2**20, "MiB",
             f"peak {r['rss_peak'] / 2**20:.1f} MiB, before joins {r['rss_idle'] / 2**20:.1f} MiB; joined "
             f"in {r['join_s']:.1f} s")
    )  # fmt: skip
    return rows


def _clock_row(label: str, r: dict[str, Any], goal: bool) -> dict[str, Any]:
    err = abs(r["clock_ms"])
    slewing = int((abs(r["clock_ms"] - r["clock_target_ms"]) > 1.0).sum())
    p99 = _pct(err, 99)
    note = (f"|error| p50 {_pct(err, 50):.3f}, max {float(err.max()):.3f} ms over {len(err)} clients; "
            f"target's p99 {_pct(abs(r['clock_target_ms']), 99):.3f} ms, {slewing} clients' applied offset "
            "still > 1 ms from its target (it slews 0.5 ms/s from the first ping's)")  # fmt: skip
    if goal:
        note += f"; goal p99 < 1 ms: {'met' if p99 < 1.0 else 'MISSED'}"
    return _row(label, p99, "ms", note)


def run(quick: bool = False) -> list[dict[str, Any]]:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return [_row("jam server", 0, "", "not run: psutil is not installed (pip install psutil)")]
    n1, s1 = (20, 5.0) if quick else (100, 60.0)
    n_rooms, s2 = (10, 5.0) if quick else (250, 30.0)
    n_idle, settle = (50, 3.0) if quick else (500, 15.0)
    rows: list[dict[str, Any]] = []
    clock_rows: list[dict[str, Any]] = []
    plans = [
        (f"room of {n1}", [("stage", f"p{i:03d}") for i in range(n1)], 20.0, s1, True),
        (f"{n_rooms} rooms of 4", [(f"r{k:03d}", f"p{j}") for k in range(n_rooms) for j in range(4)], 2.0, s2,
         False),
    ]  # fmt: skip
    for label, clients, rate, seconds, with_max in plans:
        try:
            r = _phase(label, clients, rate, seconds)
        except Exception as exc:
            rows.append(_row(f"{label}: delivered", 0, "", f"not run: {exc}", ok=False))
            continue
        rows += _load_rows(label, r, with_max)
        clock_rows.append(_clock_row(f"clock err p99 ({label})", r, goal=False))
    idle = [(f"i{k // 4:03d}", f"p{k % 4}") for k in range(n_idle)]
    try:
        r = _phase(f"{n_idle} idle", idle, 0.0, settle)
    except Exception as exc:
        return [*rows, *clock_rows, _row(f"{n_idle} idle clients", 0, "", f"not run: {exc}")]
    rows.append(_clock_row(f"clock err p99 ({n_idle} idle)", r, goal=True))
    rows += clock_rows
    per_kib = (r["rss_end"] - r["rss_idle"]) / n_idle / 1024
    rows += [
        _row("server RSS, no clients", r["rss_idle"] / 2**20, "MiB", "fresh server, store open"),
        _row(f"server RSS, {n_idle} idle", r["rss_end"] / 2**20, "MiB",
             f"rooms of 4, pinging each second, {settle:g} s after joining"),
        _row("server mem per idle client", per_kib, "KiB", "(RSS_N - RSS_0) / N, the rooms included"),
    ]  # fmt: skip
    return rows
