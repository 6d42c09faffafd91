"""Mixer processors: the channel strip (fader, pan, mute/solo gate, meters) and the send.

A track is ``instrument -> inserts -> ChannelStrip``; its sends tap the strip's output (post-fader) or its
input (pre-fader) through a :class:`Send` into a bus. Buses and the master are ``sum -> inserts ->
ChannelStrip``. Mute and solo are resolved on the control side by :func:`apply_solo`, which opens or
closes each strip's gate and its sends' gates (smoothed parameters, so they never click); they are set,
not automated.
Meters are written by the audio side into small arrays that the control side reads.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dsp.kernels.meter import peak_rms
from dsp.kernels.strip import SILENCE_DB, gain_db, strip_gain_pan
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["ChannelStrip", "Send", "apply_solo"]

GATE_SMOOTHING_MS = 5.0


class ChannelStrip(Processor):
    """Fader (``volume_db``), constant-power ``pan``, ``mute``/``solo`` and peak/RMS meters.

    ``channels`` is the input width (1 or 2); the output is stereo. ``solo_safe`` strips (buses, master)
    stay open when another strip is soloed.
    """

    audio_outputs = (AudioPort("out", 2),)

    def __init__(self, channels: int = 2, solo_safe: bool = False) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"a channel strip takes 1 or 2 channels, got {channels}")
        self.audio_inputs = (AudioPort("in", channels),)
        self.solo_safe = solo_safe
        self.volume_db = self.add_param(
            Parameter("volume_db", SILENCE_DB, 12.0, 0.0, "dB", smoothing_ms=20.0)
        )
        self.pan = self.add_param(Parameter("pan", -1.0, 1.0, 0.0, smoothing_ms=20.0))
        self.mute = self.add_param(Parameter("mute", 0.0, 1.0, 0.0, stepped=True))
        self.solo = self.add_param(Parameter("solo", 0.0, 1.0, 0.0, stepped=True))
        self.gate = self.add_param(Parameter("gate", 0.0, 1.0, 1.0, smoothing_ms=GATE_SMOOTHING_MS))
        self.peak = np.zeros(2, dtype=np.float64)
        self.rms = np.zeros(2, dtype=np.float64)
        self.peak_hold = np.zeros(2, dtype=np.float64)
        self.sends: list[Send] = []  # this strip's sends: they follow its mute/solo gate

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        n = ctx.frames
        vol = self.volume_db.render(ctx)
        pan = self.pan.render(ctx)
        gate = self.gate.render(ctx)
        constant = self.volume_db.is_constant and self.pan.is_constant and self.gate.is_constant
        out = audio_out[0]
        strip_gain_pan(audio_in[0], out, vol, pan, gate, n, constant)
        peak_rms(out, n, self.peak, self.rms)
        np.maximum(self.peak_hold, self.peak, out=self.peak_hold)

    def reset(self) -> None:
        super().reset()
        self.peak[:] = 0.0
        self.rms[:] = 0.0
        self.peak_hold[:] = 0.0

    def meter_db(self) -> tuple[list[float], list[float]]:
        """Control side: (peak dBFS per channel, RMS dBFS per channel) of the last block."""
        return _to_db(self.peak), _to_db(self.rms)


def _to_db(values: np.ndarray) -> list[float]:
    return [20.0 * float(np.log10(v)) if v > 1e-10 else -200.0 for v in values]


class Send(Processor):
    """A send level (``level_db``) from a track to a bus; gated with its track's mute and solo."""

    in_place = True

    def __init__(self, channels: int = 2, level_db: float = 0.0, pre_fader: bool = False) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.pre_fader = pre_fader
        self.level_db = self.add_param(Parameter("level_db", SILENCE_DB, 12.0, level_db, "dB"))
        self.gate = self.add_param(Parameter("gate", 0.0, 1.0, 1.0, smoothing_ms=GATE_SMOOTHING_MS))

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        lvl = self.level_db.render(ctx)
        gate = self.gate.render(ctx)
        constant = self.level_db.is_constant and self.gate.is_constant
        gain_db(audio_in[0], audio_out[0], lvl, gate, ctx.frames, constant)


def apply_solo(strips: Iterable[ChannelStrip]) -> None:
    """Open or close every strip's gate (and its sends' gates) from mute, solo and the solo state of all.

    A strip sounds when it is not muted and, if any strip is soloed, it is soloed or solo-safe (buses and
    the master are). Call it after changing any strip's ``mute`` or ``solo``.
    """
    strips = list(strips)
    any_solo = any(s.solo.value >= 0.5 for s in strips if not s.solo_safe)
    for s in strips:
        muted = s.mute.value >= 0.5
        silenced = any_solo and not s.solo_safe and s.solo.value < 0.5
        gate = 0.0 if muted or silenced else 1.0
        s.gate.set(gate)
        for send in s.sends:  # pre-fader sends do not pass the strip's gate: they follow it here
            send.gate.set(gate)
