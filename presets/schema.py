"""The published JSON Schema of song files (``docs/song.schema.json``), made from the loader's own tables.

Editors and other tools can check a song against the schema before StrumSpace sees it; the loader
(:mod:`presets.song`) stays the authority and checks more than a schema can say (names that must exist,
beats in order, a tempo ramp's next point). Device parameters and their ranges come from the processors
themselves, so the schema cannot drift from what loads: a test compares the published file with
:func:`song_json_schema`, and ``python -m presets.schema`` rewrites it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dsp.plugins.builtin import BUILTIN_PARAMS, BUILTINS
from presets.devices import EFFECTS, INSTRUMENTS
from presets.migrations import SCHEMA_VERSION
from presets.song import KEY_MODES, METADATA_FIELDS

__all__ = ["SCHEMA_PATH", "schema_text", "song_json_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "song.schema.json"
BEAT = {"type": "number", "minimum": 0, "maximum": 1e6}
NAME = {"type": "string", "minLength": 1, "pattern": "^[^/.]+$"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _num(lo: float, hi: float) -> dict[str, Any]:
    return {"type": "number", "minimum": lo, "maximum": hi}


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _device(type_name: str, factory: Any, options: tuple[str, ...]) -> dict[str, Any]:
    proc = factory({"type": type_name})
    params = {name: _num(p.min_value, p.max_value) for name, p in sorted(proc.params.items())}
    props: dict[str, Any] = {"type": {"const": type_name}, "params": _obj(params)}
    for option in options:
        if option == "max_voices":
            props[option] = _int(1, 256)
        elif option == "channel":
            props[option] = _int(1, 16)
        elif option == "port":
            props[option] = {"type": "string", "minLength": 1}
        elif option == "preset":
            from instruments.synth_presets import synth_preset_names

            props[option] = {"enum": list(synth_preset_names())}
        else:
            props[option] = {}
    return _obj(props, ("type",))


def _builtin(type_name: str) -> dict[str, Any]:
    """A pedalboard effect (``pb_*``), from its parameter table (no need to build one)."""
    params = {p.name: _num(p.min_value, p.max_value) for p in BUILTIN_PARAMS[BUILTINS[type_name]]}
    props: dict[str, Any] = {"type": {"const": type_name}, "params": _obj(params)}
    if type_name == "pb_convolution":
        props["impulse_response"] = {"type": "string", "minLength": 1}
    return _obj(props, ("type",))


def _plugin() -> dict[str, Any]:
    """A VST3 plugin: its parameters are the plugin's own, so only their shape is checked here."""
    return _obj(
        {
            "type": {"const": "plugin"},
            "path": {"type": "string", "minLength": 1},
            "plugin_name": {"type": "string"},
            "mono_mode": {"enum": ["dual_mono", "downmix"]},
            "bus_channels": {"type": "integer", "minimum": 1, "maximum": 8},
            "state": {"type": "string", "contentEncoding": "base64"},
            "vstpreset": {"type": "string", "minLength": 1},
            "params": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        ("type", "path"),
    )


def _sampler() -> dict[str, Any]:
    """A sampler: a SoundFont, SFZ, kit or WAV folder, the preset it starts on, its voices and reads (the
    ranges are the sampler's own)."""
    from instruments.sampler.sampler import INTERPOLATIONS, MAX_VOICES, sampler_parameters

    params = {p.name: _num(p.min_value, p.max_value) for p in sampler_parameters()}
    return _obj(
        {
            "type": {"const": "sampler"},
            "path": {"type": "string", "minLength": 1},
            "program": _int(0, 127),
            "bank": _int(0, 16383),
            "max_voices": _int(1, MAX_VOICES),
            "interpolation": {"enum": list(INTERPOLATIONS)},
            "params": _obj(params),
        },
        ("type", "path"),
    )


def _automation() -> dict[str, Any]:
    point = _obj(
        {"beat": BEAT, "value": _num(-1e9, 1e9), "curve": {"enum": ["linear", "exp", "hold"]}},
        ("beat", "value"),
    )
    return {"type": "object", "additionalProperties": {"type": "array", "items": point, "minItems": 1}}


def _clip() -> dict[str, Any]:
    pitch = {"oneOf": [_int(0, 127), {"type": "string", "pattern": "^[A-Ga-g](#|##|b|bb)?-?[0-9]$"}]}
    note_list = {
        "type": "array",
        "minItems": 3,
        "maxItems": 5,
        "prefixItems": [pitch, BEAT, _num(1e-6, 1e6), _int(1, 127), _int(0, 15)],
        "items": False,
    }
    note_map = _obj(
        {
            "pitch": pitch,
            "start": BEAT,
            "length": _num(1e-6, 1e6),
            "velocity": _int(1, 127),
            "channel": _int(0, 15),
        },
        ("pitch", "start", "length"),
    )

    def events(*fields: tuple[str, int, int]) -> dict[str, Any]:
        props = {"beat": BEAT, "channel": _int(0, 15), **{f: _int(lo, hi) for f, lo, hi in fields}}
        return {"type": "array", "items": _obj(props, ("beat", *(f[0] for f in fields)))}

    return _obj(
        {
            "name": {"type": "string"},
            "start_beats": BEAT,
            "length_beats": _num(1e-6, 1e6),
            "offset_beats": BEAT,
            "notes": {"type": "array", "items": {"oneOf": [note_list, note_map]}},
            "controls": events(("controller", 0, 127), ("value", 0, 127)),
            "pitch_bends": events(("value", -8192, 8191)),
            "programs": events(("program", 0, 127)),
            "midi_file": {"type": "string", "minLength": 1},
            "track": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
            "channel": _int(0, 15),
        },
        ("start_beats",),
    )


def _audio_clip() -> dict[str, Any]:
    seconds = _num(0, 1e6)
    return _obj(
        {
            "file": {"type": "string", "minLength": 1},
            "start_beats": BEAT,
            "offset_seconds": seconds,
            "length_seconds": _num(1e-6, 1e6),
            "gain_db": _num(-96, 24),
            "fade_in_seconds": seconds,
            "fade_out_seconds": seconds,
            "fade_shape": {"enum": ["equal_power", "linear"]},
            "name": {"type": "string"},
        },
        ("file", "start_beats"),
    )


def _mapping() -> dict[str, Any]:
    """A MIDI mapping; the number's range depends on the source (a pitch bend has none)."""
    from engine.mapping import CURVES, MODES, NOTE_MODES, NUMBER_MAX, SOURCES, TAKEOVERS

    out = _obj(
        {
            "target": {"type": "string", "pattern": "^[^/]+/.+$"},
            "source": {"enum": list(SOURCES)},
            "number": _int(0, max(NUMBER_MAX.values())),
            "channel": _int(0, 15),
            "min_value": _num(-1e9, 1e9),
            "max_value": _num(-1e9, 1e9),
            "curve": {"enum": list(CURVES)},
            "invert": {"type": "boolean"},
            "mode": {"enum": list(MODES)},
            "step": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "takeover": {"enum": list(TAKEOVERS)},
            "note_mode": {"enum": list(NOTE_MODES)},
        },
        ("target", "source"),
    )
    out["allOf"] = [
        {
            "if": {"properties": {"source": {"const": source}}},
            "then": {"properties": {"number": _int(0, top)}, "required": ["number"] if top else []},
        }
        for source, top in NUMBER_MAX.items()
    ]
    return out


def song_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a song file of the current schema version."""
    instruments = [
        _sampler() if name == "sampler" else _device(name, f, opts)
        for name, (f, opts) in sorted(INSTRUMENTS.items())
    ]
    effects = [_device(name, f, opts) for name, (f, opts) in sorted(EFFECTS.items()) if name != "plugin"]
    effects += [_builtin(name) for name in sorted(BUILTINS)]
    effects.append(_plugin())
    chain = _obj({"chain": {"type": "string", "minLength": 1}}, ("chain",))  # an effect-chain preset
    inserts = {"type": "array", "items": {"oneOf": [{"$ref": "#/$defs/effect"}, chain]}}
    mixer = {"volume_db": _num(-96, 12), "pan": _num(-1, 1), "mute": {"type": "boolean"}}
    send = _obj({"bus": NAME, "level_db": _num(-96, 12), "pre_fader": {"type": "boolean"}}, ("bus",))
    track = _obj(
        {
            "name": NAME,
            "template": {"type": "string", "minLength": 1},
            "instrument": {"$ref": "#/$defs/instrument"},
            "clips": {"type": "array", "items": {"$ref": "#/$defs/clip"}},
            "audio_clips": {"type": "array", "items": {"$ref": "#/$defs/audio_clip"}},
            "inserts": inserts,
            **mixer,
            "solo": {"type": "boolean"},
            "sends": {"type": "array", "items": send},
            "output": NAME,
            "automation": _automation(),
        },
        ("name",),
    )
    bus = _obj(
        {"name": NAME, "inserts": inserts, **mixer, "output": NAME, "automation": _automation()}, ("name",)
    )
    tempo_point = _obj(
        {"beat": BEAT, "bpm": _num(1, 999), "ramp": {"enum": ["step", "linear"]}}, ("beat", "bpm")
    )
    signature = _obj(
        {"bar": _int(0, 100000), "numerator": _int(1, 64), "denominator": {"enum": [1, 2, 4, 8, 16, 32, 64]}},
        ("bar", "numerator", "denominator"),
    )
    key_pattern = f"^[A-Ga-g](#|b)? ({'|'.join(KEY_MODES)})$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://strumspace.invalid/schemas/song.schema.json",
        "title": f"StrumSpace song file, schema version {SCHEMA_VERSION}",
        "description": "Made by presets/schema.py from the loader's tables; docs/song-format.md explains it.",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version"],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "metadata": _obj({f: {"type": "string"} for f in METADATA_FIELDS}),
            "key": {"type": "string", "pattern": key_pattern},
            "tempo": _num(1, 999),
            "tempo_map": {"type": "array", "minItems": 1, "items": tempo_point},
            "time_signatures": {"type": "array", "minItems": 1, "items": signature},
            "sections": {
                "type": "array",
                "items": _obj({"name": {"type": "string", "minLength": 1}, "beat": BEAT}, ("name", "beat")),
            },
            "length_beats": BEAT,
            "buses": {"type": "array", "items": bus},
            "tracks": {"type": "array", "items": track},
            "master": _obj({"volume_db": _num(-96, 12), "inserts": inserts, "automation": _automation()}),
            "mappings": {"type": "array", "items": _mapping()},
        },
        "$defs": {
            "instrument": {"oneOf": instruments},
            "effect": {"oneOf": effects},
            "clip": _clip(),
            "audio_clip": _audio_clip(),
        },
    }


def schema_text() -> str:
    return json.dumps(song_json_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
