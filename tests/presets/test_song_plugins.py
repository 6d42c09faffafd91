"""VST3 plugins and pedalboard's effects in song files: loaded, checked, bypassed when broken."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dsp.plugins import FailedPlugin, PluginProcessor, load_plugin_processor
from engine.render import render_array
from presets.errors import SongFileError
from presets.library import save_preset
from presets.song import load_song, parse_song

COMP = "/usr/lib/vst3/ZamCompX2.vst3"
EQ = "/usr/lib/vst3/ZamEQ2.vst3"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not os.path.isdir(COMP), reason=f"{COMP} missing (Debian package zam-plugins)"
)


def song(insert: str) -> str:
    return f"""\
schema_version: 2
tempo: 120
tracks:
  - name: keys
    instrument: {{type: synth}}
    inserts: [{insert}]
    clips:
      - start_beats: 0
        notes: [[60, 0, 2, 110], [64, 0, 2, 110]]
"""


def render(session) -> np.ndarray:
    built = session.build(48000, 256)
    mix, _, _ = render_array(built.engine, 48000, block_size=256, tail=0)
    return mix


def test_a_plugin_in_a_song_is_loaded_with_its_parameters_and_plays():
    s = parse_song(song(f"{{type: plugin, path: {COMP}, params: {{threshold_db: -40, ratio: 10}}}}"))
    plug = s.tracks[0].inserts[0]
    assert isinstance(plug, PluginProcessor) and not s.warnings
    assert plug.param("threshold_db").value == -40 and plug.param("ratio").value == 10
    squashed = render(s)
    open_ = render(parse_song(song(f"{{type: plugin, path: {COMP}, params: {{threshold_db: 0}}}}")))
    assert np.abs(squashed).max() < 0.7 * np.abs(open_).max()


def test_a_plugin_path_is_relative_to_the_song(tmp_path):
    (tmp_path / "plugins").mkdir()
    shutil.copytree(COMP, tmp_path / "plugins" / "ZamCompX2.vst3")  # (the bundle keeps its name)
    path = tmp_path / "song.yaml"
    path.write_text(song("{type: plugin, path: plugins/ZamCompX2.vst3}"))
    assert isinstance(load_song(path).tracks[0].inserts[0], PluginProcessor)


@pytest.mark.parametrize(
    ("insert", "where", "message"),
    [
        (f"{{type: plugin, path: {COMP}, params: {{loudness: 3}}}}", "tracks[0].inserts[0]", "loudness"),
        (f"{{type: plugin, path: {COMP}, params: {{ratio: 500}}}}", "tracks[0].inserts[0]", "ratio"),
        (f"{{type: plugin, path: {COMP}, mono_mode: sideways}}", "tracks[0].inserts[0]", "mono_mode"),
        (f"{{type: plugin, path: {COMP}, bus_channels: 12}}", "tracks[0].inserts[0]", "bus_channels"),
        (f"{{type: plugin, path: {COMP}, bus_channels: two}}", "tracks[0].inserts[0]", "bus_channels"),
        (f"{{type: plugin, path: {COMP}, state: '%%%'}}", "tracks[0].inserts[0]", "base64"),
        ("{type: plugin}", "tracks[0].inserts[0]", "needs its path"),
        ("{type: pb_reverb, params: {room_size: 7}}", "tracks[0].inserts[0]", "room_size"),
    ],
)
def test_plugin_mistakes_are_named(insert, where, message):
    with pytest.raises(SongFileError) as err:
        parse_song(song(insert), "s.yaml")
    assert err.value.where == where and message in str(err.value), str(err.value)


def test_a_plugin_that_cannot_load_leaves_a_bypassed_slot_and_the_song_plays(tmp_path):
    broken = tmp_path / "Broken.vst3"
    (broken / "Contents" / "x86_64-linux").mkdir(parents=True)
    (broken / "Contents" / "x86_64-linux" / "Broken.so").write_bytes(b"not a shared library")
    for path in (str(broken), str(tmp_path / "Missing.vst3")):
        s = parse_song(song(f"{{type: plugin, path: '{path}', params: {{ratio: 4}}}}"))
        slot = s.tracks[0].inserts[0]
        assert isinstance(slot, FailedPlugin) and slot.bypassed and slot.reason
        assert len(s.warnings) == 1 and path in s.warnings[0] and "bypassed" in s.warnings[0]
        dry = render(parse_song(song("{type: gain}")))
        assert np.array_equal(render(s), dry)  # the bypassed slot passes the sound through


def test_a_bus_width_the_plugin_does_not_take_leaves_a_bypassed_slot_naming_it():
    s = parse_song(song(f"{{type: plugin, path: {COMP}, bus_channels: 4}}"))
    slot = s.tracks[0].inserts[0]
    assert isinstance(slot, FailedPlugin) and "does not take 4 channels" in slot.reason
    assert len(s.warnings) == 1 and "bypassed" in s.warnings[0]
    ok = parse_song(song(f"{{type: plugin, path: {COMP}, bus_channels: 2}}")).tracks[0].inserts[0]
    assert isinstance(ok, PluginProcessor) and ok.mode == "direct"


def test_a_state_in_a_song_restores_the_plugin_exactly_and_another_plugins_state_is_refused():
    donor = load_plugin_processor(COMP, params={"threshold_db": -33.0, "ratio": 6.0, "knee_db": 3.0})
    state = base64.b64encode(donor.get_state()).decode()
    s = parse_song(song(f"{{type: plugin, path: {COMP}, state: {state}}}"))
    plug = s.tracks[0].inserts[0]
    assert isinstance(plug, PluginProcessor)
    for name in donor.params:
        assert plug.param(name).value == donor.param(name).value, name
    other = parse_song(song(f"{{type: plugin, path: {EQ}, state: {state}}}"))
    slot = other.tracks[0].inserts[0]
    assert isinstance(slot, FailedPlugin) and "ZamCompX2" in slot.reason and other.warnings


def test_pedalboard_effects_and_plugins_work_in_chain_presets(tmp_path, monkeypatch):
    monkeypatch.setenv("STRUM_PRESETS_DIR", str(tmp_path))
    save_preset("chain", "glue", {"inserts": [{"type": "plugin", "path": COMP}, {"type": "pb_reverb"}]})
    s = parse_song(song("{chain: glue}"))
    assert [type(p).__name__ for p in s.tracks[0].inserts] == ["PluginProcessor", "PluginProcessor"]
    assert np.isfinite(render(s)).all()


def test_render_warns_about_a_bypassed_plugin_and_still_writes_the_file(tmp_path):
    path = tmp_path / "song.yaml"
    path.write_text(song(f"{{type: plugin, path: '{tmp_path / 'Gone.vst3'}'}}"))
    cmd = [sys.executable, "-m", "bridge.cli", "render", str(path), "-o", str(tmp_path / "out.wav")]
    out = subprocess.run([*cmd, "--tail", "0"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stderr and "Gone.vst3" in out.stderr and "bypassed" in out.stderr
    assert (tmp_path / "out.wav").stat().st_size > 1000


def test_a_vstpreset_next_to_the_song_sets_the_plugin_and_a_bad_one_is_named(tmp_path):
    import pedalboard

    source = pedalboard.load_plugin(COMP)
    source.threshold_db, source.ratio = -30.0, 8.0
    source.process(np.zeros((2, 64), np.float32), 48000, reset=False)  # VST3 takes values into its state here
    (tmp_path / "squash.vstpreset").write_bytes(source.preset_data)
    (tmp_path / "junk.vstpreset").write_bytes(b"junk" * 40)
    path = tmp_path / "song.yaml"
    path.write_text(
        song(f"{{type: plugin, path: {COMP}, vstpreset: squash.vstpreset, params: {{ratio: 2}}}}")
    )
    plug = load_song(path).tracks[0].inserts[0]
    assert (plug.param("threshold_db").value, plug.param("ratio").value) == (-30.0, 2.0)  # params win
    path.write_text(song(f"{{type: plugin, path: {COMP}, vstpreset: junk.vstpreset}}"))
    with pytest.raises(SongFileError) as err:
        load_song(path)
    assert "junk.vstpreset" in str(err.value) and err.value.where == "tracks[0].inserts[0]"
