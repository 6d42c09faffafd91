"""The FDN reverb: its kernel against a plain numpy loop, and the Reverb processor against what a reverb
promises: measured RT60 = decay_s, the tail starting on the predelay's last sample, frequency-dependent
decay, stability at the longest decay, a true-silence ending, decorrelated sides, and the contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg, signal

from dsp.kernels.delay import new_line
from dsp.kernels.reverb import (
    CHUNK,
    DIFFUSION,
    LEVEL_REF_S,
    LINE_MS,
    MIN_SCALE,
    NUM_DIFFUSERS,
    NUM_LINES,
    NUM_R_CONTROLS,
    NUM_WORK_ROWS,
    R_DAMPING_HZ,
    R_DECAY_S,
    R_MIX,
    R_PREDELAY_MS,
    R_SIZE,
    R_WIDTH,
    SIZE_STEPS,
    fdn_reverb,
    hadamard,
    line_lengths,
    new_int_state,
    new_network,
)
from dsp.reverb import Reverb
from tests.helpers import run_effect

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]
BLOCK = 4096  # unless a test names its own block size


# -- slow references ------------------------------------------------------------------------------------
def reference_diffusers(x: np.ndarray, diff_len: np.ndarray) -> np.ndarray:
    """Each channel through its Schroeder all-passes ``(-g + z^-M) / (1 - g z^-M)``, by scipy."""
    out = np.array(x, dtype=np.float64)
    for c in range(x.shape[0]):
        for m in diff_len[c]:
            b = np.zeros(m + 1)
            a = np.zeros(m + 1)
            b[0], b[m], a[0], a[m] = -DIFFUSION, 1.0, 1.0, -DIFFUSION
            out[c] = signal.lfilter(b, a, out[c])
    return out


def reference_fdn(x, lengths, diff_len, decay_s, damping_hz, predelay, in_gain, out_gain, width, mix, rate):
    """The network written out plainly: a history per line, the Hadamard matrix as a matrix."""
    chans, n = x.shape
    diffused = reference_diffusers(x, diff_len)
    mixing = linalg.hadamard(NUM_LINES) / 4.0
    g = 10.0 ** (-3.0 * lengths / (rate * decay_s))
    p = math.exp(-2 * math.pi * damping_hz / rate)
    level = math.sqrt(np.mean(lengths) / (LEVEL_REF_S * rate))
    written = np.zeros((n, NUM_LINES))
    lp = np.zeros(NUM_LINES)
    out = np.zeros((chans, n))
    for i in range(n):
        s = np.array([written[i - L, k] if i >= L else 0.0 for k, L in enumerate(lengths.astype(int))])
        lp = (1 - p) * g * (mixing @ s) + p * lp
        xin = diffused[:, i - predelay] if i >= predelay else np.zeros(chans)
        written[i] = lp + in_gain.T @ xin
        y = out_gain @ written[i] * level
        mid, side = 0.5 * (y[0] + y[1]), 0.5 * width * (y[0] - y[1])
        out[:, i] = (1 - mix) * x[:, i] + mix * np.array([mid + side, mid - side])
    return out


def rt60(h: np.ndarray, rate: float) -> float:
    """Reverb time from Schroeder's backward integral of the energy, a line fitted from -5 to -35 dB."""
    energy = np.cumsum((h.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-300)
    start, stop = int(np.argmax(edc <= -5.0)), int(np.argmax(edc <= -35.0))
    slope = np.polyfit(np.arange(start, stop) / rate, edc[start:stop], 1)[0]
    return -60.0 / slope


def octave_rt60(h: np.ndarray, rate: float, centre_hz: float) -> float:
    sos = signal.butter(
        4, [centre_hz / math.sqrt(2), centre_hz * math.sqrt(2)], "bandpass", fs=rate, output="sos"
    )
    return rt60(signal.sosfilt(sos, h.astype(np.float64)), rate)


# -- helpers for the processor --------------------------------------------------------------------------
def make(**params: float) -> Reverb:
    proc = Reverb()
    for name, value in params.items():
        proc.param(name).set(value)
    return proc


def impulse_response(rate: float, seconds: float, channels: int = 2, **params: float) -> np.ndarray:
    """The wet response to a unit impulse on every input channel."""
    x = np.zeros((channels, int(seconds * rate)), np.float32)
    x[:, 0] = 1.0
    proc = Reverb(channels)
    for name, value in {"mix": 1.0, "predelay_ms": 0.0, **params}.items():
        proc.param(name).set(value)
    return run_effect(proc, x, rate, BLOCK)


def noisy_tone(frames: int, rate: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    x = 0.3 * rng.standard_normal((2, frames)) + 0.5 * np.sin(2 * np.pi * 330 * t)
    x[:, frames // 3 : frames // 3 + 2000] = 0.0
    return x.astype(np.float32)


# -- kernel ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_line_lengths_are_distinct_primes_just_above_the_scaled_lengths(rate):
    table = line_lengths(rate)
    assert table.shape == (SIZE_STEPS + 1, NUM_LINES)
    for r in range(0, SIZE_STEPS + 1, 8):
        row = table[r].astype(np.int64)
        assert len(set(row.tolist())) == NUM_LINES
        assert all(all(int(v) % d for d in range(2, math.isqrt(int(v)) + 1)) for v in row)
        assert all(math.gcd(int(a), int(b)) == 1 for i, a in enumerate(row) for b in row[i + 1 :])
        want = LINE_MS * (MIN_SCALE + (1 - MIN_SCALE) * r / SIZE_STEPS) * 1e-3 * rate
        assert np.all(row >= want)
        assert np.all(row <= want * 1.05 + 20)  # the next prime up, or the one after when that is taken


def test_hadamard_is_the_orthonormal_hadamard_matrix():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(NUM_LINES)
    want = linalg.hadamard(NUM_LINES) @ v / 4.0
    hadamard(v)
    np.testing.assert_allclose(v, want, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(v), np.linalg.norm(want))


@pytest.mark.parametrize(("damping_hz", "width", "predelay"), [(3000.0, 1.0, 0), (900.0, 0.4, 37)])
def test_fdn_kernel_matches_a_plain_loop(damping_hz, width, predelay):
    rate, n = 8000.0, 3000
    lengths = np.array([11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71], dtype=np.float64)
    rng = np.random.default_rng(2)
    x = np.zeros((2, n))
    x[:, :200] = rng.standard_normal((2, 200))
    in_gain = rng.standard_normal((2, NUM_LINES)) * 0.3
    out_gain = rng.standard_normal((2, NUM_LINES)) * 0.3
    table = np.tile(lengths, (SIZE_STEPS + 1, 1))
    diff_len = np.array([[3, 5, 7, 11], [2, 4, 9, 13]], dtype=np.int64)
    ctl = np.zeros((NUM_R_CONTROLS, n))
    ctl[R_PREDELAY_MS], ctl[R_DECAY_S], ctl[R_DAMPING_HZ] = predelay * 1e3 / rate, 0.7, damping_hz
    ctl[R_SIZE], ctl[R_WIDTH], ctl[R_MIX] = 0.5, width, 0.8
    want = reference_fdn(x, lengths, diff_len, 0.7, damping_hz, predelay, in_gain, out_gain, width, 0.8, rate)
    for still in (False, True):  # scanning the controls or told they are still: the same output
        lines, pre = new_line(NUM_LINES, 100.0), new_line(2, 100.0)
        diff = new_line(2 * NUM_DIFFUSERS, 13.0)
        net, ist = new_network(in_gain, out_gain, table, rate, 0.01), new_int_state(diff_len)
        work = np.zeros((NUM_WORK_ROWS, CHUNK))
        out = np.zeros_like(x)
        for a, b in ((0, 1111), (1111, n)):
            step = np.ascontiguousarray(ctl[:, a:b])
            fdn_reverb(x[:, a:b], out[:, a:b], lines, pre, diff, net, ist, work, step, still, b - a)
        np.testing.assert_allclose(out, want, atol=1e-12)


# -- the processor: decay -------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("decay_s", "size"), [(0.5, 0.0), (1.0, 0.5), (2.5, 1.0), (6.0, 0.3)])
def test_measured_rt60_is_decay_s(rate, decay_s, size):
    h = impulse_response(rate, 0.8 * decay_s + 0.3, decay_s=decay_s, size=size, damping_hz=20000.0)
    for c in range(2):
        assert rt60(h[c], rate) == pytest.approx(decay_s, rel=0.02)


@pytest.mark.parametrize("rate", [44100, 96000])
def test_without_damping_every_band_decays_alike(rate):
    h = impulse_response(rate, 2.0, decay_s=2.0, size=0.5, damping_hz=20000.0)[0]
    for centre in (250.0, 1000.0, 4000.0):
        assert octave_rt60(h, rate, centre) == pytest.approx(2.0, rel=0.05), f"{centre} Hz"


@pytest.mark.parametrize("rate", [44100, 96000])
def test_damping_makes_highs_die_sooner_by_the_one_pole_per_pass(rate):
    decay_s, damping_hz = 2.0, 1500.0
    h = impulse_response(rate, 2.0, decay_s=decay_s, size=0.5, damping_hz=damping_hz)[0]
    mean_length = float(np.mean(line_lengths(rate)[SIZE_STEPS // 2]))
    p = math.exp(-2 * math.pi * damping_hz / rate)
    measured, predicted = [], []
    for centre in (250.0, 1000.0, 4000.0):
        # each pass through a line takes -20 log10 |H(f)| dB more, and a second has sr / mean length passes
        w = 2 * math.pi * centre / rate
        loss_db = -20 * math.log10((1 - p) / abs(1 - p * np.exp(-1j * w)))
        predicted.append(60.0 / (60.0 / decay_s + loss_db * rate / mean_length))
        measured.append(octave_rt60(h, rate, centre))
    assert measured[0] == pytest.approx(predicted[0], rel=0.05)
    # an octave band's tail is ruled by its slower-decaying low edge: a little longer than at its centre
    for m, want in zip(measured[1:], predicted[1:], strict=True):
        assert want <= m <= 1.35 * want
    assert measured[0] > 2 * measured[1] > 4 * measured[2]


def test_the_longest_decay_is_stable_and_falls_60_db_in_decay_s():
    rate = 48000
    x = np.zeros((2, 12 * rate), np.float32)
    x[:, :rate] = np.random.default_rng(3).standard_normal((2, rate))
    proc = make(decay_s=30.0, damping_hz=20000.0, mix=1.0, size=1.0)
    out = run_effect(proc, x, rate, BLOCK).astype(np.float64)
    levels = 10 * np.log10(np.mean(out.reshape(2, 12, rate) ** 2, axis=(0, 2)))
    falls = np.diff(levels[2:])
    assert np.all(falls < 0)
    assert np.mean(falls) == pytest.approx(-60.0 / 30.0, rel=0.05)


@pytest.mark.parametrize("rate", RATES)
def test_silence_in_gives_a_decaying_tail_then_true_silence(rate):
    assert np.max(np.abs(run_effect(make(), np.zeros((2, rate), np.float32), rate, BLOCK))) == 0.0
    x = np.zeros((2, 4 * rate), np.float32)
    x[:, :1000] = np.random.default_rng(4).standard_normal((2, 1000))
    out = run_effect(make(decay_s=0.3, mix=1.0), x, rate, BLOCK)
    assert np.max(np.abs(out[:, rate // 5 : rate // 2])) > 1e-4  # a tail
    assert np.max(np.abs(out[:, 3 * rate :])) == 0.0  # 300 dB down after 1.5 s, flushed to zero


# -- the processor: timing, stereo, size ---------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("predelay_ms", [0.0, 10.0, 123.4, 500.0])
def test_the_impulse_response_starts_exactly_after_the_predelay(rate, predelay_ms):
    h = impulse_response(rate, 0.7, predelay_ms=predelay_ms)
    start = round(predelay_ms * rate / 1000)
    for c in range(2):
        assert np.all(h[c, :start] == 0.0)
        assert h[c, start] != 0.0


def test_the_onset_is_a_diffused_burst_not_a_click():
    rate = 48000
    h = impulse_response(rate, 0.1, decay_s=1.0, size=1.0).astype(np.float64)
    onset = h[:, : int(0.02 * rate)] ** 2  # before the first line comes back (23 ms at size 1)
    assert np.max(onset) < 0.1 * np.sum(onset) / 2


def test_the_sides_of_the_tail_are_decorrelated_and_width_0_makes_them_one():
    rate = 48000
    h = impulse_response(rate, 2.0, decay_s=2.0, size=0.6).astype(np.float64)
    assert abs(np.corrcoef(h[0], h[1])[0, 1]) < 0.05
    tail = slice(rate // 10, None)
    assert abs(np.corrcoef(h[0, tail], h[1, tail])[0, 1]) < 0.05
    mono = impulse_response(rate, 0.5, width=0.0)
    np.testing.assert_array_equal(mono[0], mono[1])


def test_size_changes_the_character_not_the_loudness():
    rate = 48000
    energies = [
        np.sum(impulse_response(rate, 4.0, size=s, damping_hz=20000.0).astype(np.float64) ** 2)
        for s in (0.0, 0.5, 1.0)
    ]
    db = 10 * np.log10(np.array(energies) / energies[1])
    assert np.all(np.abs(db) < 1.0)


def test_a_size_change_glides_the_lines_to_the_new_primes():
    rate = 48000
    proc = make(size=0.2)
    run_effect(proc, noisy_tone(2 * rate, rate), rate, BLOCK, automation={"size": [(0.0, 0.2), (0.5, 0.9)]})
    table = line_lengths(rate)
    np.testing.assert_array_equal(proc.line_lengths, table[round(0.9 * SIZE_STEPS)])


def test_a_mono_reverb_reverberates_its_one_channel():
    h = impulse_response(48000, 1.0, channels=1, decay_s=0.5)
    assert h.shape == (1, 48000)
    assert h[0, 0] != 0.0
    assert np.sum(h[0, 24000:] ** 2) > 0.0


# -- the processor contract ------------------------------------------------------------------------------
AUTOMATION = {
    "predelay_ms": [(0.0, 0.0), (1.0, 80.0), (2.0, 3.0)],
    "decay_s": [(0.0, 0.1), (1.0, 30.0)],
    "damping_hz": [(0.0, 20000.0), (1.0, 500.0)],
    "size": [(0.0, 1.0), (1.0, 0.0)],
    "width": [(0.0, 0.0), (1.0, 1.0)],
    "mix": [(0.0, 1.0), (1.0, 0.3)],
}


def test_output_does_not_depend_on_the_block_size_with_automation():
    rate = 48000
    x = noisy_tone(60000, rate)
    ref = run_effect(Reverb(), x, rate, 32, automation=AUTOMATION)
    for block in BLOCK_SIZES[1:]:
        out = run_effect(Reverb(), x, rate, block, automation=AUTOMATION)
        assert np.max(np.abs(out - ref)) <= 1e-6, f"block {block}"


def test_in_place_processing_gives_the_same_output():
    x = noisy_tone(20000, 48000)
    np.testing.assert_array_equal(
        run_effect(Reverb(), x, 48000, 500), run_effect(Reverb(), x, 48000, 500, in_place=True)
    )


def test_reset_gives_identical_output_twice():
    proc = Reverb()
    x = noisy_tone(30000, 48000)
    first = run_effect(proc, x, 48000, BLOCK)
    proc.reset()
    np.testing.assert_array_equal(first, run_effect(proc, x, 48000, BLOCK, prepare=False))


@pytest.mark.parametrize("rate", RATES)
def test_no_nan_or_inf_at_parameter_extremes(rate):
    rng = np.random.default_rng(5)
    x = 8.0 * noisy_tone(30000, rate)
    for trial in range(6):
        proc = Reverb()
        for p in proc.params.values():
            pick = (
                (p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value)
            )
            p.set(pick)
        out = run_effect(proc, x, rate, 512)
        assert np.all(np.isfinite(out)), f"trial {trial}"
        assert np.max(np.abs(out)) < 1e3


def test_out_of_range_values_are_refused_with_the_range():
    proc = Reverb()
    for p in proc.params.values():
        span = p.max_value - p.min_value
        before = p.value
        for bad in (p.max_value + span, p.min_value - span, float("nan")):
            with pytest.raises(ValueError, match=f"{p.name} must be in {p.min_value:g}..{p.max_value:g}"):
                p.set(bad)
        assert p.value == before
    with pytest.raises(ValueError, match="channels must be 1 or 2"):
        Reverb(channels=4)
