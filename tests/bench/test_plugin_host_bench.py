"""The plugin_host benchmark runs and reports well-formed rows (no timing is asserted: benchmarks run on
demand); with the zam-plugins bundle installed, ours and pedalboard's outputs are the same."""

from __future__ import annotations

import math

import pytest

from bench import plugin_host
from bench.harness import run_benchmark

NAMES = [
    "ours (plan, 64-sample)",
    "ours (direct, 64-sample)",
    "pedalboard (64-sample)",
    "ours (plan, 128-sample)",
    "ours (direct, 128-sample)",
    "pedalboard (128-sample)",
]


@pytest.mark.skipif(not plugin_host.PLUGIN.is_dir(), reason="zam-plugins is not installed (ZamCompX2.vst3)")
def test_quick_run_times_every_contender_and_matches_pedalboards_output():
    rows = plugin_host.run(quick=True)
    assert [r["name"] for r in rows] == NAMES
    for r in rows:
        assert math.isfinite(r["seconds"]) and r["seconds"] > 0
        assert math.isfinite(r["realtime_x"]) and r["realtime_x"] > 0
        assert "finite True" in r["note"]
    for r in rows:
        if r["name"].startswith("ours"):
            assert "ours/pedalboard" in r["note"] and "goal <= 1.1x" in r["note"]
            assert "max |ours - pedalboard| 0 (identical)" in r["note"]  # same plugin, same raw values


def test_a_missing_plugin_gives_rows_that_say_not_run(tmp_path):
    missing = tmp_path / "ZamCompX2.vst3"
    rows = plugin_host.run(quick=True, plugin=missing)
    assert [r["name"] for r in rows] == NAMES
    assert all(math.isnan(r["seconds"]) for r in rows)
    assert all(
        r["note"] == f"not run: {missing} is not installed (Debian: apt-get install zam-plugins)"
        for r in rows
    )


@pytest.mark.skipif(not plugin_host.PLUGIN.is_dir(), reason="zam-plugins is not installed (ZamCompX2.vst3)")
def test_the_harness_prints_the_table():
    text = run_benchmark("plugin_host", quick=True)
    assert text.startswith("plugin_host: ZamCompX2") and "pedalboard (128-sample)" in text
