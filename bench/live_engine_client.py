"""The engine as a client of the live benchmark (``python -m bench.live_clients engine --mode M ...``).

Modes:

- ``voices``: ``--voices N`` synth voices held for the whole run, each a band-limited saw through the
  synth's low-pass filter (2 kHz) and amplitude envelope, the same voice as the ``bare`` and ``pyo``
  clients; tracks of up to 1024 voices, each synth rendering all its voices in one kernel call per block.
- ``session``: an eight-track song with effects on every track, a reverb bus and a compressor and limiter on
  the master, looped, with the load the issue names: ``--midi-rate`` messages per second from another
  process into the engine's port (played on the lead track), a control thread that parses ``--json-rate``
  JSON messages per second and applies them (track volumes), and the garbage collector running (the
  control thread leaves cyclic garbage behind, and a full collection runs every two seconds).
  ``--isolate`` runs the engine in its own process (:class:`engine.live_process.EngineProcess`) with the
  control thread and the collections in this one; without it everything shares one process.
- ``latency``: ``--notes N`` notes from another process; a capture client records the engine's output and
  each note's arrival at the engine's port (its JACK frame time); reports MIDI-in to audio-out latency
  and its jitter.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "songs" / "demo.yaml"
JACK_MIDO = "mido.backends.rtmidi/UNIX_JACK"
TRACK_VOICES = 1024

__all__ = ["run_engine", "session_song"]


def _options(extra: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="engine")
    p.add_argument("--mode", choices=("voices", "session", "latency"), default="voices")
    p.add_argument("--midi-rate", type=float, default=0.0)
    p.add_argument("--json-rate", type=float, default=0.0)
    p.add_argument("--gc", action="store_true")
    p.add_argument("--isolate", action="store_true")
    p.add_argument("--notes", type=int, default=40)
    return p.parse_args(extra)


def session_song(path: Path) -> Path:
    """The demo song grown to eight tracks with effects on each: the four tracks and a copy of each."""
    doc = yaml.safe_load(DEMO.read_text())
    chains = [
        [{"type": "eq"}, {"type": "compressor"}],
        [{"type": "saturation"}, {"type": "chorus"}],
        [{"type": "filter"}, {"type": "delay"}],
        [{"type": "phaser"}, {"type": "width"}],
    ]
    tracks = doc["tracks"]
    more = []
    for k, t in enumerate(tracks):
        c = copy.deepcopy(t)
        c["name"] = f"{t['name']}2"
        c["volume_db"] = float(t.get("volume_db", 0.0)) - 6.0
        c.pop("automation", None)
        c["inserts"] = chains[k % len(chains)]
        more.append(c)
        t.setdefault("inserts", [])
        if not t["inserts"]:
            t["inserts"] = [{"type": "eq"}]
    doc["tracks"] = tracks + more
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class ControlLoad:
    """A control thread: ``rate`` JSON messages a second parsed and applied with ``apply(track, db)``,
    cyclic garbage left behind, and (with ``collect``) a full collection every two seconds."""

    def __init__(self, rate: float, tracks: list[str], apply: Any, collect: bool) -> None:
        self.rate = rate
        self.tracks = tracks
        self.apply = apply
        self.collect = collect
        self.parsed = 0
        self.collections = 0
        self.collect_ms: list[float] = []  # each full collection's duration
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control-load", daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        messages = []
        for k in range(64):  # about 1.5 kB each, like a control surface's state update
            body = {
                "op": "set",
                "seq": k,
                "track": self.tracks[k % len(self.tracks)],
                "param": "volume_db",
                "value": float(rng.uniform(-12, -3)),
                "meta": {"by": "bench", "tags": [f"t{j}" for j in range(20)], "pad": "x" * 900},
            }
            messages.append(json.dumps(body))
        period = 1.0 / self.rate if self.rate > 0 else 0.25
        next_t = time.monotonic()
        last_full = next_t
        k = 0
        while not self._stop.is_set():
            if self.rate > 0:
                msg = json.loads(messages[k % len(messages)])
                self.apply(msg["track"], msg["value"])
                self.parsed += 1
            if self.collect:
                junk: list[Any] = []
                for _ in range(50):  # cycles: only the collector frees them
                    a: dict[str, Any] = {}
                    b = {"a": a}
                    a["b"] = b
                    junk.append(a)
                del junk
                now = time.monotonic()
                if now - last_full > 2.0:
                    t0 = time.perf_counter()
                    gc.collect()
                    self.collect_ms.append(1000 * (time.perf_counter() - t0))
                    self.collections += 1
                    last_full = now
            k += 1
            next_t += period
            left = next_t - time.monotonic()
            if left > 0:
                self._stop.wait(left)

    def __enter__(self) -> ControlLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _flood(port: str, rate: float, seconds: float, tmp: Path) -> subprocess.Popen | None:
    if rate <= 0:
        return None
    n = int(rate * seconds)
    sched = [[k / rate, 0x90 if k % 2 == 0 else 0x80, 60 + (k // 2) % 24, 80] for k in range(n)]
    f = tmp / "flood.json"
    f.write_text(json.dumps(sched))
    return subprocess.Popen(
        [sys.executable, "-m", "bench.midi_sender", port, str(f), str(tmp / "flood.sent.json")],
        cwd=ROOT,
        env=dict(os.environ, MIDO_BACKEND=JACK_MIDO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stats(st: dict[str, Any], t_start: float, t_stop: float) -> dict[str, Any]:
    """The result fields from a LiveEngine's statistics (``LiveStats`` as a dict: in this process, or as
    an engine process reports them when it ends)."""
    if not st:
        return {"error": "the engine reported no statistics", "stream_start_mono": t_start}
    return {
        "callbacks": st["callbacks"],
        "expected_callbacks": round((t_stop - t_start) * 1e6 / st["period_us"]),
        "underflows": st["xruns"],
        "late": st["late_callbacks"],
        "dur_us_p50": st["duration_p50_us"],
        "dur_us_p99": st["duration_p99_us"],
        "dur_us_max": st["duration_max_us"],
        "period_us": st["period_us"],
        "midi_received": st["midi_received"],
        "errors": st["errors"],
        "stream_start_mono": t_start,
        "stream_stop_mono": t_stop,
    }


def _voices_engine(n: int) -> Any:
    from engine.sequencer import Clip, Note
    from engine.session import Session, TrackSpec
    from instruments.synth import PolySynth

    tracks = []
    for t in range(math.ceil(n / TRACK_VOICES)):
        count = min(TRACK_VOICES, n - t * TRACK_VOICES)
        synth = PolySynth(max_voices=count)
        for name, value in {
            "waveform": 0.0,
            "cutoff_hz": 2000.0,
            "resonance": 0.0,
            "attack_ms": 5.0,
            "decay_ms": 100.0,
            "sustain": 0.7,
            "release_ms": 200.0,
            "gain_db": -40.0,
        }.items():
            synth.param(name).set(value)
        notes = tuple(Note(12 + k % 100, 0.0, 100000.0, 90, (k // 100) % 16) for k in range(count))
        tracks.append(TrackSpec(f"v{t}", synth, clips=[Clip(0.0, notes)]))
    return Session(tracks=tracks)


def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    o = _options(args.extra)
    from engine.live import set_jack_client_name

    if not o.isolate:
        set_jack_client_name(args.name)  # before sounddevice starts PortAudio
    from engine.live import LiveEngine, choose_device
    from engine.live_input import LiveMidi
    from engine.midi_io import MidiInput

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    midi_client = f"{args.name}-midi"
    result: dict[str, Any] = {"client": args.name, "mode": o.mode, "isolate": o.isolate}
    if o.mode == "voices":
        dev = choose_device("jack")
        built = _voices_engine(args.voices).build(dev.sample_rate, dev.blocksize)
        le = LiveEngine(built.engine, dev)
        le.start()
        built.engine.transport.play()
        t_start = time.monotonic()
        time.sleep(args.seconds)
        t_stop = time.monotonic()
        result.update(_stats(le.stats().__dict__, t_start, t_stop))
        result["voices"] = args.voices
        result["ns_per_voice_sample"] = result["dur_us_p50"] * 1000 / (args.voices * dev.blocksize)
        le.stop()
        return result
    if o.mode == "session":
        song = session_song(tmp / "live-session.yaml")
        if o.isolate:
            from engine.live_process import EngineProcess, LiveSpec

            spec = LiveSpec(
                song=str(song),
                arm="lead",
                midi_in=["virtual:midi_in"],
                client_name=midi_client,
                audio_client_name=args.name,
                device="jack",
                playing=True,
                loop=(0.0, 64.0),
            )
            ep = EngineProcess(spec)
            ep.start()
            tracks = ["pad", "bass", "lead", "pad2", "bass2", "lead2"]
            with ControlLoad(o.json_rate, tracks, lambda t, v: ep.send("volume", t, v), o.gc) as load:
                flood = _flood(f"{midi_client}:midi_in", o.midi_rate, args.seconds, tmp)
                t_start = time.monotonic()
                time.sleep(args.seconds)
                t_stop = time.monotonic()
            bye = ep.close() or {}
            result.update(_stats(bye.get("stats", {}), t_start, t_stop))
        else:
            from presets.song import load_song

            dev = choose_device("jack")
            live = LiveMidi(dev.sample_rate)
            session = load_song(song)
            built = session.build(dev.sample_rate, dev.blocksize, live=live, live_tracks={"lead": None})
            live.set_inputs([MidiInput("virtual:midi_in", "jack", midi_client)])
            le = LiveEngine(built.engine, dev, live=live)
            le.start()
            tr = built.engine.transport
            tr.set_loop(0.0, 64.0)
            tr.play()
            strips = built.strips

            def apply(track: str, db: float) -> None:
                strips[track].volume_db.set(db)

            with ControlLoad(o.json_rate, list(strips), apply, o.gc) as load:
                flood = _flood(f"{midi_client}:midi_in", o.midi_rate, args.seconds, tmp)
                t_start = time.monotonic()
                time.sleep(args.seconds)
                t_stop = time.monotonic()
            result.update(_stats(le.stats().__dict__, t_start, t_stop))
            le.stop()
        if flood is not None:
            flood.wait(30)
        result.update(
            {
                "json_parsed": load.parsed,
                "full_collections": load.collections,
                "full_collection_ms_max": max(load.collect_ms, default=0.0),
            }
        )
        return result
    # latency
    from bench.live_latency import measure_latency

    result.update(measure_latency(args, o.notes, tmp, midi_client))
    return result
