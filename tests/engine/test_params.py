from __future__ import annotations

import numpy as np
import pytest

from engine.params import AutomationLane, Breakpoint, Parameter
from engine.processor import BlockContext
from engine.tempo import TempoMap
from engine.transport import Transport

SR = 48000


def ctx_at(pos: int, n: int, playing: bool = True) -> BlockContext:
    ctx = BlockContext(SR)
    ctx.set_single_segment(n, pos, playing)
    return ctx


def test_set_value_ramps_linearly_over_the_smoothing_time_without_jumps():
    p = Parameter("gain", 0.0, 1.0, 0.0, smoothing_ms=10.0)
    p.prepare(SR, 128)
    p.set(1.0)
    values = np.concatenate([p.render(ctx_at(0, 128)).copy() for _ in range(6)])
    ramp = 480  # 10 ms at 48 kHz
    np.testing.assert_allclose(values[:ramp], np.arange(1, ramp + 1) / ramp, atol=1e-9)
    assert np.all(values[ramp:] == 1.0)
    assert np.max(np.abs(np.diff(values))) <= 1.0 / ramp + 1e-12  # no zipper step
    assert p.is_constant


def test_settled_parameter_is_constant_and_cheap():
    p = Parameter("x", 0, 10, 3)
    p.prepare(SR, 64)
    out = p.render(ctx_at(0, 64))
    assert p.is_constant and np.all(out == 3)


def test_stepped_parameter_jumps_and_rounds():
    p = Parameter("mode", 0, 3, 0, stepped=True)
    p.prepare(SR, 64)
    p.set(2.4)
    assert p.value == 2.0
    assert np.all(p.render(ctx_at(0, 64)) == 2.0)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
def test_out_of_range_values_name_the_parameter_and_its_range(value):
    p = Parameter("cutoff_hz", 20, 20000, 1000, "Hz")
    with pytest.raises(ValueError, match=r"cutoff_hz must be in 20\.\.20000 Hz"):
        p.set(value if abs(value) < 1 or value != value or value == float("inf") else value * 1e6)
    assert p.value == 1000


def test_linear_automation_is_sample_accurate():
    tm = TempoMap(bpm=120)
    lane = AutomationLane([Breakpoint(1.0, 0.0), Breakpoint(2.0, 1.0)])  # samples 24000..48000
    p = Parameter("x", 0, 1, 0.5)
    p.prepare(SR, 100)
    p.set_automation(lane.compile(lambda b: tm.beat_to_sample(b, SR)))
    got = p.render(ctx_at(23990, 100)).copy()
    expected = np.clip((np.arange(23990, 24090) - 24000) / 24000, 0, 1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert not p.is_constant


def test_exponential_automation_has_a_constant_ratio_per_sample():
    p = Parameter("cutoff_hz", 20, 20000, 1000)
    p.prepare(SR, 1000)
    lane = AutomationLane([Breakpoint(0, 100.0, "exp"), Breakpoint(1, 10000.0)])
    p.set_automation(lane.compile(lambda b: b * 1000))
    v = p.render(ctx_at(0, 1000)).copy()
    ratios = v[1:] / v[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert v[500] == pytest.approx(1000.0)


def test_automation_follows_the_loop_wrap_inside_a_block():
    tm = TempoMap(bpm=120)
    tr = Transport(tm, SR, 256)
    tr.set_loop(0, 1)  # 24000 samples
    tr.locate(24000 - 100)
    tr.play()
    ctx = BlockContext(SR)
    tr.begin_block(ctx, 256)
    p = Parameter("x", 0, 24000, 0)
    p.prepare(SR, 256)
    p.set_automation(
        AutomationLane([Breakpoint(0, 0.0), Breakpoint(1, 24000.0)]).compile(
            lambda b: tm.beat_to_sample(b, SR)
        )
    )
    v = p.render(ctx)
    np.testing.assert_allclose(v[:100], np.arange(23900, 24000))
    np.testing.assert_allclose(v[100:], np.arange(0, 156))


def test_stopped_transport_holds_the_lane_value_at_the_cursor_smoothly():
    p = Parameter("x", 0, 1, 0, smoothing_ms=1.0)
    p.prepare(SR, 64)
    p.set_automation(AutomationLane([Breakpoint(0, 1.0), Breakpoint(1, 1.0)]).compile(lambda b: b * 100))
    first = p.render(ctx_at(0, 64, playing=False)).copy()
    assert first[0] < 1.0 and first[-1] == 1.0  # ramps from 0 to the lane value, no jump


def test_automation_outside_the_range_is_refused():
    p = Parameter("pan", -1, 1, 0)
    lane = AutomationLane([Breakpoint(0, 0.0), Breakpoint(1, 2.0)])
    with pytest.raises(ValueError, match="leaves its range"):
        p.set_automation(lane.compile(lambda b: b))


def test_breakpoints_are_validated():
    with pytest.raises(ValueError, match="curve"):
        Breakpoint(0, 1, "wobble")
    with pytest.raises(ValueError, match="beat"):
        Breakpoint(-1, 1)
    with pytest.raises(ValueError, match="at least one"):
        AutomationLane([])
