"""An algorithmic reverb: predelay, diffusion, then a 16-line feedback delay network with frequency-dependent
decay.

``decay_s`` is the reverb time RT60 (how long the tail takes to fall 60 dB) at low frequencies; above
``damping_hz`` the tail dies sooner (20000 Hz: no damping). ``size`` (0..1) scales the line lengths from a
small room (about 3.5..15 ms) to a hall (23..97 ms) without changing the decay time; ``predelay_ms`` is the
gap before the tail starts, ``width`` (0 mono .. 1) the stereo spread of the tail, ``mix`` dry (0) to wet
(1). The left output reads the even lines and the right the odd ones, so a mono sound comes back as a
wide, decorrelated tail. See :mod:`dsp.kernels.reverb` for the network.

Build one with ``Reverb()``, set parameters with ``reverb.param("decay_s").set(3.0)``, call
:meth:`Reverb.prepare`, then :meth:`Reverb.process` per block. Silence in gives silence out once the
tail has decayed (about ``5 * decay_s`` to -300 dB, where it is flushed to zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dsp.kernels.delay import DAMPING_OFF_HZ, new_line
from dsp.kernels.reverb import (
    CHUNK,
    IS_DIFF,
    NET_LENGTHS,
    NUM_DIFFUSERS,
    NUM_LINES,
    NUM_STATE_ROWS,
    NUM_WORK_ROWS,
    diffuser_lengths,
    fdn_reverb,
    line_lengths,
    new_int_state,
    new_network,
)
from engine.events import EventBuffer
from engine.params import ControlBlock
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["GLIDE_MS", "MAX_PREDELAY_MS", "WET_GAIN", "Reverb"]

MAX_PREDELAY_MS = 500.0
GLIDE_MS = 80.0  # time constant of the glide to new line lengths and predelay
WET_GAIN = 1.2  # wet level: an undamped 2 s tail on white noise sits about 3 dB below the noise
# signs of the input and output taps: on each side's 8 lines they agree on 5 and differ on 3, so the first
# sample after the predelay carries only a quarter of what a full match would (a soft onset, not a slap)
_IN_SIGNS = np.array([1, -1, 1, 1, -1, 1, -1, -1, 1, 1, -1, 1, 1, -1, -1, 1], dtype=np.float64)
_OUT_FLIP = np.array([1, 1, -1, 1, 1, -1, 1, -1, -1, 1, 1, -1, 1, 1, -1, 1], dtype=np.float64)


class Reverb(Processor):
    """A stereo (or mono) FDN reverb; see the module docstring. Works in place.

    Parameters: ``predelay_ms`` (0..500), ``decay_s`` (0.1..30), ``damping_hz`` (500..20000; 20000 off),
    ``size`` (0..1), ``width`` (0..1) and ``mix`` (0..1).
    """

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.channels = channels
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        # in the rows fdn_reverb reads (R_*)
        self._controls = controls = ControlBlock(self)
        controls.add("predelay_ms", 0.0, MAX_PREDELAY_MS, 10.0, "ms", smoothing_ms=GLIDE_MS)
        controls.add("decay_s", 0.1, 30.0, 2.0, "s")
        controls.add("damping_hz", 500.0, DAMPING_OFF_HZ, 6000.0, "Hz")
        controls.add("size", 0.0, 1.0, 0.6)
        controls.add("width", 0.0, 1.0, 1.0)
        controls.add("mix", 0.0, 1.0, 0.25)
        # taps: stereo feeds and reads the even lines on the left and the odd ones on the right
        in_gain = np.zeros((channels, NUM_LINES), dtype=np.float64)
        out_gain = np.zeros((channels, NUM_LINES), dtype=np.float64)
        for c in range(channels):
            taps = slice(c, None, channels)
            norm = 1.0 / math.sqrt(NUM_LINES // channels)
            in_gain[c, taps] = _IN_SIGNS[taps] * norm
            out_gain[c, taps] = _IN_SIGNS[taps] * _OUT_FLIP[taps] * norm * WET_GAIN
        self._in_gain = in_gain
        self._out_gain = out_gain
        self._work = np.zeros((NUM_WORK_ROWS, CHUNK), dtype=np.float64)
        self._allocate(48000.0)

    def _allocate(self, sample_rate: float) -> None:
        table = line_lengths(sample_rate)
        glide = 1.0 - math.exp(-1.0 / (GLIDE_MS * 1e-3 * sample_rate))
        # the taps, the size table and the settings, then the per-line state the kernel keeps
        self._net = new_network(self._in_gain, self._out_gain, table, sample_rate, glide)
        self._lines = new_line(NUM_LINES, float(table.max()))
        self._pre = new_line(self.channels, MAX_PREDELAY_MS * 1e-3 * sample_rate + 2.0)
        diff_len = diffuser_lengths(self.channels, sample_rate)
        self._diff = new_line(self.channels * NUM_DIFFUSERS, float(diff_len.max()))
        self._is = new_int_state(diff_len)

    @property
    def line_lengths(self) -> np.ndarray:
        """The 16 line lengths (samples) the network runs at now: distinct primes once settled."""
        return self._net[NET_LENGTHS].copy()

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate the lines and the size table for ``sample_rate``; parameters start at their set
        values."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(sample_rate)
        self._controls.prepare(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Empty every line: the next input starts a fresh tail."""
        super().reset()
        self._controls.touch()
        for a in (self._lines, self._pre, self._diff):
            a.fill(0.0)
        self._net[:NUM_STATE_ROWS] = 0.0  # the taps stay
        self._is[:IS_DIFF] = 0  # the diffuser lengths stay

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Reverberate ``ctx.frames`` samples of ``audio_in[0]`` into ``audio_out[0]``."""
        if ctx.frames > self.max_block_size:
            # the kernel does not check bounds: refuse rather than read past the parameter buffers
            raise ValueError(f"block of {ctx.frames} frames exceeds max_block_size {self.max_block_size}")
        controls = self._controls
        ctl = controls.render(ctx) if controls.touched else controls.values  # (skips a call when still)
        fdn_reverb(
            audio_in[0], audio_out[0], self._lines, self._pre, self._diff, self._net, self._is, self._work,
            ctl, controls.steady, ctx.frames,
        )  # fmt: skip
