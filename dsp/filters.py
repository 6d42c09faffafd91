"""Filter processors: a multimode state-variable filter, a Moog-style ladder, a parametric EQ, a DC blocker.

- :class:`Filter`: low/high/band-pass, notch or peak (``mode``) at ``cutoff_hz`` with ``resonance``.
- :class:`LadderFilter`: a 4-pole (24 dB/octave) low-pass with ``resonance`` (self-oscillates near 1) and
  ``drive_db`` into its tanh saturation.
- :class:`ParametricEQ`: low cut, low shelf, three bells, high shelf and high cut (RBJ biquads).
- :class:`DCBlocker`: removes DC below about 10 Hz.

All work in place on any channel count. :class:`Filter` and :class:`LadderFilter` compute their
coefficients every sample from the per-sample parameter values, so automation and smoothing are exact and
the output does not depend on the block size. :class:`ParametricEQ` designs a band only when one of its
parameters moves, and then every ``EQ_GRID`` samples on a grid fixed to the timeline (as
:mod:`instruments.synth` does), so its output does not depend on the block size either.

Build one (``Filter()``, ``ParametricEQ(band2_gain_db=3.0)``), set parameters with
``proc.param("cutoff_hz").set(800.0)``, call ``prepare(sample_rate, max_block)`` then ``process`` once per
block; the kernels are in :mod:`dsp.kernels.filters`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dsp.kernels.filters import (
    BQ_HIGHPASS,
    BQ_HIGHSHELF,
    BQ_LOWPASS,
    BQ_LOWSHELF,
    BQ_PEAK,
    EQ_ENABLED,
    EQ_FREQ,
    EQ_GAIN,
    EQ_Q,
    dc_blocker,
    dc_blocker_pole,
    eq_process,
    ladder_process,
    svf_process,
)
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import MAX_SEGMENTS, AudioPort, BlockContext, Processor

__all__ = ["EQ_BANDS", "EQ_GRID", "FILTER_MODES", "DCBlocker", "Filter", "LadderFilter", "ParametricEQ"]

FILTER_MODES = ("lowpass", "highpass", "bandpass", "notch", "peak")  # Filter's ``mode`` values 0..4
EQ_GRID = 32  # samples between re-designs of a moving EQ band
SQRT_HALF = 0.7071067811865476

# ParametricEQ sections in signal order: (prefix, kind, default freq_hz, default q, has gain, has switch)
EQ_BANDS: tuple[tuple[str, int, float, float, bool, bool], ...] = (
    ("lowcut", BQ_HIGHPASS, 30.0, SQRT_HALF, False, True),
    ("band1", BQ_LOWSHELF, 100.0, SQRT_HALF, True, False),
    ("band2", BQ_PEAK, 300.0, 1.0, True, False),
    ("band3", BQ_PEAK, 1000.0, 1.0, True, False),
    ("band4", BQ_PEAK, 3000.0, 1.0, True, False),
    ("band5", BQ_HIGHSHELF, 8000.0, SQRT_HALF, True, False),
    ("highcut", BQ_LOWPASS, 18000.0, SQRT_HALF, False, True),
)


def _check_block(proc: Processor, frames: int) -> None:
    if frames > proc.max_block_size:
        # the kernels do not check bounds: refuse rather than read past the parameter buffers
        raise ValueError(f"block of {frames} frames exceeds max_block_size {proc.max_block_size}")


def _set_initial(proc: Processor, values: Mapping[str, float | None]) -> None:
    for name, value in values.items():
        if value is not None:
            p = proc.param(name)
            p.set(value)
            p.reset()


class Filter(Processor):
    """A zero-delay-feedback state-variable filter.

    Parameters: ``mode`` (stepped 0..4: lowpass, highpass, bandpass with a 0 dB peak, notch, peak; see
    :data:`FILTER_MODES`), ``cutoff_hz`` (20..20000) and ``resonance`` (0..1: Q from 0.707, Butterworth,
    to 20).
    """

    in_place = True

    def __init__(
        self,
        channels: int = 2,
        *,
        mode: float | None = None,
        cutoff_hz: float | None = None,
        resonance: float | None = None,
    ) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self._mode = self.add_param(Parameter("mode", 0.0, len(FILTER_MODES) - 1.0, 0.0, stepped=True))
        self._cutoff_hz = self.add_param(Parameter("cutoff_hz", 20.0, 20000.0, 1000.0, "Hz"))
        self._resonance = self.add_param(Parameter("resonance", 0.0, 1.0, 0.0))
        _set_initial(self, {"mode": mode, "cutoff_hz": cutoff_hz, "resonance": resonance})
        self._state = np.zeros((channels, 2), dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._state.fill(0.0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        _check_block(self, n)
        mode = self._mode.render(ctx)
        cutoff = self._cutoff_hz.render(ctx)
        resonance = self._resonance.render(ctx)
        constant = self._mode.is_constant and self._cutoff_hz.is_constant and self._resonance.is_constant
        svf_process(
            audio_in[0], audio_out[0], self._state, cutoff, resonance, mode, self.sample_rate, n, constant
        )


class LadderFilter(Processor):
    """A Moog-style 4-pole (24 dB/octave) ladder low-pass with tanh saturation.

    Parameters: ``cutoff_hz`` (20..20000), ``resonance`` (0..1; self-oscillates from about 0.95, its
    level held by the saturation) and ``drive_db`` (0..36: input gain into the saturation; the output is
    not compensated). As in the analog ladder, the pass band drops by ``1 + 4.2 * resonance`` as the
    resonance rises.
    """

    in_place = True

    def __init__(
        self,
        channels: int = 2,
        *,
        cutoff_hz: float | None = None,
        resonance: float | None = None,
        drive_db: float | None = None,
    ) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self._cutoff_hz = self.add_param(Parameter("cutoff_hz", 20.0, 20000.0, 1000.0, "Hz"))
        self._resonance = self.add_param(Parameter("resonance", 0.0, 1.0, 0.0))
        self._drive_db = self.add_param(Parameter("drive_db", 0.0, 36.0, 0.0, "dB"))
        _set_initial(self, {"cutoff_hz": cutoff_hz, "resonance": resonance, "drive_db": drive_db})
        self._state = np.zeros((channels, 4), dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._state.fill(0.0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        _check_block(self, n)
        cutoff = self._cutoff_hz.render(ctx)
        resonance = self._resonance.render(ctx)
        drive = self._drive_db.render(ctx)
        constant = self._cutoff_hz.is_constant and self._resonance.is_constant and self._drive_db.is_constant
        ladder_process(
            audio_in[0], audio_out[0], self._state, cutoff, resonance, drive, self.sample_rate, n, constant
        )


class ParametricEQ(Processor):
    """A seven-section parametric EQ of RBJ biquads, in signal order (see :data:`EQ_BANDS`).

    Parameters:

    - ``lowcut_enabled`` (stepped 0/1, off by default), ``lowcut_freq_hz``, ``lowcut_q``: a 12 dB/octave
      high-pass;
    - ``band1_*``: a low shelf (``band1_gain_db`` at DC, half of it at ``band1_freq_hz``);
    - ``band2_*``, ``band3_*``, ``band4_*``: bells with ``gain_db`` at ``freq_hz``;
    - ``band5_*``: a high shelf;
    - ``highcut_enabled``, ``highcut_freq_hz``, ``highcut_q``: a 12 dB/octave low-pass.

    Every ``*_freq_hz`` is in 20..20000, every ``*_gain_db`` in -24..24 (0: the band is skipped), every
    ``*_q`` in 0.1..10 (for shelves 0.707 is the steepest slope without a bump). Keyword arguments of the
    constructor set any of them by name.
    """

    in_place = True

    def __init__(self, channels: int = 2, **values: float) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        sections = len(EQ_BANDS)
        self._kinds = np.array([band[1] for band in EQ_BANDS], dtype=np.int64)
        # (section, row, parameter) of every parameter; rows without one keep their fixed value
        self._bindings: list[tuple[int, int, Parameter]] = []
        self._fixed = np.zeros((sections, 4), dtype=np.float64)
        for s, (prefix, _kind, freq, q, has_gain, has_switch) in enumerate(EQ_BANDS):
            if has_switch:
                self._bind(s, EQ_ENABLED, Parameter(f"{prefix}_enabled", 0.0, 1.0, 0.0, stepped=True))
            else:
                self._fixed[s, EQ_ENABLED] = 1.0
            self._bind(s, EQ_FREQ, Parameter(f"{prefix}_freq_hz", 20.0, 20000.0, freq, "Hz"))
            if has_gain:
                self._bind(s, EQ_GAIN, Parameter(f"{prefix}_gain_db", -24.0, 24.0, 0.0, "dB"))
            self._bind(s, EQ_Q, Parameter(f"{prefix}_q", 0.1, 10.0, q))
        _set_initial(self, values)
        self._values = self._fixed.copy()
        self._coefs = np.zeros((sections, 5), dtype=np.float64)
        self._active = np.zeros(sections, dtype=np.bool_)
        self._moving = np.zeros((sections, 4), dtype=np.bool_)
        self._state = np.zeros((sections, channels, 2), dtype=np.float64)
        self._redesign = True
        self._allocate(1)

    def _bind(self, section: int, row: int, param: Parameter) -> None:
        self._bindings.append((section, row, self.add_param(param)))

    def _allocate(self, max_block_size: int) -> None:
        size = max(1, max_block_size)
        self._curves = np.zeros((len(EQ_BANDS), 4, size), dtype=np.float64)
        self._points = np.zeros(size // EQ_GRID + 3 * MAX_SEGMENTS + 2, dtype=np.int64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._values[:] = self._fixed
        for s, row, p in self._bindings:
            self._values[s, row] = p.value
        self._state.fill(0.0)
        self._redesign = True

    def _grid_points(self, ctx: BlockContext) -> int:
        """Block offsets where moving bands are re-designed: every EQ_GRID samples of the timeline, and
        where a loop wrap starts a segment. Returns how many were written to ``_points``."""
        pts = self._points
        m = 0
        if ctx.playing:
            for k in range(ctx.num_segments):
                off = int(ctx.seg_offset[k])
                first = -int(ctx.seg_start[k]) % EQ_GRID
                if k > 0 and first:
                    pts[m] = off
                    m += 1
                for i in range(off + first, off + int(ctx.seg_frames[k]), EQ_GRID):
                    pts[m] = i
                    m += 1
        else:
            for i in range(0, ctx.frames, EQ_GRID):
                pts[m] = i
                m += 1
        return m

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        _check_block(self, n)
        moving = self._moving
        moving.fill(False)
        any_moving = False
        for s, row, p in self._bindings:
            if p.automation is None and p.current == p.value:
                if self._values[s, row] == p.value:
                    continue
                # settled since the last block: the value lands on the next grid point, like a ramp
                self._curves[s, row, :n] = p.value
            else:
                self._curves[s, row, :n] = p.render(ctx)
            moving[s, row] = True
            any_moving = True
        num_points = self._grid_points(ctx) if any_moving else 0
        eq_process(
            audio_in[0], audio_out[0], self._kinds, self._values, self._coefs, self._active, self._state,
            moving, self._curves, self._points, num_points, self.sample_rate, n, self._redesign,
        )  # fmt: skip
        self._redesign = False


class DCBlocker(Processor):
    """Removes DC and sub-sonic drift: a zero at DC and a pole that puts the corner near 10 Hz (100 Hz
    passes within 0.05 dB). No parameters."""

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self._state = np.zeros((channels, 2), dtype=np.float64)
        self._pole = 0.0

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._pole = dc_blocker_pole(self.sample_rate)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._state.fill(0.0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        dc_blocker(audio_in[0], audio_out[0], self._state, self._pole, ctx.frames)
