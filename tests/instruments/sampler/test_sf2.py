"""SoundFont reading: SF2 and SF3 round trips through the writer, a real General MIDI font, bad files.

The fixture font has a two-zone-split piano (bank 0) and a drum kit (bank 128, written first so the reader
must sort). Its values are chosen so each SF2 rule shows in a Region field: the instrument's global zone
gives defaults, the preset's zones add to them, key ranges intersect, preset-level sample generators are
ignored. Every bad file must raise SampleFileError naming the file, never another exception.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instruments.errors import SampleFileError
from instruments.sampler.model import FILTER_LP2, LOOP_CONTINUOUS, LOOP_SUSTAIN, NO_LOOP, Bank, Region
from instruments.sampler.sf2 import read_soundfont
from instruments.sampler.sf2_writer import PresetSpec, SampleSpec, ZoneSpec, soundfont_bytes, write_soundfont

SR = 22050
TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def tone(freq: float, n: int, decay: float = 0.0) -> np.ndarray:
    t = np.arange(n) / SR
    return 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)


def hz(cents: float) -> float:
    return 8.176 * 2 ** (cents / 1200)


LOW = SampleSpec("low", tone(220.5, 4000), SR, root_key=57, pitch_correction=-7, loop=(1000, 3000))
HIGH = SampleSpec("high", (tone(882, 3000) * 32767).astype(np.int16), SR, root_key=81, loop=(500, 2500))
KICK = SampleSpec("kick", tone(60, 2000, decay=8.0), SR, root_key=36)
HAT = SampleSpec("hat", tone(5000, 1500, decay=30.0), SR, root_key=42)
SAMPLES = (KICK, HAT, LOW, HIGH)  # the order the writer stores them: first use, drums first


def fixture() -> list[PresetSpec]:
    piano = PresetSpec(
        "Piano",
        0,
        0,
        zones=[
            ZoneSpec(
                LOW,
                key_range=(0, 63),
                generators={
                    "sampleModes": 1,
                    "coarseTune": -2,
                    "pan": -250,
                    "initialAttenuation": 60,
                    "initialFilterFc": 9000,
                },
            ),
            ZoneSpec(
                HIGH,
                key_range=(64, 127),
                vel_range=(0, 100),
                generators={
                    "sampleModes": 3,
                    "fineTune": -4,
                    "startAddrsOffset": 100,
                    "endAddrsOffset": -50,
                    "startloopAddrsOffset": 10,
                    "endloopAddrsOffset": -20,
                },
            ),
            ZoneSpec(HIGH, key_range=(64, 127), vel_range=(101, 127), generators={"releaseVolEnv": 0}),
        ],
        instrument_global_generators={
            "fineTune": 5,
            "attackVolEnv": -1200,
            "sustainVolEnv": 200,
            "releaseVolEnv": 1200,
        },
        global_generators={"reverbEffectsSend": 100, "fineTune": 99},  # the local preset zone overrides it
        preset_zone_generators={
            "fineTune": 10,
            "keyRange": (40, 90),
            "initialAttenuation": 30,
            "sampleModes": 0,
            "chorusEffectsSend": 250,
        },
    )
    drums = PresetSpec(
        "Drums",
        128,
        0,
        zones=[
            ZoneSpec(KICK, key_range=(36, 36)),
            ZoneSpec(HAT, key_range=(42, 42), generators={"exclusiveClass": 1}),
            ZoneSpec(
                HAT,
                key_range=(46, 46),
                generators={"exclusiveClass": 1, "overridingRootKey": 46, "releaseVolEnv": -12000},
            ),
        ],
    )
    return [drums, piano]


@pytest.fixture(scope="module")
def sf2_bytes() -> bytes:
    return soundfont_bytes(fixture())


def load(tmp_path: Path, data: bytes, name: str = "x.sf2") -> Bank:
    path = tmp_path / name
    path.write_bytes(data)
    return read_soundfont(path)


def sample_of(bank: Bank, region: Region) -> np.ndarray:
    s = bank.samples[region.sample]
    return bank.pool[s.start : s.end]


def check_fixture_regions(bank: Bank) -> None:
    assert [(p.name, p.bank, p.program) for p in bank.presets] == [("Piano", 0, 0), ("Drums", 128, 0)]
    piano, drums = bank.presets
    low, high_soft, high_loud = piano.regions
    names = [bank.samples[r.sample].name for r in piano.regions]
    assert names == ["low", "high", "high"]
    # key ranges intersect with the preset zone's (40, 90); velocity 0 (note-off) never sounds
    assert (low.lokey, low.hikey, low.lovel, low.hivel) == (40, 63, 1, 127)
    assert (high_soft.lokey, high_soft.hikey, high_soft.lovel, high_soft.hivel) == (64, 90, 1, 100)
    assert (high_loud.lovel, high_loud.hivel) == (101, 127)
    # fine tune: instrument global 5 (zone 1 and 3) or the zone's -4, plus the preset zone's 10
    assert low.tune_cents == pytest.approx(-200 + 5 + 10 - 7)
    assert high_soft.tune_cents == pytest.approx(-4 + 10)
    assert high_loud.tune_cents == pytest.approx(5 + 10)
    # attenuation (cB) is scaled by 0.4, as SoundFont players do: 90 cB is -3.6 dB
    assert low.volume_db == pytest.approx(-0.4 * 9.0) and high_soft.volume_db == pytest.approx(-0.4 * 3.0)
    assert low.pan == pytest.approx(-0.5) and high_soft.pan == 0.0
    assert (low.pitch_keycenter, high_soft.pitch_keycenter, low.pitch_keytrack_cents) == (57, 81, 100)
    # loops: sampleModes 1 / 3; the preset's sampleModes 0 is ignored (instrument-only generator)
    assert (low.loop_mode, high_soft.loop_mode, high_loud.loop_mode) == (
        LOOP_CONTINUOUS,
        LOOP_SUSTAIN,
        NO_LOOP,
    )
    assert (low.offset, low.end, low.loop_start, low.loop_end) == (0, 4000, 1000, 3000)
    assert (high_soft.offset, high_soft.end, high_soft.loop_start, high_soft.loop_end) == (
        100,
        2950,
        510,
        2480,
    )
    assert (high_loud.offset, high_loud.end, high_loud.loop_start, high_loud.loop_end) == (0, 3000, 500, 2500)
    # envelope: the global zone's attack / sustain / release; zone 3 overrides release with 0 tc = 1 s
    assert low.amp_attack_s == pytest.approx(0.5) and low.amp_sustain_db == pytest.approx(-20.0)
    assert low.amp_release_s == pytest.approx(2.0) and high_loud.amp_release_s == pytest.approx(1.0)
    assert low.amp_delay_s == 0.0 and low.amp_hold_s == 0.0 and low.amp_decay_s == 0.0
    assert low.vib_freq_hz == pytest.approx(8.176) and low.mod_sustain == 1.0
    # filter: a closed one gets the default velocity modulator, an open one stays open
    assert low.filter_type == FILTER_LP2 and low.fil_veltrack_cents == 2400 and low.fil_vel_switch == 64
    assert low.cutoff_hz == pytest.approx(hz(9000 - 2400))
    assert high_soft.fil_veltrack_cents == 0 and high_soft.cutoff_hz == pytest.approx(hz(13500))
    assert low.reverb_send == pytest.approx(0.1) and low.chorus_send == pytest.approx(0.25)
    assert low.amp_veltrack == 1.0
    kick, hat_closed, hat_open = drums.regions
    assert [(r.lokey, r.hikey) for r in drums.regions] == [(36, 36), (42, 42), (46, 46)]
    assert (kick.group, kick.off_by, hat_closed.group, hat_open.off_by) == (0, 0, 1, 1)
    assert (hat_closed.pitch_keycenter, hat_open.pitch_keycenter) == (42, 46)
    assert hat_open.amp_release_s == 0.0
    assert any("only instruments may set" in w for w in bank.warnings)


def test_sf2_round_trip(tmp_path: Path, sf2_bytes: bytes) -> None:
    bank = load(tmp_path, sf2_bytes)
    assert bank.kind == "sf2" and bank.pool.dtype == np.int16
    check_fixture_regions(bank)
    # four samples held once each, exact; 46 zero frames after each as the spec asks
    assert [s.name for s in bank.samples] == ["kick", "hat", "low", "high"]
    for s, spec in zip(bank.samples, SAMPLES, strict=True):
        np.testing.assert_array_equal(bank.pool[s.start : s.end], spec.pcm())
        assert not bank.pool[s.end : s.end + 46].any()
        assert s.sample_rate == SR and s.root_key == spec.root_key
    kick, _, low, _ = bank.samples
    assert (low.loop_start - low.start, low.loop_end - low.start) == (1000, 3000)
    assert low.pitch_correction_cents == -7
    assert kick.loop_start == kick.loop_end == kick.start  # no loop
    assert bank.path.endswith("x.sf2")


def test_sf3_round_trip(tmp_path: Path) -> None:
    sf3 = load(tmp_path, soundfont_bytes(fixture(), compress=True), "x.sf3")
    sf2 = load(tmp_path, soundfont_bytes(fixture()), "x.sf2")
    assert sf3.kind == "sf3" and sf3.pool.dtype == np.int16
    check_fixture_regions(sf3)
    for p3, p2 in zip(sf3.presets, sf2.presets, strict=True):
        assert [dataclasses.asdict(r) for r in p3.regions] == [dataclasses.asdict(r) for r in p2.regions]
    for s3, spec in zip(sf3.samples, SAMPLES, strict=True):
        got = sf3.pool[s3.start : s3.end].astype(np.float64)
        want = spec.pcm().astype(np.float64)
        assert len(got) == len(want)
        snr = 10 * np.log10(np.sum(want**2) / np.sum((got - want) ** 2))
        assert snr > 20, (spec.name, snr)
        assert not sf3.pool[s3.end : s3.end + 46].any()
    low = sf3.samples[2]
    assert (low.loop_start - low.start, low.loop_end - low.start) == (1000, 3000)


def test_writer_file_and_modulators(tmp_path: Path) -> None:
    """Velocity overrides with amount 0 turn those defaults off; other modulators are counted, not played."""
    vel_off = [(0x0102, 8, 0, 0x0D02, 0), (0x0502, 48, 0, 0, 0), (0x0081, 5, 50, 0, 0)]
    zone = ZoneSpec(LOW, generators={"initialFilterFc": 6000, "keynum": 60}, modulators=vel_off)
    plain = ZoneSpec(HIGH, generators={"initialFilterFc": 6000}, modulators=[(0x0502, 48, 960, 0, 0)])
    path = tmp_path / "mods.sf2"
    write_soundfont(path, [PresetSpec("Lead", 0, 80, [zone, plain])])
    bank = read_soundfont(path)
    off, on = bank.presets[0].regions
    assert off.fil_veltrack_cents == 0 and off.cutoff_hz == pytest.approx(hz(6000))
    assert off.amp_veltrack == 0.0 and on.amp_veltrack == 1.0
    assert on.fil_veltrack_cents == 2400 and on.cutoff_hz == pytest.approx(hz(3600))
    assert any("1 custom modulators are not played" in w for w in bank.warnings), bank.warnings
    assert any("keynum or velocity" in w for w in bank.warnings)
    assert all(w.startswith(str(path)) for w in bank.warnings)


@pytest.mark.skipif(
    not TIMGM.exists(), reason=f"{TIMGM} not installed (Debian/Ubuntu package timgm6mb-soundfont)"
)
def test_real_font_timgm6mb() -> None:
    bank = read_soundfont(TIMGM)
    assert bank.kind == "sf2"
    melodic = [p for p in bank.presets if p.bank == 0]
    assert len(melodic) >= 128 and bank.preset(0, 0) is not None
    assert any(p.bank == 128 and len(p.regions) > 20 for p in bank.presets)
    assert [(p.bank, p.program) for p in bank.presets] == sorted((p.bank, p.program) for p in bank.presets)
    n = len(bank.pool)
    for s in bank.samples:
        assert 0 <= s.start < s.end <= n
        assert s.loop_start == s.loop_end == s.start or s.start <= s.loop_start < s.loop_end <= s.end
    for p in bank.presets:
        assert p.regions, p.name
        for r in p.regions:
            s = bank.samples[r.sample]
            length = s.end - s.start
            assert r.end is not None and r.loop_start is not None and r.loop_end is not None
            assert 0 <= r.offset <= r.end <= length
            assert 0 <= r.loop_start <= length and 0 <= r.loop_end <= length
            if r.loop_mode != NO_LOOP:
                assert r.loop_start < r.loop_end
            assert 0 <= r.lokey <= r.hikey <= 127 and 1 <= r.lovel <= r.hivel <= 127


# --- bad files ----------------------------------------------------------------------------------------


def bad(tmp_path: Path, data: bytes, *causes: str) -> str:
    path = tmp_path / "bad.sf2"
    path.write_bytes(data)
    with pytest.raises(SampleFileError) as info:
        read_soundfont(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    for cause in causes:
        assert cause in msg, msg
    return msg


def replace_chunk(font: bytes, cid: bytes, payload: bytes) -> bytes:
    """The font with one pdta chunk's data replaced, the pdta LIST and RIFF sizes fixed to match."""
    at = font.index(cid)
    (old,) = struct.unpack_from("<I", font, at + 4)
    delta = len(payload) - old
    out = bytearray(font[:at] + cid + struct.pack("<I", len(payload)) + payload + font[at + 8 + old :])
    pdta = font.index(b"pdta") - 8
    for where in (4, pdta + 4):
        (size,) = struct.unpack_from("<I", out, where)
        struct.pack_into("<I", out, where, size + delta)
    return bytes(out)


def chunk_data(font: bytes, cid: bytes) -> bytes:
    at = font.index(cid)
    (n,) = struct.unpack_from("<I", font, at + 4)
    return font[at + 8 : at + 8 + n]


def test_empty_not_riff_and_wave(tmp_path: Path) -> None:
    bad(tmp_path, b"", "empty")
    bad(tmp_path, b"hello, this is not a sound font at all", "not a SoundFont", "no RIFF header")
    buf = io.BytesIO()
    sf.write(buf, np.zeros(100), 8000, format="WAV")
    bad(tmp_path, buf.getvalue(), "not a SoundFont (RIFF form 'WAVE')")
    with pytest.raises(SampleFileError, match=r"missing\.sf2: cannot read"):
        read_soundfont(tmp_path / "missing.sf2")


def test_truncated_anywhere(tmp_path: Path, sf2_bytes: bytes) -> None:
    n = len(sf2_bytes)
    pdta = sf2_bytes.index(b"pdta")
    for cut in (3, 11, 12, 30, 200, n // 2, pdta + 40, n - 100, n - 46, n - 1):
        msg = bad(tmp_path, sf2_bytes[:cut])
        assert "truncated" in msg or "not a SoundFont" in msg, (cut, msg)
    msg = bad(tmp_path, sf2_bytes[: n - 100], "truncated: RIFF says")
    assert f"RIFF says {n} bytes, file has {n - 100}" in msg


def test_bad_tables(tmp_path: Path, sf2_bytes: bytes) -> None:
    shdr = chunk_data(sf2_bytes, b"shdr")
    bad(
        tmp_path,
        replace_chunk(sf2_bytes, b"shdr", shdr[:-6]),
        f"pdta chunk 'shdr' is {len(shdr) - 6} bytes, not a multiple of 46",
    )
    bad(tmp_path, replace_chunk(sf2_bytes, b"pbag", b""), "'pbag' is empty")
    pbag = bytearray(chunk_data(sf2_bytes, b"pbag"))
    struct.pack_into("<H", pbag, 4, 999)  # the second bag's first generator
    bad(tmp_path, replace_chunk(sf2_bytes, b"pbag", bytes(pbag)), "'pbag' record", "generator 999")
    igen = bytearray(chunk_data(sf2_bytes, b"igen"))
    for i in range(0, len(igen) - 4, 4):  # every sampleID -> 77: no such sample
        if struct.unpack_from("<H", igen, i)[0] == 53:
            struct.pack_into("<H", igen, i + 2, 77)
    bad(tmp_path, replace_chunk(sf2_bytes, b"igen", bytes(igen)), "uses sample 77")
    no_shdr = sf2_bytes.replace(b"shdr", b"xxxx")
    bad(tmp_path, no_shdr, "no 'shdr' chunk")


def test_corrupt_bytes_never_escape(tmp_path: Path, sf2_bytes: bytes) -> None:
    """Random damage to the header tables either loads or raises SampleFileError, nothing else."""
    rng = np.random.default_rng(7)
    pdta = sf2_bytes.index(b"pdta")
    path = tmp_path / "fuzz.sf2"
    for _ in range(300):
        data = bytearray(sf2_bytes)
        for at in rng.integers(pdta, len(data), size=3):
            data[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        try:
            read_soundfont(path)
        except SampleFileError as e:
            assert str(e).startswith(f"{path}: ")


def test_corrupt_ogg_stream(tmp_path: Path) -> None:
    font = soundfont_bytes(fixture(), compress=True)
    smpl = font.index(b"smpl") + 8
    first = font.index(b"OggS", smpl)  # the first stream: 'kick'
    not_ogg = font[:first] + b"Junk" + font[first + 4 :]
    bad(tmp_path, not_ogg, "sample 'kick'", "not an Ogg stream")
    # damage the Vorbis headers after the first page's capture pattern: the decoder must refuse
    broken = bytearray(font)
    broken[first + 28 : first + 120] = bytes(92)
    bad(tmp_path, bytes(broken), "sample 'kick'")
    shdr = bytearray(chunk_data(font, b"shdr"))
    struct.pack_into("<I", shdr, 24, 10**7)  # the first sample's end byte, past the chunk
    bad(tmp_path, replace_chunk(font, b"shdr", bytes(shdr)), "sample 'kick'", "outside")


def test_bad_sample_headers_are_cut_or_skipped(tmp_path: Path, sf2_bytes: bytes) -> None:
    """A ROM sample is skipped, an end past the pool and a loop past the sample are cut; all warned."""
    shdr = bytearray(chunk_data(sf2_bytes, b"shdr"))
    kick, low, high = 0, 2 * 46, 3 * 46  # record offsets: kick, hat, low, high, EOS
    struct.pack_into("<H", shdr, kick + 44, 0x8001)  # ROM, mono
    (low_end,) = struct.unpack_from("<I", shdr, low + 24)
    struct.pack_into("<I", shdr, low + 32, low_end + 500)  # loop end past the sample's end
    (high_start,) = struct.unpack_from("<I", shdr, high + 20)
    struct.pack_into("<I", shdr, high + 24, high_start + 10**6)  # end far past the pool
    bank = load(tmp_path, replace_chunk(sf2_bytes, b"shdr", bytes(shdr)))
    assert [s.name for s in bank.samples] == ["hat", "low", "high"]
    assert len(bank.presets[1].regions) == 2  # the kick's zone does not sound
    low_s, high_s = bank.samples[1], bank.samples[2]
    assert (low_s.loop_start - low_s.start, low_s.loop_end) == (1000, low_end)
    assert high_s.end == len(bank.pool)
    text = "\n".join(bank.warnings)
    for cause in (
        "'kick' lives in a sound ROM",
        "'low' loops",
        "'high' ends at",
        "use a sample that was skipped",
    ):
        assert cause in text, text


def test_stereo_ogg_takes_first_channel(tmp_path: Path) -> None:
    from instruments.sampler.sf2 import _decode_ogg
    from instruments.sampler.sf2_zones import Warnings

    left, right = tone(440, 3000), tone(660, 3000)
    buf = io.BytesIO()
    sf.write(buf, np.stack([left, right], axis=1), SR, format="OGG", subtype="VORBIS")
    warn = Warnings("x.sf3")
    pcm = _decode_ogg("x.sf3", "duo", buf.getvalue(), warn)
    assert pcm.dtype == np.int16 and len(pcm) == 3000
    assert np.corrcoef(pcm, left)[0, 1] > 0.99
    assert warn.messages() == ["x.sf3: sample 'duo' is a 2-channel Ogg stream; first channel taken"]
