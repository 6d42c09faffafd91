"""The WAV-folder and drum-kit readers: notes and layers from file names, key spreading, kits and kit maps."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instruments.errors import SampleFileError, SamplePathError
from instruments.sampler.model import LOOP_CONTINUOUS, NO_LOOP, ONE_SHOT, Region
from instruments.sampler.wavfolder import drum_key, name_layer, name_note, read_kit, read_wav_folder


def write_wav(path: Path, frames: int = 500, channels: int = 1, loop: tuple[int, int] | None = None) -> Path:
    """A short 16-bit sine; ``loop`` (start, end inclusive) appends a 'smpl' chunk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.5 * np.sin(2 * np.pi * 441 * np.arange(frames) / 44100)
    sf.write(path, x if channels == 1 else np.stack([x, x], 1), 44100, subtype="PCM_16")
    if loop is not None:
        body = struct.pack("<9I", 0, 0, 22676, 60, 0, 0, 0, 1, 0) + struct.pack("<6I", 0, 0, *loop, 0, 0)
        data = path.read_bytes() + b"smpl" + struct.pack("<I", len(body)) + body
        path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])
    return path


def folder(tmp_path: Path, *names: str) -> Path:
    for n in names:
        write_wav(tmp_path / n)
    return tmp_path


def spans(rs: list[Region]) -> list[tuple[int, int, int, int, float]]:
    return [(r.lokey, r.hikey, r.lovel, r.hivel, r.pitch_keycenter) for r in rs]


# --- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, note",
    [
        ("piano_C4", (60, True)),
        ("Piano F#3 v2", (54, True)),
        ("Strings-Db5", (73, True)),
        ("bass_c-1", (0, True)),
        ("Piano-60-v2", (60, False)),
        ("060", (60, False)),
        ("Piano 2 C4", (60, True)),  # a note name wins over a number
        ("vel3_pad", None),
        ("piano", None),
        ("take_200", None),
    ],
)
def test_name_note(stem: str, note: tuple[int, bool] | None) -> None:
    assert name_note(stem) == note


@pytest.mark.parametrize(
    "stem, layer",
    [("C4_v1", 1), ("C4-vel3", 3), ("C4 L2", 2), ("C4_pp", 1), ("C4_mf", 4), ("C4_ff", 6), ("F#4", None)],
)
def test_name_layer(stem: str, layer: int | None) -> None:
    assert name_layer(stem) == layer


@pytest.mark.parametrize(
    "stem, drum",
    [
        ("Kick 01", (36, 0)),
        ("BD_hard", (36, 0)),
        ("snare", (38, 0)),
        ("SD", (38, 0)),
        ("clap2", (39, 0)),
        ("hh_closed", (42, 1)),
        ("Closed Hat", (42, 1)),
        ("CHH", (42, 1)),
        ("Pedal Hat", (44, 1)),
        ("open hat", (46, 1)),
        ("OHH_1", (46, 1)),
        ("Crash", (49, 0)),
        ("ride", (51, 0)),
        ("Tom Low", (45, 0)),
        ("tom_mid", (47, 0)),
        ("Tom High", (50, 0)),
        ("Side Stick", (37, 0)),
        ("rim", (37, 0)),
        ("cowbell", (56, 0)),
        ("Tambourine", (54, 0)),
        ("piano_C4", None),
    ],
)
def test_drum_words(stem: str, drum: tuple[int, int] | None) -> None:
    assert drum_key(stem) == drum


# --- folders of notes ---------------------------------------------------------------------------------------


def test_notes_spread_halfway_between_sampled_keys(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("C4")  # not a sample file: ignored
    b = read_wav_folder(folder(tmp_path, "piano_C4.wav", "Piano-67.wav", "piano_E4.wav", "036.wav"))
    assert b.kind == "wav-folder" and b.presets[0].name == tmp_path.name and b.pool.dtype == np.int16
    rs = b.presets[0].regions
    assert spans(rs) == [
        (0, 48, 1, 127, 36),
        (49, 62, 1, 127, 60),
        (63, 65, 1, 127, 64),
        (66, 127, 1, 127, 67),
    ]
    assert [b.samples[r.sample].name for r in rs] == ["036", "piano_C4", "piano_E4", "Piano-67"]
    assert all(r.loop_mode == NO_LOOP for r in rs)


def test_velocity_layers_split_evenly_in_order(tmp_path: Path) -> None:
    names = ("C4_v2.wav", "C4_v1.wav", "G4_ff.wav", "G4_pp.wav", "G4_mf.wav", "C5.wav")
    rs = read_wav_folder(folder(tmp_path, *names)).presets[0].regions
    assert spans(rs) == [
        (0, 63, 1, 63, 60), (0, 63, 64, 127, 60),
        (64, 69, 1, 42, 67), (64, 69, 43, 84, 67), (64, 69, 85, 127, 67),
        (70, 127, 1, 127, 72),
    ]  # fmt: skip


def test_loop_and_stereo_in_a_folder(tmp_path: Path) -> None:
    write_wav(tmp_path / "pad_C3.wav", loop=(100, 399))
    write_wav(tmp_path / "pad_C4.wav", channels=2)
    b = read_wav_folder(tmp_path)
    r = b.presets[0].regions
    assert r[0].loop_mode == LOOP_CONTINUOUS
    s = b.samples[r[0].sample]
    assert (s.loop_start - s.start, s.loop_end - s.start) == (100, 400)
    assert [(x.pan, x.lokey, x.loop_mode) for x in r[1:]] == [(-1.0, 55, NO_LOOP), (1.0, 55, NO_LOOP)]


@pytest.mark.parametrize(
    "names, match",
    [
        ((), "no sample files"),
        (("piano_C4.wav", "piano.wav"), r"piano\.wav: no note name or MIDI number in the file name"),
        (("a_C4.wav", "b_C4.wav"), r"a_C4\.wav and b_C4\.wav both map to key 60 with no velocity layer"),
        (("a_C4_v1.wav", "b_C4_v1.wav"), "both map to key 60 with the same velocity layer"),
    ],
)
def test_bad_folders(tmp_path: Path, names: tuple[str, ...], match: str) -> None:
    (tmp_path / ".hidden_C4.wav").write_bytes(b"not audio")  # hidden files are skipped
    with pytest.raises(SampleFileError, match=match):
        read_wav_folder(folder(tmp_path, *names))


def test_unreadable_sample_in_a_folder_names_it(tmp_path: Path) -> None:
    folder(tmp_path, "piano_C4.wav")
    (tmp_path / "piano_D4.wav").write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(SampleFileError, match=r"piano_D4\.wav"):
        read_wav_folder(tmp_path)


# --- drum kits ----------------------------------------------------------------------------------------------


def test_drum_word_fallback(tmp_path: Path) -> None:
    names = ("Kick_v1.wav", "Kick_v2.wav", "Snare_01.wav", "hh_closed.wav", "Open Hat.wav", "tom low.wav")
    b = read_wav_folder(folder(tmp_path, *names))
    assert b.kind == "kit"
    rs = b.presets[0].regions
    got = [(r.lokey, r.hikey, r.pitch_keycenter, r.lovel, r.hivel, r.group, r.off_by) for r in rs]
    assert got == [
        (36, 36, 36, 1, 63, 0, 0), (36, 36, 36, 64, 127, 0, 0), (38, 38, 38, 1, 127, 0, 0),  # 01 is numbering
        (42, 42, 42, 1, 127, 1, 1), (45, 45, 45, 1, 127, 0, 0), (46, 46, 46, 1, 127, 1, 1),
    ]  # fmt: skip
    assert all(r.loop_mode == ONE_SHOT for r in rs)


def test_two_samples_of_one_drum_need_layer_tokens(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match=r"kick_a\.wav and kick_b\.wav both map to key 36"):
        read_wav_folder(folder(tmp_path, "kick_a.wav", "kick_b.wav"))


def test_drum_fallback_needs_every_file_to_name_a_drum(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match=r"weird\.wav: no note name"):
        read_wav_folder(folder(tmp_path, "kick.wav", "weird.wav"))


KIT = """
name: Test Kit
pads:
  36: kick.wav
  D1: {sample: snare.wav, volume_db: -3, pan: 0.2}
  42: {sample: hats/closed.wav, choke: 1}
  46: {sample: hats/open.wav, choke: 1}
  "38": {velocity_layers: [soft.wav, mid.wav, hard.wav], choke: 0}
  c#4: {sample: stereo.wav, pan: -0.5}
"""


def test_kit_yaml(tmp_path: Path) -> None:
    folder(
        tmp_path,
        "kick.wav",
        "snare.wav",
        "hats/closed.wav",
        "hats/open.wav",
        "soft.wav",
        "mid.wav",
        "HARD.wav",
    )
    write_wav(tmp_path / "stereo.wav", channels=2)
    (tmp_path / "kit.yaml").write_text(KIT)
    (tmp_path / "no note here.wav").write_bytes(b"")  # a kit map makes the folder's names irrelevant
    b = read_wav_folder(tmp_path)
    assert b.kind == "kit" and b.presets[0].name == "Test Kit" and b.path == str(tmp_path / "kit.yaml")
    rs = b.presets[0].regions
    got = [
        (r.lokey, r.hikey, r.pitch_keycenter, r.lovel, r.hivel, r.volume_db, r.pan, r.group, r.off_by)
        for r in rs
    ]
    assert got == [
        (36, 36, 36, 1, 127, 0, 0, 0, 0),
        (26, 26, 26, 1, 127, -3, 0.2, 0, 0),  # D1 with c4 = 60
        (42, 42, 42, 1, 127, 0, 0, 1, 1),
        (46, 46, 46, 1, 127, 0, 0, 1, 1),
        (38, 38, 38, 1, 42, 0, 0, 0, 0), (38, 38, 38, 43, 84, 0, 0, 0, 0), (38, 38, 38, 85, 127, 0, 0, 0, 0),
        (61, 61, 61, 1, 127, 0, -1.0, 0, 0), (61, 61, 61, 1, 127, 0, 0.5, 0, 0),
    ]  # fmt: skip
    assert all(r.loop_mode == ONE_SHOT for r in rs) and len(b.samples) == 9
    assert read_kit(tmp_path).presets[0].regions == rs


@pytest.mark.parametrize(
    "text, match",
    [
        ("pads: {200: kick.wav}", "pad key 200 is not a MIDI key 0..127 or a note name like C1"),
        ("pads: {X9: kick.wav}", "pad key 'X9' is not a MIDI key"),
        (
            "pads: {36: {sample: kick.wav, gain: 2}}",
            r"pad 36: unknown field 'gain' \(allowed: sample, velocity_layers",
        ),
        ("pads: {36: {volume_db: -3}}", r"pad 36: missing sample \(give 'sample' or 'velocity_layers'\)"),
        ("pads: {36: {sample: kick.wav, velocity_layers: [kick.wav]}}", "not both"),
        ("pads: {36: {velocity_layers: []}}", "'velocity_layers' must be a list of paths"),
        ("pads: {36: {sample: 5}}", "'sample' must be a path"),
        ("pads: {36: [kick.wav]}", "expected a sample path or a mapping"),
        ("pads: {36: nope.wav}", r"pad 36: sample file 'nope.wav' not found"),
        (
            "pads: {36: {sample: kick.wav, volume_db: loud}}",
            "volume_db must be a number from -144 to 24, not 'loud'",
        ),
        ("pads: {36: {sample: kick.wav, pan: 2}}", "pan must be a number from -1 to 1"),
        ("pads: {36: {sample: kick.wav, choke: 1.5}}", "choke must be a whole number"),
        ("pads: {36: kick.wav, C2: kick.wav}", "pads 36 and 'C2' both name key 36"),
        ("pads: {}", "a kit map needs 'pads'"),
        ("kit: {36: kick.wav}", "a kit map needs 'pads'"),
        ("pads: {36: kick.wav}\ncolour: red", r"unknown field 'colour' \(allowed: name, pads\)"),
        ("pads: {36: kick.wav", "not a readable YAML kit map"),
        ("pads: {36: broken.wav}", r"pad 36: .*broken\.wav.*truncated"),
    ],
)
def test_bad_kit_maps(tmp_path: Path, text: str, match: str) -> None:
    write_wav(tmp_path / "kick.wav")
    full = write_wav(tmp_path / "broken.wav").read_bytes()
    (tmp_path / "broken.wav").write_bytes(full[: len(full) // 2])
    (tmp_path / "kit.yaml").write_text(text)
    with pytest.raises(SampleFileError, match=match) as e:
        read_kit(tmp_path / "kit.yaml")
    assert str(tmp_path / "kit.yaml") in str(e.value)


@pytest.mark.parametrize("path", ["../outside.wav", "sub/../../outside.wav", "/etc/hosts"])
def test_kit_sample_path_escaping_the_folder(tmp_path: Path, path: str) -> None:
    write_wav(tmp_path / "outside.wav")
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "kit.yaml").write_text(f"pads: {{36: '{path}'}}")
    with pytest.raises(SamplePathError, match=r"pad 36: sample path .* leaves the kit's folder"):
        read_kit(tmp_path / "kit")
