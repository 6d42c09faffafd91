"""Counting what a block of processing allocates, with tracemalloc (test-only code)."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Allocations:
    peak: int  # bytes above the start at the busiest moment
    held: int  # bytes still held at the end
    threads: tuple[str, ...]  # other threads alive while measuring, named in failure messages

    def __str__(self) -> str:
        others = ", ".join(self.threads) or "none"
        return f"peak +{self.peak} B, held +{self.held} B (other threads: {others})"


def allocations(
    step: Callable[[int], object],
    blocks: int,
    first: int = 0,
    runs: int = 3,
    again: Callable[[], object] | None = None,
) -> Allocations:
    """Run ``step(k)`` for ``runs`` runs of ``blocks`` blocks, k counting on from ``first``, and give the
    smallest peak and held growth of any run. ``again``, called untraced before each run, sets up what
    every run must go through (a parameter ramp in progress, say), so that no run misses it.

    tracemalloc sees every thread of the process, so a thread an earlier test left behind (a server,
    a heartbeat) can lend one run a passing allocation of its own. What the code under test allocates
    per block, or leaks, appears in every run, so it survives the minimum."""
    peaks, helds = [], []
    for run in range(runs):
        if again is not None:
            again()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for k in range(first + run * blocks, first + (run + 1) * blocks):
                step(k)
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peaks.append(peak - before)
        helds.append(after - before)
    me = threading.current_thread()
    others = tuple(t.name for t in threading.enumerate() if t is not me)
    return Allocations(min(peaks), min(helds), others)
