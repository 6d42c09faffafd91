"""The benchmark harness: named benchmarks, each returning rows that it prints as one table with ratios.

A benchmark module has ``run(quick: bool) -> list[dict]``; each row has ``name`` and ``seconds`` (or another
measure in ``value`` with its ``unit``), optionally ``realtime_x`` and ``note``. The first row is ours; the
ratio column is ``row / ours`` for timings (how many times slower the peer is).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BENCHMARKS", "format_table", "run_benchmark", "time_direct", "time_in_plan"]

BENCHMARKS = {
    "plan_overhead": ("bench.plan_overhead", "plan cost per node per 128-sample block (200 nodes)"),
    "synth_voices": ("bench.synth_voices", "64 synth voices for 60 s at 48 kHz vs pyo and DawDreamer"),
    "effect_chain": (
        "bench.effect_chain",
        "compressor, chorus, reverb, delay at 128-sample blocks vs pedalboard",
    ),
    "plugin_host": (
        "bench.plugin_host",
        "ZamCompX2 (VST3) hosted at 64- and 128-sample blocks vs pedalboard calling it directly",
    ),
    "startup": ("bench.startup", "`strum --help` start-up time and what it imports"),
    "render_memory": ("bench.render_memory", "peak resident memory of a render process"),
    "ai": (
        "bench.ai",
        "trained models vs n-gram baselines, generated parts vs held-out data, arrangement and generate "
        "speed, memory",
    ),
    "live": (
        "bench.live",
        "live engine on JACK dummy: xruns vs a one-voice reference, voices vs pyo, session under load,"
        " latency",
    ),
    "sampler": (
        "bench.sampler",
        "GM MIDI files through the sampler vs FluidSynth: speed, onsets, spectra, memory",
    ),
    "jam": (
        "bench.jam",
        "jam server on loopback: relay latency and losses (100 in a room, 1,000 in rooms of 4), clock"
        " offset error, memory per idle client",
    ),
    "separation": (
        "bench.separation",
        "batched HTDemucs vs demucs' apply_model on a GPU (240 s track), the trained 4-stem model vs a"
        " harmonic/percussive baseline on held-out renders",
    ),
}


def format_table(title: str, rows: Sequence[dict[str, Any]]) -> str:
    lines = [title, "=" * len(title)]
    if not rows:
        return "\n".join([*lines, "(no rows)"])
    ours = rows[0]
    head = f"{'contender':<28} {'result':>16} {'x real time':>12} {'ratio':>8}  note"
    lines += [head, "-" * len(head)]
    for r in rows:
        if "seconds" in r:
            result = f"{r['seconds']:.4f} s"
            base = ours.get("seconds")
            ratio = f"{r['seconds'] / base:.2f}" if base else ""
        else:
            result = f"{r['value']:.3f} {r.get('unit', '')}".strip()
            base = ours.get("value")
            ratio = f"{r['value'] / base:.2f}" if base and r.get("ratio", True) else ""
        rt = f"{r['realtime_x']:.1f}" if r.get("realtime_x") else ""
        lines.append(f"{r['name']:<28} {result:>16} {rt:>12} {ratio:>8}  {r.get('note', '')}")
    return "\n".join(lines)


def run_benchmark(name: str, quick: bool = False) -> str:
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    module_name, title = BENCHMARKS[name]
    module = importlib.import_module(module_name)
    rows = module.run(quick)
    return format_table(f"{name}: {title}", rows)


def time_in_plan(procs: Sequence[Any], x: np.ndarray, rate: int, block: int) -> tuple[float, np.ndarray]:
    """``x`` (channels, frames) through ``procs`` in series inside a compiled render plan, fed block by block
    (the path a song takes): (seconds of the block loop, output). Compiling stays outside the timing."""
    import time

    import numpy as np

    from engine.graph import Graph
    from engine.plan import compile_plan
    from engine.processor import AudioPort, BlockContext, Processor

    class Feed(Processor):
        audio_outputs = (AudioPort("out", x.shape[0]),)

        def __init__(self) -> None:
            super().__init__()
            self.pos = 0

        def process(self, ctx, audio_in, audio_out, events_in, events_out):
            # the source every plan needs, kept as cheap as a copy can be (item assignment: np.copyto's call
            # costs more than the copy of a small block)
            n = ctx.frames
            pos = self.pos
            audio_out[0][...] = x[:, pos : pos + n]
            self.pos = pos + n

    g = Graph()
    g.add("in", Feed())
    prev = "in"
    for k, proc in enumerate(procs):
        g.add(f"fx{k}", proc)
        g.connect(prev, f"fx{k}")
        prev = f"fx{k}"
    g.set_output(prev)
    plan = compile_plan(g, rate, block)
    ctx = BlockContext(rate)
    out = np.zeros_like(x)
    total = x.shape[1]
    t0 = time.perf_counter()
    for start in range(0, total, block):
        n = min(block, total - start)
        ctx.set_single_segment(n, start, True)
        out[:, start : start + n] = plan.process(ctx)
    return time.perf_counter() - t0, out


def time_direct(procs: Sequence[Any], x: np.ndarray, rate: int, block: int) -> tuple[float, np.ndarray]:
    """The same without a plan: each processor prepared, then called in place block by block (a second
    input, a sidechain, gets the signal itself)."""
    import time

    from engine.processor import BlockContext

    for p in procs:
        p.prepare(rate, block)
    ctx = BlockContext(rate)
    out = x.copy()
    total = x.shape[1]
    t0 = time.perf_counter()
    for start in range(0, total, block):
        n = min(block, total - start)
        ctx.set_single_segment(n, start, True)
        view = out[:, start : start + n]
        for p in procs:  # every processor here works in place
            p.process(ctx, [view, view] if len(p.audio_inputs) > 1 else [view], [view], [], [])
    return time.perf_counter() - t0, out
