"""The devices a song file can name: instruments and effects by type, built with their parameters.

A device entry is ``{type: NAME, params: {param_name: value, ...}, ...options}``. New processors join by
adding a row to :data:`INSTRUMENTS` or :data:`EFFECTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.processor import Processor

__all__ = ["EFFECTS", "INSTRUMENTS", "build_device", "note_number"]


def _synth(options: Mapping[str, Any]) -> Processor:
    from instruments.synth import PolySynth

    preset = options.get("preset")
    if preset is not None:
        from instruments.synth_presets import load_synth_preset_file
        from presets.library import find_preset

        if not isinstance(preset, str):
            raise ValueError(f"a synth preset is named by text, got {preset!r:.40}")
        path = find_preset("synth", preset)  # the user's preset of that name, else the factory one
        if "max_voices" in options:
            raise ValueError("give max_voices in the preset or here, not both")
        return load_synth_preset_file(path)
    voices = options.get("max_voices", 32)
    if not isinstance(voices, int) or isinstance(voices, bool) or not 1 <= voices <= 256:
        raise ValueError(f"max_voices must be an integer in 1..256, got {voices!r}")
    return PolySynth(max_voices=voices)


def _gain(options: Mapping[str, Any]) -> Processor:
    from dsp.gain import Gain

    return Gain(2)


def _lazy(module: str, cls: str) -> Callable[[Mapping[str, Any]], Processor]:
    """A factory that imports its processor class only when a song uses it (fast start-up)."""

    def make(options: Mapping[str, Any]) -> Processor:
        import importlib

        proc: Processor = getattr(importlib.import_module(module), cls)()
        return proc

    make.__name__ = f"make_{cls}"
    return make


# type name -> (factory taking the entry's options, allowed option names besides type/params)
INSTRUMENTS: dict[str, tuple[Callable[[Mapping[str, Any]], Processor], tuple[str, ...]]] = {
    "synth": (_synth, ("max_voices", "preset")),
}
EFFECTS: dict[str, tuple[Callable[[Mapping[str, Any]], Processor], tuple[str, ...]]] = {
    "gain": (_gain, ()),
    "filter": (_lazy("dsp.filters", "Filter"), ()),
    "ladder_filter": (_lazy("dsp.filters", "LadderFilter"), ()),
    "eq": (_lazy("dsp.filters", "ParametricEQ"), ()),
    "dc_blocker": (_lazy("dsp.filters", "DCBlocker"), ()),
    "compressor": (_lazy("dsp.dynamics", "Compressor"), ()),
    "limiter": (_lazy("dsp.dynamics", "Limiter"), ()),
    "saturation": (_lazy("dsp.saturation", "Saturation"), ()),
    "width": (_lazy("dsp.stereo", "StereoWidth"), ()),
    "pan": (_lazy("dsp.stereo", "Pan"), ()),
    "delay": (_lazy("dsp.delay", "Delay"), ()),
    "chorus": (_lazy("dsp.modulation", "Chorus"), ()),
    "flanger": (_lazy("dsp.modulation", "Flanger"), ()),
    "phaser": (_lazy("dsp.modulation", "Phaser"), ()),
    "reverb": (_lazy("dsp.reverb", "Reverb"), ()),
    "loudness_meter": (_lazy("dsp.meters", "LoudnessMeter"), ()),
    "peak_rms_meter": (_lazy("dsp.meters", "PeakRmsMeter"), ()),
}


def build_device(entry: Mapping[str, Any], kind: str) -> Processor:
    """Build an instrument (``kind="instrument"``) or effect from its entry; ValueError names the problem."""
    table = INSTRUMENTS if kind == "instrument" else EFFECTS
    if not isinstance(entry, Mapping):
        raise ValueError(f"a device is a mapping with a 'type', got {type(entry).__name__}")
    dtype = entry.get("type")
    if not isinstance(dtype, str) or dtype not in table:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {kind} type {dtype!r:.40} (known: {known})")
    factory, options = table[dtype]
    for key in entry:
        if key not in ("type", "params", *options):
            raise ValueError(f"{kind} {dtype!r} has no option {key!r}")
    proc = factory(entry)
    params = entry.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a mapping of name: value, got {type(params).__name__}")
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter {name!r} must be a number, got {value!r:.40}")
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"parameter {name!r}: {str(value)[:20]}... is far out of range") from None
        proc.param(str(name)).set(number)
    for p in proc.params.values():
        p.reset()
    return proc


_NOTE_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1, "##": 2, "bb": -2}


def note_number(value: Any) -> int:
    """A MIDI note number from an int or a name like ``C4`` (= 60), ``F#3``, ``Bb-1``."""
    if isinstance(value, bool):
        raise ValueError(f"a pitch is a MIDI number 0..127 or a note name like C4, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 127:
            raise ValueError(f"pitch must be in 0..127, got {value}")
        return value
    if isinstance(value, str) and value:
        letter = value[0].upper()
        rest = value[1:]
        acc = ""
        while rest and rest[0] in "#b" and len(acc) < 2:
            acc += rest[0]
            rest = rest[1:]
        if letter in _NOTE_STEPS and acc in _ACCIDENTALS:
            try:
                octave = int(rest)
            except ValueError:
                octave = None
            if octave is not None:
                n = (octave + 1) * 12 + _NOTE_STEPS[letter] + _ACCIDENTALS[acc]
                if 0 <= n <= 127:
                    return n
                raise ValueError(f"note {value!r} is outside MIDI range 0..127")
    raise ValueError(f"a pitch is a MIDI number 0..127 or a note name like C4, got {value!r}")
