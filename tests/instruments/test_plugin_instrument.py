"""VST3 instruments through pedalboard (instruments.plugin_instrument).

The MIDI conversion is tested without a plugin. No VST3 instrument is packaged for Debian 12, so the
tests with a real one look for it (``STRUM_TEST_VST3_INSTRUMENT``, else a scan of the usual folders in a
separate process, remembered in pytest's cache) and skip with :data:`NO_INSTRUMENT` when there is none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pedalboard
import pytest
from pedalboard.midi_utils import normalize_midi_messages

from dsp.plugins import PluginError
from engine.events import (
    CHANNEL_AFTERTOUCH,
    CONTROL_CHANGE,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    PROGRAM_CHANGE,
    EventBuffer,
)
from engine.render import render_array
from engine.sequencer import Clip, Note
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap
from instruments.plugin_instrument import (
    PluginInstrument,
    load_plugin_instrument,
    midi_duration,
    midi_messages,
)

SR = 48000
NO_INSTRUMENT = (
    "no VST3 instrument found: set STRUM_TEST_VST3_INSTRUMENT to a .vst3 bundle, or install one in "
    "/usr/lib/vst3, /usr/local/lib/vst3 or ~/.vst3 (Debian 12 packages none)"
)
FOLDERS = (Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3"), Path.home() / ".vst3")
# pedalboard instantiates every plugin at 44.1 kHz first, where ZamVerb spins forever: never load it
KNOWN_TO_HANG = {"ZamVerb.vst3"}
_SCAN = """
import sys, pedalboard
for path in sys.argv[1:]:
    try:
        flag = int(bool(pedalboard.load_plugin(path).is_instrument))
    except Exception:
        flag = 0
    print(flag, path, flush=True)
"""


def _scan(bundles: list[str]) -> list[str]:
    """The instrument bundles among ``bundles``, each loaded in a child process (one that hangs is
    given up after 20 s and the scan goes on after it)."""
    found: list[str] = []
    todo = list(bundles)
    while todo:
        try:
            out = subprocess.run(
                [sys.executable, "-c", _SCAN, *todo],
                capture_output=True,
                text=True,
                timeout=20 + 2 * len(todo),
            ).stdout
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            done = [line.split(" ", 1) for line in out.splitlines() if line[:2] in ("0 ", "1 ")]
            found += [path for flag, path in done if flag == "1"]
            todo = todo[len(done) + 1 :]  # the next one hung: go on after it
            continue
        found += [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("1 ")]
        todo = []
    return found


def find_instrument(cache) -> Path | None:
    bundles = sorted(
        str(b)
        for folder in FOLDERS
        if folder.is_dir()
        for b in folder.glob("*.vst3")
        if b.name not in KNOWN_TO_HANG
    )
    key = [[b, os.stat(b).st_mtime] for b in bundles]
    cached = cache.get("strumspace/vst3_instruments", None) if cache is not None else None
    if cached is not None and cached.get("key") == key:
        found = cached["found"]
    else:
        found = _scan(bundles)
        if cache is not None:
            cache.set("strumspace/vst3_instruments", {"key": key, "found": found})
    return Path(found[0]) if found else None


@pytest.fixture(scope="module")
def instrument_path(pytestconfig) -> Path:
    given = os.environ.get("STRUM_TEST_VST3_INSTRUMENT")
    if given:
        return Path(given)  # named on purpose: a failure to load it fails the tests, it does not skip
    found = find_instrument(getattr(pytestconfig, "cache", None))
    if found is None:
        pytest.skip(NO_INSTRUMENT)
    return found


# -- MIDI conversion (no plugin needed) ------------------------------------------------------------------
def test_events_become_pedalboard_messages_timed_from_the_call_start():
    ev = EventBuffer()
    ev.push(0, NOTE_ON | 2, 60, 100)
    ev.push(40, CONTROL_CHANGE, 64, 127)
    ev.push(100, PROGRAM_CHANGE | 1, 5)
    ev.push(130, PITCH_BEND, 0x00, 0x40)
    ev.push(131, CHANNEL_AFTERTOUCH, 77)
    ev.push(200, NOTE_OFF | 2, 60, 0)
    ev.push(210, 0xF8)  # a system message: the engine sends none, and it is left out
    msgs = midi_messages(ev, 32, 211, SR)
    assert [m for m, _ in msgs] == [
        bytes([0xB0, 64, 127]),
        bytes([0xC1, 5]),
        bytes([0xE0, 0x00, 0x40]),
        bytes([0xD0, 77]),
        bytes([0x82, 60, 0]),
    ]
    assert [round(t * SR - 0.5) for _, t in msgs] == [8, 68, 98, 99, 168]  # offsets from 32
    assert normalize_midi_messages(msgs) == msgs  # the form pedalboard takes
    assert midi_messages(ev, 0, 1, SR) == [(bytes([0x92, 60, 100]), 0.5 / SR)]
    assert midi_messages(ev, 201, 210, SR) == []


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 96000, 192000])
def test_each_time_lands_on_its_own_sample_as_pedalboard_computes_it(rate):
    ev = EventBuffer(capacity=16384)
    for off in range(16384):
        ev.push(off, NOTE_ON, 60, 100)
    times = np.array([t for _, t in midi_messages(ev, 0, 16384, rate)])
    # pedalboard: sampleIndex = (long)(float time * float sampleRate)
    landed = (times.astype(np.float32) * np.float32(rate)).astype(np.int64)
    np.testing.assert_array_equal(landed, np.arange(16384))


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 96000, 192000])
def test_a_duration_renders_exactly_the_frames_asked_for(rate):
    for frames in range(1, 4097):
        d = midi_duration(frames, rate)
        assert int(np.float32(d) * np.float32(rate)) == frames, frames


class FakeSynth:
    """Stands in for a VST3 instrument, which cannot run here: pedalboard's instrument ``process`` call,
    rendering a click of height velocity/127 at each note-on, on the sample where pedalboard places a
    message (it truncates float32(time) * float32(rate))."""

    name = "FakeSynth"
    identifier = "VST3-FakeSynth-0"
    is_instrument = True
    is_effect = False
    reported_latency_samples = 0
    parameters: ClassVar[dict] = {}
    raw_state = b"fake state"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def reset(self) -> None:
        pass

    def process(self, messages, duration, sample_rate, num_channels=2, buffer_size=8192, reset=True):
        frames = int(np.float32(duration) * np.float32(sample_rate))
        out = np.zeros((num_channels, frames), np.float32)
        for msg, t in normalize_midi_messages(messages):
            if msg[0] & 0xF0 == NOTE_ON and msg[2]:
                out[:, int(np.float32(t) * np.float32(sample_rate))] += msg[2] / 127
        self.calls.append(frames)
        return out


@pytest.fixture
def fake_synth(monkeypatch) -> FakeSynth:
    import dsp.plugins.host
    import instruments.plugin_instrument

    for module in (dsp.plugins.host, instruments.plugin_instrument):
        monkeypatch.setattr(module, "is_external", lambda plugin: True)
    return FakeSynth()


@pytest.mark.parametrize("block", [256, 100])
def test_notes_sound_on_the_sample_the_sequencer_gives_them(fake_synth, block):
    inst = PluginInstrument(fake_synth)
    beats = [0.0, 0.25, 1.0 + 37 / 24000, 1.5 + 1 / 24000, 2.99]
    notes = tuple(Note(60 + k, b, 0.1, 20 + 20 * k) for k, b in enumerate(beats))
    song = Session(TempoMap(bpm=120), [TrackSpec("keys", inst, [Clip(0.0, notes)])], length_beats=3.0)
    built = song.build(SR, 256)
    _, stems, _ = render_array(
        built.engine, built.end_sample, {"keys": built.stems["keys"]}, tail=0.0, block_size=block
    )
    hits = np.nonzero(stems["keys"][0])[0]
    np.testing.assert_array_equal(hits, [round(b * 24000) for b in beats])
    heights = stems["keys"][0, hits] / stems["keys"][0, hits[0]]
    np.testing.assert_allclose(heights, [n.velocity / 20 for n in notes], rtol=1e-6)
    assert max(fake_synth.calls) == 256  # prepared at the largest block, never asked for more


# -- refusals (no instrument needed) ---------------------------------------------------------------------
def test_an_effect_is_refused_as_an_instrument(tmp_path):
    with pytest.raises(PluginError, match="Reverb is not an instrument plugin"):
        PluginInstrument(pedalboard.Reverb())
    comp = Path("/usr/lib/vst3/ZamCompX2.vst3")
    if comp.is_dir():
        with pytest.raises(PluginError, match=r"ZamCompX2 .* is an effect, not an instrument"):
            load_plugin_instrument(comp)
    with pytest.raises(PluginError, match=r"plugin not found: .*Synth.vst3"):
        load_plugin_instrument(tmp_path / "Synth.vst3")


# -- with a real instrument ------------------------------------------------------------------------------
def test_a_vst3_instrument_plays_the_notes_of_its_midi_input(instrument_path):
    inst = load_plugin_instrument(instrument_path)
    assert [p.name for p in inst.event_inputs] == ["midi"] and inst.audio_outputs[0].channels == 2
    note_at = 24000  # beat 1 at 120 bpm
    song = Session(
        TempoMap(bpm=120),
        [TrackSpec("keys", inst, [Clip(0.0, (Note(60, 1.0, 1.0, 110),))])],
        length_beats=4.0,
    )
    built = song.build(SR, 256)
    mix, _, _ = render_array(built.engine, built.end_sample, tail=0.0)
    level = np.abs(mix).max(axis=0)
    assert level[: note_at - 64].max() < 1e-4  # silent until the note
    onset = int(np.argmax(level > 1e-4))
    assert note_at <= onset < note_at + SR // 10
    assert level[note_at : note_at + SR].max() > 1e-3


def test_a_vst3_instrument_state_round_trips(instrument_path):
    a = load_plugin_instrument(instrument_path)
    b = load_plugin_instrument(instrument_path)
    b.set_state(a.get_state())
    assert {k: p.value for k, p in b.params.items()} == {k: p.value for k, p in a.params.items()}
