from __future__ import annotations

import errno
import hashlib
import inspect
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from presets.autosave import Autosaver
from presets.errors import PresetError
from presets.storage import (
    LoadError,
    SaveError,
    atomic_write,
    autosave_path,
    backup_path,
    read_with_fallback,
)

REPO = Path(__file__).resolve().parents[2]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
skip_as_root = pytest.mark.skipif(
    AS_ROOT,
    reason="running as root (euid 0): root bypasses file permissions, so nothing is read-only to it",
)
posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals and resource limits")


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def wait_until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def make_doc(version: int, lines: int = 50_000) -> bytes:
    """A YAML-like song of ~4 MB: every line names its version, the last line is a sha256 of the rest."""
    import hashlib

    tag = b"v%08d" % version
    line = b"  - {version: %s, pitch: 60, start_beats: 0.25, length_beats: 0.5, velocity: 100}\n" % tag
    body = b"schema_version: 1\nversion: %s\nnotes:\n" % tag + line * lines
    return body + b"# sha256: " + hashlib.sha256(body).hexdigest().encode() + b"\n"


def check_doc(data: bytes) -> int:
    """The version of a complete, self-consistent document; AssertionError for a torn or mixed one."""
    body, sep, last = data.rpartition(b"# sha256: ")
    assert sep and last.endswith(b"\n"), f"no checksum line: truncated ({len(data)} bytes)"
    assert hashlib.sha256(body).hexdigest().encode() == last.strip(), "checksum mismatch: torn or mixed"
    version = int(body.split(b"\n", 2)[1].removeprefix(b"version: v"))
    assert body.count(b"v%08d" % version) == body.count(b"version: v"), "lines of several versions"
    return version


# --- atomic_write -----------------------------------------------------------------------------------


def test_text_and_bytes_round_trip(tmp_path):
    song = tmp_path / "song.yaml"
    assert atomic_write(song, "title: Café\n") == song
    assert song.read_text("utf-8") == "title: Café\n"
    atomic_write(song, b"\x00\xff binary")
    assert song.read_bytes() == b"\x00\xff binary"
    assert temp_files(tmp_path) == []


def test_data_of_another_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes or str, got int"):
        atomic_write(tmp_path / "song.yaml", 42)  # type: ignore[arg-type]


@posix_only
def test_the_mode_of_an_existing_file_is_kept(tmp_path):
    song = tmp_path / "song.yaml"
    song.write_text("old")
    song.chmod(0o640)
    atomic_write(song, "new")
    assert stat.S_IMODE(song.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup_path(song).stat().st_mode) == 0o640


@posix_only
def test_a_new_file_gets_the_usual_mode_not_a_private_temp_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    song = tmp_path / "song.yaml"
    atomic_write(song, "x")
    assert stat.S_IMODE(song.stat().st_mode) == 0o666 & ~umask


def test_the_backup_holds_the_previous_version(tmp_path):
    song = tmp_path / "song.yaml"
    atomic_write(song, "one")
    assert not backup_path(song).exists()  # nothing to back up on the first save
    atomic_write(song, "two")
    atomic_write(song, "three")
    assert song.read_text() == "three"
    assert backup_path(song).read_text() == "two"
    atomic_write(song, "four", backup=False)
    assert backup_path(song).read_text() == "two"
    assert temp_files(tmp_path) == []


def test_an_empty_file_does_not_replace_a_good_backup(tmp_path):
    song = tmp_path / "song.yaml"
    atomic_write(song, "good")
    atomic_write(song, "better")
    song.write_bytes(b"")  # e.g. truncated by another program
    atomic_write(song, "best")
    assert backup_path(song).read_text() == "good"


@posix_only
def test_saving_through_a_symlink_replaces_the_linked_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.yaml"
    atomic_write(real, "old")
    link = tmp_path / "song.yaml"
    link.symlink_to(real)
    assert atomic_write(link, "new") == real
    assert link.is_symlink() and link.read_text() == "new"
    assert backup_path(real).read_text() == "old"


def test_a_missing_directory_is_a_clear_error(tmp_path):
    song = tmp_path / "gone" / "song.yaml"
    with pytest.raises(SaveError, match="directory missing") as err:
        atomic_write(song, "x")
    assert str(song) in str(err.value) and err.value.path == song
    assert isinstance(err.value, PresetError)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_in_the_way_is_a_clear_error(tmp_path):
    song = tmp_path / "song.yaml"
    song.mkdir()
    with pytest.raises(SaveError, match="is a directory"):
        atomic_write(song, "x")
    assert song.is_dir() and temp_files(tmp_path) == []


@skip_as_root
@posix_only
def test_a_read_only_directory_is_a_clear_error_and_the_file_stays_intact(tmp_path):
    song = tmp_path / "song.yaml"
    atomic_write(song, "precious")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(SaveError, match="permission denied") as err:
            atomic_write(song, "new")
        assert str(song) in str(err.value)
    finally:
        tmp_path.chmod(0o755)
    assert song.read_text() == "precious"
    assert temp_files(tmp_path) == [] and not backup_path(song).exists()


@skip_as_root
@posix_only
def test_a_read_only_file_is_not_overwritten(tmp_path):
    song = tmp_path / "song.yaml"
    atomic_write(song, "locked")
    song.chmod(0o444)
    with pytest.raises(SaveError, match="read-only"):
        atomic_write(song, "new")
    assert song.read_text() == "locked" and temp_files(tmp_path) == []


FILL_DISK = r"""
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
from presets.storage import SaveError, atomic_write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    atomic_write(sys.argv[2], b"x" * (4 << 20))
except SaveError as exc:
    print(exc)
    sys.exit(3)
"""


@posix_only
def test_a_write_failing_midway_leaves_the_file_and_backup_intact_and_no_temp(tmp_path):
    # A real process whose file-size limit makes the write fail after 1 MiB, as a full disk would.
    song = tmp_path / "song.yaml"
    atomic_write(song, "first")
    atomic_write(song, "second")
    proc = subprocess.run(
        [sys.executable, "-c", FILL_DISK, str(REPO), str(song)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert f"cannot save {song}: file too large" in proc.stdout
    assert song.read_text() == "second" and backup_path(song).read_text() == "first"
    assert temp_files(tmp_path) == []


def test_save_errors_survive_pickling(tmp_path):
    import pickle

    err = SaveError(tmp_path / "s.yaml", "disk full", 28)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.errno, back.path) == (str(err), 28, err.path)


# --- read_with_fallback -----------------------------------------------------------------------------


def yaml_like(data: bytes) -> None:
    if not data.rstrip().endswith(b"# end"):
        raise ValueError("truncated: no '# end' line")


def test_a_good_file_is_read_from_its_own_path(tmp_path):
    song = tmp_path / "song.yaml"
    atomic_write(song, "a\n# end\n")
    atomic_write(song, "b\n# end\n")
    assert read_with_fallback(song, yaml_like) == (b"b\n# end\n", song)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(b"b\n# e"), "invalid: truncated: no '# end' line"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.unlink(), "missing"),
    ],
    ids=["truncated", "empty", "missing"],
)
def test_a_damaged_file_falls_back_to_the_backup(tmp_path, caplog, damage, reason):
    song = tmp_path / "song.yaml"
    atomic_write(song, "a\n# end\n")
    atomic_write(song, "b\n# end\n")
    damage(song)
    data, used = read_with_fallback(song, validate=yaml_like)
    assert (data, used) == (b"a\n# end\n", backup_path(song))
    assert f"{song}: {reason}; loaded the backup" in caplog.text


def test_when_both_fail_the_error_names_both_paths_and_reasons(tmp_path):
    song = tmp_path / "song.yaml"
    song.write_bytes(b"half")
    with pytest.raises(LoadError) as err:
        read_with_fallback(song, yaml_like)
    bak = backup_path(song)
    assert str(err.value) == (
        f"cannot load {song}: {song}: invalid: truncated: no '# end' line; {bak}: missing"
    )
    assert err.value.reasons == ((song, "invalid: truncated: no '# end' line"), (bak, "missing"))


def test_naming_conventions():
    assert backup_path("songs/song.yaml") == Path("songs/song.yaml.bak")
    assert autosave_path("songs/song.yaml") == Path("songs/song.autosave.yaml")
    assert autosave_path("song") == Path("song.autosave")
    assert autosave_path(autosave_path("song.yaml")) == Path("song.autosave.yaml")


# --- Autosaver --------------------------------------------------------------------------------------


class LiveSong:
    """A session stand-in whose snapshot is thread-safe and counts its calls."""

    def __init__(self, text: str = "tempo: 120\n") -> None:
        self.text = text
        self.calls = 0
        self.fail_next = 0
        self._lock = threading.Lock()

    def edit(self, text: str) -> None:
        with self._lock:
            self.text = text

    def snapshot(self) -> str:
        with self._lock:
            self.calls += 1
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("session busy")
            return self.text


def test_the_autosaver_saves_after_a_change_and_not_when_unchanged(tmp_path):
    song, path = LiveSong(), tmp_path / "song.autosave.yaml"
    with Autosaver(song.snapshot, path, interval_s=0.005) as saver:
        wait_until(lambda: saver.saves == 1)
        assert path.read_text() == "tempo: 120\n"
        calls = song.calls
        wait_until(lambda: song.calls >= calls + 5)  # five more intervals, nothing changed
        assert saver.saves == 1
        song.edit("tempo: 90\n")
        wait_until(lambda: saver.saves == 2)
        assert path.read_text() == "tempo: 90\n"
    assert not saver.running and saver.last_error is None
    assert not backup_path(path).exists() and temp_files(tmp_path) == []


def test_stop_is_immediate_and_saves_the_last_change(tmp_path):
    song, path = LiveSong(), tmp_path / "song.autosave.yaml"
    saver = Autosaver(song.snapshot, path, interval_s=3600).start()
    song.edit("tempo: 60\n")
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(saver.stop()))
    stopper.start()
    stopper.join(timeout=30)  # an hour-long interval must not delay stop()
    assert not stopper.is_alive() and result == [True]
    assert path.read_text() == "tempo: 60\n" and saver.saves == 1


def test_a_failing_save_is_recorded_and_retried_until_the_directory_exists(tmp_path):
    song, path = LiveSong(), tmp_path / "later" / "song.autosave.yaml"
    with Autosaver(song.snapshot, path, interval_s=0.005) as saver:
        wait_until(lambda: saver.failures >= 3)
        assert isinstance(saver.last_error, SaveError) and "directory missing" in str(saver.last_error)
        assert saver.running and saver.saves == 0
        path.parent.mkdir()
        wait_until(lambda: saver.saves == 1)
        assert saver.last_error is None
    assert path.read_text() == "tempo: 120\n"


@skip_as_root
@posix_only
def test_the_autosaver_recovers_when_a_read_only_directory_becomes_writable(tmp_path):
    song, path = LiveSong(), tmp_path / "song.autosave.yaml"
    tmp_path.chmod(0o555)
    try:
        with Autosaver(song.snapshot, path, interval_s=0.005) as saver:
            wait_until(lambda: saver.failures >= 2)
            assert "permission denied" in str(saver.last_error)
            tmp_path.chmod(0o755)
            wait_until(lambda: saver.saves == 1)
            assert saver.last_error is None
    finally:
        tmp_path.chmod(0o755)
    assert path.read_text() == "tempo: 120\n"


def test_a_failing_snapshot_is_recorded_and_does_not_kill_the_thread(tmp_path):
    song, path = LiveSong(), tmp_path / "song.autosave.yaml"
    song.fail_next = 2
    with Autosaver(song.snapshot, path, interval_s=0.005) as saver:
        wait_until(lambda: saver.saves == 1)
        assert saver.failures == 2 and saver.last_error is None
    assert path.read_text() == "tempo: 120\n"


def test_save_now_raises_and_records_what_went_wrong(tmp_path):
    song = LiveSong()
    saver = Autosaver(song.snapshot, tmp_path / "nope" / "a.yaml", interval_s=1)
    with pytest.raises(SaveError, match="directory missing"):
        saver.save_now()
    assert isinstance(saver.last_error, SaveError) and saver.failures == 1
    assert not saver.stop()  # never started: reports that the latest snapshot is not on disk


def test_save_now_writes_only_changes(tmp_path):
    song, path = LiveSong(), tmp_path / "a.yaml"
    saver = Autosaver(song.snapshot, path, interval_s=1)
    assert saver.save_now() is True
    assert saver.save_now() is False
    song.edit("x")
    assert saver.save_now() is True and saver.saves == 2 and path.read_text() == "x"


def test_an_autosaver_starts_once_at_a_time_and_can_restart(tmp_path):
    song = LiveSong()
    saver = Autosaver(song.snapshot, tmp_path / "a.yaml", interval_s=3600).start()
    with pytest.raises(RuntimeError, match="already running"):
        saver.start()
    assert saver.stop() and not saver.running
    saver.start()
    assert saver.running and saver.stop()


@pytest.mark.parametrize("interval_s", [0, -1, float("nan")])
def test_a_bad_interval_is_refused(tmp_path, interval_s):
    with pytest.raises(ValueError, match="interval_s must be > 0"):
        Autosaver(lambda: "", tmp_path / "a.yaml", interval_s=interval_s)


# --- kill -9 in the middle of a save ----------------------------------------------------------------

SAVER = (
    "import os, sys, time\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from presets.storage import atomic_write\n"
    + inspect.getsource(make_doc)
    + """
path, version = sys.argv[2], int(sys.argv[3])
while True:
    doc = make_doc(version)
    os.write(1, b"saving %d\\n" % version)
    t0 = time.perf_counter()
    atomic_write(path, doc)
    os.write(1, b"saved %d %.6f\\n" % (version, time.perf_counter() - t0))
    version += 1
"""
)


@posix_only
def test_a_kill_9_in_the_middle_of_a_save_leaves_the_previous_file_intact_and_loadable(tmp_path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    song = tmp_path / "song.yaml"
    atomic_write(song, make_doc(0))
    on_disk, next_version, save_s = 0, 1, 0.05
    mid_save = stray_temps = 0
    for kill in range(24):
        where = f"seed {seed}, kill {kill}"
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(REPO), str(song), str(next_version)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        seen: list[bytes] = []
        try:
            for _ in range(rng.randint(1, 3)):  # let it finish 0-2 saves, then strike during the next
                while not (line := proc.stdout.readline()).startswith(b"saving"):
                    assert line, f"{where}: the saver died: {proc.stderr.read()!r}"
                    seen.append(line)
                seen.append(line)
            time.sleep(rng.uniform(0, 1.2 * save_s))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"{where}: {err!r}"
        # What the saver announced: it says "saving N" before atomic_write and "saved N" after it returns.
        output = b"".join(seen) + rest
        started, saved, took = [], [], []
        for line in output.splitlines():
            word, number, *extra = line.split()
            (started if word == b"saving" else saved).append(int(number))
            took += [float(x) for x in extra]
        mid_save += not output.rstrip().rsplit(b"\n", 1)[-1].startswith(b"saved")
        save_s = sorted(took)[len(took) // 2] if took else save_s

        version = check_doc(song.read_bytes())  # complete and self-consistent, or AssertionError
        assert max([on_disk, *saved]) <= version <= max([on_disk, *started]), where
        bak = backup_path(song)
        if bak.exists():
            assert check_doc(bak.read_bytes()) <= version, where
        assert read_with_fallback(song, validate=check_doc)[1] == song
        on_disk, next_version = version, max([next_version, *started]) + 1
        for leftover in temp_files(tmp_path):  # what a kill -9 can leave: never read, removed here
            stray_temps += 1
            (tmp_path / leftover).unlink()
    assert mid_save >= 1, f"seed {seed}: no kill landed inside a save; the test proved nothing"
    print(f"24 kills, {mid_save} inside atomic_write, {stray_temps} stray temp files, save ~{save_s:.3f}s")


def test_an_exclusive_save_never_replaces_a_file(tmp_path):
    target = tmp_path / "song.yaml"
    assert atomic_write(target, "first\n", exclusive=True) == target
    with pytest.raises(SaveError) as err:
        atomic_write(target, "second\n", exclusive=True)
    assert err.value.errno == errno.EEXIST and "already exists" in str(err.value)
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.yaml"]  # no temp file left
