"""The probe processes of a plugin scan: each bundle loaded by ``python -m dsp.plugins.probe`` alone.

:func:`run_probes` starts one probe per bundle in its own process group, several at a time, kills the
whole group of any that outlives ``timeout_s``, and hands each bundle's cache entry (``status`` "ok"
with its plugins, or "blocked" with a ``kind`` and ``reason``) to ``done``. Called by
:func:`dsp.plugins.scan.scan`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dsp.plugins.probe import PROBE_VERSION

__all__ = ["run_probes"]

_ROOT = Path(__file__).resolve().parents[2]  # the checkout, so the probe imports from here
_POLL_S = 0.02
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class _Job:
    bundle: str
    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]
    started: float


def _start(bundle: str, sample_rate: float, now: Callable[[], float]) -> _Job:
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # files, not pipes: nothing to drain
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "dsp.plugins.probe", bundle, "--sample-rate", f"{sample_rate:g}"]
    kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, **kwargs)
    return _Job(bundle, proc, out, err, now())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # the probe and anything the plugin started
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(f: IO[bytes], limit: int = 8192) -> list[str]:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - limit))
    text = _ANSI.sub("", f.read().decode("utf-8", "replace"))
    return [line.strip() for line in text.splitlines() if line.strip()]


def _finish(job: _Job, timed_out: bool, timeout_s: float, sample_rate: float) -> dict[str, Any]:
    """The cache entry for a finished (or killed) probe."""
    entry: dict[str, Any] = {"probe_version": PROBE_VERSION, "sample_rate": sample_rate}
    rc = job.proc.returncode
    lines = _tail(job.err)
    last = lines[-1] if lines else ""
    if timed_out:
        entry.update(
            status="blocked", kind="timeout", reason=f"timed out after {timeout_s:g} s (hung on load?)"
        )
    elif rc is not None and rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        reason = f"crashed ({sig})" + (f": {last}" if last else "")
        entry.update(status="blocked", kind="crash", reason=reason)
    elif rc != 0:
        errors = [line.split("probe: error:", 1)[1].strip() for line in lines if "probe: error:" in line]
        reason = errors[-1] if errors else f"probe exited with status {rc}" + (f": {last}" if last else "")
        entry.update(status="blocked", kind="error", reason=reason)
    else:
        job.out.seek(0)
        text = job.out.read().decode("utf-8", "replace")
        try:
            result = json.loads(text.strip().splitlines()[-1])
            plugins = result["plugins"]
            if not plugins:
                raise ValueError("no plugins")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            entry.update(status="blocked", kind="error", reason=f"probe gave no valid result ({exc})")
        else:
            entry.update(status="ok", plugins=plugins, errors=result.get("errors", []))
    job.out.close()
    job.err.close()
    return entry


def run_probes(
    bundles: list[str],
    *,
    timeout_s: float,
    sample_rate: float,
    jobs: int,
    done: Callable[[str, dict[str, Any], float], None],
    now: Callable[[], float],
) -> None:
    pending = list(reversed(bundles))
    running: list[_Job] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                running.append(_start(pending.pop(), sample_rate, now))
            for job in list(running):
                timed_out = job.proc.poll() is None and now() - job.started > timeout_s
                if timed_out:
                    _kill_group(job.proc)
                elif job.proc.returncode is None:
                    continue
                running.remove(job)
                done(job.bundle, _finish(job, timed_out, timeout_s, sample_rate), now() - job.started)
            time.sleep(_POLL_S)
    finally:
        for job in running:  # interrupted (Ctrl-C): leave no probe behind
            _kill_group(job.proc)
            job.out.close()
            job.err.close()
