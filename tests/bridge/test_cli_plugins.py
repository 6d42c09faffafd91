"""`strum plugins scan|list|info`, run as a user runs it (a subprocess) on the real zam-plugins bundles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VST3 = Path("/usr/lib/vst3")

if not VST3.is_dir() or not any(VST3.glob("Zam*.vst3")):
    pytest.skip(
        "no zam-plugins VST3 bundles in /usr/lib/vst3 (apt-get install zam-plugins)", allow_module_level=True
    )


def strum(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRUM_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", "plugins", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cache_dir = tmp_path_factory.mktemp("strum-cache")
    bundles = [str(VST3 / f"{n}.vst3") for n in ("ZamCompX2", "ZamEQ2", "ZamVerb")]
    return cache_dir, strum("scan", *bundles, "--timeout", "5", cache_dir=cache_dir)


def test_scan_prints_progress_a_table_and_the_blocklist(scanned):
    cache_dir, r = scanned
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    progress = [line for line in r.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 3 and any("ZamVerb.vst3  BLOCKED (timeout)" in line for line in progress)
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.startswith("Zam")}
    assert rows["ZamCompX2"][:5] == ["ZamCompX2", "Damien", "Zammit", "effect", "stereo"]
    assert rows["ZamEQ2"][4] == "mono"
    assert "Blocklisted (1):" in r.stdout and "ZamVerb.vst3  [timeout] timed out after 5 s" in r.stdout
    assert "2 plugins found, 1 blocklisted" in r.stderr
    assert (cache_dir / "plugins.json").is_file()


def test_a_second_scan_answers_from_the_cache(scanned):
    cache_dir, _ = scanned
    r = strum("scan", str(VST3 / "ZamEQ2.vst3"), str(VST3 / "ZamVerb.vst3"), cache_dir=cache_dir)
    assert r.returncode == 0, r.stderr
    assert (
        "ZamEQ2.vst3  cached: 1 plugin" in r.stderr and "2 bundles unchanged (cached), 0 probed" in r.stderr
    )


def test_list_shows_cached_plugins_and_all_adds_the_blocklisted(scanned):
    cache_dir, _ = scanned
    r = strum("list", cache_dir=cache_dir)
    assert r.returncode == 0 and "ZamCompX2" in r.stdout and "ZamEQ2" in r.stdout
    assert "ZamVerb" not in r.stdout
    everything = strum("list", "--all", cache_dir=cache_dir)
    assert "ZamVerb.vst3  [timeout]" in everything.stdout


def test_info_prints_every_parameter_with_range_default_and_unit(scanned):
    cache_dir, _ = scanned
    r = strum("info", "zamcompx2", cache_dir=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "channels  stereo" in r.stdout and "latency   0 samples at 44100 Hz" in r.stdout
    params = {line.split()[0]: line for line in r.stdout.splitlines() if line[:1].islower()}
    assert "-80 .. 0" in params["threshold_db"] and params["threshold_db"].split()[-1] == "dB"
    assert "1 .. 20" in params["ratio"] and params["ratio"].split()[-1] == "4"  # no unit
    assert "14 parameters:" in r.stdout


def test_info_of_an_unknown_name_exits_2_with_the_known_names(scanned):
    cache_dir, _ = scanned
    r = strum("info", "NoSuchVerb", cache_dir=cache_dir)
    assert r.returncode == 2
    assert "no plugin 'NoSuchVerb' (known: ZamCompX2, ZamEQ2)" in r.stderr and "Traceback" not in r.stderr
    blocked = strum("info", "zamverb", cache_dir=cache_dir)
    assert blocked.returncode == 2 and "blocklisted" in blocked.stderr


def test_scan_of_a_missing_path_or_a_bad_timeout_exits_2(tmp_path: Path):
    r = strum("scan", str(tmp_path / "nowhere"), cache_dir=tmp_path)
    assert r.returncode == 2 and "no such file or directory" in r.stderr and "Traceback" not in r.stderr
    r = strum("scan", str(tmp_path), "--timeout", "0", cache_dir=tmp_path)
    assert r.returncode == 2 and "--timeout must be > 0" in r.stderr


def test_list_with_no_cache_says_to_scan(tmp_path: Path):
    r = strum("list", cache_dir=tmp_path)
    assert r.returncode == 0 and "run `strum plugins scan`" in r.stderr


def test_help_imports_neither_pedalboard_nor_numpy():
    code = (
        "import sys\n"
        "from bridge.cli import main\n"
        "for argv in (['--help'], ['plugins', '--help'], ['plugins', 'scan', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('HEAVY', sorted(m for m in ('numpy', 'pedalboard', 'dsp.plugins.scan') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr
    assert "plugins" in r.stdout and "--rescan" in r.stdout
