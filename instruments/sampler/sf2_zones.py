"""The SF2.04 generator model: a SoundFont's preset and instrument zones flattened into :class:`Region` s.

:func:`flatten_presets` takes the hydra tables :mod:`instruments.sampler.sf2` has read and checked
(every bag and generator index already known to be in range) and returns the bank's presets. An
instrument zone's generators override its instrument's global zone, which overrides the defaults; a
preset zone's (over its preset's global zone) are added to them, except key and velocity ranges, which
intersect, and generators only instruments may set, which are ignored. Summed values are clamped to the
spec's limits and converted to the units :class:`Region` names.

Next: :func:`instruments.sampler.sf2.read_soundfont` is the entry point; this module has no other caller.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from instruments.errors import SampleFileError
from instruments.sampler.model import (
    FILTER_LP2,
    LOOP_CONTINUOUS,
    LOOP_SUSTAIN,
    NO_LOOP,
    Preset,
    Region,
    Sample,
)
from instruments.sampler.sf2_tables import (
    DEFAULT_MODULATORS,
    DEFAULTS,
    GEN,
    INSTRUMENT_ONLY,
    LIMITS,
    N_GENS,
    RANGE_GENS,
    UNUSED_GENS,
)

__all__ = ["Warnings", "flatten_presets", "record_name"]

_KEYRANGE, _VELRANGE = GEN["keyRange"], GEN["velRange"]
_INSTRUMENT, _SAMPLE_ID = GEN["instrument"], GEN["sampleID"]
_FULL = (0, 127)
_LOOP_MODES = (NO_LOOP, LOOP_CONTINUOUS, NO_LOOP, LOOP_SUSTAIN)  # sampleModes 0..3
_FILTER_OPEN = 13500  # initialFilterFc at or above this: the filter is open and velocity leaves it so
_VEL_FILTER_CENTS = 2400  # the default velocity -> cutoff modulator's depth (SF2.04 §8.4.2)
_VEL_FILTER_SWITCH = 64  # ... and the velocity its switch source turns on at
_ATTENUATION_FACTOR = 0.4
_G = GEN
# an instrument zone ready to pair with preset zones: (generators, key range, velocity range, sample,
# (amp_veltrack, velocity -> cutoff cents))
_IZone = tuple[dict[int, int], tuple[int, int], tuple[int, int], int, tuple[float, float]]


class Warnings:
    """A file's warnings: the first few of each kind spelled out, the rest counted in one line."""

    SHOWN = 5

    def __init__(self, path: str) -> None:
        self.path = path
        self._kinds: dict[str, list[str]] = {}
        self._more: Counter[str] = Counter()

    def add(self, kind: str, message: str) -> None:
        shown = self._kinds.setdefault(kind, [])
        if len(shown) < self.SHOWN:
            shown.append(message)
        else:
            self._more[kind] += 1

    def messages(self) -> list[str]:
        out = []
        for kind, shown in self._kinds.items():
            out += [f"{self.path}: {m}" for m in shown]
            if self._more[kind]:
                out.append(f"{self.path}: ... and {self._more[kind]} more like the last")
        return out


def record_name(raw: bytes) -> str:
    """A 20-byte name field as text: up to the first NUL, Latin-1, trimmed."""
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def flatten_presets(
    t: dict[str, np.ndarray], samples: list[Sample], sample_map: list[int], warn: Warnings
) -> list[Preset]:
    """Every preset (terminal record dropped), sorted by (bank, program), with its flat regions."""
    return _Flattener(t, samples, sample_map, warn).presets()


class _Flattener:
    """The hydra tables as Python lists (one conversion each), walked preset by preset."""

    def __init__(
        self, t: dict[str, np.ndarray], samples: list[Sample], sample_map: list[int], warn: Warnings
    ) -> None:
        self.samples, self.sample_map, self.warn = samples, sample_map, warn
        self.phdr, self.inst = t["phdr"].tolist(), t["inst"].tolist()
        self.pgen, self.igen = t["pgen"].tolist(), t["igen"].tolist()
        self.pbag, self.ibag = t["pbag"].tolist(), t["ibag"].tolist()
        self.pmod, self.imod = t["pmod"].tolist(), t["imod"].tolist()
        self.stats: Counter[str] = Counter()
        self.floats: dict[float, float] = {}  # see _region
        self.instruments: dict[int, list[_IZone]] = {}

    def presets(self) -> list[Preset]:
        out = []
        phdr, n_inst = self.phdr, len(self.inst) - 1
        for p in range(len(phdr) - 1):
            raw, program, bank, bag0 = phdr[p][:4]
            pglobal, pzones = _zones(self.pgen, self.pbag, bag0, phdr[p + 1][3], _INSTRUMENT, self.stats)
            regions = []
            for local, ref, _ in pzones:
                if ref >= n_inst:
                    raise SampleFileError(f"{self.warn.path}: preset '{record_name(raw)}' uses instrument "
                                          f"{ref}, the font has {n_inst}")  # fmt: skip
                if ref not in self.instruments:
                    self.instruments[ref] = self._instrument(ref)
                zone = {**pglobal, **local}
                pk, pv = _range(zone.pop(_KEYRANGE, None)), _range(zone.pop(_VELRANGE, None))
                for k in [k for k in zone if k in INSTRUMENT_ONLY]:
                    del zone[k]
                    self.stats["preset-only"] += 1
                for gens, ik, iv, sidx, vel in self.instruments[ref]:
                    klo, khi = max(pk[0], ik[0]), min(pk[1], ik[1])
                    vlo, vhi = max(pv[0], iv[0], 1), min(pv[1], iv[1])  # velocity 0 is a note-off
                    if klo <= khi and vlo <= vhi:
                        s = self.samples[sidx]
                        regions.append(_region(gens, zone, sidx, s, (klo, khi, vlo, vhi), vel, self))
            out.append(Preset(record_name(raw), bank, program, regions))
        out.sort(key=lambda pr: (pr.bank, pr.program))
        self._report()
        return out

    def _instrument(self, i: int) -> list[_IZone]:
        """An instrument's zones: generators over its global zone, ranges, sample, velocity overrides."""
        inst, stats, sample_map = self.inst, self.stats, self.sample_map
        glob, local = _zones(self.igen, self.ibag, inst[i][1], inst[i + 1][1], _SAMPLE_ID, stats)
        gmods = self._mods(inst[i][1]) if glob else []
        out = []
        for zone, ref, bag in local:
            if ref >= len(sample_map):
                raise SampleFileError(f"{self.warn.path}: instrument '{record_name(inst[i][0])}' uses "
                                      f"sample {ref}, the font has {len(sample_map)}")  # fmt: skip
            if sample_map[ref] < 0:
                stats["no-sample"] += 1
                continue
            merged = {**glob, **zone}
            keys, vels = _range(merged.pop(_KEYRANGE, None)), _range(merged.pop(_VELRANGE, None))
            if merged.get(_G["keynum"], -1) >= 0 or merged.get(_G["velocity"], -1) >= 0:
                stats["fixed"] += 1
            out.append((merged, keys, vels, sample_map[ref], _velocity_mods(gmods + self._mods(bag))))
        return out

    def _mods(self, bag: int) -> list[tuple[int, int, int, int, int]]:
        return self.imod[self.ibag[bag][1] : self.ibag[bag + 1][1]]

    def _report(self) -> None:
        notes = {
            "unknown": "generators with unknown or reserved numbers ignored",
            "preset-only": "preset zone generators only instruments may set ignored (SF2.04 §8.1.2)",
            "fixed": "zones set keynum or velocity (a fixed key or velocity): not played, the note's own is",
            "no-sample": "instrument zones use a sample that was skipped; they do not sound",
            "no-loop": "zones ask for a loop their sample does not have; played without one",
        }
        for kind, text in notes.items():
            if self.stats[kind]:
                self.warn.add(kind, f"{self.stats[kind]} {text}")
        # the last record of each table is the terminal one; an amount of 0 changes nothing, and the
        # velocity overrides an instrument makes are played (_velocity_mods)
        custom = sum(m not in DEFAULT_MODULATORS and m[2] != 0 for m in self.pmod[:-1])
        custom += sum(
            m not in DEFAULT_MODULATORS and m[2] != 0 and _velocity_mod(m) is None for m in self.imod[:-1]
        )
        if custom:
            self.warn.add("modulators", f"{custom} custom modulators are not played")


def _velocity_mod(m: tuple[int, int, int, int, int]) -> tuple[str, float] | None:
    """A modulator that overrides a default velocity modulator (SF2.04 §8.4.1-2, §9.5.1): what it sets.

    Fonts turn the velocity -> cutoff default off with an amount of 0, spelling its amount source either
    as none (SF2.04) or as a velocity switch (SF2.01's text); both are taken."""
    src, dest, amount, amt_src, trans = m
    if trans:
        return None
    if src == 0x0502 and dest == _G["initialAttenuation"] and amt_src == 0:
        return "amp", amount / 960.0
    if (
        dest == _G["initialFilterFc"]
        and amt_src in (0, 0x0C02, 0x0D02)
        and (src == 0x0102 or (amount == 0 and src & 0xFF == 0x02))
    ):
        return "filter", float(-amount)
    return None


def _velocity_mods(mods: list[tuple[int, int, int, int, int]]) -> tuple[float, float]:
    """(amp_veltrack, velocity -> cutoff depth in cents) of an instrument zone; a local modulator (later
    in the list) overrides the global zone's."""
    found = {"amp": 1.0, "filter": float(_VEL_FILTER_CENTS)}
    for m in mods:
        if (hit := _velocity_mod(m)) is not None:
            found[hit[0]] = hit[1]
    return found["amp"], found["filter"]


def _range(amount: int | None) -> tuple[int, int]:
    if amount is None:
        return _FULL
    return amount & 0xFF, min((amount >> 8) & 0xFF, 127)


def _zones(
    gens: list[tuple[int, int]],
    bags: list[tuple[int, int]],
    bag0: int,
    bag1: int,
    terminal: int,
    stats: Counter[str],
) -> tuple[dict[int, int], list[tuple[dict[int, int], int, int]]]:
    """(global zone, [(local zone, what its terminal generator points at, bag)]) of bags bag0..bag1."""
    glob: dict[int, int] = {}
    local = []
    other = _SAMPLE_ID if terminal == _INSTRUMENT else _INSTRUMENT
    for j in range(bag0, bag1):
        zone: dict[int, int] = {}
        ref = -1
        for oper, amount in gens[bags[j][0] : bags[j + 1][0]]:
            if oper == terminal:
                ref = amount & 0xFFFF
                break  # the terminal generator is last; anything after it is ignored
            if oper >= N_GENS or oper in UNUSED_GENS or oper == other:
                stats["unknown"] += 1
                continue
            zone[oper] = amount & 0xFFFF if oper in RANGE_GENS else amount
        if ref >= 0:
            local.append((zone, ref, j))
        elif j == bag0:
            glob = zone  # only the first zone may be global; a later zone without a target is ignored
    return glob, local


def _tc_seconds(tc: int) -> float:
    return 0.0 if tc <= -12000 else 2.0 ** (tc / 1200.0)


def _abs_hz(cents: int | float) -> float:
    return 8.176 * 2.0 ** (cents / 1200.0)


def _clip(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def _region(
    inst: dict[int, int],
    preset: dict[int, int],
    sidx: int,
    s: Sample,
    ranges: tuple[int, int, int, int],
    vel: tuple[float, float],
    ctx: _Flattener,
) -> Region:
    """One voice's region: instrument values plus preset values, clamped, in the model's units."""
    w = DEFAULTS.copy()
    for k, v in inst.items():
        w[k] = v
    for k, v in preset.items():
        w[k] += v
    for k in inst.keys() | preset.keys():
        if (lim := LIMITS.get(k)) is not None:
            w[k] = _clip(w[k], *lim)
    g = _G
    n = s.end - s.start
    offset = _clip(w[g["startAddrsOffset"]] + 32768 * w[g["startAddrsCoarseOffset"]], 0, n)
    end = _clip(n + w[g["endAddrsOffset"]] + 32768 * w[g["endAddrsCoarseOffset"]], offset, n)
    ls = s.loop_start - s.start + w[g["startloopAddrsOffset"]] + 32768 * w[g["startloopAddrsCoarseOffset"]]
    le = s.loop_end - s.start + w[g["endloopAddrsOffset"]] + 32768 * w[g["endloopAddrsCoarseOffset"]]
    ls, le = _clip(ls, 0, n), _clip(le, 0, n)
    mode = _LOOP_MODES[w[g["sampleModes"]] & 3]
    if mode != NO_LOOP and le <= ls:
        ctx.stats["no-loop"] += 1
        mode = NO_LOOP
    fc = w[g["initialFilterFc"]]
    # the default velocity -> cutoff modulator: -2400 cents * (1 - velocity / 127), times its second
    # source, a velocity switch that is on from 64: the zone's cutoff at 127, about 1190 cents lower at 64,
    # the zone's again below 64 (as the common SoundFont players have it); an open filter stays open
    vel_cents = vel[1] if fc < _FILTER_OPEN else 0.0
    group = w[g["exclusiveClass"]]
    root = w[g["overridingRootKey"]]
    kw: dict[str, Any] = dict(
        sample=sidx,
        lokey=ranges[0],
        hikey=ranges[1],
        lovel=ranges[2],
        hivel=ranges[3],
        pitch_keycenter=float(root if root >= 0 else s.root_key),
        pitch_keytrack_cents=float(w[g["scaleTuning"]]),
        tune_cents=w[g["coarseTune"]] * 100.0 + w[g["fineTune"]] + s.pitch_correction_cents,
        # attenuation in cB, scaled by 0.4 as SoundFont players do (fonts are voiced for that)
        volume_db=-_ATTENUATION_FACTOR * w[g["initialAttenuation"]] / 10.0,
        amp_veltrack=vel[0],
        pan=max(-1.0, min(1.0, w[g["pan"]] / 500.0)),
        offset=offset,
        end=end,
        loop_mode=mode,
        loop_start=ls,
        loop_end=le,
        amp_delay_s=_tc_seconds(w[g["delayVolEnv"]]),
        amp_attack_s=_tc_seconds(w[g["attackVolEnv"]]),
        amp_hold_s=_tc_seconds(w[g["holdVolEnv"]]),
        amp_decay_s=_tc_seconds(w[g["decayVolEnv"]]),
        amp_sustain_db=-w[g["sustainVolEnv"]] / 10.0,
        amp_release_s=_tc_seconds(w[g["releaseVolEnv"]]),
        amp_hold_keytrack_tc=float(w[g["keynumToVolEnvHold"]]),
        amp_decay_keytrack_tc=float(w[g["keynumToVolEnvDecay"]]),
        mod_delay_s=_tc_seconds(w[g["delayModEnv"]]),
        mod_attack_s=_tc_seconds(w[g["attackModEnv"]]),
        mod_hold_s=_tc_seconds(w[g["holdModEnv"]]),
        mod_decay_s=_tc_seconds(w[g["decayModEnv"]]),
        mod_sustain=1.0 - w[g["sustainModEnv"]] / 1000.0,
        mod_release_s=_tc_seconds(w[g["releaseModEnv"]]),
        mod_hold_keytrack_tc=float(w[g["keynumToModEnvHold"]]),
        mod_decay_keytrack_tc=float(w[g["keynumToModEnvDecay"]]),
        mod_to_pitch_cents=float(w[g["modEnvToPitch"]]),
        mod_to_filter_cents=float(w[g["modEnvToFilterFc"]]),
        vib_delay_s=_tc_seconds(w[g["delayVibLFO"]]),
        vib_freq_hz=_abs_hz(w[g["freqVibLFO"]]),
        vib_to_pitch_cents=float(w[g["vibLfoToPitch"]]),
        modlfo_delay_s=_tc_seconds(w[g["delayModLFO"]]),
        modlfo_freq_hz=_abs_hz(w[g["freqModLFO"]]),
        modlfo_to_pitch_cents=float(w[g["modLfoToPitch"]]),
        modlfo_to_filter_cents=float(w[g["modLfoToFilterFc"]]),
        # SF2: a positive value raises the level on the LFO's positive swing; the kernel applies
        # lfo (-1..1) * modlfo_to_volume_db dB, a +/- swing
        modlfo_to_volume_db=w[g["modLfoToVolume"]] / 10.0,
        filter_type=FILTER_LP2,
        cutoff_hz=_abs_hz(fc - vel_cents),
        resonance_db=w[g["initialFilterQ"]] / 10.0,
        fil_veltrack_cents=float(vel_cents),
        fil_vel_switch=_VEL_FILTER_SWITCH if vel_cents else 0,
        group=group,
        off_by=group,
        reverb_send=w[g["reverbEffectsSend"]] / 1000.0,
        chorus_send=w[g["chorusEffectsSend"]] / 1000.0,
    )
    # a big font's tens of thousands of regions hold mostly the same few dozen values: one float object
    # each keeps a 148 MB font near 1.2x its size in memory instead of 1.3x
    shared: dict[str, Any] = {
        k: ctx.floats.setdefault(v, v) if type(v) is float else v for k, v in kw.items()
    }
    return Region(**shared)
