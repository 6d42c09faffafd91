"""Stereo image processors: :class:`StereoWidth` (mid/side width) and :class:`Pan` (constant power).

``StereoWidth`` splits a stereo signal into mid ``M = (L + R)/2`` and side ``S = (L - R)/2``, scales the
side by ``width`` and puts it back: ``L' = M + width S``, ``R' = M - width S``. Width 0 is mono (both sides
carry M), 1 leaves the signal unchanged and 2 doubles the side (wider; the mid is untouched).

``Pan`` uses the mixer's law (:mod:`dsp.kernels.strip`): ``theta = (pan + 1) pi/4``, gains
``sqrt(2) cos(theta)`` left and ``sqrt(2) sin(theta)`` right: unity at the centre, constant summed power.
A mono input is spread to both outputs; a stereo input is balanced (each side scaled by its gain).

Build, set ``width`` or ``pan``, then ``prepare`` and ``process`` (the render plan does this).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsp.kernels.strip import strip_gain_pan
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["Pan", "StereoWidth", "mid_side_width"]


# (this kernel belongs in dsp/kernels/stereo.py; it lives here until that file joins the kernels. numpy
# ufuncs cannot do the job: mixing float32 buffers with float64 controls makes them allocate cast buffers)
@njit(cache=True, nogil=True)
def mid_side_width(inp, out, width, n, constant):
    """``out[:, :n]`` = ``inp`` with its side scaled by ``width`` (per-sample; only ``width[0]`` with
    ``constant``): ``M = (L + R)/2``, ``S = (L - R)/2``, ``L' = M + w S``, ``R' = M - w S``. In place is
    fine."""
    w = width[0]
    for i in range(n):
        if not constant:
            w = width[i]
        left = np.float64(inp[0, i])
        right = np.float64(inp[1, i])
        mid = 0.5 * (left + right)
        side = 0.5 * (left - right) * w
        out[0, i] = mid + side
        out[1, i] = mid - side


class StereoWidth(Processor):
    """Mid/side width of a stereo signal: ``width`` 0..2 (0 mono, 1 unchanged, 2 twice the side).
    Works in place."""

    in_place = True
    audio_inputs = (AudioPort("in", 2),)
    audio_outputs = (AudioPort("out", 2),)

    def __init__(self) -> None:
        super().__init__()
        self.width = self.add_param(Parameter("width", 0.0, 2.0, 1.0))

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        w = self.width.render(ctx)
        mid_side_width(audio_in[0], audio_out[0], w, ctx.frames, self.width.is_constant)


class Pan(Processor):
    """Constant-power pan of a mono or stereo input to stereo: ``pan`` -1 (left) .. 0 .. 1 (right)."""

    audio_outputs = (AudioPort("out", 2),)

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"a pan takes 1 or 2 channels, got {channels}")
        self.audio_inputs = (AudioPort("in", channels),)
        self.in_place = channels == 2
        self.pan = self.add_param(Parameter("pan", -1.0, 1.0, 0.0))
        self._allocate(1)

    def _allocate(self, max_block_size: int) -> None:
        n = max(1, max_block_size)
        self._unity_db = np.zeros(n, dtype=np.float64)  # the strip kernel's fader, left at 0 dB
        self._open = np.ones(n, dtype=np.float64)  # and its gate, left open

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        pan = self.pan.render(ctx)
        strip_gain_pan(
            audio_in[0], audio_out[0], self._unity_db, pan, self._open, ctx.frames, self.pan.is_constant
        )
