"""MIDI-in to audio-out latency of the live engine, measured from outside it.

Another process sends notes into the engine's port through JACK MIDI; a JACK client in a third process
records the engine's output and the frame time at which each note reached the engine's port. The latency of
a note is its onset in the output minus its arrival, in frames of the JACK clock both share; the jitter is
how much that varies from note to note (p99 - p50).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
JACK_MIDO = "mido.backends.rtmidi/UNIX_JACK"

__all__ = ["measure_latency", "onsets", "sine_synth"]


def onsets(x: np.ndarray, threshold: float = 0.02, quiet: int = 480) -> np.ndarray:
    """Indices where ``|x|`` first exceeds ``threshold`` after at least ``quiet`` samples below it."""
    idx = np.flatnonzero(np.abs(x) > threshold)
    if len(idx) == 0:
        return idx
    return np.concatenate([idx[:1], idx[1:][np.diff(idx) > quiet]])


def sine_synth():
    """The synth playing sines whose notes start at full level on their first sample: onsets to time
    exactly, a single peak to tell the pitch by."""
    from dsp.oscillators import WAVEFORMS
    from instruments.synth import PolySynth

    synth = PolySynth()
    for name, value in {
        "waveform": WAVEFORMS["sine"],
        "attack_ms": 0.0,
        "decay_ms": 0.0,
        "sustain": 1.0,
        "release_ms": 3.0,
        "gain_db": -6.0,
        "velocity_sensitivity": 0.0,
    }.items():
        synth.param(name).set(float(value))
    return synth


def measure_latency(args: argparse.Namespace, notes: int, tmp: Path, midi_client: str) -> dict[str, Any]:
    from engine.live import LiveEngine, choose_device
    from engine.live_input import LiveMidi
    from engine.midi_io import MidiInput
    from engine.session import Session, TrackSpec

    dev = choose_device("jack")
    synth = sine_synth()
    live = LiveMidi(dev.sample_rate)
    built = Session(tracks=[TrackSpec("keys", synth)]).build(
        dev.sample_rate, dev.blocksize, live=live, live_tracks={"keys": None}
    )
    live.set_inputs([MidiInput("virtual:midi_in", "jack", midi_client)])
    le = LiveEngine(built.engine, dev, live=live)
    le.start()
    rng = np.random.default_rng(3)
    schedule, t = [], 0.0
    for k in range(notes):
        p = 48 + (k * 7) % 36
        schedule += [[t, 0x90, p, 100], [t + 0.05, 0x80, p, 0]]
        t += 0.12 + float(rng.uniform(0, 0.08))
    out = tmp / "latency.npz"
    port = f"{midi_client}:midi_in"
    capture = [sys.executable, "-m", "bench.jack_capture", str(out), str(t + 2.5)]
    cap = subprocess.Popen(
        [*capture, "--audio", f"{args.name}:out_0", "--midi-of", port],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = cap.stdout.readline() if cap.stdout else ""
    if ready.strip() != "ready":
        le.stop()
        return {"error": f"capture client: {cap.stderr.read() if cap.stderr else ''}"[-500:]}
    sched = tmp / "notes.json"
    sched.write_text(json.dumps(schedule))
    t_start = time.monotonic()
    sender = subprocess.run(
        [sys.executable, "-m", "bench.midi_sender", port, str(sched), str(tmp / "notes.sent.json")],
        cwd=ROOT,
        env=dict(os.environ, MIDO_BACKEND=JACK_MIDO),
        capture_output=True,
        text=True,
    )
    cap.communicate(timeout=120)
    t_stop = time.monotonic()
    stats = le.stats()
    le.stop()
    if sender.returncode != 0:
        return {"error": sender.stderr[-500:]}
    with np.load(out) as z:
        audio, start, frames, data = z["audio"][0], int(z["start"]), z["event_frames"], z["event_bytes"]
    arrivals = np.array([f for f, b in zip(frames, data, strict=True) if b[0] & 0xF0 == 0x90], dtype=np.int64)
    found = onsets(audio) + start
    sr = dev.sample_rate
    res: dict[str, Any] = {
        "notes": notes,
        "arrived": len(arrivals),
        "sounded": len(found),
        "stream_start_mono": t_start,
        "stream_stop_mono": t_stop,
        "underflows": stats.xruns,
        "dur_us_p50": stats.duration_p50_us,
        "period_ms": 1000 * dev.blocksize / sr,
    }
    if len(found) != len(arrivals) or len(found) == 0:
        res["error"] = f"{len(found)} onsets for {len(arrivals)} notes"
        return res
    lag_ms = (found - arrivals) * 1000.0 / sr
    p50, p99 = np.percentile(lag_ms, [50, 99])
    res.update(
        {
            "latency_ms_p50": float(p50),
            "latency_ms_p99": float(p99),
            "latency_ms_max": float(lag_ms.max()),
            "jitter_ms_p99_p50": float(p99 - p50),
            "jitter_ms_max_min": float(lag_ms.max() - lag_ms.min()),
        }
    )
    return res
