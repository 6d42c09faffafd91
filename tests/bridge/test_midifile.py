"""Tests for bridge/midifile.py: fixtures written with mido and by hand, every error names its place."""

from __future__ import annotations

import random
import struct
from io import BytesIO
from pathlib import Path

import mido
import pytest

from bridge.errors import BridgeError, MidiFileError
from bridge.midifile import (
    KeySignatureChange,
    Marker,
    MidiEvent,
    MidiFileData,
    TempoChange,
    TimeSignatureChange,
    parse_midi_bytes,
    read_midi_file,
)

# Hand-written files: a 14-byte MThd chunk, so the first MTrk header is at 0x0e and its body at 0x16.
END_OF_TRACK = b"\x00\xff\x2f\x00"
FIRST_BODY = 0x16


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "big") + body


def smf(*bodies: bytes, fmt: int = 1, ntracks: int | None = None, division: int = 96) -> bytes:
    count = len(bodies) if ntracks is None else ntracks
    return chunk(b"MThd", struct.pack(">HHH", fmt, count, division)) + b"".join(
        chunk(b"MTrk", body) for body in bodies
    )


def raises_at(data: bytes, place: str) -> str:
    """Parse ``data`` as song.mid and return the error message after checking its file and place."""
    with pytest.raises(MidiFileError) as info:
        parse_midi_bytes(data, "song.mid")
    message = str(info.value)
    assert message.startswith(f"song.mid: {place}: "), message
    return message


def save(tmp_path: Path, midi: mido.MidiFile, name: str = "song.mid") -> Path:
    path = tmp_path / name
    midi.save(path)
    return path


# ---- files written by mido ------------------------------------------------------------------------------


def test_format_0_file_round_trips_notes_cc_pitch_bend_and_program_changes(tmp_path: Path) -> None:
    track = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Lead", time=0),
            mido.Message("program_change", channel=2, program=33, time=0),
            mido.Message("note_on", channel=2, note=60, velocity=100, time=0),
            mido.Message("control_change", channel=2, control=7, value=90, time=120),
            mido.Message("pitchwheel", channel=2, pitch=8191, time=120),
            mido.Message("note_off", channel=2, note=60, velocity=30, time=240),
            mido.MetaMessage("end_of_track", time=480),
        ]
    )
    path = save(tmp_path, mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track]))

    song = read_midi_file(path)

    assert song.path == str(path)
    assert song.format == 0
    assert song.ticks_per_beat == 480
    assert len(song.tracks) == 1
    assert song.tracks[0].index == 0
    assert song.tracks[0].name == "Lead"
    assert song.tracks[0].instrument_name == ""
    assert song.tracks[0].events == (
        MidiEvent(0, 0xC2, 33, 0),
        MidiEvent(0, 0x92, 60, 100),
        MidiEvent(120, 0xB2, 7, 90),
        MidiEvent(240, 0xE2, 0x7F, 0x7F),  # pitch 8191 -> 14-bit 16383: LSB 0x7f, MSB 0x7f
        MidiEvent(480, 0x82, 60, 30),
    )
    assert song.end_tick == 960
    assert song.tick_to_beat(960) == 2.0


def test_format_1_file_keeps_tracks_apart_with_names_and_drums_on_channel_10(tmp_path: Path) -> None:
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    bass = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Bass", time=0),
            mido.MetaMessage("instrument_name", name="Fretless", time=0),
            mido.Message("note_on", channel=1, note=40, velocity=90, time=96),
            mido.Message("note_off", channel=1, note=40, velocity=0, time=96),
        ]
    )
    drums = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Drums", time=0),
            mido.Message("note_on", channel=9, note=36, velocity=127, time=0),
            mido.Message("note_on", channel=9, note=42, velocity=80, time=0),
            mido.Message("note_off", channel=9, note=36, velocity=64, time=48),
            mido.Message("note_off", channel=9, note=42, velocity=64, time=0),
            mido.MetaMessage("end_of_track", time=336),
        ]
    )
    path = save(tmp_path, mido.MidiFile(type=1, ticks_per_beat=96, tracks=[conductor, bass, drums]))

    song = read_midi_file(path)

    assert song.format == 1
    assert [t.index for t in song.tracks] == [0, 1, 2]
    assert [t.name for t in song.tracks] == ["", "Bass", "Drums"]
    assert song.tracks[1].instrument_name == "Fretless"
    assert song.tracks[0].events == ()
    assert song.tracks[1].events == (MidiEvent(96, 0x91, 40, 90), MidiEvent(192, 0x81, 40, 0))
    drum_events = song.tracks[2].events
    assert {e.channel for e in drum_events} == {9}
    assert [(e.tick, e.kind, e.data1) for e in drum_events] == [
        (0, 0x90, 36),
        (0, 0x90, 42),
        (48, 0x80, 36),
        (48, 0x80, 42),
    ]
    assert song.end_tick == 384  # the drum track's end-of-track is the latest


def test_tempo_and_time_signature_changes_are_collected_sorted_by_tick(tmp_path: Path) -> None:
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
            mido.MetaMessage("set_tempo", tempo=500_000, time=0),
            mido.MetaMessage("set_tempo", tempo=400_000, time=1920),
            mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0),
            mido.MetaMessage("set_tempo", tempo=600_000, time=960),
        ]
    )
    notes = mido.MidiTrack([mido.Message("note_on", note=60, velocity=1, time=3000)])
    path = save(tmp_path, mido.MidiFile(type=1, ticks_per_beat=480, tracks=[conductor, notes]))

    song = read_midi_file(path)

    assert song.tempo_changes == (
        TempoChange(0, 500_000),
        TempoChange(1920, 400_000),
        TempoChange(2880, 600_000),
    )
    assert [t.bpm for t in song.tempo_changes] == [120.0, 150.0, 100.0]
    assert song.time_signatures == (TimeSignatureChange(0, 4, 4), TimeSignatureChange(1920, 6, 8))


def test_key_signatures_and_markers_come_back_with_their_ticks_sorted_over_all_tracks(tmp_path: Path) -> None:
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("key_signature", key="Bb", time=0),  # 2 flats, major
            mido.MetaMessage("marker", text="intro", time=0),
            mido.MetaMessage("key_signature", key="F#m", time=1920),  # 3 sharps, minor
            mido.MetaMessage("marker", text="verse", time=0),
            mido.MetaMessage("key_signature", key="C#", time=960),  # 7 sharps
            mido.MetaMessage("marker", text=" Café chorus ", time=0),  # Latin-1, spaces kept
        ]
    )
    notes = mido.MidiTrack(
        [
            mido.MetaMessage("key_signature", key="Ebm", time=480),  # 6 flats, minor
            mido.MetaMessage("marker", text="pickup", time=0),
            mido.Message("note_on", note=60, velocity=90, time=0),
            mido.MetaMessage("marker", text="break", time=2400),  # tick 2880, after the conductor's
            mido.MetaMessage("key_signature", key="Cb", time=960),  # 7 flats
            mido.Message("note_off", note=60, time=0),
        ]
    )
    path = save(tmp_path, mido.MidiFile(type=1, ticks_per_beat=480, tracks=[conductor, notes]))

    song = read_midi_file(path)

    assert song.key_signatures == (
        KeySignatureChange(0, -2, False),
        KeySignatureChange(480, -6, True),
        KeySignatureChange(1920, 3, True),
        KeySignatureChange(2880, 7, False),
        KeySignatureChange(3840, -7, False),
    )
    assert song.markers == (
        Marker(0, "intro"),
        Marker(480, "pickup"),
        Marker(1920, "verse"),
        Marker(2880, " Café chorus "),
        Marker(2880, "break"),
    )
    assert song.tracks[1].events[0] == MidiEvent(480, 0x90, 60, 90)  # the metas left the notes alone


def test_key_signatures_at_one_tick_keep_the_last_one_and_markers_keep_them_all() -> None:
    key = b"\x00\xff\x59\x02"
    marker = b"\x00\xff\x06"
    track0 = key + b"\x00\x00" + key + b"\xfd\x01" + marker + b"\x01A" + marker + b"\x01B" + END_OF_TRACK
    track1 = key + b"\x02\x00" + marker + b"\x01C" + END_OF_TRACK
    song = parse_midi_bytes(smf(track0, track1))
    assert song.key_signatures == (KeySignatureChange(0, 2, False),)
    assert song.markers == (Marker(0, "A"), Marker(0, "B"), Marker(0, "C"))


def test_files_without_keys_or_markers_and_data_built_by_hand_have_none() -> None:
    song = parse_midi_bytes(smf(b"\x00\x90\x3c\x40" + END_OF_TRACK))
    assert song.key_signatures == () and song.markers == ()
    by_hand = MidiFileData("x.mid", 1, 96, (), (), (), 0)
    assert by_hand.key_signatures == () and by_hand.markers == ()


def test_tempo_changes_at_one_tick_keep_the_last_one_over_all_tracks() -> None:
    tempo = b"\x00\xff\x51\x03"
    track0 = tempo + (500_000).to_bytes(3, "big") + tempo + (400_000).to_bytes(3, "big") + END_OF_TRACK
    track1 = b"\x60" + tempo[1:] + (300_000).to_bytes(3, "big") + tempo + (250_000).to_bytes(3, "big")
    song = parse_midi_bytes(smf(track0, track1 + END_OF_TRACK))
    assert song.tempo_changes == (TempoChange(0, 400_000), TempoChange(96, 250_000))


def test_events_match_what_mido_reads_from_a_random_multi_track_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    midi = mido.MidiFile(type=1, ticks_per_beat=240)
    for _ in range(4):
        track = mido.MidiTrack()
        for _ in range(200):
            channel, time = rng.randrange(16), rng.choice([0, 0, 1, 30, 240, 1000])
            track.append(
                rng.choice(
                    [
                        mido.Message(
                            "note_on",
                            channel=channel,
                            note=rng.randrange(128),
                            velocity=rng.randrange(1, 128),
                            time=time,
                        ),
                        mido.Message(
                            "note_off",
                            channel=channel,
                            note=rng.randrange(128),
                            velocity=rng.randrange(128),
                            time=time,
                        ),
                        mido.Message(
                            "control_change",
                            channel=channel,
                            control=rng.randrange(120),
                            value=rng.randrange(128),
                            time=time,
                        ),
                        mido.Message("aftertouch", channel=channel, value=rng.randrange(128), time=time),
                        mido.Message(
                            "polytouch",
                            channel=channel,
                            note=rng.randrange(128),
                            value=rng.randrange(128),
                            time=time,
                        ),
                        mido.Message(
                            "pitchwheel", channel=channel, pitch=rng.randrange(-8192, 8192), time=time
                        ),
                        mido.Message(
                            "program_change", channel=channel, program=rng.randrange(128), time=time
                        ),
                        mido.Message("sysex", data=[1, 2, 3], time=time),
                    ]
                )
            )
        midi.tracks.append(track)
    path = save(tmp_path, midi)

    song = read_midi_file(path)

    for ours, theirs in zip(song.tracks, mido.MidiFile(path).tracks, strict=True):
        expected = []
        tick = 0
        for message in theirs:
            tick += message.time
            if not message.is_meta and message.type != "sysex":
                status, *data = message.bytes()
                data += [0] * (2 - len(data))
                expected.append(MidiEvent(tick, status, data[0], data[1]))
        assert list(ours.events) == expected


# ---- hand-written bytes ---------------------------------------------------------------------------------


def test_running_status_repeats_the_previous_status_byte() -> None:
    body = b"\x00\x90\x3c\x40" + b"\x10\x3e\x41" + b"\x10\x3c\x00" + END_OF_TRACK
    song = parse_midi_bytes(smf(body))
    assert song.tracks[0].events == (
        MidiEvent(0, 0x90, 0x3C, 0x40),
        MidiEvent(16, 0x90, 0x3E, 0x41),
        MidiEvent(32, 0x80, 0x3C, 64),
    )


def test_running_status_continues_after_a_meta_event() -> None:
    body = b"\x00\xb3\x07\x64" + b"\x00\xff\x01\x01A" + b"\x08\x0a\x40" + END_OF_TRACK
    song = parse_midi_bytes(smf(body))
    assert song.tracks[0].events == (MidiEvent(0, 0xB3, 7, 100), MidiEvent(8, 0xB3, 10, 64))


def test_note_on_with_velocity_0_becomes_note_off_with_velocity_64() -> None:
    body = b"\x00\x95\x3c\x50" + b"\x60\x95\x3c\x00" + END_OF_TRACK
    song = parse_midi_bytes(smf(body))
    assert song.tracks[0].events[1] == MidiEvent(96, 0x85, 0x3C, 64)


def test_sysex_events_are_skipped_with_their_length() -> None:
    body = b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7" + b"\x00\xf7\x02\xf0\xf7" + b"\x00\x90\x3c\x40" + END_OF_TRACK
    song = parse_midi_bytes(smf(body))
    assert song.tracks[0].events == (MidiEvent(0, 0x90, 0x3C, 0x40),)


def test_extra_header_bytes_and_unknown_chunks_between_tracks_are_skipped() -> None:
    header = chunk(b"MThd", struct.pack(">HHH", 1, 2, 96) + b"\x01\x02\x03")
    data = (
        header
        + chunk(b"MTrk", b"\x00\x90\x3c\x40" + END_OF_TRACK)
        + chunk(b"XFIH", b"vendor data")
        + chunk(b"MTrk", b"\x00\x91\x3d\x41" + END_OF_TRACK)
    )
    song = parse_midi_bytes(data)
    assert [t.events[0].status for t in song.tracks] == [0x90, 0x91]


def test_track_without_end_of_track_is_accepted_when_its_chunk_ends_cleanly() -> None:
    song = parse_midi_bytes(smf(b"\x00\x90\x3c\x40" + b"\x83\x00\x80\x3c\x40"))
    assert song.tracks[0].events[-1] == MidiEvent(384, 0x80, 0x3C, 0x40)
    assert song.end_tick == 384


def test_time_signature_denominator_is_two_to_the_power_of_its_byte() -> None:
    body = b"\x00\xff\x58\x04\x07\x03\x18\x08" + END_OF_TRACK
    assert parse_midi_bytes(smf(body)).time_signatures == (TimeSignatureChange(0, 7, 8),)


def test_four_byte_delta_time_is_the_longest_allowed() -> None:
    song = parse_midi_bytes(smf(b"\xff\xff\xff\x7f\x90\x3c\x40" + END_OF_TRACK))
    assert song.tracks[0].events[0].tick == 0x0FFFFFFF


# ---- errors: each names the file and the exact place ----------------------------------------------------


def test_errors_are_bridge_errors_and_value_errors() -> None:
    assert issubclass(MidiFileError, BridgeError)
    assert issubclass(MidiFileError, ValueError)


def test_track_chunk_longer_than_the_file_is_truncated_at_its_chunk_header() -> None:
    data = smf(END_OF_TRACK)[:-2]  # the MTrk chunk declares 4 bytes, 2 remain
    message = raises_at(data, "track 0, byte 0x000e")
    assert "truncated" in message and "declares 4 bytes but only 2 remain" in message


def test_truncated_header_chunk_names_byte_4() -> None:
    raises_at(b"MThd\x00\x00\x00\x06\x00\x01", "byte 0x0004")


def test_delta_time_longer_than_4_bytes_names_where_it_starts() -> None:
    bad = b"\x81\x82\x83\x84\x05\x90\x3c\x40" + END_OF_TRACK
    second_body = FIRST_BODY + len(END_OF_TRACK) + 8
    message = raises_at(smf(END_OF_TRACK, bad), f"track 1, byte 0x{second_body:04x}")
    assert message.endswith("a delta time is a variable-length quantity longer than 4 bytes")


def test_data_byte_where_a_status_is_expected_without_running_status() -> None:
    message = raises_at(smf(b"\x00\x3c\x40" + END_OF_TRACK), "track 0, byte 0x0017")
    assert message == "song.mid: track 0, byte 0x0017: running status without a previous status byte"


def test_sysex_cancels_running_status() -> None:
    body = b"\x00\x90\x3c\x40" + b"\x00\xf0\x01\xf7" + b"\x00\x3c\x00" + END_OF_TRACK
    message = raises_at(smf(body), "track 0, byte 0x001f")
    assert "running status without a previous status byte" in message and "sysex" in message


def test_status_byte_inside_a_channel_message_names_the_byte() -> None:
    message = raises_at(smf(b"\x00\x90\x3c\x90\x40" + END_OF_TRACK), "track 0, byte 0x0019")
    assert "status byte 0x90 inside a note-on message" in message


def test_system_real_time_byte_in_a_track_names_the_byte() -> None:
    message = raises_at(smf(b"\x00\x90\x3c\x40\x00\xf8" + END_OF_TRACK), "track 0, byte 0x001b")
    assert "system byte 0xf8 (timing clock)" in message


def test_smpte_time_division_is_refused_by_name() -> None:
    message = raises_at(smf(END_OF_TRACK, division=0xE728), "byte 0x000c")
    assert "SMPTE time division (25 frames/s, 40 ticks/frame) is not supported" in message


def test_format_2_is_refused() -> None:
    message = raises_at(smf(END_OF_TRACK, fmt=2), "byte 0x0008")
    assert "format 2 (independent sequences) is not supported" in message


def test_fewer_tracks_than_declared_names_how_many_at_the_end_of_the_file() -> None:
    data = smf(END_OF_TRACK, ntracks=3)
    message = raises_at(data, f"byte 0x{len(data):04x}")
    assert message.endswith("the header declares 3 track chunks (MTrk) but the file has only 1")


def test_meta_event_longer_than_its_track_chunk_is_truncated() -> None:
    message = raises_at(smf(b"\x00\xff\x03\x10abc"), "track 0, byte 0x001a")
    assert "truncated: meta event 0x03 declares 16 bytes but the track chunk ends at byte 0x001d" in message


def test_tempo_meta_event_of_wrong_length_is_refused() -> None:
    message = raises_at(smf(b"\x00\xff\x51\x02\x07\xa1" + END_OF_TRACK), "track 0, byte 0x0017")
    assert "has length 2, expected 3" in message


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"\x03\x00\x00\x00", "key signature meta event (0x59) has length 3, expected 2"),
        (b"\x01\x00", "key signature meta event (0x59) has length 1, expected 2"),
        (
            b"\x02\x09\x00",
            "key signature meta event (0x59) has 9 sharps, expected -7..7 (flats count negative)",
        ),
        (
            b"\x02\xf8\x01",
            "key signature meta event (0x59) has -8 sharps, expected -7..7 (flats count negative)",
        ),
        (b"\x02\x00\x02", "key signature meta event (0x59) has mode 2, expected 0 (major) or 1 (minor)"),
    ],
)
def test_corrupt_key_signature_is_refused_at_its_status_byte(body: bytes, what: str) -> None:
    good_key = b"\x00\xff\x59\x02\x00\x00"  # the second track's bad event starts after this one
    bad_offset = FIRST_BODY + len(END_OF_TRACK) + 8 + len(good_key) + 1
    data = smf(END_OF_TRACK, good_key + b"\x00\xff\x59" + body + END_OF_TRACK)
    message = raises_at(data, f"track 1, byte 0x{bad_offset:04x}")
    assert message == f"song.mid: track 1, byte 0x{bad_offset:04x}: {what}"


def test_missing_file_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.mid"
    with pytest.raises(MidiFileError, match="cannot read the file") as info:
        read_midi_file(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("content", [b"", b"hello, this is a text file\n", b"MTh"])
def test_file_that_is_not_midi_says_so(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(MidiFileError) as info:
        read_midi_file(path)
    assert str(info.value) == f"{path}: not a Standard MIDI File (no MThd header at byte 0)"


def test_random_mutations_of_a_valid_file_parse_or_raise_midi_file_error() -> None:
    tempo = mido.MetaMessage("set_tempo", tempo=500_000)
    track = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Keys"),
            tempo,
            mido.Message("note_on", note=60, velocity=100),
            mido.Message("control_change", control=64, value=127, time=10),
            mido.Message("pitchwheel", pitch=-200, time=5),
            mido.Message("sysex", data=[1, 2, 3]),
            mido.Message("note_off", note=60, time=200),
        ]
    )
    midi = mido.MidiFile(type=1, ticks_per_beat=96, tracks=[track, track.copy()])
    buffer = BytesIO()
    midi.save(file=buffer)
    valid = buffer.getvalue()
    rng = random.Random(20240601)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(300):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            mutation = rng.randrange(4)
            if mutation == 0:
                data[where] = rng.randrange(256)
            elif mutation == 1:
                data.insert(where, rng.randrange(256))
            elif mutation == 2 and len(data) > 1:
                del data[where]
            else:
                data = data[: where + 1]
        try:
            parse_midi_bytes(bytes(data), "fuzz.mid")
            outcomes["parsed"] += 1
        except MidiFileError as exc:
            assert str(exc).startswith("fuzz.mid: ")
            outcomes["refused"] += 1
    assert outcomes["parsed"] > 0 and outcomes["refused"] > 0
