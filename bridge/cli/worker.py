"""``strum worker``: run queued jobs (the queue: see :mod:`bridge.cli.jobs`); start as many as you like.

    strum worker [--dir DIR] [--once] [--lease S] [--metrics-port N]         # the embedded queue
    strum worker --broker URL [--registry URL] [--gpus 0,1] [--visibility-timeout S] [--metrics-port N]

``--gpus 0,1`` starts one worker process per GPU, each seeing only its own (``CUDA_VISIBLE_DEVICES``), so
a job's model runs on ``cuda:0`` of whichever process takes it; metrics then come from ports N, N+1...
``--metrics-port`` serves ``http://127.0.0.1:N/metrics`` (Prometheus text: jobs by state, durations, GPU
memory). ``--visibility-timeout`` (Redis brokers) must be longer than the longest job.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridge.cli import CliError
from bridge.cli.jobs import add_queue_arguments, open_queue

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_queue_arguments(p)
    p.add_argument("--once", action="store_true", help="stop when no job is due (embedded queue)")
    p.add_argument(
        "--lease", type=float, default=30.0, metavar="S", help="seconds a job is held between heartbeats"
    )
    p.add_argument("--visibility-timeout", type=float, metavar="S",
                   help="Redis broker: seconds before an unacknowledged job is delivered again; longer than"
                   " the longest job (default $STRUM_VISIBILITY_TIMEOUT or 6 hours)")  # fmt: skip
    p.add_argument("--gpus", metavar="LIST", help="one worker process per GPU: 0,1 (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--metrics-port", type=int, metavar="N", help="metrics on http://127.0.0.1:N/metrics")


def run(args: argparse.Namespace) -> int:
    if not 0.5 <= args.lease <= 3600:
        raise CliError(f"--lease must be 0.5..3600 seconds, got {args.lease}", 2)
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise CliError(f"--metrics-port must be 1..65535, got {args.metrics_port}", 2)
    if args.once and args.broker:
        raise CliError("--once is for the embedded queue (a Celery worker runs until it is stopped)", 2)
    if args.gpus is not None:
        gpus = [g.strip() for g in args.gpus.split(",")]
        if not all(gpus):
            raise CliError(f"--gpus is a list of GPU indices like 0,1, got {args.gpus!r}", 2)
        return _per_gpu(args, gpus)
    jobs = open_queue(args, lease_s=args.lease, visibility_timeout_s=args.visibility_timeout)
    server = None
    try:
        if args.metrics_port is not None:
            from bridge.jobs.backend import job_lister
            from bridge.jobs.metrics import serve_metrics

            try:
                server = serve_metrics(args.metrics_port, job_lister(jobs))
            except OSError as exc:
                raise CliError(f"cannot serve metrics on 127.0.0.1:{args.metrics_port}: {exc}", 2) from None
        if args.broker:
            from bridge.jobs.celery_backend import run_celery_worker

            return run_celery_worker(jobs.settings)
        from bridge.jobs.worker import run_worker

        n = run_worker(jobs, Path(args.dir) / "out", once=args.once)
        print(f"strum worker: {n} jobs run", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.shutdown()
        jobs.close()


def _per_gpu(args: argparse.Namespace, gpus: list[str]) -> int:
    """One worker process per GPU, each pinned to its own; stopping this one stops them all."""
    procs: list[subprocess.Popen[Any]] = []
    for i, gpu in enumerate(gpus):
        argv = [sys.executable, "-m", "bridge.cli", "worker", "--dir", args.dir, "--lease", str(args.lease)]
        argv += ["--broker", args.broker] if args.broker else []
        argv += ["--registry", args.registry] if args.registry else []
        argv += ["--visibility-timeout", str(args.visibility_timeout)] if args.visibility_timeout else []
        argv += ["--once"] if args.once else []
        argv += ["--metrics-port", str(args.metrics_port + i)] if args.metrics_port is not None else []
        procs.append(subprocess.Popen(argv, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu}))

    def stop(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return max(p.wait() for p in procs)
