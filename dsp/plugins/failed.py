"""A plugin that could not be loaded, kept in its slot as a pass-through, so the session still plays.

:func:`load_or_fail` is :func:`dsp.plugins.effect.load_plugin_processor` that returns a
:class:`FailedPlugin` (with the reason) instead of raising. A plugin that hangs while loading would hang
the session too; ``trial_timeout_s`` first loads it in a separate process with a time limit (about half a
second more per plugin) and gives up on it when that process does not finish or dies.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dsp.plugins.effect import PluginProcessor, load_plugin_processor
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["FailedPlugin", "load_or_fail", "trial_load"]

_TRIAL = "import sys, pedalboard; pedalboard.load_plugin(sys.argv[1], plugin_name=sys.argv[2] or None)"


class FailedPlugin(Processor):
    """A bypassed slot standing for a plugin that failed: audio passes through unchanged.

    ``reason`` says why, ``path`` and ``plugin_name`` name the plugin, ``state`` keeps the state the
    session had for it (so saving the session again does not lose it). Ports: ``in`` and ``out`` with
    ``channels``, as the plugin would have had. No parameters: automation aimed at it is refused.
    """

    in_place = True
    bypassed = True

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        plugin_name: str | None = None,
        channels: int = 2,
        state: bytes | None = None,
    ) -> None:
        super().__init__()
        self.path = str(path)
        self.reason = reason
        self.plugin_name = plugin_name
        self.state = state
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)

    def get_state(self) -> bytes | None:
        return self.state

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        if audio_out[0] is not audio_in[0]:
            np.copyto(audio_out[0], audio_in[0])

    def __repr__(self) -> str:
        return f"FailedPlugin({self.path!r}: {self.reason})"


def trial_load(path: str | Path, plugin_name: str | None = None, timeout_s: float = 10.0) -> str | None:
    """Load the plugin in a separate Python process; None if that worked, else the reason it did not."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TRIAL, str(path), plugin_name or ""],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return f"loading {path} took longer than {timeout_s:g} s in a trial process (it hangs?); not loaded"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        return f"loading {path} crashed a trial process (signal {-done.returncode}); not loaded"
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    return f"loading {path} failed in a trial process: {lines[-1] if lines else done.returncode}"


def load_or_fail(
    path: str | Path,
    *,
    plugin_name: str | None = None,
    channels: int = 2,
    mono_mode: str = "dual_mono",
    sample_rate: float = 48000,
    params: Mapping[str, float] | None = None,
    state: bytes | None = None,
    trial_timeout_s: float | None = None,
    bus_channels: int | None = None,
) -> PluginProcessor | FailedPlugin:
    """Load a plugin (and restore ``state``) or return a :class:`FailedPlugin` saying why not."""
    if trial_timeout_s is not None:
        reason = trial_load(path, plugin_name, trial_timeout_s)
        if reason is not None:
            return FailedPlugin(path, reason, plugin_name=plugin_name, channels=channels, state=state)
    try:
        proc = load_plugin_processor(
            path,
            plugin_name=plugin_name,
            channels=channels,
            mono_mode=mono_mode,
            sample_rate=sample_rate,
            params=params,
            bus_channels=bus_channels,
        )
        if state is not None:
            proc.set_state(state)
    except Exception as exc:  # whatever a plugin or pedalboard throws must not stop the session
        return FailedPlugin(path, str(exc), plugin_name=plugin_name, channels=channels, state=state)
    return proc
