"""The OSC server over real sockets on 127.0.0.1, driven by a python-osc client in another process.

The engine here runs blocks on a thread of this process at about real time (no audio device needed: the
address space acts on the engine, not on the device); `tests/live/test_live_osc.py` does the same against
the live engine on a JACK server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.osc.control import OscControl, osc_address_of
from bridge.osc.server import OscServer
from engine.live_input import LiveMidi
from engine.sequencer import compile_events
from engine.tempo import TempoMap
from presets.song import load_song

ROOT = Path(__file__).resolve().parents[2]
SONG = ROOT / "examples" / "songs" / "demo.yaml"
SR = 48000
BLOCK = 256


class PeerProcess:
    """The client process (tests/bridge/osc_peer.py) and its JSON-lines protocol."""

    def __init__(self, udp: int, tcp: int | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("osc_peer.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        ready = json.loads(self._line())
        self.port = ready["port"]
        self.call(op="connect", udp=udp, tcp=tcp)

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the OSC client process ended")
        return line

    def call(self, **cmd) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def send(self, address: str, *args, proto: str = "udp") -> None:
        self.call(op="send", proto=proto, address=address, args=list(args))

    def collect(self, seconds: float = 0.25) -> list[list]:
        return self.call(op="collect", seconds=seconds)["received"]

    def ask(self, address: str, *args, proto: str = "udp", seconds: float = 0.25) -> list[list]:
        """Send, then what came back on any address."""
        self.collect(0.0)
        self.send(address, *args, proto=proto)
        return self.collect(seconds)

    def close(self) -> None:
        try:
            self.call(op="quit")
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait(5)


def answers(got: list[list], address: str) -> list[list]:
    return [g[2] for g in got if g[1] == address]


class Rig:
    """A built demo song, its engine run on a thread, an OSC server and a client process."""

    def __init__(self) -> None:
        self.session = load_song(SONG)
        self.live = LiveMidi(SR)
        self.built = self.session.build(SR, BLOCK, live=self.live, live_tracks={"lead": None})
        self.engine = self.built.engine
        self.blocks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, daemon=True)
        self._thread.start()
        self.control = OscControl(self.session, self.built, live_midi=self.live, armed={"lead": None})
        self.server = OscServer(self.control)
        self.server.start()
        assert self.server.tcp_port is not None and self.server.udp_port is not None
        self.peer = PeerProcess(self.server.udp_port, self.server.tcp_port)

    def _drive(self) -> None:
        period = BLOCK / SR
        t = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self.live.collect(now, now, BLOCK)
            self.engine.process_block(BLOCK)
            self.blocks += 1
            t += period
            time.sleep(max(0.0, t - time.monotonic()))

    def wait_blocks(self, n: int = 4) -> None:
        target = self.blocks + n
        deadline = time.monotonic() + 5
        while self.blocks < target and time.monotonic() < deadline:
            time.sleep(0.002)

    def close(self) -> None:
        self.peer.close()
        self.server.stop()
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def test_queries_list_the_session(rig: Rig) -> None:
    got = rig.peer.ask("/tracks")
    assert answers(got, "/tracks") == [["pad", "bass", "drums", "lead", "room", "master"]]
    got = rig.peer.ask("/sections")
    assert answers(got, "/sections") == [[s.name for s in rig.session.sections]]
    got = rig.peer.ask("/params")
    assert "bass/instrument/cutoff_hz" in answers(got, "/params")[0]
    assert answers(rig.peer.ask("/ping", 7), "/pong") == [[7]]
    got = rig.peer.ask("/track/bass/devices")
    assert answers(got, "/track/bass/devices") == [
        ["instrument"] + [f"fx{k}" for k in range(len(rig.session.tracks[1].inserts))]
    ]
    got = rig.peer.ask("/track/1/device/0/params")
    assert "cutoff_hz" in answers(got, "/track/1/device/0/params")[0]
    got = rig.peer.ask("/track/bass/device/instrument/param/cutoff_hz/info")
    lo, hi, default, unit = answers(got, "/track/bass/device/instrument/param/cutoff_hz/info")[0]
    p = rig.session.tracks[1].instrument.param("cutoff_hz")
    assert (lo, hi, unit) == (pytest.approx(p.min_value), pytest.approx(p.max_value), "Hz")
    assert default == pytest.approx(p.default)


def test_every_strip_address_sets_queries_and_feeds_back(rig: Rig) -> None:
    peer = rig.peer
    got = peer.ask("/subscribe", 0, 50.0)
    assert answers(got, "/subscribed") == [[50.0, 0]]
    peer.collect(0.1)  # the first feedback is every value: drop it
    strips = rig.built.strips
    cases = [
        ("/track/0/volume", -6.5, "pad/volume_db", strips["pad"].volume_db),
        ("/track/bass/volume", -3.0, "bass/volume_db", strips["bass"].volume_db),
        ("/track/1/pan", -0.5, "bass/pan", strips["bass"].pan),
        ("/track/master/volume", -2.5, "master/volume_db", strips["master"].volume_db),
        ("/track/room/pan", 0.25, "room/pan", strips["room"].pan),
        ("/track/pad/send/room", -9.0, "pad/send/room", rig.control.ref("pad/send/room").param),
        ("/track/pad/send/0", -12.0, "pad/send/room", rig.control.ref("pad/send/room").param),
        ("/track/bass/device/instrument/param/cutoff_hz", 800.0, "bass/instrument/cutoff_hz",
         rig.session.tracks[1].instrument.param("cutoff_hz")),
        ("/track/1/device/0/param/resonance", 0.4, "bass/instrument/resonance",
         rig.session.tracks[1].instrument.param("resonance")),
    ]  # fmt: skip
    for address, value, path, param in cases:
        got = peer.ask(address, value)
        assert param.value == pytest.approx(value), address
        fb = answers(got, osc_address_of(path))
        assert fb and fb[-1][0] == pytest.approx(value, abs=1e-4), f"no feedback for {address}: {got}"
        got = peer.ask(address)
        assert answers(got, address) == [[pytest.approx(value, abs=1e-4)]], address


def test_mute_and_solo_switch_the_strips(rig: Rig) -> None:
    peer = rig.peer
    strips = rig.built.strips
    peer.ask("/subscribe", 0, 50.0)
    got = peer.ask("/track/drums/mute", 1)
    assert strips["drums"].mute.value == 1.0 and strips["drums"].gate.value == 0.0
    assert answers(got, "/track/drums/mute") == [[1]]
    peer.ask("/track/drums/mute", False)
    assert strips["drums"].gate.value == 1.0
    got = peer.ask("/track/3/solo", True)
    assert strips["lead"].solo.value == 1.0
    assert strips["pad"].gate.value == 0.0 and strips["lead"].gate.value == 1.0
    assert strips["room"].gate.value == 1.0  # a bus stays open
    assert answers(got, "/track/lead/solo") == [[1]]
    assert answers(peer.ask("/track/3/solo"), "/track/3/solo") == [[1]]
    peer.ask("/track/3/solo", 0)
    assert strips["pad"].gate.value == 1.0


def test_transport_addresses(rig: Rig) -> None:
    peer = rig.peer
    tr = rig.engine.transport
    peer.ask("/subscribe", 0, 50.0)
    got = peer.ask("/transport/play")
    rig.wait_blocks()
    assert tr.playing
    assert [1] in answers(got + peer.collect(0.1), "/transport/state")
    assert answers(peer.ask("/transport/state"), "/transport/state") == [[1]]
    peer.ask("/transport/locate", 32.0)
    rig.wait_blocks()
    beat = answers(peer.ask("/transport/locate"), "/transport/locate")[0][0]
    assert 32.0 <= beat < 33.0
    peer.ask("/transport/locate_bar", 5)
    rig.wait_blocks()
    position = answers(peer.ask("/transport/position"), "/transport/position")[0]
    assert position[1] == 5 and 16.0 <= position[0] < 17.0 and position[3].startswith("5.")
    got = peer.ask("/transport/stop")
    rig.wait_blocks()
    assert not tr.playing
    assert [0] in answers(got + peer.collect(0.1), "/transport/state")
    # tempo: the song goes on from the same beat at the new tempo
    peer.ask("/transport/locate", 8.0)
    rig.wait_blocks()
    peer.ask("/transport/tempo", 90.0)
    rig.wait_blocks()
    assert answers(peer.ask("/transport/tempo"), "/transport/tempo") == [[pytest.approx(90.0)]]
    assert tr.position == round(8.0 * 60 / 90 * SR)
    at_90 = compile_events(rig.session.tracks[1].clips, TempoMap(bpm=90.0), SR)
    assert np.array_equal(rig.built.sequencers["bass"].table.sample, at_90.sample)
    # loop: set, query, switch off and on
    peer.ask("/transport/loop", 4.0, 12.0)
    rig.wait_blocks()
    assert (
        tr.loop_enabled
        and tr.loop_start == round(4 * 60 / 90 * SR)
        and tr.loop_end == round(12 * 60 / 90 * SR)
    )
    assert answers(peer.ask("/transport/loop"), "/transport/loop") == [[4.0, 12.0, 1]]
    peer.ask("/transport/loop", 0)
    rig.wait_blocks()
    assert not tr.loop_enabled
    peer.ask("/transport/loop", 1)
    rig.wait_blocks()
    assert tr.loop_enabled


def test_sections_locate_and_loop(rig: Rig) -> None:
    peer = rig.peer
    tr = rig.engine.transport
    sections = rig.session.sections
    peer.ask("/section/chorus")
    rig.wait_blocks()
    assert tr.position_beats() == pytest.approx(sections[2].start_beats, abs=1e-3)
    peer.ask("/section/1/loop")
    rig.wait_blocks()
    assert tr.loop_enabled
    tm = tr.tempo_map
    assert tm.sample_to_beat(tr.loop_start, SR) == pytest.approx(sections[1].start_beats, abs=1e-3)
    assert tm.sample_to_beat(tr.loop_end, SR) == pytest.approx(sections[2].start_beats, abs=1e-3)
    assert tr.position_beats() == pytest.approx(sections[1].start_beats, abs=1e-3)


def test_notes_sound_on_an_armed_track_and_meters_show_them(rig: Rig) -> None:
    peer = rig.peer
    strips = rig.built.strips
    rig.wait_blocks(8)
    assert strips["lead"].meter_db()[0][0] < -100  # stopped: silence
    peer.send("/track/lead/note", 72, 110)
    rig.wait_blocks(8)
    meter = answers(peer.ask("/track/lead/meter"), "/track/lead/meter")[0]
    assert len(meter) == 4 and meter[0] > -40, meter
    peer.send("/track/3/note", 72, 0)
    got = peer.ask("/track/pad/note", 60, 100)
    assert "not armed" in answers(got, "/error")[0][1]


def test_tcp_with_slip_framing(rig: Rig) -> None:
    peer = rig.peer
    got = peer.ask("/tracks", proto="tcp")
    assert [g for g in got if g[0] == "tcp" and g[1] == "/tracks"]
    peer.ask("/subscribe", proto="tcp")
    peer.collect(0.1)
    got = peer.ask("/track/bass/volume", -20.0, proto="tcp")
    assert rig.built.strips["bass"].volume_db.value == -20.0
    assert [g for g in got if g[0] == "tcp" and g[1] == "/track/bass/volume" and g[2] == [-20.0]]
    got = peer.ask("/track/bass/volume", "loud", proto="tcp")
    assert [g for g in got if g[0] == "tcp" and g[1] == "/error"]


def test_meter_feedback_at_the_chosen_rate(rig: Rig) -> None:
    peer = rig.peer
    peer.ask("/transport/play")
    peer.ask("/subscribe", 0, 10.0, 1)
    got = peer.collect(1.0)
    meters = [g for g in got if g[1] == "/track/master/meter"]
    assert 8 <= len(meters) <= 13, len(meters)  # 10 a second
    assert any(m[2][0] > -60 for m in meters)
    positions = [g for g in got if g[1] == "/transport/position"]
    assert len(positions) >= 8
    peer.ask("/unsubscribe")
    peer.collect(0.2)
    assert not [g for g in peer.collect(0.3) if g[1] == "/track/master/meter"]


def _render(built, frames: int) -> np.ndarray:
    eng = built.engine
    eng.transport.play()
    out = np.zeros((2, frames), dtype=np.float32)
    for k in range(0, frames, BLOCK):
        out[:, k : k + BLOCK] = eng.process_block(BLOCK)
    return out


def test_time_tagged_bundle_changes_a_parameter_at_its_sample_in_a_render() -> None:
    """The render's sample 0 plays at wall-clock t0; a bundle for a moment past 0.5 s where the song sounds
    turns the master down. The render differs from one without the bundle from exactly that sample on."""
    frames = 48128
    plain = _render(load_song(SONG).build(SR, BLOCK), frames)
    loud = np.flatnonzero(np.abs(plain[0]) > 1e-3)
    target = int(loud[loud > SR // 2][0]) + 37  # a sample inside a block, not on its edge
    assert target % BLOCK not in (0, BLOCK - 1) and abs(plain[0, target]) > 1e-4
    session = load_song(SONG)
    built = session.build(SR, BLOCK)
    t0 = time.time() + 30.0
    control = OscControl(session, built, frame_at=lambda t: round((t - t0) * SR))
    server = OscServer(control, tcp_port=None)
    server.start()
    assert server.udp_port is not None
    peer = PeerProcess(server.udp_port)
    try:
        at = t0 + target / SR
        peer.call(
            op="bundle", at=at, messages=[["/track/master/volume", [-30.0]], ["/track/drums/pan", [0.9]]]
        )
        peer.call(op="bundle", at=t0 + 0.9, messages=[["/track/drums/volume", [999.0]]])  # refused
        got = peer.collect(0.3)
        deadline = time.monotonic() + 5
        while server.handled < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        peer.close()
        server.stop()
    assert answers(got, "/error")[0][0] == "/track/drums/volume"
    # nothing applied yet: it waits for its time
    assert built.strips["master"].volume_db.value == -1.0
    out = _render(built, frames)
    differ = np.flatnonzero(np.any(out != plain, axis=0))
    assert differ[0] == target, (differ[:4], target)
    assert built.strips["master"].volume_db.value == -30.0
    assert built.strips["drums"].pan.value == pytest.approx(0.9)
    # the change is the fader's: a ramp from there down to -30 dB over its smoothing time
    ramp_end = target + round(0.02 * SR)
    tail = slice(ramp_end, frames)
    ratio = np.abs(out[0, tail]).max() / max(np.abs(plain[0, tail]).max(), 1e-9)
    assert ratio < 10 ** (-27 / 20)


def test_bad_input_is_answered_and_changes_nothing(rig: Rig) -> None:
    peer = rig.peer
    peer.ask("/transport/play")
    rig.wait_blocks()
    before = rig.control.values()
    tr = rig.engine.transport
    cases = [
        (("/track/0/volume", "loud"), "/track/0/volume", "expects a number"),
        (("/track/0/volume", 40.0), "/track/0/volume", "must be in"),
        (("/track/0/pan", -3.0), "/track/0/pan", "must be in"),
        (("/track/0/mute", 0.5), "/track/0/mute", "switch"),
        (("/track/99/volume", 0.0), "/track/99/volume", "no track 99"),
        (("/track/nobody/volume", 0.0), "/track/nobody/volume", "no track or bus named"),
        (("/track/pad/send/nowhere", 0.0), "/track/pad/send/nowhere", "no send"),
        (("/track/bass/device/fx9/param/x", 1.0), "/track/bass/device/fx9/param/x", "no device"),
        (("/track/bass/device/instrument/param/nope", 1.0), "/track/bass/device/instrument/param/nope",
         "no parameter"),
        (("/track/1/device/0/param/cutoff_hz", 1e9), "/track/1/device/0/param/cutoff_hz", "must be in"),
        (("/transport/tempo", 2000.0), "/transport/tempo", "tempo must be"),
        (("/transport/locate", "x"), "/transport/locate", "expects a number"),
        (("/transport/loop", 8.0, 4.0), "/transport/loop", "start < end"),
        (("/section/bridge",), "/section/bridge", "no section"),
        (("/nothing/here", 1), "/nothing/here", "unknown address"),
        (("/track/0/note", 200, 100), "/track/0/note", "not armed"),
        (("/track/lead/note", 200, 100), "/track/lead/note", "note must be"),
        (("/subscribe", "x"), "/subscribe", "port must be"),
        (("/learn", "pad/volume_db"), "/learn", "needs live MIDI"),
    ]  # fmt: skip
    for msg, address, words in cases:
        got = peer.ask(*msg)
        errs = answers(got, "/error")
        assert errs and errs[0][0] == address and words in errs[0][1], (msg, got)
    malformed = [
        "2f747261636b",  # an address without its padding
        "2f7800002c690000",  # an int announced and missing
        "2362756e646c6500000000000000000100000010",  # a bundle whose element runs past the end
        "2f782f7900000000" + "2c7a000000",  # an unknown type tag
        "00",
    ]
    for raw in malformed:
        peer.call(op="raw", hex=raw)
        errs = answers(peer.collect(), "/error")
        assert errs and errs[0][0] == "" and ("malformed" in errs[0][1] or "not an OSC" in errs[0][1]), raw
    peer.call(op="raw", proto="tcp-unframed", hex="c0" + "db00" + "c0")  # a bad SLIP escape
    errs = [g for g in peer.collect() if g[0] == "tcp" and g[1] == "/error"]
    assert errs and "SLIP" in errs[0][2][1]
    assert rig.control.values() == before
    assert tr.playing and rig.built.strips["pad"].gate.value == 1.0


def test_a_flood_is_rate_limited_and_the_engine_plays_on(rig: Rig) -> None:
    peer = rig.peer
    peer.ask("/transport/play")
    rig.wait_blocks()
    before = rig.control.values()
    pos0, blocks0, t0 = rig.engine.transport.position, rig.blocks, time.monotonic()
    result = peer.call(op="flood", seconds=1.0, rate=10000)
    assert result["sent"] == 10000
    got = peer.collect(0.5)
    elapsed = time.monotonic() - t0
    errors = answers(got, "/error")
    limited = [e for e in errors if "rate limited" in e[1]]
    refused = [e for e in errors if "rate limited" not in e[1]]
    assert limited, "no rate-limit notice"
    assert len(limited) <= 2 * elapsed + 2  # told at most twice a second
    assert refused  # what got through was answered
    assert rig.server.rate_limited > 0
    assert rig.server.errors + rig.server.rate_limited >= 10000 * 0.95  # every message refused or dropped
    assert rig.control.values() == before  # nothing changed
    # the engine kept playing: its blocks went on at (about) real time through the flood
    ran = (rig.blocks - blocks0) * BLOCK / SR
    assert ran > 0.5 * elapsed, (ran, elapsed)
    assert rig.engine.transport.position > pos0
    # and the server still answers
    assert answers(peer.ask("/ping"), "/pong") == [[]]
