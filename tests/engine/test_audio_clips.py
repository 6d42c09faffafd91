"""Audio clips: files read with soundfile, resampled to the session rate, played on the timeline."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio_clips import AudioClip, AudioClipPlayer, channel_matrix
from engine.audiofile import (
    AudioCache,
    AudioFileError,
    AudioFileNotFoundError,
    read_audio,
    resample,
    resampled_length,
)
from engine.errors import SessionError
from engine.processor import BlockContext
from engine.render import render_array
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint
from tests.alloc import allocations

SR = 48000
RESAMPLERS = ("soxr", "poly")


def write(tmp_path: Path, name: str, audio: np.ndarray, rate: int, subtype: str | None = None, **kw) -> Path:
    """Write ``(frames,)`` or ``(channels, frames)`` audio with soundfile."""
    path = tmp_path / name
    data = audio if audio.ndim == 1 else audio.T
    sf.write(str(path), data, rate, subtype=subtype, **kw)
    return path


def sine(freq_hz: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def player(*clips: AudioClip, method: str = "auto", **kw) -> AudioClipPlayer:
    return AudioClipPlayer(clips, cache=AudioCache(method=method), **kw)


def render_song(
    p: AudioClipPlayer, tempo: TempoMap | None = None, block: int = 512, max_block: int = 1024
) -> np.ndarray:
    """Render a one-track song whose instrument is ``p`` through Session and the offline renderer."""
    tm = tempo or TempoMap(bpm=120)
    p.set_tempo_map(tm)
    song = Session(tm, [TrackSpec("audio", p)], length_beats=p.end_beats())
    built = song.build(SR, max_block)
    mix, _, _ = render_array(built.engine, built.end_sample, block_size=block, tail=0)
    return mix


def play_direct(p: AudioClipPlayer, frames: int, block: int = 256) -> np.ndarray:
    """Drive the player alone from timeline sample 0 with the transport playing."""
    p.prepare(SR, block)
    ctx = BlockContext(SR)
    out = np.zeros((p.channels, frames), dtype=np.float32)
    for pos in range(0, frames, block):
        n = min(block, frames - pos)
        ctx.set_single_segment(n, pos, True)
        p.process(ctx, [], [out[:, pos : pos + n]], [], [])
    return out


def peak_hz(x: np.ndarray, rate: int) -> float:
    """Frequency of the spectral peak: Hann window, 2**21-point zero-padded FFT, parabola on log |X|."""
    n = 1 << 21
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


def cents(f: float, ref: float) -> float:
    return 1200.0 * math.log2(f / ref)


# -- pitch and time across sample rates ----------------------------------------------------------------


def test_peak_estimator_reads_a_known_tone_to_a_thousandth_of_a_cent():
    assert abs(cents(peak_hz(sine(1000.0, 2.0, SR), SR), 1000.0)) < 1e-3


@pytest.mark.parametrize("method", RESAMPLERS)
def test_a_44k1_clip_plays_a_1khz_tone_at_1khz_in_a_48k_session(tmp_path, method):
    path = write(tmp_path, "tone.wav", sine(1000.0, 3.0, 44100), 44100, "FLOAT")
    mix = render_song(player(AudioClip(path, start_beats=1.0), method=method))  # from sample 24000
    steady = mix[0, 28800 : 28800 + 2 * SR]  # two seconds well inside the clip
    error = cents(peak_hz(steady, SR), 1000.0)
    assert abs(error) < 1.0, f"{method}: pitch off by {error:.5f} cents"
    # and the clip lasts its length in seconds: 3 s * 48 kHz samples from its start
    loud = np.nonzero(np.abs(mix[0]) > 1e-3)[0]
    assert mix.shape[1] == 24000 + 3 * SR and loud[-1] >= 24000 + 3 * SR - 48


@pytest.mark.parametrize("method", RESAMPLERS)
@pytest.mark.parametrize("click_at", [441, 1000])
def test_a_click_lands_on_the_tempo_map_sample_of_its_beat(tmp_path, method, click_at):
    audio = np.zeros(44100, dtype=np.float32)
    audio[click_at] = 1.0
    path = write(tmp_path, "click.wav", audio, 44100, "FLOAT")
    tm = TempoMap([TempoPoint(0, 120), TempoPoint(2, 120, "linear"), TempoPoint(4, 90)])
    beat = 5.25
    mix = render_song(player(AudioClip(path, start_beats=beat), method=method), tm)
    expected = math.floor(tm.beat_to_sample(beat, SR) + 0.5) + click_at * SR / 44100
    onset = int(np.nonzero(np.abs(mix[0]) > 0.5 * np.abs(mix[0]).max())[0][0])
    assert abs(onset - expected) <= 1.0, f"onset {onset}, expected {expected:.2f}"
    assert abs(int(np.argmax(mix[0])) - expected) <= 0.5


def gaussian_peak(x: np.ndarray) -> float:
    """Sub-sample peak of a Gaussian pulse: a parabola through the log of its top three samples is exact."""
    k = int(np.argmax(x))
    a, b, c = np.log(x[k - 1 : k + 2].astype(np.float64))
    return k + 0.5 * (a - c) / (a - 2 * b + c)


@pytest.mark.parametrize("method", RESAMPLERS)
def test_a_pulse_peaks_within_a_hundredth_of_a_sample_of_its_beat(tmp_path, method):
    t = np.arange(44100)
    pulse = np.exp(-0.5 * ((t - 1000.3) / 3.0) ** 2).astype(np.float32)  # band-limited, peak at 1000.3
    path = write(tmp_path, "pulse.wav", pulse, 44100, "FLOAT")
    tm = TempoMap([TempoPoint(0, 97), TempoPoint(3, 133)])
    mix = render_song(player(AudioClip(path, start_beats=3.7), method=method), tm)
    expected = math.floor(tm.beat_to_sample(3.7, SR) + 0.5) + 1000.3 * SR / 44100
    assert abs(gaussian_peak(mix[0]) - expected) < 0.01


def test_a_48k_file_in_a_48k_session_plays_sample_for_sample(tmp_path):
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 20000)).astype(np.float32)
    path = write(tmp_path, "noise.wav", audio, SR, "FLOAT")
    mix = render_song(player(AudioClip(path, start_beats=0.5)))
    np.testing.assert_allclose(mix[:, 12000:32000], audio, atol=1e-6)
    assert not mix[:, :12000].any()


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 88200, 96000, 192000])
def test_resampling_keeps_the_duration_exactly(tmp_path, rate):
    audio = sine(440.0, 1.0, rate)[: rate - 1234]
    n = audio.size
    path = write(tmp_path, "x.wav", audio, rate, "FLOAT")
    data = AudioCache().get(path, SR)
    assert data.frames == resampled_length(n, rate, SR) == math.floor(n * SR / rate + 0.5)
    assert data.sample_rate == SR and data.source_rate == rate


@pytest.mark.parametrize("method", RESAMPLERS)
@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 48000), (96000, 44100), (22050, 48000)])
def test_resamplers_have_no_delay(method, rate_in, rate_out):
    t = np.arange(3 * rate_in // 10)
    x = np.exp(-0.5 * ((t - 5000) / 4.0) ** 2).astype(np.float32)[None, :]
    y = resample(x, rate_in, rate_out, method)[0]
    assert y.shape[0] == resampled_length(x.shape[1], rate_in, rate_out)
    assert abs(gaussian_peak(y) - 5000 * rate_out / rate_in) < 0.01


def test_resampled_length_rounds_halves_up():
    assert resampled_length(1, 2, 1) == 1  # 0.5 -> 1
    assert resampled_length(3, 2, 1) == 2  # 1.5 -> 2
    assert resampled_length(44100, 44100, 48000) == 48000


# -- block sizes, loops and the transport ---------------------------------------------------------------


def busy_player(tmp_path: Path) -> AudioClipPlayer:
    rng = np.random.default_rng(7)
    a = write(tmp_path, "a.wav", rng.uniform(-0.3, 0.3, (2, 30000)).astype(np.float32), 44100, "FLOAT")
    b = write(tmp_path, "b.flac", sine(330.0, 1.0, 22050), 22050, "PCM_24")
    return player(
        AudioClip(a, 0.3),
        AudioClip(b, 0.7, offset_seconds=0.1, length_seconds=0.5, fade_in_seconds=0.05, gain_db=-3),
        AudioClip(a, 1.01, offset_seconds=0.2, fade_out_seconds=0.1, fade_shape="linear"),
        gain_db=-2.0,
    )


def test_renders_with_64_and_1024_sample_blocks_are_identical(tmp_path):
    tm = TempoMap([TempoPoint(0, 100), TempoPoint(1, 100, "linear"), TempoPoint(2, 140)])
    small = render_song(busy_player(tmp_path), tm, block=64)
    large = render_song(busy_player(tmp_path), tm, block=1024)
    assert small.shape == large.shape
    assert np.abs(small).max() > 0.1
    assert np.array_equal(small, large)


def test_a_loop_wrap_inside_a_block_plays_from_the_loop_start(tmp_path):
    ramp = (np.arange(40000) / 40000.0).astype(np.float32)  # every sample tells its file position
    path = write(tmp_path, "ramp.wav", ramp, SR, "FLOAT")
    p = player(AudioClip(path, start_beats=0.25))  # timeline 6000
    tm = TempoMap(bpm=120)
    p.set_tempo_map(tm)
    built = Session(tm, [TrackSpec("audio", p)], length_beats=4).build(SR, 1024)
    eng = built.engine
    eng.transport.set_loop(0.5, 0.625)  # samples 12000..15000: a wrap inside every third block
    eng.transport.locate(10000)
    eng.transport.play()
    got, expected, pos = [], [], 10000
    for _ in range(12):
        got.append(eng.process_block(1000)[0].copy())
        for _ in range(1000):
            expected.append(ramp[pos - 6000])
            pos = 12000 if pos + 1 == 15000 else pos + 1
    assert eng.transport.loop_wraps >= 3
    np.testing.assert_allclose(np.concatenate(got), np.array(expected), atol=1e-6)


def test_a_stopped_transport_outputs_silence(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(48000, 0.5, np.float32), SR, "FLOAT")
    p = player(AudioClip(path, start_beats=0))
    built = Session(TempoMap(), [TrackSpec("audio", p)], length_beats=2).build(SR, 512)
    eng = built.engine
    eng.transport.locate(1000)
    for _ in range(4):
        assert not eng.process_block(512).any()
    eng.transport.play()
    assert np.allclose(eng.process_block(512), 0.5)


def test_processing_allocates_no_buffers(tmp_path):
    p = busy_player(tmp_path)
    tm = TempoMap(bpm=120)
    p.set_tempo_map(tm)
    eng = Session(tm, [TrackSpec("audio", p)], length_beats=8).build(SR, 512).engine
    eng.transport.set_loop(0, 3)
    eng.transport.play()
    for _ in range(50):  # warm up the JIT
        eng.process_block(512)
    got = allocations(lambda _: eng.process_block(512), 500)
    assert got.peak < 4096 and got.held < 1024, got


def test_the_player_has_no_latency_and_no_audio_inputs():
    p = AudioClipPlayer(channels=4)
    assert p.latency_samples == 0 and p.audio_inputs == () and p.audio_outputs[0].channels == 4


# -- offset, length, fades, gain --------------------------------------------------------------------------


def test_offset_skips_the_start_of_the_file(tmp_path):
    ramp = (np.arange(48000) / 48000.0).astype(np.float32)
    path = write(tmp_path, "ramp.wav", ramp, SR, "FLOAT")
    out = play_direct(player(AudioClip(path, 0.0, offset_seconds=0.25, fade_in_seconds=0)), 48000)
    np.testing.assert_allclose(out[0, :36000], ramp[12000:], atol=1e-7)
    assert not out[:, 36000:].any()


def test_length_cuts_the_clip_after_that_many_seconds(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(48000, 0.5, np.float32), SR, "FLOAT")
    out = play_direct(player(AudioClip(path, 1.0, length_seconds=0.25, fade_out_seconds=0)), 48000)
    assert np.allclose(out[:, 24000:36000], 0.5) and not out[:, :24000].any() and not out[:, 36000:].any()


def test_a_clip_cut_mid_file_gets_a_2ms_edge_fade_and_the_files_own_edges_none(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(48000, 0.5, np.float32), SR, "FLOAT")
    whole = play_direct(player(AudioClip(path, 0.0)), 48000)
    assert whole[0, 0] == 0.5 and whole[0, 47999] == 0.5
    cut = play_direct(player(AudioClip(path, 0.0, offset_seconds=0.1, length_seconds=0.5)), 48000)
    k = np.arange(96)
    np.testing.assert_allclose(cut[0, :96], 0.5 * np.sin(0.5 * np.pi * k / 96), atol=1e-7)
    np.testing.assert_allclose(
        cut[0, 24000 - 96 : 24000], 0.5 * np.sin(0.5 * np.pi * k[::-1] / 96), atol=1e-7
    )
    assert cut[0, 0] == 0.0 and cut[0, 23999] == 0.0 and np.all(cut[0, 96 : 24000 - 96] == 0.5)
    raw = play_direct(player(AudioClip(path, 0.0, 0.1, 0.5, fade_in_seconds=0, fade_out_seconds=0)), 48000)
    assert raw[0, 0] == 0.5 and raw[0, 23999] == 0.5


@pytest.mark.parametrize(
    ("shape", "curve"), [("equal_power", lambda x: np.sin(0.5 * np.pi * x)), ("linear", lambda x: x)]
)
def test_fades_follow_their_shape_over_their_length(tmp_path, shape, curve):
    path = write(tmp_path, "dc.wav", np.full(24000, 0.5, np.float32), SR, "FLOAT")
    clip = AudioClip(path, 0.0, fade_in_seconds=0.01, fade_out_seconds=0.02, fade_shape=shape)
    out = play_direct(player(clip), 24000)[0]
    np.testing.assert_allclose(out[:480], 0.5 * curve(np.arange(480) / 480), atol=1e-7)
    np.testing.assert_allclose(out[-960:], 0.5 * curve(np.arange(960)[::-1] / 960), atol=1e-7)
    assert np.all(out[480:-960] == 0.5)


def test_fades_longer_than_the_clip_are_shortened_in_proportion(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(3000, 0.5, np.float32), SR, "FLOAT")
    clip = AudioClip(path, 0.0, fade_in_seconds=0.05, fade_out_seconds=0.1, fade_shape="linear")  # 2400+4800
    out = play_direct(player(clip), 3000)[0]
    assert int(np.argmax(out)) == 1000  # the fade-in ends a third of the way in
    np.testing.assert_allclose(out[:1000], 0.5 * np.arange(1000) / 1000, atol=1e-7)
    np.testing.assert_allclose(out[1000:], 0.5 * np.arange(2000)[::-1] / 2000, atol=1e-7)


def test_clip_gain_and_player_gain_scale_the_level_in_db(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(4800, 0.5, np.float32), SR, "FLOAT")
    out = play_direct(player(AudioClip(path, 0.0, gain_db=-6.0), gain_db=-12.0), 4800)
    np.testing.assert_allclose(out, 0.5 * 10 ** (-18 / 20), rtol=1e-6)
    silent = play_direct(player(AudioClip(path, 0.0, gain_db=-96.0)), 4800)
    assert not silent.any()


def test_overlapping_clips_sum(tmp_path):
    a = write(tmp_path, "a.wav", np.full(4800, 0.25, np.float32), SR, "FLOAT")
    b = write(tmp_path, "b.wav", np.full(4800, 0.125, np.float32), SR, "FLOAT")
    out = play_direct(player(AudioClip(a, 0.0), AudioClip(b, 0.05)), 12000)[0]  # b from sample 1200
    assert np.all(out[:1200] == 0.25) and np.all(out[1200:4800] == 0.375) and np.all(out[4800:6000] == 0.125)


def test_set_tempo_map_moves_the_clip_start_but_not_its_length(tmp_path):
    path = write(tmp_path, "dc.wav", np.full(4800, 0.5, np.float32), SR, "FLOAT")
    p = player(AudioClip(path, 2.0))
    p.set_tempo_map(TempoMap(bpm=60))
    out = play_direct(p, 110000)[0]
    on = np.nonzero(out)[0]
    assert on[0] == 96000 and on[-1] == 96000 + 4799
    assert p.end_beats() == pytest.approx(2.1)
    assert p.end_beats(TempoMap(bpm=120)) == pytest.approx(2.2)
    assert AudioClip(path, np.float32(1.5)).start_beats == 1.5


# -- channels ---------------------------------------------------------------------------------------------


def test_a_mono_file_plays_centred_on_both_channels_and_stereo_as_is(tmp_path):
    mono = write(tmp_path, "m.wav", sine(500.0, 0.1, SR), SR, "FLOAT")
    st = np.stack([sine(500.0, 0.1, SR), sine(700.0, 0.1, SR, 0.25)])
    stereo = write(tmp_path, "s.wav", st, SR, "FLOAT")
    out = play_direct(player(AudioClip(mono, 0.0)), 4800)
    assert np.array_equal(out[0], out[1]) and np.allclose(out[0], sine(500.0, 0.1, SR))
    out = play_direct(player(AudioClip(stereo, 0.0)), 4800)
    np.testing.assert_allclose(out, st, atol=1e-7)


def test_a_5_1_file_folds_to_stereo_by_itu_and_stereo_to_mono_by_the_mean(tmp_path):
    surround = np.stack([np.full(480, v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.05, 0.06)])
    path = write(tmp_path, "51.wav", surround, SR, "FLOAT")
    out = play_direct(player(AudioClip(path, 0.0)), 480)
    h = math.sqrt(0.5)
    np.testing.assert_allclose(out[:, 0], [0.1 + h * 0.3 + h * 0.05, 0.2 + h * 0.3 + h * 0.06], rtol=1e-6)
    st = write(
        tmp_path, "st.wav", np.stack([np.full(480, 0.2, np.float32), np.full(480, 0.4, np.float32)]), SR
    )
    assert np.allclose(play_direct(player(AudioClip(st, 0.0), channels=1), 480), 0.3, atol=1e-4)


def test_channel_matrices():
    assert np.array_equal(channel_matrix(1, 2), [[1], [1]])
    assert np.array_equal(channel_matrix(2, 4), [[1, 0], [0, 1], [0, 0], [0, 0]])
    assert np.allclose(channel_matrix(10, 2).sum(axis=1), 1.0)  # no table: an averaged fold
    assert channel_matrix(6, 2)[0, 3] == 0.0  # the LFE is dropped
    with pytest.raises(ValueError, match="channel counts"):
        channel_matrix(0, 2)


# -- formats ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtype", "step"),
    [("PCM_16", 2**-15), ("PCM_24", 2**-23), ("PCM_32", 2**-24), ("FLOAT", 0), ("DOUBLE", 0)],
)
def test_wav_subtypes_load_as_float(tmp_path, subtype, step):
    audio = sine(440.0, 0.2, 44100, 0.9).astype(np.float64)
    data = read_audio(write(tmp_path, "x.wav", np.stack([audio, -audio]), 44100, subtype))
    assert data.channels == 2 and data.sample_rate == 44100 and data.subtype == subtype
    assert data.samples.dtype == np.float32 and not data.samples.flags.writeable
    np.testing.assert_allclose(data.samples[1], -audio, atol=2 * step + 1e-7)


def test_flac_and_ogg_vorbis_files_load_and_play_at_their_pitch(tmp_path):
    tone = sine(1000.0, 2.0, 44100)
    flac = read_audio(write(tmp_path, "t.flac", tone, 44100, "PCM_16"))
    assert flac.format == "FLAC"
    np.testing.assert_allclose(flac.samples[0], tone, atol=2**-14)
    ogg_path = write(tmp_path, "t.ogg", tone, 44100, "VORBIS")
    ogg = read_audio(ogg_path)
    assert ogg.format == "OGG" and ogg.subtype == "VORBIS" and abs(ogg.frames - tone.size) < 2048
    mix = render_song(player(AudioClip(ogg_path, 0.0)))
    assert abs(cents(peak_hz(mix[0, 4800 : 4800 + SR], SR), 1000.0)) < 1.0


def test_a_file_used_by_many_clips_is_read_once_and_shared(tmp_path):
    path = write(tmp_path, "t.wav", sine(440.0, 0.5, 44100), 44100)
    cache = AudioCache()
    p = AudioClipPlayer([AudioClip(path, b) for b in (0, 1, 2, 3)], cache=cache)
    p.prepare(SR, 256)
    assert cache.misses == 1 and cache.hits == 3 and len(cache) == 1
    srcs = {id(c.src) for c in p._schedule.clips}
    assert len(srcs) == 1
    write(tmp_path, "t.wav", sine(440.0, 0.6, 44100), 44100)  # edited on disk: read again
    assert cache.get(path, SR).frames == 28800 and cache.misses == 2


def test_the_cache_drops_the_least_recently_used_files_past_its_size(tmp_path):
    cache = AudioCache(max_bytes=200_000)
    paths = [write(tmp_path, f"{i}.wav", sine(440.0, 0.5, SR), SR) for i in range(3)]  # 96 KB each
    for p in paths:
        cache.get(p)
    assert len(cache) == 2 and cache.nbytes <= 200_000


# -- errors -----------------------------------------------------------------------------------------------


def _riff_wav(tag: int) -> bytes:
    fmt = struct.pack("<HHIIHHH", tag, 1, 44100, 88200, 2, 16, 0)
    data = bytes(200)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _make(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.wav"
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
    elif case == "text":
        path.write_text("these are my lyrics, not audio\n" * 10)
    elif case == "corrupt_header":
        sf.write(str(path), np.zeros(100), SR)
        raw = bytearray(path.read_bytes())
        raw[8:16] = b"JUNKJUNK"
        path.write_bytes(bytes(raw))
    elif case == "mp3_in_wav":
        path.write_bytes(_riff_wav(0x0055))
    elif case == "au":
        path = tmp_path / "x.au"
        sf.write(str(path), np.zeros(100), SR)
    elif case == "m4a":
        path = tmp_path / "x.m4a"
        path.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + bytes(64))
    elif case == "zero_bytes":
        path.touch()
    elif case == "no_frames":
        sf.write(str(path), np.zeros(0), SR)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("text", "not an audio file or its header is corrupt"),
        ("corrupt_header", "not an audio file or its header is corrupt"),
        ("mp3_in_wav", r"unsupported format: WAV encoding 0x0055 \(MPEG layer 3"),
        ("au", "unsupported format AU"),
        ("m4a", "unsupported format: MP4/M4A"),
        ("zero_bytes", r"zero-length file \(0 bytes\)"),
        ("no_frames", r"zero-length file: it holds no audio \(0 frames\)"),
    ],
)
def test_every_bad_file_gives_an_error_naming_the_file_and_the_problem(tmp_path, case, message):
    path = _make(tmp_path, case)
    with pytest.raises(AudioFileError, match=message) as info:
        read_audio(path)
    assert str(path) in str(info.value)
    # and the same error from a song that uses it, when it is built
    p = player(AudioClip(path, 0.0))
    with pytest.raises(AudioFileError, match=message):
        Session(TempoMap(), [TrackSpec("audio", p)], length_beats=1).build(SR, 256)


def test_a_missing_file_is_also_a_file_not_found_error(tmp_path):
    path = tmp_path / "sub" / "gone.flac"
    with pytest.raises(FileNotFoundError) as info:
        AudioCache().get(path, SR)
    assert isinstance(info.value, AudioFileNotFoundError) and str(path) in str(info.value)


def test_an_offset_past_the_end_of_the_file_names_the_clip(tmp_path):
    path = write(tmp_path, "short.wav", np.zeros(4800, np.float32), SR)
    p = player(AudioClip(path, 0.0), AudioClip(path, 1.0, offset_seconds=0.1, name="fill"))
    with pytest.raises(SessionError, match=r"clip 1 \(fill\): offset 0.1 s is at or past the end"):
        p.prepare(SR, 256)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_beats": math.nan}, "start_beats must be a finite number"),
        ({"offset_seconds": -1.0}, "offset_seconds must be >= 0"),
        ({"length_seconds": 0.0}, "length_seconds must be > 0"),
        ({"gain_db": 30.0}, "gain_db must be at most 24 dB"),
        ({"fade_in_seconds": -0.1}, "fade_in_seconds must be >= 0"),
        ({"fade_out_seconds": math.inf}, "fade_out_seconds must be a finite number"),
        ({"fade_shape": "s-curve"}, "fade_shape must be one of equal_power, linear"),
        ({"path": ""}, "clip path must be a non-empty path"),
    ],
)
def test_bad_clip_settings_are_refused_with_their_reason(kwargs, message):
    args = {"path": "x.wav", **kwargs}
    with pytest.raises(ValueError, match=message):
        AudioClip(**args)


def test_set_clips_with_a_bad_file_keeps_the_clips_that_play(tmp_path):
    good = write(tmp_path, "dc.wav", np.full(480, 0.5, np.float32), SR, "FLOAT")
    p = player(AudioClip(good, 0.0))
    p.prepare(SR, 256)
    with pytest.raises(AudioFileNotFoundError):
        p.set_clips([AudioClip(tmp_path / "nope.wav", 0.0)])
    assert p.clips[0].path == good and np.allclose(play_direct(p, 480), 0.5)
