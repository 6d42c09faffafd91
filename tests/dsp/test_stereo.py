"""Stereo width and pan against their closed forms, plus the processor contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.stereo import Pan, StereoWidth
from engine.mixer import ChannelStrip
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext, Processor

RATES = [44100.0, 48000.0, 96000.0]
BLOCKS = [32, 64, 1000, 4096]


def run(proc: Processor, x: np.ndarray, block: int = 4096) -> np.ndarray:
    out = np.zeros((proc.audio_outputs[0].channels, x.shape[1]), x.dtype)
    ctx = BlockContext(proc.sample_rate)
    for s in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - s)
        ctx.set_single_segment(n, s, True)
        proc.process(ctx, [x[:, s : s + n]], [out[:, s : s + n]], [], [])
    return out


def stereo_noise(n: int = 5000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    left = rng.standard_normal(n)
    return np.vstack([left, 0.6 * left + 0.5 * rng.standard_normal(n)])


def set_and_prepare(proc: Processor, sr: float = 48000.0, **values: float) -> Processor:
    for name, v in values.items():
        proc.param(name).set(v)
        proc.param(name).reset()
    proc.prepare(sr, 4096)
    return proc


# -- width ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
def test_width_scales_the_side_and_keeps_the_mid(width):
    x = stereo_noise()
    y = run(set_and_prepare(StereoWidth(), width=width), x)
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    np.testing.assert_allclose(y[0], mid + width * side, atol=1e-14)
    np.testing.assert_allclose(y[1], mid - width * side, atol=1e-14)
    np.testing.assert_allclose((y[0] + y[1]) / 2, mid, atol=1e-14)
    np.testing.assert_allclose((y[0] - y[1]) / 2, width * side, atol=1e-14)


def test_width_zero_is_mono_and_one_is_bit_exact_on_float32_buffers():
    x = stereo_noise().astype(np.float32)
    mono = run(set_and_prepare(StereoWidth(), width=0.0), x)
    np.testing.assert_array_equal(mono[0], mono[1])
    np.testing.assert_array_equal(run(set_and_prepare(StereoWidth(), width=1.0), x), x)


def test_width_works_in_place():
    x = stereo_noise()
    want = run(set_and_prepare(StereoWidth(), width=1.7), x)
    proc = set_and_prepare(StereoWidth(), width=1.7)
    buf = x.copy()
    ctx = BlockContext(48000.0)
    ctx.set_single_segment(4000, 0, True)
    proc.process(ctx, [buf[:, :4000]], [buf[:, :4000]], [], [])
    np.testing.assert_allclose(buf[:, :4000], want[:, :4000], atol=1e-15)


# -- pan -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_pan_of_a_mono_input_is_the_constant_power_law(pan):
    x = np.random.default_rng(2).standard_normal((1, 3000))
    y = run(set_and_prepare(Pan(1), pan=pan), x)
    theta = (pan + 1) * math.pi / 4
    np.testing.assert_allclose(y[0], math.sqrt(2) * math.cos(theta) * x[0], atol=1e-14)
    np.testing.assert_allclose(y[1], math.sqrt(2) * math.sin(theta) * x[0], atol=1e-14)
    # constant power: the summed power is twice the input's at every position (unity per side at centre)
    np.testing.assert_allclose(y[0] ** 2 + y[1] ** 2, 2 * x[0] ** 2, rtol=1e-12)


def test_pan_centre_is_unity_and_hard_sides_silence_the_other_channel():
    x = stereo_noise()
    np.testing.assert_allclose(run(set_and_prepare(Pan(), pan=0.0), x), x, atol=1e-15)
    left = run(set_and_prepare(Pan(), pan=-1.0), x)
    np.testing.assert_allclose(left[0], math.sqrt(2) * x[0], atol=1e-14)
    np.testing.assert_allclose(left[1], 0.0, atol=1e-15)


@pytest.mark.parametrize("channels", [1, 2])
def test_pan_follows_the_mixers_law_exactly(channels):
    x = np.random.default_rng(3).standard_normal((channels, 4000)).astype(np.float32)
    for pan in (-0.8, 0.1, 0.6):
        strip = set_and_prepare(ChannelStrip(channels), pan=pan)
        np.testing.assert_array_equal(run(set_and_prepare(Pan(channels), pan=pan), x), run(strip, x))


def test_pan_refuses_more_than_two_channels():
    with pytest.raises(ValueError, match="1 or 2 channels"):
        Pan(3)


# -- the processor contract ----------------------------------------------------------------------------------
def automated(proc: Processor, sr: float) -> Processor:
    for p in proc.params.values():
        lo, hi = p.min_value, p.max_value
        lane = AutomationLane(
            [Breakpoint(0.0, lo), Breakpoint(1.0, hi), Breakpoint(2.0, lo + 0.4 * (hi - lo))]
        )
        p.set_automation(lane.compile(lambda b: b * sr / 2.0))
    proc.prepare(sr, 4096)
    return proc


MAKERS = [StereoWidth, lambda: Pan(1), Pan]
IDS = ["width", "pan mono", "pan stereo"]


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_output_does_not_depend_on_the_block_size_with_automated_parameters(make, sr):
    proc = make()
    x = stereo_noise(int(1.2 * sr))[: proc.audio_inputs[0].channels].astype(np.float32)
    ref = run(automated(make(), sr), x, BLOCKS[0])
    for block in BLOCKS[1:]:
        assert np.max(np.abs(run(automated(make(), sr), x, block) - ref)) <= 1e-6, f"block {block}"


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_silence_in_gives_silence_out(make):
    proc = automated(make(), 48000.0)
    silence = np.zeros((proc.audio_inputs[0].channels, 20000), np.float32)
    assert np.max(np.abs(run(proc, silence, 512))) == 0.0


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_no_nan_or_inf_at_parameter_extremes(make):
    for value in ("min_value", "max_value"):
        proc = make()
        for p in proc.params.values():
            p.set(getattr(p, value))
            p.reset()
        proc.prepare(48000.0, 512)
        x = 1e30 * stereo_noise(3000)[: proc.audio_inputs[0].channels].astype(np.float32)
        assert np.all(np.isfinite(run(proc, x, 512)))


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_out_of_range_values_are_refused_with_the_range(make):
    proc = make()
    for p in proc.params.values():
        span = p.max_value - p.min_value
        before = p.value
        for bad in (p.max_value + span, p.min_value - span, float("nan")):
            with pytest.raises(ValueError, match=f"{p.name} must be in {p.min_value:g}..{p.max_value:g}"):
                p.set(bad)
        assert p.value == before
