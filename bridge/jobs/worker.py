"""A worker: takes jobs from a :class:`bridge.jobs.store.JobStore`, runs them with a heartbeat that renews
the lease and reports progress, and writes each output under the output folder as ``<job id>.<ext>``:
first to a temporary file, renamed into place when complete, so a worker killed halfway leaves no partial
output under the job's name (the next attempt removes the killed one's temporary file) and a job run twice
leaves one.

Job kinds: ``render`` (a song file to WAV: ``{"song": PATH}``) and ``separate`` (a mixed song into stems:
``{"audio": PATH, "model": NAME, ...}``, :mod:`bridge.jobs.separate`). Input that can never succeed (a
missing or corrupt song) fails the job at once with the reason; other errors are retried with backoff. A
job may name a folder for its output (``{"out": "sub/folder"}``), which must lie inside the output folder:
a path that leaves it is refused when the job is submitted and again when it runs.

:func:`run_claimed` is the one place a job runs, whichever queue it came from: the embedded store here
(:func:`work_one`) or Celery (:mod:`bridge.jobs.celery_backend`), each with its own :class:`Ledger`.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bridge.jobs.store import Job, JobStore, worker_id

__all__ = [
    "KINDS",
    "BadInput",
    "Ledger",
    "check_params",
    "output_folder",
    "run_claimed",
    "run_worker",
    "work_one",
]


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
    elif kind == "separate":
        from bridge.jobs.separate import check_separate_params

        params = check_separate_params(params, BadInput)
    return params


def output_folder(root: Path, params: dict[str, Any]) -> Path:
    """The folder a job writes its output to: the output folder ``root`` or the folder ``params["out"]``
    names inside it (relative to it, or absolute); BadInput for one outside it (``..``, another folder,
    a link that leads out)."""
    out = params.get("out") or "."
    if not isinstance(out, str):
        raise BadInput(f"'out' must be a folder path, got {out!r}")
    base = Path(root).resolve()
    folder = (base / out).resolve()
    if folder != base and base not in folder.parents:
        raise BadInput(f"output folder {out!r} is outside the allowed folder {base}")
    return folder


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


def _separate(job: Job, out_dir: Path, progress: Callable[[float, str], None]) -> dict[str, Any]:
    from bridge.jobs.separate import run_separate

    return run_separate(job.id, job.params, out_dir, progress, BadInput)


KINDS: dict[str, Callable[[Job, Path, Callable[[float, str], None]], dict[str, Any]]] = {
    "render": _render,
    "separate": _separate,
}


class Ledger(Protocol):
    """Where a running job's state is kept (:class:`bridge.jobs.store.JobStore`, or the Redis registry of
    the Celery backend): the lease, progress, cancel flag and end of a job a worker has claimed."""

    lease_s: float

    def heartbeat(self, job_id: str, worker: str, progress: float, stage: str) -> bool: ...
    def cancelled(self, job_id: str, worker: str) -> bool: ...
    def finish(self, job_id: str, worker: str, result: dict[str, Any]) -> bool: ...
    def fail(self, job_id: str, worker: str, error: str, retry: bool) -> bool: ...
    def get(self, job_id: str) -> Job: ...


def work_one(store: JobStore, out_dir: Path, worker: str, kinds: tuple[str, ...] | None = None) -> Job | None:
    """Take one job and run it to its end (or to a cancel); returns it as it ended, or None if none was
    due."""
    job = store.claim(worker, kinds)
    if job is None:
        return None
    return run_claimed(store, job, out_dir, worker)


def run_claimed(ledger: Ledger, job: Job, out_dir: Path, worker: str) -> Job:
    """Run a job ``worker`` has claimed: its kind's function from :data:`KINDS`, a heartbeat thread that
    renews the lease and records progress, the end recorded (done, failed with or without a retry, or
    cancelled); returns the job as it ended."""
    state: dict[str, Any] = {"progress": 0.0, "stage": "started", "cancelled": False}
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ledger.lease_s / 3):
            try:
                ok = ledger.heartbeat(job.id, worker, state["progress"], state["stage"])
            except Exception:  # the ledger is away for a moment: try again at the next beat
                continue
            if not ok:
                state["cancelled"] = True
                return

    def progress(fraction: float, stage: str) -> None:
        state["progress"], state["stage"] = max(0.0, min(1.0, fraction)), stage
        if state["cancelled"]:
            raise Cancelled()

    beater = threading.Thread(target=beat, name="strum-job-heartbeat", daemon=True)
    beater.start()
    try:
        folder = output_folder(out_dir, job.params)
        folder.mkdir(parents=True, exist_ok=True)
        for left in folder.glob(f".{job.id}.*.part"):  # an earlier attempt's, whose worker was killed
            if left.is_dir():  # a kind that writes a folder of files (stems)
                shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)
        result = KINDS[job.kind](job, folder, progress)
        stop.set()
        beater.join()
        if state["cancelled"]:
            raise Cancelled()
        ledger.finish(job.id, worker, result)
    except Cancelled:
        stop.set()
        ledger.cancelled(job.id, worker)  # its kind function has removed its partial output by now
    except BadInput as exc:
        stop.set()
        ledger.fail(job.id, worker, str(exc), retry=False)
    except Exception as exc:
        stop.set()
        ledger.fail(job.id, worker, f"{type(exc).__name__}: {exc}", retry=True)
    finally:
        stop.set()
    return ledger.get(job.id)


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
