"""Dynamics processors: a feed-forward compressor with an external sidechain, and a look-ahead limiter.

:class:`Compressor` follows Giannoulis, Massberg and Reiss (2012): level detection in dB, a quadratic soft
knee, attack/release smoothing of the gain reduction in the log domain (branching), makeup gain and a dry/wet
``mix`` for parallel compression. Its second audio input ``"sidechain"`` keys the detector when the stepped
parameter ``sidechain`` is 1. After each block ``gain_reduction_db`` holds the reduction for meters.

:class:`Limiter` is a brick-wall peak limiter: its output never exceeds ``ceiling_db``. It delays the audio
by ``lookahead_ms`` (its ``latency_samples``) so the gain is already down when a peak arrives; the kernels'
docstring (:mod:`dsp.kernels.dynamics`) says why the gain alone already guarantees the ceiling.

Build, set parameters with ``proc.param("threshold_db").set(-24.0)``, then ``prepare`` and ``process`` (the
render plan does this). Parameters that set the latency (:class:`LatencyParameter`) jump at the next block
and are never automated; the plan must be recompiled for a new latency to be compensated.
"""

from __future__ import annotations

import math

import numpy as np

from dsp.kernels.dynamics import (
    CS_METER,
    CS_MS,
    CS_SAMPLE_RATE,
    LI_LOOKAHEAD,
    LS_GAIN,
    LS_OVERSHOOT,
    LS_RELEASE,
    LS_SUM,
    NUM_LI,
    NUM_LS,
    RATIO_LIMIT,
    compress,
    limit,
)
from engine.params import ControlBlock, LatencyParameter, Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["Compressor", "Limiter"]


class Compressor(Processor):
    """Feed-forward compressor (see the module docstring), stereo-linked over ``channels`` channels.

    Parameters: ``threshold_db`` (-80..0), ``ratio`` (1..100; 100 is infinity: limiting), ``knee_db``
    (0..24, the width of the soft knee), ``attack_ms`` (0..500), ``release_ms`` (0..5000), ``makeup_db``
    (-12..36), ``mix`` (0..1: 0 dry, 1 fully compressed), ``detector`` (stepped: 0 peak, 1 RMS) and
    ``sidechain`` (stepped: 0 detect on the input, 1 on the ``sidechain`` input; with nothing connected
    there the key is silent and nothing is reduced). Works in place.
    """

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels), AudioPort("sidechain", channels))
        self.audio_outputs = (AudioPort("out", channels),)
        # in the rows compress() reads (C_*)
        self._controls = controls = ControlBlock(self)
        self.threshold_db = controls.add("threshold_db", -80.0, 0.0, -18.0, "dB")
        self.ratio = controls.add("ratio", 1.0, RATIO_LIMIT, 4.0)
        self.knee_db = controls.add("knee_db", 0.0, 24.0, 6.0, "dB")
        self.attack_ms = controls.add("attack_ms", 0.0, 500.0, 10.0, "ms")
        self.release_ms = controls.add("release_ms", 0.0, 5000.0, 150.0, "ms")
        self.makeup_db = controls.add("makeup_db", -12.0, 36.0, 0.0, "dB")
        self.mix = controls.add("mix", 0.0, 1.0, 1.0)
        self.detector = controls.add("detector", 0.0, 1.0, 0.0, stepped=True)
        self.sidechain = controls.add("sidechain", 0.0, 1.0, 0.0, stepped=True)
        self._state = np.zeros(CS_MS + channels, dtype=np.float64)
        self._work = np.zeros((2, 1), dtype=np.float64)
        self.gain_reduction = self._state[CS_METER : CS_METER + 2]
        """Written every block: ``[0]`` the reduction in dB now, ``[1]`` the block's largest (both >= 0)."""

    @property
    def gain_reduction_db(self) -> float:
        """Control side: the gain reduction in dB (>= 0) at the end of the last block."""
        return float(self.gain_reduction[0])

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._controls.prepare(max_block_size)
        self._work = np.zeros((2, max(1, max_block_size)), dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._controls.touch()
        self._state[:] = 0.0
        self._state[CS_SAMPLE_RATE] = self.sample_rate
        self.gain_reduction[:] = 0.0

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        if ctx.frames > self.max_block_size:
            # the kernel does not check bounds: refuse rather than read past the control rows
            raise ValueError(f"block of {ctx.frames} frames exceeds max_block_size {self.max_block_size}")
        controls = self._controls
        ctl = controls.render(ctx) if controls.touched else controls.values  # (skips a call when still)
        inp = audio_in[0]
        compress(
            inp, audio_in[1] if len(audio_in) > 1 else inp, audio_out[0], ctx.frames, ctl, controls.steady,
            self._state, self._work,
        )  # fmt: skip


class Limiter(Processor):
    """Look-ahead brick-wall peak limiter, stereo-linked over ``channels`` channels (module docstring).

    Parameters: ``ceiling_db`` (-24..0: the output never exceeds it), ``release_ms`` (1..2000: recovery of
    the gain after a peak has passed) and ``lookahead_ms`` (0.1..20, a :class:`LatencyParameter`: the
    audio is delayed by ``round(lookahead_ms * sample_rate / 1000)`` samples, at least 1, which
    ``latency_samples`` reports). The ceiling travels with the audio: a ceiling set or automated at a
    sample applies to that input sample when it leaves. Works in place.
    """

    in_place = True
    MAX_LOOKAHEAD_MS = 20.0

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.channels = channels
        add = self.add_param
        self.ceiling_db = add(Parameter("ceiling_db", -24.0, 0.0, -1.0, "dB"))
        self.release_ms = add(Parameter("release_ms", 1.0, 2000.0, 100.0, "ms"))
        self.lookahead_ms = add(LatencyParameter("lookahead_ms", 0.1, self.MAX_LOOKAHEAD_MS, 5.0, "ms"))
        self._allocate(1)

    def _allocate(self, max_lookahead: int) -> None:
        c = self.channels
        self._ring = np.zeros((c, max_lookahead), dtype=np.float64)
        self._ceil_ring = np.zeros(max_lookahead, dtype=np.float64)
        self._box = np.ones(max_lookahead + 1, dtype=np.float64)
        self._dq_val = np.zeros(max_lookahead + 2, dtype=np.float64)
        self._dq_idx = np.zeros(max_lookahead + 2, dtype=np.int64)
        self._fs = np.zeros(NUM_LS, dtype=np.float64)
        self._is = np.zeros(NUM_LI, dtype=np.int64)

    def _lookahead_for(self, ms: float) -> int:
        return max(1, round(ms * 1e-3 * self.sample_rate))

    @property
    def latency_samples(self) -> int:
        """The look-ahead in samples for the set ``lookahead_ms`` (0 before ``prepare``)."""
        if self.sample_rate <= 0.0:
            return 0
        return self._lookahead_for(self.lookahead_ms.value)

    @property
    def gain_reduction_db(self) -> float:
        """Control side: the gain reduction in dB (>= 0) at the end of the last block."""
        g = float(self._fs[LS_GAIN])
        return -20.0 * math.log10(g) if 0.0 < g < 1.0 else 0.0

    @property
    def clamp_overshoot_db(self) -> float:
        """How far (dB) the gain alone ever took a sample over the ceiling before the last-resort clamp
        caught it, since the last reset: 0 when the clamp never acted (rounding level at most)."""
        over = float(self._fs[LS_OVERSHOOT])
        return 20.0 * math.log10(over) if over > 1.0 else 0.0

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._allocate(self._lookahead_for(self.MAX_LOOKAHEAD_MS))
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._configure(self._lookahead_for(self.lookahead_ms.value) if self.sample_rate > 0 else 1)

    def _configure(self, lookahead: int) -> None:
        """Empty the delay line and the gain windows for a look-ahead of ``lookahead`` samples."""
        self._ring[:] = 0.0
        self._ceil_ring[:] = 0.0
        self._box[:] = 1.0
        self._fs[:] = 0.0
        self._fs[LS_SUM] = lookahead + 1.0  # the boxcar holds L + 1 unity gains
        self._fs[LS_RELEASE] = 1.0  # the release stage and the gain start at unity
        self._fs[LS_GAIN] = 1.0
        self._is[:] = 0
        self._is[LI_LOOKAHEAD] = lookahead

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        la = self._lookahead_for(self.lookahead_ms.value)
        if la != self._is[LI_LOOKAHEAD]:
            self._configure(la)  # a new look-ahead starts from an empty delay line
        ceiling = self.ceiling_db.render(ctx)
        release = self.release_ms.render(ctx)
        constant = self.ceiling_db.is_constant and self.release_ms.is_constant
        limit(
            audio_in[0], audio_out[0], ctx.frames, ceiling, release, constant, self.sample_rate,
            self._ring, self._ceil_ring, self._box, self._dq_val, self._dq_idx, self._fs, self._is,
        )  # fmt: skip
