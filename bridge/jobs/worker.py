"""A worker: takes jobs from a :class:`bridge.jobs.store.JobStore`, runs them with a heartbeat that renews
the lease and reports progress, and writes each output under the output folder as ``<job id>.<ext>``:
first to a temporary file, renamed into place when complete, so a worker killed halfway leaves no partial
output under the job's name (the next attempt removes the killed one's temporary file) and a job run twice
leaves one.

Job kinds: ``render`` (a song file to WAV: ``{"song": PATH}``). Input that can never succeed (a missing or
corrupt song) fails the job at once with the reason; other errors are retried with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.jobs.store import Job, JobStore, worker_id

__all__ = ["KINDS", "BadInput", "check_params", "run_worker", "work_one"]


class BadInput(Exception):
    """The job's input can never succeed: the job fails with this reason, without retries."""


class Cancelled(Exception):
    pass


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a job, checked before it is queued (BadInput says what is wrong)."""
    if kind not in KINDS:
        raise BadInput(f"unknown job kind {kind!r} (kinds: {', '.join(KINDS)})")
    if kind == "render":
        song = params.get("song")
        if not isinstance(song, str) or not song:
            raise BadInput("a render job needs 'song': the path of a song file")
        params = {**params, "song": str(Path(song).resolve())}
    return params


def _render(job: Job, out_dir: Path, progress: Callable[[float, str], None]) -> dict[str, Any]:
    from engine.render import WavSink, render
    from presets.errors import SongFileError
    from presets.song import load_song

    try:
        session = load_song(job.params["song"])
    except SongFileError as exc:
        raise BadInput(str(exc)) from None
    built = session.build(48000, 8192)
    target = out_dir / f"{job.id}.wav"
    sink = WavSink(target, 48000, 2)  # a temporary file beside the target, renamed into place at the end
    try:
        stats = render(built.engine, built.end_sample, sink, progress=lambda f: progress(f, "rendering"))
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    return {"output": str(target), "seconds": stats.seconds}


KINDS: dict[str, Callable[[Job, Path, Callable[[float, str], None]], dict[str, Any]]] = {"render": _render}


def work_one(store: JobStore, out_dir: Path, worker: str, kinds: tuple[str, ...] | None = None) -> Job | None:
    """Take one job and run it to its end (or to a cancel); returns it as it ended, or None if none was
    due."""
    job = store.claim(worker, kinds)
    if job is None:
        return None
    state: dict[str, Any] = {"progress": 0.0, "stage": "started", "cancelled": False}
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(store.lease_s / 3):
            if not store.heartbeat(job.id, worker, state["progress"], state["stage"]):
                state["cancelled"] = True
                return

    def progress(fraction: float, stage: str) -> None:
        state["progress"], state["stage"] = max(0.0, min(1.0, fraction)), stage
        if state["cancelled"]:
            raise Cancelled()

    beater = threading.Thread(target=beat, name="strum-job-heartbeat", daemon=True)
    beater.start()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for left in out_dir.glob(f".{job.id}.*.part"):  # an earlier attempt's, whose worker was killed
            left.unlink(missing_ok=True)
        result = KINDS[job.kind](job, out_dir, progress)
        stop.set()
        beater.join()
        if state["cancelled"]:
            raise Cancelled()
        store.finish(job.id, worker, result)
    except Cancelled:
        stop.set()
        store.heartbeat(job.id, worker, state["progress"], "cancelled")  # records the cancel
    except BadInput as exc:
        stop.set()
        store.fail(job.id, worker, str(exc), retry=False)
    except Exception as exc:
        stop.set()
        store.fail(job.id, worker, f"{type(exc).__name__}: {exc}", retry=True)
    finally:
        stop.set()
    return store.get(job.id)


def run_worker(store: JobStore, out_dir: Path, once: bool = False, poll_s: float = 0.2,
               kinds: tuple[str, ...] | None = None) -> int:  # fmt: skip
    """Work until stopped (or, with ``once``, until no job is due); returns the jobs run."""
    worker = worker_id()
    n = 0
    while True:
        job = work_one(store, out_dir, worker, kinds)
        if job is None:
            if once:
                return n
            time.sleep(poll_s)
            continue
        n += 1
