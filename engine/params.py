"""Parameters: a named value with range, unit, smoothing and automation.

The control side sets a parameter with :meth:`Parameter.set` (validated; one float store, which the audio
side picks up at its next block) or gives it an automation lane with :meth:`Parameter.set_automation`.
The audio side calls :meth:`Parameter.render` once per block and gets per-sample values: the automation
lane while the transport plays, otherwise the set value reached through a linear ramp of
``smoothing_ms`` (no zipper noise). Stepped parameters (switches, modes) jump without smoothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dsp.kernels.ramp import (
    CURVE_EXP,
    CURVE_HOLD,
    CURVE_LINEAR,
    breakpoint_value,
    eval_breakpoints,
    fill_ramp,
)

if TYPE_CHECKING:
    from engine.processor import BlockContext, Processor

__all__ = [
    "AutomationLane",
    "AutomationTable",
    "Breakpoint",
    "ControlBlock",
    "LatencyParameter",
    "Parameter",
    "WatchFlag",
    "WatchedParameter",
    "Watcher",
]

CURVES = {"linear": CURVE_LINEAR, "exp": CURVE_EXP, "hold": CURVE_HOLD}


@dataclass(frozen=True)
class Breakpoint:
    """An automation point: ``value`` at ``beat``; ``curve`` shapes the segment to the next point."""

    beat: float
    value: float
    curve: str = "linear"

    def __post_init__(self) -> None:
        if self.curve not in CURVES:
            raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {self.curve!r}")
        if not math.isfinite(self.beat) or self.beat < 0:
            raise ValueError(f"breakpoint beat must be a finite number >= 0, got {self.beat}")
        if not math.isfinite(self.value):
            raise ValueError(f"breakpoint value must be finite, got {self.value}")


@dataclass(frozen=True)
class AutomationTable:
    """An automation lane compiled to timeline samples (float64 times, values, curve codes)."""

    times: np.ndarray
    values: np.ndarray
    curves: np.ndarray

    def value_at(self, sample: float) -> float:
        return breakpoint_value(self.times, self.values, self.curves, sample)


class AutomationLane:
    """Breakpoints in beats for one parameter (control side). Compile with a beat -> sample mapping."""

    def __init__(self, points: Sequence[Breakpoint]) -> None:
        if not points:
            raise ValueError("an automation lane needs at least one breakpoint")
        self.points = sorted(points, key=lambda p: p.beat)

    def compile(self, beat_to_sample: Callable[[float], float]) -> AutomationTable:
        times = np.array([beat_to_sample(p.beat) for p in self.points], dtype=np.float64)
        values = np.array([p.value for p in self.points], dtype=np.float64)
        curves = np.array([CURVES[p.curve] for p in self.points], dtype=np.int64)
        return AutomationTable(times, values, curves)


class Parameter:
    """A processor parameter; see the module docstring for who calls what."""

    def __init__(
        self,
        name: str,
        min_value: float,
        max_value: float,
        default: float,
        unit: str = "",
        smoothing_ms: float = 20.0,
        stepped: bool = False,
    ) -> None:
        if not min_value < max_value:
            raise ValueError(f"parameter {name!r}: min_value must be below max_value")
        if not min_value <= default <= max_value:
            raise ValueError(f"parameter {name!r}: default {default} outside {min_value}..{max_value}")
        self.name = name
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.default = float(default)
        self.unit = unit
        self.smoothing_ms = float(smoothing_ms)
        self.stepped = stepped
        self.automation: AutomationTable | None = None
        self._target = self.default
        self._current = self.default
        self._ramp_target = self.default
        self._step = 0.0
        self._remaining = 0
        self._smoothing_samples = 0
        self._buffer = np.full(1, self.default, dtype=np.float64)
        self._settled_n = -1  # block length the settled value was last written for (-1: rewrite)
        self._settled_view = self._buffer
        self.is_constant = True
        self._at_offset = -1  # a change set for a sample of the coming block (set_at), or -1
        self._at_value = self.default

    # -- control side -----------------------------------------------------------------------------------
    def validate(self, value: float) -> float:
        v = float(value)
        if not math.isfinite(v) or not self.min_value <= v <= self.max_value:
            unit = f" {self.unit}" if self.unit else ""
            raise ValueError(
                f"{self.name} must be in {self.min_value:g}..{self.max_value:g}{unit}, got {value}"
            )
        return float(round(v)) if self.stepped else v

    def set(self, value: float) -> None:
        """Set the value (validated). The audio side ramps to it over ``smoothing_ms``."""
        self._target = self.validate(value)

    @property
    def value(self) -> float:
        """The value last set (the ramp's destination)."""
        return self._target if self._at_offset < 0 else self._at_value

    @property
    def change_pending(self) -> bool:
        """A :meth:`set_at` change waits for the coming block."""
        return self._at_offset >= 0

    @property
    def current(self) -> float:
        """The value the audio side reached at the end of its last block."""
        return self._current

    def set_automation(self, table: AutomationTable | None) -> None:
        """Install (or with None, remove) a compiled automation lane; takes effect at the next block."""
        if table is not None:
            lo, hi = float(table.values.min()), float(table.values.max())
            if lo < self.min_value or hi > self.max_value:
                raise ValueError(
                    f"automation of {self.name} leaves its range {self.min_value:g}..{self.max_value:g}"
                    f" (lane spans {lo:g}..{hi:g})"
                )
        self.automation = table

    # -- audio side -------------------------------------------------------------------------------------
    def swap_automation(self, table: AutomationTable | None) -> None:
        """Audio side: replace the lane with one already checked (the same lane at a new tempo)."""
        self.automation = table

    def set_at(self, value: float, offset: int) -> bool:
        """Audio side, before the block is rendered: change to ``value`` (validated; False if refused)
        from sample ``offset`` of the coming block on; the ramp of ``smoothing_ms`` starts there. One change
        per block: a second replaces the first."""
        try:
            v = self.validate(value)
        except ValueError:
            return False
        self._at_value = v
        self._at_offset = offset if offset > 0 else 0
        return True

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        self._buffer = np.full(max_block_size, self._current, dtype=np.float64)
        self._settled_n = -1
        self._smoothing_samples = 0 if self.stepped else max(1, round(self.smoothing_ms * 1e-3 * sample_rate))

    def reset(self) -> None:
        if self._at_offset >= 0:
            self._target = self._at_value
            self._at_offset = -1
        self._current = self._target
        self._ramp_target = self._target
        self._remaining = 0
        self._settled_n = -1

    def render(self, ctx: BlockContext) -> np.ndarray:
        """Per-sample values for this block (a view of a preallocated buffer); sets ``is_constant``."""
        n = ctx.frames
        table = self.automation
        at = self._at_offset
        if at >= 0:
            self._at_offset = -1
            if at >= n or (table is not None and ctx.playing):
                at = 0  # a lane that plays wins over set values anyway
            if at == 0:
                self._target = self._at_value
            else:
                return self._render_split(ctx, at)
        if table is None and self._remaining == 0 and self._target == self._ramp_target:
            # settled: the buffer already holds the value (the common case, kept cheap)
            if self._settled_n != n:
                self._settled_view = self._buffer[:n]
                self._settled_view[:] = self._current
                self._settled_n = n
            self.is_constant = True
            return self._settled_view
        self._settled_n = -1
        out = self._buffer
        if table is not None and ctx.playing:
            for k in range(ctx.num_segments):
                eval_breakpoints(
                    table.times,
                    table.values,
                    table.curves,
                    ctx.seg_start[k],
                    out,
                    ctx.seg_offset[k],
                    ctx.seg_frames[k],
                )
            if self.stepped:
                np.round(out[:n], out=out[:n])
            self._current = float(out[n - 1])
            self._ramp_target = self._current
            self._remaining = 0
            self.is_constant = False
            return out[:n]
        target = self._target
        if table is not None:
            # stopped with a lane: the lane's value at the cursor is the target
            target = table.value_at(float(ctx.sample_pos))
        self.is_constant = self._fill(out, 0, n, target)
        return out[:n]

    def _fill(self, out: np.ndarray, start: int, count: int, target: float) -> bool:
        """Write ``count`` values from ``out[start]`` heading for ``target``; True if they are all one."""
        if target != self._ramp_target:
            self._ramp_target = target
            if self._smoothing_samples <= 1:
                self._current = target
                self._remaining = 0
            else:
                self._remaining = self._smoothing_samples
                self._step = (target - self._current) / self._smoothing_samples
        if self._remaining == 0:
            self._current = self._ramp_target
            out[start : start + count] = self._current
            return True
        self._current, self._remaining = fill_ramp(
            out, start, count, self._current, self._step, self._remaining, self._ramp_target
        )
        return False

    def _render_split(self, ctx: BlockContext, at: int) -> np.ndarray:
        # the old value up to sample `at`, the new one from there (no lane plays: see render)
        self._settled_n = -1
        n = ctx.frames
        out = self._buffer
        table = self.automation
        before = self._target if table is None else table.value_at(float(ctx.sample_pos))
        first = self._fill(out, 0, at, before)
        self._target = self._at_value
        after = self._target if table is None else before
        second = self._fill(out, at, n - at, after)
        self.is_constant = first and second and out[0] == out[n - 1]
        return out[:n]

    def __repr__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"Parameter({self.name}={self._target:g}{unit})"


class LatencyParameter(Parameter):
    """A parameter that sets a processor's latency (look-ahead, oversampling factor).

    It jumps without a ramp (``stepped``, read at block starts from its set value) and refuses automation
    lanes, since the plan compensates a latency only when it is recompiled. Unlike other stepped parameters
    it is not rounded to integers; with ``choices`` a value snaps to the nearest choice on a log scale
    (so an oversampling of 3 becomes 4) and values outside ``min_value..max_value`` are refused.
    """

    def __init__(
        self,
        name: str,
        min_value: float,
        max_value: float,
        default: float,
        unit: str = "",
        choices: Sequence[float] = (),
    ) -> None:
        self.choices = tuple(float(c) for c in choices)
        super().__init__(name, min_value, max_value, default, unit, smoothing_ms=0.0, stepped=True)

    def validate(self, value: float) -> float:
        v = float(value)
        if not math.isfinite(v) or not self.min_value <= v <= self.max_value:
            unit = f" {self.unit}" if self.unit else ""
            raise ValueError(
                f"{self.name} must be in {self.min_value:g}..{self.max_value:g}{unit}, got {value}"
            )
        if self.choices:
            return min(self.choices, key=lambda c: (abs(math.log(v / c)), -c))
        return v

    def set_at(self, value: float, offset: int) -> bool:
        return False  # a latency changes with a new plan: set it and commit instead

    def set_automation(self, table: AutomationTable | None) -> None:
        if table is not None:
            raise ValueError(f"{self.name} sets the latency and cannot be automated; set it instead")
        self.automation = None


class Watcher(Protocol):
    """Anything with a ``touched`` flag for :class:`WatchedParameter` to raise."""

    touched: bool


class WatchFlag:
    """A bare :class:`Watcher`: a flag that starts raised."""

    __slots__ = ("touched",)

    def __init__(self) -> None:
        self.touched = True


class WatchedParameter(Parameter):
    """A :class:`Parameter` that raises its watcher's ``touched`` flag when it is set or automated, so a
    processor with many parameters can skip looking at them all in a block where none was touched."""

    def __init__(
        self,
        block: Watcher,
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

    def swap_automation(self, table: AutomationTable | None) -> None:
        self.automation = table
        self._block.touched = True

    def set_at(self, value: float, offset: int) -> bool:
        done = super().set_at(value, offset)
        self._block.touched = True
        return done

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
            if p.automation is None and p.current == p.value and not p.change_pending:
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
