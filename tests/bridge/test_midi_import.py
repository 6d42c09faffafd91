from __future__ import annotations

import mido
import numpy as np
import pytest

from bridge.errors import MidiFileError
from bridge.midi_import import session_from_midi
from engine.render import render_array


def write(tmp_path, tracks, ticks=480, name="song.mid"):
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks)
    for msgs in tracks:
        t = mido.MidiTrack()
        t.extend(msgs)
        mid.tracks.append(t)
    path = tmp_path / name
    mid.save(path)
    return path


def test_channels_become_tracks_with_notes_tempo_and_meter(tmp_path):
    conductor = [
        mido.MetaMessage("set_tempo", tempo=500000, time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=1000000, time=480 * 6),
    ]
    mixed = [
        mido.MetaMessage("track_name", name="Band", time=0),
        mido.Message("note_on", note=60, velocity=90, channel=0, time=0),
        mido.Message("note_on", note=36, velocity=110, channel=9, time=0),
        mido.Message("note_off", note=36, channel=9, time=120),
        mido.Message("note_off", note=60, channel=0, time=360),
        mido.Message("control_change", control=7, value=100, channel=0, time=0),
        mido.Message("pitchwheel", pitch=4096, channel=0, time=0),
        mido.Message("note_on", note=62, velocity=80, channel=0, time=0),
    ]  # never closed
    s = session_from_midi(write(tmp_path, [conductor, mixed]))
    assert [t.name for t in s.tracks] == ["Band-ch1", "Band-ch10"]
    lead = s.tracks[0].clips[0]
    first = lead.notes[0]
    assert (first.pitch, first.start_beats, first.length_beats, first.velocity) == (60, 0.0, 1.0, 90)
    assert lead.notes[1].pitch == 62 and lead.notes[1].length_beats > 0  # closed at the track end
    assert lead.controls[0].controller == 7 and lead.pitch_bends[0].value == 4096
    assert s.tempo_map.tempo_at_beat(0) == 120 and s.tempo_map.tempo_at_beat(6) == 60
    assert s.tempo_map.time_signature_at_bar(0).numerator == 3
    assert s.tracks[1].clips[0].notes[0].length_beats == 0.25


def test_a_midi_file_renders_with_notes_where_the_tempo_puts_them(tmp_path):
    conductor = [mido.MetaMessage("set_tempo", tempo=600000, time=0)]  # 100 bpm
    notes = [
        mido.Message("note_on", note=69, velocity=100, time=480 * 2),  # beat 2 = 1.2 s
        mido.Message("note_off", note=69, time=240),
    ]
    s = session_from_midi(write(tmp_path, [conductor, notes]))
    built = s.build(48000, 256)
    audio, _, _ = render_array(built.engine, built.end_sample)
    first = int(np.nonzero(np.abs(audio[0]) > 0)[0][0])
    assert first == round(1.2 * 48000)


def test_corrupt_file_error_names_the_file_and_place(tmp_path):
    path = write(tmp_path, [[mido.Message("note_on", note=60, time=0)]])
    data = bytearray(path.read_bytes())
    data[-6] = 0x92  # corrupt an event byte inside the track
    data = data[:-3]  # and cut the end-of-track short
    bad = tmp_path / "broken.mid"
    bad.write_bytes(bytes(data))
    with pytest.raises(MidiFileError) as err:
        session_from_midi(bad)
    assert "broken.mid" in str(err.value) and "byte 0x" in str(err.value)


def test_a_time_signature_beyond_what_the_engine_plays_is_a_clean_error(tmp_path):
    track = [
        mido.MetaMessage("time_signature", numerator=65, denominator=4, time=0),
        mido.Message("note_on", note=60, time=0),
        mido.Message("note_off", note=60, time=480),
    ]
    with pytest.raises(MidiFileError, match=r"song\.mid: tick 0: time signature 65/4"):
        session_from_midi(write(tmp_path, [track]))
