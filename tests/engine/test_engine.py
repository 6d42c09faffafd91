from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dsp.gain import Gain
from engine.engine import Engine
from engine.graph import Graph
from engine.processor import AudioPort, Processor
from engine.queues import SPSCQueue
from tests.helpers import Ramp


def test_edits_are_compiled_on_the_control_side_and_swapped_in_at_a_block_boundary():
    g = Graph()
    g.add("src", Ramp())
    g.set_output("src")
    eng = Engine(g, 48000, 64)
    first = eng.commit()
    assert eng.commit() is first  # nothing changed, nothing compiled
    eng.transport.play()
    a = eng.process_block(64).copy()
    g.add("quiet", Gain(2, -96.0))
    g.connect("src", "quiet")
    g.set_output("quiet")
    second = eng.commit()
    assert eng.plan is first  # still the old plan until the audio side's next block
    b = eng.process_block(64).copy()
    assert eng.plan is second and eng.plan_swaps == 1
    assert a.any() and not b.any()
    assert eng.collect() == 1


def test_a_burst_of_commits_swaps_to_the_newest_only():
    g = Graph()
    g.add("src", Ramp())
    g.set_output("src")
    eng = Engine(g, 48000, 64)
    eng.commit()
    plans = []
    for i in range(3):
        g.add(f"g{i}", Gain())
        plans.append(eng.commit())
    eng.process_block(64)
    assert eng.plan is plans[-1] and eng.plan_swaps == 1


def test_a_failing_processor_in_a_live_stream_gives_silence_and_an_error_report():
    class Broken(Processor):
        audio_outputs = (AudioPort("out", 2),)

        def process(self, ctx, ai, ao, ei, eo):
            raise RuntimeError("plugin crashed")

    g = Graph()
    g.add("b", Broken())
    g.set_output("b")
    eng = Engine(g, 48000, 64)
    eng.commit()
    with pytest.raises(RuntimeError):
        eng.process_block(64)
    eng.raise_errors = False
    out = eng.process_block(64)
    assert not out.any()
    err = eng.errors.try_pop()
    assert isinstance(err, RuntimeError) and "plugin crashed" in str(err)


def test_engine_refuses_unsupported_rates_and_block_sizes():
    with pytest.raises(ValueError, match="sample rate"):
        Engine(sample_rate=12345)
    with pytest.raises(ValueError, match="block size"):
        Engine(max_block_size=0)


@pytest.mark.parametrize("rate", [44100, 48000, 88200, 96000])
def test_every_common_rate_runs(rate):
    g = Graph()
    g.add("src", Ramp())
    g.set_output("src")
    eng = Engine(g, rate, 128)
    eng.commit()
    assert eng.process_block(100).shape == (2, 100)


def test_spsc_queue_passes_items_between_two_threads_in_order():
    q: SPSCQueue[int] = SPSCQueue(16)
    received: list[int] = []
    n = 3000

    def consumer():
        while len(received) < n:
            item = q.try_pop()
            if item is not None:
                received.append(item)
            else:
                time.sleep(0)

    t = threading.Thread(target=consumer)
    t.start()
    i = 0
    while i < n:
        if q.try_push(i):
            i += 1
        else:
            time.sleep(0)
    t.join(timeout=30)
    assert received == list(range(n))
    full: SPSCQueue[int] = SPSCQueue(2)
    assert full.try_push(1) and full.try_push(2) and not full.try_push(3)
    assert full.dropped == 1 and len(full) == 2


def test_output_latency_is_trimmed_from_renders():
    from engine.render import render_array
    from tests.helpers import Delay

    g = Graph()
    g.add("src", Ramp())
    g.add("lat", Delay(100))
    g.connect("src", "lat")
    g.set_output("lat")
    eng = Engine(g, 48000, 64)
    audio, _, _ = render_array(eng, 1000, tail=0)
    assert eng.latency_samples == 100
    np.testing.assert_array_equal(audio[0], np.arange(1000, dtype=np.float32))


def test_a_processor_whose_latency_changes_gets_a_new_plan_on_commit():
    from dsp.dynamics import Limiter

    g = Graph()
    g.add("src", Ramp())
    g.add("lim", Limiter())
    g.connect("src", "lim")
    g.set_output("lim")
    eng = Engine(g, 48000, 64)
    first = eng.commit()
    before = first.latency_samples
    g.node("lim").param("lookahead_ms").set(10.0)
    second = eng.commit()
    assert second is not first and second.latency_samples == 480 != before
