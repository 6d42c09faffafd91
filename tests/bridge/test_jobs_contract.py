"""One contract for the job queue, run on each backend: the embedded SQLite queue, Celery on a Redis
broker, Celery on a RabbitMQ broker (job records in Redis). Real servers on 127.0.0.1 started by the tests,
real worker processes: a job's whole life through the CLI, a worker killed with SIGKILL in the middle of a
render (the job still finishes, once, its output complete), cancel of a queued and a running job, input that
can never succeed, bad requests refused with nothing queued, and the metrics a worker serves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import soundfile as sf

from bridge.jobs.backend import Jobs, open_jobs
from bridge.jobs.store import Job
from tests.services import free_port, start_redis, wait_port

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 1.0  # short, so a killed worker's job is taken over quickly
VISIBILITY_S = 5.0  # Redis: a killed worker's message comes back this long after its delivery


def song(tmp: Path, minutes: float, name: str = "song.yaml") -> Path:
    """A song of ``minutes`` (5 minutes renders in seconds: a worker can be caught in the middle)."""
    beats = int(minutes * 120)
    notes = ", ".join(f"[{48 + (b * 7) % 24}, {b}, 0.9, 90]" for b in range(beats))
    path = tmp / name
    path.write_text(
        "schema_version: 2\ntempo_map: [{beat: 0, bpm: 120}]\ntracks:\n- name: keys\n"
        "  instrument: {type: synth, preset: pad}\n  clips:\n  - name: line\n    start_beats: 0\n"
        f"    notes: [{notes}]\n"
    )
    return path


# -- servers --------------------------------------------------------------------------------------------
@dataclass
class RabbitMQ:
    url: str
    env: dict[str, str]
    node: str

    def purge(self) -> None:
        """Empty the job queue once no worker is connected (a killed one's jobs are back in it by then)."""
        from kombu import Connection

        from bridge.jobs.celery_backend import QUEUE

        with Connection(self.url) as conn:
            channel = conn.channel()
            deadline = time.monotonic() + 10
            while True:
                try:
                    ok = channel.queue_declare(QUEUE, passive=True)
                except Exception:  # never declared: nothing to purge
                    return
                if ok.consumer_count == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            channel.queue_purge(QUEUE)


@pytest.fixture(scope="module")  # stopped with this module: nothing of it runs beside later tests
def rabbitmq() -> Iterator[RabbitMQ]:
    """A RabbitMQ broker of its own (node name, ports, data, logs in a temporary folder) for the session."""
    base = Path("/usr/lib/rabbitmq/bin")
    server, ctl = base / "rabbitmq-server", base / "rabbitmqctl"
    if not server.exists():
        pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    folder = Path(tempfile.mkdtemp(prefix="strum-rabbitmq-"))
    port, dist, epmd = free_port(), free_port(), free_port()
    node = f"strum-test-{os.getpid()}@localhost"
    env = {
        **os.environ, "HOME": str(folder), "ERL_EPMD_PORT": str(epmd), "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist), "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"), "RABBITMQ_PID_FILE": str(folder / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(folder / "feature_flags"),
        # Erlang's schedulers spin while idle by default: on two shared cores that starves other processes
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
    }  # fmt: skip
    for sub in ("mnesia", "log"):
        (folder / sub).mkdir()
    (folder / "enabled_plugins").write_text("[].\n")
    log = open(folder / "server.log", "w")
    # run directly (not the /usr/sbin wrapper, which switches to the rabbitmq user)
    proc = subprocess.Popen([str(server)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        wait_port(port, proc, "rabbitmq-server", 60)
        subprocess.run([str(ctl), "-n", node, "await_startup"], env=env, check=True, capture_output=True,
                       timeout=60)  # fmt: skip
        yield RabbitMQ(f"amqp://guest:guest@127.0.0.1:{port}//", env, node)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        pytest.fail(f"rabbitmq-server: {exc}: {(folder / 'server.log').read_text()[-2000:]}")
    finally:
        proc.terminate()  # the server script stops the node in order on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            subprocess.run([str(ctl), "-n", node, "stop"], env=env, capture_output=True, timeout=60)
            proc.kill()
            proc.wait(10)
        log.close()
        subprocess.run(["epmd", "-port", str(epmd), "-kill"], env=env, capture_output=True, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def redis_server(folder: Path) -> tuple[str, subprocess.Popen[Any]]:
    try:
        return start_redis(folder)
    except RuntimeError as exc:
        pytest.fail(str(exc))


# -- the queue under test -------------------------------------------------------------------------------
@dataclass
class Queue:
    """A queue on one backend: the CLI's flags for it, its workers (all killed after the test)."""

    backend: str
    dir: Path
    flags: list[str]
    workers: list[subprocess.Popen[Any]] = field(default_factory=list)

    def strum(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bridge.cli", *args, *self.flags],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip

    def submit(self, kind: str, path: Path | str, *extra: str) -> str:
        r = self.strum("jobs", "submit", kind, str(path), *extra)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def worker(self, *extra: str) -> subprocess.Popen[Any]:
        """A worker process in a session of its own (so it and its pool die together)."""
        argv = ["worker", "--lease", str(LEASE_S), *extra, *self.flags]
        if self.backend != "sqlite":
            argv += ["--visibility-timeout", str(VISIBILITY_S)]
        log = open(self.dir / f"worker-{len(self.workers)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", *argv], stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)  # fmt: skip
        log.close()
        self.workers.append(proc)
        return proc

    def open(self) -> Jobs:
        broker = self.flags[self.flags.index("--broker") + 1] if "--broker" in self.flags else None
        registry = self.flags[self.flags.index("--registry") + 1] if "--registry" in self.flags else None
        return open_jobs(self.dir, broker, registry, lease_s=LEASE_S, visibility_timeout_s=VISIBILITY_S)

    def wait(self, job_id: str, test: Callable[[Job], bool], timeout: float = 60.0) -> Job:
        jobs = self.open()
        try:
            deadline = time.monotonic() + timeout
            while True:
                job = jobs.get(job_id)
                if test(job):
                    return job
                if time.monotonic() > deadline:
                    logs = "".join(p.read_text()[-1500:] for p in sorted(self.dir.glob("worker-*.log")))
                    where = f"{job.state} at {job.progress:.2f} ({job.stage})"
                    raise AssertionError(f"job {job_id} stayed {where}\n{logs}")
                time.sleep(0.05)
        finally:
            jobs.close()

    def kill_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(10)


BACKENDS = ["sqlite", "celery-redis", "celery-rabbitmq"]


@pytest.fixture(params=BACKENDS)
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    rabbit = request.getfixturevalue("rabbitmq") if request.param == "celery-rabbitmq" else None
    servers: list[subprocess.Popen[Any]] = []
    flags = ["--dir", str(tmp_path)]
    if request.param != "sqlite":
        registry, proc = redis_server(tmp_path)  # the registry (and the broker of celery-redis)
        servers.append(proc)
        flags += ["--broker", rabbit.url, "--registry", registry] if rabbit else ["--broker", registry]
    q = Queue(request.param, tmp_path, flags)
    try:
        yield q
    finally:  # no worker or server outlives its test, whatever happened
        q.kill_workers()
        try:
            if rabbit is not None:
                rabbit.purge()  # the next test starts with an empty queue
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(10)


def outputs(q: Queue) -> list[Path]:
    return sorted(p for p in (q.dir / "out").rglob("*") if p.is_file())


# -- the contract ---------------------------------------------------------------------------------------
def test_a_job_from_submit_to_result_with_the_cli(queue: Queue) -> None:
    job_id = queue.submit("render", song(queue.dir, 3.0), "--output", "mixes")
    assert f"{job_id}  render  queued" in queue.strum("jobs", "status", job_id).stdout
    queue.worker()
    queue.wait(job_id, lambda j: j.state == "running" and 0 < j.progress < 0.4)
    line = queue.strum("jobs", "status", job_id).stdout.split()
    assert line[2] == "running" and 0 < float(line[3].rstrip("%")) < 100 and line[4] == "rendering"
    status = queue.strum("jobs", "status", job_id, "--wait")
    assert status.returncode == 0 and "done" in status.stdout and "100.0%" in status.stdout, status
    out = Path(queue.strum("jobs", "result", job_id).stdout.strip())
    assert out == (queue.dir / "out" / "mixes" / f"{job_id}.wav").resolve()
    audio, sr = sf.read(out)
    assert sr == 48000 and len(audio) >= 48000 * 180 and abs(audio).max() > 0.05
    assert outputs(queue) == [out]  # no temporary file left
    assert job_id in queue.strum("jobs", "list", "--state", "done").stdout
    job = queue.wait(job_id, lambda j: True)
    assert job.attempts == 1 and job.error is None and job.result is not None
    assert job.result["output"] == str(out)


def test_a_job_whose_worker_is_killed_midway_finishes_once_with_its_output_complete(queue: Queue) -> None:
    job_id = queue.submit("render", song(queue.dir, 4.0))
    first = queue.worker()
    queue.wait(job_id, lambda j: j.state == "running" and 0.05 < j.progress < 0.6)
    os.kill(first.pid, signal.SIGKILL)  # in the middle of the render (its pool process dies with it)
    first.wait(10)
    queue.worker()
    job = queue.wait(job_id, lambda j: j.state in ("done", "failed", "cancelled"), timeout=120)
    assert job.state == "done" and job.attempts == 2, job
    out = queue.dir / "out" / f"{job_id}.wav"
    assert outputs(queue) == [out]  # once: no second output, no temporary file of the killed worker's
    assert job.result is not None
    assert sf.info(out).frames == pytest.approx(job.result["seconds"] * 48000, abs=1)  # complete


def test_cancel_a_queued_job_and_a_running_one(queue: Queue) -> None:
    queued = queue.submit("render", song(queue.dir, 0.5))
    r = queue.strum("jobs", "cancel", queued)
    assert r.returncode == 0 and "cancelled" in r.stdout, r.stderr
    again = queue.strum("jobs", "cancel", queued)
    assert again.returncode == 2 and "cancelled already" in again.stderr
    running = queue.submit("render", song(queue.dir, 5.0, "long.yaml"))
    queue.worker()
    queue.wait(running, lambda j: j.state == "running" and j.progress > 0.02)
    r = queue.strum("jobs", "cancel", running)
    assert r.returncode == 0, r.stderr
    job = queue.wait(running, lambda j: j.state != "running", timeout=30)
    assert job.state == "cancelled" and job.progress < 1.0
    assert outputs(queue) == []  # the cancelled render left nothing, not even its temporary file
    never = queue.wait(queued, lambda j: True)
    assert never.state == "cancelled" and never.attempts == 0  # the queued one never ran


def test_input_that_can_never_succeed_fails_at_once_and_other_errors_are_retried(queue: Queue) -> None:
    bad = queue.dir / "bad.yaml"
    bad.write_text("tracks: [this is: not a song")
    corrupt = queue.submit("render", bad, "--attempts", "5")
    (queue.dir / "out").mkdir()
    (queue.dir / "out" / "blocked").write_text("a file where the job's output folder should be")
    passing = queue.submit("render", song(queue.dir, 0.25), "--output", "blocked")
    queue.worker()
    job = queue.wait(passing, lambda j: j.attempts >= 1 and j.error is not None)
    assert "FileExistsError" in (job.error or ""), job
    (queue.dir / "out" / "blocked").unlink()  # the trouble passes: the next attempt, after a backoff, works
    job = queue.wait(passing, lambda j: j.state in ("done", "failed"), timeout=60)
    assert job.state == "done" and job.attempts >= 2, job
    assert outputs(queue) == [(queue.dir / "out" / "blocked" / f"{passing}.wav").resolve()]
    job = queue.wait(corrupt, lambda j: True)
    assert job.state == "failed" and job.attempts == 1, job  # failed at once, never tried again
    assert "bad.yaml" in (job.error or "") and "YAML" in (job.error or "")
    r = queue.strum("jobs", "result", corrupt)
    assert r.returncode == 1 and "failed" in r.stderr and "bad.yaml" in r.stderr
    assert queue.strum("jobs", "status", corrupt).returncode == 1


def test_bad_requests_are_refused_and_queue_nothing(queue: Queue) -> None:
    good = str(song(queue.dir, 0.25))
    for args, words in [
        (("jobs", "submit", "separate-the-moon", good), "unknown job kind 'separate-the-moon'"),
        (("jobs", "submit", "render", good, "--output", "../elsewhere"), "outside the allowed folder"),
        (("jobs", "submit", "render", good, "--output", "/tmp"), "outside the allowed folder"),
        (("jobs", "submit", "render", good, "--attempts", "0"), "--attempts"),
        (("jobs", "status", "nope"), "no job 'nope'"),
        (("jobs", "cancel", "nope"), "no job 'nope'"),
        (("worker", "--lease", "0"), "--lease"),
    ]:
        r = queue.strum(*args)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    jobs = queue.open()
    try:
        assert jobs.counts() == dict.fromkeys(("queued", "running", "done", "failed", "cancelled"), 0)
        if queue.backend != "sqlite":  # and no message on the broker either
            with jobs.app.connection_for_write() as conn:  # type: ignore[attr-defined]
                try:
                    waiting = conn.default_channel.queue_declare("strum-jobs", passive=True).message_count
                except Exception:  # the queue was never declared: nothing was ever sent
                    waiting = 0
            assert waiting == 0
    finally:
        jobs.close()
    assert not (queue.dir / "elsewhere").exists()


def test_a_worker_serves_its_queues_metrics(queue: Queue) -> None:
    cancelled = queue.submit("render", song(queue.dir, 0.25, "a.yaml"))
    queue.strum("jobs", "cancel", cancelled)
    bad = queue.dir / "bad.yaml"
    bad.write_text("tracks: [this is: not a song")
    failed = queue.submit("render", bad)
    done = queue.submit("render", song(queue.dir, 0.25, "b.yaml"))
    port = free_port()
    queue.worker("--metrics-port", str(port))
    queue.wait(done, lambda j: j.state == "done")
    queue.wait(failed, lambda j: j.state == "failed")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
                kind = resp.headers["Content-Type"]
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert kind.startswith("text/plain; version=0.0.4")
    for line in [
        'strum_jobs{state="done"} 1', 'strum_jobs{state="failed"} 1', 'strum_jobs{state="cancelled"} 1',
        'strum_jobs{state="queued"} 0', 'strum_jobs{state="running"} 0',
        'strum_job_duration_seconds_bucket{le="+Inf"} 1', "strum_job_duration_seconds_count 1",
    ]:  # fmt: skip
        assert line in text.splitlines(), (line, text)
    assert "# TYPE strum_job_duration_seconds histogram" in text and "strum_gpu_memory" in text
    printed = queue.strum("jobs", "metrics")
    assert printed.returncode == 0 and 'strum_jobs{state="done"} 1' in printed.stdout


# -- Celery only ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("queue", ["celery-redis", "celery-rabbitmq"], indirect=True)
def test_a_second_delivery_of_a_finished_job_does_not_run_it_again(queue: Queue) -> None:
    job_id = queue.submit("render", song(queue.dir, 0.25))
    queue.worker()
    done = queue.wait(job_id, lambda j: j.state == "done")
    out = queue.dir / "out" / f"{job_id}.wav"
    written = out.stat().st_mtime_ns
    jobs: Any = queue.open()
    try:
        jobs.send_again(job_id)  # as a broker does when a worker dies between the job's end and its ack
    finally:
        jobs.close()
    later = queue.submit("render", song(queue.dir, 0.25, "later.yaml"))
    queue.wait(later, lambda j: j.state == "done")  # one worker, one job at a time, in order: it came first
    assert queue.wait(job_id, lambda j: True) == done  # not run again: same attempts, same times
    assert out.stat().st_mtime_ns == written


@pytest.mark.parametrize("queue", ["celery-redis", "celery-rabbitmq"], indirect=True)
def test_a_job_whose_pool_process_is_killed_runs_again_on_the_same_worker(queue: Queue) -> None:
    job_id = queue.submit("render", song(queue.dir, 4.0))
    worker = queue.worker()
    queue.wait(job_id, lambda j: j.state == "running" and 0.05 < j.progress < 0.6)
    pool = psutil.Process(worker.pid).children()
    assert len(pool) == 1, pool
    os.kill(pool[0].pid, signal.SIGKILL)  # the worker lives on: reject_on_worker_lost requeues the job
    job = queue.wait(job_id, lambda j: j.state in ("done", "failed", "cancelled"), timeout=120)
    assert job.state == "done" and job.attempts == 2, job
    out = queue.dir / "out" / f"{job_id}.wav"
    assert outputs(queue) == [out] and worker.poll() is None


def test_urls_are_checked_and_a_rabbitmq_broker_needs_a_registry(tmp_path: Path) -> None:
    for args, words in [
        (("--broker", "amqp://guest:guest@127.0.0.1:1//"), "needs a Redis registry"),
        (("--broker", "http://127.0.0.1:1"), "a broker URL starts with redis:// or amqp://"),
        (("--broker", "amqp://127.0.0.1:1//", "--registry", "amqp://x"), "the job registry is a Redis URL"),
    ]:
        argv = [sys.executable, "-m", "bridge.cli", "jobs", "list", "--dir", str(tmp_path), *args]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)


def test_gpus_start_one_worker_per_gpu(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "worker", "--dir", str(tmp_path), "--once", "--gpus", "0,1"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and r.stderr.count("strum worker: 0 jobs run") == 2, r.stderr


def test_gpu_memory_is_read_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.jobs.metrics import gpu_memory, prometheus_text

    monkeypatch.setenv("PATH", str(tmp_path))  # no GPU here: a stand-in prints what nvidia-smi prints
    assert gpu_memory() is None
    assert "no GPU on this host" in prometheus_text([], None)
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '0, 1024, 81559'\necho '1, 0, 81559'\n")
    fake.chmod(0o755)
    gpus = gpu_memory()
    assert gpus == [("0", 1024 * 2**20, 81559 * 2**20), ("1", 0.0, 81559 * 2**20)]
    text = prometheus_text([], gpus)
    assert 'strum_gpu_memory_used_bytes{gpu="0"} 1073741824' in text.splitlines()
    assert 'strum_gpu_memory_total_bytes{gpu="1"} 85520809984' in text.splitlines()


def tiny_separator(folder: Path) -> Path:
    """A random-weight HTDemucs small enough to run in a test (the separation plumbing, not its quality)."""
    import torch
    from demucs.htdemucs import HTDemucs

    from ai.separation.demucs_models import save_demucs

    torch.manual_seed(0)
    m = HTDemucs(
        sources=["drums", "bass", "other", "vocals"], audio_channels=2, channels=8, depth=2, t_layers=1,
        segment=1, samplerate=8000, nfft=512, t_heads=2,
    )  # fmt: skip
    return save_demucs(m.eval(), folder / "tiny.th", half=False)


def test_a_separation_job_writes_its_stems_and_audio_it_cannot_read_fails_at_once(queue: Queue) -> None:
    pytest.importorskip("demucs", reason="the demucs package is a dependency of separation")
    model = tiny_separator(queue.dir)
    mix = queue.dir / "mix.wav"
    t = np.arange(int(2.0 * 22050)) / 22050
    sf.write(
        str(mix), np.stack([np.sin(2 * np.pi * 220 * t), np.sign(np.sin(2 * np.pi * 3 * t))], 1) * 0.3, 22050
    )
    corrupt = queue.dir / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not audio")
    good = queue.submit("separate", mix, "--model", str(model), "--stems", "bass,drums", "--output", "stems")
    bad = queue.submit("separate", corrupt, "--model", str(model), "--attempts", "5")
    nostem = queue.submit("separate", mix, "--model", str(model), "--stems", "piano")
    queue.worker()
    job = queue.wait(good, lambda j: j.state in ("done", "failed"), timeout=120)
    assert job.state == "done" and job.attempts == 1, job
    folder = (queue.dir / "out" / "stems" / good).resolve()
    assert job.result is not None and job.result["output"] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["bass.wav", "drums.wav"]
    audio, sr = sf.read(str(folder / "bass.wav"))
    assert sr == 22050 and audio.shape == (len(t), 2)
    assert Path(queue.strum("jobs", "result", good).stdout.strip()) == folder
    for job_id, words in ((bad, "corrupt.wav"), (nostem, "no stem piano")):
        job = queue.wait(job_id, lambda j: j.state in ("done", "failed"), timeout=60)
        assert job.state == "failed" and job.attempts == 1 and words in (job.error or ""), job
    assert not [p for p in (queue.dir / "out").rglob("*") if p.name.endswith(".part")]
    # separation options on a render job are refused, and nothing is queued
    r = queue.strum("jobs", "submit", "render", str(song(queue.dir, 0.25)), "--model", "spleeter")
    assert r.returncode == 2 and "--model is for separate jobs" in r.stderr
