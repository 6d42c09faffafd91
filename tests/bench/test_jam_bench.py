"""The jam benchmark's quick run (a server and four client processes on 127.0.0.1) gives every row it should,
and every client got every op of its room once, in order (no timing is asserted: benchmarks run on demand)."""

from __future__ import annotations

import math

from bench import jam
from bench.harness import format_table


def test_quick_run_loses_nothing_and_reports_latency_clock_and_memory():
    rows = jam.run(quick=True)
    by_name = {r["name"]: r for r in rows}
    names = [
        "room of 20: delivered",
        "room of 20: relay p50",
        "room of 20: relay p99",
        "room of 20: relay max",
        "room of 20: server CPU",
        "10 rooms of 4: delivered",
        "10 rooms of 4: relay p99",
        "10 rooms of 4: server RSS",
        "clock err p99 (50 idle)",
        "clock err p99 (room of 20)",
        "server RSS, 50 idle",
        "server mem per idle client",
    ]
    assert all(n in by_name for n in names), [r["name"] + ": " + r["note"] for r in rows]

    for label, clients, senders in (("room of 20", 20, 20), ("10 rooms of 4", 40, 4)):
        got = by_name[f"{label}: delivered"]
        assert got["ok"], got["note"]
        assert got["delivered"] == got["expected"] > 0
        assert got["expected"] % clients == 0 and got["expected"] // clients > senders  # each sent several
        assert got["gaps"] == got["disorder"] == got["short_pairs"] == got["stuck"] == 0
        assert got["reconnects"] == 0 and got["dropped"] == {}
        assert got["value"] == 100.0
        p50, p99 = by_name[f"{label}: relay p50"]["value"], by_name[f"{label}: relay p99"]["value"]
        assert 0 < p50 <= p99 and math.isfinite(p99)

    assert by_name["server RSS, 50 idle"]["value"] > by_name["server RSS, no clients"]["value"] > 0
    assert math.isfinite(by_name["server mem per idle client"]["value"])
    assert math.isfinite(by_name["clock err p99 (50 idle)"]["value"])
    assert "nothing lost" in format_table("jam", rows)
