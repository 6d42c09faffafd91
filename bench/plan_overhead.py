"""Plan overhead: what the render plan costs per node per 128-sample block, 200 nodes in a chain.

Contenders, all 200 nodes deep, stereo, 128-sample blocks at 48 kHz:
- ours, in place: pass-through nodes that work in place (the plan gives them one buffer): pure dispatch.
- ours, copying: pass-through nodes that copy input to output (two buffers alternate).
- ours, gain: a real DSP node (the Gain processor, Numba kernel) in every slot.
- DawDreamer: 200 ``add`` processors chained in its graph (each sums its one input), rendered offline.
- pyo: 200 chained ``Sig`` objects (each passes its input on), offline server.
The figure is wall time / (blocks x nodes), in nanoseconds.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

NODES = 200
BLOCK = 128
SR = 48000


def _ours(kind: str, blocks: int) -> dict[str, Any]:
    from dsp.gain import Gain
    from engine.graph import Graph
    from engine.plan import compile_plan
    from engine.processor import AudioPort, BlockContext, Processor

    class Source(Processor):
        audio_outputs = (AudioPort("out", 2),)

        def process(self, ctx, audio_in, audio_out, events_in, events_out):
            pass  # the buffer keeps whatever it holds: the chain's cost is what we measure

    class InPlace(Processor):
        audio_inputs = (AudioPort("in", 2),)
        audio_outputs = (AudioPort("out", 2),)
        in_place = True

        def process(self, ctx, audio_in, audio_out, events_in, events_out):
            if audio_out[0] is not audio_in[0]:
                np.copyto(audio_out[0], audio_in[0])

    class Copy(Processor):
        audio_inputs = (AudioPort("in", 2),)
        audio_outputs = (AudioPort("out", 2),)

        def process(self, ctx, audio_in, audio_out, events_in, events_out):
            np.copyto(audio_out[0], audio_in[0])

    g = Graph()
    g.add("src", Source())
    prev = "src"
    for i in range(NODES):
        node = {"in place": InPlace, "copying": Copy, "gain": lambda: Gain(2, -0.01)}[kind]()
        g.add(f"n{i}", node)
        g.connect(prev, f"n{i}")
        prev = f"n{i}"
    g.set_output(prev)
    plan = compile_plan(g, SR, BLOCK)
    ctx = BlockContext(SR)
    ctx.set_single_segment(BLOCK, 0, True)
    for _ in range(50):
        plan.process(ctx)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(blocks):
            plan.process(ctx)
        best = min(best, time.perf_counter() - t0)
    ns = best / (blocks * (NODES + 1)) * 1e9
    return {
        "name": f"ours ({kind})",
        "value": ns,
        "unit": "ns/node/block",
        "note": f"{plan.stats.audio_slots} buffer slot(s) for {NODES + 1} nodes",
    }


def _dawdreamer(blocks: int) -> dict[str, Any]:
    import dawdreamer as daw

    engine = daw.RenderEngine(SR, BLOCK)
    src = engine.make_oscillator_processor("osc", 440.0)
    graph = [(src, [])]
    prev = "osc"
    for i in range(NODES):
        p = engine.make_add_processor(f"a{i}", [1.0])
        graph.append((p, [prev]))
        prev = f"a{i}"
    engine.load_graph(graph)
    seconds = blocks * BLOCK / SR
    engine.render(0.1)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        engine.render(seconds)
        best = min(best, time.perf_counter() - t0)
    ns = best / (blocks * (NODES + 1)) * 1e9
    return {"name": "DawDreamer (add processors)", "value": ns, "unit": "ns/node/block", "note": "C++ graph"}


def _pyo(blocks: int) -> dict[str, Any]:
    import pyo

    s = pyo.Server(sr=SR, nchnls=2, buffersize=BLOCK, duplex=0, audio="offline")
    s.boot()
    seconds = blocks * BLOCK / SR
    with tempfile.TemporaryDirectory() as tmp:
        s.recordOptions(dur=seconds, filename=os.path.join(tmp, "o.wav"), fileformat=0, sampletype=3)
        a: Any = pyo.Sine(440)
        for _ in range(NODES):
            a = pyo.Sig(a)
        a.out()
        t0 = time.perf_counter()
        s.start()
        elapsed = time.perf_counter() - t0
    s.shutdown()
    ns = elapsed / (blocks * (NODES + 1)) * 1e9
    return {
        "name": "pyo (Sig objects)",
        "value": ns,
        "unit": "ns/node/block",
        "note": "C objects, file write incl.",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    blocks = 200 if quick else 2000
    rows = [_ours("in place", blocks), _ours("copying", blocks), _ours("gain", blocks)]
    for peer in (_dawdreamer, _pyo):
        try:
            rows.append(peer(blocks))
        except Exception as exc:  # a peer that is not installed is reported, not fatal
            rows.append(
                {
                    "name": peer.__name__.strip("_"),
                    "value": float("nan"),
                    "unit": "",
                    "note": f"not run: {exc}",
                    "ratio": False,
                }
            )
    budget = 1000.0
    worst = max(r["value"] for r in rows[:2])
    verdict = "within" if worst <= budget else "OVER"
    rows[0]["note"] += f"; pass-through budget {budget:.0f} ns: worst {worst:.0f} ns, {verdict}"
    rows[2]["note"] += "; real DSP: smoothed gain_db + Numba kernel call"
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table("plan_overhead", run()))
