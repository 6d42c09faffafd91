"""Plugin scanning against the real zam-plugins VST3 bundles, each probed in a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsp.plugins.scan import (
    PluginInfo,
    PluginLookupError,
    ScanError,
    ScanReport,
    find_plugin,
    list_blocked,
    list_plugins,
    scan,
)

ROOT = Path(__file__).resolve().parents[2]
VST3 = Path("/usr/lib/vst3")
TIMEOUT_S = 6.0

if not VST3.is_dir() or not any(VST3.glob("Zam*.vst3")):
    pytest.skip(
        "no zam-plugins VST3 bundles in /usr/lib/vst3 (apt-get install zam-plugins)", allow_module_level=True
    )


def by_name(report: ScanReport) -> dict[str, PluginInfo]:
    return {p.name: p for p in report.plugins}


def copy_bundles(dest: Path, *names: str) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copytree(VST3 / f"{n}.vst3", dest / f"{n}.vst3", symlinks=True)) for n in names]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache") / "plugins.json"


@pytest.fixture(scope="module")
def first_scan(cache: Path) -> ScanReport:
    return scan([VST3], timeout_s=TIMEOUT_S, sample_rate=44100, cache_path=cache)


def test_scan_completes_although_zamverb_hangs_and_blocklists_it_as_timed_out(first_scan: ScanReport):
    blocked = {Path(b.path).name: b for b in first_scan.blocklist}
    assert blocked["ZamVerb.vst3"].kind == "timeout"
    assert "timed out after 6 s" in blocked["ZamVerb.vst3"].reason
    verb = next(r for r in first_scan.results if r.path.endswith("ZamVerb.vst3"))
    assert verb.status == "blocked" and TIMEOUT_S <= verb.duration_s < TIMEOUT_S + 5  # killed, not waited on
    # every other bundle loaded, and the whole scan is bounded (the hang cost one timeout, not forever)
    bundles = sorted(VST3.glob("*.vst3"))
    assert first_scan.probed == len(bundles) and first_scan.skipped == 0
    assert first_scan.blocked == 1 and first_scan.found == len(bundles) - 1
    assert first_scan.elapsed_s < TIMEOUT_S + 5 * len(bundles)


def test_zamcompx2_is_a_stereo_effect_with_its_parameters(first_scan: ScanReport):
    comp = by_name(first_scan)["ZamCompX2"]
    assert comp.vendor == "Damien Zammit" and comp.kind == "effect" and comp.is_effect
    assert comp.channels == 2 and comp.accepted_channels == (2,)
    params = {q.python_name: q for q in comp.parameters}
    assert {"threshold_db", "ratio", "attack_ms", "release_ms", "makeup_db"} <= params.keys()
    thr = params["threshold_db"]
    assert (thr.name, thr.unit, thr.min_value, thr.max_value, thr.default_value) == (
        "Threshold",
        "dB",
        -80.0,
        0.0,
        0.0,
    )
    ratio = params["ratio"]
    assert (ratio.min_value, ratio.max_value, ratio.default_value) == (1.0, 20.0, 4.0)
    program = params["current_program"]
    assert program.type == "str" and program.num_steps == 3 and program.valid_values is not None


def test_zameq2_is_mono_and_zamaximx2_reports_its_lookahead_latency(first_scan: ScanReport):
    plugins = by_name(first_scan)
    assert plugins["ZamEQ2"].channels == 1 and plugins["ZamEQ2"].accepted_channels == (1,)
    assert plugins["ZaMaximX2"].channels == 2 and plugins["ZaMaximX2"].latency_samples > 0
    assert plugins["ZamComp"].latency_samples == 0
    assert all(p.sample_rate == 44100 for p in first_scan.plugins)


def test_a_second_scan_skips_every_bundle_good_and_blocklisted(first_scan: ScanReport, cache: Path):
    again = scan([VST3], timeout_s=TIMEOUT_S, cache_path=cache)
    assert again.probed == 0 and again.skipped == len(first_scan.results)
    assert {r.status for r in again.results} == {"cached"}
    assert again.elapsed_s < TIMEOUT_S  # ZamVerb was not loaded (and waited on) again
    assert sorted(p.name for p in again.plugins) == sorted(p.name for p in first_scan.plugins)
    assert [b.path for b in again.blocklist] == [b.path for b in first_scan.blocklist]


def test_a_touched_bundle_is_rescanned_and_rescan_probes_everything(tmp_path: Path):
    eq, comp = copy_bundles(tmp_path / "vst3", "ZamEQ2", "ZamComp")
    cache_path = tmp_path / "cache" / "plugins.json"
    assert scan([tmp_path / "vst3"], cache_path=cache_path).probed == 2
    assert scan([tmp_path / "vst3"], cache_path=cache_path).skipped == 2
    os.utime(eq)
    report = scan([tmp_path / "vst3"], cache_path=cache_path)
    assert {Path(r.path).name: r.status for r in report.results} == {
        "ZamEQ2.vst3": "ok",
        "ZamComp.vst3": "cached",
    }
    assert (report.probed, report.skipped, report.found) == (1, 1, 2)
    assert scan([tmp_path / "vst3"], cache_path=cache_path, rescan=True).probed == 2
    # another sample rate is another host: probed again
    assert scan([comp], cache_path=cache_path, sample_rate=48000).probed == 1


def test_a_broken_bundle_is_blocklisted_with_a_reason_and_the_scan_goes_on(tmp_path: Path):
    folder = tmp_path / "vst3"
    copy_bundles(folder, "ZamComp")
    broken = folder / "Broken.vst3"
    (broken / "Contents" / "x86_64-linux").mkdir(parents=True)
    (broken / "Contents" / "x86_64-linux" / "Broken.so").write_bytes(os.urandom(4096))
    report = scan([folder], cache_path=tmp_path / "plugins.json")
    assert [p.name for p in report.plugins] == ["ZamComp"]
    (blocked,) = report.blocklist
    assert blocked.path == str(broken) and blocked.kind == "error"
    assert "unable to scan" in blocked.reason.lower()
    assert [b.path for b in list_blocked(tmp_path / "plugins.json")] == [str(broken)]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build a crashing plugin")
def test_a_bundle_that_crashes_its_host_is_blocklisted_as_a_crash(tmp_path: Path):
    # A plugin library whose loader segfaults the process that opens it: the probe dies, the scan does not.
    lib = tmp_path / "vst3" / "Crash.vst3" / "Contents" / "x86_64-linux" / "Crash.so"
    lib.parent.mkdir(parents=True)
    src = tmp_path / "crash.c"
    src.write_text(
        "#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\n"
    )
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    copy_bundles(tmp_path / "vst3", "ZamPhono")
    report = scan([tmp_path / "vst3"], cache_path=tmp_path / "plugins.json")
    assert [p.name for p in report.plugins] == ["ZamPhono"]
    (blocked,) = report.blocklist
    assert blocked.kind == "crash" and "SIGSEGV" in blocked.reason


def test_a_corrupt_cache_file_is_reported_and_rebuilt(tmp_path: Path):
    copy_bundles(tmp_path / "vst3", "ZamGate")
    cache_path = tmp_path / "plugins.json"
    cache_path.write_text('{"format": 1, "bundles": {"/x": [trunc')
    assert list_plugins(cache_path) == []  # reading a corrupt cache is never fatal
    report = scan([tmp_path / "vst3"], cache_path=cache_path)
    assert report.cache_warning is not None and "corrupt" in report.cache_warning
    assert [p.name for p in report.plugins] == ["ZamGate"]
    doc = json.loads(cache_path.read_text())
    assert doc["format"] == 1 and list(doc["bundles"]) == [str(tmp_path / "vst3" / "ZamGate.vst3")]
    assert [p.name for p in list_plugins(cache_path)] == ["ZamGate"]
    assert scan([tmp_path / "vst3"], cache_path=cache_path).cache_warning is None


def test_find_plugin_matches_names_case_insensitively_and_lists_candidates(
    first_scan: ScanReport, cache: Path
):
    assert find_plugin("zamcompx2", cache).name == "ZamCompX2"
    assert find_plugin("ZAMCOMP", cache).name == "ZamComp"  # an exact name wins over longer ones
    assert find_plugin(str(VST3 / "ZamEQ2.vst3"), cache).name == "ZamEQ2"
    assert find_plugin("geq", cache).name == "ZamGEQ31"  # a unique part of a name
    with pytest.raises(PluginLookupError, match="ambiguous") as amb:
        find_plugin("comp", cache)
    assert {c.split()[0] for c in amb.value.candidates} == {
        "ZamComp",
        "ZamCompX2",
        "ZaMultiComp",
        "ZaMultiCompX2",
    }
    with pytest.raises(PluginLookupError, match=r"known: .*ZamEQ2") as unknown:
        find_plugin("NoSuchPlugin", cache)
    assert "ZamCompX2" in unknown.value.candidates
    with pytest.raises(PluginLookupError, match=r"blocklisted.*timed out"):
        find_plugin("ZamVerb", cache)


def test_a_path_that_does_not_exist_is_an_error(tmp_path: Path):
    with pytest.raises(ScanError, match="no such file or directory"):
        scan([tmp_path / "missing"], cache_path=tmp_path / "plugins.json")
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        scan([tmp_path], timeout_s=0, cache_path=tmp_path / "plugins.json")


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsp.plugins.probe", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_probe_prints_json_alone_although_the_plugin_chatters():
    r = probe(str(VST3 / "ZamHeadX2.vst3"), "--sample-rate", "48000")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # ZamHeadX2 prints to the console while loading; stdout stays clean
    (plugin,) = doc["plugins"]
    assert doc["sample_rate"] == 48000 and plugin["name"] == "ZamHeadX2" and plugin["channels"] == 2


def test_probe_fails_with_a_message_and_a_status():
    missing = probe("/no/such/Plugin.vst3")
    assert missing.returncode == 2 and "probe: error: no such file" in missing.stderr
    not_a_plugin = probe(str(ROOT / "pyproject.toml"))
    assert not_a_plugin.returncode == 1 and "probe: error:" in not_a_plugin.stderr
    assert "Traceback" not in not_a_plugin.stderr
