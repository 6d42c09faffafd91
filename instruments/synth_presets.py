"""Factory presets of the synth: YAML files of parameter values, loaded and checked strictly.

A preset file (``presets/factory/synth/<name>.yaml``) is one mapping: ``max_voices`` (1..256), ``mode``
(``poly``, ``mono`` or ``legato``), an optional ``description``, and synth parameters by name with their
values. A value is a number within the parameter's range (whole for stepped parameters) or, for the
parameters that choose between things, a name from :data:`instruments.synth.CHOICES` (``waveform: saw``,
``filter_mode: lowpass``...). Parameters left out keep their defaults. Anything else (an unknown key, a
value out of range, a fraction for a stepped parameter) is a :class:`presets.errors.PresetError` (a
ValueError) naming the file, the line and the parameter, e.g.
``bass.yaml:12:12: cutoff_hz: must be in 20..20000 Hz, got 50000``.

Call :func:`synth_preset_names` for the list and :func:`load_synth_preset` for a ready
:class:`instruments.synth.PolySynth` (parameters settled at the preset's values: no ramp from the
defaults); :func:`load_synth_preset_file` loads any file in the same format, :func:`parse_synth_preset`
its text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from instruments.synth import CHOICES, PolySynth
from presets.errors import PresetError
from presets.marked import MarkedDict, load_marked, place

__all__ = [
    "FACTORY_DIR",
    "load_synth_preset",
    "load_synth_preset_file",
    "parse_synth_preset",
    "synth_preset_names",
]

FACTORY_DIR = Path(__file__).resolve().parents[1] / "presets" / "factory" / "synth"
MODES = CHOICES["voice_mode"]
OPTIONS = ("description", "max_voices", "mode")
MAX_PRESET_BYTES = 1 << 20


def synth_preset_names() -> list[str]:
    """The factory presets, by name (the file names without ``.yaml``), sorted."""
    return sorted(p.stem for p in FACTORY_DIR.glob("*.yaml"))


def load_synth_preset(name: str) -> PolySynth:
    """A synth set up as factory preset ``name`` (see :func:`synth_preset_names`)."""
    names = synth_preset_names()
    if name not in names:
        raise PresetError(f"no synth preset {name!r} (known: {', '.join(names)})")
    return load_synth_preset_file(FACTORY_DIR / f"{name}.yaml")


def load_synth_preset_file(path: str | Path) -> PolySynth:
    """A synth set up from a preset file in the factory format (see the module docstring)."""
    path = Path(path)
    file = path.name
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_PRESET_BYTES + 1)
    except OSError as exc:
        raise PresetError(f"{path}: cannot read the preset: {exc.strerror or exc}") from None
    if len(raw) > MAX_PRESET_BYTES:
        raise PresetError(f"{file}: larger than {MAX_PRESET_BYTES} bytes: not a preset")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{file}: not UTF-8 text") from None
    return parse_synth_preset(text, file)


def parse_synth_preset(text: str, file: str = "<preset>") -> PolySynth:
    """A synth set up from the text of a preset in the factory format; ``file`` names it in errors."""
    try:
        data = load_marked(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PresetError(f"{file}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, MarkedDict):
        raise PresetError(f"{file}: a preset is a mapping of parameter names to values")
    return _build(data, file)


def _fail(data: MarkedDict, key: Any, file: str, message: str) -> PresetError:
    line, column = place(data, key)
    return PresetError(f"{file}:{line}:{column}: {key}: {message}")


def _build(data: MarkedDict, file: str) -> PolySynth:
    voices = data.get("max_voices", 8)
    if isinstance(voices, bool) or not isinstance(voices, int) or not 1 <= voices <= 256:
        raise _fail(data, "max_voices", file, f"must be a whole number in 1..256, got {voices!r:.40}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(data, "description", file, "must be text")
    synth = PolySynth(max_voices=voices)
    mode = data.get("mode", "poly")
    if mode not in MODES:
        raise _fail(data, "mode", file, f"must be one of {', '.join(MODES)}, got {mode!r:.40}")
    if "voice_mode" in data:
        raise _fail(data, "voice_mode", file, "give the voice mode once, as mode")
    synth.param("voice_mode").set(MODES.index(mode))
    for key, value in data.items():
        if key in OPTIONS:
            continue
        if not isinstance(key, str) or key not in synth.params:
            known = ", ".join(sorted(set(synth.params) - {"voice_mode"}))
            raise _fail(data, key, file, f"unknown parameter (known: {', '.join(OPTIONS)}, {known})")
        param = synth.param(key)
        names = CHOICES.get(key)
        if isinstance(value, str) and names is not None:
            if value not in names:
                raise _fail(data, key, file, f"must be one of {', '.join(names)}, got {value!r:.40}")
            number = float(names.index(value))
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            choices = f" or one of {', '.join(names)}" if names else ""
            raise _fail(data, key, file, f"must be a number{choices}, got {value!r:.40}")
        else:
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
        if param.stepped and math.isfinite(number) and number != round(number):
            raise _fail(data, key, file, f"must be a whole number, got {value!r}")
        try:
            param.set(number)
        except ValueError as exc:
            message = str(exc).removeprefix(f"{key} ")
            raise _fail(data, key, file, message) from None
    for p in synth.params.values():
        p.reset()
    return synth
