"""The job queue on Celery: GPU workers on many hosts, a RabbitMQ or Redis broker, job records in Redis.

Design. The broker carries one small message per job ("run job ID"); the job's record (kind, params,
state, progress, result, error, attempts, cancel flag) lives in the Redis registry
(:class:`bridge.jobs.registry.RedisRegistry`), which any host can list and read, and which decides whether a
delivered message may run: a worker claims the job there before running it. The job itself is run by
:func:`bridge.jobs.worker.run_claimed`, the same code and the same kind functions (``KINDS``) as the
embedded queue's workers, with the registry as its ledger (lease renewed by a heartbeat, progress, cancel).

Nothing is lost, nothing runs twice:
- ``task_acks_late``: a message is acknowledged after its job ends, not when a worker takes it, so a
  worker that dies mid-job leaves it unacknowledged and the broker delivers it again (RabbitMQ as soon as
  the worker's connection drops; Redis once ``visibility_timeout`` has passed since delivery, at the next
  restore sweep, run every ``unacked_restore_interval`` seconds: tuned here to a quarter of the timeout,
  at most 10 s, instead of kombu's default of about 100 s).
- ``task_reject_on_worker_lost``: the same when only the pool process running the job dies (kill -9,
  out of memory): the message is requeued instead of acknowledged as failed.
- ``worker_prefetch_multiplier = 1``: a worker holds only the message it works on, so a killed worker
  strands no queued jobs behind its running one, and a long GPU job never sits behind another.
- ``visibility_timeout`` (Redis) longer than the longest job: Redis redelivers a message unacknowledged
  that long even if its worker is alive. Untuned, a Redis broker has been seen to lose 2 of 50 jobs to a
  killed worker; with these settings the contract tests lose none on either broker.
- The claim in the registry makes redelivery harmless: a message for a job that has ended is dropped;
  one for a job whose worker is alive (lease renewed) waits for that worker, and takes the job over
  only when the lease lapses. So a duplicate delivery never runs a finished job again.
- Publisher confirms on RabbitMQ: ``submit`` returns once the broker has the message.
- A task that cannot reach the registry (claiming, or recording the end) puts its message back on the
  queue (``Reject(requeue=True)``, after a pause) instead of failing: the job is not lost with it.

Retries: an error other than :class:`bridge.jobs.worker.BadInput` queues the job again in the registry
and the task retries itself after an exponential backoff; ``BadInput`` fails it at once. Cancel: a queued
job is marked cancelled and its message dropped on delivery; a running one stops at its next heartbeat.
Outputs: the same temporary file renamed under the job id, in the worker's output folder (``DIR/out``,
shared storage when workers are on several hosts).

Make a client with :class:`CeleryJobs`; run a worker with :func:`run_celery_worker`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.jobs.registry import RedisRegistry
from bridge.jobs.store import Job, JobError, worker_id

__all__ = ["QUEUE", "TASK", "CeleryJobs", "CelerySettings", "celery_config", "run_celery_worker"]

QUEUE = "strum-jobs"
TASK = "strum.run_job"
DEFAULT_VISIBILITY_TIMEOUT_S = 6 * 3600.0
REGISTRY_RETRY_S = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CelerySettings:
    """Where the queue is: ``broker`` and ``registry`` URLs, the output folder, and its timings."""

    broker: str
    registry: str
    out_dir: Path
    lease_s: float = 30.0
    backoff_s: float = 1.0
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S

    @classmethod
    def make(
        cls,
        broker: str,
        registry: str | None,
        folder: str | Path,
        lease_s: float = 30.0,
        backoff_s: float = 1.0,
        visibility_timeout_s: float | None = None,
    ) -> CelerySettings:
        """Settings from the command line's values (registry and timeout default to the environment's);
        JobError for a bad broker or registry URL, or a timeout not longer than the lease."""
        from bridge.jobs.backend import check_broker

        check_broker(broker)
        registry = registry or os.environ.get("STRUM_REGISTRY") or None
        if registry is None:
            if not broker.startswith(("redis://", "rediss://")):
                raise JobError(
                    "a RabbitMQ broker needs a Redis registry for the job records:"
                    " --registry redis://HOST:PORT/N (or $STRUM_REGISTRY)"
                )
            registry = broker
        if not registry.startswith(("redis://", "rediss://")):
            raise JobError(f"the job registry is a Redis URL (redis://HOST:PORT/N), got {registry!r}")
        if visibility_timeout_s is None:
            default = DEFAULT_VISIBILITY_TIMEOUT_S
            visibility_timeout_s = float(os.environ.get("STRUM_VISIBILITY_TIMEOUT", default))
        if visibility_timeout_s <= lease_s:
            raise JobError(
                f"the visibility timeout ({visibility_timeout_s:g} s) must be longer than the lease"
                f" ({lease_s:g} s) and than the longest job"
            )
        return cls(broker, registry, Path(folder) / "out", lease_s, backoff_s, visibility_timeout_s)


def celery_config(s: CelerySettings) -> dict[str, Any]:
    """Celery's settings for this queue (the module docstring says why each)."""
    transport: dict[str, Any]
    if s.broker.startswith(("redis://", "rediss://")):
        transport = {
            "visibility_timeout": s.visibility_timeout_s,
            "unacked_restore_interval": max(1.0, min(10.0, s.visibility_timeout_s / 4)),
            "unacked_restore_throttle": 1,
        }
    else:
        transport = {"confirm_publish": True}
    return {
        "broker_url": s.broker,
        "result_backend": s.registry,  # Celery's own task states (STARTED, RETRY, SUCCESS) beside the records
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "broker_transport_options": transport,
        "result_expires": 7 * 86400,
        "task_default_queue": QUEUE,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        # a broker blip does not kill a long GPU job: it runs on, and the copy redelivered meanwhile waits
        # in its claim for the job to end, then is dropped
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_hijack_root_logger": False,
    }


def make_app(s: CelerySettings) -> Any:
    from celery import Celery

    app = Celery("strum", set_as_current=False)
    app.conf.update(celery_config(s))
    app.task(name=TASK, bind=True)(_run_job)
    return app


# -- clients --------------------------------------------------------------------------------------------
class CeleryJobs:
    """The job interface (:class:`bridge.jobs.backend.Jobs`) on Celery: records in the registry, one message
    per job on the broker."""

    def __init__(self, settings: CelerySettings) -> None:
        self.settings = settings
        s = settings
        self.registry = RedisRegistry(s.registry, lease_s=s.lease_s, backoff_s=s.backoff_s)
        self.app = make_app(settings)

    def submit(
        self, kind: str, params: dict[str, Any], max_attempts: int = 3, job_id: str | None = None
    ) -> str:
        try:
            jid = self.registry.submit(kind, params, max_attempts, job_id)
        except Exception as exc:
            raise JobError(f"cannot reach the job registry {self.settings.registry}: {exc}") from None
        try:
            self.app.send_task(TASK, args=[jid], task_id=jid, queue=QUEUE)
        except Exception as exc:
            self.registry.forget(jid)
            raise JobError(f"cannot queue the job on {self.settings.broker}: {exc}") from None
        return jid

    def send_again(self, job_id: str) -> None:
        """Deliver a job's message once more, as a broker does after a lost acknowledgement (tests use it:
        a duplicate delivery must not run a job twice)."""
        self.app.send_task(TASK, args=[job_id], task_id=job_id, queue=QUEUE)

    def get(self, job_id: str) -> Job:
        return self.registry.get(job_id)

    def list(self, state: str | None = None) -> list[Job]:
        return self.registry.list(state)

    def cancel(self, job_id: str) -> Job:
        return self.registry.cancel(job_id)

    def counts(self) -> dict[str, int]:
        return self.registry.counts()

    def close(self) -> None:
        self.registry.close()
        self.app.close()


# -- workers --------------------------------------------------------------------------------------------
_WORKER: CelerySettings | None = None  # set before the pool forks, so each pool process has it
_REGISTRY: dict[int, RedisRegistry] = {}


def _registry(s: CelerySettings) -> RedisRegistry:
    pid = os.getpid()  # one connection per pool process, never one inherited across fork
    if pid not in _REGISTRY:
        _REGISTRY.clear()
        _REGISTRY[pid] = RedisRegistry(s.registry, lease_s=s.lease_s, backoff_s=s.backoff_s)
    return _REGISTRY[pid]


def _run_job(task: Any, job_id: str) -> str:
    """The Celery task: claim job ``job_id`` in the registry, run it, record its end (or retry it later)."""
    from celery.exceptions import Reject
    from redis.exceptions import RedisError

    from bridge.jobs.worker import run_claimed

    if _WORKER is None:
        raise RuntimeError("strum.run_job runs in a worker started by run_celery_worker")
    registry = _registry(_WORKER)
    worker = worker_id()
    try:
        while True:
            claim = registry.claim(job_id, worker)
            if claim.verdict != "wait":
                break
            time.sleep(min(max(claim.wait_s, 0.05), 5.0))  # a duplicate: wait for the holder to end or die
        if claim.job is None:
            log.info("job %s: delivery dropped (%s)", job_id, claim.reason)
            return f"dropped: {claim.reason}"
        job = run_claimed(registry, claim.job, _WORKER.out_dir, worker)
    except RedisError as exc:  # the registry is away: the message goes back, the job runs when it returns
        log.warning("job %s: the job registry is unreachable (%s); requeued", job_id, exc)
        time.sleep(REGISTRY_RETRY_S)
        raise Reject(str(exc), requeue=True) from None
    if job.state == "queued":  # failed, attempts left: the registry holds it until the backoff has passed
        raise task.retry(countdown=registry.retry_delay(job.attempts), max_retries=None)
    return job.state


def run_celery_worker(settings: CelerySettings, concurrency: int = 1, loglevel: str = "WARNING") -> int:
    """Run a Celery worker for the queue until it is stopped (SIGTERM: after its running jobs end); each of
    its ``concurrency`` pool processes runs one job at a time."""
    global _WORKER
    _WORKER = settings
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    import engine.render  # noqa: F401  # imported here, before the pool forks: every job starts warm
    import presets.song  # noqa: F401

    app = make_app(settings)
    argv = [
        "worker", "--pool=prefork", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", QUEUE,
        "-n", f"strum-{os.getpid()}@{os.uname().nodename}",
    ]  # fmt: skip
    code = app.worker_main(argv)
    return int(code or 0)
