"""Pictures of songs (bridge/plots/) and the commands drawing them: `strum show`, `strum render --plot`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from bridge.plots import (
    SECTION_COLOR,
    AudioSummary,
    bar_lines,
    beat_lines,
    note_label,
    plot_render,
    plot_roll,
    section_markers,
    write_png,
)
from engine.processor import Processor
from engine.sequencer import Clip, Note
from engine.session import Section, Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint, TimeSignature
from tests.helpers import strum

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


def _sine(freq_hz: float, seconds: float, amp: float, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _summary(audio: np.ndarray, block: int = 512, cls: type[AudioSummary] = AudioSummary) -> AudioSummary:
    s = cls(SR, audio.shape[0])
    for i in range(0, audio.shape[1], block):
        s.write(audio[:, i : i + block])
    return s


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB")).astype(np.int32)


def _red_columns(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Columns inside ``box`` (left, top, right, bottom) that are mostly the section marker's red."""
    left, top, right, bottom = (round(v) for v in box)
    rgb = np.array([int(SECTION_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    region = img[top + 3 : bottom - 3, left - 2 : right + 3]
    close = np.abs(region - rgb).sum(axis=2) < 90
    return np.nonzero(close.mean(axis=0) > 0.6)[0] + left - 2


# -- the audio summary -------------------------------------------------------------------------------


def test_envelope_has_the_peaks_and_rms_of_each_channel():
    audio = np.stack([_sine(1000, 2.0, 0.5), np.zeros(2 * SR, np.float32)])
    mn, mx, rms = _summary(audio).envelope(100)
    assert mn.shape == mx.shape == rms.shape == (2, 100)
    assert np.all(mx[0] > 0.49) and np.all(mn[0] < -0.49) and np.all(mx[0] <= 0.5)
    np.testing.assert_allclose(rms[0], 0.5 / np.sqrt(2), rtol=0.01)
    assert not mn[1].any() and not mx[1].any() and not rms[1].any()


def test_spectrogram_puts_a_sine_in_its_band_and_levels_in_db():
    loud = _summary(np.stack([_sine(1000, 2.0, 1.0)] * 2))
    quiet = _summary(np.stack([_sine(1000, 2.0, 0.1)] * 2))
    db = loud.spectrogram(40)
    assert db.shape == (loud.rows, 40)
    band = int(np.searchsorted(loud.band_edges_hz, 1000.0) - 1)
    assert np.all(np.abs(db.argmax(axis=0) - band) <= 1)
    assert -10.0 < db.max() <= 1.0  # a full-scale sine is near 0 dB
    assert db.max() - quiet.spectrogram(40).max() == pytest.approx(20.0, abs=0.1)


def test_the_summary_does_not_depend_on_block_sizes():
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((2, 3 * SR)) * 0.2).astype(np.float32)
    ref = _summary(audio, block=audio.shape[1])
    for block in (37, 1000):
        other = _summary(audio, block=block)
        for a, b in zip(ref.envelope(300), other.envelope(300), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ref.spectrogram(300), other.spectrogram(300), atol=1e-3)


class _Tiny(AudioSummary):
    ENVELOPE_CAP = 64
    SPECTRUM_CAP = 16


def test_a_long_song_is_summarised_in_bounded_memory():
    audio = np.stack([_sine(440, 20.0, 0.5), _sine(880, 20.0, 0.25)])
    small = _Tiny(SR, 2)
    for i in range(0, audio.shape[1], 4096):
        small.write(audio[:, i : i + 4096])
        assert small._env_count <= _Tiny.ENVELOPE_CAP and small._spec_count <= _Tiny.SPECTRUM_CAP
    full = _summary(audio)
    mn, mx, rms = small.envelope(8)
    ref = full.envelope(8)
    np.testing.assert_allclose(mx, ref[1], atol=1e-3)
    np.testing.assert_allclose(mn, ref[0], atol=1e-3)
    np.testing.assert_allclose(rms, ref[2], rtol=0.01)
    ref_db, small_db = full.spectrogram(8), small.spectrogram(8)
    # the sines' bands and levels agree (far below them the bands hold only window leakage)
    assert np.all(np.abs(small_db.argmax(axis=0) - ref_db.argmax(axis=0)) <= 1)
    np.testing.assert_allclose(small_db.max(axis=0), ref_db.max(axis=0), atol=0.5)


def test_summary_refuses_wrong_blocks_and_late_writes():
    s = AudioSummary(SR, 2)
    with pytest.raises(ValueError, match=r"blocks must be \(2, frames\)"):
        s.write(np.zeros((1, 10), np.float32))
    s.write(np.zeros((2, 10), np.float32))
    s.envelope(10)
    with pytest.raises(RuntimeError, match="write after"):
        s.write(np.zeros((2, 10), np.float32))


# -- the time grid -----------------------------------------------------------------------------------


def _tempo_change() -> TempoMap:
    # 120 bpm for two bars (4 s), then 60 bpm: beat 10 is at 4 s + 2 beats of one second
    return TempoMap([TempoPoint(0, 120), TempoPoint(8, 60)], [TimeSignature(0, 4, 4)])


def test_section_markers_sit_where_the_tempo_map_puts_their_beats():
    song = Session(
        tempo_map=_tempo_change(), sections=[Section("intro", 0), Section("verse", 6), Section("hook", 10)]
    )
    assert section_markers(song) == [("intro", 0.0), ("verse", 3.0), ("hook", 6.0)]
    assert section_markers(song, end_seconds=5.0) == [("intro", 0.0), ("verse", 3.0)]


def test_bar_and_beat_lines_follow_the_time_signatures():
    tm = TempoMap([TempoPoint(0, 100)], [TimeSignature(0, 3, 4), TimeSignature(1, 6, 8)])
    assert bar_lines(tm, 9.0) == [(0, 0.0), (1, 3.0), (2, 6.0), (3, 9.0)]
    beats = beat_lines(tm, 6.0)
    assert beats[:4] == [(0, 0, 0.0), (0, 1, 1.0), (0, 2, 2.0), (1, 0, 3.0)]
    assert [b for bar, _k, b in beats if bar == 1] == [3.0, 3.5, 4.0, 4.5, 5.0, 5.5]  # eighths in 6/8


def test_note_labels_follow_the_spelling():
    assert note_label(60) == "C4" and note_label(70) == "Bb4" and note_label(70, "sharps") == "A#4"


# -- the render picture ------------------------------------------------------------------------------


def _render_song() -> Session:
    return Session(
        tempo_map=_tempo_change(),
        title="Grid test",
        key="E minor",
        sections=[Section("intro", 0), Section("verse", 6), Section("hook", 10), Section("late", 99)],
    )


@pytest.mark.parametrize("time_axis", ["bars", "seconds"])
def test_render_plot_has_the_requested_size_and_markers_on_the_tempo_map(tmp_path, time_axis):
    audio = np.stack([_sine(220, 8.0, 0.6), _sine(330, 8.0, 0.3)])
    fig, info = plot_render(
        _summary(audio), _render_song(), width_px=1000, height_px=600, time_axis=time_axis
    )
    path = write_png(fig, tmp_path / "plot.png")
    img = _read_png(path)
    assert img.shape == (600, 1000, 3)
    assert img.std() > 20  # not blank
    left, _top, right, _bottom = info.axes_px["waveform"]
    expected = [left + s / 8.0 * (right - left) for s in (0.0, 3.0, 6.0)]  # "late" is past the end
    np.testing.assert_allclose(info.section_px, expected, atol=0.01)
    red = _red_columns(img, info.axes_px["waveform"])
    for x in expected:
        assert np.min(np.abs(red - x)) <= 1.5, (x, red)
    assert not [c for c in red if min(abs(c - x) for x in expected) > 3]  # no other red lines
    assert sorted(os.listdir(tmp_path)) == ["plot.png"]


def test_render_plot_of_silence_and_bad_arguments():
    empty = AudioSummary(48000, 2)
    _fig, info = plot_render(empty, Session(), width_px=400, height_px=300)
    assert (info.width_px, info.height_px) == (400, 300) and info.section_px == []
    with pytest.raises(ValueError, match="time axis must be 'bars' or 'seconds'"):
        plot_render(AudioSummary(48000, 2), Session(), time_axis="frames")
    with pytest.raises(ValueError, match=r"width must be in 400\.\.20000 pixels, got 10"):
        plot_render(AudioSummary(48000, 2), Session(), width_px=10)


# -- the piano roll ----------------------------------------------------------------------------------


class _Silent(Processor):
    """An instrument never run: the roll only draws the notes."""


def _roll_song() -> Session:
    keys = Clip(
        0.0,
        notes=tuple([Note(p, 0, 4, 100) for p in (60, 64, 67)] + [Note(p, 4, 4, 30) for p in (65, 69, 72)]),
    )
    bass = Clip(0.0, notes=(Note(36, 0, 2), Note(41, 4, 2), Note(43, 8, 4)))
    drums = Clip(0.0, notes=tuple(Note(p, b, 0.25, 90, 9) for b in range(12) for p in ((36, 38)[b % 2], 42)))
    return Session(
        tempo_map=TempoMap([TempoPoint(0, 96)]),
        tracks=[
            TrackSpec("keys", _Silent(), [keys]),
            TrackSpec("bass", _Silent(), [bass]),
            TrackSpec("drums", _Silent(), [drums]),
        ],
        title="Roll test",
        sections=[Section("A", 0), Section("B", 4), Section("C", 8)],
    )


def test_roll_has_the_requested_width_sections_and_chords(tmp_path):
    fig, info = plot_roll(_roll_song(), width_px=900)
    img = _read_png(write_png(fig, tmp_path / "roll.png"))
    assert img.shape == (info.height_px, 900, 3)
    assert img.std() > 20
    left, _top, right, _bottom = info.axes_px["roll"]
    expected = [left + b / 12.0 * (right - left) for b in (0, 4, 8)]  # three bars of 4/4
    np.testing.assert_allclose(info.section_px, expected, atol=0.01)
    red = _red_columns(img, info.axes_px["roll"])
    for x in expected:
        assert np.min(np.abs(red - x)) <= 1.5, (x, red)
    assert "drums" in info.axes_px and "chords" in info.axes_px
    assert [name for _a, _b, name in info.chords] == ["C", "F"]  # bar 2 has only the bass: no chord


def test_roll_height_follows_the_pitch_range_and_empty_songs_draw():
    narrow = Session(tracks=[TrackSpec("t", _Silent(), [Clip(0.0, notes=(Note(60, 0, 1),))])])
    wide = Session(tracks=[TrackSpec("t", _Silent(), [Clip(0.0, notes=(Note(30, 0, 1), Note(90, 1, 1)))])])
    assert plot_roll(wide, width_px=600)[1].height_px > plot_roll(narrow, width_px=600)[1].height_px
    _fig, info = plot_roll(Session(), width_px=600)
    assert info.width_px == 600 and info.chords == []


def test_write_png_is_atomic(tmp_path):
    fig, _info = plot_roll(_roll_song(), width_px=500)
    target = tmp_path / "roll.png"
    pending = write_png(fig, target, publish=False)
    assert pending.parent == tmp_path and pending.exists() and not target.exists()
    os.replace(pending, target)
    with pytest.raises(IsADirectoryError):
        write_png(fig, tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["roll.png"]


# -- the commands, as a user runs them ---------------------------------------------------------------

SONG = """\
schema_version: 2
metadata: {title: Tiny tune}
key: F major
sections:
  - {name: intro, beat: 0}
  - {name: hook, beat: 4}
tempo_map:
  - {beat: 0, bpm: 120}
  - {beat: 4, bpm: 60}
tracks:
  - name: keys
    instrument: {type: synth, max_voices: 8, params: {release_ms: 50}}
    clips:
      - name: chords
        start_beats: 0
        notes:
          - [F3, 0, 4, 90]
          - [A3, 0, 4, 90]
          - [C4, 0, 4, 90]
          - [G3, 4, 2, 70]
          - [Bb3, 4, 2, 70]
          - [D4, 4, 2, 70]
          - [E3, 6, 2, VELOCITY]
          - [G3, 6, 2, 110]
          - [C4, 6, 2, 110]
  - name: beat
    instrument: {type: synth, max_voices: 4, params: {decay_ms: 60, sustain: 0}}
    clips:
      - name: groove
        start_beats: 0
        notes:
          - {pitch: 36, start: 0, length: 0.25, channel: 9}
          - {pitch: 38, start: 1, length: 0.25, channel: 9}
          - {pitch: 42, start: 1.5, length: 0.25, velocity: 60, channel: 9}
"""


def _song_file(tmp_path: Path, velocity: int = 110) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SONG.replace("VELOCITY", str(velocity)))
    return path


def test_show_draws_a_roll(tmp_path):
    out = tmp_path / "pics" / "roll.png"  # a missing folder is made
    r = strum("show", _song_file(tmp_path), "-o", out, "--width", "900")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "2 tracks, 2 sections, 3 chord spans" in r.stdout
    img = _read_png(out)
    assert img.shape[1] == 900 and img.std() > 20
    assert os.listdir(out.parent) == ["roll.png"]


def test_render_with_plot_writes_the_wav_and_the_picture(tmp_path):
    wav, png = tmp_path / "tiny.wav", tmp_path / "plots" / "tiny.png"
    r = strum(
        "render", _song_file(tmp_path), "-o", wav, "--plot", png, "--plot-size", "800x450", "--no-progress"
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {png}: 800x450 px" in r.stdout
    assert sf.info(wav).duration > 5.0  # 4 beats at 120 and 4 at 60, then the tail
    img = _read_png(png)
    assert img.shape == (450, 800, 3) and img.std() > 20
    assert sorted(os.listdir(tmp_path)) == ["plots", "tiny.wav", "tiny.yaml"]
    assert os.listdir(png.parent) == ["tiny.png"]


def test_show_reports_a_bad_song_with_exit_2_and_no_traceback(tmp_path):
    out = tmp_path / "roll.png"
    r = strum("show", _song_file(tmp_path, velocity=200), "-o", out)
    assert r.returncode == 2
    assert "tiny.yaml:" in r.stderr and "velocity" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = strum("show", tmp_path / "missing.yaml", "-o", out)
    assert r.returncode == 2 and "missing.yaml" in r.stderr and "Traceback" not in r.stderr


def test_show_refuses_outputs_it_cannot_write(tmp_path):
    song = _song_file(tmp_path)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    r = strum("show", song, "-o", blocker / "roll.png")
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "dir.png").mkdir()
    r = strum("show", song, "-o", tmp_path / "dir.png")
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = strum("show", song, "-o", tmp_path / "roll.jpg")
    assert r.returncode == 2 and "must be a .png" in r.stderr
    r = strum("show", song, "-o", tmp_path / "roll.png", "--width", "50")
    assert r.returncode == 2 and "--width must be 400..20000" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["dir.png", "file.txt", "tiny.yaml"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_show_refuses_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = strum("show", _song_file(tmp_path), "-o", locked / "roll.png")
    finally:
        locked.chmod(0o700)
    assert r.returncode == 2 and "no permission" in r.stderr


def test_render_refuses_a_bad_plot_before_rendering(tmp_path):
    song, wav = _song_file(tmp_path), tmp_path / "out.wav"
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    r = strum("render", song, "-o", wav, "--plot", blocker / "p.png", "--no-progress")
    assert r.returncode == 2 and "cannot write the plot" in r.stderr and "Traceback" not in r.stderr
    r = strum("render", song, "-o", wav, "--plot", tmp_path / "p.svg", "--no-progress")
    assert r.returncode == 2 and "must be a .png" in r.stderr
    r = strum("render", song, "-o", wav, "--plot", tmp_path / "p.png", "--plot-size", "wide", "--no-progress")
    assert r.returncode == 2 and "WIDTHxHEIGHT" in r.stderr
    assert not wav.exists() and sorted(os.listdir(tmp_path)) == ["file.txt", "tiny.yaml"]


def test_show_help_imports_no_numerics_or_matplotlib():
    probe = (
        "import sys\nfrom bridge.cli import main\n"
        "try:\n    main(['show', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('numpy', 'numba', 'matplotlib') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout and "--width" in r.stdout, r.stdout + r.stderr
