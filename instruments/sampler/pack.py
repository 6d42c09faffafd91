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

import math
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


def _cents(hz: float) -> float:
    return 1200.0 * math.log2(max(hz, 1e-3) / L.BASE_HZ)


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


def _region_rows(
    reg: Region, sample: Sample, unroll: _Unroller, rf: np.ndarray, ri: np.ndarray, c: int
) -> None:
    start, end, ls, le = _bounds(reg, sample)
    s0 = sample.start
    copy_start, copy_end = unroll.copy_of(reg, ls, le)
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
        L.R_FIL_VEL_SWITCH: reg.fil_vel_switch,
        L.R_FIL_KEYTRACK: reg.fil_keytrack_cents,
        L.R_FIL_KEYCENTER: reg.fil_keycenter,
        L.R_LORAND: reg.lorand,
        L.R_HIRAND: reg.hirand,
        L.R_REVERB: reg.reverb_send,
        L.R_CHORUS: reg.chorus_send,
        L.R_COPY_START: copy_start,
        L.R_COPY_END: copy_end,
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
