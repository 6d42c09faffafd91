"""Probe one plugin bundle in a throwaway process: ``python -m dsp.plugins.probe PATH [--sample-rate N]``.

Loads every plugin in the bundle with pedalboard and prints one JSON object on stdout: for each plugin its
name, vendor, category, version, identifier, kind, the main-bus channel counts it accepts, its parameters
(range, default, unit, steps) and the latency it reports once prepared at ``--sample-rate``. Plugins that
chatter on stdout are sent to stderr, so stdout carries the JSON alone.

A plugin can crash or hang its host, so this runs in its own process: :func:`dsp.plugins.scan.scan`
starts one per bundle with a timeout and blocklists the ones that die. Exit status: 0 with the JSON,
1 when the bundle does not load (the reason on stderr as ``probe: error: ...``), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import Any

__all__ = ["PROBE_VERSION", "main", "probe_bundle"]

# Bump when the JSON changes: cached results of an older probe are then scanned again.
PROBE_VERSION = 1

_CONTINUOUS_STEPS = 0x7FFFFFFF  # JUCE's num_steps for a continuous parameter
_MAX_VALID_VALUES = 256
_PROBE_FRAMES = 256
# pedalboard's message when a bus width is refused: "... expects 2 input channels and 2 output channels."
_EXPECTS = re.compile(r"expects (\d+) input channels? and (\d+) output channels?")


def _finite(x: Any) -> Any:
    """JSON has no NaN or infinity: report them as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _plain(value: Any, kind: type) -> Any:
    """pedalboard hands out wrapped floats and strings; JSON wants the plain type."""
    if value is None:
        return None
    if kind is bool:
        return bool(value)
    if kind is float:
        return _finite(float(value))
    return str(value)


def _default_value(param: Any) -> Any:
    raw = float(param.default_raw_value)
    if param.type is float:
        # The plugin's own text for the default is exact; ``ranges`` is quantized to pedalboard's search.
        try:
            from pedalboard._pedalboard import strip_common_float_suffixes

            return _finite(float(strip_common_float_suffixes(param.get_text_for_raw_value(raw))))
        except Exception:
            pass
    # ``ranges`` maps half-open raw ranges [lo, hi) to values; the last one ends at 1.0 inclusive.
    for (lo, hi), value in param.ranges.items():
        if lo <= raw < hi or (hi >= 1.0 and raw >= lo):
            return _plain(value, param.type)
    return None


def _parameter(python_name: str, param: Any, current: Any) -> dict[str, Any]:
    kind = param.type
    label = (param.label or "").strip() or None
    discrete = bool(param.is_discrete)
    steps = int(param.num_steps)
    return {
        "python_name": python_name,
        "name": str(param.name),
        "type": kind.__name__,
        "min": _plain(param.min_value, kind),
        "max": _plain(param.max_value, kind),
        "default": _default_value(param),
        "value": _plain(current, kind),
        "unit": label,
        "is_discrete": discrete,
        "is_boolean": bool(param.is_boolean) or kind is bool,
        "num_steps": steps if discrete and 0 < steps < _CONTINUOUS_STEPS else None,
        "valid_values": [str(v) for v in param.valid_values[:_MAX_VALID_VALUES]] if kind is str else None,
        "is_automatable": bool(param.is_automatable),
    }


def _try_channels(plugin: Any, channels: int, sample_rate: float) -> str | None:
    """Run a short silent block through the plugin; None if it took ``channels``, else pedalboard's reason."""
    import numpy as np

    try:
        if plugin.is_instrument:
            plugin([], duration=_PROBE_FRAMES / sample_rate, sample_rate=sample_rate, num_channels=channels)
        else:
            plugin.process(np.zeros((channels, _PROBE_FRAMES), np.float32), sample_rate, reset=True)
    except Exception as exc:  # a refused bus width comes back as ValueError; a plugin may raise anything
        return str(exc)
    return None


def _bus(plugin: Any, sample_rate: float) -> dict[str, Any]:
    accepted: list[int] = []
    refusal = ""
    for channels in (1, 2):
        reason = _try_channels(plugin, channels, sample_rate)
        if reason is None:
            accepted.append(channels)
        else:
            refusal = reason
    if not accepted:  # a wider bus (quad, 5.1, 7.1) runs on a track's first two channels
        for channels in (4, 6, 8):
            if _try_channels(plugin, channels, sample_rate) is None:
                accepted.append(channels)
    width: int | None = max(accepted) if accepted else None
    expected = _EXPECTS.search(refusal)
    if width is None and expected:
        width = int(expected.group(2))
    if accepted and accepted[-1] != width:
        _try_channels(plugin, width or 1, sample_rate)  # leave it prepared at its own width
    return {"channels": width, "accepted_channels": accepted, "bus_error": None if accepted else refusal}


def _describe(plugin: Any, sample_rate: float) -> dict[str, Any]:
    bus = _bus(plugin, sample_rate)  # prepares the plugin at sample_rate, so latency is the real one
    params = plugin.parameters
    return {
        "name": str(plugin.name),
        "vendor": str(plugin.manufacturer_name),
        "category": str(plugin.category),
        "version": str(plugin.version),
        "identifier": str(plugin.identifier),
        "is_instrument": bool(plugin.is_instrument),
        "is_effect": bool(plugin.is_effect),
        **bus,
        "latency_samples": int(plugin.reported_latency_samples),
        "parameters": [_parameter(k, p, getattr(plugin, k, None)) for k, p in params.items()],
    }


def probe_bundle(path: str, sample_rate: float = 44100.0) -> dict[str, Any]:
    """Load every plugin in the bundle at ``path`` and describe it. Raises if none of them loads.

    Call this only in a process you can afford to lose (see the module docstring).
    """
    import pedalboard

    cls: Any = pedalboard.VST3Plugin
    if path.rstrip("/").endswith(".component"):
        cls = pedalboard.AudioUnitPlugin  # macOS only
    names = list(cls.get_plugin_names_for_file(path))
    if not names:
        raise ImportError(f"{path} holds no plugins")
    plugins: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for name in names:
        try:
            plugin = pedalboard.load_plugin(path, plugin_name=name)
            plugins.append(_describe(plugin, sample_rate))
        except Exception as exc:
            errors.append({"name": name, "error": _one_line(exc)})
    if not plugins:
        raise ImportError("; ".join(f"{e['name']}: {e['error']}" for e in errors))
    return {
        "probe_version": PROBE_VERSION,
        "path": path,
        "sample_rate": sample_rate,
        "pedalboard": getattr(pedalboard, "__version__", None),
        "plugins": plugins,
        "errors": errors,
    }


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dsp.plugins.probe", description="Describe the plugins in one bundle as JSON."
    )
    parser.add_argument("path", help="a plugin bundle (.vst3, or .component on macOS)")
    parser.add_argument("--sample-rate", type=float, default=44100.0, help="host rate (default 44100)")
    args = parser.parse_args(argv)
    if not os.path.exists(args.path):
        print(f"probe: error: no such file or directory: {args.path}", file=sys.stderr)
        return 2
    if not 8000 <= args.sample_rate <= 768000:
        print(f"probe: error: sample rate must be in 8000..768000, got {args.sample_rate:g}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)  # whatever the plugins print goes to stderr; stdout keeps the JSON alone
    try:
        result = probe_bundle(os.path.abspath(args.path), args.sample_rate)
    except Exception as exc:
        print(f"probe: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    print(json.dumps(result, allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: some plugins hang or crash in their destructors after a good probe.
    os._exit(code)
