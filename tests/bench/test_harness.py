"""The benchmark harness runs and prints its table (no timing is asserted: benchmarks are run on demand)."""

from __future__ import annotations

import math

from bench.harness import BENCHMARKS, format_table, run_benchmark


def test_table_has_a_ratio_against_our_row():
    text = format_table(
        "t", [{"name": "ours", "seconds": 2.0}, {"name": "peer", "seconds": 5.0, "note": "x"}]
    )
    assert "2.50" in text and "peer" in text


def test_plan_overhead_quick_run_measures_our_contenders():
    from bench import plan_overhead

    rows = plan_overhead.run(quick=True)
    ours = [r for r in rows if r["name"].startswith("ours")]
    assert len(ours) == 3 and all(math.isfinite(r["value"]) and r["value"] > 0 for r in ours)
    assert "1 buffer slot" in ours[0]["note"]  # in-place chain of 201 nodes shares one buffer
    assert "plan_overhead" in run_benchmark("plan_overhead", quick=True)


def test_every_listed_benchmark_module_imports():
    import importlib

    for module, _ in BENCHMARKS.values():
        assert callable(importlib.import_module(module).run)
