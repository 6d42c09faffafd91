"""Factory synth presets: every one loads and plays, and a bad preset file is refused with its place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.events import NOTE_OFF, NOTE_ON, EventBuffer
from engine.processor import BlockContext
from instruments.synth import PolySynth
from instruments.synth_presets import load_synth_preset, load_synth_preset_file, synth_preset_names

NAMES = ["bass", "brass", "keys", "lead", "pad", "pluck", "strings"]

Event = tuple[int, int, int, int]


def render(
    synth: PolySynth, events: list[Event], frames: int, rate: int, block_size: int = 512
) -> np.ndarray:
    synth.prepare(rate, block_size)
    ctx = BlockContext(rate)
    buf = EventBuffer()
    block = np.zeros((2, block_size), dtype=np.float32)
    out = np.zeros((2, frames), dtype=np.float32)
    pending = sorted(events)
    k = 0
    for start in range(0, frames, block_size):
        n = min(block_size, frames - start)
        ctx.set_single_segment(n, start, True)
        buf.clear()
        while k < len(pending) and pending[k][0] < start + n:
            t, status, d1, d2 = pending[k]
            buf.push(t - start, status, d1, d2)
            k += 1
        synth.process(ctx, [], [block[:, :n]], [buf], [])
        out[:, start : start + n] = block[:, :n]
    return out


def phrase(rate: int) -> list[Event]:
    """Six notes up a diminished arpeggio, each held for most of a quarter second, some overlapping."""
    step = rate // 4
    notes = [48, 51, 55, 58, 62, 60]
    return [(k * step, NOTE_ON, n, 70 + 10 * (k % 3)) for k, n in enumerate(notes)] + [
        (k * step + step * 5 // 4, NOTE_OFF, n, 0) for k, n in enumerate(notes)
    ]


def dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-30))


def test_the_factory_has_the_seven_presets() -> None:
    assert synth_preset_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_loads_settled_at_its_values(name: str) -> None:
    synth = load_synth_preset(name)
    assert isinstance(synth, PolySynth)
    for p in synth.params.values():
        assert p.current == p.value  # no ramp from the defaults
    mode = int(synth.param("voice_mode").value)
    assert (synth.max_voices == 1) == (mode != 0)  # mono and legato presets need one voice


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_plays_a_phrase_with_sound_and_no_nan(name: str) -> None:
    rate = 48000
    out = render(load_synth_preset(name), phrase(rate), 2 * rate, rate)
    assert np.isfinite(out).all()
    assert dbfs(out) > -40.0


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chord", [(36, 43, 48, 52), (60, 64, 67, 71), (76, 79, 83, 88)])
def test_a_four_note_chord_at_full_velocity_does_not_clip(
    rate: int, name: str, chord: tuple[int, ...]
) -> None:
    events = [(0, NOTE_ON, n, 127) for n in chord] + [(rate, NOTE_OFF, n, 0) for n in chord]
    out = render(load_synth_preset(name), events, 2 * rate, rate)
    assert np.isfinite(out).all()
    assert np.abs(out).max() <= 1.0
    assert dbfs(out) > -40.0


@pytest.mark.parametrize("name", ["lead", "pad"])
def test_a_preset_renders_alike_at_any_block_size(name: str) -> None:
    rate = 48000
    outs = [render(load_synth_preset(name), phrase(rate), rate, rate, block) for block in (32, 1000, 4096)]
    for other in outs[1:]:
        np.testing.assert_allclose(other, outs[0], atol=1e-6)


# -- strict checking -------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_preset_file_in_the_factory_format_loads_with_names_and_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "max_voices: 3\nmode: legato\nwaveform: triangle\ncutoff_hz: 1234\nlfo_shape: 4\n")
    synth = load_synth_preset_file(path)
    assert synth.max_voices == 3
    assert synth.param("voice_mode").value == 2
    assert synth.param("waveform").value == 2
    assert synth.param("cutoff_hz").value == 1234.0
    assert synth.param("lfo_shape").value == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_voices: 4\ncutof_hz: 500\n", r"mine\.yaml:2:11: cutof_hz: unknown parameter"),
        ("cutoff_hz: 50000\n", r"mine\.yaml:1:12: cutoff_hz: must be in 20\.\.20000 Hz, got 50000"),
        ("resonance: -0.5\n", r"mine\.yaml:1:12: resonance: must be in 0\.\.1, got -0\.5"),
        ("unison_voices: 9\n", r"unison_voices: must be in 1\.\.8 voices, got 9"),
        ("unison_voices: 2.5\n", r"unison_voices: must be a whole number, got 2\.5"),
        ("waveform: sawtooth\n", r"waveform: must be one of saw, square, triangle, sine, got 'sawtooth'"),
        ("cutoff_hz: bright\n", r"cutoff_hz: must be a number, got 'bright'"),
        ("cutoff_hz: true\n", r"cutoff_hz: must be a number, got True"),
        ("cutoff_hz: .nan\n", r"cutoff_hz: must be in 20\.\.20000 Hz, got nan"),
        ("gain_db: 1.0e+999\n", r"gain_db: must be in -60\.\.12 dB, got inf"),
        ("max_voices: 0\n", r"max_voices: must be a whole number in 1\.\.256, got 0"),
        ("max_voices: many\n", r"max_voices: must be a whole number in 1\.\.256, got 'many'"),
        ("mode: duophonic\n", r"mode: must be one of poly, mono, legato, got 'duophonic'"),
        ("voice_mode: 1\n", r"voice_mode: give the voice mode once, as mode"),
        ("description: [a, b]\n", r"description: must be text"),
        ("- cutoff_hz\n", r"mine\.yaml: a preset is a mapping"),
        ("cutoff_hz: 500\ncutoff_hz: 600\n", r"mine\.yaml:2:1: not valid YAML: duplicate key 'cutoff_hz'"),
        ("cutoff_hz: [500\n", r"mine\.yaml:2:1: not valid YAML"),
    ],
)
def test_a_bad_preset_is_refused_naming_the_file_and_the_parameter(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_synth_preset_file(write(tmp_path, text))


def test_unknown_preset_names_list_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no synth preset 'organ' \(known: bass, brass, keys, lead"):
        load_synth_preset("organ")
    with pytest.raises(ValueError, match="cannot read the preset"):
        load_synth_preset_file(tmp_path / "missing.yaml")
