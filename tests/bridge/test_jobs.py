"""The embedded job queue with real worker processes: a job's whole life, a worker killed with SIGKILL in
the middle of a job (the job still finishes, once, its output complete), cancel, input that can never
succeed, and outputs only ever under the queue's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from bridge.jobs.store import JobError, JobStore
from bridge.jobs.worker import BadInput, check_params, run_worker

ROOT = Path(__file__).resolve().parents[2]
SONG = ROOT / "examples" / "songs" / "demo.yaml"


def long_song(tmp: Path, minutes: float = 5.0) -> Path:
    """A song of a few minutes (a render that takes seconds, so a worker can be caught in the middle)."""
    beats = int(minutes * 120)
    notes = ", ".join(f"[{48 + (b * 7) % 24}, {b}, 0.9, 90]" for b in range(beats))
    path = tmp / "long.yaml"
    path.write_text(
        "schema_version: 2\ntempo_map: [{beat: 0, bpm: 120}]\ntracks:\n- name: keys\n"
        "  instrument: {type: synth, preset: pad}\n  clips:\n  - name: line\n    start_beats: 0\n"
        f"    notes: [{notes}]\n"
    )
    return path


def strum(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def worker(tmp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "worker", "--dir", str(tmp), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def wait_for(store: JobStore, job_id: str, test, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(job_id)
        if test(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job.state} at {job.progress:.2f} ({job.stage})")
        time.sleep(0.05)


def test_a_job_from_submit_to_result_with_the_cli(tmp_path: Path) -> None:
    r = strum("jobs", "submit", "render", str(SONG), "--dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    assert "queued" in strum("jobs", "status", job_id, "--dir", str(tmp_path)).stdout
    w = strum("worker", "--dir", str(tmp_path), "--once")
    assert w.returncode == 0 and "1 jobs run" in w.stderr, w.stderr
    status = strum("jobs", "status", job_id, "--dir", str(tmp_path), "--wait")
    assert status.returncode == 0 and "done" in status.stdout and "100.0%" in status.stdout
    out = Path(strum("jobs", "result", job_id, "--dir", str(tmp_path)).stdout.strip())
    assert out == tmp_path / "out" / f"{job_id}.wav"
    audio, sr = sf.read(out)
    assert sr == 48000 and len(audio) > 48000 * 20 and abs(audio).max() > 0.05
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary file left
    listed = strum("jobs", "list", "--dir", str(tmp_path), "--state", "done").stdout
    assert job_id in listed


def test_a_job_whose_worker_is_killed_midway_finishes_once_with_its_output_complete(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    job_id = store.submit("render", check_params("render", {"song": str(long_song(tmp_path))}))
    first = worker(tmp_path, "--lease", "1")
    second = None
    try:
        job = wait_for(store, job_id, lambda j: j.state == "running" and 0.05 < j.progress < 0.6)
        os.kill(first.pid, signal.SIGKILL)  # in the middle of the render
        first.wait(10)
        assert store.get(job_id).state == "running"  # its lease has not lapsed yet
        second = worker(tmp_path, "--lease", "1")
        job = wait_for(store, job_id, lambda j: j.state in ("done", "failed"), timeout=120)
    finally:  # no worker outlives the test, whatever happened
        for w in (first, second):
            if w is not None:
                w.kill()
                w.wait(10)
    assert job.state == "done" and job.attempts == 2, job
    out = tmp_path / "out" / f"{job_id}.wav"
    files = list((tmp_path / "out").iterdir())
    assert files == [out], files  # once: no second output, no temporary file of the killed worker's
    plain = sf.info(out)
    assert plain.frames == pytest.approx(job.result["seconds"] * 48000, abs=1)  # complete
    store.close()


def test_cancel_a_queued_job_and_a_running_one(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", lease_s=1.0)
    queued = store.submit("render", check_params("render", {"song": str(SONG)}))
    assert store.cancel(queued).state == "cancelled"
    with pytest.raises(JobError, match="cancelled already"):
        store.cancel(queued)
    running = store.submit("render", check_params("render", {"song": str(long_song(tmp_path))}))
    w = worker(tmp_path, "--lease", "1")
    try:
        wait_for(store, running, lambda j: j.state == "running" and j.progress > 0.02)
        r = strum("jobs", "cancel", running, "--dir", str(tmp_path))
        assert r.returncode == 0, r.stderr
        job = wait_for(store, running, lambda j: j.state == "cancelled", timeout=30)
    finally:
        w.terminate()
        w.wait(10)
    assert job.progress < 1.0
    assert not (tmp_path / "out" / f"{running}.wav").exists()
    store.close()


def test_input_that_can_never_succeed_fails_with_its_reason_and_is_not_retried(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracks: [this is: not a song")
    store = JobStore(tmp_path / "jobs.db")
    job_id = store.submit("render", check_params("render", {"song": str(bad)}), max_attempts=5)
    assert run_worker(store, tmp_path / "out", once=True) == 1
    job = store.get(job_id)
    assert job.state == "failed" and job.attempts == 1
    assert "bad.yaml" in (job.error or "") and "YAML" in (job.error or "")
    assert run_worker(store, tmp_path / "out", once=True) == 0  # nothing left to run
    r = strum("jobs", "result", job_id, "--dir", str(tmp_path))
    assert r.returncode == 1 and "failed" in r.stderr
    store.close()


def test_bad_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown job kind"):
        check_params("separate-the-moon", {})
    with pytest.raises(BadInput, match="needs 'song'"):
        check_params("render", {})
    for args, words in [
        (("jobs", "submit", "render", str(SONG), "--attempts", "0"), "--attempts"),
        (("jobs", "status", "nope"), "no job 'nope'"),
        (("jobs", "cancel", "nope"), "no job 'nope'"),
        (("worker", "--lease", "0"), "--lease"),
    ]:
        r = strum(*args, "--dir", str(tmp_path))
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    store = JobStore(tmp_path / "jobs.db")
    assert store.counts() == dict.fromkeys(("queued", "running", "done", "failed", "cancelled"), 0)
    store.close()
