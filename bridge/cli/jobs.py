"""``strum jobs``: long jobs (renders now) in a queue that loses nothing.

    strum jobs submit render SONG.yaml [--attempts N] [--output SUBDIR]   # prints the job id
    strum jobs status ID [--wait]                          # state, progress and stage (--wait: a bar)
    strum jobs list [--state S]
    strum jobs cancel ID
    strum jobs result ID                                   # the output's path once done
    strum jobs metrics                                     # the queue's metrics (Prometheus text)

The queue is the embedded one by default: ``jobs.db`` in ``--dir`` (default ``$STRUM_JOBS_DIR`` or
``./strum-jobs``). With ``--broker URL`` (or ``$STRUM_BROKER``; ``redis://HOST:PORT/N`` or
``amqp://USER:PASS@HOST:PORT/VHOST``) it is the Celery queue, its job records in the Redis ``--registry``
(or ``$STRUM_REGISTRY``; the broker itself when that is Redis). Either way the outputs are in ``--dir``'s
``out/`` (or a folder inside it: ``--output``), each named by its job id. Workers: ``strum worker``
(:mod:`bridge.cli.worker`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from bridge.cli import CliError

__all__ = ["add_arguments", "add_queue_arguments", "open_queue", "run"]

# the parameter a job kind's input file goes to
INPUT_PARAMS = {"render": "song", "separate": "audio"}


def add_queue_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=os.environ.get("STRUM_JOBS_DIR", "strum-jobs"),
                   help="the queue's folder (the embedded queue's jobs.db; the outputs in out/)")  # fmt: skip
    p.add_argument("--broker", default=os.environ.get("STRUM_BROKER"), metavar="URL",
                   help="a Celery broker (redis://HOST:PORT/N or amqp://USER:PASS@HOST:PORT/VHOST) instead of"
                   " the embedded queue (default $STRUM_BROKER)")  # fmt: skip
    p.add_argument("--registry", default=os.environ.get("STRUM_REGISTRY"), metavar="URL",
                   help="the Redis holding the Celery queue's job records (default $STRUM_REGISTRY, or the"
                   " broker when it is Redis)")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    s = sub.add_parser("submit", help="queue a job")
    s.add_argument("kind", help="the job kind: render or separate")
    s.add_argument("input", metavar="FILE", help="its input (render: a song file; separate: a mixed song)")
    s.add_argument("--attempts", type=int, default=3)
    sep = s.add_argument_group("separate jobs (see strum separate)")
    sep.add_argument("--model", help="spleeter (default), strum4stem, htdemucs... or a model file")
    sep.add_argument("--model-dir", metavar="DIR", help="the workers' folder of Demucs model files")
    sep.add_argument("--stems", metavar="A,B", help="only these stems")
    sep.add_argument("--device", help="cpu (default), cuda or cuda:N on the worker")
    sep.add_argument("--batch", type=int, help="segments per model call (default 16)")
    sep.add_argument("--bf16", action="store_true", help="bfloat16 on a GPU")
    s.add_argument("--output", metavar="SUBDIR", help="a folder inside the queue's out/ for the output")
    add_queue_arguments(s)
    st = sub.add_parser("status", help="a job's state and progress")
    st.add_argument("id")
    st.add_argument("--wait", action="store_true", help="follow it with a progress bar until it ends")
    add_queue_arguments(st)
    ls = sub.add_parser("list", help="the jobs")
    ls.add_argument("--state")
    add_queue_arguments(ls)
    c = sub.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("id")
    add_queue_arguments(c)
    r = sub.add_parser("result", help="a finished job's output")
    r.add_argument("id")
    add_queue_arguments(r)
    m = sub.add_parser("metrics", help="the queue's metrics in the Prometheus text format")
    add_queue_arguments(m)


def open_queue(args: argparse.Namespace, **timings: Any) -> Any:
    """The queue ``args`` name (--dir, --broker, --registry); CliError if it cannot be opened."""
    from bridge.jobs.backend import open_jobs
    from bridge.jobs.store import JobError

    try:
        return open_jobs(args.dir, args.broker, args.registry, **timings)
    except JobError as exc:
        raise CliError(str(exc), 2) from None
    except Exception as exc:
        where = args.broker or args.dir
        raise CliError(f"cannot open the job queue in {where}: {exc}", 2) from None


def _line(job) -> str:
    extra = f"  {job.error}" if job.error else ""
    return f"{job.id}  {job.kind:<7} {job.state:<9} {job.progress * 100:5.1f}%  {job.stage}{extra}"


def _params(args: argparse.Namespace) -> dict[str, Any]:
    from bridge.jobs.worker import BadInput, check_params, output_folder

    params: dict[str, Any] = {INPUT_PARAMS.get(args.kind, "input"): args.input}
    extra = {
        "model": args.model,
        "model_dir": args.model_dir,
        "stems": [x.strip() for x in args.stems.split(",") if x.strip()] if args.stems else None,
        "device": args.device,
        "batch": args.batch,
        "bf16": True if args.bf16 else None,
    }
    given = {k: v for k, v in extra.items() if v is not None}
    if given and args.kind != "separate":
        raise BadInput(f"--{next(iter(given)).replace('_', '-')} is for separate jobs, not {args.kind}")
    params = check_params(args.kind, {**params, **given})
    if args.output:
        root = Path(args.dir) / "out"
        folder = output_folder(root, {"out": args.output})
        params["out"] = folder.relative_to(root.resolve()).as_posix()  # relative: workers on other hosts
    return params


def run(args: argparse.Namespace) -> int:
    from bridge.jobs.store import JobError
    from bridge.jobs.worker import BadInput

    if args.jobs_command == "submit":  # checked before the queue is opened: a bad request changes nothing
        if not 1 <= args.attempts <= 20:
            raise CliError(f"--attempts must be in 1..20, got {args.attempts}", 2)
        try:
            params = _params(args)
        except BadInput as exc:
            raise CliError(str(exc), 2) from None
    jobs = open_queue(args)
    try:
        if args.jobs_command == "submit":
            print(jobs.submit(args.kind, params, args.attempts))
        elif args.jobs_command == "status":
            job = jobs.get(args.id)
            if args.wait:
                _follow(jobs, job.id)
                job = jobs.get(args.id)
            print(_line(job))
            return 0 if job.state != "failed" else 1
        elif args.jobs_command == "list":
            for job in jobs.list(args.state):
                print(_line(job))
        elif args.jobs_command == "cancel":
            print(_line(jobs.cancel(args.id)))
        elif args.jobs_command == "result":
            job = jobs.get(args.id)
            if job.state != "done" or job.result is None:
                raise CliError(f"job {job.id} is {job.state}" + (f": {job.error}" if job.error else ""), 1)
            print(job.result["output"])
        elif args.jobs_command == "metrics":
            from bridge.jobs.metrics import gpu_memory, prometheus_text

            sys.stdout.write(prometheus_text(jobs.list(), gpu_memory()))
    except (JobError, BadInput) as exc:
        raise CliError(str(exc), 2) from None
    finally:
        jobs.close()
    return 0


def _follow(jobs: Any, job_id: str) -> None:
    from tqdm import tqdm

    with tqdm(total=100, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}% {postfix}") as bar:
        while True:
            job = jobs.get(job_id)
            bar.n = job.progress * 100
            bar.set_postfix_str(f"{job.state}, {job.stage}")
            if job.state in ("done", "failed", "cancelled"):
                return
            time.sleep(0.2)
