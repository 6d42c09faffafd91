"""A tanh saturator with 1x, 2x or 4x oversampling, so driven harmonics do not fold back as aliasing.

The signal is driven by ``drive_db`` into ``tanh`` (a soft clipper that never exceeds +-1), mixed with the
dry signal by ``mix`` and scaled by ``output_db``. With ``oversampling`` 2 or 4 the waveshaper runs at that
multiple of the sample rate between halfband FIR stages (:mod:`dsp.kernels.saturation`) whose taps are
designed here in ``prepare`` as Kaiser-windowed sincs (:func:`halfband_taps`). The filters delay the wet
path; the dry path is delayed to match and ``latency_samples`` reports it (0 / 40 / 48 samples for
1x / 2x / 4x at any rate).

Build ``Saturation()``, set ``drive_db`` etc., then ``prepare`` and ``process`` (the render plan does this).
"""

from __future__ import annotations

import numpy as np

from dsp.kernels.saturation import saturate
from engine.params import LatencyParameter, Parameter
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["STAGE1", "STAGE2", "Saturation", "halfband_taps"]

# (M, Kaiser beta) of the two halfband stages. Stage 1 (1x <-> 2x) passes 0..0.417 of the base rate (20 kHz
# at 48 kHz) within 0.0002 dB and stops from 0.583 (28 kHz: what folds onto 20..24 kHz at most) by 98 dB.
# Stage 2 (2x <-> 4x) only has to pass what stage 1 passes (to 0.583 of the base rate) and stop what would
# fold onto it (from 1.417), so its transition is wide and it is short: 0.0002 dB ripple, 95 dB stop.
STAGE1 = (40, 10.0)
STAGE2 = (16, 10.0)


def halfband_taps(m: int, beta: float) -> np.ndarray:
    """The ``2m + 1`` taps of a halfband low-pass (cutoff at a quarter of its sample rate, unity gain at
    DC): a sinc windowed by a Kaiser window of ``beta``. ``m`` must be even, so that the end taps are zeros
    and the filter's delay ``m`` makes whole samples at half the rate. Even offsets from the centre are
    exactly zero, the centre exactly 1/2, and the odd taps sum to exactly 1/2."""
    if m < 2 or m % 2:
        raise ValueError(f"a halfband's half length must be even and at least 2, got {m}")
    k = np.arange(-m, m + 1, dtype=np.float64)
    h = 0.5 * np.sinc(0.5 * k) * np.kaiser(2 * m + 1, beta)
    h[(k % 2) == 0] = 0.0
    odd = (k % 2) != 0
    h[odd] *= 0.5 / h[odd].sum()  # the odd phase's DC gain is exactly the centre phase's
    h[m] = 0.5
    return h


def _odd_taps(h: np.ndarray) -> np.ndarray:
    """The upsampler's polyphase taps ``2 h[2j + 1]`` (j = 0..m-1), contiguous for the kernels."""
    return np.ascontiguousarray(2.0 * h[1::2])


class Saturation(Processor):
    """tanh saturation with oversampling (see the module docstring) over ``channels`` channels.

    Parameters: ``drive_db`` (0..36: gain into the tanh), ``output_db`` (-36..12: gain after the mix),
    ``mix`` (0..1: 0 dry, 1 fully saturated) and ``oversampling`` (1, 2 or 4; a :class:`LatencyParameter`:
    it jumps at the next block, restarting the filters, and values in between snap to the nearest of the
    three on a log scale, so 3 is 4). Works in place.
    """

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.channels = channels
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        add = self.add_param
        self.drive_db = add(Parameter("drive_db", 0.0, 36.0, 6.0, "dB"))
        self.output_db = add(Parameter("output_db", -36.0, 12.0, 0.0, "dB"))
        self.mix = add(Parameter("mix", 0.0, 1.0, 1.0))
        self.oversampling = add(LatencyParameter("oversampling", 1.0, 4.0, 2.0, choices=(1.0, 2.0, 4.0)))
        self._taps1 = _odd_taps(halfband_taps(*STAGE1))
        self._taps2 = _odd_taps(halfband_taps(*STAGE2))
        self._factor = 0  # the factor the filter state is set up for (0: none yet)
        self._latency = 0
        self._allocate(1)

    @staticmethod
    def latency_for(factor: int) -> int:
        """Samples of delay at the base rate for an oversampling ``factor`` (1, 2 or 4)."""
        if factor == 1:
            return 0
        if factor == 2:
            return STAGE1[0]
        return STAGE1[0] + STAGE2[0] // 2

    @property
    def latency_samples(self) -> int:
        """The filters' delay for the set ``oversampling``, in samples at the processor's rate."""
        return self.latency_for(int(self.oversampling.value))

    def _allocate(self, max_block_size: int) -> None:
        c, n = self.channels, max(1, max_block_size)
        m1, m2 = STAGE1[0], STAGE2[0]
        self._up1 = np.zeros((c, m1), dtype=np.float64)
        self._up2 = np.zeros((c, m2), dtype=np.float64)
        self._down2_even = np.zeros((c, m2 // 2), dtype=np.float64)
        self._down2_odd = np.zeros((c, m2), dtype=np.float64)
        self._down1_even = np.zeros((c, m1 // 2), dtype=np.float64)
        self._down1_odd = np.zeros((c, m1), dtype=np.float64)
        self._dry_hist = np.zeros((c, self.latency_for(4)), dtype=np.float64)
        self._x = np.zeros(n, dtype=np.float64)
        self._dry = np.zeros(n, dtype=np.float64)
        self._fast2 = np.zeros(2 * n, dtype=np.float64)
        self._fast4 = np.zeros(4 * n, dtype=np.float64)
        self._scratch = np.zeros(max(m1, m2) + 4 * n, dtype=np.float64)
        self._scratch2 = np.zeros(max(m1, m2) + 4 * n, dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Design nothing new (the taps do not depend on the rate); allocate buffers for 4x."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._configure(int(self.oversampling.value))

    def _configure(self, factor: int) -> None:
        """Empty every filter and the dry delay for ``factor``."""
        for a in (self._up1, self._up2, self._down2_even, self._down2_odd, self._down1_even, self._down1_odd):
            a[:] = 0.0
        self._dry_hist[:] = 0.0
        self._factor = factor
        self._latency = self.latency_for(factor)

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        factor = int(self.oversampling.value)
        if factor != self._factor:
            self._configure(factor)  # the latency changes: start the filters empty
        drive = self.drive_db.render(ctx)
        level = self.output_db.render(ctx)
        mix = self.mix.render(ctx)
        constant = self.drive_db.is_constant and self.output_db.is_constant and self.mix.is_constant
        saturate(
            audio_in[0], audio_out[0], ctx.frames, factor, drive, level, mix, constant,
            self._taps1, self._taps2, self._up1, self._up2, self._down2_even, self._down2_odd,
            self._down1_even, self._down1_odd, self._dry_hist, self._latency,
            self._x, self._dry, self._fast2, self._fast4, self._scratch, self._scratch2,
        )  # fmt: skip
