"""The oversampled tanh saturator: halfband filters against scipy, latency, aliasing, mix, contract."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp.kernels.saturation import delay_line, downsample2, upsample2
from dsp.saturation import STAGE1, STAGE2, Saturation, halfband_taps
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext

RATES = [44100.0, 48000.0, 96000.0]
BLOCKS = [32, 64, 1000, 4096]


def run(proc: Saturation, x: np.ndarray, block: int = 4096) -> np.ndarray:
    out = np.zeros_like(x)
    ctx = BlockContext(proc.sample_rate)
    for s in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - s)
        ctx.set_single_segment(n, s, True)
        proc.process(ctx, [x[:, s : s + n]], [out[:, s : s + n]], [], [])
    return out


def saturator(sr: float, channels: int = 1, **values: float) -> Saturation:
    p = Saturation(channels)
    for name, v in values.items():
        p.param(name).set(v)
    p.prepare(sr, 4096)
    return p


# -- the halfband filters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stage", "pass_edge", "stop_edge", "stop_db"),
    [(STAGE1, 0.2083, 0.2917, -95.0), (STAGE2, 0.1458, 0.3542, -94.0)],
)
def test_halfband_taps_are_a_halfband_lowpass_with_the_documented_response(
    stage, pass_edge, stop_edge, stop_db
):
    m, beta = stage
    h = halfband_taps(m, beta)
    assert h.shape == (2 * m + 1,)
    np.testing.assert_array_equal(h, h[::-1])  # linear phase
    assert h[m] == 0.5
    np.testing.assert_array_equal(h[m + 2 :: 2], 0.0)  # every other tap is zero
    assert h.sum() == pytest.approx(1.0, abs=1e-15)
    w, resp = signal.freqz(h, worN=1 << 15, fs=1.0)
    level = 20 * np.log10(np.abs(resp) + 1e-300)
    assert np.max(np.abs(level[w <= pass_edge])) < 0.001  # (fractions of the rate the filter runs at)
    assert np.max(level[w >= stop_edge]) < stop_db


def test_halfband_taps_refuse_an_odd_half_length():
    with pytest.raises(ValueError, match="must be even"):
        halfband_taps(15, 8.0)


@pytest.mark.parametrize("stage", [STAGE1, STAGE2])
def test_upsample2_is_upfirdn_by_two_streamed_in_chunks(stage):
    m = stage[0]
    h = halfband_taps(*stage)
    x = np.random.default_rng(1).standard_normal(1000)
    taps = np.ascontiguousarray(2 * h[1::2])
    hist, scratch = np.zeros(m), np.zeros(m + 1000)
    y = np.zeros(2000)
    for a, b in [(0, 7), (7, 200), (200, 201), (201, 1000)]:
        upsample2(x[a:b], b - a, hist, taps, y[2 * a : 2 * b], scratch)
    np.testing.assert_allclose(y, signal.upfirdn(2 * h, x, up=2)[:2000], atol=1e-13)


@pytest.mark.parametrize("stage", [STAGE1, STAGE2])
def test_downsample2_is_upfirdn_down_by_two_streamed_in_chunks(stage):
    m = stage[0]
    h = halfband_taps(*stage)
    v = np.random.default_rng(2).standard_normal(2000)
    taps = np.ascontiguousarray(2 * h[1::2])
    he, ho, s1, s2 = np.zeros(m // 2), np.zeros(m), np.zeros(m + 1000), np.zeros(m + 1000)
    z = np.zeros(1000)
    for a, b in [(0, 3), (3, 300), (300, 301), (301, 1000)]:
        downsample2(v[2 * a : 2 * b], b - a, he, ho, taps, z[a:b], s1, s2)
    np.testing.assert_allclose(z, signal.upfirdn(h, v, down=2)[:1000], atol=1e-13)


@pytest.mark.parametrize("d", [0, 1, 5, 48])
def test_delay_line_delays_by_d_across_short_and_long_chunks(d):
    x = np.random.default_rng(3).standard_normal(300)
    hist, y = np.zeros(48), np.zeros(300)
    for a, b in [(0, 2), (2, 3), (3, 100), (100, 300)]:
        delay_line(x[a:b], b - a, hist, d, y[a:b])
    np.testing.assert_array_equal(y, np.concatenate([np.zeros(d), x])[:300])


# -- latency and the transfer curve ------------------------------------------------------------------------
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(("factor", "latency"), [(1, 0), (2, 40), (4, 48)])
def test_latency_reported_is_the_delay_of_wet_and_dry(sr, factor, latency):
    p = saturator(sr, oversampling=factor, drive_db=0.0)
    assert p.latency_samples == latency
    t = np.arange(6000) / sr
    x = (0.01 * np.sin(2 * np.pi * 500.0 * t))[None, :]  # quiet: tanh(x) is x within 3e-5 relative
    y = run(p, x, 1000)
    np.testing.assert_allclose(y[0, latency + 200 :], np.tanh(x[0, 200 : 6000 - latency]), atol=1e-7)
    dry = run(saturator(sr, oversampling=factor, mix=0.0), x, 1000)
    np.testing.assert_array_equal(dry[0, latency:], x[0, : 6000 - latency])


def test_without_oversampling_the_output_is_the_closed_form_mix_of_tanh():
    x = np.random.default_rng(4).standard_normal((2, 5000))
    p = saturator(48000.0, 2, oversampling=1, drive_db=9.0, output_db=-4.0, mix=0.7)
    g, out = 10 ** (9 / 20), 10 ** (-4 / 20)
    np.testing.assert_allclose(run(p, x, 1000), out * (0.3 * x + 0.7 * np.tanh(g * x)), atol=1e-12)


@pytest.mark.parametrize("factor", [2, 4])
def test_a_quiet_sine_keeps_its_level_through_the_oversampling_filters(factor):
    sr = 48000.0
    t = np.arange(48000) / sr
    for freq in (100.0, 1000.0, 10000.0, 19000.0):
        x = (1e-3 * np.sin(2 * np.pi * freq * t))[None, :]
        p = saturator(sr, oversampling=factor, drive_db=0.0)
        y = run(p, x)[0, 4000 + p.latency_samples :]
        gain = np.sqrt(np.mean(y**2) / np.mean(x[0, 4000 : 4000 + y.size] ** 2))
        assert 20 * np.log10(gain) == pytest.approx(0.0, abs=0.001), freq


# -- aliasing ----------------------------------------------------------------------------------------------
def alias_level_db(factor: int, drive_db: float, sr: float = 48000.0, freq: float = 7000.0) -> float:
    """Energy at non-harmonic bins of a driven sine, relative to all of it (dB). One second of steady
    output: 1 Hz bins, every harmonic lands on its own bin, aliases land between."""
    n = int(sr)
    skip = 8192
    t = np.arange(n + skip) / sr
    x = (0.5 * np.sin(2 * np.pi * freq * t))[None, :]
    y = run(saturator(sr, oversampling=factor, drive_db=drive_db), x)[0, skip:]
    power = np.abs(np.fft.rfft(y)) ** 2
    harmonic = np.zeros(power.shape, bool)
    harmonic[0] = True
    k = np.arange(1, int(sr / 2 / freq) + 1)
    harmonic[np.round(k * freq * n / sr).astype(int)] = True
    return float(10 * np.log10(power[~harmonic].sum() / power.sum()))


@pytest.mark.parametrize(("drive_db", "drop_2x", "drop_4x"), [(12.0, 30.0, 80.0), (24.0, 8.0, 30.0)])
def test_aliasing_of_a_driven_7k_sine_drops_with_oversampling(drive_db, drop_2x, drop_4x):
    # measured at 48 kHz: drive 12 dB: -28 / -66 / -141 dB; drive 24 dB: -14 / -25 / -49 dB (1x / 2x / 4x)
    a1, a2, a4 = (alias_level_db(f, drive_db) for f in (1, 2, 4))
    assert a1 > -35.0  # without oversampling the folded harmonics are plainly there
    assert a1 - a2 > drop_2x
    assert a1 - a4 > drop_4x


# -- the oversampling parameter ----------------------------------------------------------------------------
def test_oversampling_takes_1_2_or_4_and_snaps_between_on_a_log_scale():
    p = Saturation()
    for value, factor in [(1, 1), (1.4, 1), (1.5, 2), (2, 2), (2.8, 2), (3, 4), (4, 4)]:
        p.oversampling.set(value)
        assert p.oversampling.value == factor
    for bad in (0.5, 5, 8, float("nan")):
        with pytest.raises(ValueError, match=r"oversampling must be in 1\.\.4"):
            p.oversampling.set(bad)
    with pytest.raises(ValueError, match="oversampling sets the latency and cannot be automated"):
        p.oversampling.set_automation(AutomationLane([Breakpoint(0, 2)]).compile(lambda b: b))


def test_changing_oversampling_applies_at_the_next_block_with_its_latency():
    p = saturator(48000.0, oversampling=1, drive_db=0.0)
    x = np.zeros((1, 2048))
    x[0, 1500] = 0.01
    run(p, x[:, :1024], 1024)
    p.oversampling.set(4)
    assert p.latency_samples == 48
    y = run(p, x[:, 1024:], 1024)
    assert np.argmax(np.abs(y[0])) == 1500 - 1024 + 48


# -- the processor contract --------------------------------------------------------------------------------
def automated(sr: float, factor: int) -> Saturation:
    p = Saturation()
    p.oversampling.set(factor)
    p.oversampling.reset()
    for q in (p.drive_db, p.output_db, p.mix):
        lo, hi = q.min_value, q.max_value
        lane = AutomationLane(
            [Breakpoint(0.0, lo), Breakpoint(1.0, hi), Breakpoint(2.0, lo + 0.3 * (hi - lo))]
        )
        q.set_automation(lane.compile(lambda b: b * sr / 2.0))
    p.prepare(sr, 4096)
    return p


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_output_does_not_depend_on_the_block_size_with_automated_parameters(sr, factor):
    n = int(1.2 * sr)
    rng = np.random.default_rng(6)
    x = (0.5 * rng.standard_normal((2, n))).astype(np.float32)
    ref = run(automated(sr, factor), x, BLOCKS[0])
    assert np.abs(ref).max() > 0.1
    for block in BLOCKS[1:]:
        assert np.max(np.abs(run(automated(sr, factor), x, block) - ref)) <= 1e-6, f"block {block}"


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_silence_in_gives_silence_out(factor):
    assert np.max(np.abs(run(automated(48000.0, factor), np.zeros((2, 20000), np.float32), 512))) == 0.0


def test_no_nan_or_inf_at_parameter_extremes_on_loud_input():
    rng = np.random.default_rng(9)
    x = (100.0 * rng.standard_normal((2, 20000))).astype(np.float32)
    x[:, 3000] = 1e30
    for trial in range(8):
        p = Saturation()
        for q in p.params.values():
            q.set(
                (q.min_value, q.max_value)[trial % 2] if trial < 2 else rng.uniform(q.min_value, q.max_value)
            )
            q.reset()
        p.prepare(48000.0, 512)
        y = run(p, x, 512)
        assert np.all(np.isfinite(y)), f"trial {trial}"
        assert np.abs(y).max() < 10 ** (12 / 20) * 1e30  # bounded by output gain and the dry input


def test_out_of_range_values_are_refused_with_the_range():
    p = Saturation()
    for q in p.params.values():
        span = q.max_value - q.min_value
        before = q.value
        for bad in (q.max_value + span, q.min_value - span, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"{q.name} must be in {q.min_value:g}..{q.max_value:g}"):
                q.set(bad)
        assert q.value == before
