"""A real JACK server with its dummy driver (48 kHz, 128-frame periods) for the live-engine tests.

The server gets a name of its own (``strumtest-<pid>``) so the tests never meet another JACK server on
the machine; JACK_DEFAULT_SERVER points every client of this process and its children at it, and
PortAudio is re-initialised to see it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

RATE = 48000
PERIOD = 128


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory):
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.fail("jackd is not installed (scripts/test installs jackd2 with scripts/setup.sh)")
    name = f"strumtest-{os.getpid()}"
    log = Path(tmp_path_factory.mktemp("jack")) / "jackd.log"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            # line-buffered, so the log (xrun reports) is up to date while the tests read it
            ["stdbuf", "-oL", "-eL", jackd, "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    # asked from another process, as everywhere in the tests: libjack's threads in this process crash if
    # a server they once met goes away before them
    probe = f"import jack; jack.Client('strum-wait', servername={name!r}, no_start_server=True).close()"
    deadline = time.monotonic() + 15
    while subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"jackd did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    from engine.live import refresh_portaudio

    refresh_portaudio()
    server = {"name": name, "proc": proc, "log": log, "rate": RATE, "period": PERIOD, "env": dict(os.environ)}
    yield server
    import sounddevice

    sounddevice._terminate()  # while the server runs: PortAudio's JACK layer aborts if its server is gone
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    if old is None:
        os.environ.pop("JACK_DEFAULT_SERVER", None)
    else:
        os.environ["JACK_DEFAULT_SERVER"] = old
