"""PolySynth as a processor: sample-accurate events, pitch, voice allocation, pedal, no allocation."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.kernels.synth import I_NOTE
from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, EventBuffer
from engine.processor import BlockContext
from instruments.synth import PolySynth
from tests.alloc import allocations

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 128, 1000]

Event = tuple[int, int, int, int]  # (timeline sample, status, data1, data2)


def render(
    synth: PolySynth,
    events: list[Event],
    frames: int,
    rate: float,
    block_size: int = 256,
    tempo_bpm: float = 120.0,
) -> np.ndarray:
    """Prepare ``synth`` and render ``frames`` samples in blocks, each event at its offset in its block."""
    synth.prepare(rate, block_size)
    ctx = BlockContext(rate)
    ctx.tempo_bpm = tempo_bpm
    buf = EventBuffer()
    block = np.zeros((2, block_size), dtype=np.float32)
    out = np.zeros((2, frames), dtype=np.float32)
    pending = sorted(events, key=lambda e: e[0])
    k = 0
    for start in range(0, frames, block_size):
        n = min(block_size, frames - start)
        ctx.set_single_segment(n, start, True)
        buf.clear()
        while k < len(pending) and pending[k][0] < start + n:
            t, status, d1, d2 = pending[k]
            buf.push(t - start, status, d1, d2)
            k += 1
        synth.process(ctx, [], [block[:, :n]], [buf], [])
        out[:, start : start + n] = block[:, :n]
        ctx.block_index += 1
    return out


def note_on(t: int, note: int, velocity: int = 100, channel: int = 0) -> Event:
    return (t, NOTE_ON | channel, note, velocity)


def note_off(t: int, note: int, channel: int = 0) -> Event:
    return (t, NOTE_OFF | channel, note, 0)


def cc(t: int, number: int, value: int, channel: int = 0) -> Event:
    return (t, CONTROL_CHANGE | channel, number, value)


def bend(t: int, value: int, channel: int = 0) -> Event:
    return (t, PITCH_BEND | channel, value & 0x7F, value >> 7)


def synth_with(max_voices: int = 32, **params: float) -> PolySynth:
    synth = PolySynth(max_voices)
    for name, value in params.items():
        synth.param(name).set(value)
    return synth


def peak_hz(x: np.ndarray, rate: float) -> float:
    """Frequency of the strongest spectral peak, refined by a parabola through the log magnitudes."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    k = int(np.argmax(spectrum[1:])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / x.shape[0]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


# -- the processor contract --------------------------------------------------------------------------------
def test_ports_parameters_and_latency() -> None:
    synth = PolySynth()
    assert [p.name for p in synth.event_inputs] == ["midi"]
    assert [(p.name, p.channels) for p in synth.audio_outputs] == [("out", 2)]
    assert synth.latency_samples == 0
    assert synth.max_voices == 32
    assert set(synth.params) == {
        "waveform", "attack_ms", "decay_ms", "sustain", "release_ms", "cutoff_hz", "resonance",
        "key_tracking", "velocity_sensitivity", "gain_db",
        # the synth issue's extensions
        "osc1_octaves", "osc1_semitones", "osc1_fine_cents", "osc1_level", "osc1_pulse_width",
        "osc2_waveform", "osc2_octaves", "osc2_semitones", "osc2_fine_cents", "osc2_level",
        "osc2_pulse_width", "sub_waveform", "sub_level", "noise_level", "filter_mode",
        "filter_env_amount_octaves", "filter_attack_ms", "filter_decay_ms", "filter_sustain",
        "filter_release_ms", "velocity_to_filter_octaves", "lfo_shape", "lfo_rate_hz", "lfo_sync",
        "lfo_period_beats", "lfo_retrigger", "lfo_to_pitch_cents", "lfo_to_cutoff_octaves", "lfo_to_amp",
        "lfo_to_pulse_width", "unison_voices", "unison_detune_cents", "unison_spread", "glide_ms",
        "glide_poly", "voice_mode", "steal_policy",
    }  # fmt: skip
    assert synth.param("cutoff_hz").min_value == 20.0 and synth.param("cutoff_hz").max_value == 20000.0
    assert synth.param("gain_db").min_value == -60.0 and synth.param("gain_db").max_value == 12.0
    with pytest.raises(ValueError, match=r"waveform must be in 0\.\.3"):
        synth.param("waveform").set(4)


def test_max_voices_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_voices must be at least 1, got 0"):
        PolySynth(0)


def test_silent_without_notes() -> None:
    out = render(PolySynth(), [], 2000, 48000)
    assert not out.any()


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_note_on_mid_block_starts_at_its_sample_offset(rate: int, block_size: int) -> None:
    for waveform in range(4):
        start = block_size + block_size // 2 + 3
        synth = synth_with(waveform=waveform)
        out = render(synth, [note_on(start, 60)], 3 * block_size + 10, rate, block_size)
        assert not out[:, :start].any()
        assert out[0, start] != 0.0 and out[1, start] != 0.0


@pytest.mark.parametrize("rate", RATES)
def test_output_is_the_same_at_every_block_size(rate: int) -> None:
    events = [
        note_on(5, 60, 90),
        note_on(5, 64, 70),
        note_on(333, 67, 127),
        cc(900, 64, 127),
        note_off(1000, 60),
        bend(1500, 12000),
        note_on(2047, 72, 50),
        note_off(2048, 64),
        note_off(2100, 67),
        cc(3000, 64, 0),
        note_on(3001, 48),
        note_on(3001, 50),  # steals (max_voices 4)
        note_on(3500, 52),
        bend(4000, 8192),
        note_off(4500, 48),
        cc(5000, 123, 0),
        note_on(6000, 55),
        cc(6500, 120, 0),
    ]
    params = {"attack_ms": 3.0, "decay_ms": 40.0, "sustain": 0.5, "release_ms": 30.0, "cutoff_hz": 2500.0,
              "resonance": 0.6, "key_tracking": 0.5}  # fmt: skip
    renders = [render(synth_with(4, **params), events, 7000, rate, b) for b in BLOCK_SIZES]
    assert np.abs(renders[0]).max() > 0.05
    for other in renders[1:]:
        np.testing.assert_allclose(other, renders[0], atol=1e-6)


# -- pitch --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("waveform", [3, 0])
def test_a4_sounds_at_440_hz(rate: int, waveform: int) -> None:
    out = render(synth_with(waveform=waveform, sustain=1.0), [note_on(0, 69)], rate, rate)
    assert peak_hz(out[0, rate // 4 :], rate) == pytest.approx(440.0, abs=0.3)


@pytest.mark.parametrize("rate", RATES)
def test_pitch_bend_moves_pitch_by_up_to_two_semitones(rate: int) -> None:
    def pitch(bend_value: int) -> float:
        out = render(synth_with(waveform=3), [bend(0, bend_value), note_on(10, 69)], rate // 2, rate)
        return peak_hz(out[0, rate // 8 :], rate)

    assert pitch(0) == pytest.approx(440.0 * 2 ** (-2 / 12), abs=0.5)
    assert pitch(16383) == pytest.approx(440.0 * 2 ** (2 * 8191 / 8192 / 12), abs=0.5)
    assert pitch(8192) == pytest.approx(440.0, abs=0.5)


def test_pitch_bend_moves_a_sounding_note() -> None:
    rate = 48000
    out = render(synth_with(waveform=3), [note_on(0, 69), bend(rate // 2, 0)], rate, rate)
    assert peak_hz(out[0, rate // 8 : rate // 2], rate) == pytest.approx(440.0, abs=1.0)
    assert peak_hz(out[0, rate // 2 + 1000 :], rate) == pytest.approx(392.0, abs=1.0)


def test_pitch_bend_range_is_configurable() -> None:
    rate = 48000
    synth = PolySynth(pitch_bend_range_semitones=12.0)
    synth.param("waveform").set(3)
    out = render(synth, [bend(0, 0), note_on(0, 69)], rate // 2, rate)
    assert peak_hz(out[0, rate // 8 :], rate) == pytest.approx(220.0, abs=0.5)


# -- envelope, pedal, channel messages -------------------------------------------------------------------
@pytest.mark.parametrize("rate", RATES)
def test_note_off_releases_to_silence_within_release_time(rate: int) -> None:
    off_at = rate // 4
    release = int(0.1 * rate)
    synth = synth_with(release_ms=100.0)
    out = render(synth, [note_on(0, 60), note_off(off_at, 60)], off_at + release + 500, rate)
    assert rms(out[0, off_at + release // 10 : off_at + release // 5]) > 0.01  # releasing, not cut
    assert not out[:, off_at + release + 1 :].any()
    assert synth.active_voice_count() == 0


@pytest.mark.parametrize("rate", RATES)
def test_sustain_pedal_holds_notes_until_it_is_lifted(rate: int) -> None:
    release = int(0.05 * rate)
    up_at = rate
    synth = synth_with(release_ms=50.0, sustain=0.8)
    events = [cc(0, 64, 127), note_on(10, 60), note_off(rate // 4, 60), cc(up_at, 64, 0)]
    out = render(synth, events, up_at + release + 200, rate)
    held_by_key = rms(out[0, rate // 8 : rate // 4])
    assert rms(out[0, up_at - rate // 10 : up_at]) == pytest.approx(held_by_key, rel=0.05)
    assert not out[:, up_at + release + 1 :].any()


def test_note_off_without_pedal_is_not_held_by_a_later_pedal() -> None:
    rate = 48000
    events = [note_on(0, 60), note_off(1000, 60), cc(2000, 64, 127)]
    synth = synth_with(release_ms=20.0)
    out = render(synth, events, 10000, rate)
    assert not out[:, 1000 + 961 :].any()


def test_note_on_with_velocity_zero_is_a_note_off() -> None:
    synth = synth_with(release_ms=10.0)
    out = render(synth, [note_on(0, 60), note_on(1000, 60, velocity=0)], 3000, 48000)
    assert not out[:, 1000 + 481 :].any()


def test_all_sound_off_silences_at_once() -> None:
    synth = synth_with(release_ms=2000.0)
    events = [note_on(0, 60), note_on(0, 64), cc(1234, 64, 127), cc(1500, 120, 0)]
    out = render(synth, events, 3000, 48000)
    assert np.abs(out[:, 1400:1500]).max() > 0.05
    assert not out[:, 1500:].any()
    assert synth.active_voice_count() == 0


def test_all_notes_off_releases_every_note_of_the_channel() -> None:
    synth = synth_with(release_ms=20.0)
    events = [note_on(0, 60), note_on(0, 64, channel=0), note_on(0, 67, channel=1), cc(1000, 123, 0)]
    out = render(synth, events, 4000, 48000)
    assert rms(out[0, 1000:1100]) > 0.01  # a release, not a cut
    assert synth.active_voice_count() == 1  # the note on channel 2 keeps playing


def test_messages_on_another_channel_leave_notes_alone() -> None:
    synth = synth_with(release_ms=20.0)
    render(synth, [note_on(0, 60, channel=3), note_off(100, 60, channel=4), cc(200, 120, 0)], 3000, 48000)
    assert synth.active_voice_count() == 1


def test_reset_all_controllers_centres_the_bend_and_lifts_the_pedal() -> None:
    rate = 48000
    synth = synth_with(waveform=3, release_ms=10.0)
    events = [cc(0, 64, 127), bend(0, 0), note_on(0, 69), note_off(100, 69), cc(rate // 4, 121, 0)]
    out = render(synth, events, rate // 2, rate)
    assert peak_hz(out[0, 2000 : rate // 4], rate) == pytest.approx(392.0, abs=2.0)
    assert not out[:, rate // 4 + 481 :].any()  # the pedal let go: released within 10 ms


def test_a_stolen_voice_fades_out_beside_the_new_note_for_three_ms() -> None:
    synth = synth_with(1, release_ms=1000.0)
    render(synth, [note_on(0, 60), note_on(1000, 64)], 1001, 48000)
    assert synth.active_voice_count() == 1 and synth.voices.sounding_count() == 2
    render(synth, [note_on(0, 60), note_on(1000, 64)], 1000 + 145, 48000)  # 3 ms = 144 samples
    assert synth.active_voice_count() == 1 and synth.voices.sounding_count() == 1


def test_blocks_longer_than_prepared_are_refused() -> None:
    synth = PolySynth()
    synth.prepare(48000, 64)
    ctx = BlockContext(48000)
    ctx.set_single_segment(65, 0, True)
    with pytest.raises(ValueError, match="exceeds max_block_size 64"):
        synth.process(ctx, [], [np.zeros((2, 65), dtype=np.float32)], [EventBuffer()], [])


def test_reset_silences_every_voice() -> None:
    synth = PolySynth()
    render(synth, [note_on(0, 60), note_on(0, 64)], 500, 48000)
    assert synth.active_voice_count() == 2
    synth.reset()
    assert synth.active_voice_count() == 0
    ctx = BlockContext(48000)
    ctx.set_single_segment(256, 500, True)
    block = np.ones((2, 256), dtype=np.float32)
    synth.process(ctx, [], [block], [EventBuffer()], [])
    assert not block.any()


def test_retriggered_note_starts_a_new_voice_and_releases_the_old_one() -> None:
    synth = synth_with(release_ms=50.0)
    render(synth, [note_on(0, 60), note_on(1000, 60)], 1100, 48000)
    assert synth.active_voice_count() == 2  # the new one and the old one in its release
    synth2 = synth_with(release_ms=50.0)
    render(synth2, [note_on(0, 60), note_on(1000, 60), note_off(5000, 60)], 5000 + 2400 + 10, 48000)
    assert synth2.active_voice_count() == 0  # one note-off ends both


# -- voice allocation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_voices", [1, 4, 8])
def test_voice_stealing_keeps_at_most_max_voices(max_voices: int) -> None:
    rate, block_size = 48000, 64
    synth = synth_with(max_voices, release_ms=500.0)
    synth.prepare(rate, block_size)
    ctx = BlockContext(rate)
    buf = EventBuffer()
    block = np.zeros((2, block_size), dtype=np.float32)
    for b in range(200):
        ctx.set_single_segment(block_size, b * block_size, True)
        buf.clear()
        buf.push(b % block_size, NOTE_ON, 40 + b % 40, 100)
        if b % 3 == 0:
            buf.push(block_size - 1, NOTE_OFF, 40 + b % 40, 0)
        synth.process(ctx, [], [block], [buf], [])
        assert synth.active_voice_count() <= max_voices
    assert synth.active_voice_count() == max_voices


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("waveform", [3, 2])
def test_voice_stealing_does_not_click(rate: int, waveform: int) -> None:
    steal_at = rate // 2 + 17
    frames = steal_at + rate // 10
    params = {"waveform": waveform, "attack_ms": 5.0, "sustain": 1.0, "release_ms": 1000.0}
    events = [note_on(0, 45), note_on(100, 52), note_on(steal_at, 57)]  # the third takes voice 1 of 2
    stolen = render(synth_with(2, **params), events, frames, rate)[0].astype(np.float64)
    # the same notes with room for all three: the only difference is the fade of the stolen voice
    reference = render(synth_with(3, **params), events, frames, rate)[0].astype(np.float64)
    window = slice(steal_at - 10, steal_at + rate // 100)
    steal_step = np.abs(np.diff(stolen[window])).max()
    assert steal_step < 1.3 * np.abs(np.diff(reference[window])).max()
    # a hard cut steps by the stolen voice's value at that sample: up to its peak
    stolen_voice = render(synth_with(2, **params), [note_on(0, 45)], steal_at, rate)[0]
    assert steal_step < 0.2 * np.abs(stolen_voice).max()
    # the stolen voice is gone 5 ms later: from then on only the two newer notes sound
    after = steal_at + int(0.005 * rate)
    only_new = render(synth_with(2, **params), events[1:], frames, rate)[0]
    np.testing.assert_allclose(stolen[after:], only_new[after:], atol=1e-6)


def test_stealing_prefers_released_voices_then_the_oldest() -> None:
    synth = synth_with(3, release_ms=5000.0)
    events = [note_on(0, 60), note_on(10, 62), note_on(20, 64), note_off(30, 62), note_on(40, 65)]
    render(synth, events, 100, 48000)
    notes = sorted(synth.voices.ist[I_NOTE, :3].tolist())
    assert notes == [60, 64, 65]
    all_keys_down = [note_on(0, 60), note_on(10, 62), note_on(20, 64), note_on(40, 65)]
    synth2 = synth_with(3)
    render(synth2, all_keys_down, 100, 48000)
    assert sorted(synth2.voices.ist[I_NOTE, :3].tolist()) == [62, 64, 65]


# -- level and tone ------------------------------------------------------------------------------------------
def test_velocity_scales_level() -> None:
    def level(velocity: int, sensitivity: float) -> float:
        synth = synth_with(velocity_sensitivity=sensitivity, sustain=1.0)
        return rms(render(synth, [note_on(0, 60, velocity)], 24000, 48000)[0, 12000:])

    assert level(64, 1.0) / level(127, 1.0) == pytest.approx((64 / 127) ** 2, rel=0.01)
    assert level(64, 0.0) == pytest.approx(level(127, 0.0), rel=1e-6)
    assert level(32, 0.5) < level(64, 0.5) < level(127, 0.5)


@pytest.mark.parametrize("rate", RATES)
def test_filter_attenuates_above_cutoff(rate: int) -> None:
    def harmonic_levels(cutoff_hz: float) -> np.ndarray:
        synth = synth_with(cutoff_hz=cutoff_hz, sustain=1.0)
        out = render(synth, [note_on(0, 45)], rate, rate)[0, rate // 2 :]
        spectrum = np.abs(np.fft.rfft(out * np.hanning(out.shape[0])))
        bins = [round(f * out.shape[0] / rate) for f in (110.0, 220.0, 4400.0, 8800.0)]
        return 20 * np.log10(np.array([spectrum[b - 2 : b + 3].max() for b in bins]))

    open_filter, closed = harmonic_levels(20000.0), harmonic_levels(1000.0)
    drop_db = open_filter - closed
    assert abs(drop_db[0]) < 0.5 and abs(drop_db[1]) < 0.5
    assert drop_db[2] > 20.0 and drop_db[3] > 30.0


def test_gain_db_scales_the_output() -> None:
    quiet = render(synth_with(gain_db=-20.0), [note_on(0, 60)], 4000, 48000)
    loud = render(synth_with(gain_db=0.0), [note_on(0, 60)], 4000, 48000)
    np.testing.assert_allclose(quiet, loud * 0.1, atol=1e-6)


def test_output_is_mono_on_both_channels() -> None:
    out = render(PolySynth(), [note_on(0, 60), note_on(100, 67)], 4000, 48000)
    np.testing.assert_array_equal(out[0], out[1])


# -- real time ---------------------------------------------------------------------------------------------
def test_process_does_not_allocate() -> None:
    # Blocks of 1024 samples: a temporary array the size of a block (4 KB and up) would raise the peak.
    rate, block_size = 48000, 1024
    synth = synth_with(16, release_ms=30.0)
    synth.prepare(rate, block_size)
    ctx = BlockContext(rate)
    buf = EventBuffer()
    block = np.zeros((2, block_size), dtype=np.float32)

    def step(b: int) -> None:
        ctx.set_single_segment(block_size, b * block_size, True)
        buf.clear()
        buf.push(3, NOTE_ON, 36 + b % 48, 100)
        buf.push(500, NOTE_OFF, 36 + (b - 5) % 48, 0)
        buf.push(700, PITCH_BEND, 0, 64 + b % 32)
        buf.push(900, CONTROL_CHANGE, 64, 127 * (b % 2))
        synth.process(ctx, [], [block], [buf], [])

    ramps = iter([(-3.0, 2000.0), (-6.0, 3000.0), (-3.0, 2000.0), (-6.0, 3000.0)])

    def ramp() -> None:
        gain_db, cutoff_hz = next(ramps)
        synth.param("gain_db").set(gain_db)  # a gain ramp in progress: per-sample gain
        synth.param("cutoff_hz").set(cutoff_hz)  # and a cutoff change: every voice retuned

    ramp()
    for b in range(20):  # warm up: compile, first-call caches, a gain ramp and a moving voice parameter
        step(b)
    got = allocations(step, 300, first=20, again=ramp)
    assert synth.active_voice_count() > 0
    assert got.peak < 2048 and got.held < 512, got


def test_automated_voice_parameters_update_every_32_samples_of_the_timeline():
    # reference: the same synth fed 32-sample blocks with the cutoff held at the lane's value at each
    # block start; the automated synth, in one 256-sample block, must step exactly like it
    from engine.params import AutomationLane, Breakpoint

    lane = AutomationLane([Breakpoint(0, 200.0), Breakpoint(1, 2000.0)])
    table = lane.compile(lambda b: b * 256)  # one beat = 256 samples

    def note_on() -> EventBuffer:
        ev = EventBuffer()
        ev.push(0, NOTE_ON, 45, 100)
        return ev

    auto = PolySynth(max_voices=4)
    auto.prepare(48000, 256)
    auto.param("cutoff_hz").set_automation(table)
    ctx = BlockContext(48000)
    ctx.set_single_segment(256, 0, True)
    got = np.zeros((2, 256), np.float32)
    auto.process(ctx, [], [got], [note_on()], [])

    ref = PolySynth(max_voices=4)
    ref.prepare(48000, 256)
    want = np.zeros((2, 256), np.float32)
    for k in range(0, 256, 32):
        ref.param("cutoff_hz").set(table.value_at(k))
        ref.param("cutoff_hz").reset()  # held, not smoothed: the reference steps like the grid
        ctx.set_single_segment(32, k, True)
        out = want[:, k : k + 32]
        ref.process(ctx, [], [out], [note_on() if k == 0 else EventBuffer()], [])
    assert np.abs(got).max() > 1e-3
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_turning_sustain_to_zero_under_a_held_note_frees_the_voice_to_true_silence():
    synth = synth_with(4, sustain=0.5, decay_ms=10.0)
    render(synth, [note_on(0, 60)], 4800, 48000)  # held, in its sustain stage
    synth.param("sustain").set(0.0)
    ctx = BlockContext(48000)
    block = np.zeros((2, 256), np.float32)
    for k in range(48000 * 2 // 256):
        ctx.set_single_segment(256, 4800 + k * 256, True)
        synth.process(ctx, [], [block], [EventBuffer()], [])
    assert synth.active_voice_count() == 0
    assert np.all(block == 0.0)


def test_a_note_bent_above_nyquist_is_silent_not_pinned_to_a_wrong_pitch():
    synth = PolySynth(4, pitch_bend_range_semitones=12.0)
    synth.param("waveform").set(3)
    audible = render(synth, [note_on(0, 127)], 4410, 44100)  # 12.5 kHz: plays
    assert np.abs(audible[0, 2000:]).max() > 1e-3
    synth2 = PolySynth(4, pitch_bend_range_semitones=12.0)
    synth2.param("waveform").set(3)
    out = render(synth2, [bend(0, 16383), note_on(0, 127)], 4410, 44100)  # 25 kHz: above Nyquist
    assert np.abs(out).max() == 0.0


def test_two_steals_inside_one_fade_do_not_click():
    synth = synth_with(1, waveform=3, attack_ms=1.0, sustain=1.0)
    events = [note_on(0, 69), note_on(4800, 72), note_on(4820, 76)]
    out = render(synth, events, 9600, 48000, block_size=64)[0]
    steady = np.abs(np.diff(out[2000:4700], 2)).max()
    around = np.abs(np.diff(out[4790:5100], 2)).max()
    assert around < 10 * steady + 1e-3


def test_automated_velocity_sensitivity_gives_each_note_its_own_value_at_any_block_size():
    from engine.params import AutomationLane, Breakpoint

    table = AutomationLane([Breakpoint(0, 0.0), Breakpoint(1, 1.0)]).compile(lambda b: b * 48000)
    outs = []
    for block in (32, 1000, 4096):
        synth = synth_with(4, velocity_sensitivity=0.0)
        synth.param("velocity_sensitivity").set_automation(table)
        outs.append(render(synth, [note_on(3000, 60, 30), note_on(9000, 64, 30)], 12000, 48000, block))
    for other in outs[1:]:
        assert np.abs(other - outs[0]).max() <= 1e-6


def test_a_parameter_ramp_ends_on_the_timeline_grid_at_any_block_size():
    outs = []
    for block in (32, 100, 890, 4096):
        synth = synth_with(4, cutoff_hz=500.0)
        synth.prepare(44100, block)
        synth.param("cutoff_hz").set(3000.0)  # a 20 ms ramp from the first sample
        outs.append(render_prepared(synth, [note_on(0, 45)], 8820, 44100, block))
    for other in outs[1:]:
        assert np.abs(other - outs[0]).max() <= 1e-6


def render_prepared(synth: PolySynth, events: list[Event], frames: int, rate: float, block_size: int):
    """Like render() but without preparing again (keeps a ramp that was started after prepare)."""
    ctx = BlockContext(rate)
    out = np.zeros((2, frames), dtype=np.float32)
    block = np.zeros((2, block_size), dtype=np.float32)
    pending = sorted(events, key=lambda e: e[0])
    k = 0
    for start in range(0, frames, block_size):
        n = min(block_size, frames - start)
        ctx.set_single_segment(n, start, True)
        buf = EventBuffer()
        while k < len(pending) and pending[k][0] < start + n:
            t, status, d1, d2 = pending[k]
            buf.push(t - start, status, d1, d2)
            k += 1
        synth.process(ctx, [], [block[:, :n]], [buf], [])
        out[:, start : start + n] = block[:, :n]
    return out


# -- the synth issue: oscillators, filter, LFO, unison, glide, voice modes -------------------------------
def zero_crossing_hz(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(time in s, frequency in Hz) from the intervals between rising zero crossings (linearly interpolated),
    each interval's frequency placed at its middle."""
    x = np.asarray(x, dtype=np.float64)
    idx = np.nonzero((x[:-1] < 0.0) & (x[1:] >= 0.0))[0]
    t = idx + x[idx] / (x[idx] - x[idx + 1])
    return 0.5 * (t[:-1] + t[1:]) / rate, rate / np.diff(t)


def centroid_hz(x: np.ndarray, rate: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    return float((freqs * spectrum).sum() / spectrum.sum())


def harmonic_db(x: np.ndarray, rate: float, f0: float, n: int) -> float:
    """Level of harmonic ``n`` of ``f0`` over the fundamental's, in dB."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))

    def at(f: float) -> float:
        b = round(f * x.shape[0] / rate)
        return float(spectrum[b - 3 : b + 4].max())

    return 20 * np.log10(at(n * f0) / at(f0))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    ("params", "hz"),
    [
        ({}, 440.0),
        ({"osc1_level": 0.0, "osc2_level": 1.0, "osc2_waveform": 3, "osc2_octaves": 1, "osc2_semitones": -5},
         440.0 * 2 ** (7 / 12)),
        ({"osc1_level": 0.0, "sub_level": 1.0}, 220.0),
        ({"osc1_level": 0.0, "sub_level": 1.0, "sub_waveform": 1}, 220.0),
    ],
    ids=["osc1", "osc2", "sub_sine", "sub_square"],
)  # fmt: skip
def test_each_oscillator_alone_is_audible_at_its_pitch(rate: int, params: dict, hz: float) -> None:
    synth = synth_with(waveform=3, sustain=1.0, **params)
    out = render(synth, [note_on(0, 69)], rate, rate)[0, rate // 4 :]
    assert rms(out) > 0.05
    assert peak_hz(out, rate) == pytest.approx(hz, abs=0.3)


def test_levels_scale_each_source_and_zero_levels_are_silent() -> None:
    rate = 48000

    def level(**params: float) -> float:
        return rms(
            render(synth_with(waveform=3, sustain=1.0, **params), [note_on(0, 69)], 9600, rate)[0, 4800:]
        )

    full = level()
    assert level(osc1_level=0.5) == pytest.approx(0.5 * full, rel=1e-6)
    assert level(osc1_level=0.0) == 0.0
    assert level(osc1_level=0.0, osc2_level=0.25, osc2_waveform=3) == pytest.approx(0.25 * full, rel=0.01)
    assert level(osc1_level=0.0, sub_level=1.0) == pytest.approx(full, rel=0.01)  # sines of equal amplitude


@pytest.mark.parametrize("rate", RATES)
def test_noise_is_broadband_and_scaled_by_its_level(rate: int) -> None:
    def noise(level: float) -> np.ndarray:
        synth = synth_with(osc1_level=0.0, noise_level=level, sustain=1.0)
        return render(synth, [note_on(0, 60)], rate, rate)[0, rate // 10 :].astype(np.float64)

    loud = noise(0.8)
    assert rms(loud) > 0.03 and rms(noise(0.4)) == pytest.approx(0.5 * rms(loud), rel=0.05)
    assert not noise(0.0).any()
    spectrum = np.abs(np.fft.rfft(loud)) ** 2
    freqs = np.fft.rfftfreq(loud.shape[0], 1.0 / rate)
    low = spectrum[(freqs > 200) & (freqs < 2000)].mean()
    high = spectrum[(freqs > 6000) & (freqs < 16000)].mean()
    assert 0.7 < high / low < 1.4  # white: the same density at every frequency


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    ("params", "cents"),
    [
        ({"osc1_fine_cents": 7.0}, 7.0),
        ({"osc1_fine_cents": -33.0}, -33.0),
        ({"osc1_semitones": 3, "osc1_fine_cents": 50.0}, 350.0),
        ({"osc1_octaves": -1}, -1200.0),
        ({"osc1_level": 0.0, "osc2_level": 1.0, "osc2_waveform": 3, "osc2_fine_cents": 12.5}, 12.5),
        ({"osc1_level": 0.0, "osc2_level": 1.0, "osc2_waveform": 3, "osc2_semitones": -7,
          "osc2_fine_cents": -4.0}, -704.0),
    ],
)  # fmt: skip
def test_detune_in_cents_measured_by_fft_within_one_cent(rate: int, params: dict, cents: float) -> None:
    synth = synth_with(waveform=3, sustain=1.0, **params)
    out = render(synth, [note_on(0, 69)], 2 * rate, rate)[0, rate // 4 :]
    assert 1200 * np.log2(peak_hz(out, rate) / 440.0) == pytest.approx(cents, abs=1.0)


@pytest.mark.parametrize("rate", RATES)
def test_unison_detune_spreads_the_voices_in_cents_and_spread_pans_them(rate: int) -> None:
    # two unison voices fully spread: the lower one hard left, the upper one hard right
    synth = synth_with(waveform=3, sustain=1.0, unison_voices=2, unison_detune_cents=15.0, unison_spread=1.0)
    out = render(synth, [note_on(0, 69)], 2 * rate, rate)[:, rate // 4 :]
    assert 1200 * np.log2(peak_hz(out[0], rate) / 440.0) == pytest.approx(-15.0, abs=1.0)
    assert 1200 * np.log2(peak_hz(out[1], rate) / 440.0) == pytest.approx(15.0, abs=1.0)


def test_unison_spread_makes_left_and_right_differ_and_no_spread_keeps_them_equal() -> None:
    events = [note_on(0, 57), note_on(0, 64)]
    wide = render(synth_with(unison_voices=4, unison_spread=0.8), events, 24000, 48000)
    assert np.abs(wide[0] - wide[1]).max() > 0.05
    assert np.corrcoef(wide[0, 4800:], wide[1, 4800:])[0, 1] < 0.9
    narrow = render(synth_with(unison_voices=4, unison_spread=0.0), events, 24000, 48000)
    np.testing.assert_array_equal(narrow[0], narrow[1])
    # unison thickens without getting much louder: the voices share 1 / sqrt(voices)
    single = render(synth_with(unison_voices=1), events, 24000, 48000)
    assert 0.5 < rms(narrow[0, 4800:]) / rms(single[0, 4800:]) < 2.0


@pytest.mark.parametrize("rate", RATES)
def test_pulse_width_shapes_the_harmonics(rate: int) -> None:
    def second_and_fourth(pulse_width: float) -> tuple[float, float]:
        synth = synth_with(waveform=1, sustain=1.0, osc1_pulse_width=pulse_width)
        out = render(synth, [note_on(0, 45)], rate, rate)[0, rate // 4 : 3 * rate // 4]  # 55 whole cycles
        return harmonic_db(out, rate, 110.0, 2), harmonic_db(out, rate, 110.0, 4)

    square = second_and_fourth(0.5)
    assert square[0] < -40.0 and square[1] < -40.0  # a square has odd harmonics only
    quarter = second_and_fourth(0.25)
    # harmonic n of a pulse of width pw has amplitude |sin(pi n pw)| / n
    assert quarter[0] == pytest.approx(20 * np.log10(0.5 / np.sin(np.pi / 4)), abs=0.2)
    assert quarter[1] < -35.0


def test_lfo_to_pulse_width_moves_the_harmonics_over_time() -> None:
    rate = 48000
    synth = synth_with(waveform=1, sustain=1.0, lfo_rate_hz=2.0, lfo_to_pulse_width=0.4)
    out = render(synth, [note_on(0, 45)], rate, rate)[0]
    seconds = [harmonic_db(out[k : k + 4800], rate, 110.0, 2) for k in range(0, rate - 4800, 2400)]
    assert max(seconds) - min(seconds) > 10.0


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mode", [1, 2])
def test_glide_moves_linearly_in_pitch_over_glide_ms(rate: int, mode: int) -> None:
    start = rate // 4
    synth = synth_with(waveform=3, sustain=1.0, voice_mode=mode, glide_ms=200.0)
    out = render(synth, [note_on(0, 57), note_on(start, 69)], start + rate // 2, rate)[0]
    t, f = zero_crossing_hz(out, rate)
    pitch = 69 + 12 * np.log2(f / 440.0)
    t0 = start / rate
    gliding = (t > t0 + 0.02) & (t < t0 + 0.18)
    slope, intercept = np.polyfit(t[gliding], pitch[gliding], 1)
    assert slope == pytest.approx(12 / 0.2, rel=0.02)  # 12 semitones in 200 ms
    assert (57 - intercept) / slope == pytest.approx(t0, abs=0.002)  # starts at the note-on...
    assert (69 - intercept) / slope == pytest.approx(t0 + 0.2, abs=0.004)  # ...and arrives 200 ms later
    assert np.abs(pitch[t > t0 + 0.21] - 69).max() < 0.02
    assert np.abs(pitch[(t > 0.05) & (t < t0 - 0.01)] - 57).max() < 0.02


def test_glide_in_poly_mode_only_when_asked() -> None:
    rate = 48000
    events = [note_on(0, 57), note_off(rate // 8, 57), note_on(rate // 4, 69)]
    for glide_poly, first_pitch in ((1, 57.0), (0, 69.0)):
        synth = synth_with(waveform=3, sustain=1.0, release_ms=10.0, glide_ms=200.0, glide_poly=glide_poly)
        out = render(synth, events, rate, rate)[0]
        t, f = zero_crossing_hz(out, rate)
        pitch = 69 + 12 * np.log2(f / 440.0)
        after = t > rate // 4 / rate + 0.002
        assert pitch[after][0] == pytest.approx(first_pitch, abs=0.5)
        assert np.abs(pitch[t > 0.5] - 69).max() < 0.02


@pytest.mark.parametrize("mode", [1, 2])
def test_mono_returns_to_the_previous_held_key_when_the_top_one_is_released(mode: int) -> None:
    rate = 48000
    q = rate // 4
    events = [note_on(0, 60), note_on(q, 64), note_on(2 * q, 67), note_off(3 * q, 67), note_off(4 * q, 64),
              note_off(5 * q, 60)]  # fmt: skip
    synth = synth_with(waveform=3, sustain=1.0, release_ms=20.0, voice_mode=mode)
    out = render(synth, events, 6 * q, rate)[0]
    expected = [60, 64, 67, 64, 60]
    for k, note in enumerate(expected):
        window = out[k * q + q // 4 : (k + 1) * q]
        assert peak_hz(window, rate) == pytest.approx(440.0 * 2 ** ((note - 69) / 12), rel=0.003), k
    assert not out[5 * q + rate // 20 :].any()  # the last key up: released to silence
    assert synth.active_voice_count() == 0


def test_mono_ignores_the_release_of_a_key_that_is_not_sounding() -> None:
    rate = 48000
    q = rate // 4
    synth = synth_with(waveform=3, sustain=1.0, release_ms=20.0, voice_mode=1)
    out = render(
        synth, [note_on(0, 60), note_on(q, 64), note_off(2 * q, 60), note_off(3 * q, 64)], 4 * q, rate
    )
    assert peak_hz(out[0, 2 * q + q // 4 : 3 * q], rate) == pytest.approx(329.63, rel=0.003)  # still E4
    assert not out[:, 3 * q + rate // 20 :].any()
    assert synth.voices.held_keys() == []


@pytest.mark.parametrize("rate", RATES)
def test_legato_keeps_the_envelope_running_and_mono_retriggers_it(rate: int) -> None:
    at = int(0.3 * rate)
    events = [note_on(0, 60), note_on(at, 67), note_off(at + rate // 100, 60)]  # overlapping

    def levels(mode: int) -> tuple[float, float]:
        synth = synth_with(waveform=3, attack_ms=5.0, decay_ms=50.0, sustain=0.3, voice_mode=mode)
        out = render(synth, events, at + rate // 5, rate)[0]
        before = np.abs(out[at - rate // 50 : at]).max()
        after = np.abs(out[at + rate // 200 : at + rate // 100]).max()
        return before, after

    before, after = levels(2)
    assert after == pytest.approx(before, rel=0.03)  # legato: the sustain level goes on
    before, after = levels(1)
    assert after > 2.5 * before  # mono: a new attack toward full level


def test_legato_retriggers_notes_that_do_not_overlap() -> None:
    rate = 48000
    synth = synth_with(waveform=3, attack_ms=5.0, decay_ms=50.0, sustain=0.3, release_ms=300.0, voice_mode=2)
    out = render(synth, [note_on(0, 60), note_off(rate // 4, 60), note_on(rate // 2, 67)], rate, rate)[0]
    assert np.abs(out[rate // 2 + 240 : rate // 2 + 480]).max() > 0.8 * np.abs(out[240:480]).max()


@pytest.mark.parametrize("rate", RATES)
def test_filter_envelope_moves_the_cutoff_up_and_back(rate: int) -> None:
    synth = synth_with(cutoff_hz=150.0, sustain=1.0, filter_env_amount_octaves=5.0, filter_attack_ms=100.0,
                       filter_decay_ms=300.0, filter_sustain=0.0)  # fmt: skip
    out = render(synth, [note_on(0, 45)], rate, rate)[0].astype(np.float64)
    win = rate // 50

    def centroid_at(seconds: float) -> float:
        k = int(seconds * rate)
        return centroid_hz(out[k - win // 2 : k + win // 2], rate)

    start, peak, end = centroid_at(0.012), centroid_at(0.1), centroid_at(0.8)
    assert peak > 3 * start and peak > 3 * end
    # bipolar: a negative amount closes a bright filter and opens it again
    down = synth_with(cutoff_hz=4000.0, sustain=1.0, filter_env_amount_octaves=-4.0, filter_attack_ms=100.0,
                      filter_decay_ms=300.0, filter_sustain=0.0)  # fmt: skip
    out = render(down, [note_on(0, 45)], rate, rate)[0].astype(np.float64)
    assert centroid_at(0.1) < 0.5 * min(centroid_at(0.012), centroid_at(0.8))


def test_velocity_to_filter_darkens_soft_notes_and_leaves_full_velocity_alone() -> None:
    rate = 48000

    def note(velocity: int, amount: float) -> np.ndarray:
        synth = synth_with(cutoff_hz=3000.0, sustain=1.0, velocity_sensitivity=0.0,
                           velocity_to_filter_octaves=amount)  # fmt: skip
        return render(synth, [note_on(0, 45, velocity)], rate // 2, rate)[0, rate // 4 :].astype(np.float64)

    assert centroid_hz(note(30, 3.0), rate) < 0.6 * centroid_hz(note(127, 3.0), rate)
    np.testing.assert_array_equal(note(127, 3.0), note(127, 0.0))


@pytest.mark.parametrize("rate", RATES)
def test_lfo_to_pitch_is_a_vibrato_at_the_lfo_rate_and_depth(rate: int) -> None:
    synth = synth_with(waveform=3, sustain=1.0, lfo_rate_hz=5.0, lfo_to_pitch_cents=50.0)
    out = render(synth, [note_on(0, 69)], 3 * rate, rate)[0]
    t, f = zero_crossing_hz(out, rate)
    grid = np.arange(0.1, 2.9, 0.001)
    deviation = np.interp(grid, t, 1200 * np.log2(f / 440.0))
    assert peak_hz(deviation - deviation.mean(), 1000.0) == pytest.approx(5.0, abs=0.05)
    assert deviation.max() == pytest.approx(50.0, abs=2.0)
    assert deviation.min() == pytest.approx(-50.0, abs=2.0)


@pytest.mark.parametrize("tempo_bpm", [90.0, 120.0, 150.0])
def test_synced_lfo_rate_follows_the_tempo(tempo_bpm: float) -> None:
    rate = 48000
    synth = synth_with(waveform=3, sustain=1.0, lfo_sync=1, lfo_period_beats=0.5, lfo_rate_hz=0.3,
                       lfo_to_pitch_cents=50.0)  # fmt: skip
    out = render(synth, [note_on(0, 69)], 3 * rate, rate, tempo_bpm=tempo_bpm)[0]
    t, f = zero_crossing_hz(out, rate)
    grid = np.arange(0.1, 2.9, 0.001)
    deviation = np.interp(grid, t, 1200 * np.log2(f / 440.0))
    assert peak_hz(deviation - deviation.mean(), 1000.0) == pytest.approx(tempo_bpm / 60 / 0.5, abs=0.05)


def test_a_retriggered_lfo_starts_with_each_note_and_a_free_one_runs_on() -> None:
    rate, n = 48000, 24000

    def note_at(start: int, retrigger: int) -> np.ndarray:
        synth = synth_with(waveform=3, sustain=1.0, lfo_rate_hz=3.0, lfo_to_pitch_cents=100.0,
                           lfo_to_cutoff_octaves=1.0, lfo_retrigger=retrigger)  # fmt: skip
        return render(synth, [note_on(start, 69)], start + n, rate)[0, start:]

    np.testing.assert_allclose(note_at(3200, 1), note_at(6400, 1), atol=1e-6)
    assert np.abs(note_at(3200, 0) - note_at(6400, 0)).max() > 0.1


@pytest.mark.parametrize("shape", [0, 1, 2, 3, 4])
def test_lfo_to_amp_is_a_tremolo_of_that_depth(shape: int) -> None:
    rate = 48000
    synth = synth_with(waveform=3, sustain=1.0, lfo_shape=shape, lfo_rate_hz=4.0, lfo_to_amp=0.5)
    out = render(synth, [note_on(0, 81)], 2 * rate, rate)[0, rate // 10 :].astype(np.float64)
    peaks = np.abs(out).reshape(-1, 240).max(axis=1)  # the level in 5 ms windows
    full = render(synth_with(waveform=3, sustain=1.0), [note_on(0, 81)], rate // 2, rate)[0, rate // 4 :]
    top = np.abs(full).max()
    assert peaks.max() <= top * 1.001
    assert peaks.min() == pytest.approx(0.5 * top, rel=0.05 if shape != 4 else 0.5)


@pytest.mark.parametrize(("policy", "kept"), [(0, [64, 67]), (1, [60, 67])])
def test_stealing_takes_the_oldest_or_the_quietest_voice(policy: int, kept: list[int]) -> None:
    synth = synth_with(2, steal_policy=policy)
    render(synth, [note_on(0, 60, 127), note_on(100, 64, 20), note_on(2000, 67, 100)], 2100, 48000)
    assert sorted(synth.voices.ist[I_NOTE, :2].tolist()) == kept


# every feature on at once
FULL = {
    "waveform": 1, "osc1_pulse_width": 0.3, "osc2_level": 0.4, "osc2_semitones": 7, "osc2_fine_cents": 5,
    "sub_level": 0.3, "sub_waveform": 1, "noise_level": 0.05, "cutoff_hz": 1500.0, "resonance": 0.4,
    "key_tracking": 0.5, "filter_env_amount_octaves": 3.0, "filter_attack_ms": 20.0,
    "filter_decay_ms": 200.0, "velocity_to_filter_octaves": 2.0, "lfo_rate_hz": 3.3,
    "lfo_to_pitch_cents": 30.0, "lfo_to_cutoff_octaves": 1.0, "lfo_to_amp": 0.3, "lfo_to_pulse_width": 0.2,
    "unison_voices": 3, "unison_detune_cents": 12.0, "unison_spread": 0.7, "glide_ms": 40.0, "glide_poly": 1,
    "attack_ms": 3.0, "decay_ms": 80.0, "sustain": 0.6, "release_ms": 60.0,
}  # fmt: skip


@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize(
    "lfo", [(0, 0), (4, 1), (2, 0)], ids=["sine_free", "sample_hold_per_note", "saw_free"]
)
def test_the_full_synth_with_lfo_and_automation_renders_alike_at_every_block_size(
    mode: int, lfo: tuple[int, int]
) -> None:
    from engine.params import AutomationLane, Breakpoint

    rate = 48000
    events = [note_on(5, 60, 90), note_on(5, 64, 70), note_on(333, 67, 127), cc(900, 64, 127),
              note_off(1000, 60), bend(1500, 12000), note_on(2047, 72, 50), note_off(2048, 64),
              note_off(2100, 67), cc(3000, 64, 0), note_on(3001, 48), note_on(3001, 50), note_on(3500, 52),
              bend(4000, 8192), note_off(4500, 48), note_on(5200, 55), note_off(7000, 55), note_off(7000, 50),
              note_off(7000, 52)]  # fmt: skip
    lanes = {
        "cutoff_hz": [Breakpoint(0, 400.0), Breakpoint(2, 5000.0, "exp"), Breakpoint(4, 800.0)],
        "lfo_rate_hz": [Breakpoint(0, 1.0), Breakpoint(4, 9.0)],
        "unison_spread": [Breakpoint(0, 0.0), Breakpoint(3, 1.0)],
        "osc2_level": [
            Breakpoint(0, 0.0),
            Breakpoint(1, 0.0),
            Breakpoint(2, 0.6, "hold"),
            Breakpoint(4, 0.1),
        ],
        "gain_db": [Breakpoint(0, -12.0), Breakpoint(4, -3.0)],
    }
    renders = []
    for block in (32, 64, 1000, 4096):
        synth = synth_with(4, voice_mode=mode, lfo_shape=lfo[0], lfo_retrigger=lfo[1], **FULL)
        for name, points in lanes.items():
            synth.param(name).set_automation(AutomationLane(points).compile(lambda b: b * 2000.0))
        renders.append(render(synth, events, 9000, rate, block))
    assert np.abs(renders[0]).max() > 0.05
    assert np.abs(renders[0][0] - renders[0][1]).max() > 1e-3  # truly stereo
    for other in renders[1:]:
        np.testing.assert_allclose(other, renders[0], atol=1e-6)


@pytest.mark.parametrize("mode", [0, 1])
def test_process_does_not_allocate_with_every_feature_on(mode: int) -> None:
    rate, block_size = 48000, 1024
    synth = synth_with(16, voice_mode=mode, **FULL)
    synth.prepare(rate, block_size)
    ctx = BlockContext(rate)
    buf = EventBuffer()
    block = np.zeros((2, block_size), dtype=np.float32)

    def step(b: int) -> None:
        ctx.set_single_segment(block_size, b * block_size, True)
        buf.clear()
        buf.push(3, NOTE_ON, 36 + b % 48, 100)
        buf.push(200, NOTE_ON, 40 + b % 41, 60)
        buf.push(500, NOTE_OFF, 36 + (b - 5) % 48, 0)
        buf.push(600, NOTE_OFF, 40 + (b - 1) % 41, 0)
        buf.push(700, PITCH_BEND, 0, 64 + b % 32)
        buf.push(900, CONTROL_CHANGE, 64, 127 * (b % 2))
        synth.process(ctx, [], [block], [buf], [])

    cutoffs = iter([2000.0, 3000.0, 2000.0, 3000.0])

    def ramp() -> None:
        synth.param("cutoff_hz").set(next(cutoffs))  # a ramp in progress: a moving voice parameter

    ramp()
    for b in range(20):
        step(b)
    synth.param("lfo_shape").set(4)
    got = allocations(step, 200, first=20, again=ramp)
    assert synth.active_voice_count() > 0
    assert got.peak < 2048 and got.held < 512, got


def chord_and_runs() -> list[Event]:
    events = [note_on(0, 60, 127), note_on(0, 64, 127), note_on(0, 67, 127), note_on(0, 71, 127),
              bend(3000, 16383), note_on(4000, 0, 1), note_on(4000, 127, 127), cc(5000, 64, 127),
              note_off(6000, 60), bend(7000, 0), cc(8000, 64, 0)]  # fmt: skip
    return events + [note_off(9000, n) for n in (0, 64, 67, 71, 127)]


def assert_sane(out: np.ndarray) -> None:
    assert np.isfinite(out).all()
    assert np.abs(out).max() < 100.0


@pytest.mark.parametrize("extreme", ["min", "max"])
def test_no_nan_at_parameter_extremes(extreme: str) -> None:
    names = sorted(PolySynth().params)
    for name in names:  # one at a time
        synth = PolySynth(8)
        p = synth.param(name)
        p.set(p.min_value if extreme == "min" else p.max_value)
        assert_sane(render(synth, chord_and_runs(), 12000, 48000))
    synth = PolySynth(8)  # all at once
    for p in synth.params.values():
        p.set(p.min_value if extreme == "min" else p.max_value)
    synth.param("gain_db").set(0.0)
    assert_sane(render(synth, chord_and_runs(), 12000, 48000))


def test_no_nan_for_random_parameter_sets() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        synth = PolySynth(8)
        for p in synth.params.values():
            value = rng.uniform(p.min_value, p.max_value)
            if rng.random() < 0.3:
                value = p.min_value if rng.random() < 0.5 else p.max_value
            p.set(round(value) if p.stepped else value)
        assert_sane(render(synth, chord_and_runs(), 12000, 44100, 100))


# -- amplitude envelope timing -----------------------------------------------------------------------------
def run_samples(
    synth: PolySynth, ctx: BlockContext, pos: int, n: int, events: list[tuple[int, int, int]]
) -> int:
    """Render ``n`` samples from timeline ``pos`` in one block (events at offset 0); returns the position."""
    buf = EventBuffer()
    for status, d1, d2 in events:
        buf.push(0, status, d1, d2)
    block = np.zeros((2, n), dtype=np.float32)
    ctx.set_single_segment(n, pos, True)
    synth.process(ctx, [], [block], [buf], [])
    return pos + n


def stage_change(synth: PolySynth, ctx: BlockContext, pos: int, stage: int, limit: int) -> tuple[int, int]:
    """Render one sample at a time until voice 0 leaves ``stage``; returns (samples rendered, position)."""
    from dsp.kernels.synth import I_STAGE

    count = 0
    while synth.voices.ist[I_STAGE, 0] == stage and count < limit:
        pos = run_samples(synth, ctx, pos, 1, [])
        count += 1
    return count, pos


@pytest.mark.parametrize("rate", RATES)
def test_envelope_stages_end_within_one_sample_of_their_definition(rate: int) -> None:
    from dsp.kernels.synth import (
        DECAY_TARGET_RATIO,
        F_ENV,
        SILENCE_LEVEL,
        STAGE_ATTACK,
        STAGE_DECAY,
        STAGE_RELEASE,
        STAGE_SUSTAIN,
    )

    attack_ms, decay_ms, sustain, release_ms = 12.345, 40.0, 0.4, 25.0
    ms = rate / 1000.0
    r = DECAY_TARGET_RATIO
    synth = synth_with(1, attack_ms=attack_ms, decay_ms=decay_ms, sustain=sustain, release_ms=release_ms)
    synth.prepare(rate, 4096)
    ctx = BlockContext(rate)
    pos = run_samples(synth, ctx, 0, 1, [(NOTE_ON, 60, 100)])
    # attack: full level at the first sample n >= attack_ms (counting the note-on's sample as the first)
    count, pos = stage_change(synth, ctx, pos, STAGE_ATTACK, 10 * rate)
    assert 0.0 <= (count + 1) - attack_ms * ms < 1.0  # the first whole sample at or after attack_ms
    assert synth.voices.fst[F_ENV, 0] == 1.0
    # decay: from 1 toward sustain - 1e-4, reaching the sustain level within decay_ms
    c = np.exp(-np.log((1 + r) / r) / (decay_ms * ms))
    predicted = np.log(r / (1.0 - sustain + r)) / np.log(c)
    count, pos = stage_change(synth, ctx, pos, STAGE_DECAY, 10 * rate)
    assert 0.0 <= count - predicted < 1.0 and count <= decay_ms * ms + 1
    assert synth.voices.ist[0, 0] == STAGE_SUSTAIN
    pos = run_samples(synth, ctx, pos, 2000, [])
    # release: from the level at the note-off to -100 dB, then exact silence
    level = synth.voices.fst[F_ENV, 0]
    cr = np.exp(-np.log((1 + r) / r) / (release_ms * ms))
    predicted = np.log((SILENCE_LEVEL + r) / (level + r)) / np.log(cr)
    pos = run_samples(synth, ctx, pos, 1, [(NOTE_OFF, 60, 0)])
    count, pos = stage_change(synth, ctx, pos, STAGE_RELEASE, 10 * rate)
    assert 0.0 <= (count + 1) - predicted < 1.0 and count + 1 <= release_ms * ms + 1
    assert synth.active_voice_count() == 0
    block = np.zeros((2, 64), dtype=np.float32)
    ctx.set_single_segment(64, pos, True)
    synth.process(ctx, [], [block], [EventBuffer()], [])
    assert not block.any()


def test_switching_voice_mode_while_notes_sound_leaves_no_note_stuck() -> None:
    rate, block = 48000, 256
    synth = synth_with(4, release_ms=10.0)
    synth.prepare(rate, block)
    ctx = BlockContext(rate)
    out = np.zeros((2, block), dtype=np.float32)

    def play(pos: int, events: list[tuple[int, int, int]]) -> int:
        buf = EventBuffer()
        for status, d1, d2 in events:
            buf.push(0, status, d1, d2)
        ctx.set_single_segment(block, pos, True)
        synth.process(ctx, [], [out], [buf], [])
        return pos + block

    pos = play(0, [(NOTE_ON, 60, 100), (NOTE_ON, 64, 100), (NOTE_ON, 67, 100)])
    synth.param("voice_mode").set(1)  # to mono with three poly notes held
    for _ in range(4):
        pos = play(pos, [])
    pos = play(pos, [(NOTE_ON, 72, 100)])
    pos = play(pos, [(NOTE_OFF, 60, 0), (NOTE_OFF, 64, 0), (NOTE_OFF, 67, 0), (NOTE_OFF, 72, 0)])
    synth.param("voice_mode").set(0)  # and back
    pos = play(pos, [(NOTE_ON, 50, 100)])
    pos = play(pos, [(NOTE_OFF, 50, 0)])
    for _ in range(10):
        pos = play(pos, [])
    assert synth.active_voice_count() == 0
    assert not out.any()


@pytest.mark.parametrize("block_size", [512, 4096])
def test_synth_tracks_rendered_side_by_side_sound_exactly_as_one_by_one(block_size: int) -> None:
    # the demo's four synth tracks (pads, bass, lead; automation, sends) on the rack's two threads
    from pathlib import Path

    from engine.rack import InstrumentRack
    from presets.song import load_song

    demo = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"

    def render(threads: int) -> np.ndarray:
        eng = load_song(demo).build(48000, block_size, render_threads=threads).engine
        if threads > 1:
            rack = eng.graph.nodes["instruments"]
            assert isinstance(rack, InstrumentRack)
            assert sum(isinstance(i, PolySynth) for i in rack.instruments) == 4
        eng.transport.play()
        blocks = 48000 * 20 // block_size  # 20 s
        return np.concatenate([eng.process_block(block_size).copy() for _ in range(blocks)], 1)

    one, two = render(1), render(2)
    assert np.abs(one).max() > 0.01
    np.testing.assert_array_equal(one, two)
