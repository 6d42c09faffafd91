"""A bank's presets and regions as the kernel's arrays (rows of :mod:`dsp.kernels.sampler.layout`).

:func:`pack_regions` resolves every region against its sample (pool indices for start, end and loop,
clamped inside the sample; a loop shorter than one frame is no loop) and lays the presets' regions out
contiguously, presets in the bank's order.

Continuous loops shorter than :data:`UNROLL_FRAMES` are unrolled once per bank: the loop repeated until
it is that long, between guards of its own end and start, goes to the end of the pool, and a voice that
has looped once moves into the copy at its next control update. The sound is the same (the loop's content
repeats exactly), but the voice wraps once in thousands of samples instead of every few dozen, and never
reads around a wrap, which is where the kernel's slow reads are. (A sustain loop is left alone: released,
it plays on into the sample's tail at once.)

The arrays are built once per bank and shared read-only by every sampler playing it, except the int64
region rows, which hold round-robin counters: each sampler takes its own copy of those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.kernels.sampler import layout as L
from instruments.sampler.model import FILTER_NONE, Bank, Region, Sample

__all__ = ["PackedBank", "pack_regions"]

UNROLL_FRAMES = 1024


@dataclass(frozen=True)
class PackedBank:
    """The kernel's view of a bank: region rows, the preset table, and the pool with its scale."""

    rf: np.ndarray  # float64 (NUM_R_ROWS, regions)
    ri: np.ndarray  # int64 (NUM_RI_ROWS, regions): copy per sampler (round-robin counters)
    presets: np.ndarray  # int64 (presets, 4)
    pool: np.ndarray
    scale: float


def _bounds(reg: Region, sample: Sample) -> tuple[int, int, int, int]:
    """Pool indices of a region's start, end, loop start and loop end, clamped inside its sample."""
    s0, s1 = sample.start, sample.end
    start = min(max(s0 + reg.offset, s0), max(s1 - 1, s0))
    end = s1 if reg.end is None else min(max(s0 + reg.end, start + 1), s1)
    ls = sample.loop_start if reg.loop_start is None else s0 + reg.loop_start
    le = sample.loop_end if reg.loop_end is None else s0 + reg.loop_end
    ls = min(max(ls, s0), end)
    le = min(max(le, ls), end)
    return start, end, ls, le


class _Unroller:
    """Short continuous loops unrolled into copies after the pool (see the module docstring)."""

    def __init__(self, pool: np.ndarray) -> None:
        self.pool = pool
        self.size = pool.shape[0]
        self.parts: list[np.ndarray] = []
        self.made: dict[tuple[int, int], tuple[int, int]] = {}

    def copy_of(self, reg: Region, ls: int, le: int) -> tuple[int, int]:
        """(start, end) in the pool of the loop ``ls..le`` unrolled, or (0, 0) when it is not unrolled."""
        length = le - ls
        if reg.loop_mode != L.LOOP_CONTINUOUS or not 0 < length < UNROLL_FRAMES:
            return 0, 0
        if (ls, le) not in self.made:
            repeats = -(-UNROLL_FRAMES // length)
            loop = self.pool[ls:le]
            # guards: the loop's end before the copy, its start after it (a loop shorter than a guard
            # repeats), so reads around either end of the copy need no wrapping
            reps = -(-L.COPY_GUARD // length)
            guard_before = np.tile(loop, reps)[-L.COPY_GUARD :]
            guard_after = np.tile(loop, reps)[: L.COPY_GUARD]
            copy = np.concatenate([guard_before, np.tile(loop, repeats), guard_after])
            start = self.size + L.COPY_GUARD
            self.made[(ls, le)] = (start, start + repeats * length)
            self.parts.append(copy)
            self.size += copy.shape[0]
        return self.made[(ls, le)]


# rows copied from a Region attribute as they are (the rest are computed in pack_regions)
_FLOAT_FIELDS = (
    (L.R_KEYCENTER, "pitch_keycenter"),
    (L.R_KEYTRACK, "pitch_keytrack_cents"),
    (L.R_TUNE, "tune_cents"),
    (L.R_VOLUME_DB, "volume_db"),
    (L.R_AMP_VELTRACK, "amp_veltrack"),
    (L.R_PAN, "pan"),
    (L.R_AMP_DELAY, "amp_delay_s"),
    (L.R_AMP_ATTACK, "amp_attack_s"),
    (L.R_AMP_HOLD, "amp_hold_s"),
    (L.R_AMP_DECAY, "amp_decay_s"),
    (L.R_AMP_SUSTAIN_DB, "amp_sustain_db"),
    (L.R_AMP_RELEASE, "amp_release_s"),
    (L.R_AMP_HOLD_KT, "amp_hold_keytrack_tc"),
    (L.R_AMP_DECAY_KT, "amp_decay_keytrack_tc"),
    (L.R_MOD_DELAY, "mod_delay_s"),
    (L.R_MOD_ATTACK, "mod_attack_s"),
    (L.R_MOD_HOLD, "mod_hold_s"),
    (L.R_MOD_DECAY, "mod_decay_s"),
    (L.R_MOD_SUSTAIN, "mod_sustain"),
    (L.R_MOD_RELEASE, "mod_release_s"),
    (L.R_MOD_HOLD_KT, "mod_hold_keytrack_tc"),
    (L.R_MOD_DECAY_KT, "mod_decay_keytrack_tc"),
    (L.R_MOD_TO_PITCH, "mod_to_pitch_cents"),
    (L.R_MOD_TO_FILTER, "mod_to_filter_cents"),
    (L.R_VIB_DELAY, "vib_delay_s"),
    (L.R_VIB_FREQ, "vib_freq_hz"),
    (L.R_VIB_TO_PITCH, "vib_to_pitch_cents"),
    (L.R_MODLFO_DELAY, "modlfo_delay_s"),
    (L.R_MODLFO_FREQ, "modlfo_freq_hz"),
    (L.R_MODLFO_TO_PITCH, "modlfo_to_pitch_cents"),
    (L.R_MODLFO_TO_FILTER, "modlfo_to_filter_cents"),
    (L.R_MODLFO_TO_VOLUME, "modlfo_to_volume_db"),
    (L.R_RESONANCE_DB, "resonance_db"),
    (L.R_FIL_VELTRACK, "fil_veltrack_cents"),
    (L.R_FIL_VEL_SWITCH, "fil_vel_switch"),
    (L.R_FIL_KEYTRACK, "fil_keytrack_cents"),
    (L.R_FIL_KEYCENTER, "fil_keycenter"),
    (L.R_LORAND, "lorand"),
    (L.R_HIRAND, "hirand"),
    (L.R_REVERB, "reverb_send"),
    (L.R_CHORUS, "chorus_send"),
)
_INT_FIELDS = (
    (L.RI_LOKEY, "lokey"),
    (L.RI_HIKEY, "hikey"),
    (L.RI_LOVEL, "lovel"),
    (L.RI_HIVEL, "hivel"),
    (L.RI_TRIGGER, "trigger"),
    (L.RI_SEQ_POSITION, "seq_position"),
    (L.RI_LOOP_MODE, "loop_mode"),
    (L.RI_GROUP, "group"),
    (L.RI_OFF_BY, "off_by"),
)


def pack_regions(bank: Bank) -> PackedBank:
    """The kernel arrays of ``bank`` (cached on the bank: call it as often as you like)."""
    cached = getattr(bank, "_packed", None)
    if isinstance(cached, PackedBank):
        return cached
    regions = [reg for preset in bank.presets for reg in preset.regions]
    presets = np.zeros((len(bank.presets), 4), dtype=np.int64)
    c = 0
    for k, preset in enumerate(bank.presets):
        presets[k] = (preset.bank, preset.program, c, c + len(preset.regions))
        c += len(preset.regions)
    n = max(len(regions), 1)
    rf = np.zeros((L.NUM_R_ROWS, n), dtype=np.float64)
    ri = np.zeros((L.NUM_RI_ROWS, n), dtype=np.int64)
    if regions:
        # a row at a time from the regions' attributes: far quicker than a region at a time
        for row, name in _FLOAT_FIELDS:
            rf[row] = [getattr(reg, name) for reg in regions]
        for row, name in _INT_FIELDS:
            ri[row] = [getattr(reg, name) for reg in regions]
        unroll = _Unroller(bank.pool)
        places = []
        for reg in regions:
            sample = bank.samples[reg.sample]
            start, end, ls, le = _bounds(reg, sample)
            places.append(
                (start, end, ls, le, sample.start, sample.sample_rate, *unroll.copy_of(reg, ls, le))
            )
        rows = (
            L.R_START,
            L.R_END,
            L.R_LOOP_START,
            L.R_LOOP_END,
            L.R_SAMPLE_START,
            L.R_SAMPLE_RATE,
            L.R_COPY_START,
            L.R_COPY_END,
        )
        rf[list(rows)] = np.array(places, dtype=np.float64).T
        cutoff = np.array([reg.cutoff_hz for reg in regions], dtype=np.float64)
        rf[L.R_CUTOFF_CENTS] = 1200.0 * np.log2(np.maximum(cutoff, 1e-3) / L.BASE_HZ)
        # a filter with no cutoff is no filter
        ri[L.RI_FILTER] = [FILTER_NONE if reg.cutoff_hz <= 0 else reg.filter_type for reg in regions]
        ri[L.RI_SEQ_LENGTH] = [max(1, reg.seq_length) for reg in regions]
    else:
        unroll = _Unroller(bank.pool)
    scale = bank.pool_scale
    if unroll.parts:
        # one pool still, the copies after the samples: grown in place where nothing else refers to it (no
        # second copy of a 150 MB pool, even for a moment), else copied once
        pool = bank.pool
        bank.pool = np.zeros(0, pool.dtype)
        del unroll.pool
        old = pool.shape[0]
        try:
            pool.resize(unroll.size, refcheck=True)
        except ValueError:
            pool = np.concatenate([pool, *unroll.parts])
        else:
            for part in unroll.parts:
                pool[old : old + part.shape[0]] = part
                old += part.shape[0]
        bank.pool = pool
    packed = PackedBank(rf, ri, presets, bank.pool, scale)
    object.__setattr__(bank, "_packed", packed)
    return packed
