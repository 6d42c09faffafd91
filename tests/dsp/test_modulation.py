"""The modulation kernels against slow references, and Chorus, Flanger and Phaser against closed forms:
comb notches, all-pass notches and unit magnitude, chorus sidebands (Bessel), synced rates, block-size
invariance and the processor contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal, special

from dsp.kernels.delay import INTERP_HERMITE, new_line
from dsp.kernels.modulation import (
    LFO_SINE,
    LFO_TRIANGLE,
    M_DELAY_MS,
    M_DEPTH_MS,
    M_FEEDBACK,
    M_LFO_SHAPE,
    M_MIX,
    M_RATE_BEATS,
    M_RATE_HZ,
    M_STEREO_PHASE_DEG,
    M_SYNC,
    MAX_STAGES,
    MOD_STAGES,
    NUM_M_CONTROLS,
    NUM_MOD_STATE,
    lfo_increments,
    lfo_value,
    modulated_delay,
    new_modulation_state,
    phaser,
    phaser_coefficient,
)
from dsp.modulation import Chorus, Flanger, Phaser
from engine.processor import Processor
from tests.helpers import run_effect

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]
PROCESSORS = [Chorus, Flanger, Phaser]


# -- slow references ------------------------------------------------------------------------------------
def reference_lfo(phase: float, shape: int) -> float:
    if shape == LFO_TRIANGLE:
        return float(signal.sawtooth(2 * np.pi * phase + np.pi / 2, width=0.5))
    return math.sin(2 * math.pi * phase)


def catmull_rom(hist: list[float], i: int, d: float) -> float:
    """``hist`` (written up to ``i - 1``) read ``d`` samples before sample ``i``."""
    k = math.floor(d)
    f = d - k

    def at(j: int) -> float:
        return hist[j] if j >= 0 else 0.0

    p0, p1, p2, p3 = at(i - k + 1), at(i - k), at(i - k - 1), at(i - k - 2)
    return 0.5 * (
        2 * p1 + (p2 - p0) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2 + (3 * (p1 - p2) + p3 - p0) * f**3
    )


def reference_modulated_delay(x, inc, delay_ms, depth_ms, fb, mix, stereo_deg, shape, centered, rate):
    """A plain loop: per channel a history of what was written, read with Catmull-Rom; ``inc`` is the LFO
    increment, one for all samples or one per sample."""
    chans, n = x.shape
    incs = np.broadcast_to(inc, (n,))
    hist = [[0.0] * n for _ in range(chans)]
    out = np.zeros((chans, n))
    phase = 0.0
    for i in range(n):
        for c in range(chans):
            lfo = reference_lfo(phase + c * stereo_deg / 360.0, shape)
            sweep = lfo if centered else 0.5 * (1 + lfo)
            d = max((delay_ms + depth_ms * sweep) * 1e-3 * rate, 2.0)
            e = catmull_rom(hist[c], i, d)
            hist[c][i] = x[c, i] + fb * e
            out[c, i] = (1 - mix) * x[c, i] + mix * e
        phase = (phase + incs[i]) % 1.0
    return out


def reference_phaser(x, inc, center_hz, depth_oct, fb, mix, stereo_deg, stages, shape, rate):
    chans, n = x.shape
    out = np.zeros((chans, n))
    s = np.zeros((chans, stages))
    last = np.zeros(chans)
    phase = 0.0
    for i in range(n):
        for c in range(chans):
            f = center_hz * 2 ** (depth_oct * reference_lfo(phase + c * stereo_deg / 360.0, shape))
            t = math.tan(math.pi * min(max(f, 10.0), 0.49 * rate) / rate)
            a = (t - 1) / (t + 1)
            u = x[c, i] + fb * last[c]
            for k in range(stages):  # y[n] = a u[n] + u[n-1] - a y[n-1], in transposed direct form II
                y = a * u + s[c, k]
                s[c, k] = u - a * y
                u = y
            last[c] = u
            out[c, i] = (1 - mix) * x[c, i] + mix * u
        phase = (phase + inc) % 1.0
    return out


# -- helpers for the processors -------------------------------------------------------------------------
def make(cls: type[Processor], **params: float) -> Processor:
    proc = cls()
    for name, value in params.items():
        proc.param(name).set(value)
    return proc


def impulse(frames: int) -> np.ndarray:
    x = np.zeros((2, frames), np.float32)
    x[:, 0] = 1.0
    return x


def noisy_tone(frames: int, rate: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    x = 0.3 * rng.standard_normal((2, frames)) + 0.5 * np.sin(2 * np.pi * 330 * t)
    x[:, frames // 3 : frames // 3 + 2000] = 0.0
    return x.astype(np.float32)


def response(h: np.ndarray, rate: float, nfft: int = 1 << 17) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and complex response of an impulse response (zero-padded FFT)."""
    return np.fft.rfftfreq(nfft, 1 / rate), np.fft.rfft(h.astype(np.float64), nfft)


# -- kernels --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [LFO_SINE, LFO_TRIANGLE])
def test_lfo_shapes_match_their_closed_forms(shape):
    for phase in np.linspace(-0.3, 2.7, 301):
        assert lfo_value(phase, shape) == pytest.approx(reference_lfo(phase, shape), abs=1e-12)


def test_lfo_increments_are_rate_over_sr_or_one_cycle_per_rate_beats():
    out = np.zeros(2)
    lfo_increments(np.array([0.0, 1.0]), np.full(2, 3.0), np.full(2, 0.5), 90.0, 48000.0, out, 2)
    np.testing.assert_allclose(out, [3.0 / 48000, 90.0 / 60.0 / 0.5 / 48000])


@pytest.mark.parametrize(
    ("centered", "shape", "fb", "gliding"),
    [
        (True, LFO_SINE, 0.0, False),
        (False, LFO_TRIANGLE, 0.7, False),
        (False, LFO_SINE, -0.9, False),
        (True, LFO_SINE, 0.3, True),  # a moving rate: the sine is evaluated per sample there
    ],
)
def test_modulated_delay_matches_a_plain_loop(centered, shape, fb, gliding):
    rate, n = 48000.0, 2400
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, n))
    rate_hz = np.full(n, 37.0)  # fast, so the delay sweeps a lot within the test
    if gliding:
        rate_hz[700:1500] = np.linspace(37.0, 5.0, 800)
    ctl = np.zeros((NUM_M_CONTROLS, n))
    ctl[M_SYNC], ctl[M_RATE_HZ], ctl[M_RATE_BEATS], ctl[M_LFO_SHAPE] = 0.0, rate_hz, 1.0, shape
    ctl[M_STEREO_PHASE_DEG], ctl[M_MIX], ctl[M_DELAY_MS], ctl[M_DEPTH_MS], ctl[M_FEEDBACK] = (
        70,
        0.6,
        1.5,
        1.2,
        fb,
    )
    buf = new_line(2, 200.0)
    state = new_modulation_state(rate, centered, INTERP_HERMITE)
    out = np.zeros_like(x)
    for a, b in ((0, 1000), (1000, n)):  # two calls: the state carries over
        # still: the controls hold one value throughout (the processor knows when), so nothing is scanned
        step = np.ascontiguousarray(ctl[:, a:b])
        modulated_delay(x[:, a:b], out[:, a:b], buf, state, step, not gliding, b - a, 120.0)
    want = reference_modulated_delay(x, rate_hz / rate, 1.5, 1.2, fb, 0.6, 70.0, shape, centered, rate)
    np.testing.assert_allclose(out, want, atol=1e-10)


@pytest.mark.parametrize(("stages", "fb"), [(4, 0.0), (7, 0.6), (12, -0.8)])
def test_phaser_matches_a_plain_loop(stages, fb):
    rate, n = 44100.0, 3000
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, n))
    inc = 11.0 / rate
    ap = np.zeros((2, MAX_STAGES))
    last = np.zeros(2)
    state = np.zeros(NUM_MOD_STATE)
    state[MOD_STAGES] = stages
    out = np.zeros_like(x)
    full = np.full
    for a, b in ((0, 1234), (1234, n)):
        phaser(
            x[:, a:b], out[:, a:b], ap, last, state, full(b - a, inc), full(b - a, 700.0), full(b - a, 1.5),
            full(b - a, fb), full(b - a, 0.8), full(b - a, 45.0), full(b - a, float(stages)),
            full(b - a, float(LFO_SINE)), b - a, rate,
        )  # fmt: skip
    want = reference_phaser(x, inc, 700.0, 1.5, fb, 0.8, 45.0, stages, LFO_SINE, rate)
    np.testing.assert_allclose(out, want, atol=1e-10)


@pytest.mark.parametrize("rate", RATES)
def test_a_phaser_stage_turns_the_phase_by_90_degrees_at_its_break_frequency(rate):
    for f in (50.0, 800.0, 5000.0, 15000.0):
        a = phaser_coefficient(f, rate)
        _, h = signal.freqz([a, 1.0], [1.0, a], worN=[f], fs=rate)
        assert np.angle(h[0]) == pytest.approx(-np.pi / 2, abs=1e-9)
        assert abs(h[0]) == pytest.approx(1.0, abs=1e-12)


# -- Flanger --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_flanger_notches_at_a_frozen_lfo_sit_at_odd_multiples_of_half_the_inverse_delay(rate):
    delay_ms = 1.2345  # a fractional delay at every rate
    proc = make(Flanger, delay_ms=delay_ms, depth_ms=0.0, feedback=0.0, mix=0.5)
    f, h = response(run_effect(proc, impulse(4096), rate)[0], rate)
    d = delay_ms * 1e-3
    for k in range(5):  # the notches up to about 3.6 kHz
        notch = (2 * k + 1) / (2 * d)
        band = (f > notch - 150) & (f < notch + 150)
        found = f[band][np.argmin(np.abs(h[band]))]
        assert found == pytest.approx(notch, abs=1.0), f"notch {k}"
    low = f < 4000  # where Hermite interpolation is flat (within 0.3 %) the comb is 0.5 |1 + e^(-jwd)|
    np.testing.assert_allclose(
        np.abs(h[low]), np.abs(0.5 * (1 + np.exp(-2j * np.pi * f[low] * d))), atol=0.01
    )


@pytest.mark.parametrize("fb", [0.7, -0.7])
def test_flanger_with_feedback_is_the_feedback_comb_closed_form(fb):
    rate = 48000
    proc = make(Flanger, delay_ms=1.0, depth_ms=0.0, feedback=fb, mix=0.4)  # 48 samples exactly
    f, h = response(run_effect(proc, impulse(8192), rate)[0], rate, 8192)
    zd = np.exp(-2j * np.pi * f / rate * 48)
    want = 0.6 + 0.4 * zd / (1 - fb * zd)
    np.testing.assert_allclose(h, want, atol=1e-6)


def test_flanger_sweeps_its_delay_from_delay_ms_to_delay_ms_plus_depth():
    rate = 48000
    proc = make(Flanger, delay_ms=2.0, depth_ms=3.0, feedback=0.0, mix=1.0, rate_hz=1.0, lfo_shape=0)
    x = np.zeros((2, rate), np.float32)
    x[:, ::1200] = 1.0  # clicks 25 ms apart: each comes back after the delay of its moment
    out = run_effect(proc, x, rate)[0].astype(np.float64)
    for t in range(0, rate - 1200, 1200):
        seg = out[t : t + 1200]
        centre = np.sum(np.arange(1200) * seg) / np.sum(seg)
        lfo = math.sin(2 * math.pi * (t + centre) / rate)
        assert centre / rate * 1e3 == pytest.approx(2.0 + 3.0 * 0.5 * (1 + lfo), abs=0.01)


# -- Phaser ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("stages", [4, 7, 12])
def test_phaser_wet_without_feedback_is_an_all_pass_of_unit_magnitude(rate, stages):
    proc = make(Phaser, depth_octaves=0.0, center_hz=1200.0, feedback=0.0, mix=1.0, stages=stages)
    _, h = response(run_effect(proc, impulse(16384), rate)[0], rate)
    np.testing.assert_allclose(np.abs(h), 1.0, atol=1e-6)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("stages", [4, 8, 12])
def test_phaser_notches_at_a_frozen_lfo_match_the_all_pass_phase_formula(rate, stages):
    center = 900.0
    proc = make(Phaser, depth_octaves=0.0, center_hz=center, feedback=0.0, mix=0.5, stages=stages)
    f, h = response(run_effect(proc, impulse(16384), rate)[0], rate, 1 << 19)
    t = math.tan(math.pi * center / rate)
    # each stage turns the phase by 2 atan(tan(w / 2) / t); the chain cancels the dry where that is an odd
    # multiple of pi / stages
    for k in range(stages // 2):
        notch = rate / math.pi * math.atan(t * math.tan((2 * k + 1) * math.pi / (2 * stages)))
        band = (f > notch * 0.9) & (f < notch * 1.1)
        found = f[band][np.argmin(np.abs(h[band]))]
        assert found == pytest.approx(notch, rel=2e-3), f"notch {k}"
        assert np.min(np.abs(h[band])) < 2e-3


def test_phaser_with_feedback_is_the_all_pass_loop_closed_form():
    rate, fb, stages = 48000, 0.6, 6
    proc = make(Phaser, depth_octaves=0.0, center_hz=500.0, feedback=fb, mix=0.7, stages=stages)
    f, h = response(run_effect(proc, impulse(16384), rate)[0], rate, 16384)
    a = phaser_coefficient(500.0, rate)
    _, ap = signal.freqz([a, 1.0], [1.0, a], worN=f, fs=rate)
    chain = ap**stages
    want = 0.3 + 0.7 * chain / (1 - fb * np.exp(-2j * np.pi * f / rate) * chain)
    np.testing.assert_allclose(h, want, atol=1e-6)


def test_phaser_stage_changes_clear_the_stages_they_drop():
    rate = 48000
    x = noisy_tone(6000, rate)
    # 12 stages, 4 from 1200 samples on, 12 again from 2400
    auto = {"stages": [(0.0, 12.0, "hold"), (0.05, 4.0, "hold"), (0.1, 12.0, "hold")]}
    out = run_effect(make(Phaser, feedback=0.0), x, rate, 300, automation=auto)
    # from 2400 on, the re-engaged stages start from rest: the same as a phaser that had 4 stages until then
    auto_ref = {"stages": [(0.0, 4.0, "hold"), (0.1, 12.0, "hold")]}
    ref = run_effect(make(Phaser, feedback=0.0), x, rate, 300, automation=auto_ref)
    assert np.max(np.abs(out[:, :1200] - ref[:, :1200])) > 1e-2  # 12 stages are not 4
    np.testing.assert_allclose(out[:, 2400:], ref[:, 2400:], atol=1e-6)


# -- Chorus ---------------------------------------------------------------------------------------------
def sideband_ratios(y: np.ndarray, f0: int, fr: float, rate: int) -> tuple[float, float]:
    """|X(f0 +- fr)| / |X(f0)| over one second (integer Hz bins: no leakage)."""
    spec = np.abs(np.fft.rfft(y.astype(np.float64)))
    lo, hi = round(f0 - fr), round(f0 + fr)
    return spec[lo] / spec[f0], spec[hi] / spec[f0]


@pytest.mark.parametrize("rate", RATES)
def test_chorus_spectrum_is_the_input_with_bessel_sidebands_at_the_lfo_rate(rate):
    f0, fr, depth_ms = 1000, 5.0, 0.1
    proc = make(Chorus, rate_hz=fr, depth_ms=depth_ms, delay_ms=10.0, mix=1.0)
    t = np.arange(2 * rate) / rate
    x = np.tile(np.sin(2 * np.pi * f0 * t).astype(np.float32), (2, 1))
    out = run_effect(proc, x, rate)
    beta = 2 * np.pi * f0 * depth_ms * 1e-3  # a delay swept +- A seconds is phase modulation of 2 pi f0 A
    want = abs(special.jv(1, beta) / special.jv(0, beta))
    for c in range(2):
        lo, hi = sideband_ratios(out[c, rate:], f0, fr, rate)
        assert lo == pytest.approx(want, rel=1e-3)
        assert hi == pytest.approx(want, rel=1e-3)
        assert sideband_ratios(out[c, rate:], f0, 2 * fr, rate)[1] == pytest.approx(
            abs(special.jv(2, beta) / special.jv(0, beta)), rel=0.02
        )


def test_synced_chorus_modulates_at_one_cycle_per_rate_beats():
    rate, f0 = 48000, 1000
    proc = make(Chorus, sync=1, rate_beats=1.0, rate_hz=7.0, depth_ms=0.1, mix=1.0)  # a cycle a beat: 2 Hz
    t = np.arange(2 * rate) / rate
    x = np.tile(np.sin(2 * np.pi * f0 * t).astype(np.float32), (2, 1))
    out = run_effect(proc, x, rate, bpm=120.0)
    spec = np.abs(np.fft.rfft(out[0, rate:].astype(np.float64)))
    assert spec[f0 + 2] > 0.2 * spec[f0]
    assert spec[f0 + 7] < 1e-3 * spec[f0]


@pytest.mark.parametrize("cls", PROCESSORS)
def test_stereo_phase_offset_decides_whether_the_sides_differ(cls):
    rate = 48000
    x = np.tile(noisy_tone(20000, rate)[:1], (2, 1))
    same = run_effect(make(cls, stereo_phase_deg=0.0, rate_hz=3.0), x, rate)
    np.testing.assert_array_equal(same[0], same[1])
    wide = run_effect(make(cls, stereo_phase_deg=90.0, rate_hz=3.0), x, rate)
    assert np.max(np.abs(wide[0] - wide[1])) > 0.05


# -- the processor contract ------------------------------------------------------------------------------
AUTOMATION = {
    Chorus: {"delay_ms": [(0.0, 5.0), (1.0, 40.0)], "depth_ms": [(0.0, 4.0), (1.0, 0.5)]},
    Flanger: {
        "delay_ms": [(0.0, 0.1), (1.0, 5.0)],
        "depth_ms": [(0.0, 10.0), (1.0, 1.0)],
        "feedback": [(0.0, -0.95), (1.0, 0.95)],
    },
    Phaser: {
        "center_hz": [(0.0, 5000.0), (1.0, 50.0)],
        "depth_octaves": [(0.0, 4.0), (1.0, 1.0)],
        "feedback": [(0.0, 0.95), (1.0, -0.95)],
        "stages": [(0.0, 4.0), (0.5, 12.0), (1.0, 7.0)],
    },
}
SHARED_AUTOMATION = {
    "rate_hz": [(0.0, 10.0), (1.0, 0.01)],
    "rate_beats": [(0.0, 1 / 16), (1.0, 3.0)],
    "sync": [(0.0, 0.0), (0.8, 0.0), (1.0, 1.0)],
    "lfo_shape": [(0.0, 0.0), (0.6, 0.0), (0.7, 1.0)],
    "stereo_phase_deg": [(0.0, 0.0), (1.0, 180.0)],
    "mix": [(0.0, 1.0), (1.0, 0.2)],
}


@pytest.mark.parametrize("cls", PROCESSORS)
def test_output_does_not_depend_on_the_block_size_with_automation(cls):
    rate = 48000
    x = noisy_tone(30000, rate)
    auto = SHARED_AUTOMATION | AUTOMATION[cls]
    ref = run_effect(cls(), x, rate, 32, automation=auto)
    for block in BLOCK_SIZES[1:]:
        out = run_effect(cls(), x, rate, block, automation=auto)
        assert np.max(np.abs(out - ref)) <= 1e-6, f"block {block}"


@pytest.mark.parametrize("cls", PROCESSORS)
def test_in_place_processing_gives_the_same_output(cls):
    x = noisy_tone(10000, 48000)
    np.testing.assert_array_equal(run_effect(cls(), x, 48000), run_effect(cls(), x, 48000, in_place=True))


@pytest.mark.parametrize("cls", PROCESSORS)
def test_reset_gives_identical_output_twice(cls):
    proc = cls()
    x = noisy_tone(20000, 48000)
    first = run_effect(proc, x, 48000)
    proc.reset()
    np.testing.assert_array_equal(first, run_effect(proc, x, 48000, prepare=False))


@pytest.mark.parametrize("cls", PROCESSORS)
def test_silence_in_gives_silence_out_and_a_tail_ends_in_true_silence(cls):
    rate = 48000
    assert np.max(np.abs(run_effect(cls(), np.zeros((2, 10000), np.float32), rate))) == 0.0
    x = np.zeros((2, 4 * rate), np.float32)
    x[:, :2000] = np.random.default_rng(8).standard_normal((2, 2000))
    out = run_effect(make(cls, feedback=0.95) if cls is not Chorus else cls(), x, rate)
    assert np.max(np.abs(out[:, 2000:2200])) > 0.0
    assert np.max(np.abs(out[:, 3 * rate :])) == 0.0  # the most feedback rings for under 2 s


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cls", PROCESSORS)
def test_no_nan_or_inf_at_parameter_extremes(cls, rate):
    rng = np.random.default_rng(5)
    x = 8.0 * noisy_tone(20000, rate)
    for trial in range(6):
        proc = cls()
        for p in proc.params.values():
            pick = (
                (p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value)
            )
            p.set(pick)
        out = run_effect(proc, x, rate)
        assert np.all(np.isfinite(out)), f"trial {trial}"
        assert np.max(np.abs(out)) < 1e3


@pytest.mark.parametrize("cls", PROCESSORS)
def test_out_of_range_values_are_refused_with_the_range(cls):
    proc = cls()
    for p in proc.params.values():
        span = p.max_value - p.min_value
        before = p.value
        for bad in (p.max_value + span, p.min_value - span, float("nan")):
            with pytest.raises(ValueError, match=f"{p.name} must be in {p.min_value:g}..{p.max_value:g}"):
                p.set(bad)
        assert p.value == before


@pytest.mark.parametrize("cls", PROCESSORS)
def test_a_mono_effect_processes_its_one_channel(cls):
    proc = cls(channels=1)
    x = noisy_tone(5000, 48000)[:1]
    out = run_effect(proc, x, 48000)
    assert out.shape == (1, 5000)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0.1
    with pytest.raises(ValueError, match="channels must be 1 or 2"):
        cls(channels=3)
