"""Song documents as YAML text: readable, in a stable order, and read back as the very same document."""

from __future__ import annotations

import random

import yaml

from bridge.midi_import import song_header
from presets.song import parse_song
from presets.song_yaml import dump_song_yaml

SONG = {
    "tracks": [
        {
            "clips": [
                {
                    "notes": [[60, 0.0, 0.5, 90, 0], [64, 0.5, 0.25, 100, 0]],
                    "start_beats": 4.0,
                    "name": "riff",
                    "programs": [{"beat": 0.0, "program": 5, "channel": 0}],
                }
            ],
            "volume_db": -6.0,
            "instrument": {"params": {"cutoff_hz": 2500.0, "release_ms": 300}, "type": "synth"},
            "name": "lead",
        }
    ],
    "time_signatures": [{"bar": 0, "numerator": 3, "denominator": 4}],
    "tempo_map": [{"beat": 0.0, "bpm": 120.0}, {"beat": 8.0, "bpm": 90.5}],
    "length_beats": 16.0,
}


def song() -> dict:
    return {**song_header("A song"), **SONG}


def test_a_song_reads_top_down_in_the_song_format_order():
    text = dump_song_yaml(song())
    top = [line.split(":")[0] for line in text.splitlines() if line[:1].isalpha()]
    assert top[0] == "schema_version"
    assert top[1:] == [k for k in ("title", "metadata") if k in top] + [
        "tempo_map",
        "time_signatures",
        "length_beats",
        "tracks",
    ]
    assert (
        "  - name: lead\n    instrument: {type: synth, params: {cutoff_hz: 2500.0, release_ms: 300}}\n"
        in text
    )
    assert "      - name: riff\n        start_beats: 4.0\n        notes:\n" in text
    # notes and small entries in flow style, one per line
    assert "          - [60, 0.0, 0.5, 90, 0]\n          - [64, 0.5, 0.25, 100, 0]\n" in text
    assert "  - {beat: 8.0, bpm: 90.5}\n" in text
    assert dump_song_yaml(song()) == text  # stable


def test_a_dumped_song_loads_as_a_song():
    session = parse_song(dump_song_yaml(song()), "song.yaml")
    assert session.title == "A song"
    assert session.tempo_map.tempo_at_beat(9) == 90.5
    assert [n.pitch for n in session.tracks[0].clips[0].notes] == [60, 64]


def test_a_document_parsed_directly_gives_the_session_its_yaml_gives():
    import numpy as np
    import pytest

    from bridge.midi_export import midi_bytes
    from presets.errors import SongFileError
    from presets.song import parse_song_document

    doc = song()
    via_text = parse_song(dump_song_yaml(doc), "song.yaml")
    direct = parse_song_document(doc, "song.yaml")
    assert midi_bytes(direct) == midi_bytes(via_text)
    assert direct.tracks[0].volume_db == via_text.tracks[0].volume_db == -6.0
    assert direct.length_beats == 16.0
    # tuples and numpy numbers, as code builds documents, read as the lists and numbers YAML gives
    tempo_map = ({"beat": np.int64(0), "bpm": 120.0}, {"beat": np.float32(8.0), "bpm": np.float64(90.5)})
    built = {**doc, "length_beats": np.float64(16.0), "tempo_map": tempo_map}
    assert midi_bytes(parse_song_document(built)) == midi_bytes(parse_song(dump_song_yaml(doc)))
    # the same checks as a file: a bad value is named, and data YAML could not hold is refused
    with pytest.raises(SongFileError, match="length_beats"):
        parse_song_document({**doc, "length_beats": -1.0})
    with pytest.raises(SongFileError, match="not song data: set is not YAML data"):
        parse_song_document({**doc, "tracks": [{"name": {1, 2}}]})


def test_floats_are_written_as_the_shortest_text_that_reads_back_the_same():
    doc = {"a": 0.5, "b": 0.1, "c": 1 / 3, "d": 1e-7, "e": 1e20, "f": -2.0, "g": 3, "h": float("inf")}
    text = dump_song_yaml(doc)
    assert text == ("a: 0.5\nb: 0.1\nc: 0.3333333333333333\nd: 1.0e-07\ne: 1.0e+20\nf: -2.0\ng: 3\nh: .inf\n")
    assert yaml.safe_load(text) == doc
    assert all(type(yaml.safe_load(text)[k]) is type(v) for k, v in doc.items())


TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "null",
    "~",
    "true",
    "1",
    "1.5",
    "0x1F",
    "1e3",
    "1_000",
    "2024-01-01",
    ".inf",
    "-",
    "- x",
    "? x",
    "a: b",
    "a #b",
    "#c",
    "[x]",
    "{y}",
    "x, y",
    "*alias",
    "&anchor",
    "!tag",
    "|",
    ">",
    "%",
    "@",
    "`",
    "'",
    '"',
    "\\",
    "line\nbreak",
    "tab\there",
    "trailing ",
    " leading",
    "é ü ß",
    "日本語",
    "😀",
    "\x00\x07\x1b\x7f\x85\u2028\ufeff",
    "C#4",
    "Bb2",
    "instrument.cutoff_hz",
    "Keys_L_R-ch2",
    "=",
    "<<",
    "x" * 1500,
]


def test_tricky_strings_and_keys_read_back_as_they_were():
    doc = {s: s for s in TRICKY}
    doc["list"] = list(TRICKY)
    doc["flow"] = [{"name": s, "beat": 1.0} for s in TRICKY]
    assert yaml.safe_load(dump_song_yaml(doc)) == doc


def test_keys_of_any_scalar_type_and_empty_containers_read_back():
    doc = {1: "one", 2.5: [], None: {}, False: [[]], "nested": [[1, [2, [3, {"a": [{}]}]]], {"k": {"j": {}}}]}
    assert yaml.safe_load(dump_song_yaml(doc)) == doc
    assert dump_song_yaml({}) == "{}\n"


def random_value(rng: random.Random, depth: int):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([True, False])
    if kind == 1:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.1 else rng.randint(-200, 200)
    if kind == 2:
        return rng.choice(
            [rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30), round(rng.uniform(0, 64), 6)]
        )
    if kind in (3, 4, 5):
        if rng.random() < 0.3:
            return rng.choice(TRICKY)
        alphabet = "ab Z_-.:#,[]{}'\"\\\n\t!&*?|>%@`09é😀"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def random_key(rng: random.Random):
    key = random_value(rng, 99)
    return key if not isinstance(key, float) else round(key, 3)


def test_random_documents_read_back_as_they_were():
    rng = random.Random(20240601)
    for _ in range(400):
        doc = {random_key(rng): random_value(rng, 0) for _ in range(rng.randrange(1, 8))}
        text = dump_song_yaml(doc)
        assert yaml.safe_load(text) == doc, text
