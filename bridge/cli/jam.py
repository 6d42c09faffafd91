"""``strum jam``: serve jam rooms, make room tokens, and join a room with an engine.

    strum jam serve [--host 127.0.0.1] [--port 8765] [--db rooms.db] [--secret-file FILE] [--redis URL]
                    [--cert C --key K]
    strum jam token ROOM [--role host|player|listener] [--hours H] [--secret-file FILE]
    strum jam join ws://HOST:PORT/ROOM --name NAME --token T [--song SONG] [--seconds S] [-o OUT.wav]

``join`` takes part headless: it follows the room for ``--seconds``, then renders what the room played
(the notes at their beats, the room's clips, tempo and parameter values) over ``--song`` (or a default
band) to ``-o``. The secret (``--secret-file``, default ``~/.config/strumspace/jam-secret``, made on first
use) signs the tokens; a server and the tokens it takes must share it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from bridge.cli import CliError

__all__ = ["add_arguments", "run"]

DEFAULT_SECRET = (
    Path(os.environ.get("STRUM_CONFIG_DIR", Path.home() / ".config" / "strumspace")) / "jam-secret"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="jam_command", metavar="ACTION", required=True)
    s = sub.add_parser("serve", help="serve jam rooms over WebSocket")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--db", default="jam-rooms.db", help="SQLite file of the rooms (default jam-rooms.db)")
    s.add_argument("--secret-file", default=str(DEFAULT_SECRET))
    s.add_argument(
        "--redis", metavar="URL", help="share rooms with other servers through this Redis (redis://host:port)"
    )
    s.add_argument(
        "--claim-ttl",
        type=float,
        default=10.0,
        metavar="S",
        help="with --redis: seconds a room's claim outlives its server (default 10)",
    )
    s.add_argument("--cert", help="TLS certificate (PEM): serve wss://")
    s.add_argument("--key", help="TLS private key (PEM)")
    t = sub.add_parser("token", help="make a signed token for a room and role")
    t.add_argument("room")
    t.add_argument("--role", default="player", choices=("host", "player", "listener"))
    t.add_argument("--hours", type=float, default=24 * 7)
    t.add_argument("--secret-file", default=str(DEFAULT_SECRET))
    j = sub.add_parser("join", help="take part in a room (headless: record, then render)")
    j.add_argument("url", metavar="URL/ROOM")
    j.add_argument("--name", required=True)
    j.add_argument("--token", required=True)
    j.add_argument("--song", help="the song whose tracks play the room's notes")
    j.add_argument("--seconds", type=float, default=30.0)
    j.add_argument("-o", "--output", help="render what the room played to this WAV")
    j.add_argument("--live", action="store_true", help="play the room live through the audio device")
    j.add_argument("--device", help="audio output for --live (default: JACK, if on)")
    j.add_argument(
        "--midi-in",
        action="append",
        metavar="PORT",
        help="controller for --live (default: a port of our own, strum:midi_in); it plays --arm on channel 1",
    )
    j.add_argument("--arm", metavar="TRACK", help="the track your controller plays (default: the first)")


def _secret(path: str, create: bool) -> bytes:
    p = Path(path)
    if not p.exists():
        if not create:
            raise CliError(f"no secret at {p}: start the server once (it makes one) or give --secret-file", 2)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(secrets.token_hex(32))
        p.chmod(0o600)
    data = p.read_text().strip().encode()
    if len(data) < 16:
        raise CliError(f"the secret in {p} is too short (at least 16 characters)", 2)
    return data


def run(args: argparse.Namespace) -> int:
    if args.jam_command == "token":
        from bridge.jam.tokens import make_token

        print(make_token(_secret(args.secret_file, create=True), args.room, args.role, args.hours * 3600))
        return 0
    if args.jam_command == "serve":
        return _serve(args)
    return _join(args)


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import ssl

    from bridge.jam.server import JamServer
    from bridge.jam.store import RoomStore

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be in 0..65535, got {args.port}", 2)
    context = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise CliError("TLS needs both --cert and --key", 2)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot load the certificate: {exc}", 2) from None
    try:
        store = RoomStore(args.db)
    except Exception as exc:
        raise CliError(f"cannot open the room store {args.db}: {exc}", 2) from None
    if args.redis is not None and not args.redis.startswith(("redis://", "rediss://", "unix://")):
        raise CliError(f"--redis takes redis://HOST:PORT, got {args.redis!r}", 2)
    server = JamServer(
        _secret(args.secret_file, create=True),
        store,
        args.host,
        args.port,
        ssl=context,
        redis_url=args.redis,
        claim_ttl_s=args.claim_ttl,
        tune_gc=True,
    )

    async def main() -> None:
        await server.start()
        scheme = "wss" if context else "ws"
        print(f"strum jam: serving {scheme}://{args.host}:{server.port}/ROOM (metrics: /metrics)", flush=True)
        await asyncio.Future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc}", 1) from None
    except Exception as exc:  # Redis unreachable, and the like
        raise CliError(f"cannot serve: {type(exc).__name__}: {exc}", 1) from None
    finally:
        store.close()
    return 0


def _run(coro: Any, url: str) -> Any:
    """Run a client's coroutine to its end; a refused join or an unreachable server is a CliError."""
    import asyncio

    from bridge.jam.client import JoinError

    try:
        return asyncio.run(coro)
    except JoinError as exc:
        raise CliError(f"the room refused the join: {exc}", 2) from None
    except (OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach {url}: {exc}", 1) from None


def _join(args: argparse.Namespace) -> int:
    import asyncio

    from bridge.jam.client import JamClient

    url, _, room = args.url.rstrip("/").rpartition("/")
    if not url.startswith(("ws://", "wss://")) or not room:
        raise CliError(f"expected ws://HOST:PORT/ROOM, got {args.url!r}", 2)
    if not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds}", 2)

    if args.live:
        return _join_live(args, url, room)

    async def main() -> JamClient:
        client = JamClient(url, room, args.name, args.token)
        await client.start()
        print(
            f"strum jam: joined {room} as {client.room.me.get('role')}, op {client.room.seq}", file=sys.stderr
        )
        await asyncio.sleep(args.seconds)
        await client.close()
        return client

    client = _run(main(), url)
    notes = sum(1 for e in client.entries if e["op"]["kind"] in ("note", "note_on"))
    print(f"strum jam: {len(client.entries)} ops ({notes} notes) from the room", file=sys.stderr)
    if args.output:
        _render(args, client)
    return 0


def _session(args: argparse.Namespace, tracks: set[str]):
    from engine.session import Session, TrackSpec
    from instruments.synth_presets import load_synth_preset

    if args.song:
        from presets.errors import SongFileError
        from presets.song import load_song

        try:
            return load_song(args.song)
        except SongFileError as exc:
            raise CliError(str(exc), 2) from None
    return Session(tracks=[TrackSpec(t, load_synth_preset("keys")) for t in sorted(tracks or {"keys"})])


def _join_live(args: argparse.Namespace, url: str, room: str) -> int:
    import asyncio

    from bridge.jam.client import JamClient
    from bridge.jam.live import JamLive, arm_all
    from engine.errors import SessionError
    from engine.live import AudioDeviceError, LiveEngine, choose_device
    from engine.live_input import LiveMidi
    from engine.midi_io import MidiInput, MidiPortError

    session = _session(args, set())
    arm = args.arm or (session.tracks[0].name if session.tracks else None)
    if arm is None or arm not in {t.name for t in session.tracks}:
        raise CliError(f"no track {arm!r} to play from the controller", 2)
    try:
        dev = choose_device(args.device)
        live = LiveMidi(dev.sample_rate)
        channels = arm_all(session, arm)
        built = session.build(dev.sample_rate, dev.blocksize, live=live, live_tracks=dict(channels))
        client_name = os.environ.get("STRUM_CLIENT_NAME", "strum")
        live.set_inputs([MidiInput(p, "auto", client_name) for p in (args.midi_in or ["virtual:midi_in"])])
        le = LiveEngine(built.engine, dev, live=live, client_name=client_name)
    except (AudioDeviceError, MidiPortError, SessionError) as exc:
        raise CliError(str(exc), 2) from None

    async def main() -> JamLive:
        client = JamClient(url, room, args.name, args.token)
        jam = JamLive(le, session, built, channels, client, arm)
        await client.start()
        le.start()
        jam.start()
        print(
            f"strum jam: playing {room} live on {dev.name} as {client.room.me.get('role')}", file=sys.stderr
        )
        forward = asyncio.create_task(jam.forward())
        try:
            await asyncio.sleep(args.seconds)
        finally:
            forward.cancel()
            jam.stop()
            le.stop()
            await client.close()
        return jam

    jam = _run(main(), url)
    stats = le.stats()
    print(f"strum jam: {jam.scheduled} notes from the room played, {jam.sent} sent; {stats.callbacks} blocks,"
          f" {stats.xruns} xruns", file=sys.stderr)  # fmt: skip
    return 0


def _render(args: argparse.Namespace, client) -> None:
    from bridge.jam.player import apply_params, apply_room
    from engine.render import WavSink, render

    tracks = {e["op"]["track"] for e in client.entries if e["op"]["kind"] in ("note", "note_on")}
    session = _session(args, tracks)
    missing = apply_room(session, client.room.state, client.entries, client.room.me.get("name"))
    if missing:
        print(f"strum jam: no track for {', '.join(missing)} in the song: left out", file=sys.stderr)
    built = session.build(48000, 8192)
    for problem in apply_params(session, built, client.room.state):
        print(f"strum jam: {problem}", file=sys.stderr)
    sink = WavSink(args.output, 48000, 2)
    try:
        render(built.engine, built.end_sample, sink)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    print(f"strum jam: wrote {args.output}", file=sys.stderr)
