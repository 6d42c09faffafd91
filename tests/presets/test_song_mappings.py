"""The ``mappings`` of song files: loaded, checked against the song's parameters, saved and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.control import param_paths, resolve_param
from engine.mapping import Mapping
from presets.errors import SongFileError
from presets.song import load_song, mapping_param, parse_song
from presets.song_yaml import dump_song_yaml, save_song

DEMO = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"

SONG = """\
schema_version: 2
buses:
  - name: room
    inserts: [{type: reverb}]
tracks:
  - name: bass
    instrument: {type: synth}
    inserts: [{type: filter}]
    sends: [{bus: room, level_db: -6}]
master:
  inserts: [{type: compressor}]
"""

MAPPINGS = [
    Mapping("bass/instrument/cutoff_hz", "cc", 74, channel=0, min_value=200.0, max_value=8000.0, curve="log"),
    Mapping("bass/volume_db", "cc14", 7, takeover="pickup"),
    Mapping("bass/send/room", "nrpn", 300, channel=15, invert=True),
    Mapping("bass/mute", "note", 36, note_mode="toggle"),
    Mapping("bass/pan", "pitchbend", channel=1),
    Mapping("room/fx0/mix", "cc", 21, mode="relative_twos", step=0.05),
    Mapping("master/fx0/threshold_db", "cc", 22, min_value=-40.0, max_value=0.0, curve="sqrt"),
]


def song_doc() -> dict:
    doc = yaml.safe_load(SONG)
    doc["mappings"] = [m.to_dict() for m in MAPPINGS]
    return doc


def test_mappings_load_and_save_and_load_again(tmp_path):
    text = dump_song_yaml(song_doc())
    assert parse_song(text, "song.yaml").mappings == MAPPINGS
    path = save_song(song_doc(), tmp_path / "song.yaml")
    session = load_song(path)
    assert session.mappings == MAPPINGS
    again = yaml.safe_load(SONG)
    again["mappings"] = [m.to_dict() for m in session.mappings]
    assert dump_song_yaml(again) == text  # a second trip changes nothing
    assert "  - {target: bass/volume_db, source: cc14, number: 7, takeover: pickup}\n" in text


def test_a_song_without_mappings_has_none():
    assert parse_song(SONG, "song.yaml").mappings == []


def test_every_parameter_path_of_a_built_song_is_a_mapping_target():
    session = load_song(DEMO)
    built = session.build(48000, 256)
    paths = param_paths(session, built)
    assert "room/fx0/mix" in paths and "pad/send/room" in paths
    for path in paths:
        built_param = resolve_param(session, built, path).param
        param = mapping_param(session, path)
        assert (param.name, param.min_value, param.max_value, param.unit, param.stepped) == (
            built_param.name,
            built_param.min_value,
            built_param.max_value,
            built_param.unit,
            built_param.stepped,
        )


def bad(entry: str) -> SongFileError:
    with pytest.raises(SongFileError) as err:
        parse_song(SONG + "mappings:\n  - {target: bass/pan, source: cc, number: 1}\n" + entry, "bad.yaml")
    return err.value


@pytest.mark.parametrize(
    ("entry", "where", "message"),
    [
        ("  - {target: bas/pan, source: cc, number: 1}\n", "target", "no track or bus named 'bas'"),
        ("  - {target: bass/panning, source: cc, number: 1}\n", "target", "no strip parameter 'panning'"),
        ("  - {target: bass/send/hall, source: cc, number: 1}\n", "target", "no send to 'hall'"),
        ("  - {target: bass/fx3/mix, source: cc, number: 1}\n", "target", "has no device 'fx3'"),
        ("  - {target: bass/instrument/nope, source: cc, number: 1}\n", "target", "no parameter 'nope'"),
        ("  - {target: bass/pan, source: osc, number: 1}\n", "source", "must be one of cc, cc14"),
        ("  - {target: bass/pan, source: cc, number: 200}\n", "number", "must be in 0..127, got 200"),
        ("  - {target: bass/pan, source: cc14, number: 40}\n", "number", "must be in 0..31, got 40"),
        ("  - {target: bass/pan, source: cc}\n", "number", "is required"),
        ("  - {target: bass/pan, source: cc, number: 1, channel: 16}\n", "channel", "must be in 0..15"),
        (
            "  - {target: bass/pan, source: cc, number: 1, max_value: 3}\n",
            "max_value",
            "outside pan's range",
        ),
        (
            "  - {target: bass/volume_db, source: cc, number: 1, curve: log}\n",
            "curve",
            "a log curve needs a range above 0",
        ),
        (
            "  - {target: bass/volume_db, source: cc, number: 1, curve: log, min_value: -6}\n",
            "min_value",
            "a log curve needs min_value above 0",
        ),
        ("  - {target: bass/pan, source: note, number: 1, mode: relative_twos}\n", "mode", "7-bit cc"),
        ("  - {target: bass/pan, source: cc, number: 1, colour: red}\n", "colour", "unknown field"),
        ("  - {target: bass/pan, source: cc, number: 1, invert: 1}\n", "invert", "must be true or false"),
    ],
)
def test_a_bad_mapping_names_its_line_and_field(entry, where, message):
    e = bad(entry)
    # the place of the field's value (of its name for an unknown field, of the entry for a missing one)
    if where == "colour":
        column = entry.index(where) + 1
    elif f"{where}:" in entry:
        column = entry.index(f"{where}:") + len(where) + 3
    else:
        column = entry.index("{") + 1
    assert (e.line, e.column) == (14, column), str(e)
    assert e.where == f"mappings[1].{where}"
    assert message in e.problem
    assert str(e).startswith(f"bad.yaml:14:{column}: mappings[1].{where}: ")


def test_mappings_must_be_a_list_of_mappings():
    with pytest.raises(SongFileError, match=r"bad.yaml:12:11: mappings: must be a list"):
        parse_song(SONG + "mappings: {a: 1}\n", "bad.yaml")
    with pytest.raises(SongFileError, match=r"mappings\[0\]: must be a mapping"):
        parse_song(SONG + "mappings: [3]\n", "bad.yaml")
