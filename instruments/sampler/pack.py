"""A bank's presets and regions as the kernel's arrays (rows of :mod:`dsp.kernels.sampler.layout`).

:func:`pack_regions` resolves every region against its sample (pool indices for start, end and loop,
clamped inside the sample; a loop shorter than one frame is no loop) and lays the presets' regions out
contiguously, presets in the bank's order.

Continuous loops shorter than :data:`UNROLL_FRAMES` are unrolled once per bank: a copy of the sample
with its loop repeated until it is that long goes to the end of the pool, and the regions play the copy.
The sound is the same (the loop's content repeats exactly), but a voice wraps, and reads around a wrap,
once in thousands of samples instead of every few dozen, which is where the kernel's slow reads are. (A
sustain loop is left alone: released, it plays on into the sample's tail at once.)

The arrays are built once per bank and shared read-only by every sampler playing it, except the int64
region rows, which hold round-robin counters: each sampler takes its own copy of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.kernels.sampler import layout as L
from instruments.sampler.model import FILTER_NONE, Bank, Region, Sample

__all__ = ["PackedBank", "pack_regions"]

BASE_HZ = 8.175798915643707
UNROLL_FRAMES = 1024


@dataclass(frozen=True)
class PackedBank:
    """The kernel's view of a bank: region rows, the preset table, and the pool with its scale."""

    rf: np.ndarray  # float64 (NUM_R_ROWS, regions)
    ri: np.ndarray  # int64 (NUM_RI_ROWS, regions): copy per sampler (round-robin counters)
    presets: np.ndarray  # int64 (presets, 4)
    pool: np.ndarray
    scale: float


def _cents(hz: float) -> float:
    return 1200.0 * math.log2(max(hz, 1e-3) / BASE_HZ)


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
    """Copies of samples with short loops unrolled, appended after the pool (see the module docstring)."""

    def __init__(self, pool: np.ndarray) -> None:
        self.pool = pool
        self.size = pool.shape[0]
        self.parts: list[np.ndarray] = []
        self.made: dict[tuple[int, int, int, int], tuple[int, int]] = {}

    def remap(self, reg: Region, sample: Sample) -> tuple[int, int, int, int, int]:
        """(sample start, start, end, loop start, loop end) in the pool, in a copy if the loop is short."""
        start, end, ls, le = _bounds(reg, sample)
        length = le - ls
        if reg.loop_mode != L.LOOP_CONTINUOUS or not 0 < length < UNROLL_FRAMES:
            return sample.start, start, end, ls, le
        s0 = sample.start
        key = (s0, end, ls, le)
        if key not in self.made:
            extra = -(-UNROLL_FRAMES // length) - 1  # more copies of the loop after the first
            loop = self.pool[ls:le]
            copy = np.concatenate([self.pool[s0:le], np.tile(loop, extra), self.pool[le:end]])
            self.made[key] = (self.size, extra * length)
            self.parts.append(copy)
            self.size += copy.shape[0]
        base, grown = self.made[key]
        shift = base - s0
        return base, start + shift, end + shift + grown, ls + shift, le + shift + grown

    def pool_with_copies(self) -> np.ndarray:
        if not self.parts:
            return self.pool
        return np.concatenate([self.pool, *self.parts])


def _region_rows(
    reg: Region, sample: Sample, unroll: _Unroller, rf: np.ndarray, ri: np.ndarray, c: int
) -> None:
    s0, start, end, ls, le = unroll.remap(reg, sample)
    values = {
        L.R_START: start,
        L.R_END: end,
        L.R_LOOP_START: ls,
        L.R_LOOP_END: le,
        L.R_SAMPLE_START: s0,
        L.R_SAMPLE_RATE: sample.sample_rate,
        L.R_KEYCENTER: reg.pitch_keycenter,
        L.R_KEYTRACK: reg.pitch_keytrack_cents,
        L.R_TUNE: reg.tune_cents,
        L.R_VOLUME_DB: reg.volume_db,
        L.R_AMP_VELTRACK: reg.amp_veltrack,
        L.R_PAN: reg.pan,
        L.R_AMP_DELAY: reg.amp_delay_s,
        L.R_AMP_ATTACK: reg.amp_attack_s,
        L.R_AMP_HOLD: reg.amp_hold_s,
        L.R_AMP_DECAY: reg.amp_decay_s,
        L.R_AMP_SUSTAIN_DB: reg.amp_sustain_db,
        L.R_AMP_RELEASE: reg.amp_release_s,
        L.R_AMP_HOLD_KT: reg.amp_hold_keytrack_tc,
        L.R_AMP_DECAY_KT: reg.amp_decay_keytrack_tc,
        L.R_MOD_DELAY: reg.mod_delay_s,
        L.R_MOD_ATTACK: reg.mod_attack_s,
        L.R_MOD_HOLD: reg.mod_hold_s,
        L.R_MOD_DECAY: reg.mod_decay_s,
        L.R_MOD_SUSTAIN: reg.mod_sustain,
        L.R_MOD_RELEASE: reg.mod_release_s,
        L.R_MOD_HOLD_KT: reg.mod_hold_keytrack_tc,
        L.R_MOD_DECAY_KT: reg.mod_decay_keytrack_tc,
        L.R_MOD_TO_PITCH: reg.mod_to_pitch_cents,
        L.R_MOD_TO_FILTER: reg.mod_to_filter_cents,
        L.R_VIB_DELAY: reg.vib_delay_s,
        L.R_VIB_FREQ: reg.vib_freq_hz,
        L.R_VIB_TO_PITCH: reg.vib_to_pitch_cents,
        L.R_MODLFO_DELAY: reg.modlfo_delay_s,
        L.R_MODLFO_FREQ: reg.modlfo_freq_hz,
        L.R_MODLFO_TO_PITCH: reg.modlfo_to_pitch_cents,
        L.R_MODLFO_TO_FILTER: reg.modlfo_to_filter_cents,
        L.R_MODLFO_TO_VOLUME: reg.modlfo_to_volume_db,
        L.R_CUTOFF_CENTS: _cents(reg.cutoff_hz),
        L.R_RESONANCE_DB: reg.resonance_db,
        L.R_FIL_VELTRACK: reg.fil_veltrack_cents,
        L.R_FIL_KEYTRACK: reg.fil_keytrack_cents,
        L.R_FIL_KEYCENTER: reg.fil_keycenter,
        L.R_LORAND: reg.lorand,
        L.R_HIRAND: reg.hirand,
        L.R_REVERB: reg.reverb_send,
        L.R_CHORUS: reg.chorus_send,
    }
    for row, value in values.items():
        rf[row, c] = float(value)
    filter_type = reg.filter_type
    if filter_type != FILTER_NONE and reg.cutoff_hz <= 0:
        filter_type = FILTER_NONE
    ints = {
        L.RI_LOKEY: reg.lokey,
        L.RI_HIKEY: reg.hikey,
        L.RI_LOVEL: reg.lovel,
        L.RI_HIVEL: reg.hivel,
        L.RI_TRIGGER: reg.trigger,
        L.RI_SEQ_LENGTH: max(1, reg.seq_length),
        L.RI_SEQ_POSITION: reg.seq_position,
        L.RI_LOOP_MODE: reg.loop_mode,
        L.RI_FILTER: filter_type,
        L.RI_GROUP: reg.group,
        L.RI_OFF_BY: reg.off_by,
        L.RI_SEQ_COUNTER: 0,
    }
    for row, ivalue in ints.items():
        ri[row, c] = int(ivalue)


def pack_regions(bank: Bank) -> PackedBank:
    """The kernel arrays of ``bank`` (cached on the bank: call it as often as you like)."""
    cached = getattr(bank, "_packed", None)
    if isinstance(cached, PackedBank):
        return cached
    total = sum(len(p.regions) for p in bank.presets)
    rf = np.zeros((L.NUM_R_ROWS, max(total, 1)), dtype=np.float64)
    ri = np.zeros((L.NUM_RI_ROWS, max(total, 1)), dtype=np.int64)
    presets = np.zeros((len(bank.presets), 4), dtype=np.int64)
    c = 0
    unroll = _Unroller(bank.pool)
    for k, preset in enumerate(bank.presets):
        presets[k] = (preset.bank, preset.program, c, c + len(preset.regions))
        for reg in preset.regions:
            _region_rows(reg, bank.samples[reg.sample], unroll, rf, ri, c)
            c += 1
    scale = bank.pool_scale
    bank.pool = unroll.pool_with_copies()  # one pool still: the copies follow the samples
    packed = PackedBank(rf, ri, presets, bank.pool, scale)
    object.__setattr__(bank, "_packed", packed)
    return packed
