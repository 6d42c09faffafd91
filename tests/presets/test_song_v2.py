"""Schema version 2 (metadata, key, sections, clips from .mid files) and migrations from version 1."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from presets.errors import SongFileError
from presets.migrations import SCHEMA_VERSION
from presets.song import load_song, parse_song

V1_FILE = Path(__file__).parent / "data" / "song_v1.yaml"

V2 = """\
schema_version: 2
metadata: {title: Night drive, artist: The Band, genre: electronic}
key: Eb major
tempo: 110
sections:
  - {name: intro, beat: 0}
  - {name: verse, beat: 16}
tracks:
  - name: lead
    instrument: {type: synth}
    clips:
      - start_beats: 0
        notes: [[60, 0, 1, 90]]
"""


def bad(text: str, file: str = "bad.yaml") -> SongFileError:
    with pytest.raises(SongFileError) as err:
        parse_song(text, file)
    return err.value


def test_every_earlier_schema_version_loads():
    assert SCHEMA_VERSION == 2  # a new version needs a file of the one before it in tests/presets/data
    session = load_song(V1_FILE)
    assert session.title == "StrumSpace demo: four chords, four tracks"
    assert [t.name for t in session.tracks] == ["pad", "bass", "drums", "lead"]
    assert session.build(48000, 512).end_sample > 48000 * 30


def test_a_version_1_file_may_not_use_version_2_fields():
    e = bad("schema_version: 1\nsections: [{name: a, beat: 0}]\n")
    assert e.where == "sections" and "unknown field" in str(e) and (e.line, e.column) == (2, 1)


def test_an_error_in_a_migrated_value_still_points_at_its_line():
    e = bad("schema_version: 1\ntempo: 100\ntitle: [1, 2]\n")
    assert e.line == 3 and e.where == "metadata.title"


def test_a_file_from_a_newer_version_says_so():
    e = bad("schema_version: 3\ntempo: 100\n")
    assert "schema version 3, from a newer StrumSpace" in str(e) and "1..2" in str(e)


def test_version_2_reads_metadata_key_and_sections():
    s = parse_song(V2, "song.yaml")
    assert s.title == "Night drive" and s.key == "Eb major"
    assert [(x.name, x.start_beats) for x in s.sections] == [("intro", 0.0), ("verse", 16.0)]


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("key: Eb major", "key: H major"), "key", "tonic must be A..G"),
        (("key: Eb major", "key: Eb happy"), "key", "a tonic and a mode"),
        (("genre: electronic", "mood: dark"), "metadata.mood", "unknown field"),
        (("{name: verse, beat: 16}", "{name: verse, beat: 0}"), "sections[1].beat", "after the previous"),
        (("{name: verse, beat: 16}", "{beat: 16}"), "sections[1].name", "is required"),
        (("title: Night drive", "title: [x]"), "metadata.title", "must be text"),
    ],
)
def test_version_2_mistakes_are_named(edit, where, message):
    e = bad(V2.replace(*edit))
    assert e.where == where and message in str(e), str(e)


def write_midi(path: Path) -> None:
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)])
    bass = mido.MidiTrack([mido.MetaMessage("track_name", name="bass", time=0)])
    for k, pitch in enumerate((36, 38, 40)):
        bass.append(mido.Message("note_on", note=pitch, velocity=80 + k, time=0 if k == 0 else 48))
        bass.append(mido.Message("note_off", note=pitch, velocity=0, time=48))
    keys = mido.MidiTrack([mido.MetaMessage("track_name", name="keys", time=0)])
    for ch, pitch in ((0, 60), (1, 64)):
        keys.append(mido.Message("note_on", note=pitch, velocity=100, channel=ch, time=0))
    keys.append(mido.Message("note_off", note=60, velocity=0, channel=0, time=192))
    keys.append(mido.Message("note_off", note=64, velocity=0, channel=1, time=0))
    mid.tracks += [meta, bass, keys]
    mid.save(path)


def clip_song(clip: str) -> str:
    head = "schema_version: 2\ntempo: 120\ntracks:\n  - name: a\n    instrument: {type: synth}\n    clips:\n"
    return f"{head}      - {clip}\n"


def test_a_clip_reads_its_notes_from_a_midi_file_next_to_the_song(tmp_path):
    write_midi(tmp_path / "parts.mid")
    song = tmp_path / "song.yaml"
    song.write_text(clip_song("{midi_file: parts.mid, track: bass, start_beats: 8}"))
    clip = load_song(song).tracks[0].clips[0]
    assert clip.start_beats == 8
    assert [(n.pitch, n.start_beats, n.length_beats, n.velocity) for n in clip.notes] == [
        (36, 0.0, 0.5, 80),
        (38, 1.0, 0.5, 81),
        (40, 2.0, 0.5, 82),
    ]
    song.write_text(clip_song("{midi_file: parts.mid, track: 2, channel: 1, start_beats: 0}"))
    assert [(n.pitch, n.channel, n.length_beats) for n in load_song(song).tracks[0].clips[0].notes] == [
        (64, 1, 2.0)
    ]


@pytest.mark.parametrize(
    ("clip", "where", "message"),
    [
        ("{midi_file: missing.mid, start_beats: 0}", "midi_file", "no such file: "),
        ("{midi_file: parts.mid, start_beats: 0}", "midi_file", "choose one part"),
        ("{midi_file: parts.mid, track: drums, start_beats: 0}", "track", "no track named 'drums'"),
        ("{midi_file: parts.mid, track: 7, start_beats: 0}", "track", "tracks 0..2, got 7"),
        ("{midi_file: parts.mid, track: 2, start_beats: 0}", "midi_file", "parts: keys-ch1, keys-ch2"),
        ("{midi_file: parts.mid, track: 1, start_beats: 0, notes: []}", "notes", "not both"),
        ("{midi_file: corrupt.mid, start_beats: 0}", "midi_file", "corrupt.mid"),
        ("{notes: [], track: 1, start_beats: 0}", "track", "only for a clip with midi_file"),
    ],
)
def test_midi_file_clip_mistakes_are_named(tmp_path, clip, where, message):
    write_midi(tmp_path / "parts.mid")
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x00\x60MTrk\xff\xff")
    song = tmp_path / "song.yaml"
    song.write_text(clip_song(clip))
    with pytest.raises(SongFileError) as err:
        load_song(song)
    assert err.value.where == f"tracks[0].clips[0].{where}", str(err.value)
    assert message in str(err.value)
    if "missing" in clip:
        assert str(tmp_path / "missing.mid") in str(err.value)
    assert song.read_text() == clip_song(clip)  # a failed load changes nothing on disk
