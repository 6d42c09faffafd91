"""Filter kernels against scipy and slow loop references, and the filter processors as processors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, signal

from dsp.filters import EQ_GRID, FILTER_MODES, DCBlocker, Filter, LadderFilter, ParametricEQ
from dsp.kernels.filters import (
    BQ_ALLPASS,
    BQ_BANDPASS,
    BQ_HIGHPASS,
    BQ_HIGHSHELF,
    BQ_LOWPASS,
    BQ_LOWSHELF,
    BQ_NOTCH,
    BQ_PEAK,
    SVF_ALLPASS,
    SVF_BANDPASS,
    SVF_HIGHPASS,
    SVF_LOWPASS,
    SVF_NOTCH,
    SVF_PEAK,
    biquad_cascade,
    biquad_process,
    dc_blocker,
    dc_blocker_pole,
    ladder_k,
    ladder_process,
    onepole_highpass,
    onepole_lowpass,
    onepole_pole,
    onepole_pole_from_time,
    rbj_coefficients,
    svf_k,
    svf_process,
)
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext, Processor

RATES = [44100.0, 48000.0, 96000.0]
BLOCK_SIZES = [32, 64, 1000, 4096]
BIQUAD_KINDS = [
    BQ_LOWPASS,
    BQ_HIGHPASS,
    BQ_BANDPASS,
    BQ_PEAK,
    BQ_LOWSHELF,
    BQ_HIGHSHELF,
    BQ_NOTCH,
    BQ_ALLPASS,
]
SVF_MODES = [SVF_LOWPASS, SVF_HIGHPASS, SVF_BANDPASS, SVF_NOTCH, SVF_PEAK, SVF_ALLPASS]
MINUS_3_DB = 20.0 * math.log10(math.sqrt(0.5))


# -- helpers and slow references ------------------------------------------------------------------------
def noise(channels: int, n: int, seed: int = 0, level: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, n)) * level


def full(n: int, value: float) -> np.ndarray:
    return np.full(n, float(value))


def dtft_db(h: np.ndarray, f: float, rate: float) -> float:
    """Magnitude in dB of the response ``h`` (an impulse response or FIR) at ``f`` Hz."""
    n = np.arange(h.shape[-1])
    return 20.0 * math.log10(abs(np.sum(h * np.exp(-2j * np.pi * f * n / rate))))


def biquad_db(coefs: tuple[float, ...], f: float, rate: float) -> float:
    b0, b1, b2, a1, a2 = coefs
    _, h = signal.freqz([b0, b1, b2], [1.0, a1, a2], worN=[f], fs=rate)
    return 20.0 * math.log10(abs(h[0]))


def crossing_hz(db_at, lo: float, hi: float, level: float = MINUS_3_DB) -> float:
    """The frequency in ``lo..hi`` where the response ``db_at(f)`` crosses ``level``."""
    return optimize.brentq(lambda f: db_at(f) - level, lo, hi, xtol=1e-6)


def svf_ir(mode: int, cutoff: float, resonance: float, rate: float, n: int) -> np.ndarray:
    x = np.zeros((1, n))
    x[0, 0] = 1.0
    out = np.zeros_like(x)
    svf_process(x, out, np.zeros((1, 2)), full(1, cutoff), full(1, resonance), full(1, mode), rate, n, True)
    return out[0]


def svf_reference(x, cutoff, resonance, mode, rate):
    """The analog SVF through scipy's bilinear transform, prewarped at the cutoff (constant settings)."""
    wc = 2.0 * rate * math.tan(math.pi * cutoff / rate)
    k = svf_k(resonance)
    den = [1.0, k * wc, wc * wc]
    num = {
        SVF_LOWPASS: [0.0, 0.0, wc * wc],
        SVF_HIGHPASS: [1.0, 0.0, 0.0],
        SVF_BANDPASS: [0.0, k * wc, 0.0],
        SVF_NOTCH: [1.0, 0.0, wc * wc],
        SVF_PEAK: [-1.0, 0.0, wc * wc],
        SVF_ALLPASS: [1.0, -k * wc, wc * wc],
    }[mode]
    b, a = signal.bilinear(num, den, fs=rate)
    return signal.lfilter(b, a, x)


def svf_loop(x, cutoff, resonance, mode, rate):
    """A plain per-sample loop of the trapezoidal SVF (Simper's equations, unsimplified)."""
    ic1 = ic2 = 0.0
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        g = math.tan(math.pi * cutoff[i] / rate)
        k = svf_k(resonance[i])
        a1 = 1.0 / (1.0 + g * (g + k))
        a2 = g * a1
        a3 = g * a2
        v3 = x[i] - ic2
        v1 = a1 * ic1 + a2 * v3
        v2 = ic2 + a2 * ic1 + a3 * v3
        ic1 = 2.0 * v1 - ic1
        ic2 = 2.0 * v2 - ic2
        low, band, high = v2, v1, x[i] - k * v1 - v2
        y[i] = {0: low, 1: high, 2: k * band, 3: low + high, 4: low - high, 5: x[i] - 2 * k * band}[mode]
    return y


def ladder_reference(x, cutoff, resonance, rate):
    """The small-signal ladder 1 / ((1 + s/wc)^4 + k) through scipy's bilinear transform."""
    wc = 2.0 * rate * math.tan(math.pi * cutoff / rate)
    pole = np.poly1d([1.0 / wc, 1.0])
    den = (pole**4).coeffs.copy()
    den[-1] += ladder_k(resonance)
    b, a = signal.bilinear([1.0], den, fs=rate)
    return signal.lfilter(b, a, x)


def ladder_loop(x, cutoff, resonance, drive_db, rate):
    """A plain loop of the ladder: four TPT one-poles; the ladder output is affine in the loop input u, so
    the instantaneous feedback is solved from two trial runs, then u is saturated."""
    s = [0.0] * 4
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        g = math.tan(math.pi * cutoff[i] / rate)
        big_g = g / (1.0 + g)
        k = ladder_k(resonance[i])
        drive = 10.0 ** (drive_db[i] / 20.0)

        def run(u, s=s, big_g=big_g):
            out = u
            for st in s:
                out = big_g * out + (1.0 - big_g) * st
            return out

        # the ladder output is affine in u: out = G^4 u + sigma; solve u = d x - k out for u
        sigma = run(0.0)
        gain = run(1.0) - sigma
        u = math.tanh((drive * x[i] - k * sigma) / (1.0 + k * gain))
        for j in range(4):
            v = (u - s[j]) * big_g
            out = v + s[j]
            s[j] = out + v
            u = out
        y[i] = u
    return y


def render(proc: Processor, x: np.ndarray, block: int, rate: float = 48000.0, playing: bool = True):
    """Run ``x`` through a prepared processor in blocks of ``block`` (float32 buffers, as the plan does)."""
    ctx = BlockContext(rate)
    src = x.astype(np.float32)
    out = np.zeros_like(src)
    for start in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - start)
        ctx.set_single_segment(n, start, playing)
        proc.process(ctx, [src[:, start : start + n]], [out[:, start : start + n]], [], [])
    return out


def impulse_response(proc: Processor, rate: float, n: int) -> np.ndarray:
    proc.prepare(rate, 4096)
    x = np.zeros((1, n))
    x[0, 0] = 1.0
    return render(proc, x, 4096, rate)[0].astype(np.float64)


# -- RBJ biquads ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", BIQUAD_KINDS)
def test_every_rbj_biquad_matches_scipy_lfilter_with_the_same_coefficients(kind, rate):
    coefs = np.array(rbj_coefficients(kind, 1234.0, 1.7, 7.5, rate))
    x = noise(2, 6000, seed=kind)
    out = np.zeros_like(x)
    state = np.zeros((2, 2))
    biquad_process(x[:, :2500], out[:, :2500], coefs, state, 2500)  # state carries across calls
    biquad_process(x[:, 2500:], out[:, 2500:], coefs, state, 3500)
    want = signal.lfilter(coefs[:3], [1.0, coefs[3], coefs[4]], x, axis=1)
    assert np.max(np.abs(out - want)) < 1e-6


def test_a_biquad_cascade_is_its_active_sections_in_series():
    rate = 48000.0
    coefs = np.array(
        [rbj_coefficients(k, 700.0, 0.9, -6.0, rate) for k in (BQ_PEAK, BQ_HIGHPASS, BQ_LOWSHELF)]
    )
    active = np.array([True, False, True])
    x = noise(2, 4000, seed=5)
    out = np.zeros_like(x)
    biquad_cascade(x, out, coefs, np.zeros((3, 2, 2)), active, 4000)
    want = x
    for c, on in zip(coefs, active, strict=True):
        if on:
            want = signal.lfilter(c[:3], [1.0, c[3], c[4]], want, axis=1)
    assert np.max(np.abs(out - want)) < 1e-6


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cutoff", [50.0, 500.0, 5000.0, 15000.0])
@pytest.mark.parametrize("kind", [BQ_LOWPASS, BQ_HIGHPASS])
def test_rbj_lowpass_and_highpass_are_3_db_down_at_the_design_frequency(kind, cutoff, rate):
    coefs = rbj_coefficients(kind, cutoff, math.sqrt(0.5), 0.0, rate)
    f3 = crossing_hz(lambda f: biquad_db(coefs, f, rate), cutoff / 2, min(2 * cutoff, 0.4999 * rate))
    assert abs(f3 / cutoff - 1.0) < 0.02


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("freq", [80.0, 1000.0, 12000.0])
@pytest.mark.parametrize("gain_db", [-18.0, -3.0, 6.0, 24.0])
def test_bell_and_shelf_gains_hold_at_their_frequencies(freq, gain_db, rate):
    bell = rbj_coefficients(BQ_PEAK, freq, 2.0, gain_db, rate)
    assert abs(biquad_db(bell, freq, rate) - gain_db) < 0.1
    low = rbj_coefficients(BQ_LOWSHELF, freq, math.sqrt(0.5), gain_db, rate)
    high = rbj_coefficients(BQ_HIGHSHELF, freq, math.sqrt(0.5), gain_db, rate)
    assert abs(biquad_db(low, freq, rate) - gain_db / 2) < 0.1  # the shelf midpoint
    assert abs(biquad_db(high, freq, rate) - gain_db / 2) < 0.1
    dc_gain = 20 * math.log10(sum(low[:3]) / (1 + low[3] + low[4]))
    b0, b1, b2, a1, a2 = high
    nyquist_gain = 20 * math.log10(abs((b0 - b1 + b2) / (1 - a1 + a2)))
    assert abs(dc_gain - gain_db) < 0.1 and abs(nyquist_gain - gain_db) < 0.1


@pytest.mark.parametrize("rate", RATES)
def test_bandpass_peaks_at_0_db_notch_nulls_and_allpass_is_flat(rate):
    f0 = 2000.0
    bp = rbj_coefficients(BQ_BANDPASS, f0, 3.0, 0.0, rate)
    notch = rbj_coefficients(BQ_NOTCH, f0, 3.0, 0.0, rate)
    ap = rbj_coefficients(BQ_ALLPASS, f0, 3.0, 0.0, rate)
    assert abs(biquad_db(bp, f0, rate)) < 1e-9
    assert biquad_db(notch, f0, rate) < -120.0
    for f in (50.0, f0, 15000.0):
        assert abs(biquad_db(ap, f, rate)) < 1e-9


# -- state-variable filter ------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", SVF_MODES)
def test_svf_is_the_bilinear_transform_of_the_analog_svf(mode, rate):
    x = noise(2, 5000, seed=mode)
    out = np.zeros_like(x)
    state = np.zeros((2, 2))
    args = (full(1, 900.0), full(1, 0.6), full(1, mode), rate)
    svf_process(x[:, :1700], out[:, :1700], state, *args, 1700, True)
    svf_process(x[:, 1700:], out[:, 1700:], state, *args, 3300, True)
    want = np.stack([svf_reference(ch, 900.0, 0.6, mode, rate) for ch in x])
    assert np.max(np.abs(out - want)) < 1e-9


@pytest.mark.parametrize("mode", SVF_MODES)
def test_svf_with_per_sample_cutoff_and_resonance_matches_a_plain_loop(mode):
    rate = 48000.0
    n = 3000
    rng = np.random.default_rng(11)
    cutoff = np.exp(rng.uniform(math.log(20.0), math.log(20000.0), n))
    resonance = rng.uniform(0.0, 1.0, n)
    x = noise(1, n, seed=3)
    out = np.zeros_like(x)
    svf_process(x, out, np.zeros((1, 2)), cutoff, resonance, full(n, mode), rate, n, False)
    want = svf_loop(x[0], cutoff, resonance, mode, rate)
    assert np.max(np.abs(out[0] - want)) < 1e-9 * max(1.0, np.max(np.abs(want)))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cutoff", [50.0, 500.0, 5000.0, 15000.0])
@pytest.mark.parametrize("mode", [SVF_LOWPASS, SVF_HIGHPASS])
def test_svf_lowpass_and_highpass_are_3_db_down_at_the_cutoff(mode, cutoff, rate):
    ir = svf_ir(mode, cutoff, 0.0, rate, int(rate))  # one second: decayed far below 1e-12
    f3 = crossing_hz(lambda f: dtft_db(ir, f, rate), cutoff / 2, min(2 * cutoff, 0.4999 * rate))
    assert abs(f3 / cutoff - 1.0) < 0.02


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("resonance", [0.0, 0.5, 1.0])
def test_svf_bandpass_peaks_at_0_db_and_notch_nulls_at_the_cutoff(resonance, rate):
    n = int(rate)
    assert abs(dtft_db(svf_ir(SVF_BANDPASS, 1500.0, resonance, rate, n), 1500.0, rate)) < 0.01
    assert dtft_db(svf_ir(SVF_NOTCH, 1500.0, resonance, rate, n), 1500.0, rate) < -80.0


@pytest.mark.parametrize("sweep", ["random", "sawtooth"])
@pytest.mark.parametrize("mode", SVF_MODES)
def test_svf_stays_bounded_under_a_wild_per_sample_cutoff_sweep_at_full_resonance(mode, sweep):
    rate = 44100.0
    n = 2 * 44100
    if sweep == "random":
        cutoff = np.exp(np.random.default_rng(2).uniform(math.log(20.0), math.log(20000.0), n))
    else:
        cutoff = 20.0 * 1000.0 ** ((np.arange(n) % 64) / 63.0)  # 20 Hz..20 kHz every 64 samples
    x = noise(2, n, seed=4)
    out = np.zeros_like(x)
    svf_process(x, out, np.zeros((2, 2)), cutoff, full(n, 1.0), full(n, mode), rate, n, False)
    assert np.all(np.isfinite(out))
    # unit-variance noise through a Q = 20 filter: measured peaks 0.9 (band) .. 37 (peak mode)
    assert np.max(np.abs(out)) < 100.0


# -- ladder ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("resonance", [0.0, 0.5, 0.9])
def test_ladder_small_signal_is_the_bilinear_analog_ladder(resonance, rate):
    x = noise(2, 6000, seed=8, level=1e-5)  # small: the tanh is linear here to ~1e-10
    out = np.zeros_like(x)
    ladder_process(
        x, out, np.zeros((2, 4)), full(1, 700.0), full(1, resonance), full(1, 0.0), rate, 6000, True
    )
    want = np.stack([ladder_reference(ch, 700.0, resonance, rate) for ch in x])
    assert np.max(np.abs(out - want)) < 1e-6 * np.max(np.abs(want))


def test_ladder_with_per_sample_settings_and_drive_matches_a_plain_loop():
    rate = 48000.0
    n = 3000
    rng = np.random.default_rng(12)
    cutoff = np.exp(rng.uniform(math.log(20.0), math.log(20000.0), n))
    resonance = rng.uniform(0.0, 1.0, n)
    drive = rng.uniform(0.0, 36.0, n)
    x = noise(1, n, seed=6)
    out = np.zeros_like(x)
    ladder_process(x, out, np.zeros((1, 4)), cutoff, resonance, drive, rate, n, False)
    assert np.max(np.abs(out[0] - ladder_loop(x[0], cutoff, resonance, drive, rate))) < 1e-9


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cutoff", [100.0, 250.0])
def test_ladder_falls_24_db_per_octave_well_above_the_cutoff(cutoff, rate):
    n = int(rate)
    x = np.zeros((1, n))
    x[0, 0] = 1e-6
    out = np.zeros_like(x)
    ladder_process(x, out, np.zeros((1, 4)), full(1, cutoff), full(1, 0.0), full(1, 0.0), rate, n, True)
    ir = out[0] / 1e-6
    for octave in (8.0, 16.0):
        slope = dtft_db(ir, octave * cutoff, rate) - dtft_db(ir, octave * cutoff / 2, rate)
        assert abs(slope + 24.0) < 2.0, f"{octave}: {slope:.2f} dB/octave"


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cutoff", [110.0, 1000.0, 8000.0, 20000.0])
def test_ladder_self_oscillates_at_full_resonance_and_stays_bounded(cutoff, rate):
    n = int(2 * rate)
    x = np.zeros((1, n))
    x[0, 0] = 1e-3
    out = np.zeros_like(x)
    ladder_process(x, out, np.zeros((1, 4)), full(1, cutoff), full(1, 1.0), full(1, 0.0), rate, n, True)
    tail = out[0, -int(rate * 0.25) :]
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) < 1.0  # measured about 0.11
    assert np.sqrt(np.mean(tail**2)) > 0.01  # still ringing after two seconds: it oscillates
    if cutoff < 0.4 * rate:
        spectrum = np.abs(np.fft.rfft(tail * np.hanning(tail.shape[0])))
        peak_hz = np.argmax(spectrum) * rate / tail.shape[0]
        assert abs(peak_hz / cutoff - 1.0) < 0.03


def test_ladder_below_the_oscillation_threshold_rings_out():
    rate = 48000.0
    n = 96000
    x = np.zeros((1, n))
    x[0, 0] = 1.0
    out = np.zeros_like(x)
    ladder_process(x, out, np.zeros((1, 4)), full(1, 1000.0), full(1, 0.9), full(1, 0.0), rate, n, True)
    assert np.max(np.abs(out[0, -4800:])) < 1e-9


def test_ladder_stays_bounded_under_full_drive_and_a_wild_sweep():
    rate = 44100.0
    n = 88200
    cutoff = np.exp(np.random.default_rng(9).uniform(math.log(20.0), math.log(20000.0), n))
    x = noise(2, n, seed=1, level=4.0)
    out = np.zeros_like(x)
    ladder_process(x, out, np.zeros((2, 4)), cutoff, full(n, 1.0), full(n, 36.0), rate, n, False)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) < 10.0


# -- one-pole and DC blocker ----------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_onepole_lowpass_and_highpass_match_lfilter(rate):
    pole = onepole_pole(300.0, rate)
    x = noise(2, 3000, seed=21)
    low = np.zeros_like(x)
    high = np.zeros_like(x)
    onepole_lowpass(x, low, np.zeros(2), pole, 3000)
    onepole_highpass(x, high, np.zeros(2), pole, 3000)
    want = signal.lfilter([1.0 - pole], [1.0, -pole], x, axis=1)
    assert np.max(np.abs(low - want)) < 1e-9
    assert np.max(np.abs(high - (x - want))) < 1e-9


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("time_ms", [1.0, 10.0, 250.0])
def test_onepole_step_reaches_1_minus_1_over_e_after_its_time_constant(time_ms, rate):
    samples = round(time_ms * 1e-3 * rate)
    pole = onepole_pole_from_time(time_ms, rate)
    step = np.ones((1, 2 * samples))
    y = np.zeros_like(step)
    onepole_lowpass(step, y, np.zeros(1), pole, step.shape[1])
    assert abs(y[0, samples - 1] - (1.0 - math.exp(-1.0))) < 1e-3
    assert y[0, samples - 2] < 1.0 - math.exp(-1.0) < y[0, samples]


@pytest.mark.parametrize("rate", RATES)
def test_dc_blocker_matches_its_difference_equation(rate):
    pole = dc_blocker_pole(rate)
    x = noise(2, 3000, seed=22) + 0.3
    out = np.zeros_like(x)
    dc_blocker(x, out, np.zeros((2, 2)), pole, 3000)
    assert np.max(np.abs(out - signal.lfilter([1.0, -1.0], [1.0, -pole], x, axis=1))) < 1e-9


@pytest.mark.parametrize("rate", RATES)
def test_dc_blocker_removes_dc_and_passes_100_hz(rate):
    n = int(3 * rate)
    t = np.arange(n) / rate
    tone = 0.25 * np.sin(2 * np.pi * 100.0 * t)
    x = np.stack([0.5 + tone, -0.8 + tone])
    proc = DCBlocker()
    proc.prepare(rate, 4096)
    out = render(proc, x, 1000, rate).astype(np.float64)
    tail = slice(int(2 * rate), n)  # one second: a whole number of 100 Hz cycles
    for c in range(2):
        assert abs(np.mean(out[c, tail])) < 1e-5
        level_db = 20 * math.log10(np.std(out[c, tail]) / np.std(tone[tail]))
        assert abs(level_db) < 0.1  # measured -0.04 dB


# -- processors -----------------------------------------------------------------------------------------
def make_filter() -> Processor:
    return Filter(mode=1, cutoff_hz=2000.0, resonance=0.3)


def make_ladder() -> Processor:
    return LadderFilter(cutoff_hz=800.0, resonance=0.5, drive_db=6.0)


def make_eq() -> Processor:
    return ParametricEQ(
        lowcut_enabled=1, highcut_enabled=1, band1_gain_db=4.0, band3_gain_db=-6.0, band5_gain_db=3.0
    )


PROCESSORS = {"filter": make_filter, "ladder": make_ladder, "eq": make_eq, "dc": DCBlocker}


def automate_everything(proc: Processor, frames: int) -> None:
    """A lane on every parameter from its value to 3/4 of its range; stepped ones switch mid-way."""
    for p in proc.params.values():
        target = p.min_value + 0.75 * (p.max_value - p.min_value)
        if p.stepped:
            points = [Breakpoint(0.0, p.value, "hold"), Breakpoint(0.5, p.max_value - p.value)]
        else:
            points = [Breakpoint(0.0, p.value), Breakpoint(1.0, target)]
        p.set_automation(AutomationLane(points).compile(lambda b: b * frames))


@pytest.mark.parametrize("automated", [False, True], ids=["still", "automated"])
@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_processor_output_does_not_depend_on_the_block_size(name, automated):
    frames = 12000
    x = noise(2, frames, seed=7, level=0.3)
    outs = []
    for block in BLOCK_SIZES:
        proc = PROCESSORS[name]()
        proc.prepare(48000.0, 4096)
        if automated:
            automate_everything(proc, frames)
        outs.append(render(proc, x, block))
    for block, out in zip(BLOCK_SIZES[1:], outs[1:], strict=True):
        assert np.max(np.abs(out - outs[0])) <= 1e-6, f"block {block}"


@pytest.mark.parametrize("name", ["filter", "ladder", "eq"])
def test_a_parameter_ramp_started_before_the_first_block_gives_the_same_output_at_any_block_size(name):
    outs = []
    x = noise(2, 8820, seed=8, level=0.3)
    for block in BLOCK_SIZES:
        proc = PROCESSORS[name]()
        proc.prepare(44100.0, 4096)
        for p in proc.params.values():
            if not p.stepped:
                p.set(p.min_value + 0.3 * (p.max_value - p.min_value))  # a 20 ms ramp from the first sample
        outs.append(render(proc, x, block, 44100.0))
    for out in outs[1:]:
        assert np.max(np.abs(out - outs[0])) <= 1e-6


def test_eq_bands_move_on_a_32_sample_grid_fixed_to_the_timeline():
    # reference: an EQ fed 32-sample blocks with the gain held at the lane's value at each block start;
    # the automated EQ, in blocks that do not line up with the grid, must step exactly like it
    table = AutomationLane([Breakpoint(0, -12.0), Breakpoint(1, 12.0)]).compile(lambda b: b * 1024)
    x = noise(2, 1024, seed=9, level=0.3).astype(np.float32)
    auto = ParametricEQ()
    auto.prepare(48000, 1024)
    auto.param("band3_gain_db").set_automation(table)
    got = np.concatenate([render_at(auto, x[:, a:b], a) for a, b in ((0, 100), (100, 777), (777, 1024))], 1)
    ref = ParametricEQ(band3_gain_db=-12.0)
    ref.prepare(48000, 1024)
    want = np.zeros_like(x)
    for k in range(0, 1024, EQ_GRID):
        ref.param("band3_gain_db").set(table.value_at(k))
        ref.param("band3_gain_db").reset()  # held, not smoothed: the reference steps like the grid
        want[:, k : k + EQ_GRID] = render_at(ref, x[:, k : k + EQ_GRID], k)
    assert np.max(np.abs(got - want)) < 1e-7


def render_at(proc: Processor, x: np.ndarray, start: int) -> np.ndarray:
    ctx = BlockContext(48000.0)
    ctx.set_single_segment(x.shape[1], start, True)
    out = np.zeros_like(x)
    proc.process(ctx, [x], [out], [], [])
    return out


def test_a_still_eq_does_not_redesign_its_bands_every_block():
    eq = ParametricEQ(band2_gain_db=5.0)
    eq.prepare(48000.0, 256)
    x = noise(2, 1024, seed=1).astype(np.float32)
    render(eq, x, 256)
    coefs = eq._coefs.copy()
    eq._coefs[2, 0] += 0.5  # a redesign would overwrite this
    render(eq, x, 256)
    assert eq._coefs[2, 0] == coefs[2, 0] + 0.5 and not eq._moving.any()


def test_an_eq_at_its_defaults_passes_audio_through_unchanged():
    x = noise(2, 4096, seed=2).astype(np.float32)
    eq = ParametricEQ()
    eq.prepare(48000.0, 1024)
    np.testing.assert_array_equal(render(eq, x, 1024), x)


@pytest.mark.parametrize("rate", RATES)
def test_eq_band_gains_hold_at_their_frequencies_measured_through_the_processor(rate):
    eq = ParametricEQ(
        band1_freq_hz=120.0, band1_gain_db=6.0, band3_freq_hz=1000.0, band3_gain_db=-9.0, band3_q=4.0,
        band5_freq_hz=15000.0, band5_gain_db=-4.0,
    )  # fmt: skip
    ir = impulse_response(eq, rate, int(rate))
    assert abs(20 * math.log10(abs(np.sum(ir))) - 6.0) < 0.1  # low shelf at DC
    assert abs(20 * math.log10(abs(np.sum(ir * (-1.0) ** np.arange(ir.shape[0])))) + 4.0) < 0.1  # Nyquist
    solo_bell = ParametricEQ(band3_freq_hz=1000.0, band3_gain_db=-9.0, band3_q=4.0)
    assert abs(dtft_db(impulse_response(solo_bell, rate, int(rate)), 1000.0, rate) + 9.0) < 0.1
    solo_low = ParametricEQ(band1_freq_hz=120.0, band1_gain_db=6.0)
    assert abs(dtft_db(impulse_response(solo_low, rate, int(rate)), 120.0, rate) - 3.0) < 0.1


@pytest.mark.parametrize("rate", RATES)
def test_eq_low_cut_and_high_cut_are_3_db_down_at_their_frequencies(rate):
    low_cut = impulse_response(ParametricEQ(lowcut_enabled=1, lowcut_freq_hz=80.0), rate, int(rate))
    high_cut = impulse_response(ParametricEQ(highcut_enabled=1, highcut_freq_hz=9000.0), rate, int(rate))
    assert abs(crossing_hz(lambda f: dtft_db(low_cut, f, rate), 40.0, 160.0) / 80.0 - 1.0) < 0.02
    assert abs(crossing_hz(lambda f: dtft_db(high_cut, f, rate), 4500.0, 18000.0) / 9000.0 - 1.0) < 0.02


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", range(len(FILTER_MODES)))
def test_filter_processor_is_the_svf_kernel(mode, rate):
    proc = Filter(channels=1, mode=mode, cutoff_hz=3000.0, resonance=0.4)
    ir = impulse_response(proc, rate, 6000)
    np.testing.assert_allclose(ir, svf_ir(mode, 3000.0, 0.4, rate, 6000), atol=1e-6)


def test_filter_modes_are_lowpass_highpass_bandpass_notch_peak():
    assert FILTER_MODES == ("lowpass", "highpass", "bandpass", "notch", "peak")
    assert [SVF_LOWPASS, SVF_HIGHPASS, SVF_BANDPASS, SVF_NOTCH, SVF_PEAK] == list(range(5))


def test_ladder_processor_falls_24_db_per_octave():
    ir = impulse_response(LadderFilter(channels=1, cutoff_hz=200.0), 48000.0, 48000)  # 1.0 in: tanh bends
    slope = dtft_db(ir, 3200.0, 48000.0) - dtft_db(ir, 1600.0, 48000.0)
    assert abs(slope + 24.0) < 2.0


def extremes(proc_factory, trial: int, rng: np.random.Generator) -> Processor:
    proc = proc_factory()
    for p in proc.params.values():
        p.set((p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value))
    return proc


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_no_nan_or_inf_at_parameter_extremes_on_loud_input(name, rate):
    rng = np.random.default_rng(4)
    x = noise(2, 8000, seed=3, level=4.0)
    x[:, 3000:] += 8.0  # and a DC step
    for trial in range(6):
        proc = extremes(PROCESSORS[name], trial, rng)
        proc.prepare(rate, 512)
        out = render(proc, x, 512, rate)
        assert np.all(np.isfinite(out)), f"trial {trial}"


@pytest.mark.parametrize("mode", range(len(FILTER_MODES)))
def test_every_filter_mode_stays_finite_at_the_cutoff_and_resonance_extremes(mode):
    for cutoff in (20.0, 20000.0):
        proc = Filter(mode=mode, cutoff_hz=cutoff, resonance=1.0)
        proc.prepare(44100.0, 512)
        out = render(proc, noise(2, 4000, seed=5, level=4.0), 512, 44100.0)
        assert np.all(np.isfinite(out)) and np.max(np.abs(out)) < 1e3


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_silence_in_gives_silence_out_and_a_tail_decays_to_true_zero(name):
    proc = PROCESSORS[name]()
    proc.prepare(48000.0, 1024)
    assert np.max(np.abs(render(proc, np.zeros((2, 4096)), 1024))) == 0.0
    x = np.zeros((2, 5 * 48000))
    x[:, :2000] = noise(2, 2000, seed=6)
    out = render(proc, x, 1024)
    assert np.max(np.abs(out[:, -1024:])) == 0.0


def test_out_of_range_values_are_refused_with_the_range():
    for factory in PROCESSORS.values():
        proc = factory()
        for p in proc.params.values():
            before = p.value
            for bad in (p.max_value + 1.0, p.min_value - 1.0, float("nan")):
                with pytest.raises(ValueError, match=f"{p.name} must be in"):
                    p.set(bad)
            assert p.value == before
    with pytest.raises(ValueError, match=r"cutoff_hz must be in 20\.\.20000"):
        Filter(cutoff_hz=25000.0)
    with pytest.raises(ValueError, match=r"band2_gain_db must be in -24\.\.24"):
        ParametricEQ(band2_gain_db=30.0)
    with pytest.raises(KeyError, match="no parameter 'band9_gain_db'"):
        ParametricEQ(band9_gain_db=1.0)


def test_parameter_names_and_ranges():
    assert set(Filter().params) == {"mode", "cutoff_hz", "resonance"}
    assert set(LadderFilter().params) == {"cutoff_hz", "resonance", "drive_db"}
    assert DCBlocker().params == {}
    eq = ParametricEQ()
    for band in ("band1", "band2", "band3", "band4", "band5"):
        for suffix, lo, hi in (("freq_hz", 20.0, 20000.0), ("gain_db", -24.0, 24.0), ("q", 0.1, 10.0)):
            p = eq.param(f"{band}_{suffix}")
            assert (p.min_value, p.max_value) == (lo, hi)
    for cut in ("lowcut", "highcut"):
        assert {f"{cut}_enabled", f"{cut}_freq_hz", f"{cut}_q"} <= set(eq.params)
        assert eq.param(f"{cut}_enabled").value == 0.0


@pytest.mark.parametrize("name", ["filter", "ladder", "eq"])
def test_a_block_longer_than_prepared_is_refused(name):
    proc = PROCESSORS[name]()
    proc.prepare(48000.0, 64)
    ctx = BlockContext(48000.0)
    ctx.set_single_segment(128, 0, True)
    buf = np.zeros((2, 128), np.float32)
    with pytest.raises(ValueError, match="exceeds max_block_size 64"):
        proc.process(ctx, [buf], [buf], [], [])


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_processing_in_place_equals_processing_into_another_buffer(name):
    x = noise(2, 2048, seed=10, level=0.5).astype(np.float32)
    a = PROCESSORS[name]()
    a.prepare(48000.0, 512)
    want = render(a, x, 512)
    b = PROCESSORS[name]()
    b.prepare(48000.0, 512)
    buf = x.copy()
    ctx = BlockContext(48000.0)
    for start in range(0, 2048, 512):
        ctx.set_single_segment(512, start, True)
        view = buf[:, start : start + 512]
        b.process(ctx, [view], [view], [], [])
    np.testing.assert_array_equal(buf, want)
