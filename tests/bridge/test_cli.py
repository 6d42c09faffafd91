"""The `strum` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.helpers import strum

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "songs" / "demo.yaml"


def test_help_and_version():
    r = strum("--help")
    assert r.returncode == 0 and "render" in r.stdout and "bench" in r.stdout
    v = strum("--version")
    assert v.returncode == 0 and v.stdout.startswith("strumspace ")
    h = strum("render", "--help")
    assert "--stems" in h.stdout and "Example:" in h.stdout


def test_help_imports_no_numerics_and_render_never_imports_torch(tmp_path):
    probe = (
        "import sys, importlib.abc\n"
        "seen = []\n"
        "class Spy(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'onnxruntime', 'tensorflow', 'jax'): seen.append(name)\n"
        "sys.meta_path.insert(0, Spy())\n"
        "from bridge.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('numpy', 'numba') if m in sys.modules))\n"
        "print('ML', seen)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr
    out = tmp_path / "x.wav"
    r = subprocess.run(
        [sys.executable, "-c", probe, "render", str(DEMO), "-o", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert "ML []" in r.stdout, r.stdout + r.stderr
    assert out.exists()


def test_render_song_with_stems(tmp_path):
    out = tmp_path / "demo.wav"
    r = strum(
        "render",
        str(DEMO),
        "-o",
        str(out),
        "--stems",
        str(tmp_path / "stems"),
        "--bit-depth",
        "16",
        "--sample-rate",
        "44100",
        "--block-size",
        "256",
    )
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert info.samplerate == 44100 and info.subtype == "PCM_16" and info.duration > 30
    assert sorted(p.stem for p in (tmp_path / "stems").glob("*.wav")) == [
        "bass",
        "drums",
        "lead",
        "pad",
        "room",
    ]
    assert "%|" in r.stderr  # the progress bar


def test_bad_song_names_file_and_line_and_writes_nothing(tmp_path):
    song = tmp_path / "bad.yaml"
    text = DEMO.read_text()
    lines = text.splitlines()
    idx = next(i for i, line in enumerate(lines) if line.strip().startswith("volume_db: -6.0"))
    lines[idx] = lines[idx].replace("-6.0", "loud")
    song.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.wav"
    out.write_bytes(b"keep me")
    r = strum("render", str(song), "-o", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"bad.yaml:{idx + 1}:" in r.stderr and "volume_db" in r.stderr and "must be a number" in r.stderr
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "out.wav"]


def test_bad_midi_file_is_named_and_nothing_written(tmp_path):
    mid = tmp_path / "broken.mid"
    mid.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x10\x00\x90\x3c")
    out = tmp_path / "o.wav"
    r = strum("render", str(mid), "-o", str(out))
    assert r.returncode == 2 and "broken.mid" in r.stderr and "byte 0x" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mid"]


def test_wrong_suffixes_are_refused(tmp_path):
    r = strum("render", str(DEMO), "-o", str(tmp_path / "x.mp3"))
    assert r.returncode == 2 and "must be a .wav" in r.stderr
    r = strum("render", str(tmp_path / "song.txt"), "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 2 and "unknown song type" in r.stderr


def test_unsupported_sample_rate_is_an_error_not_a_traceback(tmp_path):
    r = strum("render", str(DEMO), "-o", str(tmp_path / "x.wav"), "--sample-rate", "12345")
    assert r.returncode == 2 and "sample rate must be one of" in r.stderr and "Traceback" not in r.stderr


def test_a_stem_that_would_overwrite_the_mix_is_refused_before_anything_is_written(tmp_path):
    r = strum("render", str(DEMO), "-o", str(tmp_path / "out" / "pad.wav"), "--stems", str(tmp_path / "out"))
    assert r.returncode == 2 and "would overwrite the mix" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tail", "inf"], "--tail must be 0..3600 seconds, got inf"),
        (["--tail", "soon"], "--tail must be 'auto' or seconds, got 'soon'"),
        (["--block-size", "0"], "block size must be in 1..16384"),
        (["--stems", "{tmp}/file.txt/stems"], "file.txt is not a folder"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, options, message):
    (tmp_path / "file.txt").write_text("not a folder")
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    r = strum("render", str(DEMO), "-o", str(tmp_path / "new" / "x.wav"), "--no-progress", *options)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.startswith("strum render: error: ") and r.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_missing_song_or_midi_file_exits_2(tmp_path):
    for name in ("gone.yaml", "gone.mid"):
        r = strum("render", str(tmp_path / name), "-o", str(tmp_path / "x.wav"))
        assert r.returncode == 2 and name in r.stderr and "cannot read" in r.stderr
        assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_render_that_fails_on_good_input_exits_1_and_removes_the_folders_it_created(
    tmp_path, monkeypatch, capsys
):
    # an engine failure mid-render cannot be caused from a good song, so the render is made to fail
    import engine.render
    from bridge.cli import main
    from engine.errors import RenderError

    def fail(*args, **kwargs):
        raise RenderError("the engine stopped")

    monkeypatch.setenv("STRUM_KEEP_COMPILER_PAGES", "1")  # leave this test process's pages alone
    monkeypatch.setattr(engine.render, "render", fail)
    out = tmp_path / "new" / "deeper" / "x.wav"
    code = main(["render", str(DEMO), "-o", str(out), "--stems", str(tmp_path / "stems"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "the engine stopped" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
