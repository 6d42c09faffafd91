"""The synth kernels against slow, obvious numpy/scipy references and analytic checks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from scipy import interpolate, signal

from dsp.kernels.synth import (
    ATTACK_TARGET_RATIO,
    DECAY_TARGET_RATIO,
    F_AMP,
    F_ENV,
    F_PITCH,
    F_UPOS,
    G_UNISON_USED,
    I_DIRTY,
    I_STAGE,
    NUM_CACHE,
    NUM_F_ROWS,
    NUM_G_ROWS,
    NUM_I_ROWS,
    NUM_PARAMS,
    NUM_W_ROWS,
    SILENCE_LEVEL,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    SUB_BLOCK,
    UNISON_MAX,
    VOICE_PARAMS,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TRIANGLE,
    filter_envelope_level,
    grid_points,
    lfo_value,
    pan_gains,
    render_noise,
    render_oscillator,
    render_voices,
    svf_k,
    write_stereo,
)

RATES = [44100.0, 48000.0, 96000.0]


# -- slow references ------------------------------------------------------------------------------------
def reference_phases(inc: float, n: int) -> np.ndarray:
    """Phase of each sample: advanced by ``inc`` before the sample is taken."""
    return (np.arange(1, n + 1) * inc) % 1.0


_SPLINE = interpolate.BSpline.basis_element(np.arange(7) - 3.0)  # the quintic B-spline on -3..3


def reference_step(x: np.ndarray) -> np.ndarray:
    """The unit step smoothed by the quintic B-spline (support -3..3 samples): the spline's antiderivative
    from scipy, not the kernel's closed form (valid for |x| < 3)."""
    return _SPLINE.antiderivative(1)(x)


def reference_ramp(x: np.ndarray) -> np.ndarray:
    """The unit ramp max(x, 0) smoothed by the same B-spline: its second antiderivative (|x| < 3)."""
    return _SPLINE.antiderivative(2)(x)


def smoothed_train(q: np.ndarray, inc: float, smooth) -> np.ndarray:
    """``smooth(x) - naive(x)`` summed over every event of a train with one event per cycle at phase 0,
    at phases ``q`` (time in samples from each event: (q - m) / inc for whole cycles m)."""
    total = np.zeros_like(q)
    for m in range(-4, 5):
        x = (q - m) / inc
        naive = np.maximum(x, 0.0) if smooth is reference_ramp else (x >= 0.0).astype(float)
        total += np.where(np.abs(x) < 3.0, smooth(x) - naive, 0.0)
    return total


def reference_oscillator(waveform: int, inc: float, n: int) -> np.ndarray:
    p = reference_phases(inc, n)
    if waveform == WAVE_SINE:
        return np.sin(2.0 * np.pi * p)
    if waveform == WAVE_SAW:
        q = (p + 0.5) % 1.0
        return 2.0 * q - 1.0 - 2.0 * smoothed_train(q, inc, reference_step)
    if waveform == WAVE_SQUARE:
        steps = smoothed_train(p, inc, reference_step) - smoothed_train((p + 0.5) % 1.0, inc, reference_step)
        return np.where(p < 0.5, 1.0, -1.0) + 2.0 * steps
    q = (p + 0.25) % 1.0
    corners = smoothed_train(q, inc, reference_ramp) - smoothed_train((q + 0.5) % 1.0, inc, reference_ramp)
    return 1.0 - 4.0 * np.abs(q - 0.5) + 8.0 * inc * corners


def reference_envelope(
    n: int, attack: float, decay: float, sustain: float, release: float, release_at: int
) -> np.ndarray:
    """One-pole-to-target ADSR, stage by stage, as the kernel documents it (times in samples)."""

    def coef(samples: float, ratio: float) -> float:
        return 0.0 if samples < 1.0 else float(np.exp(-np.log((1.0 + ratio) / ratio) / samples))

    out = np.zeros(n)
    env = 0.0
    stage = "attack"
    for i in range(n):
        if i == release_at and stage != "idle":
            stage = "release"
        if stage == "attack":
            c = coef(attack, ATTACK_TARGET_RATIO)
            env = (1.0 + ATTACK_TARGET_RATIO) * (1.0 - c) + env * c
            out[i] = env
            if env >= 1.0:
                env, stage = 1.0, "decay"
        elif stage == "decay":
            c = coef(decay, DECAY_TARGET_RATIO)
            env = (sustain - DECAY_TARGET_RATIO) * (1.0 - c) + env * c
            out[i] = env
            if env <= sustain:
                stage = "sustain"
        elif stage == "sustain":
            c = coef(decay, DECAY_TARGET_RATIO)
            env = sustain * (1.0 - c) + env * c
            out[i] = env
        elif stage == "release":
            c = coef(release, DECAY_TARGET_RATIO)
            env = -DECAY_TARGET_RATIO * (1.0 - c) + env * c
            out[i] = env
            if env <= SILENCE_LEVEL:
                env, stage = 0.0, "idle"
    return out


def reference_lowpass(x: np.ndarray, cutoff_hz: float, resonance: float, rate: float) -> np.ndarray:
    """The analog 2-pole low-pass, prewarped at the cutoff and mapped by the bilinear transform."""
    wc = 2.0 * rate * np.tan(np.pi * cutoff_hz / rate)
    k = svf_k(resonance)
    b, a = signal.bilinear([wc * wc], [1.0, k * wc, wc * wc], fs=rate)
    return signal.lfilter(b, a, x)


# -- driving the kernel ---------------------------------------------------------------------------------
class Voices:
    """Voice state and scratch for ``render_voices``, with notes started by hand (no allocator).

    ``slots`` note slots of ``UNISON_MAX`` columns each; :meth:`start` sets up column ``v`` (slot ``v``,
    unison voice 0) like a note-on does.
    """

    DEFAULTS: ClassVar[dict[str, float]] = {
        "waveform": WAVE_SAW, "attack_ms": 5.0, "decay_ms": 100.0, "sustain": 0.5, "release_ms": 50.0,
        "cutoff_hz": 20000.0, "resonance": 0.0, "key_tracking": 0.0,
    }  # fmt: skip

    def __init__(self, slots: int) -> None:
        columns = UNISON_MAX * slots
        self.fst = np.zeros((NUM_F_ROWS, columns))
        self.ist = np.zeros((NUM_I_ROWS, columns), dtype=np.int64)
        self.work = np.zeros((NUM_W_ROWS, columns))
        self.tile = np.zeros(SUB_BLOCK * columns)
        self.slots = np.zeros((2, columns), dtype=np.int64)
        self.cache = np.full(NUM_CACHE, np.nan)
        self.glob = np.zeros(NUM_G_ROWS)
        self.glob[G_UNISON_USED] = UNISON_MAX

    def start(self, v: int, pitch: float, amp: float = 1.0) -> None:
        self.fst[:, v] = 0.0
        self.fst[F_PITCH, v] = pitch
        self.fst[F_AMP, v] = amp
        self.ist[I_STAGE, v] = STAGE_ATTACK
        self.ist[I_DIRTY, v] = 1

    def stereo(self, out: np.ndarray, start: int, stop: int, rate: float, **params: float) -> np.ndarray:
        """Render ``start..stop`` into a stereo copy of ``out`` (both rows ``out``) and return it; the
        grid starts at sample 0 of ``out``."""
        p = {name: default for name, _lo, _hi, default, _unit, _stepped in VOICE_PARAMS}
        p.update(self.DEFAULTS)
        p.update(params)
        values = np.array([p[spec[0]] for spec in VOICE_PARAMS])
        points = np.zeros((2, out.shape[0] // SUB_BLOCK + 16), dtype=np.int64)
        m = grid_points(True, 1, np.zeros(1, np.int64), np.zeros(1, np.int64),
                        np.array([out.shape[0]], np.int64), out.shape[0], points)  # fmt: skip
        first = int(np.searchsorted(points[0, :m], start))
        stereo = np.vstack([out, out]).astype(np.float64)
        render_voices(
            self.fst, self.ist, self.work, self.tile, self.slots, self.glob, self.cache, stereo, start, stop,
            rate, 120.0, values, np.zeros((NUM_PARAMS, points.shape[1])), np.zeros(NUM_PARAMS, np.bool_),
            points, m, first,
        )  # fmt: skip
        return stereo

    def render(self, out: np.ndarray, start: int, stop: int, rate: float, **params: float) -> int:
        """Render one centred (mono) span into ``out``; returns the number of columns still sounding."""
        stereo = self.stereo(out, start, stop, rate, **params)
        np.testing.assert_array_equal(stereo[0], stereo[1])
        out[:] = stereo[0]
        return int(np.count_nonzero(self.ist[I_STAGE]))


def a4_inc(rate: float) -> float:
    return 440.0 / rate


# -- oscillators ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("waveform", [WAVE_SAW, WAVE_SQUARE, WAVE_TRIANGLE, WAVE_SINE])
@pytest.mark.parametrize("freq_hz", [55.0, 440.0, 3520.0, 12000.0])
def test_oscillator_matches_numpy_reference(rate: float, waveform: int, freq_hz: float) -> None:
    inc = freq_hz / rate
    out = np.zeros(4096)
    render_oscillator(waveform, 0.0, inc, out)
    np.testing.assert_allclose(out, reference_oscillator(waveform, inc, out.shape[0]), atol=1e-8)


def test_oscillator_returns_phase_to_continue_from() -> None:
    inc = a4_inc(48000.0)
    whole = np.zeros(1000)
    render_oscillator(WAVE_SAW, 0.0, inc, whole)
    first, second = np.zeros(300), np.zeros(700)
    phase = render_oscillator(WAVE_SAW, 0.0, inc, first)
    render_oscillator(WAVE_SAW, phase, inc, second)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)


def inharmonic_db(x: np.ndarray, f0: float, rate: float) -> float:
    """Energy more than 20 Hz away from every harmonic of ``f0`` (and DC) over the total energy, in dB."""
    spectrum = np.abs(np.fft.rfft(x * signal.windows.blackmanharris(x.shape[0]))) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    distance = np.abs(freqs - f0 * np.round(freqs / f0))
    return float(10 * np.log10(spectrum[distance > 20.0].sum() / spectrum.sum()))


def alias_db(x: np.ndarray, f0: int) -> float:
    """Energy in FFT bins that are not harmonics of ``f0``, relative to the harmonics (``x`` is one second,
    so bins are 1 Hz apart and an integer ``f0`` is exactly periodic: no window needed)."""
    power = np.abs(np.fft.rfft(x)) ** 2
    k = np.arange(power.size)
    harmonic = (k % f0 == 0) & (k > 0)
    return float(10.0 * np.log10(power[~harmonic].sum() / power[harmonic].sum()))


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_voice_saw_at_5khz_has_at_least_30_db_less_aliasing_than_a_naive_saw(rate: int) -> None:
    inc = 5000.0 / rate
    saw = np.zeros(rate)
    render_oscillator(WAVE_SAW, 0.0, inc, saw)
    naive = 2.0 * ((reference_phases(inc, rate) + 0.5) % 1.0) - 1.0
    # measured at 48 kHz: naive -8.1 dB, the voices' B-spline BLEP -39.3 dB
    assert alias_db(naive, 5000) - alias_db(saw, 5000) >= 30.0


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("waveform", [WAVE_SAW, WAVE_SQUARE])
def test_band_limited_saw_and_square_alias_far_less_than_naive_ones(rate: float, waveform: int) -> None:
    f0 = 2489.0  # D#7: its aliases fall between harmonics
    inc = f0 / rate
    n = int(rate)
    blep = np.zeros(n)
    render_oscillator(waveform, 0.0, inc, blep)
    p = reference_phases(inc, n)
    naive = 2.0 * ((p + 0.5) % 1.0) - 1.0 if waveform == WAVE_SAW else np.where(p < 0.5, 1.0, -1.0)
    improvement_db = inharmonic_db(naive, f0, rate) - inharmonic_db(blep, f0, rate)
    assert improvement_db > 25.0  # measured: 30 to 39 dB (the 2-point PolyBLEP this replaced: 12 to 14)


@pytest.mark.parametrize("rate", RATES)
def test_band_limited_triangle_aliases_less_than_a_naive_triangle(rate: float) -> None:
    f0 = 2489.0
    inc = f0 / rate
    n = int(rate)
    blamp = np.zeros(n)
    render_oscillator(WAVE_TRIANGLE, 0.0, inc, blamp)
    naive = 1.0 - 4.0 * np.abs((reference_phases(inc, n) + 0.25) % 1.0 - 0.5)
    improvement_db = inharmonic_db(naive, f0, rate) - inharmonic_db(blamp, f0, rate)
    assert improvement_db > 20.0  # a triangle aliases little to begin with (harmonics fall 12 dB/octave)


# -- one voice against the reference chain --------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("waveform", [WAVE_SAW, WAVE_SINE])
@pytest.mark.parametrize(("cutoff_hz", "resonance"), [(800.0, 0.0), (3000.0, 0.8), (20000.0, 0.3)])
def test_one_voice_is_oscillator_into_lowpass_times_envelope(
    rate: float, waveform: int, cutoff_hz: float, resonance: float
) -> None:
    n, release_at = 8000, 5000
    # attack_ms 10.37: a fractional number of samples, so the end of the attack is no rounding tie
    params = {"waveform": waveform, "attack_ms": 10.37, "decay_ms": 30.0, "sustain": 0.6, "release_ms": 20.0,
              "cutoff_hz": cutoff_hz, "resonance": resonance}  # fmt: skip
    voices = Voices(4)
    voices.start(2, 69.0, amp=0.8)
    out = np.zeros(n)
    voices.render(out, 0, release_at, rate, **params)
    voices.ist[I_STAGE, 2] = STAGE_RELEASE
    voices.render(out, release_at, n, rate, **params)

    oscillator = reference_oscillator(waveform, a4_inc(rate), n)
    filtered = reference_lowpass(oscillator, min(cutoff_hz, 0.48 * rate), resonance, rate)
    ms = rate / 1000.0
    env = reference_envelope(n, 10.37 * ms, 30.0 * ms, 0.6, 20.0 * ms, release_at)
    np.testing.assert_allclose(out, 0.8 * filtered * env, atol=1e-8)


def test_voices_sum_to_the_sum_of_single_voices() -> None:
    rate, n = 48000.0, 3000
    pitches = [40.0, 52.5, 64.0, 71.0, 83.0]
    together = Voices(8)
    for v, pitch in enumerate(pitches):
        together.start(v + 1, pitch, amp=0.3 + 0.1 * v)
    mixed = np.zeros(n)
    together.render(mixed, 0, n, rate, cutoff_hz=2000.0, resonance=0.5)
    expected = np.zeros(n)
    for v, pitch in enumerate(pitches):
        alone = Voices(1)
        alone.start(0, pitch, amp=0.3 + 0.1 * v)
        one = np.zeros(n)
        alone.render(one, 0, n, rate, cutoff_hz=2000.0, resonance=0.5)
        expected += one
    np.testing.assert_allclose(mixed, expected, atol=1e-12)


@pytest.mark.parametrize("split", [1, 17, 480, 2999])
def test_rendering_in_spans_equals_one_span(split: int) -> None:
    rate, n = 48000.0, 3000
    whole, parts = Voices(4), Voices(4)
    for voices in (whole, parts):
        voices.start(0, 60.0)
        voices.start(3, 67.0, amp=0.5)
    a, b = np.zeros(n), np.zeros(n)
    whole.render(a, 0, n, rate, attack_ms=1.0, decay_ms=5.0)
    parts.render(b, 0, split, rate, attack_ms=1.0, decay_ms=5.0)
    parts.render(b, split, n, rate, attack_ms=1.0, decay_ms=5.0)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_only_the_rendered_span_is_written() -> None:
    voices = Voices(2)
    voices.start(0, 60.0)
    out = np.full(100, 7.0)
    voices.render(out, 10, 20, 48000.0)
    assert np.all(out[:10] == 7.0) and np.all(out[20:] == 7.0)
    assert np.all(out[10:20] != 7.0)


# -- envelope timing --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_attack_peaks_at_attack_time_then_decays_to_sustain(rate: float) -> None:
    attack = round(0.010 * rate)
    voices = Voices(1)
    voices.start(0, 60.0)
    out = np.zeros(int(rate))
    params = {"attack_ms": 10.0, "decay_ms": 50.0, "sustain": 0.4}
    voices.render(out, 0, attack - 2, rate, **params)
    assert voices.ist[I_STAGE, 0] == STAGE_ATTACK and 0.98 < voices.fst[F_ENV, 0] < 1.0
    voices.render(out, attack - 2, attack + 1, rate, **params)
    assert voices.ist[I_STAGE, 0] == STAGE_DECAY
    voices.render(out, attack + 1, attack + round(0.051 * rate), rate, **params)
    assert voices.ist[I_STAGE, 0] == STAGE_SUSTAIN
    assert voices.fst[F_ENV, 0] == pytest.approx(0.4, abs=1e-4)


@pytest.mark.parametrize("rate", RATES)
def test_release_frees_the_voice_within_release_time(rate: float) -> None:
    voices = Voices(1)
    voices.start(0, 60.0)
    out = np.zeros(int(rate))
    voices.render(out, 0, 1000, rate, attack_ms=1.0, sustain=1.0)
    voices.ist[I_STAGE, 0] = STAGE_RELEASE
    release = round(0.080 * rate)
    assert voices.render(out, 0, release // 2, rate, release_ms=80.0, sustain=1.0) == 1
    assert voices.render(out, release // 2, release + 1, rate, release_ms=80.0, sustain=1.0) == 0
    assert voices.ist[I_STAGE, 0] == STAGE_IDLE
    assert voices.render(out, 0, 100, rate) == 0
    assert not out[:100].any()


def test_zero_sustain_frees_the_voice_after_decay() -> None:
    voices = Voices(1)
    voices.start(0, 60.0)
    out = np.zeros(48000)
    assert voices.render(out, 0, 48000, 48000.0, attack_ms=1.0, decay_ms=100.0, sustain=0.0) == 0
    assert voices.ist[I_STAGE, 0] == STAGE_IDLE


def test_zero_attack_starts_at_full_level() -> None:
    voices = Voices(1)
    voices.start(0, 60.0)
    out = np.zeros(4)
    voices.render(out, 0, 1, 48000.0, attack_ms=0.0)
    assert voices.fst[F_ENV, 0] == 1.0 and voices.ist[I_STAGE, 0] == STAGE_DECAY


# -- filter -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_lowpass_attenuates_above_cutoff(rate: float) -> None:
    def level(pitch: float, cutoff_hz: float) -> float:
        voices = Voices(1)
        voices.start(0, pitch)
        out = np.zeros(int(rate // 2))
        voices.render(out, 0, out.shape[0], rate, waveform=WAVE_SINE, attack_ms=0.0, sustain=1.0,
                      cutoff_hz=cutoff_hz)  # fmt: skip
        return float(np.sqrt(np.mean(out[out.shape[0] // 2 :] ** 2)))

    assert level(57.0, 1000.0) == pytest.approx(level(57.0, 20000.0), rel=0.02)  # 220 Hz passes
    four_khz = 69.0 + 12.0 * np.log2(4000.0 / 440.0)
    assert 20 * np.log10(level(four_khz, 1000.0) / level(four_khz, 20000.0)) < -20.0  # 12 dB/octave


def test_key_tracking_moves_cutoff_with_the_note() -> None:
    voices = Voices(2)
    voices.start(0, 60.0)
    voices.start(1, 84.0)
    out = np.zeros(10)
    voices.render(out, 0, 10, 48000.0, cutoff_hz=1000.0, key_tracking=1.0)
    g = voices.fst[8]  # F_G
    assert g[0] == pytest.approx(np.tan(np.pi * 1000.0 / 48000.0))
    assert g[1] == pytest.approx(np.tan(np.pi * 4000.0 / 48000.0))


# -- output -----------------------------------------------------------------------------------------------
def test_write_stereo_applies_gain_to_both_channels() -> None:
    left = np.linspace(-1.0, 1.0, 64)
    buf = np.vstack([left, -0.5 * left])
    dst = np.zeros((2, 64), dtype=np.float32)
    write_stereo(buf, 64, np.full(64, -6.0), True, dst)
    np.testing.assert_allclose(dst[0], left * 10 ** (-6.0 / 20), rtol=1e-6)
    np.testing.assert_allclose(dst[1], -0.5 * left * 10 ** (-6.0 / 20), rtol=1e-6)
    ramp = np.linspace(-60.0, 0.0, 64)
    write_stereo(buf, 64, ramp, False, dst)
    np.testing.assert_allclose(dst[0], left * 10 ** (ramp / 20), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dst[1], -0.5 * left * 10 ** (ramp / 20), rtol=1e-6, atol=1e-9)


# -- pulse, LFO, noise, filter envelope, pan ------------------------------------------------------------
def reference_pulse(inc: float, n: int, pw: float) -> np.ndarray:
    p = reference_phases(inc, n)
    naive = np.where(p < pw, 1.0, -1.0)
    steps = smoothed_train(p, inc, reference_step) - smoothed_train((p + 1.0 - pw) % 1.0, inc, reference_step)
    return naive + 2.0 * steps - (2.0 * pw - 1.0)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("pulse_width", [0.1, 0.3, 0.5, 0.77])
@pytest.mark.parametrize("freq_hz", [55.0, 440.0, 3520.0])
def test_pulse_matches_numpy_reference_and_has_no_dc(rate: float, pulse_width: float, freq_hz: float) -> None:
    inc = freq_hz / rate
    out = np.zeros(4096)
    render_oscillator(WAVE_SQUARE, 0.0, inc, out, pulse_width)
    np.testing.assert_allclose(out, reference_pulse(inc, out.shape[0], pulse_width), atol=1e-8)
    cycles = int(out.shape[0] * inc)
    whole = out[: int(cycles / inc)]
    assert abs(whole.mean()) < 0.01


def test_lfo_shapes_match_their_closed_forms() -> None:
    phases = np.linspace(0.0, 3.0, 1201, endpoint=False) + 1e-7
    f = phases % 1.0
    expected = {
        0: np.sin(2 * np.pi * f),
        1: 1.0 - 4.0 * np.abs((f + 0.25) % 1.0 - 0.5),
        2: 2.0 * ((f + 0.5) % 1.0) - 1.0,
        3: np.where(f < 0.5, 1.0, -1.0),
    }
    for shape, want in expected.items():
        got = np.array([lfo_value(shape, ph, 1) for ph in phases])
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=f"shape {shape}")


def test_sample_and_hold_holds_one_random_value_per_cycle() -> None:
    def held(seed: int) -> np.ndarray:
        return np.array([[lfo_value(4, c + f, seed) for f in (0.0, 0.3, 0.99)] for c in range(2000)])

    a = held(7)
    assert np.all(a[:, 0] == a[:, 1]) and np.all(a[:, 0] == a[:, 2])  # constant within a cycle
    values = a[:, 0]
    assert np.all(np.abs(values) <= 1.0) and len(np.unique(values)) == values.shape[0]
    assert abs(values.mean()) < 0.05 and values.std() == pytest.approx(1 / np.sqrt(3), rel=0.05)
    np.testing.assert_array_equal(held(7), a)  # the same seed repeats, another does not
    assert not np.array_equal(held(8)[:, 0], values)


def test_noise_is_the_park_miller_generator_and_white() -> None:
    out = np.zeros(200000)
    render_noise(12345.0, out)
    state, expected = 12345, np.zeros(1000)
    for i in range(1000):
        state = 16807 * state % 2147483647
        expected[i] = state * 2.0 / 2147483647 - 1.0
    np.testing.assert_allclose(out[:1000], expected, atol=1e-15)
    assert abs(out.mean()) < 0.01 and out.std() == pytest.approx(1 / np.sqrt(3), rel=0.01)
    assert abs(np.corrcoef(out[:-1], out[1:])[0, 1]) < 0.01  # no correlation from sample to sample
    spectrum = np.abs(np.fft.rfft(out.reshape(100, 2000), axis=1)).mean(axis=0) ** 2
    thirds = [spectrum[1:333].mean(), spectrum[333:666].mean(), spectrum[666:].mean()]
    assert max(thirds) / min(thirds) < 1.1  # flat: as much energy low, middle and high


@pytest.mark.parametrize("rate", RATES)
def test_filter_envelope_is_the_amplitude_envelope_in_closed_form(rate: float) -> None:
    ms = rate / 1000.0
    attack, decay, sustain, release = 10.37, 30.0, 0.4, 20.0
    n, release_at = 4000, 3000
    ref = reference_envelope(n, attack * ms, decay * ms, sustain, release * ms, n + 1)
    got = np.array([filter_envelope_level(i + 1.0, False, 0.0, 0.0, attack, decay, sustain, release, rate)
                    for i in range(n)])  # fmt: skip
    peak = int(np.ceil(attack * ms))
    np.testing.assert_allclose(got[: peak - 1], ref[: peak - 1], atol=1e-12)  # the attack: the same curve
    # the discrete envelope starts its decay at the first whole sample after the attack time: within one
    # sample of the closed form
    step = np.abs(np.diff(ref)).max()
    np.testing.assert_allclose(got, ref, atol=step)
    # the release from the level reached: the same one-pole curve as the amplitude envelope
    level = got[release_at - 1]
    ages = release_at + np.arange(1, 2000.0)
    shape = (attack, decay, sustain, release, rate)
    rel = np.array([filter_envelope_level(age, True, float(release_at), level, *shape) for age in ages])
    c = np.exp(-np.log((1 + DECAY_TARGET_RATIO) / DECAY_TARGET_RATIO) / (release * ms))
    curve = -DECAY_TARGET_RATIO + (level + DECAY_TARGET_RATIO) * c ** np.arange(1, 2000)
    np.testing.assert_allclose(rel, np.where(curve > SILENCE_LEVEL, curve, 0.0), atol=1e-12)
    assert rel[-1] == 0.0


def test_pan_is_constant_power_and_unity_in_the_centre() -> None:
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))
    assert pan_gains(-1.0) == pytest.approx((np.sqrt(2.0), 0.0), abs=1e-12)
    assert pan_gains(1.0) == pytest.approx((0.0, np.sqrt(2.0)), abs=1e-12)
    for pan in np.linspace(-1, 1, 21):
        left, right = pan_gains(pan)
        assert left**2 + right**2 == pytest.approx(2.0)


def test_grid_points_follow_the_timeline_and_loop_wraps() -> None:
    points = np.zeros((2, 64), dtype=np.int64)
    m = grid_points(True, 1, np.array([100]), np.array([0]), np.array([200]), 200, points)
    assert points[0, :m].tolist() == [28, 60, 92, 124, 156, 188]  # timeline 128, 160, ...
    assert set(points[1, :m].tolist()) == {SUB_BLOCK}
    # a loop wrap after 50 samples back to timeline 1000: a point at the wrap, 24 samples to 1024
    m = grid_points(True, 2, np.array([100, 1000]), np.array([0, 50]), np.array([50, 150]), 200, points)
    assert points[0, :m].tolist() == [28, 50, 74, 106, 138, 170]
    assert points[1, :m].tolist() == [32, 24, 32, 32, 32, 32]
    m = grid_points(False, 1, np.array([100]), np.array([0]), np.array([70]), 70, points)
    assert points[0, :m].tolist() == [0, 32, 64]  # stopped: the block's own grid


# -- the modulated path ---------------------------------------------------------------------------------
def reference_filter(x: np.ndarray, cutoff_hz: float, resonance: float, rate: float, mode: int) -> np.ndarray:
    """The analog 2-pole SVF outputs (0 low, 1 high, 2 band), prewarped, by the bilinear transform."""
    wc = 2.0 * rate * np.tan(np.pi * min(cutoff_hz, 0.48 * rate) / rate)
    k = svf_k(resonance)
    numerator = {0: [wc * wc], 1: [1.0, 0.0, 0.0], 2: [wc, 0.0]}[mode]
    b, a = signal.bilinear(numerator, [1.0, k * wc, wc * wc], fs=rate)
    return signal.lfilter(b, a, x)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", [1, 2])
def test_highpass_and_bandpass_are_the_svf_outputs(rate: float, mode: int) -> None:
    n, release_at = 6000, 4000
    params = {"waveform": WAVE_SAW, "attack_ms": 3.0, "decay_ms": 30.0, "sustain": 0.6, "release_ms": 20.0,
              "cutoff_hz": 1500.0, "resonance": 0.5, "filter_mode": mode}  # fmt: skip
    voices = Voices(2)
    voices.start(1, 57.0, amp=0.7)
    out = np.zeros(n)
    voices.render(out, 0, release_at, rate, **params)
    voices.ist[I_STAGE, 1] = STAGE_RELEASE
    voices.render(out, release_at, n, rate, **params)
    ms = rate / 1000.0
    env = reference_envelope(n, 3.0 * ms, 30.0 * ms, 0.6, 20.0 * ms, release_at)
    osc = reference_oscillator(WAVE_SAW, 440.0 * 2 ** (-1) / rate, n)
    np.testing.assert_allclose(out, 0.7 * reference_filter(osc, 1500.0, 0.5, rate, mode) * env, atol=1e-8)


@pytest.mark.parametrize("rate", RATES)
def test_modulated_path_mixes_both_oscillators_sub_and_noise_into_the_filter(rate: float) -> None:
    n = 5000
    params = {"waveform": WAVE_SINE, "osc1_level": 0.6, "osc2_waveform": WAVE_SAW, "osc2_level": 0.3,
              "osc2_semitones": 7.0, "osc2_fine_cents": 3.0, "sub_level": 0.2, "noise_level": 0.1,
              "attack_ms": 2.37, "decay_ms": 40.0, "sustain": 0.5, "cutoff_hz": 3000.0,
              "resonance": 0.3}  # fmt: skip
    voices = Voices(1)
    voices.start(0, 60.0, amp=0.9)
    voices.fst[11, 0] = 4242.0  # F_NOISE: the generator's state
    out = np.zeros(n)
    for start in range(0, n, 700):  # spans split off the grid, as events split them
        voices.render(out, start, min(n, start + 700), rate, **params)
    inc1 = 440.0 * 2 ** (-9 / 12) / rate
    ratio = 2 ** ((7 + 0.03) / 12)
    noise = np.zeros(n)
    render_noise(4242.0, noise)
    x = (0.6 * reference_oscillator(WAVE_SINE, inc1, n)
         + 0.3 * reference_oscillator(WAVE_SAW, inc1 * ratio, n)
         + 0.2 * reference_oscillator(WAVE_SINE, inc1 / 2, n) + 0.1 * noise)  # fmt: skip
    ms = rate / 1000.0
    env = reference_envelope(n, 2.37 * ms, 40.0 * ms, 0.5, 50.0 * ms, n + 1)
    np.testing.assert_allclose(out, 0.9 * reference_lowpass(x, 3000.0, 0.3, rate) * env, atol=1e-8)


def test_modulated_path_without_modulation_sounds_like_the_static_path() -> None:
    rate, n = 48000.0, 6000
    pitches = [45.0, 52.0, 57.5, 64.0, 71.0]

    def chord(**params: float) -> np.ndarray:
        voices = Voices(8)
        for v, pitch in enumerate(pitches):
            voices.start(v, pitch, amp=0.2 + 0.1 * v)
        out = np.zeros(n)
        voices.render(out, 0, n, rate, waveform=WAVE_TRIANGLE, cutoff_hz=1800.0, resonance=0.7,
                      key_tracking=0.5, **params)  # fmt: skip
        return out

    static = chord()
    modulated = chord(lfo_to_amp=1e-300)  # a routing that changes nothing forces the modulated path
    assert np.abs(static).max() > 0.1
    np.testing.assert_allclose(modulated, static, atol=1e-9)


def test_a_unison_column_is_panned_by_its_position_and_the_spread() -> None:
    rate, n = 48000.0, 3000
    centred, panned = Voices(1), Voices(1)
    centred.start(0, 60.0)
    panned.start(0, 60.0)
    panned.fst[F_UPOS, 0] = -1.0
    mono = np.zeros(n)
    centred.render(mono, 0, n, rate, unison_spread=0.5)
    stereo = panned.stereo(np.zeros(n), 0, n, rate, unison_spread=0.5, unison_detune_cents=0.0)
    left, right = pan_gains(-0.5)
    np.testing.assert_allclose(stereo[0], left * mono, atol=1e-9)
    np.testing.assert_allclose(stereo[1], right * mono, atol=1e-9)
