"""Loudness (BS.1770-4, EBU R 128 / Tech 3341 / Tech 3342) and peak/RMS meters against pyloudnorm, scipy
and the EBU test signals."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from dsp.kernels.loudness import (
    TP_FACTOR,
    default_channel_weights,
    k_weighting_coefficients,
    step_energies,
    true_peak_coefficients,
)
from dsp.meters import LoudnessMeter, PeakRmsMeter, integrated_loudness, loudness_range
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext
from tests.alloc import allocations

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]

# ITU-R BS.1770-4 table 1 and 2: the K-weighting biquads at 48 kHz
BS1770_SHELF = (1.53512485958697, -2.69169618940638, 1.19839281085285, -1.69065929318241, 0.73248077421585)
BS1770_HIGHPASS = (1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621)


# -- test signals ----------------------------------------------------------------------------------------
def sine(sr, seconds, dbfs, hz=997.0, channels=2):
    t = np.arange(round(seconds * sr)) / sr
    x = 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)
    return np.tile(x, (channels, 1))


def sine_sequence(sr, parts, hz=1000.0, channels=2):
    """Concatenated 1 kHz sines: ``parts`` is a list of (seconds, dBFS); phase runs on across parts."""
    levels = np.concatenate([np.full(round(s * sr), 10 ** (d / 20)) for s, d in parts])
    x = levels * np.sin(2 * np.pi * hz * np.arange(levels.size) / sr)
    return np.tile(x, (channels, 1))


def pink(sr, seconds, rms=0.1, seed=1):
    w = np.random.default_rng(seed).standard_normal(round(seconds * sr))
    spectrum = np.fft.rfft(w)
    f = np.fft.rfftfreq(w.size, 1 / sr)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(f[1:])
    x = np.fft.irfft(spectrum, w.size)
    return x * (rms / x.std())


def signals(sr):
    t = np.arange(12 * sr) / sr
    p = pink(sr, 12)
    gaps = np.where(np.mod(t, 2.0) < 1.0, p, 0.0)  # half the time digital silence: the gates decide
    alternating = p * np.where(np.mod(t, 3.0) < 1.5, 1.0, 10 ** (-15 / 20))  # loud/quiet, 15 dB apart
    return {
        "sine_-20dBFS": sine(sr, 12, -20.0),
        "pink": np.stack([p, 0.7 * p[::-1]]),
        "silence_gaps": np.stack([gaps, gaps]),
        "loud_quiet": np.stack([alternating, 0.5 * alternating]),
    }


def meter_run(meter, audio, block, sr, dtype=np.float32):
    """Feed ``audio`` through ``meter`` in blocks; returns what came out."""
    meter.prepare(sr, block)
    ctx = BlockContext(sr)
    buf = np.array(audio, dtype=dtype)
    out = np.zeros_like(buf)
    for start in range(0, buf.shape[1], block):
        n = min(block, buf.shape[1] - start)
        ctx.set_single_segment(n, start, True)
        meter.process(ctx, [buf[:, start : start + n]], [out[:, start : start + n]], [], [])
    return out


# -- K-weighting -----------------------------------------------------------------------------------------
def test_k_weighting_at_48_khz_is_the_bs1770_table():
    coefs = k_weighting_coefficients(48000)
    assert np.abs(coefs[0] - BS1770_SHELF).max() < 1e-8
    assert np.abs(coefs[1] - BS1770_HIGHPASS).max() < 1e-8


@pytest.mark.parametrize("sr", [44100, 88200, 96000, 192000])
def test_k_weighting_has_the_same_response_at_any_sample_rate(sr):
    freqs = np.geomspace(20, 16000, 200)
    ref = k_weighting_coefficients(48000)
    coefs = k_weighting_coefficients(sr)

    def response_db(c, rate):
        total = np.zeros(freqs.size)
        for b0, b1, b2, a1, a2 in c:
            _, h = signal.freqz([b0, b1, b2], [1.0, a1, a2], worN=freqs, fs=rate)
            total += 20 * np.log10(np.abs(h))
        return total

    assert np.abs(response_db(coefs, sr) - response_db(ref, 48000)).max() < 0.05
    assert response_db(coefs, sr)[-1] == pytest.approx(4.0, abs=0.3)  # the +4 dB head shelf


def test_k_weighted_step_energies_equal_scipy_lfilter():
    sr = 48000
    x = np.random.default_rng(3).standard_normal((2, sr))
    coefs = k_weighting_coefficients(sr)
    w = np.array([1.0, 1.41])
    out = np.zeros(10)
    m = step_energies(x, coefs, w, 4800, np.zeros((2, 4)), out)
    y = x
    for b0, b1, b2, a1, a2 in coefs:
        y = signal.lfilter([b0, b1, b2], [1.0, a1, a2], y, axis=1)
    ref = (w[:, None] * y**2).sum(axis=0).reshape(10, 4800).mean(axis=1)
    assert m == 10 and np.allclose(out, ref, rtol=1e-10)


def test_channel_weights_by_layout():
    assert default_channel_weights(2).tolist() == [1.0, 1.0]
    assert default_channel_weights(6).tolist() == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]  # LFE excluded
    with pytest.raises(ValueError, match="no default loudness weights for 7 channels"):
        default_channel_weights(7)
    with pytest.raises(ValueError, match="channel_weights must be 2 finite values"):
        LoudnessMeter(2, channel_weights=[1.0])
    with pytest.raises(ValueError, match="looks like"):
        integrated_loudness(np.zeros((48000, 2)), 48000)


# -- integrated loudness against pyloudnorm --------------------------------------------------------------
@pytest.mark.parametrize("sr", RATES)
def test_integrated_loudness_is_within_a_tenth_of_a_lu_of_pyloudnorm(sr):
    for name, audio in signals(sr).items():
        ours = integrated_loudness(audio, sr)
        # pyloudnorm's default K-weighting is the RBJ-cookbook approximation (about 0.04 LU off); its
        # "DeMan" filters are the same design as ours
        assert ours == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(audio.T), abs=0.1), name
        deman = pyloudnorm.Meter(sr, "DeMan").integrated_loudness(audio.T)
        assert ours == pytest.approx(deman, abs=0.01), name


def test_a_stereo_sine_at_minus_20_dbfs_reads_minus_20_lufs():
    # 997 Hz: K-weighting adds +0.69 dB there, which the -0.691 offset cancels; two channels add 3.01 dB
    # to the mean square of a sine (peak - 3.01 dB), so a stereo sine reads its peak level in LUFS
    assert integrated_loudness(sine(48000, 10, -20.0), 48000) == pytest.approx(-20.0, abs=0.02)
    assert integrated_loudness(sine(48000, 10, -20.0, channels=1), 48000) == pytest.approx(-23.01, abs=0.02)


def test_gating_ignores_silence_and_quiet_passages():
    sr = 48000
    loud = sine(sr, 10, -20.0)
    with_silence = np.concatenate([loud, np.zeros((2, 20 * sr))], axis=1)
    # absolute gate: only the three blocks that straddle the end of the tone count beside it
    assert integrated_loudness(with_silence, sr) == pytest.approx(-20.0, abs=0.1)
    quiet = sine_sequence(sr, [(10, -20.0), (20, -40.0)], hz=997.0)
    assert integrated_loudness(quiet, sr) == pytest.approx(-20.0, abs=0.1)  # relative gate
    assert integrated_loudness(np.zeros((2, sr)), sr) == -math.inf
    assert integrated_loudness(np.zeros((2, 100)), sr) == -math.inf


# -- EBU Tech 3341 (minimum requirements) and Tech 3342 --------------------------------------------------
TECH3341_INTEGRATED = {
    "case1": ([(20, -23.0)], -23.0),
    "case2": ([(20, -33.0)], -33.0),
    "case3": ([(10, -36.0), (60, -23.0), (10, -36.0)], -23.0),
    "case4": ([(10, -72.0), (10, -36.0), (60, -23.0), (10, -36.0), (10, -72.0)], -23.0),
    "case5": ([(20, -26.0), (20.1, -20.0), (20, -26.0)], -23.0),
}


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("case", list(TECH3341_INTEGRATED))
def test_tech3341_integrated_loudness_cases(case, sr):
    parts, expected = TECH3341_INTEGRATED[case]
    audio = sine_sequence(sr, parts)
    meter = LoudnessMeter()
    meter_run(meter, audio, 4096, sr)
    assert meter.integrated_lufs() == pytest.approx(expected, abs=0.1)
    assert integrated_loudness(audio, sr) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("sr", RATES)
def test_tech3341_case6_five_channel_weights(sr):
    levels = (-28.0, -28.0, -24.0, -30.0, -30.0)  # L R C Ls Rs
    audio = np.concatenate([sine_sequence(sr, [(20, d)], channels=1) for d in levels])
    meter = LoudnessMeter(5)
    meter_run(meter, audio, 1000, sr)
    assert meter.integrated_lufs() == pytest.approx(-23.0, abs=0.1)
    # 5.1: the same with an LFE channel full of signal, which must not count
    lfe = sine_sequence(sr, [(20, -6.0)], hz=60.0, channels=1)
    with_lfe = np.concatenate([audio[:3], lfe, audio[3:]])
    assert integrated_loudness(with_lfe, sr) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case9_short_term_is_constant_over_alternating_tones():
    sr = 48000
    audio = sine_sequence(sr, [(1.34, -20.0), (1.66, -30.0)] * 7)
    meter = LoudnessMeter()
    meter.prepare(sr, 480)
    ctx = BlockContext(sr)
    readings = []
    for start in range(0, audio.shape[1] - 480, 480):
        ctx.set_single_segment(480, start, True)
        view = np.array(audio[:, start : start + 480], dtype=np.float32)
        meter.process(ctx, [view], [view], [], [])
        if start >= 3 * sr:
            readings.append(meter.short_term_lufs())
    assert np.abs(np.array(readings) + 23.0).max() < 0.1


def test_tech3341_momentary_and_short_term_of_a_steady_tone():
    sr = 48000
    meter = LoudnessMeter()
    meter_run(meter, sine_sequence(sr, [(20, -23.0)]), 1000, sr)
    assert meter.momentary_lufs() == pytest.approx(-23.0, abs=0.1)
    assert meter.short_term_lufs() == pytest.approx(-23.0, abs=0.1)
    assert meter.max_momentary_lufs() == pytest.approx(-23.0, abs=0.1)
    assert meter.max_short_term_lufs() == pytest.approx(-23.0, abs=0.1)
    assert meter.measured_seconds == pytest.approx(20.0)


def test_momentary_and_short_term_read_only_the_last_400_ms_and_3_s():
    sr = 48000
    meter = LoudnessMeter()
    meter_run(meter, sine_sequence(sr, [(10, -20.0), (1, -40.0)]), 1000, sr)
    assert meter.momentary_lufs() == pytest.approx(-40.0, abs=0.1)
    # the last 3 s: 2 s at -20 and 1 s at -40 (energy mean)
    expected = 10 * math.log10((2 * 10**-2.0 + 1 * 10**-4.0) / 3)
    assert meter.short_term_lufs() == pytest.approx(expected, abs=0.1)


TECH3342_RANGE = {
    "case1": ([(20, -20.0), (20, -30.0)], 10.0),
    "case2": ([(20, -20.0), (20, -15.0)], 5.0),
    "case3": ([(20, -40.0), (20, -20.0)], 20.0),
    "case4": ([(20, -50.0), (20, -35.0), (20, -20.0), (20, -35.0), (20, -50.0)], 15.0),
}


@pytest.mark.parametrize("case", list(TECH3342_RANGE))
def test_tech3342_loudness_range_cases(case):
    sr = 48000
    parts, expected = TECH3342_RANGE[case]
    audio = sine_sequence(sr, parts)
    meter = LoudnessMeter()
    meter_run(meter, audio, 4096, sr)
    # the specification allows +-1 LU; the meter and the offline function agree to 0.01 LU
    assert meter.loudness_range_lu() == pytest.approx(expected, abs=0.2)
    assert loudness_range(audio, sr) == pytest.approx(meter.loudness_range_lu(), abs=0.02)


def test_loudness_range_is_nan_before_three_seconds():
    meter = LoudnessMeter()
    meter_run(meter, sine(48000, 2, -20.0), 1000, 48000)
    assert math.isnan(meter.loudness_range_lu())
    assert math.isnan(loudness_range(sine(48000, 2, -20.0), 48000))


# -- the meter processor --------------------------------------------------------------------------------
def readings(meter):
    return (
        meter.integrated_lufs(),
        meter.momentary_lufs(),
        meter.short_term_lufs(),
        meter.loudness_range_lu(),
        meter.true_peak_dbtp(),
    )


@pytest.mark.parametrize("sr", RATES)
def test_meter_readings_do_not_depend_on_the_block_size_and_audio_passes_through(sr):
    audio = signals(sr)["loud_quiet"]
    results = []
    for block in BLOCK_SIZES:
        meter = LoudnessMeter()
        out = meter_run(meter, audio, block, sr)
        assert np.array_equal(out, audio.astype(np.float32))
        results.append(readings(meter))
    for r in results[1:]:
        assert r == pytest.approx(results[0], abs=1e-9)


@pytest.mark.parametrize("sr", RATES)
def test_meter_integrated_loudness_equals_the_offline_function(sr):
    for name, audio in signals(sr).items():
        meter = LoudnessMeter()
        meter_run(meter, audio, 1000, sr, dtype=np.float64)
        assert meter.integrated_lufs() == pytest.approx(integrated_loudness(audio, sr), abs=0.005), name


def test_meter_state_is_fixed_whatever_the_duration():
    sr = 48000
    meter = LoudnessMeter()
    meter.prepare(sr, 4800)
    arrays = [meter._hist_count, meter._hist_energy, meter._st_count, meter._st_energy, meter._ring]
    sizes = [a.nbytes for a in arrays]
    block = np.array(sine(sr, 0.1, -23.0, hz=1000.0), dtype=np.float32)  # whole cycles
    ctx = BlockContext(sr)
    for k in range(6000):  # ten minutes
        ctx.set_single_segment(4800, 4800 * k, True)
        meter.process(ctx, [block], [block], [], [])
    assert [a.nbytes for a in arrays] == sizes
    assert meter.integrated_lufs() == pytest.approx(-23.0, abs=0.1)
    assert meter.measured_seconds == pytest.approx(600.0)


def test_reset_starts_a_new_measurement():
    meter = LoudnessMeter()
    meter_run(meter, sine(48000, 5, -10.0), 1000, 48000)
    meter.reset()
    assert meter.integrated_lufs() == -math.inf and meter.momentary_lufs() == -math.inf
    assert meter.true_peak_dbtp() == -math.inf


def test_meters_refuse_a_buffer_with_the_wrong_channel_count():
    for meter in (LoudnessMeter(1), PeakRmsMeter(1)):
        meter.prepare(48000, 64)
        ctx = BlockContext(48000)
        ctx.set_single_segment(64, 0, True)
        stereo = np.zeros((2, 64), dtype=np.float32)
        with pytest.raises(ValueError, match="expected 1 channels of 64 frames"):
            meter.process(ctx, [stereo], [stereo], [], [])


def test_silence_reads_minus_infinity_and_stays_finite_inside():
    meter = LoudnessMeter()
    meter_run(meter, np.zeros((2, 48000 * 5)), 4096, 48000)
    assert readings(meter)[:3] == (-math.inf, -math.inf, -math.inf)
    assert np.all(np.isfinite(meter._filt))


# -- true peak -------------------------------------------------------------------------------------------
def test_true_peak_kernel_equals_a_zero_stuffed_convolution():
    sr = 48000
    x = np.random.default_rng(5).uniform(-0.5, 0.5, (1, 5000))
    meter = LoudnessMeter(1)
    meter_run(meter, x, 777, sr, dtype=np.float64)
    poly = true_peak_coefficients()
    h = np.zeros(poly.size)
    for p in range(TP_FACTOR):
        h[p::TP_FACTOR] = poly[p]
    up = np.zeros(x.shape[1] * TP_FACTOR)
    up[::TP_FACTOR] = x[0]
    ref = np.abs(np.convolve(up, h)[: up.size]).max()
    assert 10 ** (meter.true_peak_dbtp() / 20) == pytest.approx(ref, rel=1e-12)


def test_true_peak_finds_the_peak_between_samples():
    sr = 48000
    # a quarter-rate sine sampled 45 degrees off its peaks: every sample is at -3.01 dB, the wave at 0
    x = np.sin(2 * np.pi * np.arange(sr) / 4 + np.pi / 4)[None, :] * 0.5
    meter = LoudnessMeter(1)
    meter_run(meter, x, 1000, sr, dtype=np.float64)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.01)
    assert meter.true_peak_dbtp() == pytest.approx(-6.02, abs=0.5)
    # a slow sine: the true peak is the sample peak
    meter_run(meter, sine(48000, 1, -1.0, hz=100.0, channels=1), 1000, 48000)
    assert meter.true_peak_dbtp() == pytest.approx(-1.0, abs=0.01)


# -- peak and RMS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sr", RATES)
def test_rms_of_a_full_scale_sine_is_minus_3_db(sr):
    meter = PeakRmsMeter()
    meter_run(meter, sine(sr, 3, 0.0), 512, sr)
    assert meter.rms_dbfs() == pytest.approx([-3.01, -3.01], abs=0.02)
    assert meter.peak_dbfs() == pytest.approx([0.0, 0.0], abs=0.01)


def test_peak_holds_then_falls_at_the_release_rate():
    sr = 48000
    meter = PeakRmsMeter(1)
    meter.param("hold_ms").set(500.0)
    meter.param("release_db_per_s").set(12.0)
    burst = np.zeros((1, 3 * sr))
    burst[0, 1000] = 0.5
    meter.prepare(sr, 1000)
    ctx = BlockContext(sr)
    levels = []
    for start in range(0, burst.shape[1], 1000):
        ctx.set_single_segment(1000, start, True)
        view = burst[:, start : start + 1000]
        meter.process(ctx, [view], [view], [], [])
        levels.append(float(meter.peak_dbfs()[0]))
    t = (np.arange(len(levels)) + 1) * 1000  # samples processed at each reading
    hold_end = 1000 + 0.5 * sr
    assert levels[0] == -math.inf  # before the burst
    for samples, level in zip(t[1:], levels[1:], strict=True):
        expected = -6.02 if samples <= hold_end else -6.02 - 12.0 * (samples - hold_end - 1) / sr
        assert level == pytest.approx(expected, abs=0.01)
    assert meter.max_peak_dbfs()[0] == pytest.approx(-6.02, abs=0.01)


def test_peak_rms_readings_do_not_depend_on_the_block_size():
    sr = 48000
    audio = signals(sr)["loud_quiet"][:, : 4 * sr]
    results = []
    for block in BLOCK_SIZES:
        meter = PeakRmsMeter()
        lane = AutomationLane([Breakpoint(0.0, 5.0), Breakpoint(6.0, 60.0)])
        meter.param("release_db_per_s").set_automation(lane.compile(lambda b: b * sr / 2))
        out = meter_run(meter, audio, block, sr, dtype=np.float64)
        assert np.array_equal(out, audio)
        results.append(np.concatenate([meter.peak_dbfs(), meter.rms_dbfs(), meter.max_peak_dbfs()]))
    for r in results[1:]:
        assert np.abs(r - results[0]).max() < 1e-9


def test_peak_rms_meter_reads_silence_as_minus_infinity_after_the_release():
    meter = PeakRmsMeter(1)
    meter.param("hold_ms").set(0.0)
    meter.param("release_db_per_s").set(200.0)
    meter.param("rms_window_ms").set(10.0)
    audio = np.concatenate([np.full((1, 100), 0.9), np.zeros((1, 48000 * 4))], axis=1)
    meter_run(meter, audio, 4096, 48000)
    assert meter.peak_dbfs()[0] == -math.inf and meter.rms_dbfs()[0] == -math.inf
    assert meter.max_peak_dbfs()[0] == pytest.approx(20 * math.log10(0.9), abs=1e-6)


@pytest.mark.parametrize("make", [LoudnessMeter, PeakRmsMeter])
def test_meters_process_without_allocating(make):
    meter = make()
    meter.prepare(48000, 512)
    ctx = BlockContext(48000)
    buf = np.array(pink(48000, 1)[: 2 * 512].reshape(2, 512), dtype=np.float32)
    for k in range(20):
        ctx.set_single_segment(512, 512 * k, True)
        meter.process(ctx, [buf], [buf], [], [])

    def step(k: int) -> None:
        ctx.set_single_segment(512, 512 * k, True)
        meter.process(ctx, [buf], [buf], [], [])

    got = allocations(step, 280, first=20)
    assert got.peak < 2048, got
