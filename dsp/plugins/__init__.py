"""Plugins through pedalboard: VST3 (Audio Units on macOS) and pedalboard's own effects as processors.

- :mod:`dsp.plugins.host`: :class:`PluginError`, :func:`open_plugin`, the state format, the shared base
  and the automation granularity (32 samples).
- :mod:`dsp.plugins.effect`: :class:`PluginProcessor` and :func:`load_plugin_processor` (channels, mono
  modes, latency, the real-time caveat).
- :mod:`dsp.plugins.bindings`: which plugin parameters become engine parameters, and how.
- :mod:`dsp.plugins.builtin`: :func:`make_builtin` for pedalboard's Reverb, Compressor, Delay...
- :mod:`dsp.plugins.failed`: :class:`FailedPlugin` and :func:`load_or_fail`, so a broken plugin does not
  take a session down.
- :mod:`dsp.plugins.scan` finds and describes installed plugins (in a separate process each).
- Instruments: :mod:`instruments.plugin_instrument`.

The names below are imported on first use, so importing this package (as the scanner's probe process
does) does not load pedalboard.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsp.plugins.builtin import BUILTINS, make_builtin
    from dsp.plugins.effect import PluginProcessor, load_plugin_processor
    from dsp.plugins.failed import FailedPlugin, load_or_fail
    from dsp.plugins.host import AUTOMATION_GRANULARITY, MONO_MODES, PluginError, PluginIdentity

__all__ = [
    "AUTOMATION_GRANULARITY",
    "BUILTINS",
    "MONO_MODES",
    "FailedPlugin",
    "PluginError",
    "PluginIdentity",
    "PluginProcessor",
    "load_or_fail",
    "load_plugin_processor",
    "make_builtin",
]

_HOME = {
    "AUTOMATION_GRANULARITY": "host",
    "MONO_MODES": "host",
    "PluginError": "host",
    "PluginIdentity": "host",
    "PluginProcessor": "effect",
    "load_plugin_processor": "effect",
    "BUILTINS": "builtin",
    "make_builtin": "builtin",
    "FailedPlugin": "failed",
    "load_or_fail": "failed",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'dsp.plugins' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dsp.plugins.{module}"), name)
