"""A live engine in a jam room, on the JACK server: the room's notes play on their beats, and what its
controller plays (notes from another process through JACK MIDI) reaches the room on the timeline."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.live_latency import onsets, sine_synth
from bridge.jam.client import JamClient
from bridge.jam.live import JamLive, arm_all
from bridge.jam.server import JamServer
from bridge.jam.tokens import make_token
from engine.live import LiveEngine, choose_device
from engine.live_input import LiveMidi
from engine.midi_io import MidiInput
from engine.session import Session, TrackSpec
from tests.live.jack_helpers import engine_output, finish_capture, run_sender, start_capture

SECRET = b"jam-live-secret-0123456789"
BPM = 100.0


def test_a_live_engine_plays_the_room_and_sends_its_controller(jack_server, tmp_path: Path) -> None:
    sr = jack_server["rate"]
    dev = choose_device("jack")
    session = Session(tracks=[TrackSpec("keys", sine_synth()), TrackSpec("bass", sine_synth())])
    live = LiveMidi(dev.sample_rate)
    channels = arm_all(session, "keys")
    built = session.build(dev.sample_rate, dev.blocksize, live=live, live_tracks=dict(channels))
    name = f"strum-j{os.getpid()}"
    live.set_inputs([MidiInput("virtual:midi_in", api="jack", client_name=name)])
    le = LiveEngine(built.engine, dev, live=live, client_name=name)
    controller = [[0.25 * k, 0x90, 72 + k, 100] for k in range(4)] + [
        [0.25 * k + 0.1, 0x80, 72 + k, 0] for k in range(4)
    ]
    controller.sort()

    async def main():
        srv = JamServer(SECRET)
        await srv.start()
        url = f"ws://127.0.0.1:{srv.port}"
        host = JamClient(url, "r", "host", make_token(SECRET, "r", "host", 600))
        player = JamClient(url, "r", "player", make_token(SECRET, "r", "player", 600))
        await host.start()
        await player.start()
        jam = JamLive(le, session, built, channels, player, "keys")
        le.start()
        jam.start()
        forward = asyncio.create_task(jam.forward())
        try:
            await host.send({"kind": "transport", "action": "tempo", "bpm": BPM})
            await host.send({"kind": "transport", "action": "play"})
            await host.wait_acked()
            await player.wait_seq(host.room.seq)
            await asyncio.sleep(0.5)
            cap, cap_out = await asyncio.to_thread(start_capture, tmp_path, 12.0, [engine_output()])
            # the controller first, then the room's bass line, so that their onsets never interleave
            sender = run_sender(tmp_path, f"{name}:midi_in", controller, jack_server["env"])
            await asyncio.to_thread(sender.wait, 30)
            await asyncio.sleep(0.3)
            first = int(host.beat_now()) + 3
            for k in range(8):  # the bass line of the others: one note a beat, well ahead of time
                op = {
                    "kind": "note",
                    "track": "bass",
                    "beat": float(first + k),
                    "pitch": 50 + k,
                    "velocity": 100,
                }
                await host.send({**op, "length": 0.1})
            await host.wait_acked()
            await asyncio.sleep((first + 8 - host.beat_now()) * 60.0 / BPM + 0.3)
            await host.wait_seq(player.room.seq)
            rec = await asyncio.to_thread(finish_capture, cap, cap_out)
        finally:
            forward.cancel()
            jam.stop()
            le.stop()
            for i in live.inputs:
                i.close()
            await host.close()
            await player.close()
            await srv.stop()
        return host, jam, rec, sender

    host, jam, rec, sender = asyncio.run(asyncio.wait_for(main(), 90))
    assert sender.returncode == 0
    # the room's bass notes: one a beat, on the beat to the millisecond
    audio = rec["audio"][0]
    beat_s = 60.0 / BPM
    found = onsets(audio, threshold=0.05, quiet=int(0.2 * sr))
    bass = [f for f in found]  # the controller's notes sound first: keep the onsets spaced by whole beats
    spacing = np.diff(np.array(bass, dtype=np.float64)) / sr
    whole = [
        s for s in spacing if abs(s / beat_s - round(s / beat_s)) * beat_s < 0.002 and round(s / beat_s) >= 1
    ]
    assert len(whole) >= 6, spacing
    assert all(abs(s - round(s / beat_s) * beat_s) < 0.001 for s in whole), whole
    assert jam.scheduled >= 8
    # the controller's notes reached the room as note_on/note_off on the keys track, spaced as played
    ons = [e["op"] for e in host.entries if e["op"]["kind"] == "note_on"]
    offs = [e["op"] for e in host.entries if e["op"]["kind"] == "note_off"]
    assert [o["pitch"] for o in ons] == [72, 73, 74, 75] and len(offs) == 4
    assert all(o["track"] == "keys" for o in ons)
    sent = json.loads(sender.sent_file.read_text())["monotonic"]
    sent_on = [t for t, m in zip(sent, controller, strict=True) if m[1] == 0x90]
    beats = np.array([o["beat"] for o in ons])
    sent_beats = (np.array(sent_on) - sent_on[0]) * BPM / 60.0
    error_ms = ((beats - beats[0]) - sent_beats) * beat_s * 1000.0
    assert np.all(np.abs(error_ms) < 3.0), error_ms  # a JACK period of quantisation at most


def test_strum_jam_join_live_plays_the_room(jack_server, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    secret = tmp_path / "secret"
    secret.write_text(SECRET.decode())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "jam", "serve", "--port", str(port),
         "--db", str(tmp_path / "r.db"), "--secret-file", str(secret)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
    )  # fmt: skip
    try:
        assert serve.stdout is not None and "serving" in serve.stdout.readline()
        tok = make_token(SECRET, "r", "player", 600)
        join = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "jam", "join", f"ws://127.0.0.1:{port}/r", "--name", "live",
             "--token", tok, "--live", "--seconds", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
            env=dict(jack_server["env"], STRUM_CLIENT_NAME=f"strum-jl{os.getpid()}"),
        )  # fmt: skip

        async def play():
            host = JamClient(f"ws://127.0.0.1:{port}", "r", "host", make_token(SECRET, "r", "host", 600))
            await host.start()
            deadline = time.monotonic() + 20
            while len(host.room.members) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await host.send({"kind": "transport", "action": "play"})
            await asyncio.sleep(0.5)
            beat = int(host.beat_now()) + 2
            for k in range(3):
                op = {"kind": "note", "track": "keys", "beat": float(beat + k), "pitch": 60, "velocity": 100}
                await host.send({**op, "length": 0.25})
            await host.wait_acked()
            await host.close()

        asyncio.run(asyncio.wait_for(play(), 60))
        _, err = join.communicate(timeout=60)
        assert join.returncode == 0, err
        assert "3 notes from the room played" in err, err
    finally:
        serve.terminate()
        serve.wait(10)
