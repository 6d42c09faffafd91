"""A feedback delay (echo): time in ms or in note values, damping in the loop, ping-pong, dry/wet mix.

Build one with ``Delay()``, set parameters with ``delay.param("time_beats").set(0.75)`` (a dotted eighth),
call :meth:`Delay.prepare`, then :meth:`Delay.process` once per block (the render plan does all of this).
The first echo of a sound lands exactly ``time_ms * sr / 1000`` samples later (``time_beats * 60 / bpm``
seconds with ``sync`` on); later echoes follow at the same spacing, each ``feedback`` times the one before
and duller by the ``damping_hz`` low-pass. When the delay time moves (a set, automation, a tempo change or
switching ``sync``) the read point glides there like a tape head, so there is no zipper noise; everything
runs per sample, so the output does not depend on the block size. Delays are capped at
``MAX_DELAY_S`` seconds (long synced values at slow tempi). The kernel is
:func:`dsp.kernels.delay.feedback_delay`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dsp.kernels.delay import (
    DAMPING_OFF_HZ,
    INTERP_HERMITE,
    INTERP_LINEAR,
    clear_delay_state,
    feedback_delay,
    new_delay_state,
    new_line,
)
from engine.events import EventBuffer
from engine.params import ControlBlock
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["GLIDE_MS", "INTERPOLATIONS", "MAX_DELAY_S", "Delay"]

MAX_DELAY_S = 10.0  # 8 beats down to 48 bpm
GLIDE_MS = 50.0  # time constant of the delay-time glide
INTERPOLATIONS = {"linear": INTERP_LINEAR, "hermite": INTERP_HERMITE}


class Delay(Processor):
    """A stereo (or mono) feedback delay; see the module docstring. Works in place.

    Parameters: ``sync`` (0 free, 1 tempo-synced), ``time_ms`` (1..4000), ``time_beats`` (1/64..8 quarter
    notes: 0.5 an eighth, 0.75 a dotted eighth, 1/3 a quarter triplet), ``feedback`` (0..0.99),
    ``damping_hz`` (200..20000 low-pass in the feedback path; 20000 leaves it open), ``mix`` (0 dry ..
    1 wet) and ``ping_pong`` (0/1: echoes alternate left and right; stereo only).
    """

    in_place = True

    def __init__(self, channels: int = 2, *, interpolation: str = "hermite") -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        if interpolation not in INTERPOLATIONS:
            known = ", ".join(INTERPOLATIONS)
            raise ValueError(f"interpolation must be one of {known}, got {interpolation!r}")
        self.channels = channels
        self.interpolation = INTERPOLATIONS[interpolation]
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        # in the rows feedback_delay reads (D_*)
        self._controls = controls = ControlBlock(self)
        controls.add("sync", 0.0, 1.0, 0.0, stepped=True)
        controls.add("time_ms", 1.0, 4000.0, 375.0, "ms", smoothing_ms=GLIDE_MS)
        controls.add("time_beats", 1.0 / 64.0, 8.0, 0.75, "beats", smoothing_ms=GLIDE_MS)
        controls.add("feedback", 0.0, 0.99, 0.35)
        controls.add("damping_hz", 200.0, DAMPING_OFF_HZ, 6000.0, "Hz")
        controls.add("mix", 0.0, 1.0, 0.3)
        controls.add("ping_pong", 0.0, 1.0, 0.0, stepped=True)
        self._allocate(48000.0)

    def _allocate(self, sample_rate: float) -> None:
        self._line = new_line(self.channels, MAX_DELAY_S * sample_rate)
        glide = 1.0 - math.exp(-1.0 / (GLIDE_MS * 1e-3 * sample_rate))
        self._state = new_delay_state(self.channels, sample_rate, glide, self.interpolation)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate the delay line for ``MAX_DELAY_S`` at ``sample_rate``; parameters start at their set
        values."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(sample_rate)
        self._controls.prepare(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Empty the delay line; the next sample starts at the set delay time (no glide)."""
        super().reset()
        self._controls.touch()
        self._line.fill(0.0)
        clear_delay_state(self._state)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Echo ``ctx.frames`` samples of ``audio_in[0]`` into ``audio_out[0]``."""
        n = ctx.frames
        if n > self.max_block_size:
            # the kernel does not check bounds: refuse rather than read past the parameter buffers
            raise ValueError(f"block of {n} frames exceeds max_block_size {self.max_block_size}")
        controls = self._controls
        ctl = controls.render(ctx) if controls.touched else controls.values  # (skips a call when still)
        feedback_delay(
            audio_in[0], audio_out[0], self._line, self._state, ctl, controls.steady, n, ctx.tempo_bpm
        )
