"""The devices a song file can name: instruments and effects by type, built with their parameters.

A device entry is ``{type: NAME, params: {param_name: value, ...}, ...options}``. New processors join by
adding a row to :data:`INSTRUMENTS` or :data:`EFFECTS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from engine.processor import Processor

__all__ = ["EFFECTS", "INSTRUMENTS", "PLUGIN_OPTIONS", "SAMPLER_OPTIONS", "build_device", "note_number"]


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


def _drums(options: Mapping[str, Any]) -> Processor:
    from instruments.drums import DrumMachine

    voices = options.get("max_voices", 16)
    if not isinstance(voices, int) or isinstance(voices, bool) or not 1 <= voices <= 256:
        raise ValueError(f"max_voices must be an integer in 1..256, got {voices!r}")
    return DrumMachine(max_voices=voices)


def _midi_out(options: Mapping[str, Any]) -> Processor:
    """A track played by external gear: its notes go to a MIDI output port when the song plays live (and
    the track is silent in renders)."""
    from engine.midi_out import MidiSend

    port = options.get("port")
    if port is not None and (not isinstance(port, str) or not port.strip()):
        raise ValueError(f"a midi_out port is named by text (a part of the port's name), got {port!r:.40}")
    channel = options.get("channel")
    if channel is not None and (
        not isinstance(channel, int) or isinstance(channel, bool) or not 1 <= channel <= 16
    ):
        raise ValueError(f"a midi_out channel must be an integer in 1..16, got {channel!r:.40}")
    return MidiSend(None, None if channel is None else channel - 1, port_name=port)


SAMPLER_OPTIONS = ("path", "program", "bank", "max_voices", "interpolation")


def _sampler(options: Mapping[str, Any]) -> Processor:
    """A sampler playing a SoundFont, SFZ, kit or WAV folder; one that cannot be read becomes a silent
    :class:`instruments.failed.FailedInstrument` saying why (the song still loads)."""
    from instruments.errors import SampleFileError
    from instruments.failed import FailedInstrument
    from instruments.sampler import load_sampler
    from instruments.sampler.sampler import sampler_parameters

    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError("a sampler needs the path of its .sf2, .sf3, .sfz, kit .yaml or WAV folder")
    kwargs: dict[str, Any] = {}
    for key, name in (("program", "program"), ("bank", "bank_number"), ("max_voices", "max_voices")):
        if key in options:
            kwargs[name] = options[key]
    if "interpolation" in options:
        kwargs["interpolation"] = options["interpolation"]
    try:
        return load_sampler(path, **kwargs)
    except SampleFileError as exc:
        return FailedInstrument(path, str(exc), sampler_parameters())


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


PLUGIN_OPTIONS = ("path", "plugin_name", "mono_mode", "bus_channels", "state", "vstpreset")
PLUGIN_TRIAL_TIMEOUT_S = 20.0  # a plugin that hangs while loading is given up after this


def _plugin(options: Mapping[str, Any]) -> Processor:
    """A VST3 plugin, or a bypassed slot saying why it could not be loaded (the session plays on)."""
    import base64
    import binascii

    from dsp.plugins import MONO_MODES, FailedPlugin, load_or_fail

    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError("a plugin needs its path (the .vst3 bundle)")
    name = options.get("plugin_name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"plugin_name must be text, got {name!r:.40}")
    mode = options.get("mono_mode", "dual_mono")
    if mode not in MONO_MODES:
        raise ValueError(f"mono_mode must be one of {', '.join(MONO_MODES)}, got {mode!r:.40}")
    bus = options.get("bus_channels")
    if bus is not None and (isinstance(bus, bool) or not isinstance(bus, int) or not 1 <= bus <= 8):
        raise ValueError(f"bus_channels must be a whole number 1..8, got {bus!r:.40}")
    state = None
    if "state" in options:
        try:
            state = base64.b64decode(str(options["state"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("state must be the plugin's state in base64") from None
    blocked = _blocked_reason(path)
    if blocked is not None:
        return FailedPlugin(path, blocked, plugin_name=name, state=state)
    proc = load_or_fail(
        path,
        plugin_name=name,
        mono_mode=mode,
        state=state,
        trial_timeout_s=PLUGIN_TRIAL_TIMEOUT_S,
        bus_channels=bus,
    )
    preset = options.get("vstpreset")
    if preset is not None and not isinstance(proc, FailedPlugin):
        if not isinstance(preset, str) or not preset:
            raise ValueError("vstpreset must be the path of a .vstpreset file")
        proc.load_vstpreset(preset)  # a bad or foreign preset file is an error that names it
    return proc


def _blocked_reason(path: str) -> str | None:
    """Why the plugin scan blocklisted this bundle, if it did (the scan cache is read, never written)."""
    try:
        from dsp.plugins.scan import list_blocked

        for b in list_blocked():
            if os.path.realpath(b.path) == os.path.realpath(path):
                return f"blocklisted by the plugin scan: {b.reason}"
    except Exception:  # no scan yet, or an unreadable cache: load it (the trial load still guards)
        return None
    return None


def _builtin_table() -> dict[str, tuple[Callable[[Mapping[str, Any]], Processor], tuple[str, ...]]]:
    from dsp.plugins.builtin import BUILTIN_EFFECTS

    return BUILTIN_EFFECTS


# type name -> (factory taking the entry's options, allowed option names besides type/params)
INSTRUMENTS: dict[str, tuple[Callable[[Mapping[str, Any]], Processor], tuple[str, ...]]] = {
    "synth": (_synth, ("max_voices", "preset")),
    "drums": (_drums, ("max_voices",)),
    "sampler": (_sampler, SAMPLER_OPTIONS),
    "midi_out": (_midi_out, ("port", "channel")),
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
    "plugin": (_plugin, PLUGIN_OPTIONS),
    "loudness_meter": (_lazy("dsp.meters", "LoudnessMeter"), ()),
    "peak_rms_meter": (_lazy("dsp.meters", "PeakRmsMeter"), ()),
}


def build_device(entry: Mapping[str, Any], kind: str) -> Processor:
    """Build an instrument (``kind="instrument"``) or effect from its entry; ValueError names the problem.
    A plugin that fails to load gives a bypassed :class:`dsp.plugins.FailedPlugin` slot, not an error."""
    table = INSTRUMENTS if kind == "instrument" else EFFECTS
    dtype_any = entry.get("type") if isinstance(entry, Mapping) else None
    if kind != "instrument" and isinstance(dtype_any, str) and dtype_any.startswith("pb_"):
        table = {**EFFECTS, **_builtin_table()}  # pedalboard's effects, imported when a song uses one
    if not isinstance(entry, Mapping):
        raise ValueError(f"a device is a mapping with a 'type', got {type(entry).__name__}")
    dtype = entry.get("type")
    if not isinstance(dtype, str) or dtype not in table:
        known = ", ".join(sorted(table) + ([] if kind == "instrument" else ["pb_* (pedalboard's effects)"]))
        raise ValueError(f"unknown {kind} type {dtype!r:.40} (known: {known})")
    factory, options = table[dtype]
    for key in entry:
        if key not in ("type", "params", *options):
            raise ValueError(f"{kind} {dtype!r} has no option {key!r}")
    proc = factory(entry)
    params = entry.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a mapping of name: value, got {type(params).__name__}")
    if getattr(proc, "bypassed", False):
        return proc  # a failed plugin: its parameters cannot be checked; the slot keeps them unapplied
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
