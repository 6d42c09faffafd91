"""A gain processor: level in dB, smoothed, any channel count."""

from __future__ import annotations

import numpy as np

from dsp.kernels.strip import SILENCE_DB, gain_db
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["Gain"]


class Gain(Processor):
    """Multiplies its input by ``gain_db`` (at or below -96 dB: silence). Works in place."""

    in_place = True

    def __init__(self, channels: int = 2, gain_db: float = 0.0) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.gain_db = self.add_param(Parameter("gain_db", SILENCE_DB, 24.0, 0.0, "dB"))
        self.gain_db.set(gain_db)
        self.gain_db.reset()
        self._ones = np.ones(1, dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._ones = np.ones(max_block_size, dtype=np.float64)

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        g = self.gain_db.render(ctx)
        gain_db(audio_in[0], audio_out[0], g, self._ones, ctx.frames, self.gain_db.is_constant)
