"""One job interface, two backends: :func:`open_jobs` gives the embedded SQLite queue
(:class:`bridge.jobs.store.JobStore`, the default: one machine, nothing to install) or, given a broker URL,
the Celery one (:class:`bridge.jobs.celery_backend.CeleryJobs`: GPU workers on many hosts). Both answer
:class:`Jobs`: submit, get (state, progress, stage, result, error), list, cancel, counts.

The broker comes from ``--broker`` or ``$STRUM_BROKER`` (``redis://HOST:PORT/N`` or
``amqp://USER:PASS@HOST:PORT/VHOST``), the Celery backend's job registry from ``--registry`` or
``$STRUM_REGISTRY`` (a Redis URL; the broker itself when it is Redis).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bridge.jobs.store import Job, JobError, JobStore

__all__ = ["BROKER_SCHEMES", "Jobs", "check_broker", "job_lister", "open_jobs"]

BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")


class Jobs(Protocol):
    """What clients (``strum jobs``) and the metrics ask of a queue, whichever backend holds it."""

    def submit(
        self, kind: str, params: dict[str, Any], max_attempts: int = 3, job_id: str | None = None
    ) -> str: ...
    def get(self, job_id: str) -> Job: ...
    def list(self, state: str | None = None) -> list[Job]: ...
    def cancel(self, job_id: str) -> Job: ...
    def counts(self) -> dict[str, int]: ...
    def close(self) -> None: ...


def check_broker(url: str) -> str:
    if not url.startswith(BROKER_SCHEMES):
        raise JobError(f"a broker URL starts with redis:// or amqp://, got {url!r}")
    return url


def open_jobs(
    folder: str | Path,
    broker: str | None = None,
    registry: str | None = None,
    lease_s: float = 30.0,
    backoff_s: float = 1.0,
    visibility_timeout_s: float | None = None,
) -> Jobs:
    """The queue: Celery on ``broker`` (or ``$STRUM_BROKER``) if one is named, else SQLite in ``folder``."""
    broker = broker or os.environ.get("STRUM_BROKER") or None
    if broker is None:
        return JobStore(Path(folder) / "jobs.db", lease_s=lease_s, backoff_s=backoff_s)
    from bridge.jobs.celery_backend import CeleryJobs, CelerySettings

    settings = CelerySettings.make(broker, registry, folder, lease_s, backoff_s, visibility_timeout_s)
    return CeleryJobs(settings)


def job_lister(jobs: Jobs) -> Callable[[], list[Job]]:
    """A function that lists the jobs of queue ``jobs`` from any thread (the metrics endpoint's): through its
    own connection, never the one a worker's transactions use."""
    if isinstance(jobs, JobStore):
        path, lease_s = jobs.path, jobs.lease_s

        def from_sqlite() -> list[Job]:
            store = JobStore(path, lease_s=lease_s)
            try:
                return store.list()
            finally:
                store.close()

        return from_sqlite
    from bridge.jobs.registry import RedisRegistry

    registry = RedisRegistry(jobs.settings.registry)  # type: ignore[attr-defined]  # its pool is thread-safe
    return registry.list
