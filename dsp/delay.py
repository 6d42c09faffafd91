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

:class:`ControlBlock` (used by the delay, modulation, reverb and dynamics processors) hands a kernel all of
a processor's parameters as the rows of one matrix and renders them only while one of them moves: a block
in which nothing was set or automated costs no parameter work at all.
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
from engine.params import AutomationTable, Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["GLIDE_MS", "INTERPOLATIONS", "MAX_DELAY_S", "ControlBlock", "Delay", "WatchedParameter"]

MAX_DELAY_S = 10.0  # 8 beats down to 48 bpm
GLIDE_MS = 50.0  # time constant of the delay-time glide
INTERPOLATIONS = {"linear": INTERP_LINEAR, "hermite": INTERP_HERMITE}


class WatchedParameter(Parameter):
    """A :class:`Parameter` that tells its :class:`ControlBlock` when it is set or automated."""

    def __init__(
        self,
        block: ControlBlock,
        name: str,
        min_value: float,
        max_value: float,
        default: float,
        unit: str = "",
        smoothing_ms: float = 20.0,
        stepped: bool = False,
    ) -> None:
        super().__init__(name, min_value, max_value, default, unit, smoothing_ms, stepped)
        self._block = block

    def set(self, value: float) -> None:
        super().set(value)
        self._block.touched = True

    def set_automation(self, table: AutomationTable | None) -> None:
        super().set_automation(table)
        self._block.touched = True


class ControlBlock:
    """A processor's parameters as the rows of one ``(parameters, max_block_size)`` matrix for its kernel.

    Create the parameters with :meth:`add` (in the kernel's row order), call :meth:`prepare` from the
    processor's ``prepare`` and :meth:`touch` from its ``reset``; :meth:`render` gives the matrix for a
    block. A parameter at its set value without automation fills its row with that value once; one that
    moves (a ramp after a set, automation) is rendered into its row every block. Once a block finds every
    parameter still, later blocks skip them all until one is set or automated again (the values a render
    would give are the ones already in the rows). ``steady`` says that every row holds one value.
    """

    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self.params: list[Parameter] = []
        self.values = np.zeros((0, 1), dtype=np.float64)
        self.touched = True
        self.steady = False
        self._rows: list[Parameter | float] = []  # per row: its parameter, or the value of a fixed row
        self._held: list[float] = []  # the value filling each row, or nan while a row holds a ramp

    def add(
        self,
        name: str,
        min_value: float,
        max_value: float,
        default: float,
        unit: str = "",
        smoothing_ms: float = 20.0,
        stepped: bool = False,
    ) -> Parameter:
        """A new parameter of the processor, read from the next row of the matrix."""
        p = WatchedParameter(self, name, min_value, max_value, default, unit, smoothing_ms, stepped)
        self._processor.add_param(p)
        self.params.append(p)
        self._rows.append(p)
        self._held.append(math.nan)
        return p

    def add_fixed(self, value: float) -> None:
        """A row that always holds ``value`` (a control this processor does not offer)."""
        self._rows.append(float(value))
        self._held.append(math.nan)

    def prepare(self, max_block_size: int) -> None:
        """Allocate the matrix for blocks of up to ``max_block_size`` samples (control side)."""
        self.values = np.zeros((len(self._rows), max(1, max_block_size)), dtype=np.float64)
        for k, row in enumerate(self._rows):
            if not isinstance(row, Parameter):
                self.values[k] = row
        self.touch()

    def touch(self) -> None:
        """Have the next :meth:`render` look at every parameter (after a reset or a prepare)."""
        self.touched = True
        self.steady = False
        for k in range(len(self._held)):
            self._held[k] = math.nan

    def render(self, ctx: BlockContext) -> np.ndarray:
        """The matrix for this block: row ``k`` holds parameter ``k``'s per-sample values. (While
        ``touched`` is false this is ``values`` as it stands; processors read that directly then.)"""
        if self.touched:
            self._stage(ctx)
        return self.values

    def _stage(self, ctx: BlockContext) -> None:
        values = self.values
        held = self._held
        n = ctx.frames
        still = True
        for k in range(len(self._rows)):
            p = self._rows[k]
            if not isinstance(p, Parameter):
                continue
            if p.automation is None and p.current == p.value:
                # at its set value: what render() would give is that value throughout
                if held[k] != p.value:
                    values[k] = p.value
                    held[k] = p.value
                continue
            values[k, :n] = p.render(ctx)
            held[k] = math.nan
            still = False
        self.steady = still
        self.touched = not still


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
