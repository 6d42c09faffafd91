"""The embedded job queue: jobs in SQLite, taken by worker processes under leases.

A job is ``queued`` until a worker takes it: the worker holds a lease (``lease_s`` seconds) that its
heartbeat renews while it works. A worker that dies (even killed with SIGKILL) stops renewing, the lease
lapses and the job is queued again for the next worker, up to ``max_attempts``, each retry later than the
last (exponential backoff). A job whose input can never succeed ends ``failed`` with the reason at once.
A job can be cancelled while queued or running (the worker sees it at its next heartbeat, stops at its next
progress report and records the cancel once it has cleaned up). Progress (a
fraction and a stage name) is written by the worker and read by anyone.

Every state change is one SQLite transaction (``BEGIN IMMEDIATE``), so several worker processes on one
machine share one file safely; the WAL journal lets readers read while a worker writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["STATES", "Job", "JobError", "JobStore"]

STATES = ("queued", "running", "done", "failed", "cancelled")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0, worker TEXT,
    progress REAL NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT '', result TEXT, error TEXT,
    cancel INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, started REAL, finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, not_before);
"""


class JobError(Exception):
    """A request about jobs that cannot be met (an unknown job, a cancel too late); the store is unchanged."""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    progress: float
    stage: str
    result: dict[str, Any] | None
    error: str | None
    worker: str | None
    created: float
    started: float | None
    finished: float | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Job:
        return cls(r["id"], r["kind"], json.loads(r["params"]), r["state"], r["attempts"], r["max_attempts"],
                   r["progress"], r["stage"], json.loads(r["result"]) if r["result"] else None, r["error"],
                   r["worker"], r["created"], r["started"], r["finished"])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class JobStore:
    def __init__(self, path: str | Path, lease_s: float = 30.0, backoff_s: float = 1.0) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lease_s = float(lease_s)
        self.backoff_s = float(backoff_s)
        # one connection per thread (a worker's heartbeat thread writes beside its main thread): two
        # threads on one connection would run their transactions inside each other's
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # several workers opening a new queue at once (strum worker --gpus): switching the journal to WAL
        # answers "locked" at once, without waiting out the busy timeout, while another one does it
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections = []
        self._local = threading.local()

    def _tx(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    # -- clients ----------------------------------------------------------------------------------------
    def submit(
        self, kind: str, params: dict[str, Any], max_attempts: int = 3, job_id: str | None = None
    ) -> str:
        jid = job_id or uuid.uuid4().hex[:16]
        self._db.execute(
            "INSERT INTO jobs (id, kind, params, state, max_attempts, created)"
            " VALUES (?, ?, ?, 'queued', ?, ?)",
            (jid, kind, json.dumps(params), int(max_attempts), time.time()),
        )
        return jid

    def get(self, job_id: str) -> Job:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"no job {job_id!r}")
        return Job.from_row(row)

    def list(self, state: str | None = None) -> list[Job]:
        if state is not None and state not in STATES:
            raise JobError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        q = "SELECT * FROM jobs" + (" WHERE state = ?" if state else "") + " ORDER BY created"
        return [Job.from_row(r) for r in self._db.execute(q, (state,) if state else ())]

    def cancel(self, job_id: str) -> Job:
        db = self._tx()
        try:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(f"no job {job_id!r}")
            if row["state"] in ("done", "failed", "cancelled"):
                raise JobError(f"job {job_id} is {row['state']} already")
            if row["state"] == "queued":
                db.execute(
                    "UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ?", (time.time(), job_id)
                )
            else:  # running: its worker stops at its next heartbeat
                db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(job_id)

    # -- workers ----------------------------------------------------------------------------------------
    def claim(self, worker: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        """Take the next job that may run now (queued and due, or running with a lapsed lease)."""
        now = time.time()
        db = self._tx()
        try:
            # a worker that stopped renewing: its job is queued again (or failed when out of attempts)
            lapsed = "SELECT * FROM jobs WHERE state = 'running' AND lease_until < ?"
            for r in db.execute(lapsed, (now,)).fetchall():
                if r["cancel"]:  # cancelled while running, and its worker died before it stopped
                    db.execute(
                        "UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ?", (now, r["id"])
                    )
                elif r["attempts"] >= r["max_attempts"]:
                    db.execute(
                        "UPDATE jobs SET state = 'failed', error = ?, finished = ? WHERE id = ?",
                        (f"its worker stopped {r['attempts']} times (the last lease lapsed)", now, r["id"]),
                    )
                else:
                    db.execute(
                        "UPDATE jobs SET state = 'queued', worker = NULL, not_before = ? WHERE id = ?",
                        (now + self.backoff_s * 2 ** (r["attempts"] - 1), r["id"]),
                    )
            q = "SELECT * FROM jobs WHERE state = 'queued' AND not_before <= ? AND cancel = 0"
            args: list[Any] = [now]
            if kinds:
                q += f" AND kind IN ({','.join('?' * len(kinds))})"
                args += list(kinds)
            row = db.execute(q + " ORDER BY created LIMIT 1", args).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', worker = ?, attempts = attempts + 1, lease_until = ?,"
                " started = ?, progress = 0, stage = 'started' WHERE id = ?",
                (worker, now + self.lease_s, now, row["id"]),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(row["id"])

    def heartbeat(self, job_id: str, worker: str, progress: float, stage: str) -> bool:
        """Renew the lease and record progress; False if the job was cancelled or taken from this worker."""
        db = self._tx()
        try:
            row = db.execute("SELECT state, worker, cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
            ok = (
                row is not None
                and row["state"] == "running"
                and row["worker"] == worker
                and not row["cancel"]
            )
            if ok:
                db.execute("UPDATE jobs SET lease_until = ?, progress = ?, stage = ? WHERE id = ?",
                           (time.time() + self.lease_s, float(progress), stage, job_id))  # fmt: skip
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return ok

    def cancelled(self, job_id: str, worker: str) -> bool:
        """Record that ``worker`` stopped a job cancelled while it ran (once its partial output is gone)."""
        return self._end(job_id, worker, "state = 'cancelled', stage = 'cancelled'", ())

    def finish(self, job_id: str, worker: str, result: dict[str, Any]) -> bool:
        return self._end(
            job_id, worker, "state = 'done', result = ?, progress = 1, stage = 'done'", (json.dumps(result),)
        )

    def fail(self, job_id: str, worker: str, error: str, retry: bool) -> bool:
        """A job's attempt failed: queued again later (``retry`` and attempts left) or failed for good."""
        db = self._tx()
        try:
            row = db.execute(
                "SELECT state, worker, attempts, max_attempts FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None or row["state"] != "running" or row["worker"] != worker:
                db.execute("COMMIT")
                return False
            now = time.time()
            if retry and row["attempts"] < row["max_attempts"]:
                db.execute(
                    "UPDATE jobs SET state = 'queued', worker = NULL, error = ?, not_before = ? WHERE id = ?",
                    (error, now + self.backoff_s * 2 ** (row["attempts"] - 1), job_id),
                )
            else:
                db.execute(
                    "UPDATE jobs SET state = 'failed', error = ?, finished = ? WHERE id = ?",
                    (error, now, job_id),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def _end(self, job_id: str, worker: str, sets: str, values: tuple[Any, ...]) -> bool:
        """End a job ``worker`` is running: ``sets`` (SQL assignments, with ``values``) and its end time."""
        db = self._tx()
        try:
            row = db.execute("SELECT state, worker FROM jobs WHERE id = ?", (job_id,)).fetchone()
            ok = row is not None and row["state"] == "running" and row["worker"] == worker
            if ok:
                sql = f"UPDATE jobs SET {sets}, finished = ? WHERE id = ?"
                db.execute(sql, (*values, time.time(), job_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return ok

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for r in self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"):
            out[r["state"]] = r["n"]
        return out


def worker_id() -> str:
    return f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
