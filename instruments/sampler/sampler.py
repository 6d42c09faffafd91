"""The sampler: a bank of samples (SoundFont, SFZ, WAV folder or drum kit) played from MIDI, stereo out.

``Sampler(bank)`` plays all 16 MIDI channels of its event input, each with its own preset (program change
and bank select), controllers and keys, as a General MIDI player does: channel 10 plays the drum bank
(128) when the bank has one. Single instruments (SFZ, WAV folders, kits) have one preset, which every
channel plays. What a note does is set out in :mod:`dsp.kernels.sampler.events`; how a voice sounds in
:mod:`dsp.kernels.sampler.voice`.

Parameters: ``gain_db`` (-60..24, 0; smoothed) and ``interpolation`` (stepped: 0 linear, 1 cubic Hermite,
the default, 2 windowed sinc, 16 taps). Options: ``max_voices`` (1..1024, 128; past it, notes steal with a
5 ms fade), ``program`` and ``bank_number`` (the preset every channel starts on), ``sends`` (adds two
stereo outputs, ``reverb`` and ``chorus``, carrying each voice times its region's and channel's send
amounts).

Build one with :func:`instruments.sampler.load_sampler` (or ``Sampler(load_bank(path))``); the render
plan calls :meth:`prepare` and then :meth:`process` once per block, a single compiled call that applies
each event at its sample offset. The bank's pool is shared by every sampler playing it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsp.kernels.sampler import layout as L
from dsp.kernels.sampler import make_sinc_table, program_change, render_block, reset_channels, stop_all
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from instruments.sampler.model import Bank
from instruments.sampler.pack import pack_regions

__all__ = ["INTERPOLATIONS", "MAX_VOICES", "Sampler", "sampler_parameters"]

MAX_VOICES = 1024
MIN_TAILS = 16  # spare columns for voices fading out after a steal or choke
INTERPOLATIONS = {"linear": L.INTERP_LINEAR, "cubic": L.INTERP_CUBIC, "sinc": L.INTERP_SINC}
_SINC = make_sinc_table()


def sampler_parameters() -> tuple[Parameter, Parameter]:
    """A sampler's parameters, new: ``gain_db`` and ``interpolation`` (0 linear, 1 cubic, 2 sinc)."""
    return (
        Parameter("gain_db", -60.0, 24.0, 0.0, "dB"),
        Parameter("interpolation", 0, 2, INTERPOLATIONS["cubic"], stepped=True),
    )


class Sampler(Processor):
    """Plays ``bank`` from MIDI on all 16 channels (see the module docstring)."""

    event_inputs = (EventPort("midi"),)
    parallel_safe = True  # its kernels release the GIL: offline renders may run it beside others

    def __init__(
        self,
        bank: Bank,
        max_voices: int = 128,
        program: int = 0,
        bank_number: int = 0,
        interpolation: str = "cubic",
        sends: bool = False,
    ) -> None:
        super().__init__()
        if (
            isinstance(max_voices, bool)
            or not isinstance(max_voices, int)
            or not 1 <= max_voices <= MAX_VOICES
        ):
            raise ValueError(f"max_voices must be an integer in 1..{MAX_VOICES}, got {max_voices!r}")
        for name, value, hi in (("program", program, 127), ("bank_number", bank_number, 16383)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
                raise ValueError(f"{name} must be an integer in 0..{hi}, got {value!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}"
            )
        if not bank.presets:
            raise ValueError(f"{bank.path}: the bank has no presets to play")
        self.bank = bank
        self.max_voices = max_voices
        self.program = program
        self.bank_number = bank_number
        self.sends = bool(sends)
        outputs = [AudioPort("out", 2)]
        if self.sends:
            outputs += [AudioPort("reverb", 2), AudioPort("chorus", 2)]
        self.audio_outputs = tuple(outputs)
        self.gain_db, self.interpolation = (self.add_param(p) for p in sampler_parameters())
        self.interpolation.set(INTERPOLATIONS[interpolation])
        packed = pack_regions(bank)
        self._packed = packed
        self._ri = packed.ri.copy()  # round-robin counters are this sampler's own
        columns = max_voices + max(MIN_TAILS, max_voices // 4)
        self._vf = np.zeros((L.NUM_V_ROWS, columns), dtype=np.float64)
        self._vi = np.zeros((L.NUM_VI_ROWS, columns), dtype=np.int64)
        self._cf = np.zeros((L.NUM_C_ROWS, L.NUM_CHANNELS), dtype=np.float64)
        self._ci = np.zeros((L.NUM_CI_ROWS, L.NUM_CHANNELS), dtype=np.int64)
        self._keys = np.zeros((3, L.NUM_CHANNELS, 128), dtype=np.int64)
        self._misc = np.zeros(L.NUM_MISC, dtype=np.int64)
        self._empty = EventBuffer(1)
        self._buf = np.zeros((6, 1), dtype=np.float64)
        self._dummy = np.zeros((2, 1), dtype=np.float32)
        self._fade_samples = 240.0
        self.reset()

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate the scratch buffer for blocks up to ``max_block_size``; every voice silent."""
        super().prepare(sample_rate, max_block_size)
        self._buf = np.zeros((6, max(1, max_block_size)), dtype=np.float64)
        self._fade_samples = max(1.0, L.FADE_MS * 1e-3 * sample_rate)
        self.reset()

    def reset(self) -> None:
        """Silence every voice, return every channel to its first preset and default controllers."""
        super().reset()
        self._vf.fill(0.0)
        self._vi.fill(0)
        self._ri[L.RI_SEQ_COUNTER] = 0
        self._misc[L.M_SERIAL] = 0
        self._misc[L.M_RANDOM] = 1
        presets = self._packed.presets
        reset_channels(presets, self._cf, self._ci, self._keys, self.program)
        if self.bank_number:  # every channel but the drums starts in the chosen bank
            number = self.bank_number
            # as bank select would give it: MSB alone below 128 and for whole multiples of 128 (the kernel
            # reads MSB * 128 + LSB only when the LSB is set)
            msb, lsb = (number // 128, number % 128) if number % 128 else (number, 0)
            for ch in range(L.NUM_CHANNELS):
                if ch != L.DRUM_CHANNEL:
                    self._ci[L.CI_BANK_MSB, ch] = msb
                    self._ci[L.CI_BANK_LSB, ch] = lsb
                    program_change(presets, self._ci, ch, self.program)

    def active_voice_count(self) -> int:
        """Voices sounding now, not counting those fading out after a steal or choke."""
        stage = self._vi[L.VI_STAGE]
        return int(np.count_nonzero((stage != L.STAGE_IDLE) & (stage != L.STAGE_FADE)))

    def all_sound_off(self) -> None:
        """Fade every voice out within 5 ms (the control side's panic; events do it in the audio side)."""
        stop_all(self._vf, self._vi, self._fade_samples)

    def preset_of_channel(self, channel: int) -> tuple[int, int, str] | None:
        """(bank, program, name) of the preset a channel plays now, or None."""
        p = int(self._ci[L.CI_PRESET, channel])
        if p < 0:
            return None
        preset = self.bank.presets[p]
        return preset.bank, preset.program, preset.name

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Render ``ctx.frames`` samples, starting and stopping voices at their events' offsets."""
        frames = ctx.frames
        if frames > self._buf.shape[1]:
            raise ValueError(f"block of {frames} frames exceeds max_block_size {self._buf.shape[1]}")
        if frames <= 0:
            return
        gain = self.gain_db.render(ctx)
        ev = events_in[0] if events_in else self._empty
        count = ev.count if events_in else 0
        packed = self._packed
        out = audio_out[0]
        rev = audio_out[1] if self.sends else self._dummy
        cho = audio_out[2] if self.sends else self._dummy
        render_block(
            packed.pool, packed.scale, packed.rf, self._ri, packed.presets, self._vf, self._vi, self._cf,
            self._ci, self._keys, self._misc, _SINC, int(self.interpolation.render(ctx)[0]), self.max_voices,
            self._fade_samples, self.sample_rate, ev.offset, ev.status, ev.data1, ev.data2, count, frames,
            self._buf, gain, self.gain_db.is_constant, out, self.sends, rev, cho,
        )  # fmt: skip
