"""The polyphonic subtractive synth: MIDI in, stereo audio out.

Each note is two band-limited oscillators (saw, pulse, triangle, sine; octave, semitone and fine
detune), a sub oscillator an octave below oscillator 1 and white noise, mixed into a resonant
state-variable filter (low-, high- or band-pass) with key tracking, its own ADSR envelope and velocity
amount, shaped by an exponential amplitude ADSR and scaled by velocity. An LFO (free or retriggered per
note, in Hz or synced to the tempo in beats) moves pitch, cutoff, level and pulse width. Unison stacks up
to eight detuned voices per note, spread across the stereo field; glide, mono and legato modes and the
voice stealing policy follow :mod:`instruments.voices`. Voices are summed into a stereo pair through the
``gain_db`` parameter (the only output gain: nothing scales with the number of notes); with unison 1 both
channels are the same. The signal path is :mod:`dsp.kernels.synth`.

Build one with ``PolySynth(max_voices=32)`` (or a factory preset: :func:`instruments.synth_presets.
load_synth_preset`), set parameters with ``synth.param("cutoff_hz").set(800.0)``, call
:meth:`PolySynth.prepare`, then :meth:`PolySynth.process` once per block (the render plan does all of
this). Events apply at their exact sample: a note-on at block offset ``k`` makes its first sound at sample
``k``. Voice parameters are read once per block while they sit still, and on a 32-sample grid fixed to the
timeline while they are automated or ramping; LFO, filter envelope and glide are evaluated on the same
grid and their effect glides linearly between grid points; so a render does not depend on the block
size. ``gain_db`` is applied per sample. An event reads the parameters as they stand at its sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.synth import (
    NUM_CACHE,
    NUM_W_ROWS,
    SUB_BLOCK,
    VOICE_PARAMS,
    grid_points,
    take_points,
)
from engine.events import EventBuffer
from engine.params import Parameter, WatchedParameter, WatchFlag
from engine.processor import MAX_SEGMENTS, AudioPort, BlockContext, EventPort, Processor
from instruments.synth_block import render_block
from instruments.voices import VoicePool

__all__ = ["CHOICES", "SUB_BLOCK", "PolySynth"]

_WAVES = ("saw", "square", "triangle", "sine")
# names of the values of the stepped parameters that choose between things (presets may use them)
CHOICES: dict[str, tuple[str, ...]] = {
    "waveform": _WAVES,
    "osc2_waveform": _WAVES,
    "sub_waveform": ("sine", "square"),
    "filter_mode": ("lowpass", "highpass", "bandpass"),
    "lfo_shape": ("sine", "triangle", "saw", "square", "sample_hold"),
    "lfo_sync": ("off", "on"),
    "lfo_retrigger": ("free", "note"),
    "glide_poly": ("off", "on"),
    "voice_mode": ("poly", "mono", "legato"),
    "steal_policy": ("oldest", "quietest"),
}


class PolySynth(Processor):
    """A polyphonic subtractive synth of up to ``max_voices`` notes (see the module docstring).

    Parameters (name: range, default), all in :data:`dsp.kernels.synth.VOICE_PARAMS` plus ``gain_db``:

    - oscillator 1: ``waveform`` (0 saw, 1 square/pulse, 2 triangle, 3 sine), ``osc1_octaves`` (-3..3),
      ``osc1_semitones`` (-12..12), ``osc1_fine_cents`` (-100..100), ``osc1_level`` (0..1, 1),
      ``osc1_pulse_width`` (0.05..0.95, 0.5); oscillator 2: the same with ``osc2_`` (``osc2_waveform``;
      ``osc2_level`` 0); ``sub_waveform`` (0 sine, 1 square), ``sub_level`` (0..1, 0), ``noise_level``
      (0..1, 0).
    - filter: ``filter_mode`` (0 low-pass, 1 high-pass, 2 band-pass), ``cutoff_hz`` (20..20000),
      ``resonance`` (0..1), ``key_tracking`` (0..1: the cutoff follows the note by that fraction of an
      octave per octave, from middle C), ``filter_env_amount_octaves`` (-8..8, 0) with
      ``filter_attack_ms``, ``filter_decay_ms``, ``filter_sustain``, ``filter_release_ms``, and
      ``velocity_to_filter_octaves`` (0..8: a note at velocity v sits ``amount * (1 - v / 127)`` octaves
      lower).
    - amplitude: ``attack_ms``, ``decay_ms``, ``sustain`` (0..1), ``release_ms``,
      ``velocity_sensitivity`` (0..1), ``gain_db`` (-60..12, -12).
    - LFO: ``lfo_shape`` (0 sine, 1 triangle, 2 saw, 3 square, 4 sample and hold), ``lfo_rate_hz``
      (0.01..50), ``lfo_sync`` (1: one cycle per ``lfo_period_beats`` at ``ctx.tempo_bpm``; 0.25 is a
      sixteenth note), ``lfo_retrigger`` (0 free, 1 from each note-on), and its amounts
      ``lfo_to_pitch_cents`` (-1200..1200), ``lfo_to_cutoff_octaves`` (-8..8), ``lfo_to_amp`` (0..1,
      tremolo depth: the level dips to ``1 - depth`` at the LFO's trough), ``lfo_to_pulse_width``
      (0..0.45).
    - unison: ``unison_voices`` (1..8), ``unison_detune_cents`` (0..100: the outer voices sit that far
      above and below, the others evenly between), ``unison_spread`` (0..1: the outer voices panned that
      far left and right).
    - voices: ``glide_ms`` (0..10000), ``glide_poly`` (0/1), ``voice_mode`` (0 poly, 1 mono, 2 legato),
      ``steal_policy`` (0 oldest, 1 quietest).
    """

    event_inputs = (EventPort("midi"),)
    # a block is one kernel call that releases the GIL (instruments.synth_block): offline renders may run
    # it beside other instruments on the rack's threads
    parallel_safe = True
    audio_outputs = (AudioPort("out", 2),)

    def __init__(self, max_voices: int = 32, *, pitch_bend_range_semitones: float = 2.0) -> None:
        super().__init__()
        self.voices = VoicePool(max_voices, pitch_bend_range_semitones)
        # raised when a voice parameter is set or automated: a block in which none was skips them all
        self._watch = WatchFlag()
        # in the kernel's values order
        self._voice_params = tuple(
            self.add_param(WatchedParameter(self._watch, name, lo, hi, default, unit, stepped=stepped))
            for name, lo, hi, default, unit, stepped in VOICE_PARAMS
        )
        self._gain_db = self.add_param(Parameter("gain_db", -60.0, 12.0, -12.0, "dB"))
        self._values = np.array([p.value for p in self._voice_params], dtype=np.float64)
        self.voices.values = self._values  # events read the parameters the kernel is using
        self._moving = np.zeros(len(self._voice_params), dtype=np.bool_)
        self._no_events = EventBuffer(1)
        self._allocate(1)

    def _allocate(self, max_block_size: int) -> None:
        columns = self.voices.num_columns
        block = max(1, max_block_size)
        # rows of the scratch a little longer than a power of two apart, so the rows the voice loop walks
        # together do not all fall into the same cache set
        self._work = np.zeros((NUM_W_ROWS, columns + 8 - columns % 8 + 8), dtype=np.float64)
        self._tile = np.zeros(SUB_BLOCK * columns, dtype=np.float64)
        self._slots = np.zeros((2, columns), dtype=np.int64)
        self._cache = np.full(NUM_CACHE, np.nan, dtype=np.float64)
        self._buf = np.zeros((2, block), dtype=np.float64)
        self._gain_still = np.zeros(1, dtype=np.float64)
        # grid points: one per SUB_BLOCK, plus one per loop-wrap segment; row 1: samples to the next
        self._points = np.zeros((2, block // SUB_BLOCK + 3 * MAX_SEGMENTS + 2), dtype=np.int64)
        self._num_points = 0
        # the values of the moving voice parameters at this block's grid points
        self._curves = np.zeros((len(self._voice_params), self._points.shape[1]), dtype=np.float64)

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
        """Silence all voices at once, forget pedal, pitch bend and held keys, restart the free LFO."""
        super().reset()
        self.voices.reset()
        self._values[:] = [p.value for p in self._voice_params]
        self._moving.fill(False)
        self._watch.touched = any(p.automation is not None for p in self._voice_params)
        self._cache.fill(np.nan)
        self._buf.fill(0.0)

    def _stage_params(self, ctx: BlockContext) -> None:
        """Mark the voice parameters that move in this block and take their values at the grid points;
        a value set since the last block lands on the next grid point, like a ramp."""
        points, m = self._points, self._num_points
        busy = False
        for k, p in enumerate(self._voice_params):
            if p.automation is None and p.current == p.value:
                if self._values[k] == p.value:
                    self._moving[k] = False
                    continue
                self._curves[k, :m] = p.value
            else:
                take_points(p.render(ctx), points, m, self._curves, k)
            self._moving[k] = True
            busy = True
        if not busy:
            self._watch.touched = False  # all settled: later blocks skip this until a parameter is touched

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
        if frames > self._buf.shape[1]:
            # the kernels do not check bounds: refuse rather than write past the buffers
            raise ValueError(f"block of {frames} frames exceeds max_block_size {self._buf.shape[1]}")
        pool = self.voices
        self._num_points = grid_points(
            ctx.playing, ctx.num_segments, ctx.seg_start, ctx.seg_offset, ctx.seg_frames, frames, self._points
        )
        if self._watch.touched:
            self._stage_params(ctx)
        gain = self._gain_db
        if gain.automation is None and gain.current == gain.value:
            gain_db, gain_is_constant = self._gain_still, True
            gain_db[0] = gain.value
        else:
            gain_db = gain.render(ctx)
            gain_is_constant = gain.is_constant
        ev = events_in[0] if events_in else self._no_events
        render_block(
            pool.fst, pool.ist, pool.chan, pool.counters, pool.stack, pool.glob, self._values,
            pool.max_voices, pool.pitch_bend_range_semitones, pool.fade_samples, self._work, self._tile,
            self._slots, self._cache, self._buf, self.sample_rate, float(ctx.tempo_bpm), self._curves,
            self._moving, self._points, self._num_points, ev.count, ev.offset, ev.status, ev.data1, ev.data2,
            frames, gain_db, gain_is_constant, audio_out[0],
        )  # fmt: skip
