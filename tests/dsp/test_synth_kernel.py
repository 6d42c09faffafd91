"""The synth kernels against slow, obvious numpy/scipy references and analytic checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp.kernels.synth import (
    ATTACK_TARGET_RATIO,
    DECAY_TARGET_RATIO,
    F_AMP,
    F_ENV,
    F_PITCH,
    I_DIRTY,
    I_STAGE,
    NUM_CACHE,
    NUM_F_ROWS,
    NUM_I_ROWS,
    NUM_W_ROWS,
    SILENCE_LEVEL,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TRIANGLE,
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


def reference_blep(t: np.ndarray, dt: float) -> np.ndarray:
    """Two-sample polynomial residual of a +2 step at t = 0 (Välimäki's PolyBLEP)."""
    after = t < dt
    before = t > 1.0 - dt
    x_after = t / dt
    x_before = (t - 1.0) / dt
    return np.where(after, -((1.0 - x_after) ** 2), np.where(before, (x_before + 1.0) ** 2, 0.0))


def reference_blamp(t: np.ndarray, dt: float) -> np.ndarray:
    """Integral of half the PolyBLEP residual: the residual of a unit slope change."""
    x_after = 1.0 - t / dt
    x_before = (t - 1.0) / dt + 1.0
    return np.where(t < dt, x_after**3 / 6.0, np.where(t > 1.0 - dt, x_before**3 / 6.0, 0.0))


def reference_oscillator(waveform: int, inc: float, n: int) -> np.ndarray:
    p = reference_phases(inc, n)
    if waveform == WAVE_SINE:
        return np.sin(2.0 * np.pi * p)
    if waveform == WAVE_SAW:
        q = (p + 0.5) % 1.0
        return 2.0 * q - 1.0 - reference_blep(q, inc)
    if waveform == WAVE_SQUARE:
        return np.where(p < 0.5, 1.0, -1.0) + reference_blep(p, inc) - reference_blep((p + 0.5) % 1.0, inc)
    q = (p + 0.25) % 1.0
    corners = reference_blamp(q, inc) - reference_blamp((q + 0.5) % 1.0, inc)
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
    """Voice state and scratch for ``render_voices``, with notes started by hand (no allocator)."""

    def __init__(self, slots: int) -> None:
        self.fst = np.zeros((NUM_F_ROWS, slots))
        self.ist = np.zeros((NUM_I_ROWS, slots), dtype=np.int64)
        self.work = np.zeros((NUM_W_ROWS, slots))
        self.slots = np.zeros((2, slots), dtype=np.int64)
        self.cache = np.full(NUM_CACHE, np.nan)

    def start(self, v: int, pitch: float, amp: float = 1.0) -> None:
        self.fst[:, v] = 0.0
        self.fst[F_PITCH, v] = pitch
        self.fst[F_AMP, v] = amp
        self.ist[I_STAGE, v] = STAGE_ATTACK
        self.ist[I_DIRTY, v] = 1

    def render(self, out: np.ndarray, start: int, stop: int, rate: float, **params: float) -> int:
        p = {
            "waveform": WAVE_SAW,
            "attack_ms": 5.0,
            "decay_ms": 100.0,
            "sustain": 0.5,
            "release_ms": 50.0,
            "cutoff_hz": 20000.0,
            "resonance": 0.0,
            "key_tracking": 0.0,
        }
        p.update(params)
        return render_voices(
            self.fst, self.ist, self.work, self.slots, self.cache, out, start, stop, int(p["waveform"]),
            rate, p["attack_ms"], p["decay_ms"], p["sustain"], p["release_ms"], p["cutoff_hz"],
            p["resonance"], p["key_tracking"],
        )  # fmt: skip


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


@pytest.mark.parametrize("rate", RATES)
def test_polyblep_saw_aliases_far_less_than_a_naive_saw(rate: float) -> None:
    f0 = 2489.0  # D#7: its aliases fall between harmonics
    inc = f0 / rate
    n = int(rate)
    blep = np.zeros(n)
    render_oscillator(WAVE_SAW, 0.0, inc, blep)
    naive = 2.0 * ((reference_phases(inc, n) + 0.5) % 1.0) - 1.0
    improvement_db = inharmonic_db(naive, f0, rate) - inharmonic_db(blep, f0, rate)
    assert improvement_db > 12.0


@pytest.mark.parametrize("rate", RATES)
def test_polyblamp_triangle_aliases_less_than_a_naive_triangle(rate: float) -> None:
    f0 = 2489.0
    inc = f0 / rate
    n = int(rate)
    blamp = np.zeros(n)
    render_oscillator(WAVE_TRIANGLE, 0.0, inc, blamp)
    naive = 1.0 - 4.0 * np.abs((reference_phases(inc, n) + 0.25) % 1.0 - 0.5)
    improvement_db = inharmonic_db(naive, f0, rate) - inharmonic_db(blamp, f0, rate)
    assert improvement_db > 8.0  # a triangle aliases little to begin with (harmonics fall 12 dB/octave)


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
    mono = np.linspace(-1.0, 1.0, 64)
    dst = np.zeros((2, 64), dtype=np.float32)
    write_stereo(mono, 64, np.full(64, -6.0), True, dst)
    np.testing.assert_allclose(dst[0], mono * 10 ** (-6.0 / 20), rtol=1e-6)
    np.testing.assert_array_equal(dst[0], dst[1])
    ramp = np.linspace(-60.0, 0.0, 64)
    write_stereo(mono, 64, ramp, False, dst)
    np.testing.assert_allclose(dst[1], mono * 10 ** (ramp / 20), rtol=1e-6, atol=1e-9)
