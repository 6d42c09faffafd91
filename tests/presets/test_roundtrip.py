"""A song round-trips through YAML unchanged: the document, and the sound it makes."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import yaml

from bridge.midi_import import song_document_from_midi
from engine.render import render_array
from presets.errors import SongFileError
from presets.song import load_song, parse_song
from presets.song_yaml import dump_song_yaml, save_song
from presets.storage import backup_path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"


def render(text: str, seconds: float = 6.0) -> np.ndarray:
    built = parse_song(text, str(DEMO)).build(48000, 512)
    mix, _, _ = render_array(built.engine, int(seconds * 48000), block_size=512, tail=0)
    return mix


def test_the_demo_round_trips_through_yaml_unchanged():
    text = DEMO.read_text()
    doc = yaml.safe_load(text)
    again = dump_song_yaml(doc)
    assert yaml.safe_load(again) == doc
    assert dump_song_yaml(yaml.safe_load(again)) == again  # a second trip changes nothing at all
    a = render(text)
    b = render(again)
    assert np.abs(a).max() > 0.01 and np.array_equal(a, b)


def test_an_imported_song_round_trips(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="piano", time=0)])
    for k, pitch in enumerate((60, 64, 67, 72)):
        track.append(mido.Message("note_on", note=pitch, velocity=70 + k, time=0 if k == 0 else 160))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=160))
    mid.tracks.append(track)
    mid.save(tmp_path / "in.mid")
    doc = song_document_from_midi(tmp_path / "in.mid")
    path = save_song(doc, tmp_path / "song.yaml")
    assert yaml.safe_load(path.read_text()) == doc
    notes = load_song(path).tracks[0].clips[0].notes
    assert [(n.pitch, n.start_beats, n.velocity) for n in notes] == [
        (60, 0.0, 70),
        (64, pytest.approx(2 / 3, abs=1e-6), 71),
        (67, pytest.approx(4 / 3, abs=1e-6), 72),
        (72, 2.0, 73),
    ]


def test_a_save_keeps_the_previous_version_and_refuses_a_bad_song(tmp_path):
    doc = yaml.safe_load(DEMO.read_text())
    path = tmp_path / "song.yaml"
    save_song(doc, path)
    first = path.read_text()
    doc["metadata"]["title"] = "second take"
    save_song(doc, path)
    assert backup_path(path).read_text() == first
    assert load_song(path).title == "second take"
    doc["tracks"][0]["volume_db"] = 99
    with pytest.raises(SongFileError, match=r"tracks\[0\]\.volume_db"):
        save_song(doc, path)
    assert load_song(path).title == "second take"  # the file on disk is untouched
