"""The compressor and the look-ahead limiter against closed forms and worst-case signals.

Compressor: the static curve (Giannoulis et al. 2012, soft knee) for DC and sine inputs, the attack and
release time constants, the sidechain, the mix and the meter. Limiter: never above its ceiling on
worst-case inputs, the reported latency is the delay, the gain alone keeps the ceiling (the clamp idles).
Both: output independent of the block size with automated parameters, no NaN at extremes, range refusal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.dynamics import Compressor, LatencyParameter, Limiter
from dsp.kernels.dynamics import RATIO_LIMIT, SAFE_SCALE, fast_exp, gain_computer, log_in_place
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext, Processor

RATES = [44100.0, 48000.0, 96000.0]
BLOCKS = [32, 64, 1000, 4096]


def run(proc: Processor, x: np.ndarray, block: int = 4096, side: np.ndarray | None = None) -> np.ndarray:
    """Process ``x`` (channels x frames) through a prepared ``proc`` in blocks of ``block``."""
    out = np.zeros_like(x)
    ctx = BlockContext(proc.sample_rate)
    for s in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - s)
        ctx.set_single_segment(n, s, True)
        ins = [x[:, s : s + n]] if side is None else [x[:, s : s + n], side[:, s : s + n]]
        proc.process(ctx, ins, [out[:, s : s + n]], [], [])
    return out


def db(v):
    return 20.0 * np.log10(v)


# -- slow references -------------------------------------------------------------------------------------
def reference_static_curve(level_db: float, threshold: float, ratio: float, knee: float) -> float:
    """Output level y_G of the soft-knee gain computer of Giannoulis et al. (2012), as the paper writes it."""
    r = math.inf if ratio >= RATIO_LIMIT else ratio
    over = level_db - threshold
    if 2.0 * over < -knee:
        return level_db
    if knee > 0.0 and 2.0 * abs(over) <= knee:  # (a zero-width knee is the hard knee)
        return level_db + (1.0 / r - 1.0) * (over + knee / 2.0) ** 2 / (2.0 * knee)
    return threshold + over / r


def compressor(sr: float, channels: int = 1, **values: float) -> Compressor:
    c = Compressor(channels)
    for name, v in values.items():
        c.param(name).set(v)
    c.prepare(sr, 4096)
    return c


# -- compressor: kernel helpers ----------------------------------------------------------------------------
def test_fast_exp_is_exp_within_a_few_units_in_the_last_place():
    for x in np.concatenate([np.linspace(-700.0, 700.0, 2001), np.linspace(-2.0, 2.0, 2001), [0.0]]):
        assert fast_exp(x) == pytest.approx(math.exp(x), rel=1e-15)
    assert fast_exp(0.0) == 1.0  # no reduction is an exact unity gain


def test_log_in_place_is_log_within_a_few_units_in_the_last_place_and_floors_silence():
    rng = np.random.default_rng(3)
    x = np.concatenate([10.0 ** rng.uniform(-29.0, 30.0, 5000), [1.0, 2.0, 0.5, math.sqrt(2.0), 1e-300, 0.0]])
    values = x.copy()
    log_in_place(values, np.zeros_like(values), x.size)
    want = np.log(np.maximum(x, 1e-30))
    np.testing.assert_allclose(values, want, rtol=1e-15, atol=1e-15)


# -- compressor: gain computer and static curve ----------------------------------------------------------
@pytest.mark.parametrize("ratio", [1.0, 2.0, 4.0, 20.0, RATIO_LIMIT])
@pytest.mark.parametrize("knee", [0.0, 3.0, 12.0, 24.0])
def test_gain_computer_is_the_papers_soft_knee_curve(ratio, knee):
    slope = 1.0 if ratio >= RATIO_LIMIT else 1.0 - 1.0 / ratio
    for level in np.arange(-80.0, 20.0, 0.25):
        want = level - reference_static_curve(level, -24.0, ratio, knee)
        assert gain_computer(level, -24.0, slope, knee) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(
    ("ratio", "knee", "makeup"), [(4.0, 0.0, 0.0), (3.0, 12.0, 4.0), (RATIO_LIMIT, 6.0, 0.0)]
)
def test_static_curve_for_dc_inputs_is_the_formula_within_half_a_db(sr, ratio, knee, makeup):
    threshold = -20.0
    inside_knee = 0
    for level in np.arange(-50.0, 0.1, 1.25):
        if abs(level - threshold) <= knee / 2:
            inside_knee += 1
        c = compressor(sr, threshold_db=threshold, ratio=ratio, knee_db=knee, makeup_db=makeup, attack_ms=2.0)
        x = np.full((1, int(0.2 * sr)), 10.0 ** (level / 20.0))
        y = run(c, x)
        measured = db(y[0, -1] / x[0, -1])
        want = reference_static_curve(level, threshold, ratio, knee) - level + makeup
        assert abs(measured - want) < 0.5, f"level {level}: {measured:.3f} dB, formula {want:.3f} dB"
        assert abs(measured - want) < 1e-6  # DC settles exactly on the curve
    if knee > 0:
        assert inside_knee >= 4


@pytest.mark.parametrize(("detector", "level_offset_db"), [(0, 0.0), (1, -10.0 * math.log10(2.0))])
def test_static_curve_for_sines_is_the_formula_within_half_a_db(detector, level_offset_db):
    # peak detection reads a sine's peak, RMS detection its RMS (3 dB lower); peak detection needs the
    # attack much shorter than the release to sit at the peak's reduction between peaks
    sr = 48000.0
    attack, release = (1.0, 1000.0) if detector == 0 else (5.0, 200.0)
    t = np.arange(int(0.6 * sr)) / sr
    steady = slice(int(0.4 * sr), None)
    worst = 0.0
    for level in np.arange(-50.0, 0.1, 2.5):
        c = compressor(
            sr, threshold_db=-20.0, ratio=4.0, knee_db=10.0, detector=detector, attack_ms=attack,
            release_ms=release,
        )  # fmt: skip
        x = (10.0 ** (level / 20.0) * np.sin(2 * np.pi * 997.0 * t))[None, :]
        y = run(c, x)
        measured = 10.0 * np.log10(np.mean(y[0, steady] ** 2) / np.mean(x[0, steady] ** 2))
        seen = level + level_offset_db
        want = reference_static_curve(seen, -20.0, 4.0, 10.0) - seen
        worst = max(worst, abs(measured - want))
    assert worst < 0.5  # measured: 0.07 dB (peak), 0.02 dB (RMS)


# -- compressor: time constants ---------------------------------------------------------------------------
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(("attack_ms", "release_ms"), [(5.0, 50.0), (20.0, 300.0), (0.5, 1000.0)])
def test_attack_and_release_follow_their_time_constants(sr, attack_ms, release_ms):
    # a DC step from far below the threshold to 15 dB of wanted reduction and back: the reduction in dB
    # approaches its target as 1 - exp(-t / attack) and decays as exp(-t / release)
    c = compressor(sr, threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=attack_ms, release_ms=release_ms)
    on, off = int(2 * attack_ms * 1e-3 * sr) + 100, int(6 * release_ms * 1e-3 * sr)
    x = np.concatenate([np.ones(on), np.full(off, 1e-3)])[None, :]  # 0 dBFS, then -60 dBFS
    reduction = -db(run(c, x)[0] / x[0])
    k = np.arange(1, on + 1)
    settled = 15.0 * (1.0 - np.exp(-on / (attack_ms * 1e-3 * sr)))
    np.testing.assert_allclose(reduction[:on], 15.0 * (1.0 - np.exp(-k / (attack_ms * 1e-3 * sr))), atol=1e-9)
    k = np.arange(1, off + 1)
    np.testing.assert_allclose(reduction[on:], settled * np.exp(-k / (release_ms * 1e-3 * sr)), atol=1e-9)
    # the 63 % points land on the time constants, to the sample
    assert np.argmax(reduction[:on] >= 15.0 * (1 - math.exp(-1))) + 1 == pytest.approx(
        attack_ms * 1e-3 * sr, abs=1.0
    )
    assert np.argmax(reduction[on:] <= settled * math.exp(-1)) + 1 == pytest.approx(
        release_ms * 1e-3 * sr, abs=1.0
    )


def test_zero_attack_and_release_follow_the_static_curve_at_once():
    c = compressor(48000.0, threshold_db=-20.0, ratio=2.0, knee_db=0.0, attack_ms=0.0, release_ms=0.0)
    x = np.array([[1e-3, 1.0, 1e-3, 0.5]])
    np.testing.assert_allclose(-db(run(c, x)[0] / x[0]), [0.0, 10.0, 0.0, 10.0 + 20 * math.log10(0.5) / 2])


# -- compressor: sidechain, stereo link, mix, meter ------------------------------------------------------
def test_a_silent_sidechain_keys_no_reduction():
    sr = 48000.0
    c = compressor(sr, 2, threshold_db=-30.0, ratio=10.0, sidechain=1)
    t = np.arange(int(0.5 * sr)) / sr
    x = np.vstack([np.sin(2 * np.pi * 220 * t)] * 2)  # 30 dB over the threshold
    np.testing.assert_array_equal(run(c, x, side=np.zeros_like(x)), x)
    assert c.gain_reduction_db == 0.0
    # the same input detected on itself is reduced
    c = compressor(sr, 2, threshold_db=-30.0, ratio=10.0, sidechain=0)
    run(c, x, side=np.zeros_like(x))
    assert c.gain_reduction_db > 20.0


def test_a_loud_sidechain_ducks_a_quiet_input_by_the_sidechains_level():
    sr = 48000.0
    c = compressor(sr, 2, threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=1.0, sidechain=1)
    x = np.full((2, int(0.3 * sr)), 0.01)  # -40 dBFS: far below the threshold
    side = np.full_like(x, 1.0)  # 0 dBFS key: 20 dB over, 15 dB of reduction
    y = run(c, x, side=side)
    assert db(y[0, -1] / x[0, -1]) == pytest.approx(-15.0, abs=1e-6)
    assert c.gain_reduction_db == pytest.approx(15.0, abs=1e-6)


def test_stereo_link_takes_the_louder_channel_and_applies_one_gain_to_both():
    c = compressor(48000.0, 2, threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=1.0)
    x = np.vstack([np.full(20000, 1e-3), np.full(20000, -1.0)])  # the right channel is the loud one
    y = run(c, x)
    np.testing.assert_allclose(db(y[:, -1] / x[:, -1]), [-15.0, -15.0], atol=1e-6)


def test_mix_blends_the_dry_input_with_the_compressed_signal():
    sr = 48000.0
    x = np.random.default_rng(5).standard_normal((2, 20000))
    wet = run(compressor(sr, 2, threshold_db=-30.0, ratio=8.0, makeup_db=6.0), x)
    np.testing.assert_array_equal(run(compressor(sr, 2, threshold_db=-30.0, ratio=8.0, mix=0.0), x), x)
    half = run(compressor(sr, 2, threshold_db=-30.0, ratio=8.0, makeup_db=6.0, mix=0.5), x)
    np.testing.assert_allclose(half, 0.5 * x + 0.5 * wet, atol=1e-12)


def test_the_meter_reports_the_reduction_now_and_the_blocks_largest():
    c = compressor(48000.0, 1, threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=0.0, release_ms=10.0)
    run(c, np.ones((1, 512)), block=512)
    assert c.gain_reduction_db == pytest.approx(15.0)
    run(c, np.full((1, 512), 1e-4), block=512)
    assert c.gain_reduction[1] == pytest.approx(15.0, abs=0.05)  # the block started fully reduced
    assert c.gain_reduction_db == pytest.approx(15.0 * math.exp(-512 / 480.0))


# -- limiter -------------------------------------------------------------------------------------------------
def worst_case_signals(sr: float) -> dict[str, np.ndarray]:
    n = int(0.4 * sr)
    rng = np.random.default_rng(11)
    t = np.arange(n) / sr
    spikes = 0.01 * rng.standard_normal(n)
    spikes[rng.choice(n, 40, replace=False)] = 10.0 * rng.choice([-1.0, 1.0], 40)  # +20 dBFS
    spikes[n // 2 : n // 2 + 3] = [10.0, -10.0, 10.0]
    steps = np.repeat(rng.uniform(-4.0, 4.0, n // 97 + 1), 97)[:n]  # jumps between held levels
    return {
        "square 0 dBFS": np.sign(np.sin(2 * np.pi * 100.0 * t) + 1e-9),
        "square at Nyquist": np.where(np.arange(n) % 2 == 0, 1.0, -1.0),
        "spikes +20 dBFS": spikes,
        "noise +12 dB": 4.0 * rng.standard_normal(n),
        "DC +6 dB": np.full(n, 2.0),
        "DC -20 dBFS then +20": np.concatenate([np.full(n // 2, 0.1), np.full(n - n // 2, -10.0)]),
        "held steps": steps,
    }


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(
    ("ceiling_db", "lookahead_ms"), [(-0.1, 0.1), (-1.0, 1.5), (-6.0, 5.0), (-0.3, 20.0)]
)
def test_limiter_output_never_exceeds_the_ceiling_on_worst_case_inputs(sr, ceiling_db, lookahead_ms):
    ceiling = 10.0 ** (ceiling_db / 20.0)
    for name, sig in worst_case_signals(sr).items():
        for dtype in (np.float32, np.float64):
            lim = Limiter(2)
            lim.ceiling_db.set(ceiling_db)
            lim.lookahead_ms.set(lookahead_ms)
            lim.release_ms.set(20.0)
            lim.prepare(sr, 1024)
            x = np.vstack([sig, -0.5 * sig]).astype(dtype)
            y = run(lim, x, block=1000)
            peak = float(np.max(np.abs(y.astype(np.float64))))
            assert peak <= ceiling, f"{name} ({dtype.__name__}): {db(peak):.6f} dBFS > {ceiling_db}"
            # the gain curve alone kept every sample within 0.01 dB: the clamp is a last resort only
            assert lim.clamp_overshoot_db < 0.01, name
            assert lim.clamp_overshoot_db < 1e-9, name  # measured: rounding of the average at most
            if np.max(np.abs(sig)) > 1.5:
                assert peak > ceiling * 0.999, f"{name}: limited too far ({db(peak):.3f} dBFS)"


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("lookahead_ms", [0.1, 1.0, 5.0, 20.0])
def test_limiter_latency_is_the_actual_delay(sr, lookahead_ms):
    lim = Limiter(2)
    lim.lookahead_ms.set(lookahead_ms)
    lim.prepare(sr, 512)
    d = lim.latency_samples
    assert d == max(1, round(lookahead_ms * 1e-3 * sr))
    x = 0.3 * np.random.default_rng(2).standard_normal((2, 3000))  # peaks stay below -1 dBFS
    x = np.clip(x, -0.85, 0.85)
    y = run(lim, x, block=512)
    np.testing.assert_array_equal(y[:, :d], 0.0)
    np.testing.assert_array_equal(y[:, d:], x[:, :-d])


def test_limiter_gain_is_down_before_a_spike_and_the_spike_leaves_at_the_ceiling():
    sr, la = 48000.0, 240
    lim = Limiter(1)
    lim.ceiling_db.set(-1.0)
    lim.prepare(sr, 4096)
    x = np.full((1, 4000), 0.5)
    x[0, 1000] = 10.0
    y = run(lim, x)[0]
    gain = y[la + 1 : 3000] / x[0, 1 : 3000 - la]
    target = 10.0 ** (-1 / 20) * SAFE_SCALE / 10.0
    assert y[1000 + la] == pytest.approx(10.0 ** (-1 / 20), rel=1e-6)
    # the gain ramps down over the look-ahead before the spike: already halfway L/2 samples ahead
    spike = 1000 - 1
    assert gain[spike - la - 1] == pytest.approx(1.0)
    assert gain[spike - la // 2] == pytest.approx(0.5 * (1.0 + target), rel=0.01)
    assert gain[spike] == pytest.approx(target, rel=1e-9)
    assert np.all(np.diff(gain[spike - la : spike + 1]) <= 1e-15)


def reference_limiter(x: np.ndarray, ceiling_db: float, release_ms: float, la: int, sr: float) -> np.ndarray:
    """The limiter written out slowly: the gain each sample needs, its minimum over L + 1 samples, the
    release stage, a boxcar of L + 1 samples, applied to the input delayed by L, then the clamp."""
    lim = SAFE_SCALE * 10.0 ** (ceiling_db / 20.0)
    peak = np.max(np.abs(x), axis=0)
    need = np.where(peak > lim, lim / np.maximum(peak, 1e-300), 1.0)
    padded = np.concatenate([np.ones(la), need])
    m = np.array([padded[i : i + la + 1].min() for i in range(len(need))])
    a = math.exp(-1000.0 / (release_ms * sr))
    r = np.empty_like(m)
    prev = 1.0
    for i, mi in enumerate(m):
        prev = mi - a * (mi - prev) if prev < mi else mi
        r[i] = prev
    g = np.convolve(np.concatenate([np.ones(la), r]), np.ones(la + 1) / (la + 1), "valid")
    delayed = np.concatenate([np.zeros((x.shape[0], la)), x[:, :-la]], axis=1)
    return np.clip(delayed * g, -lim, lim)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(("ceiling_db", "lookahead_ms", "release_ms"), [(-1.0, 5.0, 100.0), (-9.0, 0.5, 5.0)])
def test_limiter_matches_a_slow_reference(sr, ceiling_db, lookahead_ms, release_ms):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6000)) * np.repeat(rng.uniform(0.05, 3.0, 60), 100)
    lim = Limiter(2)
    lim.ceiling_db.set(ceiling_db)
    lim.lookahead_ms.set(lookahead_ms)
    lim.release_ms.set(release_ms)
    lim.prepare(sr, 1000)
    want = reference_limiter(x, ceiling_db, release_ms, lim.latency_samples, sr)
    np.testing.assert_allclose(run(lim, x, block=1000), want, rtol=1e-9, atol=1e-12)


def test_limiter_releases_with_its_time_constant():
    sr, la = 48000.0, 48
    lim = Limiter(1)
    lim.ceiling_db.set(-6.0)
    lim.release_ms.set(50.0)
    lim.lookahead_ms.set(1.0)
    lim.prepare(sr, 4096)
    x = np.full((1, 20000), 0.1)
    x[0, 1000] = 1.0
    run(lim, x[:, : 1000 + la + 1])  # up to the spike's way out
    assert lim.gain_reduction_db == pytest.approx(6.0, abs=1e-5)  # (less a hair: SAFE_SCALE)
    y = run(lim, x[:, 1000 + la + 1 :])[0]
    gap = 1.0 - y / 0.1
    # once the boxcar has left the held minimum, the distance from unity shrinks by exp(-1 / (50 ms fs))
    # per sample: its time constant is the release
    tail = gap[2 * la + 2 : 10000]
    np.testing.assert_allclose(tail[1:] / tail[:-1], math.exp(-1.0 / (0.05 * sr)), rtol=1e-6)
    assert gap[2 * la + 2 + 2400] == pytest.approx(gap[2 * la + 2] * math.exp(-1.0), rel=1e-6)
    assert lim.gain_reduction_db < 0.002  # 8 time constants later: 0.5 e^-8 of gain left to recover


def test_limiter_lookahead_change_applies_at_the_next_block_and_reports_its_latency():
    lim = Limiter(1)
    lim.prepare(48000.0, 256)
    assert lim.latency_samples == 240
    lim.lookahead_ms.set(2.0)
    assert lim.latency_samples == 96
    x = np.zeros((1, 512))
    x[0, 10] = 0.5
    y = run(lim, x, block=256)
    assert np.argmax(y[0]) == 10 + 96
    with pytest.raises(ValueError, match="lookahead_ms sets the latency and cannot be automated"):
        lim.lookahead_ms.set_automation(AutomationLane([Breakpoint(0, 1.0)]).compile(lambda b: b))


def test_a_non_finite_input_sample_enters_the_limiter_as_silence():
    lim = Limiter(1)
    lim.prepare(48000.0, 512)
    x = np.full((1, 1000), 0.5)
    x[0, 100] = np.nan
    x[0, 200] = np.inf
    y = run(lim, x)
    assert np.all(np.isfinite(y))
    assert y[0, 100 + 240] == 0.0 and y[0, 200 + 240] == 0.0
    assert np.abs(y).max() <= 10 ** (-1 / 20)


# -- both: the processor contract ---------------------------------------------------------------------------
def automated(cls, sr: float) -> Processor:
    """A processor with every automatable parameter swept over beats 0..2 (120 bpm) and switches set."""
    proc = cls()
    for p in proc.params.values():
        if isinstance(p, LatencyParameter):
            continue
        lo, hi = p.min_value, p.max_value
        pts = [
            Breakpoint(0.0, lo + 0.2 * (hi - lo)),
            Breakpoint(1.0, lo + 0.9 * (hi - lo)),
            Breakpoint(2.0, lo),
        ]
        if p.stepped:
            pts = [Breakpoint(0.0, lo), Breakpoint(0.6, hi, "hold"), Breakpoint(1.3, lo, "hold")]
        p.set_automation(AutomationLane(pts).compile(lambda b: b * sr / 2.0))
    proc.prepare(sr, 4096)
    return proc


def program(sr: float, n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(n) / sr
    x = 0.4 * np.sin(2 * np.pi * 150 * t) * (1.0 + np.sin(2 * np.pi * 3 * t)) + 0.3 * rng.standard_normal(n)
    return np.vstack([x, np.roll(x, 17) * 1.5]).astype(np.float32)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("cls", [Compressor, Limiter])
def test_output_does_not_depend_on_the_block_size_with_automated_parameters(cls, sr):
    n = int(1.2 * sr)
    x = program(sr, n)
    side = np.roll(x, 1000, axis=1) * 2.0
    ref = run(automated(cls, sr), x, BLOCKS[0], side if cls is Compressor else None)
    assert np.abs(ref).max() > 0.1
    for block in BLOCKS[1:]:
        out = run(automated(cls, sr), x, block, side if cls is Compressor else None)
        assert np.max(np.abs(out - ref)) <= 1e-6, f"block {block}"


@pytest.mark.parametrize("cls", [Compressor, Limiter])
def test_silence_in_gives_silence_out(cls):
    proc = automated(cls, 48000.0)
    assert np.max(np.abs(run(proc, np.zeros((2, 30000), np.float32), 512))) == 0.0


@pytest.mark.parametrize("cls", [Compressor, Limiter])
def test_no_nan_or_inf_at_parameter_extremes_on_loud_input(cls):
    rng = np.random.default_rng(9)
    x = program(48000.0, 20000) * 100.0
    x[:, 5000:6000] = 0.0
    x[:, 7000] = 1e30  # (+36 dB of makeup must not overflow float32)
    for trial in range(8):
        proc = cls()
        for p in proc.params.values():
            v = (p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value)
            p.set(v)
            p.reset()
        proc.prepare(48000.0, 512)
        y = run(proc, x, 512)
        assert np.all(np.isfinite(y)), f"trial {trial}"


@pytest.mark.parametrize("cls", [Compressor, Limiter])
def test_out_of_range_values_are_refused_with_the_range(cls):
    proc = cls()
    for p in proc.params.values():
        span = p.max_value - p.min_value
        before = p.value
        for bad in (p.max_value + span, p.min_value - span, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"{p.name} must be in {p.min_value:g}..{p.max_value:g}"):
                p.set(bad)
        assert p.value == before


def test_the_compressor_has_a_sidechain_input_and_no_latency():
    c = Compressor()
    assert [p.name for p in c.audio_inputs] == ["in", "sidechain"]
    assert c.latency_samples == 0
    c.prepare(48000.0, 64)
    assert c.latency_samples == 0
