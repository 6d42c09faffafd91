"""DAW control of the live engine on a real JACK server: following a MIDI clock sent by another process,
a CC sweep through a MIDI mapping, and OSC against the engine in its own process.

The clock comes from a JACK client in another process that writes every pulse on its exact frame
(bench/clock_sender.py); a capture client in a third process records the engine's output, so the beat the
engine plays is measured on the same frame clock as the pulses that set it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.live_latency import onsets, sine_synth
from bridge.osc.live import serve_osc
from engine.clock_sync import ClockSync
from engine.control import resolve_param
from engine.live import LiveEngine, choose_device
from engine.live_input import LiveMidi
from engine.live_process import BPM, CALLBACKS, POSITION, EngineProcess, LiveSpec
from engine.mapping import Mapping, MidiMapper
from engine.midi_io import MidiInput
from engine.sequencer import Clip, Note
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap
from presets.song import load_song
from tests.live.jack_helpers import engine_output, finish_capture, run_sender, start_capture, xrun_lines

BPM_CLOCK = 97.0


def _click_session(beats: int) -> Session:
    notes = tuple(Note(84, float(b), 0.1, 100) for b in range(beats))
    return Session(
        tempo_map=TempoMap(bpm=120.0), tracks=[TrackSpec("click", sine_synth(), [Clip(0.0, notes)])]
    )


def test_locked_to_a_midi_clock_at_97_bpm_from_another_process(jack_server, tmp_path: Path) -> None:
    # A JACK server that logs xruns has skipped cycles, and the MIDI a skipped cycle carried is dropped: a
    # pulse lost in a storm of late ones can cost the follower a pulse (25.8 ms) for good. A run that
    # failed while the server logged xruns is run once more; every check holds for the run that counts.
    for attempt in (1, 2):
        xruns0 = xrun_lines(jack_server)
        folder = tmp_path / f"attempt{attempt}"
        folder.mkdir()
        try:
            _follow_a_midi_clock(jack_server, folder)
            return
        except AssertionError:
            if attempt == 2 or xrun_lines(jack_server) == xruns0:
                raise
            print(f"attempt {attempt} failed with {xrun_lines(jack_server) - xruns0} xruns logged: once more")


def _follow_a_midi_clock(jack_server, tmp_path: Path) -> None:
    seconds = 66.0
    sr = jack_server["rate"]
    dev = choose_device("jack")
    session = _click_session(int(seconds * BPM_CLOCK / 60) + 8)
    live = LiveMidi(dev.sample_rate)
    built = session.build(dev.sample_rate, dev.blocksize, live=live)
    name = f"strum-c{os.getpid()}"
    live.set_inputs([MidiInput("virtual:clock_in", api="jack", client_name=name, timing=True)])
    sync = ClockSync(session, built)
    live.clock_sync = sync
    le = LiveEngine(built.engine, dev, live=live)
    xruns0 = xrun_lines(jack_server)
    le.start()
    sync.start()
    sent = tmp_path / "clock.json"
    try:
        cap, cap_out = start_capture(tmp_path, seconds + 3.0, audio=[engine_output()])
        sender = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.clock_sender",
                f"{name}:clock_in",
                str(BPM_CLOCK),
                str(seconds),
                str(sent),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert sender.stdout is not None and sender.stdout.readline().strip() == "ready", sender.stderr
        t_ready = time.monotonic()
        # two bars at 97 bpm after Start (0.5 s after ready): the tempo must be the clock's by then
        time.sleep(0.5 + 8 * 60 / BPM_CLOCK + 0.05)
        assert sync.tempo_bpm is not None
        tempo_two_bars = built.engine.ctx.tempo_bpm
        assert sender.wait(seconds + 30) == 0, sender.stderr.read() if sender.stderr else ""
        time.sleep(0.3)
        rec = finish_capture(cap, cap_out)
    finally:
        sync.stop()
        le.stop()
        for i in live.inputs:
            i.close()
    assert time.monotonic() - t_ready > seconds
    clock = json.loads(sent.read_text())
    pulses = np.array(clock["pulses"], dtype=np.int64)
    beat_frames = pulses[::24]
    audio = rec["audio"][0]
    found = onsets(audio, threshold=0.05, quiet=2000) + int(rec["start"])
    # pair each beat of the clock with the click the engine played nearest to it
    offsets = []
    for f in beat_frames:
        k = int(np.argmin(np.abs(found - f)))
        offsets.append(int(found[k] - f))
    offsets_ms = np.array(offsets) * 1000.0 / sr
    locked = offsets_ms[8:]  # from two bars on
    assert len(locked) >= 60 * BPM_CLOCK / 60, len(locked)
    # every click within a period of the clock's beat, and the beat steady over the minute
    span = locked[: int(60 * BPM_CLOCK / 60)]
    first = np.median(span[:10])
    last = np.median(span[-10:])
    drift = abs(last - first)
    print(f"clock follow: tempo after two bars {tempo_two_bars:.4f} bpm; beat offset {first:.3f} ms at the"
          f" start, {last:.3f} ms after 60 s (drift {drift:.3f} ms); spread {np.ptp(span):.3f} ms;"
          f" {sync.nudges} nudges ({sync.nudged_samples} samples), {sync.retimes} retimes,"
          f" {sync.locates} locates, {sync.follower.restarts} fit restarts,"
          f" {sync.follower.missed} pulses missed, {sync.follower.outliers} held up;"
          f" {xrun_lines(jack_server) - xruns0} xruns")  # fmt: skip
    assert abs(tempo_two_bars - BPM_CLOCK) < 0.1, tempo_two_bars
    assert drift < 1.0, offsets_ms
    # the beats within 1 ms of the typical one: 95 in 100 (a loaded machine may set a callback aside now and
    # then; a period more where jackd logged an xrun meanwhile), and none a quarter beat off
    slack = 1000.0 * jack_server["period"] / sr if xrun_lines(jack_server) > xruns0 else 0.0
    deviation = np.abs(span - np.median(span))
    assert np.percentile(deviation, 95) < 1.0 + slack, np.sort(deviation)[-10:]
    assert deviation.max() < 0.25 * 60000.0 / BPM_CLOCK, deviation.max()
    # the clock's tempo is heard: the clicks' spacing over the minute
    heard_bpm = 60.0 / (
        np.mean(np.diff(found[(found >= beat_frames[8]) & (found <= beat_frames[-1] + 100)])) / sr
    )
    assert abs(heard_bpm - BPM_CLOCK) < 0.01, heard_bpm


def test_a_cc_sweep_through_jack_moves_its_parameter_through_the_mapped_range_and_curve(
    jack_server, tmp_path: Path
) -> None:
    sr = jack_server["rate"]
    dev = choose_device("jack")
    held = Clip(0.0, (Note(69, 0.0, 400.0, 100),))
    session = Session(tempo_map=TempoMap(bpm=120.0), tracks=[TrackSpec("keys", sine_synth(), [held])])
    live = LiveMidi(dev.sample_rate)
    built = session.build(dev.sample_rate, dev.blocksize, live=live)
    mapper = MidiMapper(lambda path: resolve_param(session, built, path).param)
    mapping = Mapping(
        "keys/volume_db", "cc", number=7, channel=0, min_value=-40.0, max_value=0.0, curve="exp"
    )
    mapper.set_mappings([mapping])
    live.mapper = mapper
    name = f"strum-m{os.getpid()}"
    live.set_inputs([MidiInput("virtual:ctl", api="jack", client_name=name)])
    le = LiveEngine(built.engine, dev, live=live)
    values = [0, 16, 32, 48, 64, 80, 96, 112, 127, 100, 50, 10]
    schedule = [[0.25 * k, 0xB0, 7, v] for k, v in enumerate(values)]
    le.start()
    try:
        built.engine.transport.play()
        cap, cap_out = start_capture(tmp_path, 0.25 * len(values) + 3.5, audio=[engine_output()])
        sender = run_sender(tmp_path, f"{name}:ctl", schedule, jack_server["env"])
        assert sender.wait(30) == 0, sender.stderr.read() if sender.stderr else ""
        time.sleep(0.4)
        rec = finish_capture(cap, cap_out)
        final = built.strips["keys"].volume_db.value
        applied = mapper.applied
    finally:
        le.stop()
        for i in live.inputs:
            i.close()
    assert applied == len(values)
    assert live.mapped == len(values)
    sent = json.loads(sender.sent_file.read_text())  # type: ignore[attr-defined]
    frames = np.array(sent["jack_frames"], dtype=np.int64) - int(rec["start"])
    audio = rec["audio"][0]

    def level_db(at: int) -> float:
        w = audio[at + int(0.06 * sr) : at + int(0.2 * sr)]  # after the fader's 20 ms ramp
        return 20 * np.log10(np.sqrt(np.mean(w.astype(np.float64) ** 2)) + 1e-12)

    measured = np.array([level_db(int(f)) for f in frames])
    full = measured[values.index(127)]
    expected = np.array([-40.0 + 40.0 * (v / 127) ** 2 for v in values])
    assert np.allclose(measured - full, expected, atol=0.3), np.c_[values, measured - full, expected]
    assert final == pytest.approx(expected[-1])


SONG = """
schema_version: 2
tempo_map: [{beat: 0, bpm: 120}]
sections: [{name: intro, beat: 0}, {name: verse, beat: 16}]
tracks:
- name: keys
  instrument: {type: synth, preset: keys}
  volume_db: -6.0
  clips:
  - name: chords
    start_beats: 0
    notes: [[60, 0, 30, 90], [64, 0, 30, 90]]
"""


def test_osc_on_the_engine_process_through_a_flood(jack_server, tmp_path: Path) -> None:
    from tests.bridge.test_osc import PeerProcess, answers

    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    spec = LiveSpec(
        song=str(song),
        device="jack",
        playing=True,
        osc_udp_port=0,
        osc_tcp_port=0,
        midi_in=["virtual:midi_in"],
        client_name=f"strum-osc{os.getpid()}",
        services=(serve_osc,),
    )
    ep = EngineProcess(spec)
    ep.start()
    peer = None
    try:
        info = ep.info
        assert info["osc_udp_port"] and info["osc_tcp_port"]
        peer = PeerProcess(info["osc_udp_port"], info["osc_tcp_port"])
        assert answers(peer.ask("/tracks"), "/tracks") == [["keys", "master"]]
        peer.ask("/subscribe", 0, 50.0)
        peer.collect(0.2)
        got = peer.ask("/track/keys/volume", -12.0)
        assert answers(got, "/track/keys/volume") == [[-12.0]]
        got = peer.ask("/transport/stop", proto="tcp")
        time.sleep(0.1)
        stopped_at = ep.value(POSITION)
        time.sleep(0.1)
        assert not ep.playing and ep.value(POSITION) == stopped_at
        peer.ask("/transport/tempo", 90.0)
        peer.ask("/transport/play")
        time.sleep(0.2)
        assert ep.playing and ep.value(BPM) == pytest.approx(90.0)
        # the flood: 10,000 refused messages a second for two seconds
        before = {
            a: answers(peer.ask(a), a) for a in ("/track/keys/volume", "/track/keys/pan", "/transport/tempo")
        }
        xruns0, callbacks0, pos0 = xrun_lines(jack_server), ep.value(CALLBACKS), ep.value(POSITION)
        t0 = time.monotonic()
        result = peer.call(op="flood", seconds=2.0, rate=10000)
        got = peer.collect(0.5)
        elapsed = time.monotonic() - t0
        callbacks = ep.value(CALLBACKS) - callbacks0
        advanced = (ep.value(POSITION) - pos0) / jack_server["rate"]
        xruns = xrun_lines(jack_server) - xruns0
        sent = f"{result['sent']} messages in {result['seconds']:.2f} s"
        ran = f"{callbacks:.0f} callbacks in {elapsed:.2f} s, {advanced:.2f} s played"
        print(f"OSC flood: {sent}; engine {ran}, {xruns} xruns in jackd's log")
        errors = answers(got, "/error")
        assert any("rate limited" in e[1] for e in errors)
        assert any("rate limited" not in e[1] for e in errors)
        expected_callbacks = elapsed * jack_server["rate"] / jack_server["period"]
        assert callbacks > 0.95 * expected_callbacks  # the engine kept playing, block after block
        assert advanced > 0.95 * elapsed
        assert ep.poll() is None and ep.playing
        after = {a: answers(peer.ask(a), a) for a in before}
        assert after == before  # nothing changed
        # MIDI learn over OSC: the next control moved on the engine's MIDI input binds, and is saved
        got = peer.ask("/learn", "keys/pan")
        assert answers(got, "/learn") == [["keys/pan"]]
        sender = run_sender(
            tmp_path, f"{spec.client_name}:midi_in", [[0.0, 0xB3, 21, 100]], jack_server["env"]
        )
        assert sender.wait(30) == 0
        got = peer.collect(0.5)
        learned = answers(got, "/learned")
        assert learned and learned[0][0] == "keys/pan" and "21" in learned[0][1], got
        assert answers(peer.ask("/mappings"), "/mappings") == [[learned[0][1]]]
        sender = run_sender(
            tmp_path, f"{spec.client_name}:midi_in", [[0.0, 0xB3, 21, 127]], jack_server["env"]
        )
        assert sender.wait(30) == 0
        fb = answers(peer.collect(0.5), "/track/keys/pan")
        assert fb and fb[-1][0] == pytest.approx(1.0)
        got = peer.ask("/mappings/save")
        assert answers(got, "/mappings/save") == [[str(song), 1]]
        saved = load_song(song).mappings
        assert [(m.target, m.source, m.number, m.channel) for m in saved] == [("keys/pan", "cc", 21, 3)]
        assert answers(peer.ask("/mappings/clear"), "/mappings/clear") == [[0]]
        assert answers(peer.ask("/mappings"), "/mappings") == [[]]
        assert len(load_song(song).mappings) == 1  # the file keeps them until saved
    finally:
        if peer is not None:
            peer.close()
        ep.close()


def test_in_time_with_an_ableton_link_session(jack_server, tmp_path: Path) -> None:
    """Another Link app sets 97 bpm, starts, and moves to 103 bpm half way; the engine follows its tempo,
    its start and its beat. Both run in a network namespace with only loopback (Link multicasts to find
    peers, and nothing may leave this machine), the engine playing on the JACK server outside it."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("the Link test needs unshare and ip (util-linux and iproute2) to isolate its network")
    if os.geteuid() != 0:
        pytest.skip("a network namespace of the test's own needs root here (unshare -n)")
    out = tmp_path / "link.json"
    rig = Path(__file__).with_name("link_rig.py")
    py = sys.executable
    script = (
        "ip link set lo up && ip link set lo multicast on && "
        f"({py} {rig} peer 97 40 &) && {py} {rig} engine 20 {out}"
    )
    env = dict(jack_server["env"], PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert max(r["peers"] for r in rows) >= 1, "the engine found the other Link app"
    t0 = rows[0]["t"]
    playing = [r for r in rows if r["playing"]]
    assert playing, "the engine started with the session"
    first_play = playing[0]["t"] - t0
    joined = next(r["t"] for r in rows if r["peers"] >= 1) - t0
    assert 1.2 < first_play - joined < 2.0, (
        joined,
        first_play,
    )  # the peer starts 1.5 s after the engine joins
    # tempo: the session's, within a hundredth of a bpm, before and after the change
    before = [
        r for r in playing if r["session_bpm"] == pytest.approx(97.0) and r["t"] - t0 > first_play + 0.5
    ]
    after = [r for r in playing if r["session_bpm"] == pytest.approx(103.0)]
    seen = sorted({(round(r["session_bpm"], 3), r["playing"]) for r in rows})
    assert before and after, (
        f"tempi seen (bpm, playing): {seen}; first play {first_play:.2f} s, joined {joined:.2f} s"
    )
    settled_after = [r for r in after if r["t"] - after[0]["t"] > 1.0]
    for r in before + settled_after:
        assert abs(r["engine_bpm"] - r["session_bpm"]) < 0.01, r
    # beat: within a millisecond of the session's grid once settled
    phases = np.array([r["phase_ms"] for r in before[5:] + settled_after])
    print(f"Link: {len(phases)} readings, phase median {np.median(phases):.3f} ms, max |phase|"
          f" {np.max(np.abs(phases)):.3f} ms; {data['nudges']} nudges, {data['locates']} locates,"
          f" {data['retimes']} retimes")  # fmt: skip
    # within a millisecond of the session's grid; a reading or two may catch the machine setting the engine
    # aside for a moment (a loaded CI machine): 99 in 100 must be in, and the typical one well inside
    assert np.percentile(np.abs(phases), 99) < 1.0, np.sort(np.abs(phases))[-10:]
    assert abs(np.median(phases)) < 0.2
