"""DrumMachine as a processor: onsets at their samples, spectra, choke, velocity, decay, voices, songs.

Decay is checked as the -60 dB time the way reverb times are measured: the level in 10 ms windows, in dB,
fitted with a line from 10 to 40 dB below the loudest window and extrapolated to 60 dB; it must sit within
10% of the decay parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import NOTE_ON, EventBuffer
from engine.processor import BlockContext
from instruments.drums import DrumMachine

SR = 48000


def render(
    drums: DrumMachine, events: list[tuple[int, int, int]], frames: int, block: int = 256
) -> np.ndarray:
    """Render ``frames`` samples; events are (timeline sample, note, velocity)."""
    drums.prepare(SR, block)
    ctx = BlockContext(SR)
    ev = EventBuffer()
    out = np.zeros((2, frames), np.float32)
    for start in range(0, frames, block):
        n = min(block, frames - start)
        ctx.set_single_segment(n, start, True)
        ev.clear()
        for t, note, vel in sorted(events):
            if start <= t < start + n:
                ev.push(t - start, NOTE_ON, note, vel)
        drums.process(ctx, [], [out[:, start : start + n]], [ev], [])
    return out


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return np.fft.rfftfreq(len(x), 1 / SR), mag


def db(x: float) -> float:
    return 10 * np.log10(max(x, 1e-30))


def decay_ms_60(x: np.ndarray) -> float:
    w = SR // 100
    level = np.array([db(float(np.mean(x[i : i + w] ** 2))) for i in range(0, len(x) - w, w)])
    top = int(np.argmax(level))
    tail = level[top:] - level[top]
    span = np.nonzero((tail <= -10.0) & (tail >= -40.0))[0]
    slope = np.polyfit(span * 10.0, tail[span], 1)[0]  # dB per ms
    return -60.0 / slope


@pytest.mark.parametrize("note", [35, 36, 37, 38, 39, 40, 41, 42, 44, 46, 48, 49, 51, 53, 54, 56, 59, 75])
@pytest.mark.parametrize("offset", [0, 100, 255, 300])
def test_each_drum_starts_at_its_exact_sample_mid_block(note, offset):
    out = render(DrumMachine(), [(offset, note, 100)], 2000)
    assert np.all(out[:, :offset] == 0.0)
    assert np.max(np.abs(out[:, offset : offset + 2])) > 1e-6


def test_kick_peak_sits_at_its_tune_after_the_sweep():
    for hz in (45.0, 60.0, 80.0):
        d = DrumMachine()
        d.param("kick_tune_hz").set(hz)
        d.param("kick_decay_ms").set(2000)
        out = render(d, [(0, 36, 110)], SR)
        start = int(0.06 * SR)  # the sweep's end: kick_sweep_ms 60
        f, mag = spectrum(out[0, start : start + 16384].astype(np.float64))
        assert abs(f[np.argmax(mag)] - hz) < 3.0, hz


@pytest.mark.parametrize(("note", "band"), [(42, "high"), (46, "high"), (36, "low"), (35, "low")])
def test_hats_sit_above_5_khz_and_the_kick_below_200_hz(note, band):
    f, mag = spectrum(render(DrumMachine(), [(0, note, 100)], 8192)[0].astype(np.float64))
    if band == "high":
        assert mag[f > 5000].sum() > 0.8 * mag.sum()
    else:
        assert mag[f < 200].sum() > 0.9 * mag.sum()


def test_snare_has_body_and_bright_wires():
    f, mag = spectrum(render(DrumMachine(), [(0, 38, 100)], 8192)[0].astype(np.float64))
    assert mag[(f > 150) & (f < 400)].sum() > 0.05 * mag.sum()
    assert mag[f > 2000].sum() > 0.1 * mag.sum()


def test_closed_hat_chokes_a_ringing_open_hat():
    t = 4800
    window = slice(t + 960, t + 9600)  # 20..200 ms after the closed hat
    e = []
    for events in ([(0, 46, 100)], [(0, 46, 100), (t, 42, 100)], [(t, 42, 100)]):
        d = DrumMachine()
        d.param("hat_decay_ms").set(15.0)  # a short closed hat, gone before the window
        e.append(float(np.sum(render(d, events, 20000)[0, window].astype(np.float64) ** 2)))
    assert db(e[0]) - db(e[1]) > 40.0  # the open hat is silenced
    assert db(e[1]) - db(e[2]) < 3.0  # what is left is the closed hat's own tail


@pytest.mark.parametrize("note", [36, 38, 42, 45])
def test_velocity_127_is_louder_than_40(note):
    loud = render(DrumMachine(), [(0, note, 127)], 4800)
    soft = render(DrumMachine(), [(0, note, 40)], 4800)
    assert (
        db(float(np.sum(loud.astype(np.float64) ** 2))) - db(float(np.sum(soft.astype(np.float64) ** 2))) > 10
    )


@pytest.mark.parametrize(
    ("name", "note", "ms"),
    [("kick_decay_ms", 36, 300), ("kick_decay_ms", 36, 900), ("tom_decay_ms", 45, 600),
     ("open_hat_decay_ms", 46, 400), ("open_hat_decay_ms", 46, 1200), ("cymbal_decay_ms", 49, 1500)],
)  # fmt: skip
def test_decay_sets_the_minus_60_db_time(name, note, ms):
    d = DrumMachine()
    d.param(name).set(ms)
    out = render(d, [(0, note, 100)], int(SR * ms / 1000 * 1.5))
    assert abs(decay_ms_60(out[0].astype(np.float64)) - ms) < 0.1 * ms


def test_output_does_not_depend_on_the_block_size_and_reset_repeats_it():
    events = [(0, 36, 120), (700, 42, 80), (3333, 38, 100), (5000, 46, 90), (9001, 44, 70), (12000, 49, 127)]
    ref = render(DrumMachine(), events, 24000, block=32)
    for block in (64, 1000, 4096):
        np.testing.assert_allclose(render(DrumMachine(), events, 24000, block=block), ref, atol=1e-6)
    d = DrumMachine()
    first = render(d, events, 24000)
    d.reset()
    np.testing.assert_array_equal(render(d, events, 24000), first)


def test_notes_outside_the_map_make_no_sound():
    out = render(DrumMachine(), [(0, n, 100) for n in (0, 34, 52, 55, 60, 64, 76, 127)], 4000)
    assert np.max(np.abs(out)) == 0.0


def test_polyphony_is_capped_and_stealing_does_not_click():
    d = DrumMachine(max_voices=4)
    notes = [41, 43, 45, 47, 48, 50]
    out = render(d, [(i * 480, n, 100) for i, n in enumerate(notes)], 9600)[0].astype(np.float64)
    assert d.active_voice_count() == 4
    # no sample-to-sample jump bigger than the drums' own steepest at their onsets
    jumps = np.abs(np.diff(out))
    assert np.max(jumps[2500:]) < 0.05


def test_no_nan_or_inf_at_parameter_extremes():
    for pick in (0, 1):
        d = DrumMachine()
        for p in d.params.values():
            p.set((p.min_value, p.max_value)[pick])
        out = render(
            d, [(i * 300, n, 127) for i, n in enumerate([35, 36, 37, 38, 39, 40, 42, 46, 49, 54])], 6000
        )
        assert np.all(np.isfinite(out))


def test_out_of_range_values_are_refused_with_the_range():
    d = DrumMachine()
    with pytest.raises(ValueError, match=r"kick_tune_hz must be in 30\.\.120"):
        d.param("kick_tune_hz").set(500)
    with pytest.raises(ValueError, match="max_voices"):
        DrumMachine(max_voices=0)


def test_a_song_with_drums_loads_and_renders(tmp_path):
    from engine.render import render_array
    from presets.song import load_song

    song = tmp_path / "beat.yaml"
    song.write_text(
        "schema_version: 2\ntempo: 120\ntracks:\n  - name: drums\n"
        "    instrument: {type: drums, params: {kick_tune_hz: 55}}\n"
        "    clips:\n      - start_beats: 0\n        notes:\n"
        "          - [36, 0, 0.5, 110]\n          - [42, 0.5, 0.25, 80]\n          - [38, 1, 0.5, 100]\n"
    )
    built = load_song(song).build(SR, 256)
    mix, _, _ = render_array(built.engine, SR, block_size=256, tail=0)
    assert np.all(np.isfinite(mix))
    assert np.max(np.abs(mix[:, :2000])) > 0.01  # the kick on beat 0
