"""pedalboard's own effects as engine processors, by type name: ``make_builtin("pb_reverb", {...})``.

:data:`BUILTINS` maps a type name to a pedalboard class; :data:`BUILTIN_PARAMS` gives each class's
parameters with a range and unit (pedalboard's Python classes carry none), chosen inside what pedalboard
and JUCE accept. Each is wrapped by :class:`dsp.plugins.effect.PluginProcessor`, so it runs exactly as
pedalboard runs it (same samples for the same blocks) with the engine's parameters, automation, state
and latency. ``pb_convolution`` needs the option ``impulse_response``: the path of an audio file (JUCE
resamples it to the running rate). :data:`BUILTIN_EFFECTS` holds the same in the row format of
:data:`presets.devices.EFFECTS`, for a song file to name them.

``pb_pitch_shift`` is listed but refused (:data:`CANNOT_STREAM` says why): pedalboard 0.9.26's
PitchShift primes its Rubber Band stretcher through a one-second delay line that its ``prepare`` clears
on every ``process`` call, so processed block by block (``reset=False``) it only ever outputs silence.
It works on a whole buffer in one call, which a block-based engine cannot do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsp.plugins.bindings import AttrBinding
from dsp.plugins.effect import PluginProcessor
from dsp.plugins.host import PluginError, PluginIdentity
from engine.params import WatchedParameter, WatchFlag
from engine.processor import Processor

__all__ = [
    "BUILTINS",
    "BUILTIN_EFFECTS",
    "BUILTIN_PARAMS",
    "CANNOT_STREAM",
    "BuiltinParam",
    "builtin_bindings",
    "make_builtin",
]


@dataclass(frozen=True)
class BuiltinParam:
    """One parameter of a built-in: the attribute ``name`` of the pedalboard object, its range and unit."""

    name: str
    min_value: float
    max_value: float
    default: float
    unit: str = ""
    stepped: bool = False
    choices: tuple[str, ...] = ()


_P = BuiltinParam
_LADDER_MODES = ("LPF12", "HPF12", "BPF12", "LPF24", "HPF24", "BPF24")

# pedalboard class name -> its parameters (defaults are pedalboard's)
BUILTIN_PARAMS: dict[str, tuple[BuiltinParam, ...]] = {
    "Reverb": (
        _P("room_size", 0.0, 1.0, 0.5),
        _P("damping", 0.0, 1.0, 0.5),
        _P("wet_level", 0.0, 1.0, 0.33),
        _P("dry_level", 0.0, 1.0, 0.4),
        _P("width", 0.0, 1.0, 1.0),
        _P("freeze_mode", 0.0, 1.0, 0.0, stepped=True),
    ),
    "Compressor": (
        _P("threshold_db", -80.0, 0.0, 0.0, "dB"),
        _P("ratio", 1.0, 100.0, 1.0),
        _P("attack_ms", 0.0, 500.0, 1.0, "ms"),
        _P("release_ms", 1.0, 5000.0, 100.0, "ms"),
    ),
    "Chorus": (
        _P("rate_hz", 0.0, 99.0, 1.0, "Hz"),
        _P("depth", 0.0, 1.0, 0.25),
        _P("centre_delay_ms", 1.0, 100.0, 7.0, "ms"),
        _P("feedback", -1.0, 1.0, 0.0),
        _P("mix", 0.0, 1.0, 0.5),
    ),
    "Delay": (
        _P("delay_seconds", 0.0, 30.0, 0.5, "s"),
        _P("feedback", 0.0, 1.0, 0.0),
        _P("mix", 0.0, 1.0, 0.5),
    ),
    "Distortion": (_P("drive_db", 0.0, 60.0, 25.0, "dB"),),
    "Phaser": (
        _P("rate_hz", 0.0, 99.0, 1.0, "Hz"),
        _P("depth", 0.0, 1.0, 0.5),
        _P("centre_frequency_hz", 20.0, 20000.0, 1300.0, "Hz"),
        _P("feedback", -1.0, 1.0, 0.0),
        _P("mix", 0.0, 1.0, 0.5),
    ),
    "Limiter": (_P("threshold_db", -60.0, 0.0, -10.0, "dB"), _P("release_ms", 1.0, 1000.0, 100.0, "ms")),
    "Gain": (_P("gain_db", -60.0, 24.0, 1.0, "dB"),),
    "HighpassFilter": (_P("cutoff_frequency_hz", 20.0, 20000.0, 50.0, "Hz"),),
    "LowpassFilter": (_P("cutoff_frequency_hz", 20.0, 20000.0, 50.0, "Hz"),),
    "LadderFilter": (
        _P("mode", 0.0, 5.0, 0.0, stepped=True, choices=_LADDER_MODES),
        _P("cutoff_hz", 20.0, 20000.0, 200.0, "Hz"),
        _P("resonance", 0.0, 1.0, 0.0),
        _P("drive", 1.0, 20.0, 1.0),
    ),
    "PitchShift": (_P("semitones", -72.0, 72.0, 0.0, "st"),),  # refused for now: CANNOT_STREAM
    "Convolution": (_P("mix", 0.0, 1.0, 1.0),),
}

# type name (as a song names it) -> pedalboard class name
BUILTINS: dict[str, str] = {
    "pb_reverb": "Reverb",
    "pb_compressor": "Compressor",
    "pb_chorus": "Chorus",
    "pb_delay": "Delay",
    "pb_distortion": "Distortion",
    "pb_phaser": "Phaser",
    "pb_limiter": "Limiter",
    "pb_gain": "Gain",
    "pb_highpass": "HighpassFilter",
    "pb_lowpass": "LowpassFilter",
    "pb_ladder_filter": "LadderFilter",
    "pb_pitch_shift": "PitchShift",
    "pb_convolution": "Convolution",
}
_OPTIONS: dict[str, tuple[str, ...]] = {"pb_convolution": ("impulse_response",)}
# pedalboard classes that cannot run block by block -> why (module docstring)
CANNOT_STREAM: dict[str, str] = {
    "PitchShift": "pedalboard 0.9.26's PitchShift outputs only silence when processed block by block "
    "(its priming delay line is cleared on every call); it cannot run in the engine",
}


def _ladder_mode(value: float) -> Any:
    import pedalboard

    return pedalboard.LadderFilter.Mode(int(value))


def builtin_bindings(plugin: Any) -> list[AttrBinding]:
    """Bindings for a pedalboard built-in effect, each parameter at the object's current value; the
    parameters share one watch flag (:class:`dsp.plugins.bindings.ParamDriver`)."""
    cls = type(plugin).__name__
    if cls in CANNOT_STREAM:
        raise PluginError(CANNOT_STREAM[cls])
    specs = BUILTIN_PARAMS.get(cls)
    if specs is None:
        known = ", ".join(sorted(BUILTIN_PARAMS))
        raise PluginError(f"pedalboard.{cls} has no parameter table here (wrapped built-ins: {known})")
    bindings = []
    watch = WatchFlag()
    for s in specs:
        lo, hi = s.min_value, s.max_value
        param = WatchedParameter(watch, s.name, lo, hi, s.default, s.unit, stepped=s.stepped)
        if s.name == "mode":
            b = AttrBinding(param, s.name, _ladder_mode, int, s.choices, watch)
        else:
            b = AttrBinding(param, s.name, choices=s.choices, watch=watch)
        b.refresh([plugin])
        param.set(min(s.max_value, max(s.min_value, b.read())))
        param.reset()
        b.last = param.value
        bindings.append(b)
    return bindings


def _impulse_response(type_name: str, options: Mapping[str, Any]) -> Path:
    ir = options.get("impulse_response")
    if not isinstance(ir, (str, Path)) or not str(ir):
        raise PluginError(f"{type_name} needs the option impulse_response: the path of an audio file")
    path = Path(ir)
    if not path.is_file():
        raise PluginError(f"{type_name}: impulse response file not found: {path}")
    import soundfile

    try:  # JUCE takes a file it cannot read silently (and then convolves with nothing): check first
        frames = soundfile.info(str(path)).frames
    except Exception as exc:
        raise PluginError(f"{type_name}: cannot read impulse response {path}: {exc}") from None
    if frames < 1:
        raise PluginError(f"{type_name}: impulse response {path} holds no samples")
    return path


def make_builtin(
    type_name: str,
    params: Mapping[str, float] | None = None,
    *,
    channels: int = 2,
    sample_rate: float = 48000,
    **options: Any,
) -> PluginProcessor:
    """A pedalboard built-in effect as a processor; PluginError names an unknown type, option, parameter
    or an out-of-range value (with its range)."""
    import pedalboard

    cls_name = BUILTINS.get(type_name)
    if cls_name is None:
        raise PluginError(f"unknown built-in effect {type_name!r} (known: {', '.join(sorted(BUILTINS))})")
    allowed = _OPTIONS.get(type_name, ())
    for key in options:
        if key not in allowed:
            raise PluginError(f"{type_name} has no option {key!r} (options: {', '.join(allowed) or 'none'})")
    cls = getattr(pedalboard, cls_name)
    source = ""
    if type_name == "pb_convolution":
        path = _impulse_response(type_name, options)
        source = str(path)
        try:
            plugin = cls(source)
        except Exception as exc:
            raise PluginError(f"{type_name}: cannot read impulse response {path}: {exc}") from None
    else:
        plugin = cls()
    identity = PluginIdentity(cls_name, f"pedalboard.{cls_name}", source, "builtin")
    proc = PluginProcessor(plugin, channels=channels, identity=identity, sample_rate=sample_rate)
    if params:
        try:
            proc.set_params(params)
        except (KeyError, ValueError) as exc:
            raise PluginError(f"{type_name}: {exc.args[0] if exc.args else exc}") from None
    return proc


def _device(type_name: str) -> Callable[[Mapping[str, Any]], Processor]:
    def make(options: Mapping[str, Any]) -> Processor:
        return make_builtin(type_name, **{k: options[k] for k in _OPTIONS.get(type_name, ()) if k in options})

    make.__name__ = f"make_{type_name}"
    return make


# the rows presets.devices.EFFECTS would take: type name -> (factory of the entry's options, option names)
BUILTIN_EFFECTS: dict[str, tuple[Callable[[Mapping[str, Any]], Processor], tuple[str, ...]]] = {
    name: (_device(name), _OPTIONS.get(name, ())) for name in BUILTINS
}
