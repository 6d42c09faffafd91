"""Audio tracks in song files: clips from WAV/FLAC at their own rate, placed on the song's timeline."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engine.render import render_array
from presets.errors import SongFileError
from presets.song import load_song

SONG = """\
schema_version: 2
tempo: 120
tracks:
  - name: vox
    volume_db: 0
    audio_clips:
      - {file: takes/click.wav, start_beats: 2, gain_db: 0, fade_in_seconds: 0, fade_out_seconds: 0}
      - {file: takes/tone.flac, start_beats: 4, length_seconds: 0.5}
"""


@pytest.fixture
def song(tmp_path):
    (tmp_path / "takes").mkdir()
    click = np.zeros(4410)
    click[0] = 0.5
    sf.write(tmp_path / "takes" / "click.wav", click, 44100)
    t = np.arange(44100 * 2) / 44100
    sf.write(tmp_path / "takes" / "tone.flac", 0.25 * np.sin(2 * np.pi * 440 * t), 44100, subtype="PCM_24")
    path = tmp_path / "song.yaml"
    path.write_text(SONG)
    return path


def test_an_audio_track_plays_its_clips_in_time(song):
    session = load_song(song)
    assert session.end_beats() == pytest.approx(5.0)  # the tone clip: beat 4 + 0.5 s at 120 bpm
    built = session.build(48000, 256)
    assert built.end_sample == 120000
    mix, _, _ = render_array(built.engine, built.end_sample + 4800, block_size=256, tail=0)
    left = mix[0].astype(np.float64)
    onset = int(np.argmax(np.abs(left) > 1e-3))
    assert onset == 48000  # beat 2 at 120 bpm, within one sample of the click
    tone = left[96000 + 2400 : 96000 + 21600]  # inside the half second of tone, past the edge fades
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size), 1 << 20))
    peak_hz = np.argmax(spectrum) * 48000 / (1 << 20)
    assert abs(1200 * np.log2(peak_hz / 440.0)) < 2.0
    assert np.abs(left[96000 + 24000 + 10 :]).max() < 1e-6  # cut after length_seconds


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("takes/click.wav", "takes/missing.wav"), "tracks[0].audio_clips[0].file", "missing.wav"),
        (
            ("length_seconds: 0.5", "offset_seconds: 9"),
            "tracks[0].audio_clips[1].offset_seconds",
            "past the end",
        ),
        (("gain_db: 0,", "gain_db: 40,"), "tracks[0].audio_clips[0].gain_db", "must be in -96..24"),
        (
            ("    volume_db: 0\n", "    volume_db: 0\n    instrument: {type: synth}\n"),
            "tracks[0].instrument",
            "audio",
        ),
        (("start_beats: 2,", "start_beats: 2, pan: 1,"), "tracks[0].audio_clips[0].pan", "unknown field"),
    ],
)
def test_audio_clip_mistakes_are_named(song, edit, where, message):
    song.write_text(SONG.replace(*edit))
    with pytest.raises(SongFileError) as err:
        load_song(song)
    assert err.value.where == where and message in str(err.value), str(err.value)


def test_a_file_that_is_not_audio_is_named(song):
    (song.parent / "takes" / "click.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(SongFileError) as err:
        load_song(song)
    assert "click.wav" in str(err.value) and err.value.where == "tracks[0].audio_clips[0].file"
