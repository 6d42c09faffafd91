"""``strum jobs`` and ``strum worker``: long jobs (renders now) in a queue that loses nothing.

    strum jobs submit render SONG.yaml [--attempts N]      # prints the job id
    strum jobs status ID [--wait]                          # state, progress and stage (--wait: a bar)
    strum jobs list [--state S]
    strum jobs cancel ID
    strum jobs result ID                                   # the output's path once done
    strum worker [--once] [--lease S]                      # runs jobs; start as many as you like

Everything lives in ``--dir`` (default ``$STRUM_JOBS_DIR`` or ``./strum-jobs``): ``jobs.db`` and the outputs
in ``out/``, each named by its job id.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bridge.cli import CliError

__all__ = ["add_arguments", "add_worker_arguments", "run", "run_worker_command"]


def _dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=os.environ.get("STRUM_JOBS_DIR", "strum-jobs"), help="the queue's folder")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    s = sub.add_parser("submit", help="queue a job")
    s.add_argument("kind", choices=("render",))
    s.add_argument("song")
    s.add_argument("--attempts", type=int, default=3)
    _dir_arg(s)
    st = sub.add_parser("status", help="a job's state and progress")
    st.add_argument("id")
    st.add_argument("--wait", action="store_true", help="follow it with a progress bar until it ends")
    _dir_arg(st)
    ls = sub.add_parser("list", help="the jobs")
    ls.add_argument("--state")
    _dir_arg(ls)
    c = sub.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("id")
    _dir_arg(c)
    r = sub.add_parser("result", help="a finished job's output")
    r.add_argument("id")
    _dir_arg(r)


def _store(args: argparse.Namespace):
    from bridge.jobs.store import JobStore

    try:
        return JobStore(Path(args.dir) / "jobs.db", lease_s=getattr(args, "lease", 30.0))
    except Exception as exc:
        raise CliError(f"cannot open the job queue in {args.dir}: {exc}", 2) from None


def _line(job) -> str:
    extra = f"  {job.error}" if job.error else ""
    return f"{job.id}  {job.kind:<7} {job.state:<9} {job.progress * 100:5.1f}%  {job.stage}{extra}"


def run(args: argparse.Namespace) -> int:
    from bridge.jobs.store import JobError
    from bridge.jobs.worker import BadInput, check_params

    store = _store(args)
    try:
        if args.jobs_command == "submit":
            if not 1 <= args.attempts <= 20:
                raise CliError(f"--attempts must be in 1..20, got {args.attempts}", 2)
            params = check_params(args.kind, {"song": args.song})
            print(store.submit(args.kind, params, args.attempts))
        elif args.jobs_command == "status":
            job = store.get(args.id)
            if args.wait:
                _follow(store, job.id)
                job = store.get(args.id)
            print(_line(job))
            return 0 if job.state != "failed" else 1
        elif args.jobs_command == "list":
            for job in store.list(args.state):
                print(_line(job))
        elif args.jobs_command == "cancel":
            print(_line(store.cancel(args.id)))
        elif args.jobs_command == "result":
            job = store.get(args.id)
            if job.state != "done" or job.result is None:
                raise CliError(f"job {job.id} is {job.state}" + (f": {job.error}" if job.error else ""), 1)
            print(job.result["output"])
    except (JobError, BadInput) as exc:
        raise CliError(str(exc), 2) from None
    finally:
        store.close()
    return 0


def _follow(store, job_id: str) -> None:
    from tqdm import tqdm

    with tqdm(total=100, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}% {postfix}") as bar:
        while True:
            job = store.get(job_id)
            bar.n = job.progress * 100
            bar.set_postfix_str(f"{job.state}, {job.stage}")
            if job.state in ("done", "failed", "cancelled"):
                return
            time.sleep(0.2)


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    _dir_arg(p)
    p.add_argument("--once", action="store_true", help="stop when no job is due")
    p.add_argument(
        "--lease", type=float, default=30.0, metavar="S", help="seconds a job is held between heartbeats"
    )


def run_worker_command(args: argparse.Namespace) -> int:
    from bridge.jobs.worker import run_worker

    if not 0.5 <= args.lease <= 3600:
        raise CliError(f"--lease must be 0.5..3600 seconds, got {args.lease}", 2)
    store = _store(args)
    try:
        n = run_worker(store, Path(args.dir) / "out", once=args.once)
    except KeyboardInterrupt:
        return 130
    finally:
        store.close()
    print(f"strum worker: {n} jobs run", file=sys.stderr)
    return 0
