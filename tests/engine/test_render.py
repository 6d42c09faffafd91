from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from engine.errors import RenderError
from engine.render import WavSink, render, render_array, write_wav
from engine.sequencer import Clip, Note
from engine.session import BusSpec, SendSpec, Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint
from instruments.synth import PolySynth

SR = 48000


def synth(release_ms: float = 200.0) -> PolySynth:
    s = PolySynth(max_voices=16)
    s.param("release_ms").set(release_ms)
    s.param("cutoff_hz").set(4000)
    for p in s.params.values():
        p.reset()
    return s


def song(tempo: TempoMap | None = None) -> Session:
    notes = tuple(Note(60 + (i % 5) * 2, i * 0.5, 0.4, 90) for i in range(12))
    chords = tuple(Note(p, 0, 4, 70) for p in (48, 52, 55))
    return Session(
        tempo_map=tempo or TempoMap([TempoPoint(0, 120), TempoPoint(4, 120, "linear"), TempoPoint(6, 90)]),
        tracks=[
            TrackSpec("lead", synth(), [Clip(0, notes)], pan=0.3, sends=[SendSpec("fx", -6)]),
            TrackSpec("pad", synth(400), [Clip(0, chords)], volume_db=-6),
        ],
        buses=[BusSpec("fx", volume_db=-3)],
    )


def test_note_at_beat_one_and_a_half_sounds_from_sample_36000_at_every_block_size():
    for block in (32, 64, 128, 1000, 4096):
        s = Session(TempoMap(bpm=120), [TrackSpec("t", synth(), [Clip(0, (Note(69, 1.5, 0.5),))])])
        built = s.build(SR, 4096)
        audio, _, _ = render_array(built.engine, built.end_sample, block_size=block)
        nz = np.nonzero(np.abs(audio[0]) > 0)[0]
        assert nz[0] == 36000, block


def test_renders_at_different_block_sizes_agree_within_1e_6():
    results = []
    for block in (32, 64, 128, 1000, 4096):
        built = song().build(SR, 4096)
        audio, _, _ = render_array(built.engine, built.end_sample, block_size=block)
        results.append(audio)
    for other in results[1:]:
        assert other.shape == results[0].shape
        assert np.max(np.abs(other - results[0])) <= 1e-6


def test_rendering_twice_gives_identical_bytes(tmp_path):
    digests = []
    for k in range(2):
        built = song().build(SR, 256)
        sink = WavSink(tmp_path / f"r{k}.wav", SR, 2, "24")
        render(built.engine, built.end_sample, sink)
        sink.commit()
        digests.append(hashlib.sha256((tmp_path / f"r{k}.wav").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_tail_runs_until_below_minus_90_dbfs_and_stops():
    built = song().build(SR, 512)
    audio, _, stats = render_array(built.engine, built.end_sample)
    assert stats.tail_frames > 0
    tail = audio[:, built.end_sample :]
    assert np.max(np.abs(tail[:, -1])) >= 10 ** (-90 / 20)  # the cut is right after the last loud sample
    assert stats.tail_frames < SR * 2  # a 400 ms release does not ring for seconds


def test_fixed_tail_length():
    built = song().build(SR, 512)
    audio, _, _stats = render_array(built.engine, built.end_sample, tail=1.5)
    assert audio.shape[1] == built.end_sample + int(1.5 * SR)


def test_stems_sum_to_the_mix_through_the_master():
    built = song().build(SR, 512)
    audio, stems, _ = render_array(built.engine, built.end_sample, stems=built.stems)
    assert set(stems) == {"lead", "pad", "fx"}
    # master strip is unity, so the mix is the tracks' direct outputs plus the bus
    np.testing.assert_allclose(stems["lead"] + stems["pad"] + stems["fx"], audio, atol=1e-5)
    assert np.abs(stems["fx"]).max() > 0


def test_mute_and_solo_reach_the_render():
    s = song()
    s.tracks[1].solo = True
    built = s.build(SR, 512)
    _, stems, _ = render_array(built.engine, built.end_sample, stems=built.stems)
    assert np.abs(stems["lead"]).max() == 0 and np.abs(stems["fx"]).max() == 0
    assert np.abs(stems["pad"]).max() > 0


def test_wav_bit_depths(tmp_path):
    audio = np.stack([np.linspace(-1.2, 1.2, 1000, dtype=np.float32)] * 2)
    for depth, subtype in (("16", "PCM_16"), ("24", "PCM_24"), ("32f", "FLOAT")):
        path = write_wav(tmp_path / f"x{depth}.wav", audio, SR, depth)
        info = sf.info(path)
        assert info.subtype == subtype and info.samplerate == SR and info.frames == 1000
    data, _ = sf.read(tmp_path / "x32f.wav", dtype="float32")
    np.testing.assert_array_equal(data.T, audio)  # float keeps overs
    data16, _ = sf.read(tmp_path / "x16.wav", dtype="float32")
    assert np.abs(data16).max() <= 1.0


def test_failed_render_leaves_no_file_behind(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous good render")
    built = song().build(SR, 512)
    sink = WavSink(target, SR)

    class Boom(Exception):
        pass

    def explode(frac: float) -> None:
        if frac > 0.3:
            raise Boom()

    with pytest.raises(Boom):
        try:
            render(built.engine, built.end_sample, sink, progress=explode)
        except BaseException:
            sink.abort()
            raise
    assert target.read_bytes() == b"previous good render"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_render_arguments_are_checked():
    built = song().build(SR, 512)
    with pytest.raises(RenderError, match="block size"):
        render_array(built.engine, built.end_sample, block_size=1024)
    with pytest.raises(RenderError, match="tail"):
        render_array(built.engine, built.end_sample, tail="forever")
    with pytest.raises(RenderError, match="not a tap"):
        render_array(built.engine, built.end_sample, stems={"x": "nope.out"})


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    path = write_wav(tmp_path / "p.wav", np.zeros((2, 10), np.float32), SR)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    path.chmod(0o640)
    write_wav(path, np.zeros((2, 10), np.float32), SR)  # replacing keeps the file's mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_stems_line_up_with_the_mix_when_inserts_report_latency():
    from tests.helpers import Delay

    s = song()
    s.tracks[0].inserts = [Delay(100)]  # the lead has a 100-sample device: the plan delays the rest
    s.master_inserts = [Delay(37)]  # and the master chain adds its own
    built = s.build(SR, 512)
    audio, stems, _ = render_array(built.engine, built.end_sample, stems=built.stems)
    assert built.engine.latency_samples == 137
    # the master strip is unity, so the latency-trimmed stems must add up to the trimmed mix exactly
    np.testing.assert_allclose(stems["lead"] + stems["pad"] + stems["fx"], audio, atol=1e-5)
    first = int(np.nonzero(np.abs(audio[0]) > 0)[0][0])
    assert first == 0  # the song still starts at sample 0


def test_tail_of_infinity_or_nan_is_refused():
    built = song().build(SR, 512)
    for bad in ("inf", "nan", -1):
        with pytest.raises(RenderError, match="tail must be"):
            render_array(built.engine, built.end_sample, tail=bad)


def test_the_demo_song_with_synth_automation_renders_alike_at_any_block_size():
    from pathlib import Path

    from presets.song import load_song

    demo = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"
    results = []
    for block in (32, 1000, 4096):
        built = load_song(demo).build(SR, 4096)
        end = round(built.engine.transport.tempo_map.beat_to_sample(44.0, SR))  # into the filter sweep
        audio, _, _ = render_array(built.engine, end, block_size=block, tail=0)
        results.append(audio)
    for other in results[1:]:
        assert np.max(np.abs(other - results[0])) <= 1e-6


def test_a_bus_may_feed_a_bus_listed_after_it():
    s = song()
    s.buses = [BusSpec("fx", output="group"), BusSpec("group", volume_db=-6)]
    built = s.build(SR, 512)
    audio, stems, _ = render_array(built.engine, built.end_sample, stems=built.stems)
    assert np.abs(stems["group"]).max() > 0
    np.testing.assert_allclose(stems["lead"] + stems["pad"] + stems["group"], audio, atol=1e-5)


def test_buses_feeding_each_other_in_a_loop_are_named():
    from engine.errors import SessionError

    s = song()
    s.buses = [BusSpec("fx", output="b"), BusSpec("b", output="c"), BusSpec("c", output="b")]
    with pytest.raises(SessionError, match="loop: b -> c -> b"):
        s.build(SR, 512)


def test_muting_a_track_after_build_also_silences_its_pre_fader_send():
    from engine.mixer import apply_solo

    s = song()
    s.tracks[0].sends = [SendSpec("fx", 0.0, pre_fader=True)]
    s.tracks[1].mute = True
    built = s.build(SR, 512)
    built.strips["lead"].mute.set(1)
    apply_solo(built.strips.values())
    audio, _, _ = render_array(built.engine, built.end_sample)
    assert np.abs(audio).max() == 0.0


def test_the_master_meter_reads_after_the_master_inserts():
    from dsp.gain import Gain

    s = song()
    s.master_inserts = [Gain(2, 12.0)]
    built = s.build(SR, 512)
    audio, _, _ = render_array(built.engine, built.end_sample)
    peak_db, _ = built.strips["master"].meter_db()
    assert np.abs(audio).max() > 0.5
    assert max(built.strips["master"].peak_hold) == pytest.approx(float(np.abs(audio).max()), rel=1e-6)
    assert peak_db  # the last block's reading exists


def test_an_error_on_the_writer_thread_is_raised_by_the_sink_and_leaves_no_file(tmp_path):
    target = tmp_path / "out.wav"
    sink = WavSink(target, SR, 2)
    sink.write(np.zeros((2, 64), np.float32))
    sink.write(np.zeros((3, 64), np.float32))  # three channels into a stereo file: refused on the writer
    with pytest.raises(Exception):  # noqa: B017 (whatever the audio library raises, it reaches the caller)
        for _ in range(100):
            sink.write(np.zeros((2, 64), np.float32))
        sink.finish()
    sink.abort()
    assert not target.exists() and not list(tmp_path.glob("*.part"))


def test_blocks_reach_the_file_in_order_whatever_the_writer_lags(tmp_path):
    target = tmp_path / "out.wav"
    sink = WavSink(target, SR, 1, "32f")
    block = np.zeros((1, 100), np.float32)
    for k in range(50):
        block[:] = k  # the sink copies: reusing the buffer changes nothing written
        sink.write(block)
    sink.commit()
    data, _ = sf.read(target, dtype="float32")
    np.testing.assert_array_equal(
        data.reshape(50, 100), np.repeat(np.arange(50, dtype=np.float32)[:, None], 100, 1)
    )
