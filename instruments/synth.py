"""The basic polyphonic subtractive synth: MIDI in, stereo audio out.

Each voice is a band-limited oscillator (saw, square, triangle, sine) into a resonant low-pass with
optional key tracking, shaped by an exponential ADSR and scaled by velocity; voices are summed to mono
and sent to both channels through the ``gain_db`` parameter (the only output gain: nothing scales with
the number of voices). Voice allocation, stealing, sustain pedal and pitch bend follow
:mod:`instruments.voices`; the signal path is :mod:`dsp.kernels.synth`.

Build one with ``PolySynth(max_voices=32)``, set parameters with ``synth.param("cutoff_hz").set(800.0)``,
call :meth:`PolySynth.prepare`, then :meth:`PolySynth.process` once per block (the render plan does all
of this). Events apply at their exact sample: a note-on at block offset ``k`` makes its first sound at
sample ``k``. Envelope, filter and waveform parameters are read once per block while they sit still, and
every 32 samples of the timeline while they are automated or ramping (on a grid fixed to the timeline, so
a render does not depend on the block size); ``gain_db`` is applied per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.synth import NUM_CACHE, NUM_W_ROWS, render_voices, render_voices_stepped, write_stereo
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import MAX_SEGMENTS, AudioPort, BlockContext, EventPort, Processor
from instruments.voices import VoicePool, apply_midi_event

__all__ = ["SUB_BLOCK", "PolySynth"]

SUB_BLOCK = 32  # samples between updates of a moving voice parameter


class PolySynth(Processor):
    """A polyphonic subtractive synth of up to ``max_voices`` notes (see the module docstring).

    Parameters: ``waveform`` (0 saw, 1 square, 2 triangle, 3 sine), ``attack_ms``, ``decay_ms``,
    ``sustain`` (0..1), ``release_ms``, ``cutoff_hz``, ``resonance`` (0..1), ``key_tracking`` (0..1: the
    cutoff follows the note by that fraction of an octave per octave, from middle C),
    ``velocity_sensitivity`` (0..1) and ``gain_db``.
    """

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)

    def __init__(self, max_voices: int = 32, *, pitch_bend_range_semitones: float = 2.0) -> None:
        super().__init__()
        self.voices = VoicePool(max_voices, pitch_bend_range_semitones)
        add = self.add_param
        self._waveform = add(Parameter("waveform", 0.0, 3.0, 0.0, stepped=True))
        self._attack_ms = add(Parameter("attack_ms", 0.0, 10000.0, 5.0, "ms"))
        self._decay_ms = add(Parameter("decay_ms", 0.0, 20000.0, 300.0, "ms"))
        self._sustain = add(Parameter("sustain", 0.0, 1.0, 0.7))
        self._release_ms = add(Parameter("release_ms", 0.0, 20000.0, 300.0, "ms"))
        self._cutoff_hz = add(Parameter("cutoff_hz", 20.0, 20000.0, 20000.0, "Hz"))
        self._resonance = add(Parameter("resonance", 0.0, 1.0, 0.0))
        self._key_tracking = add(Parameter("key_tracking", 0.0, 1.0, 0.0))
        self._velocity_sensitivity = add(Parameter("velocity_sensitivity", 0.0, 1.0, 1.0))
        self._gain_db = add(Parameter("gain_db", -60.0, 12.0, -12.0, "dB"))
        # in render_voices' argument order
        self._voice_params = (
            self._waveform,
            self._attack_ms,
            self._decay_ms,
            self._sustain,
            self._release_ms,
            self._cutoff_hz,
            self._resonance,
            self._key_tracking,
        )
        self._values = np.array([p.value for p in self._voice_params], dtype=np.float64)
        self._moving = np.zeros(len(self._voice_params), dtype=np.bool_)
        self._allocate(1)

    def _allocate(self, max_block_size: int) -> None:
        slots = self.voices.num_slots
        self._work = np.zeros((NUM_W_ROWS, slots), dtype=np.float64)
        self._slots = np.zeros((2, slots), dtype=np.int64)
        self._cache = np.full(NUM_CACHE, np.nan, dtype=np.float64)
        self._mono = np.zeros(max(1, max_block_size), dtype=np.float64)
        self._gain_still = np.zeros(1, dtype=np.float64)
        # update points of moving parameters: one per SUB_BLOCK, plus one per loop-wrap segment
        self._points = np.zeros(max(1, max_block_size) // SUB_BLOCK + 3 * MAX_SEGMENTS + 2, dtype=np.int64)
        self._num_points = 0
        self._next_point = 0
        # per-sample values of the moving voice parameters for this block (rows in _voice_params order)
        self._curve_buf = np.zeros((len(self._voice_params), max(1, max_block_size)), dtype=np.float64)

    @property
    def max_voices(self) -> int:
        """How many notes can play at once."""
        return self.voices.max_voices

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate the voice state and buffers for ``sample_rate`` and blocks up to ``max_block_size``;
        parameters start at their set values (no ramp from the defaults)."""
        super().prepare(sample_rate, max_block_size)
        self.voices.prepare(sample_rate)
        self._allocate(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Silence all voices at once and forget pedal and pitch bend."""
        super().reset()
        self.voices.reset()
        self._values[:] = [p.value for p in self._voice_params]
        self._cache.fill(np.nan)
        self._mono.fill(0.0)

    def _update_points(self, ctx: BlockContext) -> None:
        """Block offsets where moving voice parameters are read: every SUB_BLOCK samples of the timeline
        (so the result does not depend on the block size), and where a loop wrap starts a segment."""
        pts = self._points
        m = 0
        if ctx.playing:
            for k in range(ctx.num_segments):
                off = int(ctx.seg_offset[k])
                first = -int(ctx.seg_start[k]) % SUB_BLOCK
                if k > 0 and first:
                    pts[m] = off
                    m += 1
                for i in range(off + first, off + int(ctx.seg_frames[k]), SUB_BLOCK):
                    pts[m] = i
                    m += 1
        else:
            for i in range(0, ctx.frames, SUB_BLOCK):
                pts[m] = i
                m += 1
        self._num_points = m
        self._next_point = 0

    def _render_span(self, start: int, stop: int, moving: bool) -> None:
        pool = self.voices
        values = self._values
        if not moving:
            render_voices(
                pool.fst, pool.ist, self._work, self._slots, self._cache, self._mono, start, stop,
                int(values[0]), self.sample_rate, values[1], values[2], values[3], values[4], values[5],
                values[6], values[7],
            )  # fmt: skip
            return
        self._next_point = render_voices_stepped(
            pool.fst, pool.ist, self._work, self._slots, self._cache, self._mono, start, stop,
            self.sample_rate, values, self._curve_buf, self._moving, self._points, self._num_points,
            self._next_point,
        )  # fmt: skip

    def active_voice_count(self) -> int:
        """Notes playing now (at most ``max_voices``; the 3 ms fades of stolen voices are not counted)."""
        return self.voices.active_count()

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Render ``ctx.frames`` samples into ``audio_out[0]``, applying each event at its offset."""
        frames = ctx.frames
        if frames > self._mono.shape[0]:
            # the kernels do not check bounds: refuse rather than write past the buffers
            raise ValueError(f"block of {frames} frames exceeds max_block_size {self._mono.shape[0]}")
        pool = self.voices
        # voice parameters: a float while still; per-sample values while automated or ramping, read at
        # the start of every sub-block of at most SUB_BLOCK samples
        moving = False
        for k, p in enumerate(self._voice_params):
            if p.automation is None and p.current == p.value:
                if self._values[k] == p.value:
                    self._moving[k] = False
                    continue
                # settled since the last block: the value lands on the next grid point, like a ramp
                self._curve_buf[k, :frames] = p.value
            else:
                self._curve_buf[k, :frames] = p.render(ctx)
            self._moving[k] = True
            moving = True
        if moving:
            self._update_points(ctx)
        sens = self._velocity_sensitivity
        if sens.automation is None and sens.current == sens.value:
            sens_curve = None
            sensitivity = sens.value
        else:
            sens_curve = sens.render(ctx)  # each note-on takes the value at its own sample
            sensitivity = float(sens_curve[0])
        gain = self._gain_db
        if gain.automation is None and gain.current == gain.value:
            gain_db, gain_is_constant = self._gain_still, True
            gain_db[0] = gain.value
        else:
            gain_db = gain.render(ctx)
            gain_is_constant = gain.is_constant
        pos = 0
        if events_in:
            ev = events_in[0]
            for e in range(ev.count):
                offset = min(int(ev.offset[e]), frames)
                if offset > pos:
                    self._render_span(pos, offset, moving)
                    pos = offset
                if sens_curve is not None:
                    sensitivity = float(sens_curve[min(offset, frames - 1)])
                apply_midi_event(
                    pool.fst, pool.ist, pool.chan, pool.serial, pool.max_voices, int(ev.status[e]),
                    int(ev.data1[e]), int(ev.data2[e]), sensitivity, pool.pitch_bend_range_semitones,
                    pool.fade_samples,
                )  # fmt: skip
        if pos < frames:
            self._render_span(pos, frames, moving)
        write_stereo(self._mono, frames, gain_db, gain_is_constant, audio_out[0])
