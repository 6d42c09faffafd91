"""The job registry of the Celery backend: every job's record in Redis, readable from any host.

A Celery broker carries messages, not records: a message says "run job X" and is gone once acknowledged,
and neither RabbitMQ nor Redis can list what is queued, running or finished with its progress. So every
job also has a record here, a Redis hash ``<prefix>job:<id>`` (kind, params, state, attempts, progress,
stage, result, error, cancel flag, lease, times), indexed by a sorted set ``<prefix>index`` of ids by
creation time. The record, not the message, says what a job is and whether it may run: a worker claims
the job in the record before running it (one atomic WATCH/MULTI transaction), so a message delivered twice
(a worker killed after finishing but before its acknowledgement, a broker restoring an unacknowledged
message) never runs a finished job again, and a job held by a live worker (its lease renewed by the
heartbeat) is not taken by a second one.

It keeps the semantics of the embedded :class:`bridge.jobs.store.JobStore` (states, attempts, leases,
cancel, backoff) and is the :class:`bridge.jobs.worker.Ledger` of the Celery task.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from bridge.jobs.store import STATES, Job, JobError

__all__ = ["Claim", "RedisRegistry"]

ENDED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Claim:
    """What a delivery of a job may do: ``run`` (claimed: ``job`` is it, running), ``wait`` (a live worker
    holds it or its retry is not due: ask again in ``wait_s``), or ``drop`` (no such job, or it has ended
    or just failed for good: ``reason``)."""

    verdict: str
    job: Job | None = None
    wait_s: float = 0.0
    reason: str = ""


def _job(h: dict[str, str]) -> Job:
    def opt(key: str) -> float | None:
        return float(h[key]) if h.get(key) else None

    return Job(
        id=h["id"], kind=h["kind"], params=json.loads(h["params"]), state=h["state"],
        attempts=int(h["attempts"]), max_attempts=int(h["max_attempts"]), progress=float(h["progress"]),
        stage=h["stage"], result=json.loads(h["result"]) if h.get("result") else None,
        error=h.get("error") or None, worker=h.get("worker") or None, created=float(h["created"]),
        started=opt("started"), finished=opt("finished"),
    )  # fmt: skip


class RedisRegistry:
    """Job records in Redis at ``url`` under ``prefix`` (see the module docstring)."""

    def __init__(self, url: str, prefix: str = "strum:jobs:", lease_s: float = 30.0, backoff_s: float = 1.0):
        self.url = url
        self.prefix = prefix
        self.lease_s = float(lease_s)
        self.backoff_s = float(backoff_s)
        # Any: with decode_responses every reply is str, which redis' stubs cannot say
        self._r: Any = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)

    def close(self) -> None:
        self._r.close()

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def _update(self, job_id: str, change: Any) -> Any:
        """Read a job's record and write ``change(record, pipe)`` atomically (retried if it moved meanwhile);
        returns what ``change`` returned."""
        key = self._key(job_id)
        out: list[Any] = []

        def tx(pipe: Any) -> None:
            out.clear()
            h = pipe.hgetall(key)
            pipe.multi()
            out.append(change(h, pipe))

        self._r.transaction(tx, key)
        return out[0]

    # -- clients ----------------------------------------------------------------------------------------
    def submit(
        self, kind: str, params: dict[str, Any], max_attempts: int = 3, job_id: str | None = None
    ) -> str:
        jid = job_id or uuid.uuid4().hex[:16]
        now = time.time()
        record: dict[str | bytes, str | int | float] = {
            "id": jid, "kind": kind, "params": json.dumps(params), "state": "queued", "attempts": 0,
            "max_attempts": int(max_attempts), "not_before": 0, "lease_until": 0, "worker": "",
            "progress": 0.0, "stage": "", "result": "", "error": "", "cancel": 0, "created": now,
            "started": "", "finished": "",
        }  # fmt: skip
        pipe = self._r.pipeline()
        pipe.hset(self._key(jid), mapping=record)
        pipe.zadd(self.prefix + "index", {jid: now})
        pipe.execute()
        return jid

    def forget(self, job_id: str) -> None:
        """Remove a job's record (a submit whose message could not be sent)."""
        pipe = self._r.pipeline()
        pipe.delete(self._key(job_id))
        pipe.zrem(self.prefix + "index", job_id)
        pipe.execute()

    def get(self, job_id: str) -> Job:
        h = self._r.hgetall(self._key(job_id))
        if not h:
            raise JobError(f"no job {job_id!r}")
        return _job(h)

    def list(self, state: str | None = None) -> list[Job]:
        if state is not None and state not in STATES:
            raise JobError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        ids = self._r.zrange(self.prefix + "index", 0, -1)
        pipe = self._r.pipeline()
        for jid in ids:
            pipe.hgetall(self._key(jid))
        jobs = [_job(h) for h in pipe.execute() if h]
        return [j for j in jobs if state is None or j.state == state]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for job in self.list():
            out[job.state] += 1
        return out

    def cancel(self, job_id: str) -> Job:
        def change(h: dict[str, str], pipe: Any) -> str | None:
            if not h:
                return f"no job {job_id!r}"
            if h["state"] in ENDED:
                return f"job {job_id} is {h['state']} already"
            if h["state"] == "queued":  # its message still comes: the claim drops it
                pipe.hset(self._key(job_id), mapping={"state": "cancelled", "finished": time.time()})
            else:  # running: its worker stops at its next heartbeat
                pipe.hset(self._key(job_id), "cancel", 1)
            return None

        error = self._update(job_id, change)
        if error:
            raise JobError(error)
        return self.get(job_id)

    # -- workers ----------------------------------------------------------------------------------------
    def claim(self, job_id: str, worker: str) -> Claim:
        """Take job ``job_id`` for ``worker`` if it may run now (see :class:`Claim`)."""
        key = self._key(job_id)

        def change(h: dict[str, str], pipe: Any) -> Claim:
            now = time.time()
            if not h:
                return Claim("drop", reason="no such job")
            if h["state"] in ENDED:
                return Claim("drop", reason=f"it is {h['state']} already")
            if h["state"] == "running" and float(h["lease_until"]) > now:
                return Claim("wait", wait_s=float(h["lease_until"]) - now, reason=f"{h['worker']} holds it")
            if h["state"] == "queued" and float(h["not_before"]) > now:
                return Claim("wait", wait_s=float(h["not_before"]) - now, reason="its retry is not due")
            attempts = int(h["attempts"])
            if h["cancel"] == "1":  # cancelled while running, and its worker died before it stopped
                pipe.hset(key, mapping={"state": "cancelled", "finished": now})
                return Claim("drop", reason="it was cancelled")
            if h["state"] == "running" and attempts >= int(h["max_attempts"]):
                error = f"its worker stopped {attempts} times (the last lease lapsed)"
                pipe.hset(key, mapping={"state": "failed", "error": error, "finished": now})
                return Claim("drop", reason=error)
            pipe.hset(key, mapping={
                "state": "running", "worker": worker, "attempts": attempts + 1,
                "lease_until": now + self.lease_s, "started": now, "progress": 0.0, "stage": "started",
            })  # fmt: skip
            return Claim("run")

        claim = self._update(job_id, change)
        if claim.verdict == "run":
            return Claim("run", job=self.get(job_id))
        return claim

    def heartbeat(self, job_id: str, worker: str, progress: float, stage: str) -> bool:
        """Renew the lease and record progress; False if the job was cancelled or taken from this worker."""
        key = self._key(job_id)

        def change(h: dict[str, str], pipe: Any) -> bool:
            mine = bool(h) and h["state"] == "running" and h["worker"] == worker and h["cancel"] != "1"
            if mine:
                pipe.hset(key, mapping={
                    "lease_until": time.time() + self.lease_s, "progress": float(progress), "stage": stage,
                })  # fmt: skip
            return mine

        return bool(self._update(job_id, change))

    def cancelled(self, job_id: str, worker: str) -> bool:
        """Record that ``worker`` stopped a job cancelled while it ran (once its partial output is gone)."""
        key = self._key(job_id)

        def change(h: dict[str, str], pipe: Any) -> bool:
            mine = bool(h) and h["state"] == "running" and h["worker"] == worker
            if mine:
                pipe.hset(key, mapping={"state": "cancelled", "stage": "cancelled", "finished": time.time()})
            return mine

        return bool(self._update(job_id, change))

    def finish(self, job_id: str, worker: str, result: dict[str, Any]) -> bool:
        key = self._key(job_id)

        def change(h: dict[str, str], pipe: Any) -> bool:
            mine = bool(h) and h["state"] == "running" and h["worker"] == worker
            if mine:
                pipe.hset(key, mapping={
                    "state": "done", "result": json.dumps(result), "progress": 1.0, "stage": "done",
                    "finished": time.time(),
                })  # fmt: skip
            return mine

        return bool(self._update(job_id, change))

    def fail(self, job_id: str, worker: str, error: str, retry: bool) -> bool:
        """A job's attempt failed: queued again later (``retry`` and attempts left) or failed for good."""
        key = self._key(job_id)

        def change(h: dict[str, str], pipe: Any) -> bool:
            if not h or h["state"] != "running" or h["worker"] != worker:
                return False
            now, attempts = time.time(), int(h["attempts"])
            if retry and attempts < int(h["max_attempts"]):
                pipe.hset(key, mapping={
                    "state": "queued", "worker": "", "error": error,
                    "not_before": now + self.retry_delay(attempts),
                })  # fmt: skip
            else:
                pipe.hset(key, mapping={"state": "failed", "error": error, "finished": now})
            return True

        return bool(self._update(job_id, change))

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next attempt of a job that failed ``attempts`` times (exponential backoff)."""
        return self.backoff_s * 2 ** (attempts - 1)
