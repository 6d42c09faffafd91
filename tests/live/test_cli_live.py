"""``strum devices``, ``strum play`` and ``strum live`` against the JACK dummy server, as a user runs them:
in a subprocess, through a pseudo-terminal for the keys."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import strum

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SONG = ROOT / "examples" / "songs" / "demo.yaml"


def test_devices_lists_the_jack_output(jack_server):
    r = strum("devices")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\s+system\s+\[JACK Audio Connection Kit\]\s+2 ch, 48000 Hz", r.stdout), r.stdout


def test_play_runs_for_the_given_time_and_reports(jack_server):
    r = strum("play", str(SONG), "--seconds", "2", "--start-bar", "2")
    assert r.returncode == 0, r.stderr
    assert "JACK Audio Connection Kit" in r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(">")]
    assert lines, r.stdout
    assert lines[0].split()[1].startswith("2."), "it starts at bar 2"
    m = re.search(r"(\d+) blocks, (\d+) xruns", r.stderr)
    assert m and int(m.group(1)) > 500  # 2 s of 128-frame blocks at 48 kHz is 750


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["play", "no/such/song.yaml", "--seconds", "1"], "no/such/song.yaml"),
        (["play", str(SONG), "--seconds", "-1"], "--seconds must be a positive number"),
        (["play", str(SONG), "--arm", "nope", "--seconds", "1"], "no track 'nope'"),
        (["live", "--instrument", "kazoo", "--seconds", "1"], "no synth preset or file 'kazoo'"),
        (["live", "--seconds", "1"], "give --instrument"),
        (["play", str(SONG), "--send-track", "bass", "--seconds", "1"], "--send-track needs --midi-out"),
        (["play", str(SONG), "--osc-port", "70000", "--seconds", "1"], "--osc-port must be in 0..65535"),
        (["play", str(SONG), "--link", "--follow-clock", "--seconds", "1"], "follow one tempo source"),
        (["play", str(SONG), "--link", "--link-quantum", "0", "--seconds", "1"], "--link-quantum must be"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(jack_server, args, message):
    r = strum(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_play_with_a_corrupt_song_is_refused(jack_server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracks: [ {name: x, instrument: {synth: nope}} ]\n")
    r = strum("play", str(bad), "--seconds", "1")
    assert r.returncode == 2 and "bad.yaml" in r.stderr


def test_live_plays_notes_sent_to_its_port(jack_server, tmp_path):
    client = f"strumcli{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "live", "--instrument", "pluck", "--seconds", "6"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, STRUM_CLIENT_NAME=client),
    )
    try:
        sched = tmp_path / "s.json"
        sched.write_text(
            json.dumps([[0.05 * k, 0x90 if k % 2 == 0 else 0x80, 60 + k // 2, 100] for k in range(20)])
        )
        time.sleep(4.0)  # the engine process is up and its port exists
        sender = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.midi_sender",
                f"{client}:midi_in",
                str(sched),
                str(tmp_path / "o"),
            ],
            env=dict(os.environ, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert sender.returncode == 0, sender.stderr
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert re.search(r"\b20 MIDI in\b", err), err


def _read_until(fd: int, pattern: str, timeout: float = 30.0) -> str:
    buf = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
            buf += chunk
            if re.search(pattern, buf):
                return buf
    raise AssertionError(f"no {pattern!r} in the terminal output: {buf[-800:]!r}")


def test_play_keys_in_a_terminal(jack_server):
    pid, fd = pty.fork()
    if pid == 0:  # the child: strum play in a terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "bridge.cli", "play", str(SONG), "--stopped"])
    try:
        _read_until(fd, r"# +1\.1\.000")  # stopped at the start
        os.write(fd, b"\x1b[C")  # right arrow: one bar on
        _read_until(fd, r"# +2\.1\.000")
        os.write(fd, b" ")  # play
        _read_until(fd, r"> +2\.[2-4]\.")
        os.write(fd, b" ")  # stop
        _read_until(fd, r"# +2\.")
        os.write(fd, b"0")  # back to the start
        _read_until(fd, r"# +1\.1\.000")
        os.write(fd, b"q")
        tail = _read_until(fd, r"xruns, callback p50")
        assert "Traceback" not in tail
    except BaseException:
        os.kill(pid, 9)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_play_counts_bars_by_the_songs_time_signature(jack_server, tmp_path):
    import yaml

    doc = yaml.safe_load(SONG.read_text())
    doc["time_signatures"] = [{"bar": 0, "numerator": 3, "denominator": 4}]
    waltz = tmp_path / "waltz.yaml"
    waltz.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = strum("play", str(waltz), "--seconds", "1.5", "--start-bar", "3")
    assert r.returncode == 0, r.stderr
    first = next(ln for ln in r.stdout.splitlines() if ln.startswith(">"))
    assert first.split()[1].startswith("3.1."), first  # bar 3 of 3/4 starts at beat 6, not in bar 2 of 4/4


def test_play_serves_osc_and_says_where(jack_server):
    """`strum play --osc-port 0` prints the port it got; a query there is answered, a stop stops."""
    import socket

    from bridge.osc.server import build_message, parse_packet

    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "play", str(SONG), "--seconds", "8", "--osc-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"OSC on udp 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        assert port, "strum play names its OSC port"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2.0)

        def ask(address: str, *args) -> list:
            sock.sendto(build_message(address, list(args)), ("127.0.0.1", port))
            return parse_packet(sock.recvfrom(65536)[0])

        assert ask("/transport/state") == [(None, "/transport/state", [1])]
        sock.sendto(build_message("/transport/stop", []), ("127.0.0.1", port))
        time.sleep(0.2)
        assert ask("/transport/state") == [(None, "/transport/state", [0])]
        assert ask("/track/bass/volume", "x")[0][1] == "/error"
        sock.close()
    finally:
        proc.kill()
        proc.wait(10)
