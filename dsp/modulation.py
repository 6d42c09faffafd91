"""LFO effects: chorus, flanger and phaser, stereo by an LFO phase offset between the channels.

Each has an LFO of ``rate_hz`` or, with ``sync`` on, one cycle per ``rate_beats`` quarter notes at the
current tempo (4: a bar of 4/4), shape ``lfo_shape`` (0 sine, 1 triangle); the right channel's LFO runs
``stereo_phase_deg`` ahead of the left. The LFO advances per sample from a free-running phase that
:meth:`reset` sets to 0, so the output does not depend on the block size. ``mix`` crossfades dry (0) to
wet (1); 0.5 gives the classic flanger and phaser notches.

- :class:`Chorus`: a delay of ``delay_ms +- depth_ms`` swept by the LFO: pitch wobble and doubling.
- :class:`Flanger`: a short delay swept over ``delay_ms .. delay_ms + depth_ms`` with ``feedback``: a comb
  whose notches sit at odd multiples of ``1 / (2 * delay)`` and move with the LFO.
- :class:`Phaser`: ``stages`` (4..12) first-order all-passes swept around ``center_hz`` by
  ``+- depth_octaves``, with ``feedback``: ``stages / 2`` notches that move with the LFO.

Build one with no arguments, set parameters with ``fx.param("rate_hz").set(0.5)``, call ``prepare`` and
then ``process`` per block. Kernels: :mod:`dsp.kernels.modulation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.delay import INTERP_HERMITE, new_line
from dsp.kernels.modulation import (
    LFO_SINE,
    LFO_TRIANGLE,
    MAX_STAGES,
    MOD_PHASE,
    MOD_STAGES,
    MOD_WRITE,
    lfo_increments,
    modulated_delay,
    new_modulation_state,
    phaser,
)
from engine.events import EventBuffer
from engine.params import ControlBlock, Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["Chorus", "Flanger", "Phaser"]


class _LfoEffect(Processor):
    """Ports, the shared LFO and mix parameters, and the per-block LFO increments."""

    in_place = True
    centered = False  # a modulated delay sweeps around its delay (chorus) or up from it (flanger)

    def __init__(self, channels: int, rate_hz: float, rate_beats: float, lfo_shape: int) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.channels = channels
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        # the first rows of modulated_delay's controls (M_*)
        self._controls = controls = ControlBlock(self)
        self._sync = controls.add("sync", 0.0, 1.0, 0.0, stepped=True)
        self._rate_hz = controls.add("rate_hz", 0.01, 10.0, rate_hz, "Hz")
        self._rate_beats = controls.add("rate_beats", 1.0 / 16.0, 64.0, rate_beats, "beats")
        self._lfo_shape = controls.add("lfo_shape", LFO_SINE, LFO_TRIANGLE, lfo_shape, stepped=True)
        self._stereo_phase_deg = controls.add("stereo_phase_deg", 0.0, 180.0, 90.0, "deg")
        self._mix = controls.add("mix", 0.0, 1.0, 0.5)
        self._state = new_modulation_state(48000.0)
        self._inc = np.zeros(1, dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate for ``sample_rate`` and blocks up to ``max_block_size``; parameters start at their set
        values."""
        super().prepare(sample_rate, max_block_size)
        self._inc = np.zeros(max(1, max_block_size), dtype=np.float64)
        self._controls.prepare(max_block_size)
        self._state = new_modulation_state(sample_rate, self.centered, INTERP_HERMITE)
        self._allocate(sample_rate)
        self.reset()

    def _allocate(self, sample_rate: float) -> None:
        pass

    def reset(self) -> None:
        """Clear the signal state and put the LFO back to phase 0."""
        super().reset()
        self._controls.touch()
        self._state[MOD_PHASE] = 0.0
        self._state[MOD_STAGES] = 0.0
        self._state[MOD_WRITE] = 0.0

    def _increments(self, ctx: BlockContext) -> np.ndarray:
        n = ctx.frames
        if n > self._inc.shape[0]:
            raise ValueError(f"block of {n} frames exceeds max_block_size {self._inc.shape[0]}")
        lfo_increments(
            self._sync.render(ctx), self._rate_hz.render(ctx), self._rate_beats.render(ctx),
            ctx.tempo_bpm, self.sample_rate, self._inc, n,
        )  # fmt: skip
        return self._inc


class _ModulatedDelay(_LfoEffect):
    """Chorus and flanger: one swept delay line per channel (``feedback`` None: none)."""

    centered = True

    def __init__(
        self,
        channels: int,
        rate_hz: float,
        rate_beats: float,
        lfo_shape: int,
        delay_ms: tuple[float, float, float],
        depth_ms: tuple[float, float, float],
        feedback: tuple[float, float, float] | None,
    ) -> None:
        """``delay_ms``, ``depth_ms`` and ``feedback`` are (min, max, default); no feedback: None."""
        super().__init__(channels, rate_hz, rate_beats, lfo_shape)
        controls = self._controls
        self._delay_ms = controls.add("delay_ms", *delay_ms, "ms")
        self._depth_ms = controls.add("depth_ms", *depth_ms, "ms")
        if feedback is None:
            controls.add_fixed(0.0)
        else:
            controls.add("feedback", *feedback)
        self._line = new_line(channels, 1.0)

    def _allocate(self, sample_rate: float) -> None:
        longest_ms = self._delay_ms.max_value + self._depth_ms.max_value
        self._line = new_line(self.channels, longest_ms * 1e-3 * sample_rate + 2.0)

    def reset(self) -> None:
        super().reset()
        self._line.fill(0.0)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Process ``ctx.frames`` samples of ``audio_in[0]`` into ``audio_out[0]``."""
        n = ctx.frames
        if n > self.max_block_size:
            # the kernel does not check bounds: refuse rather than read past the control rows
            raise ValueError(f"block of {n} frames exceeds max_block_size {self.max_block_size}")
        controls = self._controls
        ctl = controls.render(ctx) if controls.touched else controls.values  # (skips a call when still)
        modulated_delay(
            audio_in[0], audio_out[0], self._line, self._state, ctl, controls.steady, n, ctx.tempo_bpm
        )


class Chorus(_ModulatedDelay):
    """A chorus: the delay sweeps ``delay_ms +- depth_ms``; see the module docstring. Works in place.

    Parameters: ``sync`` (0/1), ``rate_hz`` (0.01..10), ``rate_beats`` (1/16..64 quarter notes per
    cycle), ``lfo_shape`` (0 sine, 1 triangle), ``stereo_phase_deg`` (0..180), ``mix`` (0..1),
    ``delay_ms`` (5..40) and ``depth_ms`` (0..4).
    """

    centered = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__(
            channels, rate_hz=0.8, rate_beats=4.0, lfo_shape=LFO_SINE, delay_ms=(5.0, 40.0, 12.0),
            depth_ms=(0.0, 4.0, 2.0), feedback=None,
        )  # fmt: skip


class Flanger(_ModulatedDelay):
    """A flanger: the delay sweeps ``delay_ms .. delay_ms + depth_ms`` with feedback; see the module
    docstring. Works in place.

    Parameters: ``sync`` (0/1), ``rate_hz`` (0.01..10), ``rate_beats`` (1/16..64), ``lfo_shape``
    (0 sine, 1 triangle), ``stereo_phase_deg`` (0..180), ``mix`` (0..1), ``delay_ms`` (0.1..10),
    ``depth_ms`` (0..10) and ``feedback`` (-0.95..0.95; negative for the hollow sound).
    """

    centered = False

    def __init__(self, channels: int = 2) -> None:
        super().__init__(
            channels, rate_hz=0.25, rate_beats=8.0, lfo_shape=LFO_TRIANGLE, delay_ms=(0.1, 10.0, 0.5),
            depth_ms=(0.0, 10.0, 3.0), feedback=(-0.95, 0.95, 0.5),
        )  # fmt: skip


class Phaser(_LfoEffect):
    """A phaser of ``stages`` first-order all-passes swept around ``center_hz``; see the module docstring.
    Works in place.

    Parameters: ``sync`` (0/1), ``rate_hz`` (0.01..10), ``rate_beats`` (1/16..64), ``lfo_shape``
    (0 sine, 1 triangle), ``stereo_phase_deg`` (0..180), ``mix`` (0..1), ``center_hz`` (50..5000),
    ``depth_octaves`` (0..4: the break frequencies swing this far either side), ``feedback``
    (-0.95..0.95) and ``stages`` (4..12).
    """

    def __init__(self, channels: int = 2) -> None:
        super().__init__(channels, rate_hz=0.4, rate_beats=8.0, lfo_shape=LFO_SINE)
        add = self.add_param
        self._center_hz = add(Parameter("center_hz", 50.0, 5000.0, 800.0, "Hz"))
        self._depth_octaves = add(Parameter("depth_octaves", 0.0, 4.0, 2.0, "octaves"))
        self._feedback = add(Parameter("feedback", -0.95, 0.95, 0.3))
        self._stages = add(Parameter("stages", 4.0, float(MAX_STAGES), 6.0, stepped=True))
        self._ap = np.zeros((channels, MAX_STAGES), dtype=np.float64)
        self._fb_state = np.zeros(channels, dtype=np.float64)

    def reset(self) -> None:
        super().reset()
        self._ap.fill(0.0)
        self._fb_state.fill(0.0)
        self._state[MOD_STAGES] = self._stages.value

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Process ``ctx.frames`` samples of ``audio_in[0]`` into ``audio_out[0]``."""
        inc = self._increments(ctx)
        phaser(
            audio_in[0], audio_out[0], self._ap, self._fb_state, self._state, inc,
            self._center_hz.render(ctx), self._depth_octaves.render(ctx), self._feedback.render(ctx),
            self._mix.render(ctx), self._stereo_phase_deg.render(ctx), self._stages.render(ctx),
            self._lfo_shape.render(ctx), ctx.frames, self.sample_rate,
        )  # fmt: skip
