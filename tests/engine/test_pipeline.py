"""Offline renders in two overlapped stages (engine.pipeline): the plan's split, and output identical to
block-by-block rendering whatever the block sizes, stems, tails and scheduled changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.graph import Feedback, Graph
from engine.pipeline import PipelinedBlocks
from engine.plan import compile_plan
from engine.render import render
from engine.session import RACK
from presets.song import load_song
from tests.helpers import Collect, Ramp, Through

DEMO = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"
SR = 48000


def test_a_racked_song_compiles_to_a_plan_whose_first_stage_is_the_rack_and_its_sequencers():
    built = load_song(DEMO).build(SR, 512, render_threads=2)
    plan = built.engine.plan
    assert plan is not None and plan.split
    first = [n for n in plan.order[: len(built.sequencers) + 1]]
    assert set(first) == {RACK} | {f"{t}/seq" for t in built.sequencers}
    # without a rack there is nothing to overlap
    assert not load_song(DEMO).build(SR, 512).engine.plan.split


def test_a_graph_with_feedback_or_nothing_after_the_first_stage_is_not_split():
    g = Graph()
    g.add("src", Ramp())
    g.add("fx", Through())
    g.add("fb", Feedback(2))
    g.connect("src", "fx")
    g.connect("fx", "fb")
    g.set_output("fx")
    assert not compile_plan(g, SR, 64, first_stage=["src"]).split
    h = Graph()
    h.add("src", Ramp())
    h.add("fx", Through())
    h.connect("src", "fx")
    h.set_output("fx")
    assert compile_plan(h, SR, 64, first_stage=["src"]).split
    assert not compile_plan(h, SR, 64, first_stage=["fx"]).split  # everything is upstream of fx


@pytest.mark.parametrize("tail", ["auto", 1.0])
def test_render_with_the_stages_overlapped_gives_the_same_mix_and_stems_to_the_bit(tail):
    def run(threads: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        built = load_song(DEMO).build(SR, 2048, render_threads=threads)
        mix = Collect()
        stems = {name: (ref, Collect()) for name, ref in built.stems.items()}
        stats = render(built.engine, built.end_sample, mix, stems, tail=tail)
        assert stats.frames > built.end_sample
        return mix.audio(), {name: sink.audio() for name, (_, sink) in stems.items()}

    one, one_stems = run(1)
    two, two_stems = run(2)
    assert np.abs(one).max() > 0.05
    np.testing.assert_array_equal(one, two)
    assert one_stems.keys() == two_stems.keys() and len(one_stems) > 3
    for name in one_stems:
        np.testing.assert_array_equal(one_stems[name], two_stems[name], err_msg=name)


def test_blocks_of_any_length_run_ahead_and_sound_as_one_by_one():
    sizes = [512, 512, 300, 2048, 17, 1024, 1024, 5, 2000] * 6
    serial = load_song(DEMO).build(SR, 2048, render_threads=2).engine
    piped = load_song(DEMO).build(SR, 2048, render_threads=2).engine
    for eng in (serial, piped):
        eng.transport.play()
    ahead = PipelinedBlocks(piped)
    try:
        for k, n in enumerate(sizes):
            nxt = sizes[k + 1] if k + 1 < len(sizes) else 0
            want = serial.process_block(n).copy()
            got = ahead.process_block(n, nxt)
            np.testing.assert_array_equal(got, want, err_msg=f"block {k}")
    finally:
        ahead.close()
    assert piped.ctx.block_index == serial.ctx.block_index == len(sizes)


def test_a_block_of_another_length_than_the_one_started_ahead_is_refused():
    eng = load_song(DEMO).build(SR, 512, render_threads=2).engine
    eng.transport.play()
    ahead = PipelinedBlocks(eng)
    try:
        ahead.process_block(512, 256)
        with pytest.raises(ValueError, match="block of 512 frames, but 256 were started ahead"):
            ahead.process_block(512, 512)
    finally:
        ahead.close()


def test_a_scheduled_change_lands_on_its_sample_while_blocks_run_ahead():
    # the master fader cut at frame 26_000 (in the 51st block of 512, 41 samples into a drum hit), scheduled
    # 20 blocks ahead: the stages stop overlapping while the change waits, so no second stage sees a later
    # block's change
    def run(pipelined: bool, change: bool) -> np.ndarray:
        built = load_song(DEMO).build(SR, 512, render_threads=2)
        eng = built.engine
        eng.transport.play()
        ahead = PipelinedBlocks(eng) if pipelined else None
        blocks = []
        try:
            for k in range(80):
                if k == 20 and change:
                    assert eng.schedule(26_000, built.strips["master"].volume_db, -96.0)
                if ahead is not None:
                    blocks.append(ahead.process_block(512, 512).copy())
                else:
                    blocks.append(eng.process_block(512).copy())
        finally:
            if ahead is not None:
                ahead.close()
        return np.concatenate(blocks, axis=1)

    plain, serial, piped = run(False, False), run(False, True), run(True, True)
    np.testing.assert_array_equal(piped, serial)
    np.testing.assert_array_equal(piped[:, :26_000], plain[:, :26_000])  # nothing changes before
    assert not np.array_equal(piped[:, 26_000:26_100], plain[:, 26_000:26_100])  # the cut starts there
    assert np.abs(piped[:, 29_000:]).max() < 1e-3 * np.abs(plain[:, 29_000:]).max()


def test_an_error_in_the_first_stage_on_the_worker_reaches_the_caller_and_the_worker_stops():
    eng = load_song(DEMO).build(SR, 512, render_threads=2).engine
    eng.transport.play()
    ahead = PipelinedBlocks(eng)
    ahead.process_block(512, 0)  # block 0, nothing started ahead
    plan = eng.plan
    assert plan is not None
    rack = eng.graph.nodes[RACK]
    k = next(i for i, c in enumerate(plan._calls_first) if getattr(c[0], "__self__", None) is rack)
    fn = plan._calls_first[k][0]

    def boom(ctx, *args):
        if ctx.block_index >= 2:
            raise RuntimeError("boom in the first stage")
        fn(ctx, *args)

    plan._calls_first[k] = (boom, *plan._calls_first[k][1:])
    ahead.process_block(512, 512)  # block 1 here; block 2 starts on the worker and fails there
    with pytest.raises(RuntimeError, match="boom in the first stage"):
        ahead.process_block(512, 512)
    ahead.close()
    ahead._thread.join(2)
    assert not ahead._thread.is_alive()


def test_a_plan_that_is_not_split_is_refused():
    eng = load_song(DEMO).build(SR, 512).engine
    with pytest.raises(ValueError, match="not split"):
        PipelinedBlocks(eng)
