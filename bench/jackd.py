"""A private JACK server (dummy driver) for live benchmarks, and the xruns it logs, per client.

:class:`JackServer` starts ``jackd -n NAME -d dummy -r RATE -p PERIOD`` under a unique server name (so it
never touches another JACK server on the machine), waits until it accepts clients, and reads its stdout and
stderr through a pipe on a thread that stamps every line with ``time.monotonic()`` as it arrives and appends
it to a log file (``<seconds> <line>``). Child processes find the server through :attr:`JackServer.env`
(``JACK_DEFAULT_SERVER=NAME``; libjack, PortAudio's JACK host API and pyo all honour it).

What jackd 1.9.21 prints (found by experiment: a client that sleeps in its process callback; no ``-v`` needed)
------------------------------------------------------------------------------------------------------------
A client that overruns its period makes the engine log, once per period in which its graph is still not
finished (a 4 ms stall at 128/48 kHz gives one line, 8 ms two, 50 ms about twelve)::

    JackEngine::XRun: client = NAME was not finished, state = Running
    JackEngine::XRun: client = NAME was not finished, state = Triggered
    JackAudioDriver::ProcessGraphAsyncMaster: Process error

``state = Running``: the client was inside its process callback (it took too long); ``state = Triggered``: it
had been woken but had not run yet (not scheduled: a starved thread, the GIL, a host pause) -- the first line
of a stall is usually ``Running``, the rest ``Triggered``. Each ``JackEngine::XRun`` line also sends every
client an xrun notification (what PortAudio reports as an output underflow). ``Process error`` is the driver's
line for a cycle run on an unfinished graph; it names no client. jackd's source has one more blaming line, for
a client that finished after the next cycle had begun, which is counted too::

    JackEngine::XRun: client NAME finished after current callback

jackd with no active client logs nothing: with no client there is nothing to be late, so host pauses only show
up as xruns of some client. An xrun here therefore means one ``JackEngine::XRun`` line (:data:`XRUN_LINE`),
blamed on the client it names; :class:`XrunCount` also carries the ``Process error`` lines and the ``state``
split.

Use: ``with JackServer() as server: t0 = server.mark(); ...; server.xruns_since(t0).blamed_on("client")``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["PROCESS_ERROR_LINE", "XRUN_LINE", "JackServer", "XrunCount", "count_xruns"]

#: One xrun blamed on a client: ``name`` and ``state`` (``Running``/``Triggered``, or ``late`` for a client
#: that finished after the next cycle began).
XRUN_LINE = re.compile(
    r"JackEngine::XRun: client (?:= (?P<name>.+?) was not finished, state = (?P<state>\w+)"
    r"|(?P<late_name>.+?) finished after current callback)\s*$"
)
#: A cycle the driver ran on an unfinished graph (no client named).
PROCESS_ERROR_LINE = re.compile(r"JackAudioDriver::ProcessGraph\w*: Process error")


@dataclass
class XrunCount:
    """Xrun lines of one window of a jackd log: ``total`` ``JackEngine::XRun`` lines, ``by_client`` (name ->
    lines), ``by_state`` ((name, state) -> lines), ``process_errors`` (driver ``Process error`` lines)."""

    total: int = 0
    by_client: Counter[str] = field(default_factory=Counter)
    by_state: Counter[tuple[str, str]] = field(default_factory=Counter)
    process_errors: int = 0

    def blamed_on(self, client: str) -> int:
        """Xrun lines naming ``client`` (exact JACK client name)."""
        return self.by_client.get(client, 0)

    def as_dict(self, client: str | None = None) -> dict[str, Any]:
        """A JSON-able summary; with ``client``, also ``blamed`` (its lines) and its Running/Triggered
        split."""
        out: dict[str, Any] = {
            "xruns": self.total,
            "process_errors": self.process_errors,
            "by_client": dict(self.by_client),
        }
        if client is not None:
            out["blamed"] = self.blamed_on(client)
            out["blamed_running"] = self.by_state.get((client, "Running"), 0)
            out["blamed_triggered"] = self.by_state.get((client, "Triggered"), 0)
        return out


def count_xruns(lines: list[str]) -> XrunCount:
    """Counts xrun lines (:data:`XRUN_LINE`, :data:`PROCESS_ERROR_LINE`) in raw jackd output lines."""
    c = XrunCount()
    for line in lines:
        m = XRUN_LINE.search(line)
        if m:
            name = m.group("name") or m.group("late_name")
            state = m.group("state") or "late"
            c.total += 1
            c.by_client[name] += 1
            c.by_state[(name, state)] += 1
        elif PROCESS_ERROR_LINE.search(line):
            c.process_errors += 1
    return c


class JackServer:
    """``jackd`` with the dummy driver under a unique name, as a context manager; see the module docstring.

    ``log_path`` defaults to a file in a fresh temporary folder. :meth:`mark` gives a moment (a
    ``time.monotonic()`` value, comparable across processes on Linux) and :meth:`xruns_between` /
    :meth:`xruns_since` count the lines that arrived in a window.
    """

    def __init__(
        self,
        rate: int = 48000,
        period: int = 128,
        name: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        verbose: bool = False,
        start_timeout_s: float = 15.0,
    ) -> None:
        self.rate = rate
        self.period = period
        self.name = name or f"strumbench-{os.getpid()}"
        self.log_path = (
            Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="strumbench-")) / "jackd.log"
        )
        self.verbose = verbose
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._old_env: str | None = None

    @property
    def period_s(self) -> float:
        return self.period / self.rate

    @property
    def env(self) -> dict[str, str]:
        """The environment for child processes: this process's, with ``JACK_DEFAULT_SERVER`` set to the name
        and ``JACK_NO_START_SERVER`` set, so that a client never starts a server of its own by accident."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}

    def start(self) -> dict[str, str]:
        """Starts jackd and waits until a client can connect; returns :attr:`env`. Raises ``RuntimeError``
        with the log's tail if it does not come up in ``start_timeout_s``."""
        if self._proc is not None:
            raise RuntimeError(f"JACK server {self.name!r} already started")
        cmd = ["jackd", "-n", self.name]
        if self.verbose:
            cmd.append("-v")
        cmd += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        if shutil.which("stdbuf"):  # jackd's stdout is block-buffered into a pipe: make it line-buffered
            cmd = ["stdbuf", "-oL", "-eL", *cmd]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()
        self._wait_ready()
        self._old_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        return self.env

    def stop(self) -> None:
        """Terminates jackd (SIGTERM, then SIGKILL after 3 s) and restores ``JACK_DEFAULT_SERVER``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(2.0)
        if os.environ.get("JACK_DEFAULT_SERVER") == self.name:
            if self._old_env is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = self._old_env

    def __enter__(self) -> JackServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def mark(self) -> float:
        """The current moment, to pass to :meth:`xruns_since` later."""
        return time.monotonic()

    def lines_between(self, start: float, end: float | None = None) -> list[str]:
        """jackd's output lines that arrived in ``[start, end]`` (``end`` None: up to now)."""
        end = float("inf") if end is None else end
        with self._lock:
            return [line for t, line in self._lines if start <= t <= end]

    def xruns_between(self, start: float, end: float | None = None) -> XrunCount:
        """Xruns logged in ``[start, end]`` (monotonic seconds), by client."""
        return count_xruns(self.lines_between(start, end))

    def xruns_since(self, mark: float) -> XrunCount:
        """Xruns logged since ``mark`` (from :meth:`mark`)."""
        return self.xruns_between(mark, None)

    def _read(self, stream: IO[bytes] | None) -> None:
        # Stamp lines on arrival: jackd prints no times of its own. The log is for people; counting uses
        # memory.
        if stream is None:
            return
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in stream:
                t = time.monotonic()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    self._lines.append((t, line))
                log.write(f"{t:.6f} {line}\n")
                log.flush()

    def _wait_ready(self) -> None:
        # Asked from another process: libjack in this one must never have met a server that later goes
        # away (its threads crash when it does, even with every client closed).
        probe = (
            "import jack; jack.set_error_function(lambda m: None); jack.set_info_function(lambda m: None);"
            f" jack.Client('strumbench-probe', servername={self.name!r}, no_start_server=True).close()"
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                break
            r = subprocess.run([sys.executable, "-c", probe], capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.05)
        tail = "\n".join(line for _, line in self._lines[-20:])
        self.stop()
        raise RuntimeError(
            f"jackd {self.name!r} did not accept clients within {self.start_timeout_s} s:\n{tail}"
        )
