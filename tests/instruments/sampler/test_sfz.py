"""The SFZ reader and the sample-file helpers under it: opcodes to regions, and the ways a file can be bad."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instruments.errors import SampleFileError, SamplePathError
from instruments.sampler.audio import PoolBuilder, note_number, read_sample_file
from instruments.sampler.model import (
    FILTER_HP2,
    FILTER_LP2,
    FILTER_NONE,
    LOOP_CONTINUOUS,
    LOOP_SUSTAIN,
    NO_LOOP,
    ONE_SHOT,
    TRIGGER_ATTACK,
    TRIGGER_RELEASE,
    Region,
)
from instruments.sampler.sfz import read_sfz


def write_wav(
    path: Path,
    frames: int = 1000,
    channels: int = 1,
    subtype: str = "PCM_16",
    loop: tuple[int, int] | None = None,
    unity: int = 60,
) -> Path:
    """A short sine (stereo: sine and its negation); ``loop`` (start, end inclusive) adds a 'smpl' chunk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.5 * np.sin(2 * np.pi * 441 * np.arange(frames) / 44100)
    sf.write(path, x if channels == 1 else np.stack([x, -x], 1), 44100, subtype=subtype)
    if loop is not None:
        body = struct.pack("<9I", 0, 0, 22676, unity, 0, 0, 0, 1, 0) + struct.pack("<6I", 0, 0, *loop, 0, 0)
        data = path.read_bytes() + b"smpl" + struct.pack("<I", len(body)) + body
        path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])  # fix the RIFF size
    return path


def sfz(tmp_path: Path, text: str, name: str = "inst.sfz") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def regions(path: Path) -> list[Region]:
    return read_sfz(path).presets[0].regions


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "a.wav")


# --- the sample files ---------------------------------------------------------------------------------------


def test_read_sample_file_dtype_and_smpl_loop(tmp_path: Path) -> None:
    data, rate, loop, is16 = read_sample_file(write_wav(tmp_path / "l.wav", loop=(100, 899)))
    assert data.dtype == np.int16 and data.shape == (1000, 1) and rate == 44100 and is16
    assert loop == (100, 900)  # the smpl end is the last frame looped: exclusive end is one more
    data, _, loop, is16 = read_sample_file(write_wav(tmp_path / "f.wav", channels=2, subtype="FLOAT"))
    assert data.dtype == np.float32 and data.shape == (1000, 2) and loop is None and not is16
    data, _, _, is16 = read_sample_file(write_wav(tmp_path / "x.flac"))
    assert data.dtype == np.int16 and is16


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: p.write_bytes(write_wav(p).read_bytes()[:1000]), "truncated"),  # cut in half
        (lambda p: p.write_bytes(np.random.default_rng(1).bytes(3000)), "cannot read"),
        (lambda p: write_wav(p, frames=0), "no audio frames"),
        (lambda p: None, "not found"),
    ],
)
def test_read_sample_file_errors_name_the_file(tmp_path: Path, make, why: str) -> None:
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(SampleFileError, match=why) as e:
        read_sample_file(p)
    assert str(p) in str(e.value)


def test_pool_is_int16_only_when_every_sample_is_16bit(tmp_path: Path) -> None:
    pool = PoolBuilder()
    a = pool.add_file(write_wav(tmp_path / "a.wav"))
    b = pool.add_file(write_wav(tmp_path / "b.wav", channels=2))
    assert pool.build().dtype == np.int16 and b.samples == (1, 2) and len(pool.samples) == 3
    pool.add_file(write_wav(tmp_path / "c.wav", subtype="FLOAT"))
    mixed = pool.build()
    assert mixed.dtype == np.float32
    s = pool.samples[a.samples[0]]
    expect = sf.read(tmp_path / "a.wav", dtype="int16")[0] / 32768.0
    np.testing.assert_allclose(mixed[s.start : s.end], expect, atol=1e-7)
    assert not mixed[s.end : pool.samples[1].start].any()  # silence between samples


def test_note_names() -> None:
    assert [note_number(n) for n in ("c4", "C#4", "db4", "Bb3", "c-1", "g9", "x4", "g#9")] == [
        60, 61, 61, 58, 0, 127, None, None,
    ]  # fmt: skip


# --- opcodes to regions -------------------------------------------------------------------------------------


def test_inheritance_region_over_group_over_master_over_global(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<global> volume=-6 pan=10\n<master> tune=5\n<group> lokey=40 hikey=50 tune=7 ampeg_release=2\n"
        "<region> sample=a.wav hikey=45\n<region> sample=a.wav\n"
        "<group> lovel=64\n<region> sample=a.wav\n"
        "<global>\n<region> sample=a.wav\n",
    )
    r = regions(p)
    assert (r[0].lokey, r[0].hikey, r[0].tune_cents, r[0].volume_db, r[0].amp_release_s) == (40, 45, 7, -6, 2)
    assert (r[1].lokey, r[1].hikey) == (40, 50)
    # a new <group> drops the old group's opcodes but keeps the master's and global's
    assert (r[2].lokey, r[2].lovel, r[2].tune_cents, r[2].pan) == (0, 64, 5, 0.1)
    # a new <global> starts afresh
    assert (r[3].volume_db, r[3].tune_cents, r[3].pan) == (0, 0, 0)


def test_define_include_and_comments(tmp_path: Path) -> None:
    write_wav(tmp_path / "samples" / "piano C4.wav")
    write_wav(tmp_path / "sub" / "x.wav")
    sfz(
        tmp_path, "<group> lokey=$LO // the low end\n<region> sample=samples/$NAME hikey=70\n", "sub/part.sfz"
    )
    p = sfz(
        tmp_path,
        "// a comment line\n#define $LO 30\n#define $NAME piano C4.wav\n/* a block\ncomment <region> x=1\n*/"
        ' #include "sub/part.sfz"\n<region> sample=sub/x.wav /* inline */ key=$LO\n',
    )
    r = regions(p)
    assert len(r) == 2 and (r[0].lokey, r[0].hikey) == (30, 70)
    assert (r[1].lokey, r[1].hikey, r[1].pitch_keycenter) == (30, 30, 30)
    assert read_sfz(p).samples[0].name == "piano C4"


def test_sample_paths_with_spaces_default_path_and_backslashes(tmp_path: Path) -> None:
    write_wav(tmp_path / "Samples" / "Grand Piano" / "C 4 soft.wav")
    p = sfz(
        tmp_path,
        "<control> default_path=Samples\\Grand Piano\\\n"
        "<region> sample=C 4 soft.wav lokey=10\n"
        "<region>sample=c 4 SOFT.wav  hikey=20 <region> sample=C 4 soft.wav",
    )
    b = read_sfz(p)
    assert [(r.lokey, r.hikey) for r in b.presets[0].regions] == [(10, 127), (0, 20), (0, 127)]
    assert len(b.samples) == 1  # the differently-cased name finds the same file


def test_note_names_key_shorthand_and_offsets(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<region> sample=a.wav lokey=c4 hikey=C#4 pitch_keycenter=db4\n<region> sample=a.wav key=a0\n"
        "<region> sample=a.wav key=60 lokey=50\n<control> note_offset=2 octave_offset=-1\n"
        "<region> sample=a.wav key=c4",
    )
    r = regions(p)
    assert (r[0].lokey, r[0].hikey, r[0].pitch_keycenter) == (60, 61, 61)
    assert (r[1].lokey, r[1].hikey, r[1].pitch_keycenter) == (21, 21, 21)
    assert (r[2].lokey, r[2].hikey, r[2].pitch_keycenter) == (50, 60, 60)
    assert (r[3].lokey, r[3].hikey, r[3].pitch_keycenter) == (50, 50, 50)
    write_wav(tmp_path / "rooted.wav", loop=(0, 99), unity=50)
    r = regions(
        sfz(tmp_path, "<region> sample=rooted.wav pitch_keycenter=sample\n<region> sample=rooted.wav")
    )
    assert [x.pitch_keycenter for x in r] == [50, 60]  # the smpl chunk's unity note only when asked for


def test_regions_that_cannot_sound_are_skipped(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<region> sample=a.wav\n<region> lokey=3\n<region> sample=*sine\n<region> sample=a.wav hikey=-1\n"
        "<region> sample=a.wav end=-1\nlokey=3 <region> sample=a.wav",
    )
    b = read_sfz(p)
    assert len(b.presets[0].regions) == 2
    assert b.warnings == [
        "inst.sfz:2: <region> has no sample= (skipped)",
        "inst.sfz:3: built-in sample '*sine' is not supported (region skipped)",
    ]


def test_loops(tmp_path: Path) -> None:
    write_wav(tmp_path / "plain.wav")
    write_wav(tmp_path / "looped.wav", loop=(200, 799))
    p = sfz(
        tmp_path,
        "<region> sample=plain.wav\n"
        "<region> sample=plain.wav loop_mode=loop_continuous loop_start=10 loop_end=99\n"
        "<region> sample=looped.wav\n<region> sample=looped.wav loopmode=loop_sustain loopend=499\n"
        "<region> sample=looped.wav loop_mode=no_loop\n<region> sample=plain.wav loop_mode=loop_continuous\n"
        "<region> sample=looped.wav loop_mode=one_shot offset=10 end=899\n",
    )
    r = regions(p)
    assert r[0].loop_mode == NO_LOOP
    assert (r[1].loop_mode, r[1].loop_start, r[1].loop_end) == (LOOP_CONTINUOUS, 10, 100)  # end inclusive
    assert (r[2].loop_mode, r[2].loop_start, r[2].loop_end) == (LOOP_CONTINUOUS, 200, 800)  # the file's loop
    assert (r[3].loop_mode, r[3].loop_start, r[3].loop_end) == (LOOP_SUSTAIN, 200, 500)
    assert r[4].loop_mode == NO_LOOP
    assert (r[5].loop_start, r[5].loop_end) == (0, 1000)  # no loop points anywhere: the whole sample
    assert (r[6].loop_mode, r[6].offset, r[6].end) == (ONE_SHOT, 10, 900)


def test_round_robin_random_trigger_and_choke(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<group> seq_length=3 lorand=0.25 hirand=0.5\n<region> sample=a.wav seq_position=2\n"
        "<region> sample=a.wav trigger=release group=3 off_by=4\n<group> <region> sample=a.wav",
    )
    r = regions(p)
    assert (r[0].seq_length, r[0].seq_position, r[0].lorand, r[0].hirand) == (3, 2, 0.25, 0.5)
    assert (r[1].trigger, r[1].group, r[1].off_by, r[1].seq_position) == (TRIGGER_RELEASE, 3, 4, 1)
    assert (r[2].trigger, r[2].group, r[2].off_by, r[2].seq_length) == (TRIGGER_ATTACK, 0, 0, 1)


def test_units_envelopes_and_filter(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<region> sample=a.wav volume=-3 amplitude=50 pan=-50 amp_veltrack=25 transpose=-2 tune=30 "
        "pitch_keytrack=50 ampeg_attack=0.1 ampeg_hold=0.2 ampeg_decay=1.5 ampeg_sustain=10 ampeg_release=3 "
        "ampeg_delay=0.05 effect1=40 effect2=20\n"
        "<region> sample=a.wav cutoff=500 resonance=6 fil_veltrack=1200 fil_keytrack=50 fil_keycenter=c5 "
        "fileg_attack=0.3 fileg_sustain=50 fileg_depth=2400 pitcheg_depth=100\n"
        "<region> sample=a.wav fil_type=hpf_2p cutoff=800 pitcheg_decay=0.5 pitcheg_depth=-1200 "
        "ampeg_sustain=0\n"
        "<region> sample=a.wav fil_type=pkf_2p cutoff=900\n<region> sample=a.wav fil_type=hpf_2p",
    )
    b = read_sfz(p)
    r = b.presets[0].regions
    assert r[0].volume_db == pytest.approx(-3 + 20 * math.log10(0.5))
    assert (r[0].pan, r[0].amp_veltrack, r[0].tune_cents, r[0].pitch_keytrack_cents) == (-0.5, 0.25, -170, 50)
    assert (r[0].amp_delay_s, r[0].amp_attack_s, r[0].amp_hold_s) == (0.05, 0.1, 0.2)
    assert (r[0].amp_decay_s, r[0].amp_release_s, r[0].amp_sustain_db) == (1.5, 3, pytest.approx(-20))
    assert (r[0].reverb_send, r[0].chorus_send, r[0].filter_type) == (0.4, 0.2, FILTER_NONE)
    assert (r[1].filter_type, r[1].cutoff_hz, r[1].resonance_db) == (
        FILTER_LP2,
        500,
        6,
    )  # cutoff alone: lpf_2p
    assert (r[1].fil_veltrack_cents, r[1].fil_keytrack_cents, r[1].fil_keycenter) == (1200, 50, 72)
    assert (r[1].mod_attack_s, r[1].mod_sustain, r[1].mod_to_filter_cents, r[1].mod_to_pitch_cents) == (
        0.3, 0.5, 2400, 0,
    )  # fmt: skip
    assert (r[2].filter_type, r[2].mod_decay_s, r[2].mod_sustain, r[2].mod_to_pitch_cents) == (
        FILTER_HP2, 0.5, 0.0, -1200,
    )  # fmt: skip
    assert r[2].mod_to_filter_cents == 0 and r[2].amp_sustain_db == -100
    assert r[3].filter_type == FILTER_LP2 and r[4].filter_type == FILTER_NONE  # no cutoff: no filter
    assert any("pitcheg_* ignored" in w and "inst.sfz:2" in w for w in b.warnings)
    assert any("fil_type 'pkf_2p'" in w for w in b.warnings)


def test_stereo_sample_becomes_two_panned_regions(tmp_path: Path) -> None:
    write_wav(tmp_path / "st.wav", channels=2)
    b = read_sfz(sfz(tmp_path, "<region> sample=st.wav lokey=40\n<region> sample=st.wav pan=50 hikey=50"))
    r = b.presets[0].regions
    assert [(x.sample, x.pan, x.lokey) for x in r[:2]] == [(0, -1.0, 40), (1, 1.0, 40)]
    assert [(x.sample, x.pan, x.hikey) for x in r[2:]] == [(0, -0.5, 50), (1, 1.0, 50)]
    left, right = b.samples
    # the right channel is the left negated (within 16-bit rounding)
    np.testing.assert_allclose(
        b.pool[left.start : left.end], -b.pool[right.start : right.end].astype(int), atol=1
    )


def test_pool_int16_float32_rule_and_one_copy_per_file(tmp_path: Path, wav: Path) -> None:
    b = read_sfz(sfz(tmp_path, "<region> sample=a.wav\n" * 10))
    assert len(b.presets[0].regions) == 10 and len(b.samples) == 1 and b.pool.dtype == np.int16
    assert b.pool_scale == 1 / 32768 and len(b.pool) < 2 * 1000
    write_wav(tmp_path / "f.wav", subtype="FLOAT")
    b = read_sfz(sfz(tmp_path, "<region> sample=a.wav\n<region> sample=./f.wav\n"))
    assert b.pool.dtype == np.float32 and b.pool_scale == 1.0 and len(b.samples) == 2
    assert np.abs(b.pool).max() == pytest.approx(0.5, abs=1e-3)


def test_unknown_opcodes_and_headers_are_warned_once(tmp_path: Path, wav: Path) -> None:
    p = sfz(
        tmp_path,
        "<control> set_cc7=100\n<region> sample=a.wav xfin_lokey=3\n<region> sample=a.wav xfin_lokey=4\n"
        "<curve> v000=0\n<regoin> sample=a.wav\n<region> sample=a.wav\n",
    )
    b = read_sfz(p)
    assert len(b.presets[0].regions) == 3
    assert b.warnings == [
        "inst.sfz:1: unknown opcode 'set_cc7' (ignored)",
        "inst.sfz:2: unknown opcode 'xfin_lokey' (ignored)",
        "inst.sfz:4: header <curve> is not supported (ignored with its opcodes)",
        "inst.sfz:5: header <regoin> is unknown (ignored with its opcodes)",
    ]


# --- bad input ----------------------------------------------------------------------------------------------


def test_missing_sample_names_sfz_line_and_path(tmp_path: Path, wav: Path) -> None:
    p = sfz(tmp_path, "<region> sample=a.wav\n\n<region> sample=drums/nope.wav\n")
    with pytest.raises(SampleFileError, match=r"inst\.sfz:3: sample file 'drums/nope.wav' not found") as e:
        read_sfz(p)
    assert str(p) in str(e.value) and not isinstance(e.value, SamplePathError)


@pytest.mark.parametrize(
    "text",
    ["<region> sample=../outside.wav", "<region> sample=sub/../../outside.wav", "<region> sample=/etc/hosts"],
)
def test_sample_path_escaping_the_folder_is_refused(tmp_path: Path, text: str) -> None:
    write_wav(tmp_path / "outside.wav")
    p = sfz(tmp_path, "\n" + text, "inst/inst.sfz")
    with pytest.raises(SamplePathError, match=r"inst\.sfz:2: sample path .* leaves the folder") as e:
        read_sfz(p)
    assert text.split("=")[1] in str(e.value)


def test_include_cycle_escape_and_missing(tmp_path: Path, wav: Path) -> None:
    sfz(tmp_path, '#include "b.sfz"\n', "a.sfz")
    sfz(tmp_path, '<region> sample=a.wav\n#include "a.sfz"\n', "b.sfz")
    with pytest.raises(
        SampleFileError, match=r"b\.sfz:2: #include \"a.sfz\" makes a cycle: a.sfz -> b.sfz -> a"
    ):
        read_sfz(tmp_path / "a.sfz")
    sfz(tmp_path, "<region> sample=a.wav", "other.sfz")
    with pytest.raises(SamplePathError, match="leaves the folder"):
        read_sfz(sfz(tmp_path, '#include "../other.sfz"', "inner/c.sfz"))
    with pytest.raises(SampleFileError, match=r"d\.sfz:1: included file \"nope.sfz\" not found"):
        read_sfz(sfz(tmp_path, '#include "nope.sfz"', "d.sfz"))


@pytest.mark.parametrize(
    "opcode, allowed",
    [
        ("lokey=300", "a key 0..127"),
        ("hikey=c#12", "a key 0..127"),
        ("pan=500", "a number from -100 to 100"),
        ("lovel=-3", "a whole number from 0 to 127"),
        ("lovel=6.5", "a whole number from 0 to 127"),
        ("volume=loud", "a number from -144 to 48 dB"),
        ("ampeg_release=-1", "a number from 0 to 100 s"),
        ("seq_position=0", "a whole number from 1 to 100"),
        ("lorand=nan", "a number from 0 to 1"),
        ("loop_mode=forever", "one of no_loop, one_shot, loop_continuous, loop_sustain"),
        ("trigger=sometimes", "one of attack, release"),
    ],
)
def test_out_of_range_values(tmp_path: Path, wav: Path, opcode: str, allowed: str) -> None:
    p = sfz(tmp_path, f"<region> sample=a.wav\n<region> sample=a.wav {opcode}\n")
    with pytest.raises(SampleFileError) as e:
        read_sfz(p)
    assert f"{p}:2: {opcode} is out of range: must be {allowed}" in str(e.value)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "<region> sample=a.wav\n/* never closed\n<region> sample=a.wav",
            r"inst\.sfz:2: unclosed /\* comment",
        ),
        ("<region> sample=a.wav\n<regio sample=a.wav", r"inst\.sfz:2: expected a <header> or opcode=value"),
        ("<region> sample=a.wav lokey=\n", r"inst\.sfz:1: opcode 'lokey' has no value"),
        ("<region> sample=a.wav lokey= hikey=3\n", r"inst\.sfz:1: opcode 'lokey' has no value"),
        ("/*\n\n*/ <region> sample=$WHAT", r"inst\.sfz:3: \$WHAT is not #defined"),
        ("#defne $X 1\n", r"inst\.sfz:1: malformed directive"),
        (
            "<region> sample=a.wav seq_length=2 seq_position=3",
            r"inst\.sfz:1: seq_position=3: must be 1..seq_length",
        ),
        ("<region> sample=a.wav offset=1000", r"inst\.sfz:1: offset=1000: past the end of the sample"),
        ("<region> sample=a.wav loop_mode=loop_continuous loop_start=500 loop_end=100", r"loop .* is empty"),
        (
            "<control> octave_offset=8\n<region> sample=a.wav key=c4",
            r"inst\.sfz:2: lokey=60: with note_offset",
        ),
        ("<group> lokey=3", r"no playable <region>"),
    ],
)
def test_malformed_files(tmp_path: Path, wav: Path, text: str, match: str) -> None:
    with pytest.raises(SampleFileError, match=match):
        read_sfz(sfz(tmp_path, text))


@pytest.mark.parametrize("half", [True, False])
def test_truncated_or_corrupt_wav_names_the_wav(tmp_path: Path, half: bool) -> None:
    bad = tmp_path / "bad.wav"
    if half:
        full = write_wav(bad, frames=4000).read_bytes()
        bad.write_bytes(full[: len(full) // 2])
    else:
        bad.write_bytes(os.urandom(2048))
    p = sfz(tmp_path, "<region> sample=bad.wav")
    with pytest.raises(SampleFileError, match="truncated" if half else "cannot read") as e:
        read_sfz(p)
    assert str(bad) in str(e.value) and f"{p}:1" in str(e.value)
