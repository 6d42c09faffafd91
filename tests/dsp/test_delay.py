"""The delay-line kernels against slow references, and the Delay processor: exact echo times, feedback,
damping, ping-pong, glides, block-size invariance and the processor contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dsp.delay import Delay
from dsp.kernels.delay import (
    INTERP_HERMITE,
    INTERP_LINEAR,
    buffer_size,
    damping_pole,
    delay_targets,
    fractional_delay,
    new_line,
)
from engine.params import AutomationLane, Breakpoint, ControlBlock, Parameter
from engine.processor import BlockContext, Processor
from tests.helpers import run_effect

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]


# -- slow references ------------------------------------------------------------------------------------
def reference_linear(x: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """``x`` read ``delays[i]`` samples before sample ``i`` by linear interpolation (zeros before 0)."""
    t = np.arange(x.shape[0]) - delays
    return np.interp(t, np.arange(-1, x.shape[0]), np.concatenate([[0.0], x]), left=0.0)


def reference_hermite(x: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Catmull-Rom through the four samples around ``i - delays[i]``, written out in a plain loop."""

    def at(k: int) -> float:
        return float(x[k]) if 0 <= k < x.shape[0] else 0.0

    out = np.zeros(x.shape[0])
    for i, d in enumerate(delays):
        k = int(np.floor(d))
        f = d - k
        # points p1 = x[i-k] (f = 0) and p2 = x[i-k-1] (f = 1), outer neighbours p0, p3
        p0, p1, p2, p3 = at(i - k + 1), at(i - k), at(i - k - 1), at(i - k - 2)
        out[i] = 0.5 * (
            2 * p1
            + (-p0 + p2) * f
            + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
            + (-p0 + 3 * p1 - 3 * p2 + p3) * f**3
        )
    return out


def run_kernel(x: np.ndarray, delays: np.ndarray, interp: int, split: int | None = None) -> np.ndarray:
    """``fractional_delay`` over a ``(channels, n)`` signal, in one call or two."""
    buf = new_line(x.shape[0], 256.0)
    windex = np.zeros(1, np.int64)
    out = np.zeros_like(x)
    n = x.shape[1]
    cuts = [0, n] if split is None else [0, split, n]
    for a, b in itertools.pairwise(cuts):
        fractional_delay(x[:, a:b], out[:, a:b], buf, windex, delays[:, a:b], b - a, interp)
    return out


# -- helpers for the processor --------------------------------------------------------------------------
def make(**params: float) -> Delay:
    d = Delay()
    for name, value in params.items():
        d.param(name).set(value)
    return d


def impulse(frames: int, channels: int = 2, at: int = 0) -> np.ndarray:
    x = np.zeros((channels, frames), np.float32)
    x[:, at] = 1.0
    return x


def noisy_tone(frames: int, rate: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    x = 0.3 * rng.standard_normal((2, frames)) + 0.5 * np.sin(2 * np.pi * 330 * t)
    x[:, frames // 3 : frames // 3 + 2000] = 0.0
    return x.astype(np.float32)


# -- kernels --------------------------------------------------------------------------------------------
def test_buffer_size_is_a_power_of_two_that_holds_the_delay_and_its_taps():
    for d in (1.0, 100.0, 1000.5, 44100.0 * 10):
        size = buffer_size(d)
        assert size & (size - 1) == 0
        assert size >= d + 4


def test_linear_fractional_delay_matches_numpy_interp_at_per_sample_delays():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3000))
    delays = np.stack([40 + 30 * np.sin(np.arange(3000) / 97.0), rng.uniform(0, 120, 3000)])
    out = run_kernel(x, delays, INTERP_LINEAR)
    for c in range(2):
        np.testing.assert_allclose(out[c], reference_linear(x[c], delays[c]), atol=1e-12)


def test_hermite_fractional_delay_matches_a_catmull_rom_loop_at_per_sample_delays():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2000))
    delays = np.stack([30 + 25 * np.sin(np.arange(2000) / 53.0), rng.uniform(1, 120, 2000)])
    out = run_kernel(x, delays, INTERP_HERMITE)
    for c in range(2):
        np.testing.assert_allclose(out[c], reference_hermite(x[c], delays[c]), atol=1e-12)


@pytest.mark.parametrize("interp", [INTERP_LINEAR, INTERP_HERMITE])
def test_integer_delays_are_exact_copies(interp):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1000))
    out = run_kernel(x, np.full((1, 1000), 17.0), interp)
    np.testing.assert_array_equal(out[0, 17:], x[0, :-17])
    assert np.all(out[0, :17] == 0.0)


@pytest.mark.parametrize("interp", [INTERP_LINEAR, INTERP_HERMITE])
def test_a_split_call_continues_exactly_where_the_first_stopped(interp):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 1500))
    delays = rng.uniform(1, 100, (2, 1500))
    np.testing.assert_array_equal(run_kernel(x, delays, interp, split=611), run_kernel(x, delays, interp))


def test_hermite_delays_a_sine_by_a_fraction_of_a_sample_far_better_than_linear():
    rate, f0, d = 48000.0, 2000.0, 10.37
    n = np.arange(4000)
    x = np.sin(2 * np.pi * f0 * n / rate)[None, :]
    want = np.sin(2 * np.pi * f0 * (n - d) / rate)[100:]
    err_lin = np.max(np.abs(run_kernel(x, np.full((1, 4000), d), INTERP_LINEAR)[0, 100:] - want))
    err_her = np.max(np.abs(run_kernel(x, np.full((1, 4000), d), INTERP_HERMITE)[0, 100:] - want))
    assert err_her < 2e-3
    assert err_her < err_lin / 5


def test_delay_targets_are_ms_or_beats_at_the_tempo():
    n = 4
    out = np.zeros(n)
    sync = np.array([0.0, 1.0, 0.0, 1.0])
    delay_targets(sync, np.full(n, 250.0), np.full(n, 0.75), 90.0, 48000.0, out, n)
    np.testing.assert_allclose(out, [12000.0, 24000.0, 12000.0, 24000.0])


def test_damping_pole_is_a_one_pole_at_the_cutoff_and_off_at_the_top():
    assert damping_pole(20000.0, 48000.0) == 0.0
    assert damping_pole(1000.0, 48000.0) == pytest.approx(np.exp(-2 * np.pi * 1000 / 48000))


# -- the control block ------------------------------------------------------------------------------------
def test_control_block_rows_are_what_each_parameter_renders_and_still_blocks_skip_the_work():
    rate, block = 48000.0, 100
    controls = ControlBlock(Processor())
    watched = [controls.add("a", 0.0, 10.0, 1.0), controls.add("b", 0.0, 1.0, 0.0, stepped=True)]
    plain = [Parameter("a", 0.0, 10.0, 1.0), Parameter("b", 0.0, 1.0, 0.0, stepped=True)]
    for p in watched + plain:
        p.prepare(rate, block)
    controls.prepare(block)
    lane = AutomationLane([Breakpoint(0.0, 2.0), Breakpoint(0.5, 9.0)]).compile(lambda beat: beat * 24000.0)
    ctx = BlockContext(rate)
    stills = []
    for k, start in enumerate(range(0, 12000, block)):
        if k == 10:  # a set: a ramp over smoothing_ms, then still
            for p in (watched[0], plain[0]):
                p.set(7.5)
        if k == 40:  # a switch jumps
            for p in (watched[1], plain[1]):
                p.set(1.0)
        if k == 60:  # automation, then none again
            for p in (watched[0], plain[0]):
                p.set_automation(lane)
        if k == 100:
            for p in (watched[0], plain[0]):
                p.set_automation(None)
        ctx.set_single_segment(block, start, True)
        values = controls.render(ctx)
        for row, p in enumerate(plain):
            np.testing.assert_array_equal(values[row, :block], p.render(ctx))
        stills.append(not controls.touched)
    assert stills[5] and stills[30] and stills[50] and stills[115]  # nothing moving: no parameter work
    assert not stills[10] and not stills[70]  # a ramp, automation


# -- the processor: timing ------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCK_SIZES)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("time_ms", [10.0, 250.0, 4000.0])
def test_first_echo_lands_exactly_time_ms_later(rate, time_ms, block):
    proc = make(time_ms=time_ms, feedback=0.0, mix=1.0)
    frames = int(time_ms * rate / 1000) + 2000
    out = run_effect(proc, impulse(frames, at=5), rate, block)
    expect = np.zeros(frames, np.float32)
    expect[5 + round(time_ms * rate / 1000)] = 1.0
    np.testing.assert_array_equal(out[0], expect)
    np.testing.assert_array_equal(out[1], expect)


@pytest.mark.parametrize("rate", RATES)
def test_a_fractional_echo_time_is_kept_to_the_sample_fraction(rate):
    time_ms = 37.3  # 1644.93 samples at 44.1 kHz: the echo is interpolated around it
    out = run_effect(make(time_ms=time_ms, feedback=0.0, mix=1.0), impulse(4000), rate)[0].astype(np.float64)
    n = np.arange(out.shape[0])
    # Catmull-Rom weights sum to 1 and reproduce a ramp, so the echo's centre of mass is the delay itself
    assert np.sum(out) == pytest.approx(1.0, abs=1e-6)
    assert np.sum(n * out) / np.sum(out) == pytest.approx(time_ms * rate / 1000, abs=1e-3)


@pytest.mark.parametrize(
    ("bpm", "beats", "rate", "expect"),
    [
        (120.0, 0.75, 48000, 18000),
        (90.0, 0.75, 48000, 24000),
        (120.0, 1 / 64, 48000, 375),
        (147.0, 2.0, 44100, 36000),
    ],
)
def test_synced_first_echo_lands_at_beats_times_60_over_bpm(bpm, beats, rate, expect):
    proc = make(sync=1, time_beats=beats, time_ms=1000.0, feedback=0.0, mix=1.0)
    out = run_effect(proc, impulse(expect + 500), rate, 1000, bpm=bpm)
    assert np.flatnonzero(out[0]).tolist() == [expect]
    assert out[0, expect] == 1.0


# -- the processor: feedback, damping, ping-pong ---------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_echoes_repeat_at_multiples_of_the_time_each_feedback_times_the_last(rate):
    d = round(0.1 * rate)
    out = run_effect(
        make(time_ms=100.0, feedback=0.6, damping_hz=20000.0, mix=1.0), impulse(5 * d + 10), rate
    )
    expect = np.zeros(out.shape[1])
    expect[d * np.arange(1, 6)] = 0.6 ** np.arange(5)
    np.testing.assert_allclose(out[0], expect, atol=1e-7)


def test_damping_dulls_each_repeat_by_the_one_pole_response():
    rate, d = 48000, 4800
    out = run_effect(make(time_ms=100.0, feedback=0.8, damping_hz=2000.0, mix=1.0), impulse(3 * d), rate)[0]
    second = out[2 * d : 3 * d].astype(np.float64)  # one trip through the feedback low-pass
    p = np.exp(-2 * np.pi * 2000 / rate)
    w = 2 * np.pi * np.fft.rfftfreq(d, 1 / rate) / rate
    want = 0.8 * (1 - p) / np.abs(1 - p * np.exp(-1j * w))
    np.testing.assert_allclose(np.abs(np.fft.rfft(second)), want, rtol=1e-4)
    assert np.sum(second) == pytest.approx(0.8, rel=1e-5)  # unity at DC: only the highs are taken


@pytest.mark.parametrize("rate", RATES)
def test_ping_pong_echoes_alternate_left_and_right(rate):
    d = round(0.05 * rate)
    out = run_effect(
        make(time_ms=50.0, feedback=0.5, damping_hz=20000.0, mix=1.0, ping_pong=1), impulse(7 * d), rate
    )
    left, right = np.flatnonzero(out[0]).tolist(), np.flatnonzero(out[1]).tolist()
    assert left == [d, 3 * d, 5 * d]
    assert right == [2 * d, 4 * d, 6 * d]
    np.testing.assert_allclose(out[0, left], [1.0, 0.25, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(out[1, right], [0.5, 0.125, 0.03125], rtol=1e-6)


def test_mix_crossfades_dry_and_wet():
    rate = 48000
    x = impulse(20000)
    out = run_effect(make(time_ms=100.0, feedback=0.0, mix=0.25), x, rate)[0]
    assert out[0] == pytest.approx(0.75)
    assert out[4800] == pytest.approx(0.25)


def test_a_mono_delay_echoes_its_one_channel():
    proc = Delay(channels=1)
    proc.param("mix").set(1.0)
    proc.param("feedback").set(0.0)
    out = run_effect(proc, impulse(20000, channels=1), 48000)
    assert np.flatnonzero(out[0]).tolist() == [18000]


# -- the processor: moving delay time -----------------------------------------------------------------
def test_a_delay_time_change_glides_without_a_click():
    rate = 48000
    t = np.arange(rate) / rate
    x = np.tile(np.sin(2 * np.pi * 220 * t).astype(np.float32), (2, 1))
    proc = make(time_ms=100.0, feedback=0.0, mix=1.0)
    proc.prepare(rate, 256)
    ctx = BlockContext(rate)
    out = np.zeros_like(x)
    for start in range(0, rate, 256):
        if start == 24064:
            proc.param("time_ms").set(300.0)  # a jump of 9600 samples: a click if read point jumped
        n = min(256, rate - start)
        ctx.set_single_segment(n, start, True)
        proc.process(ctx, [x[:, start : start + n]], [out[:, start : start + n]], [], [])
    steps = np.abs(np.diff(out[0, 6000:].astype(np.float64)))
    assert steps.max() < 4 * 2 * np.pi * 220 / rate  # the sine's own slope, a little Doppler, no jump


@pytest.mark.parametrize("automate_time", ["ms", "beats"])
def test_output_does_not_depend_on_the_block_size_with_automation(automate_time):
    rate, frames = 48000, 24000
    x = noisy_tone(frames, rate)
    auto = {
        "feedback": [(0.0, 0.2), (1.5, 0.9)],
        "damping_hz": [(0.0, 20000.0), (1.0, 800.0)],
        "mix": [(0.0, 0.1), (1.0, 1.0)],
        "ping_pong": [(0.0, 0.0), (0.9, 0.0), (1.0, 1.0)],
    }
    params = {"sync": 1.0} if automate_time == "beats" else {}
    if automate_time == "ms":
        auto["time_ms"] = [(0.0, 30.0), (1.0, 90.0), (2.0, 7.0)]
    else:
        auto["time_beats"] = [(0.0, 0.125), (1.0, 1 / 64), (2.0, 0.25)]
    ref = run_effect(make(**params), x, rate, 32, automation=auto)
    assert np.max(np.abs(ref)) > 0.1
    for block in BLOCK_SIZES[1:]:
        out = run_effect(make(**params), x, rate, block, automation=auto)
        assert np.max(np.abs(out - ref)) <= 1e-6, f"block {block}"


# -- the processor contract ------------------------------------------------------------------------------
def test_in_place_processing_gives_the_same_output():
    x = noisy_tone(20000, 48000)
    auto = {"time_ms": [(0.0, 20.0), (1.0, 60.0)]}
    a = run_effect(make(feedback=0.7, ping_pong=1), x, 48000, 500, automation=auto)
    b = run_effect(make(feedback=0.7, ping_pong=1), x, 48000, 500, automation=auto, in_place=True)
    np.testing.assert_array_equal(a, b)


def test_reset_gives_identical_output_twice():
    proc = make(time_ms=20.0, feedback=0.8, ping_pong=1)
    x = noisy_tone(20000, 48000)
    first = run_effect(proc, x, 48000)
    proc.reset()
    second = run_effect(proc, x, 48000, prepare=False)
    np.testing.assert_array_equal(first, second)


def test_silence_in_gives_silence_out_and_a_tail_ends_in_true_silence():
    rate = 48000
    assert np.max(np.abs(run_effect(make(), np.zeros((2, 20000), np.float32), rate))) == 0.0
    x = np.zeros((2, 3 * rate), np.float32)
    x[:, :100] = 1.0
    out = run_effect(make(time_ms=10.0, feedback=0.5), x, rate)
    assert np.max(np.abs(out[:, 1000:2000])) > 0.0  # a tail
    assert np.max(np.abs(out[:, rate:])) == 0.0  # 50 repeats at -6 dB each: under the flush floor


@pytest.mark.parametrize("rate", RATES)
def test_no_nan_or_inf_at_parameter_extremes(rate):
    rng = np.random.default_rng(5)
    x = 8.0 * noisy_tone(30000, rate)
    for trial in range(6):
        proc = Delay()
        for p in proc.params.values():
            pick = (
                (p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value)
            )
            p.set(pick)
        out = run_effect(proc, x, rate)
        assert np.all(np.isfinite(out)), f"trial {trial}"
        assert np.max(np.abs(out)) < 1e3


def test_the_most_feedback_rings_down_to_silence():
    rate = 48000
    x = np.zeros((2, 10 * rate), np.float32)
    x[:, :1000] = np.random.default_rng(6).standard_normal((2, 1000))
    out = run_effect(make(time_ms=1.0, feedback=0.99, damping_hz=20000.0, mix=1.0), x, rate)
    peaks = np.abs(out).reshape(2, 10, rate).max(axis=(0, 2))
    assert peaks[0] < 100.0  # a comb's resonance can build 1 / (1 - 0.99) at most
    assert np.all(np.diff(peaks) <= 0)
    assert peaks[-1] == 0.0


def test_out_of_range_values_are_refused_with_the_range():
    proc = Delay()
    bad_values = [
        ("time_ms", 0.5), ("time_ms", 4001.0), ("time_beats", 9.0), ("feedback", 1.2), ("damping_hz", 50.0),
        ("mix", -0.1), ("sync", 2.0), ("ping_pong", float("nan")),
    ]  # fmt: skip
    for name, bad in bad_values:
        p = proc.param(name)
        before = p.value
        with pytest.raises(ValueError, match=f"{name} must be in {p.min_value:g}..{p.max_value:g}"):
            p.set(bad)
        assert p.value == before


def test_constructor_refuses_bad_channel_counts_and_interpolations():
    with pytest.raises(ValueError, match="channels must be 1 or 2"):
        Delay(channels=3)
    with pytest.raises(ValueError, match="interpolation must be one of linear, hermite"):
        Delay(interpolation="sinc")
