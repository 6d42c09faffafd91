"""A track played by external gear (``instrument: {type: midi_out}``): loads, validates against the
published schema, is silent in a render, and refuses bad options by name."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest
import yaml

from engine.midi_out import MidiSend
from engine.render import render_array
from presets.errors import SongFileError
from presets.schema import song_json_schema
from presets.song import parse_song

SONG = """
schema_version: 2
tempo_map: [{beat: 0, bpm: 120}]
tracks:
- name: gear
  instrument: {type: midi_out, port: Digitakt, channel: 10}
  clips:
  - start_beats: 0
    notes: [[36, 0, 1, 100], [38, 1, 1, 100]]
- name: keys
  instrument: {type: synth}
  clips:
  - start_beats: 0
    notes: [[60, 0, 2, 100]]
"""


def test_a_midi_out_track_loads_with_its_port_and_channel():
    session = parse_song(SONG, "gear.yaml")
    inst = session.tracks[0].instrument
    assert isinstance(inst, MidiSend)
    assert inst.port_name == "Digitakt" and inst.channel == 9  # channel 10, counted from 1
    jsonschema.Draft202012Validator(song_json_schema()).validate(yaml.safe_load(SONG))


def test_a_midi_out_track_is_silent_in_a_render_and_the_rest_plays():
    session = parse_song(SONG, "gear.yaml")
    built = session.build(48000, 512)
    audio, _, _ = render_array(built.engine, built.end_sample)
    assert np.abs(audio).max() > 0.01  # the synth plays
    muted = SONG.replace("- name: keys", "- name: keys\n  mute: true")
    only_gear = parse_song(muted, "gear.yaml").build(48000, 512)
    silence, _, _ = render_array(only_gear.engine, only_gear.end_sample)
    assert np.abs(silence).max() == 0.0


@pytest.mark.parametrize(
    ("instrument", "message"),
    [
        ("{type: midi_out, channel: 17}", "channel must be an integer in 1..16"),
        ("{type: midi_out, channel: 0}", "channel must be an integer in 1..16"),
        ("{type: midi_out, port: ''}", "port is named by text"),
        ("{type: midi_out, port: 5}", "port is named by text"),
        ("{type: midi_out, speed: 3}", "has no option 'speed'"),
    ],
)
def test_bad_midi_out_options_are_named(instrument, message):
    text = SONG.replace("{type: midi_out, port: Digitakt, channel: 10}", instrument)
    with pytest.raises(SongFileError, match=message) as err:
        parse_song(text, "gear.yaml")
    assert "gear.yaml" in str(err.value)
