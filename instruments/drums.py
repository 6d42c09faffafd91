"""The drum machine: analog-style drums synthesized on the General MIDI drum map, MIDI in, stereo out.

It answers the notes of :data:`instruments.drum_map.DRUM_NOTES` on every channel: 35/36 kick, 37 side
stick, 38/40 snare, 39 clap, 42 closed, 44 pedal and 46 open hi-hat (one choke group: a closed or pedal
hat silences a ringing open one), 41/43/45/47/48/50 toms from low to high, 49/57 crash, 51/59 ride, 53
ride bell, 54 tambourine, 56 cowbell and 75 claves; other notes make no sound and take no voice. Drums
are one-shots: note-offs are ignored, and a new hit on a note fades out that note's ringing drum in 6 ms.
The kick is a sine whose pitch sweeps down to ``kick_tune_hz``, with a click; the snare a tuned body of
two sines plus filtered noise; hats and cymbals a cluster of six detuned squares through band-pass and
high-pass filters; the clap repeated noise bursts; the toms pitched sines that drop in pitch
(:mod:`dsp.kernels.drums`). Velocity sets the level (square law, ``velocity_sensitivity``) and the
brightness, so the dynamics of the notes come through.

Build one with ``DrumMachine(max_voices=16)``, set parameters with ``drums.param("kick_tune_hz").set(55)``,
call :meth:`DrumMachine.prepare`, then :meth:`DrumMachine.process` once per block (the render plan does
all of this); a song names it as ``instrument: {type: drums, params: {...}}``. A note-on at block offset
``k`` makes its first sound at sample ``k`` and reads the parameters as they stand at that sample, so a
render does not depend on the block size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.drums import DRUM_PARAMS, I_STAGE, NUM_F_ROWS, NUM_I_ROWS, STAGE_PLAYING, render_block
from engine.events import EventBuffer
from engine.params import ControlBlock
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from instruments.drum_map import note_tables

__all__ = ["MAX_VOICES", "DrumMachine"]

MAX_VOICES = 256
MIN_TAILS = 8  # columns beyond max_voices for drums fading out (choked, retriggered, stolen)


class DrumMachine(Processor):
    """A synthesized drum kit of up to ``max_voices`` sounding drums (see the module docstring).

    Parameters (name: range, default; decay times are the time a drum takes to fall 60 dB from the hit):

    - kick: ``kick_tune_hz`` (30..120, 50: where the sweep ends), ``kick_sweep_semitones`` (0..48, 24:
      how far above that it starts), ``kick_sweep_ms`` (1..500, 60: the sweep's distance to the end falls
      60 dB in this time), ``kick_decay_ms`` (50..3000, 500), ``kick_click`` (0..1, 0.4).
    - snare: ``snare_tune_hz`` (100..400, 185), ``snare_tone`` (0..1, 0.5: the wires' low-pass, 3 to
      12 kHz), ``snare_snappy`` (0..1, 0.6: wires against body), ``snare_decay_ms`` (30..1500, 220; the
      body takes half of it). Clap: ``clap_decay_ms`` (50..2000, 300: the tail after three bursts).
    - hats: ``hat_tone`` (0..1, 0.5: band-pass centre 7 to 12 kHz), ``hat_decay_ms`` (10..1000, 70: the
      closed hat; the pedal hat 0.7 times this), ``open_hat_decay_ms`` (50..4000, 500).
    - toms: ``tom_tune_semitones`` (-12..12, 0), ``tom_decay_ms`` (50..3000, 400). Cymbals:
      ``cymbal_decay_ms`` (200..8000, 1800: crash), ``ride_decay_ms`` (200..8000, 2200; the bell half).
    - levels: ``kick_level_db``, ``snare_level_db``, ``clap_level_db``, ``hat_level_db``,
      ``tom_level_db``, ``cymbal_level_db`` (crash, ride, bell), ``perc_level_db`` (side stick, cowbell,
      tambourine, claves), each -60..12, 0.
    - ``velocity_sensitivity`` (0..1, 1: a velocity v plays at ``1 - s + s (v / 127)**2``),
      ``stereo_spread`` (0..1, 0.5: 0 centres every drum, 1 pans hats, toms and cymbals across the kit),
      ``drive`` (0..1, 0: blends in the kit pushed 24 dB into a tanh soft clip, 12 dB of it taken back),
      ``gain_db`` (-60..12, -6).
    """

    event_inputs = (EventPort("midi"),)
    parallel_safe = True  # its kernels release the GIL: offline renders may run it beside others
    audio_outputs = (AudioPort("out", 2),)

    def __init__(self, max_voices: int = 16) -> None:
        super().__init__()
        if isinstance(max_voices, bool) or not isinstance(max_voices, int) or not 1 <= max_voices <= 256:
            raise ValueError(f"max_voices must be an integer in 1..{MAX_VOICES}, got {max_voices!r}")
        self.max_voices = max_voices
        self.num_columns = max_voices + max(max_voices, MIN_TAILS)
        self._controls = controls = ControlBlock(self)
        for name, lo, hi, default, unit, stepped in DRUM_PARAMS:
            controls.add(name, lo, hi, default, unit, stepped=stepped)
        self._kinds, self._variants = note_tables()
        self._counters = np.zeros(1, dtype=np.int64)
        self._empty = EventBuffer(1)
        self._allocate(1)

    def _allocate(self, max_block_size: int) -> None:
        self._fst = np.zeros((NUM_F_ROWS, self.num_columns), dtype=np.float64)
        self._ist = np.zeros((NUM_I_ROWS, self.num_columns), dtype=np.int64)
        self._buf = np.zeros((2, max(1, max_block_size)), dtype=np.float64)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate the voice state and buffers for blocks up to ``max_block_size``; parameters start at
        their set values."""
        super().prepare(sample_rate, max_block_size)
        self._allocate(max_block_size)
        self._controls.prepare(max_block_size)
        self.reset()

    def reset(self) -> None:
        """Silence every drum at once and restart the note counter (which seeds the noise)."""
        super().reset()
        self._controls.touch()
        self._fst.fill(0.0)
        self._ist.fill(0)
        self._counters.fill(0)

    def active_voice_count(self) -> int:
        """Drums sounding now, not counting those fading out after a choke, retrigger or steal."""
        return int(np.count_nonzero(self._ist[I_STAGE] == STAGE_PLAYING))

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Render ``ctx.frames`` samples into ``audio_out[0]``, starting each drum at its event's offset."""
        frames = ctx.frames
        if frames > self._buf.shape[1]:
            # the kernel does not check bounds: refuse rather than write past the buffers
            raise ValueError(f"block of {frames} frames exceeds max_block_size {self._buf.shape[1]}")
        if frames <= 0:
            return
        controls = self._controls
        ctl = controls.render(ctx) if controls.touched else controls.values
        ev = events_in[0] if events_in else self._empty
        count = ev.count if events_in else 0
        render_block(
            self._fst, self._ist, self._counters, self._kinds, self._variants, self.max_voices, ctl,
            controls.steady, ev.offset, ev.status, ev.data1, ev.data2, count, frames, self.sample_rate,
            self._buf, audio_out[0],
        )  # fmt: skip
