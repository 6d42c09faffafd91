from __future__ import annotations

import numpy as np
import pytest

from engine.events import NOTE_ON, EventBuffer
from engine.graph import Feedback, Graph
from engine.plan import compile_plan
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from tests.helpers import Delay, EventRecorder, Ramp, Through, run_blocks


def test_parallel_paths_with_latency_are_aligned_where_they_merge():
    # one path delays by 37 samples and reports it; the dry path must be delayed to match: the sum is then
    # exactly twice the delayed ramp, with no comb filtering
    g = Graph()
    g.add("src", Ramp())
    g.add("slow", Delay(37))
    g.add("dry", Through())
    g.add("sum", Through(in_place=True))
    g.connect("src", "slow")
    g.connect("src", "dry")
    g.connect("slow", "sum")
    g.connect("dry", "sum")
    g.set_output("sum")
    plan = compile_plan(g, 48000, 64)
    assert plan.latency_samples == 37
    out = run_blocks(plan, 1000, 64)
    expected = 2 * np.maximum(np.arange(1000) - 37, 0).astype(np.float32)
    expected[:37] = 0
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], expected)


def test_latency_compensation_sums_a_sine_without_comb_filtering():
    # a 1 kHz sine through a 24-sample latency path and a dry path: uncompensated, the two would partly
    # cancel (24 samples at 48 kHz is half a period); compensated, the level doubles
    class Sine(Processor):
        audio_outputs = (AudioPort("out", 1),)

        def __init__(self):
            super().__init__()
            self.t = 0

        def process(self, ctx, ai, ao, ei, eo):
            n = ctx.frames
            ao[0][0] = np.sin(2 * np.pi * 1000 * (np.arange(self.t, self.t + n) / 48000))
            self.t += n

    g = Graph()
    g.add("sine", Sine())
    g.add("lat", Delay(24, channels=1))
    g.add("dry", Through(1))
    g.add("mix", Through(1, in_place=True))
    for a, b in (("sine", "lat"), ("sine", "dry"), ("lat", "mix"), ("dry", "mix")):
        g.connect(a, b)
    g.set_output("mix")
    out = run_blocks(compile_plan(g, 48000, 128), 48000, 128)[0, 1000:]
    assert np.sqrt(np.mean(out**2)) == pytest.approx(2 / np.sqrt(2), rel=1e-3)


def test_latencies_add_along_a_chain_and_nested_branches_align():
    g = Graph()
    g.add("src", Ramp())
    g.add("a", Delay(10))
    g.add("b", Delay(5))
    g.add("c", Delay(3))
    g.add("mix", Through(in_place=True))
    g.connect("src", "a")
    g.connect("a", "b")  # path 1: 15
    g.connect("src", "c")  # path 2: 3
    g.connect("b", "mix")
    g.connect("c", "mix")
    g.set_output("mix")
    plan = compile_plan(g, 48000, 32)
    assert plan.latency_samples == 15
    out = run_blocks(plan, 200, 32)
    assert np.array_equal(out[0, 15:], 2 * np.arange(0, 185, dtype=np.float32))


def test_slots_grow_with_width_not_node_count():
    def chain(n: int) -> Graph:
        g = Graph()
        g.add("src", Ramp())
        prev = "src"
        for i in range(n):
            g.add(f"n{i}", Through())
            g.connect(prev, f"n{i}")
            prev = f"n{i}"
        g.set_output(prev)
        return g

    short = compile_plan(chain(5), 48000, 64).stats.audio_slots
    long = compile_plan(chain(500), 48000, 64).stats.audio_slots
    assert short == long <= 3

    wide = Graph()
    wide.add("src", Ramp())
    wide.add("mix", Through(in_place=True))
    for i in range(8):
        wide.add(f"p{i}", Through())
        wide.connect("src", f"p{i}")
        wide.connect(f"p{i}", "mix")
    wide.set_output("mix")
    assert compile_plan(wide, 48000, 64).stats.audio_slots > long


def test_in_place_chain_uses_one_buffer():
    g = Graph()
    g.add("src", Ramp())
    prev = "src"
    for i in range(50):
        g.add(f"n{i}", Through(in_place=True))
        g.connect(prev, f"n{i}")
        prev = f"n{i}"
    g.set_output(prev)
    plan = compile_plan(g, 48000, 64)
    assert plan.stats.audio_slots == 1
    out = run_blocks(plan, 300, 64)
    assert np.array_equal(out[0], np.arange(300, dtype=np.float32))


def test_fan_out_keeps_a_buffer_alive_for_every_reader():
    # the source feeds three in-place nodes; none may overwrite what the others still have to read
    class AddOne(Through):
        def process(self, ctx, ai, ao, ei, eo):
            np.add(ai[0], 1.0, out=ao[0])

    g = Graph()
    g.add("src", Ramp())
    for name in "abc":
        node = AddOne()
        node.in_place = True
        g.add(name, node)
        g.connect("src", name)
    g.add("mix", Through(in_place=True))
    for name in "abc":
        g.connect(name, "mix")
    g.set_output("mix")
    out = run_blocks(compile_plan(g, 48000, 16), 64, 16)
    assert np.array_equal(out[0], 3 * (np.arange(64, dtype=np.float32) + 1))


def test_channel_adaptation_mono_to_stereo_and_stereo_to_mono():
    g = Graph()
    g.add("mono", Ramp(1))
    g.add("st", Through(2))
    g.add("down", Through(1))
    g.connect("mono", "st")
    g.connect("st", "down")
    g.set_output("down")
    out = run_blocks(compile_plan(g, 48000, 64), 100, 64)
    assert out.shape == (1, 100)
    assert np.array_equal(out[0], np.arange(100, dtype=np.float32))


def test_feedback_node_returns_the_previous_block():
    g = Graph()
    g.add("src", Ramp(1, offset=1.0))
    g.add("sum", Through(1))
    g.add("fb", Feedback(1))
    g.connect("src", "sum")
    g.connect("fb", "sum")
    g.connect("sum", "fb")
    g.set_output("sum")
    out = run_blocks(compile_plan(g, 48000, 4), 12, 4)[0]
    # y[block k] = x[block k] + y[block k-1]
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    y = np.cumsum(x, axis=0).reshape(-1)
    assert np.array_equal(out, y)


def test_unconnected_input_reads_silence_and_missing_output_is_silent():
    g = Graph()
    g.add("t", Through())
    g.set_output("t")
    assert not run_blocks(compile_plan(g, 48000, 32), 64, 32).any()
    g2 = Graph()
    g2.add("t", Through())
    plan = compile_plan(g2, 48000, 32)
    assert run_blocks(plan, 64, 32).shape == (2, 64)


def test_partial_last_block_and_block_size_limits():
    g = Graph()
    g.add("src", Ramp())
    g.set_output("src")
    plan = compile_plan(g, 48000, 100)
    out = run_blocks(plan, 250, 100)
    assert np.array_equal(out[0], np.arange(250, dtype=np.float32))
    ctx = BlockContext(48000)
    ctx.set_single_segment(101, 0, True)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        plan.process(ctx)


class Emitter(Processor):
    event_outputs = (EventPort("midi"),)

    def __init__(self, at: int, pitch: int):
        super().__init__()
        self.at, self.pitch, self.t = at, pitch, 0

    def process(self, ctx, ai, ao, ei, eo):
        if self.t <= self.at < self.t + ctx.frames:
            eo[0].push(self.at - self.t, NOTE_ON, self.pitch, 100)
        self.t += ctx.frames


def test_events_merge_in_time_order_from_several_sources():
    g = Graph()
    g.add("e1", Emitter(70, 60))
    g.add("e2", Emitter(10, 62))
    g.add("rec", EventRecorder())
    g.connect("e1", "rec")
    g.connect("e2", "rec")
    g.set_output("rec")
    rec = g.node("rec")
    run_blocks(compile_plan(g, 48000, 64), 128, 64)
    assert [(t, d1) for t, _, d1, _ in rec.events] == [(10, 62), (70, 60)]


def test_event_paths_are_delayed_to_match_audio_latency():
    # an instrument-like node takes audio through a 50-sample latency path and events directly:
    # the plan delays the events by 50 samples so they stay in step with the audio
    class Both(EventRecorder):
        audio_inputs = (AudioPort("in", 2),)

    g = Graph()
    g.add("src", Ramp())
    g.add("lat", Delay(50))
    g.add("emit", Emitter(5, 64))
    g.add("rec", Both())
    g.connect("src", "lat")
    g.connect("lat", "rec.in")
    g.connect("emit", "rec.midi")
    g.set_output("rec")
    plan = compile_plan(g, 48000, 32)
    run_blocks(plan, 128, 32)
    assert g.node("rec").events == [(55, NOTE_ON, 64, 100)]
    assert plan.stats.delays == 1


def test_event_buffer_overflow_is_counted_not_grown():
    buf = EventBuffer(2)
    assert buf.push(0, NOTE_ON, 60, 1) and buf.push(1, NOTE_ON, 61, 1)
    assert not buf.push(2, NOTE_ON, 62, 1)
    assert buf.count == 2 and buf.dropped == 1


def test_prepare_is_called_once_per_rate_and_block_size():
    calls = []

    class Counting(Through):
        def prepare(self, sr, mb):
            calls.append((sr, mb))
            super().prepare(sr, mb)

    g = Graph()
    g.add("c", Counting())
    compile_plan(g, 48000, 64)
    compile_plan(g, 48000, 64)
    compile_plan(g, 96000, 64)
    assert calls == [(48000, 64), (96000, 64)]


def test_in_place_output_never_shares_a_buffer_with_a_second_input():
    class RingMod(Processor):
        in_place = True

        def __init__(self):
            super().__init__()
            self.audio_inputs = (AudioPort("carrier", 2), AudioPort("mod", 2))
            self.audio_outputs = (AudioPort("out", 2),)

        def process(self, ctx, ai, ao, ei, eo):
            out = ao[0]
            if out is not ai[0]:
                out[:] = ai[0]
            out *= 0.5
            out += 0.5 * ai[1]  # reads the second input after writing the output

    g = Graph()
    g.add("src", Ramp())
    g.add("rm", RingMod())
    g.connect("src", "rm.carrier")
    g.connect("src", "rm.mod")
    g.set_output("rm")
    out = run_blocks(compile_plan(g, 48000, 32), 96, 32)
    assert np.array_equal(out[0], np.arange(96, dtype=np.float32))


def test_feedback_input_paths_are_latency_aligned():
    g = Graph()
    g.add("src", Ramp(1))
    g.add("slow", Delay(3, channels=1))
    g.add("fb", Feedback(1))
    g.add("out", Through(1))
    g.connect("src", "slow")
    g.connect("slow", "fb")
    g.connect("src", "fb")
    g.connect("fb", "out")
    g.set_output("out")
    out = run_blocks(compile_plan(g, 48000, 8), 32, 8)[0]
    # the direct path is delayed by 3 to meet the slow one, then the feedback adds one block (8)
    expected = np.zeros(32, np.float32)
    expected[11:] = 2 * np.arange(0, 21, dtype=np.float32)
    assert np.array_equal(out, expected)


def test_tap_latency_is_reported_for_stems():
    g = Graph()
    g.add("src", Ramp())
    g.add("lat", Delay(40))
    g.add("mix", Through(in_place=True))
    g.connect("src", "lat")
    g.connect("lat", "mix")
    g.set_output("mix")
    plan = compile_plan(g, 48000, 64, taps=["src.out", "lat.out"])
    assert plan.tap_latency == {"src.out": 0, "lat.out": 40}
    assert plan.latency_samples == 40


def test_a_plan_swap_keeps_delay_lines_running():
    from engine.engine import Engine

    g = Graph()
    g.add("src", Ramp())
    g.add("lat", Delay(100))
    g.add("dry", Through())
    g.add("mix", Through(in_place=True))
    for a, b in (("src", "lat"), ("src", "dry"), ("lat", "mix"), ("dry", "mix")):
        g.connect(a, b)
    g.set_output("mix")
    eng = Engine(g, 48000, 64)
    eng.commit()
    out = [eng.process_block(64).copy() for _ in range(3)]
    g.add("unrelated", Through())  # an edit elsewhere: the compensation delay must not restart
    eng.commit()
    out += [eng.process_block(64).copy() for _ in range(3)]
    assert eng.plan_swaps == 1
    y = np.concatenate(out, axis=1)[0]
    expected = 2 * np.maximum(np.arange(384) - 100, 0).astype(np.float32)
    assert np.array_equal(y, expected)


def test_events_waiting_in_a_delay_survive_a_plan_swap_that_changes_the_delay():
    from engine.engine import Engine
    from engine.events import NOTE_OFF

    class Both(EventRecorder):
        audio_inputs = (AudioPort("in", 2),)

    class Pair(Processor):
        event_outputs = (EventPort("midi"),)

        def __init__(self):
            super().__init__()
            self.t = 0

        def process(self, ctx, ai, ao, ei, eo):
            if self.t == 0:
                eo[0].push(0, NOTE_ON, 60, 100)
                eo[0].push(10, NOTE_OFF, 60, 0)
            self.t += ctx.frames

    g = Graph()
    g.add("src", Ramp())
    g.add("lat", Delay(200))
    g.add("emit", Pair())
    g.add("rec", Both())
    g.connect("src", "lat")
    g.connect("lat", "rec.in")
    g.connect("emit", "rec.midi")
    g.set_output("rec")
    eng = Engine(g, 48000, 64)
    eng.commit()
    eng.process_block(64)  # both events are now queued for sample 200 and 210
    g.remove("lat")  # a slower device replaces it: the event delay grows by 100
    g.add("lat", Delay(300))
    g.connect("src", "lat")
    g.connect("lat", "rec.in")
    eng.commit()
    for _ in range(10):
        eng.process_block(64)
    assert [(t, s) for t, s, _, _ in g.node("rec").events] == [(300, NOTE_ON), (310, NOTE_OFF)]
