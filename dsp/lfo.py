"""A low-frequency oscillator for modulation: a control signal on a one-channel audio output.

Shapes: sine, triangle, saw up, saw down, square, sample & hold and smooth random (both seeded and
stateless per cycle: cycle ``k`` always gets the same value). The rate is ``rate_hz`` or, with ``sync``
on, one cycle per ``rate_beats`` quarter notes (0.25 = a sixteenth, 4 = a bar of 4/4). While the
transport plays, a synced LFO's phase is ``(beats(t) - anchor) / rate_beats`` at timeline sample ``t``, so
it is locked to bars whatever the block size; the anchor is beat 0 until a retrigger. While stopped it
runs on at the current tempo.

Retrigger: with ``retrigger`` on, every note-on on the ``midi`` event input restarts the cycle at the
note's exact sample; :meth:`LFO.retrigger` restarts it at the start of the next block.

For the exact beat of every sample across tempo changes give the LFO the song's tempo map with
:meth:`LFO.set_tempo_map`; without one it extrapolates from the block's ``ctx.beat_pos`` and
``ctx.tempo_bpm`` (exact at a constant tempo). Synths call :func:`dsp.kernels.osc.lfo_fill` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.osc import (
    LFO_SAMPLE_HOLD,
    LFO_SAW_DOWN,
    LFO_SAW_UP,
    LFO_SINE,
    LFO_SMOOTH_RANDOM,
    LFO_SQUARE,
    LFO_TRIANGLE,
    lfo_fill,
    linear_beats,
    timeline_beats,
)
from engine.events import NOTE_ON, EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from engine.tempo import TempoMap

__all__ = ["LFO", "LFO_SHAPES"]

# shape parameter values by name (the kernel's codes)
LFO_SHAPES = {
    "sine": LFO_SINE,
    "triangle": LFO_TRIANGLE,
    "saw_up": LFO_SAW_UP,
    "saw_down": LFO_SAW_DOWN,
    "square": LFO_SQUARE,
    "sample_hold": LFO_SAMPLE_HOLD,
    "smooth_random": LFO_SMOOTH_RANDOM,
}


class LFO(Processor):
    """An LFO with a one-channel output (see the module docstring).

    Parameters: ``shape`` (stepped 0..6, see :data:`LFO_SHAPES`), ``rate_hz`` (0.01..100, default 1),
    ``sync`` (stepped 0/1), ``rate_beats`` (1/64..64 quarter notes per cycle, default 1; jumps, no
    ramp), ``phase_deg`` (0..360, added to the phase), ``retrigger`` (stepped 0/1: note-ons restart the
    cycle), ``unipolar`` (stepped 0/1: output 0..depth instead of -depth..depth) and ``depth`` (0..1).
    ``seed`` picks the random sequence of the two random shapes.
    """

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 1),)

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__()
        add = self.add_param
        self._shape = add(Parameter("shape", 0.0, float(len(LFO_SHAPES) - 1), 0.0, stepped=True))
        self._rate_hz = add(Parameter("rate_hz", 0.01, 100.0, 1.0, "Hz"))
        self._sync = add(Parameter("sync", 0.0, 1.0, 0.0, stepped=True))
        self._rate_beats = add(Parameter("rate_beats", 1.0 / 64.0, 64.0, 1.0, "beats", smoothing_ms=0.0))
        self._phase_deg = add(Parameter("phase_deg", 0.0, 360.0, 0.0, "deg"))
        self._retrigger = add(Parameter("retrigger", 0.0, 1.0, 0.0, stepped=True))
        self._unipolar = add(Parameter("unipolar", 0.0, 1.0, 0.0, stepped=True))
        self._depth = add(Parameter("depth", 0.0, 1.0, 1.0))
        self.seed = int(seed)
        self._state = np.zeros(3, dtype=np.float64)
        self._pending_retrigger = False
        self._tempo: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._allocate(1)

    def _allocate(self, max_block_size: int) -> None:
        self._beats = np.zeros(max(1, max_block_size), dtype=np.float64)
        self._offset = np.zeros(max(1, max_block_size), dtype=np.float64)

    # -- control side -----------------------------------------------------------------------------------
    def set_tempo_map(self, tempo_map: TempoMap | None) -> None:
        """Use ``tempo_map`` for the beat of every sample (exact across tempo changes and ramps); None
        goes back to extrapolating from each block's ``ctx.beat_pos`` and ``ctx.tempo_bpm``."""
        if tempo_map is None:
            self._tempo = None
            return
        pts = tempo_map.points
        beats = np.array([p.beat for p in pts], dtype=np.float64)
        bpms = np.array([p.bpm for p in pts], dtype=np.float64)
        seconds = np.array([tempo_map.beat_to_seconds(p.beat) for p in pts], dtype=np.float64)
        # slopes as TempoMap computes them: bpm per beat towards the next point on a linear ramp
        slopes = np.zeros(len(pts), dtype=np.float64)
        for i in range(len(pts) - 1):
            if pts[i].ramp == "linear":
                slopes[i] = (bpms[i + 1] - bpms[i]) / (beats[i + 1] - beats[i])
        self._tempo = (beats, seconds, bpms, slopes)

    def retrigger(self) -> None:
        """Restart the cycle at the first sample of the next block."""
        self._pending_retrigger = True

    # -- the contract -----------------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate buffers for blocks up to ``max_block_size``; parameters start at their set values."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Phase to the start of a cycle, anchor back to beat 0."""
        super().reset()
        self._state[:] = 0.0
        self._pending_retrigger = False

    def _fill_beats(self, ctx: BlockContext) -> None:
        tempo = self._tempo
        for k in range(ctx.num_segments):
            off = int(ctx.seg_offset[k])
            frames = int(ctx.seg_frames[k])
            start = int(ctx.seg_start[k])
            if tempo is None:
                bps = ctx.tempo_bpm / (60.0 * self.sample_rate)
                linear_beats(self._beats, off, frames, start, ctx.sample_pos, ctx.beat_pos, bps)
            else:
                beats, seconds, bpms, slopes = tempo
                timeline_beats(
                    self._beats, off, frames, start, self.sample_rate, beats, seconds, bpms, slopes
                )

    def _restart(self, offset: int, playing: bool) -> None:
        self._state[0] = 0.0
        self._state[1] = 0.0
        if playing:
            self._state[2] = self._beats[offset]

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        n = ctx.frames
        if n > self._beats.shape[0]:
            raise ValueError(f"block of {n} frames exceeds max_block_size {self._beats.shape[0]}")
        shape = self._shape.render(ctx)
        rate_hz = self._rate_hz.render(ctx)
        sync = self._sync.render(ctx)
        rate_beats = self._rate_beats.render(ctx)
        offset = self._offset[:n]
        np.multiply(self._phase_deg.render(ctx), 1.0 / 360.0, out=offset)
        retrig = self._retrigger.render(ctx)
        unipolar = self._unipolar.render(ctx)
        depth = self._depth.render(ctx)
        playing = bool(ctx.playing)
        if playing:
            self._fill_beats(ctx)
        bps = ctx.tempo_bpm / (60.0 * self.sample_rate)
        out = audio_out[0][0]
        state = self._state
        sr = self.sample_rate
        if self._pending_retrigger:
            self._pending_retrigger = False
            self._restart(0, playing)
        pos = 0
        if events_in:
            ev = events_in[0]
            for e in range(ev.count):
                if (ev.status[e] & 0xF0) != NOTE_ON or ev.data2[e] == 0:
                    continue
                at = min(int(ev.offset[e]), n - 1)
                if retrig[at] < 0.5:
                    continue
                if at > pos:
                    lfo_fill(
                        out, pos, at, shape, rate_hz, sync, rate_beats, offset, unipolar, depth,
                        self._beats, playing, bps, sr, state, self.seed,
                    )  # fmt: skip
                    pos = at
                self._restart(at, playing)
        if pos < n:
            lfo_fill(
                out, pos, n, shape, rate_hz, sync, rate_beats, offset, unipolar, depth, self._beats,
                playing, bps, sr, state, self.seed,
            )  # fmt: skip
