"""Queue metrics in the Prometheus text format, and a small HTTP endpoint that serves them.

    strum_jobs{state="queued"} 3                      gauge: jobs in the queue by state
    strum_job_duration_seconds_bucket{le="10"} 7      histogram: start to end of the jobs done
    strum_gpu_memory_used_bytes{gpu="0"} 1.2e9        gauges: this host's GPUs (absent without one)
    strum_gpu_memory_total_bytes{gpu="0"} 8.0e10

The counts and durations are the queue's (read from the job records, so every worker of one queue reports
the same numbers, and a scrape of any of them is enough); the durations are those of each job's last
attempt. GPU memory is the device's, read with ``nvidia-smi`` in a subprocess: asking ``torch.cuda`` in the
worker's own process would create a CUDA context there, and CUDA does not survive ``fork``, which is how
Celery's prefork pool starts (and, after a kill, restarts) the processes that run the jobs. On a host
without ``nvidia-smi`` the GPU lines are left out and a comment says so.

:func:`prometheus_text` makes the text; :func:`serve_metrics` serves it on 127.0.0.1 from a thread.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bridge.jobs.store import STATES, Job

__all__ = ["BUCKETS_S", "gpu_memory", "prometheus_text", "serve_metrics"]

BUCKETS_S = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def gpu_memory() -> list[tuple[str, float, float]] | None:
    """(gpu index, bytes used, bytes in all) for each GPU of this host, or None without ``nvidia-smi``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    rows = []
    for line in out.strip().splitlines():
        index, used, total = (f.strip() for f in line.split(","))
        rows.append((index, float(used) * 2**20, float(total) * 2**20))  # MiB
    return rows


def prometheus_text(jobs: Sequence[Job], gpus: list[tuple[str, float, float]] | None = None) -> str:
    """The metrics of a queue holding ``jobs`` (and of this host's ``gpus``) in the Prometheus text format."""
    counts = dict.fromkeys(STATES, 0)
    durations = []
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
        if job.state == "done" and job.started is not None and job.finished is not None:
            durations.append(max(0.0, job.finished - job.started))
    lines = ["# HELP strum_jobs Jobs in the queue by state.", "# TYPE strum_jobs gauge"]
    lines += [f'strum_jobs{{state="{state}"}} {n}' for state, n in counts.items()]
    lines += [
        "# HELP strum_job_duration_seconds Run time of the jobs done (their last attempt, start to end).",
        "# TYPE strum_job_duration_seconds histogram",
    ]
    for le in BUCKETS_S:
        lines.append(f'strum_job_duration_seconds_bucket{{le="{le:g}"}} {sum(d <= le for d in durations)}')
    lines += [
        f'strum_job_duration_seconds_bucket{{le="+Inf"}} {len(durations)}',
        f"strum_job_duration_seconds_sum {sum(durations):.6f}",
        f"strum_job_duration_seconds_count {len(durations)}",
    ]
    if gpus is None:
        lines.append("# strum_gpu_memory: no GPU on this host (nvidia-smi not found)")
    else:
        lines += ["# HELP strum_gpu_memory_used_bytes GPU memory in use (all processes).",
                  "# TYPE strum_gpu_memory_used_bytes gauge"]  # fmt: skip
        lines += [f'strum_gpu_memory_used_bytes{{gpu="{i}"}} {used:.0f}' for i, used, _ in gpus]
        lines += ["# HELP strum_gpu_memory_total_bytes GPU memory in all.",
                  "# TYPE strum_gpu_memory_total_bytes gauge"]  # fmt: skip
        lines += [f'strum_gpu_memory_total_bytes{{gpu="{i}"}} {total:.0f}' for i, _, total in gpus]
    return "\n".join(lines) + "\n"


def serve_metrics(port: int, read_jobs: Callable[[], Sequence[Job]]) -> ThreadingHTTPServer:
    """Serve ``GET /metrics`` on 127.0.0.1:``port`` (0: any free port; the server's ``server_port`` says
    which) from a daemon thread; ``read_jobs`` is called on each scrape. ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "try /metrics")
                return
            try:
                body = prometheus_text(read_jobs(), gpu_memory()).encode()
                code = 200
            except Exception as exc:  # the queue is unreachable: say so, keep serving
                body, code = f"# strum metrics: cannot read the queue: {exc}\n".encode(), 503
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="strum-metrics", daemon=True).start()
    return server
