"""Servers the tests start on 127.0.0.1 (test-only code): a free port, waiting for one, redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["free_port", "start_redis", "wait_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], what: str, timeout: float, hello: bytes = b"") -> None:
    """Until ``port`` takes connections (and answers ``hello`` with something, if given); RuntimeError if
    ``proc`` ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if not hello:
                    return
                s.sendall(hello)
                if s.recv(16):
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port}")
        time.sleep(0.05)


def start_redis(folder: Path) -> tuple[str, subprocess.Popen[Any]]:
    """A redis-server on a free port of 127.0.0.1 with nothing saved to disk: its URL and process (the
    caller stops it). RuntimeError if it is not installed or does not start."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (scripts/test installs it with scripts/setup.sh)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, proc, "redis-server", 10, hello=b"PING\r\n")
    except RuntimeError:
        proc.kill()
        raise
    return f"redis://127.0.0.1:{port}/0", proc
