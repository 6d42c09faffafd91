"""Writes small SoundFont 2 (.sf2) and SoundFont 3 (.sf3) files: fixtures for tests and benchmarks.

Describe the font with :class:`SampleSpec`, :class:`ZoneSpec` and :class:`PresetSpec`, then call
:func:`write_soundfont` (or :func:`soundfont_bytes` for the bytes, to corrupt them on purpose). Each preset
gets one instrument of its own; a sample used by several zones is stored once. Generators are named as in
:data:`instruments.sampler.sf2_tables.GEN` (or given by number); ``keyRange``/``velRange`` take a
``(lo, hi)`` pair. The layout follows the SoundFont 2.04 specification: 46 zero frames after each sample,
every table closed by its terminal record. With ``compress=True`` each sample is an Ogg Vorbis stream
(SF3): byte offsets in the sample header, loop points counted from the decoded sample's start.

Next: :func:`instruments.sampler.sf2.read_soundfont` reads what this writes.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from instruments.sampler.sf2_tables import GEN, RANGE_GENS, gen_number

__all__ = ["GenValue", "PresetSpec", "SampleSpec", "ZoneSpec", "soundfont_bytes", "write_soundfont"]

GenValue = int | tuple[int, int]
Modulator = tuple[int, int, int, int, int]  # source, destination, amount, amount source, transform
_PAD = 46  # zero frames the spec asks for after each sample
_TABLES = ("phdr", "pbag", "pmod", "pgen", "inst", "ibag", "imod", "igen")  # pdta order, 'shdr' last
_PHDR = "<20sHHHIII"


@dataclass
class SampleSpec:
    """A mono sample: ``data`` float (-1..1) or int16; ``loop`` is (start, end) in frames, end exclusive."""

    name: str
    data: np.ndarray
    sample_rate: int = 44100
    root_key: int = 60
    pitch_correction: int = 0
    loop: tuple[int, int] | None = None

    def pcm(self) -> np.ndarray:
        x = np.asarray(self.data)
        if x.ndim != 1:
            raise ValueError(f"sample {self.name!r} must be mono (1-D), got shape {x.shape}")
        if x.dtype == np.int16:
            return x
        return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


@dataclass
class ZoneSpec:
    """An instrument zone: a sample over key and velocity ranges, with instrument-level generators and
    modulators."""

    sample: SampleSpec
    key_range: tuple[int, int] = (0, 127)
    vel_range: tuple[int, int] = (0, 127)
    generators: dict[str | int, GenValue] = field(default_factory=dict)
    modulators: list[Modulator] = field(default_factory=list)


@dataclass
class PresetSpec:
    """A preset and its instrument. ``global_generators``: the preset's global zone;
    ``preset_zone_generators``: the preset zone that points at the instrument (both added to the
    instrument's values); ``instrument_global_generators``: the instrument's global zone (defaults for
    its zones)."""

    name: str
    bank: int
    program: int
    zones: list[ZoneSpec]
    global_generators: dict[str | int, GenValue] = field(default_factory=dict)
    instrument_global_generators: dict[str | int, GenValue] = field(default_factory=dict)
    preset_zone_generators: dict[str | int, GenValue] = field(default_factory=dict)


def write_soundfont(
    path: str | os.PathLike[str], presets: Sequence[PresetSpec], *, compress: bool = False, name: str = "Test"
) -> None:
    """Write the presets as an SF2 file (SF3, Ogg Vorbis samples, with ``compress=True``)."""
    with open(path, "wb") as f:
        f.write(soundfont_bytes(presets, compress=compress, name=name))


def soundfont_bytes(presets: Sequence[PresetSpec], *, compress: bool = False, name: str = "Test") -> bytes:
    """The whole file :func:`write_soundfont` writes, as bytes."""
    samples: dict[int, tuple[int, SampleSpec]] = {}  # id(spec) -> (index, spec): each sample once
    for p in presets:
        for z in p.zones:
            samples.setdefault(id(z.sample), (len(samples), z.sample))
    smpl, shdr = _sample_data([s for _, s in samples.values()], compress)
    t: dict[str, list[bytes]] = {k: [] for k in _TABLES}
    for i, p in enumerate(presets):
        t["phdr"].append(struct.pack(_PHDR, _name20(p.name), p.program, p.bank, len(t["pbag"]), 0, 0, 0))
        if p.global_generators:
            _zone(t, "p", p.global_generators, [])
        _zone(t, "p", {**p.preset_zone_generators, "instrument": i}, [])
        t["inst"].append(struct.pack("<20sH", _name20(p.name), len(t["ibag"])))
        if p.instrument_global_generators:
            _zone(t, "i", p.instrument_global_generators, [])
        for z in p.zones:
            gens: dict[str | int, GenValue] = {"keyRange": z.key_range, "velRange": z.vel_range}
            gens.update(z.generators)
            gens["sampleID"] = samples[id(z.sample)][0]
            _zone(t, "i", gens, z.modulators)
    # terminal records: each bag and header table points one past the end of the table it indexes
    t["phdr"].append(struct.pack(_PHDR, b"EOP", 0, 0, len(t["pbag"]), 0, 0, 0))
    t["inst"].append(struct.pack("<20sH", b"EOI", len(t["ibag"])))
    for x in "pi":
        t[x + "bag"].append(struct.pack("<HH", len(t[x + "gen"]), len(t[x + "mod"])))
        t[x + "mod"].append(bytes(10))
        t[x + "gen"].append(bytes(4))
    version = (3, 1) if compress else (2, 4)
    info = _chunk(b"ifil", struct.pack("<HH", *version)) + _chunk(b"isng", b"EMU8000\0")
    info += _chunk(b"INAM", _zstr(name))
    sdta = _chunk(b"smpl", smpl)
    pdta = b"".join(_chunk(k.encode(), b"".join(t[k])) for k in _TABLES)
    pdta += _chunk(b"shdr", shdr)
    body = b"sfbk" + _list(b"INFO", info) + _list(b"sdta", sdta) + _list(b"pdta", pdta)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _zone(t: dict[str, list[bytes]], x: str, gens: dict[str | int, GenValue], mods: list[Modulator]) -> None:
    """One zone: its bag, then generators in the order the spec asks (ranges first, target last)."""
    t[x + "bag"].append(struct.pack("<HH", len(t[x + "gen"]), len(t[x + "mod"])))
    numbered = {gen_number(k): v for k, v in gens.items()}
    last = (GEN["instrument"], GEN["sampleID"])
    order = sorted(numbered, key=lambda g: (g != GEN["keyRange"], g != GEN["velRange"], g in last))
    for g in order:
        v = numbered[g]
        if g in RANGE_GENS:
            lo, hi = v if isinstance(v, tuple) else (v & 0xFF, v >> 8)
            t[x + "gen"].append(struct.pack("<HBB", g, lo, hi))
        elif isinstance(v, tuple):
            raise ValueError(f"generator {g} takes one number, not {v}")
        else:
            t[x + "gen"].append(struct.pack("<HH", g, v & 0xFFFF))
    for m in mods:
        t[x + "mod"].append(struct.pack("<HHhHH", *m))


def _sample_data(samples: list[SampleSpec], compress: bool) -> tuple[bytes, bytes]:
    """The 'smpl' chunk's data and the 'shdr' records (terminal included)."""
    smpl = io.BytesIO()
    shdr = []
    for s in samples:
        pcm = s.pcm()
        n = len(pcm)
        loop = s.loop if s.loop is not None else (0, 0)
        if compress:
            buf = io.BytesIO()
            sf.write(buf, pcm, s.sample_rate, format="OGG", subtype="VORBIS")
            start = smpl.tell()
            smpl.write(buf.getvalue())
            end = smpl.tell()
            ls, le = loop  # SF3: relative to the decoded sample
            stype = 0x11
        else:
            start = smpl.tell() // 2
            smpl.write(pcm.astype("<i2").tobytes() + bytes(2 * _PAD))
            end = start + n
            ls, le = (start + loop[0], start + loop[1]) if s.loop is not None else (start, start)
            stype = 1
        shdr.append(struct.pack("<20sIIIIIBbHH", _name20(s.name), start, end, ls, le, s.sample_rate,
                                s.root_key, s.pitch_correction, 0, stype))  # fmt: skip
    shdr.append(struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    data = smpl.getvalue()
    return data + b"\0" * (len(data) & 1), b"".join(shdr)


def _name20(name: str) -> bytes:
    return name.encode("latin-1", "replace")[:20]


def _zstr(text: str) -> bytes:
    b = text.encode("latin-1", "replace") + b"\0"
    return b + b"\0" * (len(b) & 1)


def _chunk(cid: bytes, data: bytes) -> bytes:
    return cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def _list(kind: bytes, data: bytes) -> bytes:
    return _chunk(b"LIST", kind + data)
