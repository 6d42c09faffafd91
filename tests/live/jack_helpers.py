"""What the live tests share: the engine's output port, capture and sender processes, jackd's xrun count."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

JACK_MIDO = "mido.backends.rtmidi/UNIX_JACK"


def xrun_lines(server: dict) -> int:
    """Periods jackd has reported late so far (its log names the client that was not finished)."""
    return server["log"].read_text(errors="replace").count("JackEngine::XRun")


def engine_output() -> str:
    """The engine's first output port: the PortAudio port that feeds system:playback_1."""
    import jack

    c = jack.Client("strum-look", no_start_server=True)
    try:
        feeds = [p.name for p in c.get_all_connections("system:playback_1") if p.name.startswith("PortAudio")]
    finally:
        c.close()
    assert feeds, "the engine's stream is connected to the system playback ports"
    return feeds[-1]


def start_capture(tmp: Path, seconds: float, audio=(), midi_of=None, midi_from=None):
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / f"capture-{time.monotonic_ns()}.npz"
    cmd = [sys.executable, "-m", "bench.jack_capture", str(out), str(seconds)]
    if audio:
        cmd += ["--audio", *audio]
    if midi_of:
        cmd += ["--midi-of", midi_of]
    if midi_from:
        cmd += ["--midi-from", midi_from]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(
            f"capture client did not start: {line} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, out


def finish_capture(proc, out: Path) -> dict:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def run_sender(tmp: Path, port: str, schedule: list, env: dict) -> subprocess.Popen:
    tmp.mkdir(parents=True, exist_ok=True)
    sched = tmp / f"schedule-{time.monotonic_ns()}.json"
    sched.write_text(json.dumps(schedule))
    sent = sched.with_suffix(".sent.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.midi_sender", port, str(sched), str(sent)],
        env=dict(env, MIDO_BACKEND=JACK_MIDO),
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.sent_file = sent  # type: ignore[attr-defined]
    return proc
