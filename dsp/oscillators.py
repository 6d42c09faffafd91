"""A test and sound-design oscillator: band-limited saw, pulse (with pulse-width modulation), triangle,
table sine, mip-mapped wavetable, and seeded white and pink noise.

Build one with ``Oscillator()`` (or ``Oscillator(channels=1, wavetable=cycle, seed=7)``), set
``waveform``, ``frequency_hz``, ``pulse_width`` and ``gain_db``, then ``prepare`` and ``process`` like any
processor: it has no inputs and writes the same signal to every output channel. All controls are read per
sample, so automation and ramps give the same output at any block size. The kernels are
:mod:`dsp.kernels.osc`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.osc import (
    WAVE_PINK,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TABLE,
    WAVE_TRIANGLE,
    WAVE_WHITE,
    make_blep_tables,
    make_sine_table,
    make_wavetable,
    new_osc_state,
    osc_fill,
    write_channels,
)
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["WAVEFORMS", "Oscillator"]

# waveform parameter values by name (the kernel's codes)
WAVEFORMS = {
    "saw": WAVE_SAW,
    "square": WAVE_SQUARE,
    "triangle": WAVE_TRIANGLE,
    "sine": WAVE_SINE,
    "wavetable": WAVE_TABLE,
    "white": WAVE_WHITE,
    "pink": WAVE_PINK,
}

_BLEP = make_blep_tables()
_SINE = make_sine_table()


def _default_cycle() -> np.ndarray:
    # a bright single cycle for the wavetable waveform: half saw, half square
    t = np.arange(2048) / 2048.0
    return 0.5 * (2.0 * t - 1.0) + 0.5 * np.where(t < 0.5, 1.0, -1.0)


class Oscillator(Processor):
    """One oscillator on ``channels`` identical outputs (see the module docstring).

    Parameters: ``waveform`` (stepped 0..6: saw, square/pulse, triangle, sine, wavetable, white noise,
    pink noise; see :data:`WAVEFORMS`), ``frequency_hz`` (0..20000, default 440; above 0.45 of the sample
    rate it holds there), ``pulse_width`` (0.01..0.99, default 0.5: the fraction of each cycle the pulse is
    high) and ``gain_db`` (-96..12, default -12; -96 is silence). Before the gain saw and square peak
    near +-1.4 (minimum-phase band limiting rings), the triangle and sine at 1, the wavetable near its
    cycle's scale.
    """

    def __init__(
        self,
        channels: int = 2,
        *,
        wavetable: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.audio_outputs = (AudioPort("out", channels),)
        add = self.add_param
        self._waveform = add(Parameter("waveform", 0.0, float(len(WAVEFORMS) - 1), 0.0, stepped=True))
        self._frequency_hz = add(Parameter("frequency_hz", 0.0, 20000.0, 440.0, "Hz"))
        self._pulse_width = add(Parameter("pulse_width", 0.01, 0.99, 0.5))
        self._gain_db = add(Parameter("gain_db", -96.0, 12.0, -12.0, "dB"))
        self.seed = int(seed)
        self._table = make_wavetable(_default_cycle() if wavetable is None else wavetable)
        self._state, self._ring = new_osc_state()
        self._rng = np.zeros(1, dtype=np.uint64)
        self._pink = np.zeros(7, dtype=np.float64)
        self._allocate(1)
        self.reset()

    def _allocate(self, max_block_size: int) -> None:
        self._mono = np.zeros(max(1, max_block_size), dtype=np.float64)
        self._inc = np.zeros(max(1, max_block_size), dtype=np.float64)

    def set_wavetable(self, cycle: np.ndarray) -> None:
        """Control side: build the mip levels of a new single cycle and swap them in whole (the audio side
        picks them up at its next block)."""
        self._table = make_wavetable(cycle)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate buffers for blocks up to ``max_block_size``; parameters start at their set values."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Phase back to 0, noise generators back to their seed."""
        super().reset()
        self._state[:], self._ring[:] = new_osc_state()
        self._rng[0] = np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF)
        self._pink[:] = 0.0

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        if n > self._mono.shape[0]:
            raise ValueError(f"block of {n} frames exceeds max_block_size {self._mono.shape[0]}")
        waveform = self._waveform.render(ctx)
        freq = self._frequency_hz.render(ctx)
        pw = self._pulse_width.render(ctx)
        gain = self._gain_db.render(ctx)
        inc = self._inc[:n]
        np.multiply(freq, 1.0 / self.sample_rate, out=inc)
        step, ramp, tau = _BLEP
        flat, offsets, sizes = self._table
        osc_fill(
            self._mono, 0, n, waveform, inc, pw, self._state, self._ring, step, ramp, tau, _SINE,
            flat, offsets, sizes, self._rng, self._pink,
        )  # fmt: skip
        write_channels(self._mono, 0, n, gain, self._gain_db.is_constant, audio_out[0])
