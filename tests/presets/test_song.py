from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from presets.errors import SongFileError
from presets.song import load_song, parse_song

DEMO = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"

GOOD = """\
schema_version: 1
title: t
tempo: 100
tracks:
  - name: lead
    instrument: {type: synth, params: {cutoff_hz: 3000}}
    clips:
      - start_beats: 4
        notes:
          - [C4, 0, 1, 90]
          - {pitch: 64, start: 1, length: 0.5}
"""


def test_the_demo_song_loads_and_builds():
    session = load_song(DEMO)
    assert [t.name for t in session.tracks] == ["pad", "bass", "drums", "lead"]
    built = session.build(48000, 512)
    assert built.end_sample > 48000 * 30


def test_a_good_song_builds_what_it_says():
    s = parse_song(GOOD, "good.yaml")
    assert s.tempo_map.tempo_at_beat(0) == 100
    clip = s.tracks[0].clips[0]
    assert clip.start_beats == 4
    assert [(n.pitch, n.start_beats, n.velocity) for n in clip.notes] == [(60, 0, 90), (64, 1, 100)]
    assert s.tracks[0].instrument.param("cutoff_hz").value == 3000


def bad(text: str) -> SongFileError:
    with pytest.raises(SongFileError) as err:
        parse_song(text, "bad.yaml")
    return err.value


def test_velocity_out_of_range_names_file_line_column_and_field():
    e = bad(GOOD.replace("[C4, 0, 1, 90]", "[C4, 0, 1, 200]"))
    assert (e.line, e.column) == (10, 24)
    assert e.where == "tracks[0].clips[0].notes[0].velocity"
    assert str(e).startswith(
        "bad.yaml:10:24: tracks[0].clips[0].notes[0].velocity: must be in 1..127, got 200"
    )


@pytest.mark.parametrize(
    ("edit", "line", "where", "message"),
    [
        (("tempo: 100", "tempo: fast"), 3, "tempo", "must be a number"),
        (("type: synth", "type: theremin"), 6, "tracks[0].instrument", "unknown instrument type 'theremin'"),
        (
            ("cutoff_hz: 3000", "cutoff_hz: 99999"),
            6,
            "tracks[0].instrument",
            "cutoff_hz must be in 20..20000",
        ),
        (("cutoff_hz: 3000", "cutof_hz: 3000"), 6, "tracks[0].instrument", "no parameter 'cutof_hz'"),
        (("pitch: 64", "pitch: H4"), 11, "tracks[0].clips[0].notes[1].pitch", "note name like C4"),
        (("start_beats: 4", "start_beats: -4"), 8, "tracks[0].clips[0].start_beats", "must be in 0..1e+06"),
        (("    clips:", "    clip:"), 7, "tracks[0].clip", "unknown field"),
        (("schema_version: 1", "schema_version: 7"), 1, "schema_version", "from a newer StrumSpace"),
        (("length: 0.5", "length: 0"), 11, "tracks[0].clips[0].notes[1].length", "must be in"),
    ],
)
def test_each_kind_of_mistake_is_named_at_its_place(edit, line, where, message):
    e = bad(GOOD.replace(*edit))
    assert e.line == line, str(e)
    assert e.where == where, str(e)
    assert message in str(e)


def test_broken_yaml_reports_its_line():
    e = bad(GOOD.replace("    clips:", "    clips: [\n"))
    assert e.line > 0 and "not valid YAML" in str(e)


def test_not_a_mapping_duplicate_keys_and_missing_fields():
    assert "a YAML mapping" in str(bad("- just\n- a list\n"))
    assert "duplicate key 'tempo'" in str(bad("schema_version: 1\ntempo: 90\ntempo: 100\n"))
    e = bad("schema_version: 1\ntracks:\n  - name: x\n")
    assert e.where == "tracks[0].instrument" and "required" in str(e)


def test_sends_and_outputs_must_name_existing_buses():
    text = GOOD + "    sends: [{bus: nowhere}]\n"
    e = bad(text)
    assert e.where == "tracks[0].sends[0].bus" and "no bus named 'nowhere'" in str(e)
    e2 = bad(GOOD.replace("  - name: lead", "  - name: master"))
    assert "reserved" in str(e2)


def test_automation_paths_and_values_are_checked_at_their_line():
    e = bad(GOOD + "    automation:\n      pan: [{beat: 0, value: 0}, {beat: 1, value: 5}]\n")
    assert (e.line, e.where) == (13, "tracks[0].automation.pan[1].value") and "pan must be in -1..1" in str(e)
    e = bad(GOOD + "    automation:\n      instrument.cutof_hz: [{beat: 0, value: 100}]\n")
    assert e.line == 13 and "no parameter 'cutof_hz'" in str(e)
    e = bad(GOOD + "    automation:\n      fx3.gain_db: [{beat: 0, value: 0}]\n")
    assert e.line == 13 and "names no device" in str(e)


def test_tempo_and_meter_mistakes_point_at_their_entry():
    e = bad("schema_version: 1\ntempo_map:\n  - {beat: 0, bpm: 90}\n  - {beat: 0, bpm: 100}\n")
    assert (e.line, e.where) == (4, "tempo_map[1].beat") and "after the previous" in str(e)
    e = bad("schema_version: 1\ntempo_map:\n  - {beat: 0, bpm: 90}\n  - {beat: 4, bpm: 100, ramp: linear}\n")
    assert (e.line, e.where) == (4, "tempo_map[1].ramp") and "no next point" in str(e)
    e = bad(
        "schema_version: 1\ntime_signatures:\n  - {bar: 0, numerator: 3, denominator: 4}\n"
        "  - {bar: 4, numerator: 5, denominator: 6}\n"
    )
    assert (e.line, e.where) == (4, "time_signatures[1].denominator") and "power of two" in str(e)


def test_names_with_dots_or_slashes_are_refused_at_their_line():
    e = bad(GOOD.replace("  - name: lead", "  - name: lead.vox"))
    assert (e.line, e.where) == (5, "tracks[0].name") and "must not contain" in str(e)


@pytest.mark.parametrize(
    "text",
    [
        "schema_version: 1\ntempo: !!float x\n",
        "schema_version: !!int abc\n",
        "schema_version: 1\ntracks: !!bool maybe\n",
        "schema_version: 1\ntitle: !!timestamp x\n",
        "schema_version: 1\ntracks: &a [*a]\n",
        "schema_version: 1\ntracks: " + "[" * 3000 + "]" * 3000 + "\n",
        "schema_version: " + "9" * 400 + "\n",
        "schema_version: 1\ntempo: " + "9" * 400 + "\n",
        "schema_version: 1\ntracks:\n  - name: a\n    instrument: {type: [1]}\n",
        "schema_version: 1\ntracks:\n  - name: a\n    instrument: {type: synth, params: {cutoff_hz: 1e999}}",
    ],
)
def test_hostile_yaml_gives_a_song_file_error(text):
    e = bad(text)
    assert len(str(e)) < 300


def test_shared_aliases_are_not_expanded_exponentially():
    lines = ["schema_version: 1", "a0: &a0 [1, 2]"]
    for k in range(1, 30):
        lines.append(f"a{k}: &a{k} [*a{k - 1}, *a{k - 1}]")
    e = bad("\n".join(lines) + "\n")  # 2**30 leaves if expanded; refused fast as unknown fields instead
    assert "unknown field" in str(e)


def test_mutated_demo_files_never_escape_as_other_errors():
    import random

    rng = random.Random(7)
    text = DEMO.read_text()
    junk = [
        "",
        "-",
        ":",
        "[",
        "]",
        "{",
        "}",
        "!!int x",
        "*z",
        "&y",
        "999999999999999999999",
        "nan",
        "'",
        "\t",
    ]
    for _ in range(300):
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            i = rng.randrange(len(chars))
            chars[i] = rng.choice(junk)
        try:
            parse_song("".join(chars), "m.yaml")
        except SongFileError:
            pass


def test_unreadable_and_binary_files_are_named(tmp_path):
    with pytest.raises(SongFileError, match="cannot read"):
        load_song(tmp_path / "missing.yaml")
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SongFileError, match="not UTF-8"):
        load_song(p)


def test_the_documented_example_loads_and_builds(tmp_path):
    import mido

    doc = (Path(__file__).resolve().parents[2] / "docs" / "song-format.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "parts").mkdir()
    mid = mido.MidiFile(type=1)
    lead = mido.MidiTrack(
        [mido.Message("note_on", note=72, velocity=90), mido.Message("note_off", note=72, time=480)]
    )
    mid.tracks += [mido.MidiTrack(), lead]
    mid.save(tmp_path / "parts" / "lead.mid")
    (tmp_path / "takes").mkdir()
    sf.write(tmp_path / "takes" / "vocal.wav", np.full(44100 * 20, 0.1), 44100)
    session = parse_song(block, str(tmp_path / "song.yaml"))
    assert session.tracks[1].name == "vocal"
    assert [n.pitch for n in session.tracks[0].clips[1].notes] == [72]
    assert session.tempo_map.time_signature_at_bar(8).denominator == 8
    assert session.build(48000, 256).end_sample > 0


def test_mute_and_solo_are_not_automated():
    e = bad(GOOD + "    automation:\n      mute: [{beat: 0, value: 1}]\n")
    assert e.line == 13 and "mute and solo are set, not automated" in str(e)


def test_a_track_can_start_from_a_factory_synth_preset_and_override_it():
    s = parse_song(
        GOOD.replace(
            "{type: synth, params: {cutoff_hz: 3000}}",
            "{type: synth, preset: pad, params: {cutoff_hz: 3000}}",
        ),
        "p.yaml",
    )
    synth = s.tracks[0].instrument
    assert synth.param("unison_voices").value == 4  # from the pad preset
    assert synth.param("cutoff_hz").value == 3000  # overridden here
    e = bad(GOOD.replace("{type: synth, params: {cutoff_hz: 3000}}", "{type: synth, preset: kazoo}"))
    assert e.line == 6 and "no synth preset 'kazoo'" in str(e) and "pad" in str(e)
