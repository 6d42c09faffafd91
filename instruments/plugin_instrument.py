"""A VST3 instrument (AU on macOS) played by the engine's MIDI, through pedalboard.

:class:`PluginInstrument` takes the events of its ``midi`` input every block and renders them with
pedalboard, which wants a list of ``(bytes, seconds)`` messages per call; :func:`midi_messages` converts
an :class:`engine.events.EventBuffer` slice (sample offsets) into that list. pedalboard turns a time back
into a sample index by truncating ``float32(time) * float32(rate)``, so each time is taken at the middle
of its sample (``(offset + 0.5) / rate``) and lands on exactly that sample. Output: ``out``, stereo (a
mono instrument is copied to both sides).

Parameters, automation (sub-blocks of at most 32 samples), state, presets and latency work as for
effects (:mod:`dsp.plugins.host`). Not real-time safe: the message list and pedalboard's output array are
allocated every call. Load with :func:`load_plugin_instrument`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dsp.plugins.bindings import external_bindings
from dsp.plugins.host import FLUSH_SAMPLES, PluginBase, PluginError, PluginIdentity, open_plugin
from dsp.plugins.stream import is_external
from engine.events import (
    CHANNEL_AFTERTOUCH,
    CONTROL_CHANGE,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    POLY_AFTERTOUCH,
    PROGRAM_CHANGE,
    EventBuffer,
)
from engine.processor import AudioPort, BlockContext, EventPort

__all__ = ["PluginInstrument", "load_plugin_instrument", "midi_duration", "midi_messages"]

# data bytes after the status byte, by message kind
DATA_BYTES = {
    NOTE_OFF: 2,
    NOTE_ON: 2,
    POLY_AFTERTOUCH: 2,
    CONTROL_CHANGE: 2,
    PROGRAM_CHANGE: 1,
    CHANNEL_AFTERTOUCH: 1,
    PITCH_BEND: 2,
}


def midi_messages(events: EventBuffer, start: int, end: int, sample_rate: float) -> list[tuple[bytes, float]]:
    """The events at offsets ``start <= offset < end`` as pedalboard messages, timed in seconds from
    ``start`` (module docstring). Kinds the engine does not send (system messages) are left out."""
    out: list[tuple[bytes, float]] = []
    for i in range(events.count):
        off = int(events.offset[i])
        if not start <= off < end:
            continue
        status = int(events.status[i])
        size = DATA_BYTES.get(status & 0xF0)
        if size is None:
            continue
        data = (status, int(events.data1[i]), int(events.data2[i]))[: size + 1]
        out.append((bytes(data), (off - start + 0.5) / sample_rate))
    return out


def midi_duration(frames: int, sample_rate: float) -> float:
    """The duration to ask pedalboard for so that it renders exactly ``frames`` samples (it truncates
    ``float32(duration) * float32(rate)``)."""
    rate = np.float32(sample_rate)
    d = np.float32(frames / sample_rate)
    for _ in range(64):
        got = int(np.float32(d * rate))
        if got == frames:
            return float(d)
        d = np.nextafter(d, np.float32(np.inf if got < frames else -np.inf))
    raise ValueError(f"no float32 duration gives {frames} samples at {sample_rate} Hz")


class PluginInstrument(PluginBase):
    """A pedalboard instrument plugin as a graph node (module docstring)."""

    event_inputs = (EventPort("midi"),)

    def __init__(self, plugin: Any, *, identity: PluginIdentity | None = None, sample_rate: float = 48000):
        label = str(getattr(plugin, "name", type(plugin).__name__))
        if not is_external(plugin) or not plugin.is_instrument:
            raise PluginError(f"{label} is not an instrument plugin: use dsp.plugins.PluginProcessor")
        width = 0
        for ch in (2, 1):
            try:
                plugin.process([], midi_duration(64, sample_rate), sample_rate, ch, 64, True)
            except Exception:  # pedalboard refuses a width the plugin does not output
                continue
            width = ch
            break
        if not width:
            raise PluginError(f"{label}: its main output is neither stereo nor mono")
        bindings, skipped = external_bindings(plugin)
        identity = identity or PluginIdentity(label, str(plugin.identifier), "", "vst3")
        super().__init__([plugin], bindings, identity, skipped, sample_rate)
        self.audio_outputs = (AudioPort("out", 2),)
        self.plugin_channels = width
        self._allocate(512)

    def _allocate(self, max_block_size: int) -> None:
        self._prime_len = max(64, max_block_size)
        self._durations = [0.0] + [midi_duration(m, self._rate()) for m in range(1, self._prime_len + 1)]

    @property
    def latency_samples(self) -> int:
        return int(self.plugin.reported_latency_samples)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self._restart()

    def reset(self) -> None:
        super().reset()
        if self.sample_rate > 0:
            self._restart()

    def _render(self, messages: list, frames: int) -> np.ndarray:
        return self.plugin.process(
            messages, self._durations[frames], self._rate(), self.plugin_channels, self._prime_len, False
        )

    def _restart(self) -> None:
        self.plugin.reset()
        self._render([], self._prime_len)  # prepares at the largest block, off the audio path
        for b in self._bindings:
            b.refresh(self.instances)
        self._unflushed = False

    def _flush(self) -> None:
        self._render([], FLUSH_SAMPLES)

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        self._events = events_in[0]
        self._y = audio_out[0]
        self._blocks(ctx)

    def _run(self, s: int, e: int) -> None:
        y = self._y
        out = self._render(midi_messages(self._events, s, e, self.sample_rate), e - s)
        k = min(e - s, int(out.shape[-1]))
        if self.plugin_channels == 2:
            y[:, s : s + k] = out[:, :k]
        else:
            y[0, s : s + k] = out[0, :k]
            y[1, s : s + k] = out[0, :k]
        if k < e - s:
            y[:, s + k : e] = 0.0


def load_plugin_instrument(
    path: str | Path,
    *,
    plugin_name: str | None = None,
    sample_rate: float = 48000,
    params: Mapping[str, float] | None = None,
) -> PluginInstrument:
    """Load a VST3 (AU on macOS) instrument; PluginError for a missing or broken bundle, an effect, an
    ambiguous or unknown ``plugin_name`` or a bad parameter value."""
    plugin, identity = open_plugin(path, plugin_name)
    if not plugin.is_instrument:
        raise PluginError(
            f"{identity.name} ({path}) is an effect, not an instrument: use load_plugin_processor"
        )
    inst = PluginInstrument(plugin, identity=identity, sample_rate=sample_rate)
    if params:
        try:
            inst.set_params(params)
        except (KeyError, ValueError) as exc:
            raise PluginError(f"{identity.name}: {exc.args[0] if exc.args else exc}") from None
    return inst
