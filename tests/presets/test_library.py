"""The preset library: factory presets of every kind build, user presets are checked, saved atomically
and hide factory ones, and songs use chains and track templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from presets.errors import PresetError, SongFileError
from presets.library import KINDS, find_preset, list_presets, load_preset_data, save_preset
from presets.song import parse_song

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def user_dir(tmp_path, monkeypatch):
    d = tmp_path / "user-presets"
    monkeypatch.setenv("STRUM_PRESETS_DIR", str(d))
    return d


def test_every_factory_preset_of_every_kind_loads():
    found = {k: [p.name for p in list_presets(k)] for k in KINDS}
    assert {"bass", "lead", "pad", "pluck", "keys", "strings", "brass"} <= set(found["synth"])
    assert found["chain"] and found["track"]
    for kind, names in found.items():
        for name in names:
            assert load_preset_data(kind, name), (kind, name)
            assert list_presets(kind)[names.index(name)].source == "factory"


def test_a_user_preset_hides_the_factory_one_and_is_used_by_songs(user_dir):
    save_preset("synth", "pad", {"description": "mine", "cutoff_hz": 777})
    (info,) = [p for p in list_presets("synth") if p.name == "pad"]
    assert info.source == "user" and info.description == "mine"
    assert find_preset("synth", "pad") == user_dir / "synth" / "pad.yaml"
    song = "schema_version: 2\ntracks:\n  - name: a\n    instrument: {type: synth, preset: pad}\n"
    assert parse_song(song).tracks[0].instrument.param("cutoff_hz").value == 777


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("chain", {"inserts": [{"type": "fuzzbox"}]}, "unknown effect type 'fuzzbox'"),
        ("chain", {"inserts": [{"type": "reverb", "params": {"mix": 3}}]}, "inserts[0]"),
        ("chain", {"inserts": []}, "one or more effects"),
        ("track", {"inserts": []}, "needs one"),
        ("track", {"instrument": {"type": "synth"}, "pan": 4}, "pan: must be a number in -1..1"),
        ("track", {"instrument": {"type": "synth"}, "colour": "red"}, "colour: unknown field"),
        ("synth", {"cutoff_hz": 1e9}, "cutoff_hz"),
    ],
)
def test_a_bad_preset_is_refused_and_nothing_is_written(user_dir, kind, data, message):
    with pytest.raises(PresetError) as err:
        save_preset(kind, "bad", data)
    assert message in str(err.value)
    assert not (user_dir / kind / "bad.yaml").exists()


def test_saving_never_replaces_a_preset_by_accident_and_names_are_checked(user_dir):
    save_preset("chain", "mine", {"inserts": [{"type": "gain"}]})
    with pytest.raises(PresetError, match="exists"):
        save_preset("chain", "mine", {"inserts": [{"type": "pan"}]})
    assert "gain" in (user_dir / "chain" / "mine.yaml").read_text()
    save_preset("chain", "mine", {"inserts": [{"type": "pan"}]}, overwrite=True)
    assert "pan" in (user_dir / "chain" / "mine.yaml").read_text()
    for bad in ("../escape", "", "a/b", "x" * 65):
        with pytest.raises(PresetError, match="preset name"):
            save_preset("chain", bad, {"inserts": [{"type": "gain"}]})
    with pytest.raises(PresetError, match="unknown preset kind"):
        save_preset("plugin", "x", {})


SONG = """\
schema_version: 2
tracks:
  - name: pads
    template: pad
    volume_db: -3
    inserts: [{type: gain}, {chain: space}, {type: pan}]
    automation:
      fx2.mix: [{beat: 0, value: 0.5}]
"""


def test_songs_use_chains_and_track_templates():
    track = parse_song(SONG).tracks[0]
    assert [type(p).__name__ for p in track.inserts] == ["Gain", "Chorus", "Reverb", "Pan"]
    assert track.volume_db == -3  # the track's own value wins over the template's -9
    template = load_preset_data("track", "pad")
    assert track.instrument.param("cutoff_hz").value == pytest.approx(
        parse_song("schema_version: 2\ntracks:\n  - {name: a, instrument: {type: synth, preset: pad}}\n")
        .tracks[0]
        .instrument.param("cutoff_hz")
        .value
    )
    assert template["instrument"] == {"type": "synth", "preset": "pad"}
    bare = parse_song("schema_version: 2\ntracks:\n  - {name: a, template: pad}\n").tracks[0]
    assert bare.volume_db == -9 and [type(p).__name__ for p in bare.inserts] == ["Chorus", "Reverb"]


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("{chain: space}", "{chain: nowhere}"), "tracks[0].inserts[1].chain", "no chain preset 'nowhere'"),
        (("{chain: space}", "{chain: space, type: gain}"), "tracks[0].inserts[1].type", "unknown field"),
        (("template: pad", "template: harp"), "tracks[0].template", "no track preset 'harp'"),
    ],
)
def test_preset_mistakes_in_songs_are_named(edit, where, message):
    with pytest.raises(SongFileError) as err:
        parse_song(SONG.replace(*edit), "s.yaml")
    assert err.value.where == where and message in str(err.value), str(err.value)


def strum(*args: str, env_dir: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "STRUM_PRESETS_DIR": str(env_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", "presets", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_presets_command_lists_shows_and_saves(user_dir, tmp_path):
    out = strum("list", "--kind", "chain", env_dir=user_dir)
    assert out.returncode == 0 and "space" in out.stdout and "factory" in out.stdout
    out = strum("show", "track", "pad", env_dir=user_dir)
    assert out.returncode == 0 and "preset: pad" in out.stdout
    song = ROOT / "examples" / "songs" / "demo.yaml"
    out = strum("save", "synth", "my-lead", "--from-song", str(song), "--track", "lead", env_dir=user_dir)
    assert out.returncode == 0, out.stderr
    saved = yaml.safe_load((user_dir / "synth" / "my-lead.yaml").read_text())
    demo = yaml.safe_load(song.read_text())
    (lead,) = [t for t in demo["tracks"] if t["name"] == "lead"]
    assert saved["cutoff_hz"] == lead["instrument"]["params"]["cutoff_hz"]
    out = strum("save", "chain", "room", "--from-song", str(song), "--track", "room", env_dir=user_dir)
    assert out.returncode == 0 and "saved chain preset 'room'" in out.stdout
    again = strum("save", "chain", "room", "--from-song", str(song), "--track", "room", env_dir=user_dir)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("inserts: [{type: reverb, params: {decay_s: 99}}]\n")
    out = strum("save", "chain", "bad", "--from", str(bad), env_dir=user_dir)
    assert out.returncode == 2 and "decay_s" in out.stderr and not (user_dir / "chain" / "bad.yaml").exists()
    out = strum("show", "chain", "nothing", env_dir=user_dir)
    assert out.returncode == 2 and "no chain preset 'nothing'" in out.stderr
