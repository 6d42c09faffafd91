"""The sampler plays regions as a musician expects: pitch, onsets, loops, envelopes, choke, pedal, layers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import EventBuffer
from engine.processor import BlockContext
from instruments.sampler.model import (
    LOOP_CONTINUOUS,
    LOOP_SUSTAIN,
    ONE_SHOT,
    TRIGGER_RELEASE,
    Bank,
    Preset,
    Region,
    Sample,
)
from instruments.sampler.sampler import Sampler

SR = 48000
NOTE_ON, NOTE_OFF, CC, BEND = 0x90, 0x80, 0xB0, 0xE0


def make_bank(
    samples: list[np.ndarray],
    regions: list[Region],
    rates: list[float] | None = None,
    roots: list[int] | None = None,
    loops: list[tuple[int, int] | None] | None = None,
) -> Bank:
    """A bank in memory: float32 samples end to end in the pool, one preset of ``regions``."""
    pool_parts, meta, pos = [], [], 0
    for k, data in enumerate(samples):
        data = np.asarray(data, dtype=np.float32)
        loop = (loops or [None] * len(samples))[k]
        ls, le = (pos + loop[0], pos + loop[1]) if loop else (pos, pos)
        rate = (rates or [SR] * len(samples))[k]
        root = (roots or [60] * len(samples))[k]
        meta.append(Sample(f"s{k}", pos, pos + len(data), ls, le, rate, root_key=root))
        pool_parts.append(data)
        pos += len(data)
    return Bank("memory", "sfz", np.concatenate(pool_parts), meta, [Preset("test", 0, 0, regions)])


def play(
    sampler: Sampler, events: list[tuple[int, int, int, int]], frames: int, block: int = 256
) -> np.ndarray:
    """Render ``frames`` samples; events are (sample, status, data1, data2) on the timeline."""
    sampler.prepare(SR, block)
    ctx = BlockContext(SR)
    ev = EventBuffer(256)
    out = np.zeros((2, frames), dtype=np.float32)
    events = sorted(events, key=lambda e: e[0])
    k = 0
    for start in range(0, frames, block):
        n = min(block, frames - start)
        ev.clear()
        while k < len(events) and events[k][0] < start + n:
            t, status, d1, d2 = events[k]
            ev.push(t - start, status, d1, d2)
            k += 1
        ctx.set_single_segment(n, start, True)
        buf = np.zeros((2, n), dtype=np.float32)
        sampler.process(ctx, [], [buf], [ev], [])
        out[:, start : start + n] = buf
    return out


def peak_hz(x: np.ndarray) -> float:
    """Frequency of the strongest FFT bin, refined by a parabola through the log magnitudes."""
    w = x * np.hanning(len(x))
    spec = np.abs(np.fft.rfft(w, 4 * len(x))) + 1e-12
    i = int(np.argmax(spec))
    a, b, c = np.log(spec[i - 1 : i + 2])
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (i + delta) * SR / (4 * len(x))


def sine_loop(period: int, periods: int) -> np.ndarray:
    return np.sin(2 * np.pi * np.arange(period * periods) / period).astype(np.float32)


def cents(a: float, b: float) -> float:
    return 1200 * np.log2(a / b)


@pytest.mark.parametrize("note", [45, 60, 67, 72])
def test_a_looped_sine_plays_at_its_pitch_within_a_cent(note):
    period = 100  # 441 Hz at 44.1 kHz
    bank = make_bank(
        [sine_loop(period, 20)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, pitch_keycenter=69)],
        rates=[44100.0],
        loops=[(0, 2000)],
    )
    out = play(Sampler(bank), [(0, NOTE_ON, note, 100)], SR)
    expected = 441.0 * 2 ** ((note - 69) / 12)
    assert abs(cents(peak_hz(out[0, 4800:]), expected)) < 1.0


@pytest.mark.parametrize("interpolation", ["linear", "cubic", "sinc"])
def test_every_interpolation_keeps_the_pitch(interpolation):
    bank = make_bank(
        [sine_loop(64, 32)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, pitch_keycenter=60)],
        rates=[44100.0],
        loops=[(0, 2048)],
    )
    out = play(Sampler(bank, interpolation=interpolation), [(0, NOTE_ON, 63, 100)], SR // 2)
    expected = 44100 / 64 * 2 ** (3 / 12)
    assert abs(cents(peak_hz(out[0, 2400:]), expected)) < 1.0


def test_sinc_interpolation_is_closer_to_the_true_signal_than_cubic():
    # a sine at a fifth of the sample rate, read 3 semitones up: the exact answer is known in closed form
    period = 5.0
    n = 20000
    data = np.sin(2 * np.pi * np.arange(n) / period).astype(np.float32)
    bank = make_bank([data], [Region(0, pitch_keycenter=60, amp_veltrack=0.0)], rates=[SR])
    ratio = 2 ** (1 / 12)
    errors = {}
    for interp in ("cubic", "sinc"):
        out = play(Sampler(bank, interpolation=interp), [(0, NOTE_ON, 61, 127)], 8000)[0]
        gain = np.abs(out[1000:7000]).max()
        t = np.arange(1000, 7000) * ratio
        ideal = np.sin(2 * np.pi * t / period) * gain
        errors[interp] = np.sqrt(np.mean((out[1000:7000] - ideal) ** 2)) / gain
    assert errors["sinc"] < errors["cubic"] / 3


@pytest.mark.parametrize("offset", [0, 1, 77, 255])
def test_a_note_starts_on_its_sample(offset):
    data = np.ones(4000, dtype=np.float32)  # full level from the first frame
    bank = make_bank([data], [Region(0, pitch_keycenter=60)])
    out = play(Sampler(bank), [(256 + offset, NOTE_ON, 60, 127)], 1024)
    first = int(np.flatnonzero(np.abs(out[0]) > 0)[0])
    assert first == 256 + offset
    assert out[0, first] > 0.5 * out[0].max()  # no fade-in: the attack is instant


def test_the_output_does_not_depend_on_the_block_size():
    data = np.random.default_rng(3).standard_normal(30000).astype(np.float32) * 0.3
    reg = Region(
        0,
        pitch_keycenter=60,
        amp_attack_s=0.01,
        amp_release_s=0.05,
        mod_attack_s=0.02,
        mod_decay_s=0.1,
        mod_sustain=0.3,
        mod_to_pitch_cents=200,
        filter_type=2,
        cutoff_hz=3000,
        mod_to_filter_cents=1200,
        vib_freq_hz=6.0,
        vib_to_pitch_cents=30,
    )
    bank = make_bank([data], [reg])
    events = [(100, NOTE_ON, 62, 90), (5000, CC, 7, 80), (6001, BEND, 0, 90), (9000, NOTE_OFF, 62, 0)]
    a = play(Sampler(bank), events, 16000, block=64)
    b = play(Sampler(bank), events, 16000, block=1000)
    np.testing.assert_array_equal(a, b)


def test_a_loop_is_seamless_at_its_loop_points():
    # at the recorded rate and pitch, a looped note is the loop repeated exactly, sample for sample
    period = 50
    data = np.concatenate([np.zeros(10), sine_loop(period, 4)]).astype(np.float32)
    bank = make_bank(
        [data],
        [Region(0, loop_mode=LOOP_CONTINUOUS, pitch_keycenter=60, amp_veltrack=0)],
        loops=[(10, 10 + 4 * period)],
    )
    out = play(Sampler(bank), [(0, NOTE_ON, 60, 127)], 5000)[0]
    gain = out[10 + period // 4] / data[10 + period // 4]
    expected = np.concatenate([data[:10], np.tile(data[10:], 25)])[:5000] * gain
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # transposed, the wrap leaves no step: the biggest sample-to-sample move is the sine's own
    out = play(Sampler(bank), [(0, NOTE_ON, 65, 127)], 20000)[0]
    steady = out[2000:]
    slope = 2 * np.pi / period * 2 ** (5 / 12) * np.abs(steady).max()
    assert np.abs(np.diff(steady)).max() < slope * 1.02


def test_loop_sustain_stops_looping_when_released():
    data = np.concatenate([sine_loop(50, 10), np.zeros(0)]).astype(np.float32)
    reg = Region(0, loop_mode=LOOP_SUSTAIN, pitch_keycenter=60, amp_release_s=5.0)
    bank = make_bank([data], [reg], loops=[(0, 100)])
    out = play(Sampler(bank), [(0, NOTE_ON, 60, 127), (2000, NOTE_OFF, 60, 0)], 6000)[0]
    assert np.abs(out[1500:2000]).max() > 0.1  # looping beyond the sample's 500 frames while held
    # released, it plays on from the loop to the sample's end (at most 500 frames), then stops
    assert np.abs(out[2000 + 500 :]).max() == 0.0


@pytest.mark.parametrize("release_s", [0.1, 0.4])
def test_release_falls_with_the_envelope_time(release_s):
    bank = make_bank(
        [np.ones(100, np.float32)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, amp_release_s=release_s)],
        loops=[(0, 100)],
    )
    off = 4800
    out = play(
        Sampler(bank), [(0, NOTE_ON, 60, 127), (off, NOTE_OFF, 60, 0)], off + int(SR * release_s) + 4800
    )[0]
    held = out[off - 1]
    half = out[off + int(SR * release_s / 2)]
    assert 20 * np.log10(half / held) == pytest.approx(-50.0, abs=0.5)  # 100 dB over the release time
    assert np.abs(out[off + int(SR * release_s) + 10 :]).max() == 0.0  # then the voice is done


def test_round_robin_cycles_through_its_regions():
    levels = [0.2, 0.5, 0.8]
    samples = [np.full(2000, lv, np.float32) for lv in levels]
    regions = [Region(k, seq_length=3, seq_position=k + 1, amp_veltrack=0) for k in range(3)]
    bank = make_bank(samples, regions)
    events = []
    for i in range(6):
        events += [(i * 4000, NOTE_ON, 60, 100), (i * 4000 + 3000, NOTE_OFF, 60, 0)]
    out = play(Sampler(bank), events, 24000)[0]
    heard = [out[i * 4000 + 500] for i in range(6)]
    ratios = np.array(heard) / heard[0]
    np.testing.assert_allclose(ratios, [1, 2.5, 4, 1, 2.5, 4], rtol=1e-4)


def test_random_ranges_pick_exactly_one_region_per_note():
    samples = [np.full(1000, 0.25, np.float32), np.full(1000, 0.75, np.float32)]
    regions = [
        Region(0, lorand=0.0, hirand=0.5, amp_veltrack=0),
        Region(1, lorand=0.5, hirand=1.0, amp_veltrack=0),
    ]
    bank = make_bank(samples, regions)
    events = [(i * 2000, NOTE_ON, 60, 100) for i in range(40)]
    out = play(Sampler(bank), events, 80000)[0]
    heard = np.array([out[i * 2000 + 100] for i in range(40)])
    low, high = heard.min(), heard.max()
    assert high / low == pytest.approx(3.0, rel=1e-4)  # both regions sound, never both at once
    assert np.all(np.isclose(heard, low) | np.isclose(heard, high))


def test_a_choke_group_cuts_the_ringing_voice_within_five_ms():
    open_hat = np.full(48000, 0.5, np.float32)
    closed = np.full(2000, 0.001, np.float32)
    regions = [
        Region(0, lokey=46, hikey=46, loop_mode=ONE_SHOT, group=1, off_by=1, amp_veltrack=0),
        Region(1, lokey=42, hikey=42, loop_mode=ONE_SHOT, group=1, off_by=1, amp_veltrack=0),
    ]
    bank = make_bank([open_hat, closed], regions)
    out = play(Sampler(bank), [(0, NOTE_ON, 46, 100), (10000, NOTE_ON, 42, 100)], 20000)[0]
    assert out[9999] > 0.2
    fade = out[10000 : 10000 + 240]
    assert np.all(np.diff(fade) <= 1e-6)  # falls without a step up
    assert np.abs(np.diff(fade)).max() < 0.01  # ... and without a click
    assert np.abs(out[10000 + 241 :]).max() < 0.002  # only the closed hat is left


def test_the_sustain_pedal_holds_released_notes_until_it_lifts():
    bank = make_bank(
        [np.ones(100, np.float32)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, amp_release_s=0.01)],
        loops=[(0, 100)],
    )
    events = [(0, CC, 64, 127), (100, NOTE_ON, 60, 100), (2000, NOTE_OFF, 60, 0), (8000, CC, 64, 0)]
    out = play(Sampler(bank), events, 12000)[0]
    assert out[7999] == pytest.approx(out[1999])  # held by the pedal
    assert np.abs(out[8000 + 480 :]).max() == 0.0  # released when it lifts (10 ms release)


@pytest.mark.parametrize(("velocity", "layer"), [(1, 0), (63, 0), (64, 1), (127, 1)])
def test_velocity_layers_switch_at_their_bounds(velocity, layer):
    samples = [np.full(1000, 0.3, np.float32), np.full(1000, -0.3, np.float32)]
    regions = [Region(0, lovel=1, hivel=63, amp_veltrack=0), Region(1, lovel=64, hivel=127, amp_veltrack=0)]
    out = play(Sampler(make_bank(samples, regions)), [(0, NOTE_ON, 60, velocity)], 500)[0]
    assert np.sign(out[100]) == (1 if layer == 0 else -1)


def test_release_trigger_regions_sound_at_note_off_with_the_note_on_velocity():
    samples = [np.full(4000, 0.4, np.float32), np.full(4000, 0.1, np.float32)]
    regions = [Region(0, amp_release_s=0.001), Region(1, trigger=TRIGGER_RELEASE, amp_veltrack=1.0)]
    out = play(Sampler(make_bank(samples, regions)), [(0, NOTE_ON, 60, 64), (2000, NOTE_OFF, 60, 0)], 5000)[0]
    assert out[1000] > 0.0
    vel_gain = (64 / 127) ** 2
    gain_070 = out[3000] / (0.1 * vel_gain)
    assert gain_070 == pytest.approx(out[1000] / (0.4 * vel_gain), rel=1e-3)  # same chain, the release sample


def test_the_voice_limit_steals_without_a_click():
    data = sine_loop(100, 10)
    bank = make_bank([data], [Region(0, loop_mode=LOOP_CONTINUOUS, amp_veltrack=0)], loops=[(0, 1000)])
    sampler = Sampler(bank, max_voices=4)
    events = [(i * 1000, NOTE_ON, 60 + i, 100) for i in range(8)]
    out = play(sampler, events, 10000)[0]
    assert sampler.active_voice_count() == 4
    # the biggest move between samples stays that of four full sines (a cut would add a step)
    level = (100 / 127) ** 2 * np.sqrt(0.5)  # one voice: channel volume 100 (square law), centre pan
    slope = 4 * 2 * np.pi / 100 * 2 ** (7 / 12) * level  # four sines at the highest pitch, in phase
    assert np.abs(np.diff(out)).max() < slope  # a cut voice would step by up to `level`, more than this


def test_pitch_bend_follows_the_rpn_bend_range():
    bank = make_bank(
        [sine_loop(100, 20)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, pitch_keycenter=60)],
        rates=[SR],
        loops=[(0, 2000)],
    )
    setup = [(0, CC, 101, 0), (0, CC, 100, 0), (0, CC, 6, 12), (0, CC, 38, 0)]
    out = play(Sampler(bank), [*setup, (10, NOTE_ON, 60, 100), (10, BEND, 127, 127)], SR // 2)
    expected = SR / 100 * 2 ** (12 * 8191 / 8192 / 12)
    assert abs(cents(peak_hz(out[0, 4800:]), expected)) < 1.0


def test_the_mod_wheel_adds_vibrato():
    bank = make_bank(
        [sine_loop(100, 20)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, vib_freq_hz=5.0)],
        rates=[SR],
        loops=[(0, 2000)],
    )

    def crossings(events):
        x = play(Sampler(bank), events, SR)[0, 4800:]
        up = np.flatnonzero((x[:-1] <= 0) & (x[1:] > 0))
        return np.diff(up)

    still = crossings([(0, NOTE_ON, 60, 100)])
    wobble = crossings([(0, CC, 1, 127), (0, NOTE_ON, 60, 100)])
    assert still.std() < 1.0
    assert wobble.std() > 1.0  # periods swing by +/-50 cents: about +/-3 samples of 100


def test_all_sound_off_silences_at_once_and_all_notes_off_releases():
    bank = make_bank(
        [np.ones(100, np.float32)],
        [Region(0, loop_mode=LOOP_CONTINUOUS, amp_release_s=1.0)],
        loops=[(0, 100)],
    )
    out = play(Sampler(bank), [(0, NOTE_ON, 60, 100), (1000, CC, 120, 0)], 3000)[0]
    assert np.abs(out[1000 + 241 :]).max() == 0.0
    out = play(Sampler(bank), [(0, NOTE_ON, 60, 100), (1000, CC, 123, 0)], 3000)[0]
    assert 0.0 < out[2000] < out[999]  # releasing over its 1 s release time


def test_one_shots_ignore_note_off():
    bank = make_bank(
        [np.ones(3000, np.float32)], [Region(0, loop_mode=ONE_SHOT, amp_release_s=0.001, pitch_keycenter=36)]
    )
    out = play(Sampler(bank), [(0, NOTE_ON, 36, 100), (100, NOTE_OFF, 36, 0)], 4000)[0]
    assert out[2999] > 0 and out[3000] == 0.0


def test_program_change_and_bank_select_pick_presets_and_drums_use_bank_128():
    samples = [np.full(500, v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)]
    flat = {"amp_veltrack": 0.0, "pitch_keytrack_cents": 0.0}  # every key plays the 500 frames as they are
    presets = [
        Preset("piano", 0, 0, [Region(0, **flat)]),
        Preset("organ", 0, 16, [Region(1, **flat)]),
        Preset("variation", 8, 16, [Region(2, **flat)]),
        Preset("kit", 128, 0, [Region(3, **flat)]),
    ]
    bank = make_bank(samples, [])
    bank.presets = presets
    ev = [
        (0, 0xC0, 16, 0),
        (10, NOTE_ON, 60, 100),
        (1000, CC, 0, 8),
        (1000, 0xC0, 16, 0),
        (1010, NOTE_ON, 62, 100),
        (2000, NOTE_ON | 9, 36, 100),
        (3000, NOTE_ON | 1, 60, 100),
    ]
    out = play(Sampler(bank), ev, 4000)[0]
    unit = out[3100]  # channel 2 still on program 0: the piano's 0.1
    assert out[300] / unit == pytest.approx(2.0, rel=1e-4)  # program 16: the organ
    assert out[1300] / unit == pytest.approx(3.0, rel=1e-4)  # bank 8, program 16: its variation
    assert out[2300] / unit == pytest.approx(4.0, rel=1e-4)  # channel 10: the kit in bank 128


def test_held_once_in_memory_two_samplers_share_the_pool():
    bank = make_bank([np.ones(10, np.float32)], [Region(0)])
    a, b = Sampler(bank), Sampler(bank)
    assert np.shares_memory(a._packed.pool, b._packed.pool)
    assert a._packed.pool is bank.pool


@pytest.mark.parametrize(
    "bad", [{"max_voices": 0}, {"max_voices": 5000}, {"program": 128}, {"interpolation": "x"}]
)
def test_bad_options_are_refused_with_a_message(bad):
    bank = make_bank([np.ones(10, np.float32)], [Region(0)])
    with pytest.raises(ValueError, match=next(iter(bad))):
        Sampler(bank, **bad)


def test_velocity_closes_the_filter_only_from_the_switch_velocity_up():
    # SoundFonts' default: soft notes below the switch keep the zone's cutoff; from it up, lower velocities
    # close the cutoff by up to the tracking depth
    noise = np.random.default_rng(5).standard_normal(20000).astype(np.float32) * 0.3
    reg = Region(
        0,
        filter_type=2,
        cutoff_hz=8.1758 * 2 ** ((9000 - 2400) / 1200),
        fil_veltrack_cents=2400,
        fil_vel_switch=64,
        amp_veltrack=0,
    )
    bank = make_bank([noise], [reg])

    def brightness(velocity: int) -> float:
        out = play(Sampler(bank), [(0, NOTE_ON, 60, velocity)], 16000)[0, 1000:]
        spec = np.abs(np.fft.rfft(out)) ** 2
        return float(spec[len(spec) // 4 :].sum() / spec.sum())  # share above a quarter of Nyquist

    soft, switch, hard = brightness(40), brightness(64), brightness(127)
    assert switch < hard and switch < soft
    assert soft == pytest.approx(hard, rel=1e-6)  # below the switch: the zone's own cutoff


def test_a_bank_number_of_128_or_more_starts_the_channels_in_that_bank():
    samples = [np.full(500, v, np.float32) for v in (0.1, 0.3)]
    bank = make_bank(samples, [])
    flat = {"amp_veltrack": 0.0, "pitch_keytrack_cents": 0.0}
    bank.presets = [
        Preset("melodic", 0, 5, [Region(0, **flat)]),
        Preset("variation", 128, 5, [Region(1, **flat)]),
    ]
    sampler = Sampler(bank, program=5, bank_number=128)
    assert sampler.preset_of_channel(0) == (128, 5, "variation")
    out = play(sampler, [(0, NOTE_ON, 60, 100)], 400)[0]
    assert out[100] > 0.1


def test_a_voice_that_ended_under_the_pedal_stays_silent_when_the_pedal_lifts():
    bank = make_bank([np.ones(300, np.float32)], [Region(0, amp_release_s=0.01)])
    sampler = Sampler(bank)
    events = [(0, CC, 64, 127), (0, NOTE_ON, 60, 100), (100, NOTE_OFF, 60, 0), (2000, CC, 64, 0)]
    out = play(sampler, events, 4000)[0]
    assert np.abs(out[400:]).max() == 0.0  # the sample ended at 300 while the pedal held the note
    assert sampler.active_voice_count() == 0
