"""Oscillator kernels and the Oscillator processor against closed forms, brute-force references, spectra."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import signal

from dsp.kernels.osc import (
    BLEP_OVERSAMPLE,
    BLEP_SAMPLES,
    WAVE_PINK,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TABLE,
    WAVE_TRIANGLE,
    WAVE_WHITE,
    make_blep_tables,
    make_sine_table,
    make_wavetable,
    new_osc_state,
    osc_fill,
)
from dsp.oscillators import WAVEFORMS, Oscillator
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext
from tests.alloc import allocations

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]
STEP, RAMP, TAU = make_blep_tables()
SINE = make_sine_table()
SAW_CYCLE = np.arange(2048) / 1024.0 - 1.0  # a naive saw: full of harmonics the mips must drop


def render(waveform, inc, n, pulse_width=0.5, table=None, seed=1):
    """The kernel over ``n`` samples; ``waveform``, ``inc`` and ``pulse_width`` may be scalars or per-sample
    arrays."""
    state, ring = new_osc_state()
    out = np.zeros(n)
    flat, offsets, sizes = make_wavetable(SAW_CYCLE) if table is None else table
    osc_fill(
        out, 0, n, np.broadcast_to(np.asarray(waveform, float), (n,)).copy(),
        np.broadcast_to(np.asarray(inc, float), (n,)).copy(),
        np.broadcast_to(np.asarray(pulse_width, float), (n,)).copy(), state, ring, STEP, RAMP, TAU,
        SINE, flat, offsets, sizes, np.array([seed], dtype=np.uint64), np.zeros(7),
    )  # fmt: skip
    return out


def kernel_response(nu):
    """Frequency response of the BLEP kernel (cycles per sample) from its step table."""
    mass = np.diff(STEP)
    mid = (np.arange(mass.size) + 0.5) / BLEP_OVERSAMPLE
    return np.exp(-2j * np.pi * np.outer(nu, mid)) @ mass


def filtered_series(coefs, dc, inc, n):
    """Slow reference: the ideal periodic waveform with complex Fourier coefficients ``coefs`` (harmonics
    1..K) through the BLEP kernel, sampled at phase ``n * inc`` (aliases included)."""
    k = np.arange(1, coefs.size + 1)
    h = kernel_response(k * inc)
    nn = np.arange(n)
    return dc + 2.0 * np.real(np.exp(2j * np.pi * np.outer(nn, k * inc)) @ (coefs * h))


def alias_db(x, f0):
    """Energy in FFT bins that are not harmonics of ``f0``, relative to the harmonics (``x`` is one second,
    so bins are 1 Hz apart and an integer ``f0`` is exactly periodic: no window needed)."""
    power = np.abs(np.fft.rfft(x)) ** 2
    k = np.arange(power.size)
    harmonic = (k % f0 == 0) & (k > 0)
    return 10.0 * np.log10(power[~harmonic].sum() / power[harmonic].sum())


# -- band-limited waveforms --------------------------------------------------------------------------------
def test_blep_tables_are_a_unit_step_and_its_integral():
    assert STEP[0] == pytest.approx(-1.0, abs=1e-3)
    assert STEP[-1] == 0.0 and RAMP[-1] == 0.0
    assert TAU == RAMP[0] and 1.0 < TAU < 4.0
    # R'(d) = S(d) - 1: the ramp residual is the integral of the step residual
    slope = np.diff(RAMP) * BLEP_OVERSAMPLE
    assert np.abs(slope - 0.5 * (STEP[:-1] + STEP[1:])).max() < 1e-3
    assert STEP.size == BLEP_SAMPLES * BLEP_OVERSAMPLE + 1


@pytest.mark.parametrize("f_hz", [440.0, 5000.0, 15059.0])
def test_saw_pulse_and_triangle_equal_the_ideal_waveform_through_the_blep_kernel(f_hz):
    inc = f_hz / 48000.0
    n = 2000
    k = np.arange(1, int(3.0 / inc) + 2)
    saw = (-1.0) ** k * 1j / (np.pi * k)  # 2 frac(p + 0.5) - 1
    pw = 0.3
    pulse = (1.0 - np.exp(-2j * np.pi * k * pw)) / (1j * np.pi * k)
    tri = np.where(k % 2 == 1, 8.0 / np.pi**2 * (-1.0) ** ((k - 1) // 2) / k**2 / 2j, 0.0)
    skip = BLEP_SAMPLES  # the first residuals have no history
    for wave, coefs, dc, width in ((WAVE_SAW, saw, 0.0, 0.5), (WAVE_SQUARE, pulse, 2 * pw - 1, pw)):
        err = render(wave, inc, n, width) - filtered_series(coefs, dc, inc, n)
        assert np.abs(err[skip:]).max() < 1e-4, wave
    err = render(WAVE_TRIANGLE, inc, n) - filtered_series(tri, 0.0, inc, n)
    assert np.abs(err[skip:]).max() < 1e-4


@pytest.mark.parametrize("sr", RATES)
def test_band_limited_saw_at_5khz_has_at_least_30_db_less_aliasing_than_a_naive_saw(sr):
    n = sr  # one second: 1 Hz bins
    inc = 5000.0 / sr
    naive = 2.0 * np.mod(np.arange(2 * n) * inc + 0.5, 1.0) - 1.0
    blep = render(WAVE_SAW, inc, 2 * n)
    naive_db = alias_db(naive[n:], 5000)
    blep_db = alias_db(blep[n:], 5000)
    # measured at 48 kHz: naive -8.1 dB, band-limited -62.1 dB (2-point PolyBLEP: -22 dB; synth voices: -39)
    assert naive_db - blep_db >= 30.0, (naive_db, blep_db)


def test_band_limited_saw_keeps_its_harmonics_below_15_khz_within_a_tenth_of_a_db():
    sr = 48000
    x = render(WAVE_SAW, 480.0 / sr, 2 * sr)[sr:]
    mag = np.abs(np.fft.rfft(x)) / (sr / 2)
    k = np.arange(1, 32)  # up to 14.9 kHz
    level_db = 20 * np.log10(mag[480 * k] / (2.0 / (np.pi * k)))
    assert np.abs(level_db).max() < 0.1


def test_pulse_width_modulation_per_sample_equals_a_brute_force_filtered_pulse():
    # slow reference: the naive pulse with phase and width moving linearly inside each sample, sampled
    # 1024 times per sample, convolved with the BLEP kernel at that rate and read at the sample times
    n, fine = 1200, 1024
    inc = np.full(n, 1234.5 / 48000.0)
    pw = 0.5 + 0.45 * np.sin(2 * np.pi * np.arange(n) / 700.0)
    y = render(WAVE_SQUARE, inc, n, pw)
    t = np.arange(n * fine) / fine
    i = np.minimum(t.astype(int), n - 2)
    u = t - i
    phase = np.concatenate([[0.0], np.cumsum(inc)[:-1]])
    x = np.where(np.mod(phase[i] + inc[i] * u, 1.0) < pw[i] + (pw[i + 1] - pw[i]) * u, 1.0, -1.0)
    grid = np.arange(BLEP_SAMPLES * fine + 1) / fine
    mass = np.diff(np.interp(grid, np.arange(STEP.size) / BLEP_OVERSAMPLE, STEP))
    ref = signal.fftconvolve(x, mass)[: n * fine][::fine]
    # the reference puts each edge on a 1/1024-sample grid: about 2e-3 of error at the kernel's peak
    assert np.abs(y - ref)[BLEP_SAMPLES : n - 2].max() < 5e-3


@pytest.mark.parametrize("pw", [0.1, 0.25, 0.5, 0.8])
def test_pulse_width_sets_the_duty_cycle(pw):
    sr = 48000
    y = render(WAVE_SQUARE, 100.0 / sr, sr, pw)[480:]  # whole cycles of 480 samples
    assert y.mean() == pytest.approx(2 * pw - 1, abs=1e-3)  # the mean of the naive pulse
    assert (y > 0).mean() == pytest.approx(pw, abs=0.01)


@pytest.mark.parametrize("f_hz", [1.0, 440.0, 3001.7, 19999.0])
def test_table_sine_is_within_1e_6_of_math_sin(f_hz):
    sr = 48000
    inc = f_hz / sr
    y = render(WAVE_SINE, inc, sr)
    ref = np.array([math.sin(2 * math.pi * math.fmod(k * inc, 1.0)) for k in range(sr)])
    assert np.abs(y - ref).max() < 1e-6  # measured 2.9e-7


# -- wavetables ----------------------------------------------------------------------------------------
def test_wavetable_levels_halve_the_harmonics_per_octave():
    flat, offsets, sizes = make_wavetable(SAW_CYCLE)
    for k in range(offsets.size):
        table = flat[offsets[k] : offsets[k] + sizes[k]]
        spectrum = np.abs(np.fft.rfft(table)) / (sizes[k] / 2)
        top = min(2048 >> k, 1023)
        assert spectrum[top] > 1e-4 and spectrum[top + 1 :].max() < 1e-12
        assert flat[offsets[k] - 1] == table[-1] and flat[offsets[k] + sizes[k]] == table[0]


@pytest.mark.parametrize("sr", RATES)
def test_wavetable_mips_stay_alias_free_across_a_sweep(sr):
    table = make_wavetable(SAW_CYCLE)
    worst = -math.inf
    for f in [29, 43, 67, 101, 151, 227, 337, 503, 757, 1129, 1693, 2539, 3803, 5701, 8543, 12799, 16001]:
        y = render(WAVE_TABLE, f / sr, 2 * sr, table=table)[sr:]
        worst = max(worst, alias_db(y, f))
    assert worst < -80.0  # measured about -105 dB


def test_wavetable_keeps_the_band_at_least_up_to_a_quarter_of_the_sample_rate():
    sr = 48000
    for f in [101, 757, 5701]:
        mag = np.abs(np.fft.rfft(render(WAVE_TABLE, f / sr, 2 * sr)[sr:]))
        harmonics = np.nonzero(mag[f::f] > 1e-3 * mag[f])[0] + 1
        assert harmonics.max() * f >= sr / 4


def test_wavetable_of_a_sine_cycle_is_a_clean_sine():
    cycle = np.sin(2 * np.pi * np.arange(256) / 256)
    inc = 987.6 / 48000
    y = render(WAVE_TABLE, inc, 20000, table=make_wavetable(cycle))
    assert np.abs(y - np.sin(2 * np.pi * np.mod(np.arange(20000) * inc, 1.0))).max() < 1e-6


def test_wavetable_refuses_a_cycle_too_short_or_not_finite():
    with pytest.raises(ValueError, match="at least 4 finite samples"):
        make_wavetable(np.zeros(3))
    with pytest.raises(ValueError, match="at least 4 finite samples"):
        make_wavetable(np.array([0.0, 1.0, np.nan, 0.0]))


# -- noise ---------------------------------------------------------------------------------------------
def band_levels_db(x, sr, lo=100.0, hi=10000.0):
    f, psd = signal.welch(x, sr, nperseg=8192)
    edges = lo * 2.0 ** np.arange(0, math.log2(hi / lo) + 1e-9, 1.0 / 3.0)
    centres = np.sqrt(edges[:-1] * edges[1:])
    # mean power density per third-octave band
    levels = np.array([psd[(f >= a) & (f < b)].mean() for a, b in itertools.pairwise(edges)])
    return centres, 10 * np.log10(levels)


@pytest.mark.parametrize("sr", RATES)
def test_white_noise_is_uniform_flat_and_seeded(sr):
    x = render(WAVE_WHITE, 0.0, 20 * sr // 4, seed=5)
    assert x.min() >= -1.0 and x.max() < 1.0
    assert x.mean() == pytest.approx(0.0, abs=0.01)
    assert x.var() == pytest.approx(1.0 / 3.0, rel=0.01)
    _, levels = band_levels_db(x, sr)
    assert levels.max() - levels.min() < 1.0
    assert np.array_equal(x, render(WAVE_WHITE, 0.0, x.size, seed=5))
    assert not np.array_equal(x[:100], render(WAVE_WHITE, 0.0, 100, seed=6))


@pytest.mark.parametrize("sr", RATES)
def test_pink_noise_falls_3_db_per_octave_from_100_hz_to_10_khz(sr):
    x = render(WAVE_PINK, 0.0, 40 * sr // 2, seed=3)
    centres, levels = band_levels_db(x, sr)
    octaves = np.log2(centres)
    slope, offset = np.polyfit(octaves, levels, 1)
    assert slope == pytest.approx(-3.01, abs=0.3)
    assert np.abs(levels - (slope * octaves + offset)).max() < 1.0
    assert np.abs(levels - (-3.01 * octaves + np.mean(levels + 3.01 * octaves))).max() < 1.0
    assert np.abs(x).max() < 1.5


# -- the processor ---------------------------------------------------------------------------------------
def run(osc, total, block, sr=48000, channels=2):
    osc.prepare(sr, block)
    ctx = BlockContext(sr)
    out = np.zeros((channels, total), dtype=np.float32)
    for start in range(0, total, block):
        n = min(block, total - start)
        ctx.set_single_segment(n, start, True)
        osc.process(ctx, [], [out[:, start : start + n]], [], [])
    return out


def automate(param, points, sr=48000, bpm=120.0):
    lane = AutomationLane([Breakpoint(*p) for p in points])
    param.set_automation(lane.compile(lambda beat: beat * 60.0 / bpm * sr))


def test_oscillator_builds_with_no_arguments_and_names_its_waveforms():
    osc = Oscillator()
    assert set(osc.params) == {"waveform", "frequency_hz", "pulse_width", "gain_db"}
    assert WAVEFORMS["saw"] == WAVE_SAW and WAVEFORMS["pink"] == WAVE_PINK and len(WAVEFORMS) == 7
    with pytest.raises(ValueError, match=r"pulse_width must be in 0\.01\.\.0\.99"):
        osc.param("pulse_width").set(1.0)


def test_oscillator_writes_the_kernel_signal_at_its_gain_to_every_channel():
    osc = Oscillator(channels=3)
    osc.param("waveform").set(WAVE_SQUARE)
    osc.param("frequency_hz").set(1000.0)
    osc.param("pulse_width").set(0.3)
    osc.param("gain_db").set(-6.0)
    out = run(osc, 4800, 512, channels=3)
    ref = render(WAVE_SQUARE, 1000.0 / 48000, 4800, 0.3) * 10 ** (-6 / 20)
    assert np.abs(out - ref[None, :]).max() < 1e-6


@pytest.mark.parametrize("waveform", range(7))
def test_oscillator_output_does_not_depend_on_the_block_size(waveform):
    outs = []
    for block in BLOCK_SIZES:
        osc = Oscillator(seed=11)
        osc.param("waveform").set(waveform)
        osc.param("gain_db").set(0.0)
        automate(osc.param("frequency_hz"), [(0.0, 80.0, "exp"), (2.0, 9000.0, "linear"), (4.0, 300.0)])
        automate(osc.param("pulse_width"), [(0.0, 0.1), (3.0, 0.9)])
        outs.append(run(osc, 4 * 24000, block))
    for out in outs[1:]:
        assert np.abs(out - outs[0]).max() < 1e-6


def test_automated_waveform_switches_at_the_same_samples_at_any_block_size():
    outs = []
    for block in BLOCK_SIZES:
        osc = Oscillator()
        osc.param("gain_db").set(0.0)
        automate(
            osc.param("waveform"), [(0.0, 0.0, "hold"), (0.5, 3.0, "hold"), (1.0, 1.0, "hold"), (1.5, 4.0)]
        )
        outs.append(run(osc, 48000, block))
    for out in outs[1:]:
        assert np.abs(out - outs[0]).max() < 1e-6


@pytest.mark.parametrize(
    "old, new", [(WAVE_SAW, WAVE_SINE), (WAVE_SQUARE, WAVE_TABLE), (WAVE_TABLE, WAVE_TRIANGLE)]
)
def test_a_waveform_switch_is_a_band_limited_step_from_the_old_waveform_to_the_new(old, new):
    n, switch, inc = 600, 300, 1000.0 / 48000
    y = render(np.where(np.arange(n) < switch, old, new), inc, n)
    before, after = render(old, inc, n), render(new, inc, n)
    assert np.array_equal(y[:switch], before[:switch])
    assert abs(y[switch] - before[switch]) < 0.05  # no jump at the switch sample
    assert np.abs(y[switch + BLEP_SAMPLES :] - after[switch + BLEP_SAMPLES :]).max() < 1e-12


def test_a_start_from_silence_is_band_limited():
    for waveform in (WAVE_SAW, WAVE_SQUARE, WAVE_TRIANGLE):
        y = render(waveform, 0.45, 200)
        assert abs(y[0]) < 0.05 and np.abs(y).max() < 1.5


@pytest.mark.parametrize("sr", RATES)
def test_oscillator_extremes_give_finite_output(sr):
    for waveform in range(7):
        for freq, pw in ((0.0, 0.01), (20000.0, 0.99), (20000.0, 0.01)):
            osc = Oscillator()
            osc.param("waveform").set(waveform)
            osc.param("frequency_hz").set(freq)
            osc.param("pulse_width").set(pw)
            osc.param("gain_db").set(12.0)
            out = run(osc, 5000, 1000, sr)
            assert np.all(np.isfinite(out)) and np.abs(out).max() < 1.5 * 10 ** (12 / 20)


def test_gain_at_minus_96_db_is_silence():
    osc = Oscillator()
    osc.param("gain_db").set(-96.0)
    assert not run(osc, 2000, 500).any()


def test_reset_restarts_phase_and_noise_seed():
    osc = Oscillator(seed=9)
    osc.param("waveform").set(WAVE_WHITE)
    first = run(osc, 1000, 100)
    osc.reset()
    assert np.array_equal(run(osc, 1000, 100), first)


def test_set_wavetable_swaps_in_new_levels():
    osc = Oscillator()
    osc.param("waveform").set(WAVE_TABLE)
    osc.param("gain_db").set(0.0)
    osc.set_wavetable(np.sin(2 * np.pi * np.arange(512) / 512))
    out = run(osc, 4800, 480)
    ref = np.sin(2 * np.pi * np.mod(np.arange(4800) * 440.0 / 48000, 1.0))
    assert np.abs(out[0] - ref).max() < 1e-6


def test_processing_allocates_no_buffers():
    osc = Oscillator()
    osc.prepare(48000, 512)
    ctx = BlockContext(48000)
    out = np.zeros((2, 512), dtype=np.float32)
    automate(osc.param("frequency_hz"), [(0.0, 100.0), (100.0, 2000.0)])
    for k in range(20):
        ctx.set_single_segment(512, k * 512, True)
        osc.process(ctx, [], [out], [], [])

    def step(k: int) -> None:
        ctx.set_single_segment(512, k * 512, True)
        osc.process(ctx, [], [out], [], [])

    got = allocations(step, 180, first=20)
    assert got.peak < 2048, got
