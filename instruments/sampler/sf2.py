"""Reads a SoundFont 2 (.sf2) or SoundFont 3 (.sf3, Ogg Vorbis samples) file into a :class:`Bank`.

:func:`read_soundfont` walks the RIFF 'sfbk' form, reads the 16-bit sample data once into the bank's
``int16`` pool (SF3 streams are decoded into it), and flattens every preset zone x instrument zone pair
into one :class:`Region` with the SF2.04 generator model already applied (instrument values, preset
values added, ranges intersected, limits clamped). The file layout is the SoundFont 2.04 specification;
SF3 is its Ogg Vorbis variant. Anything truncated or inconsistent raises :class:`SampleFileError` naming
the file and the cause; what is read but not played goes to :attr:`Bank.warnings`.

Next: hand the bank to the sampler; :mod:`instruments.sampler.sf2_writer` builds fonts for tests.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import soundfile as sf

from instruments.errors import SampleFileError
from instruments.sampler.model import Bank, Sample
from instruments.sampler.sf2_zones import Warnings, flatten_presets, record_name

__all__ = ["read_soundfont"]

# pdta sub-chunks in file order, with their record sizes
PDTA_RECORDS = {"phdr": 38, "pbag": 4, "pmod": 10, "pgen": 4, "inst": 22, "ibag": 4, "imod": 10,
                "igen": 4, "shdr": 46}  # fmt: skip
_DTYPES = {
    "phdr": np.dtype([("name", "S20"), ("program", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                      ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")]),
    "inst": np.dtype([("name", "S20"), ("bag", "<u2")]),
    "bag": np.dtype([("gen", "<u2"), ("mod", "<u2")]),
    "mod": np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amt_src", "<u2"),
                     ("trans", "<u2")]),
    "gen": np.dtype([("oper", "<u2"), ("amount", "<i2")]),
    "shdr": np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"),
                      ("loop_end", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                      ("link", "<u2"), ("type", "<u2")]),
}  # fmt: skip
_KIND = {"phdr": "phdr", "inst": "inst", "shdr": "shdr", "pbag": "bag", "ibag": "bag", "pmod": "mod",
         "imod": "mod", "pgen": "gen", "igen": "gen"}  # fmt: skip
ROM_SAMPLE = 0x8000
OGG_SAMPLE = 0x10  # SF3: the sample is an Ogg Vorbis stream
GUARD = 46  # zero frames after each decoded SF3 sample, as SF2 keeps after each of its samples


def read_soundfont(path: str | os.PathLike[str]) -> Bank:
    """Read an SF2 or SF3 file into a :class:`Bank` (kind ``"sf3"`` when any sample is compressed)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            return _read(f, name)
    except OSError as e:
        raise SampleFileError(f"{name}: cannot read ({e.strerror or e})") from e
    except (IndexError, KeyError, struct.error) as e:  # a check missed: still a corrupt file, never a crash
        raise SampleFileError(f"{name}: corrupt SoundFont ({type(e).__name__}: {e})") from e


def _fail(path: str, cause: str) -> SampleFileError:
    return SampleFileError(f"{path}: {cause}")


def _read(f: io.BufferedReader, path: str) -> Bank:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(0)
    head = f.read(12)
    if size == 0:
        raise _fail(path, "not a SoundFont (the file is empty)")
    if len(head) < 12 or head[:4] != b"RIFF":
        raise _fail(path, "not a SoundFont (no RIFF header)")
    riff_size, form = struct.unpack("<I4s", head[4:12])
    if form != b"sfbk":
        raise _fail(path, f"not a SoundFont (RIFF form {_fourcc(form)})")
    riff_end = 8 + riff_size
    if riff_end > size + (riff_size & 1):  # a missing final pad byte is forgiven
        raise _fail(path, f"truncated: RIFF says {riff_end} bytes, file has {size}")
    riff_end = min(riff_end, size)
    lists: dict[str, tuple[int, int]] = {}
    for cid, off, n in _chunks(f, 12, riff_end, "RIFF form", path):
        if cid == "LIST" and n >= 4:
            f.seek(off)
            kind = _fourcc(f.read(4)).strip("'")
            lists.setdefault(kind, (off + 4, off + n))
    warn = Warnings(path)
    for need in ("sdta", "pdta"):
        if need not in lists:
            raise _fail(path, f"no '{need}' list")
    if "INFO" in lists:
        _read_info(f, path, *lists["INFO"], warn)
    else:
        warn.add("info", "no 'INFO' list")
    pdta = _read_pdta(f, path, *lists["pdta"])
    smpl, sm24 = None, False
    for cid, off, n in _chunks(f, *lists["sdta"], "'sdta' list", path):
        if cid == "smpl" and smpl is None:
            smpl = (off, n)
        elif cid == "sm24":
            sm24 = True
    if sm24:
        warn.add("sm24", "24-bit sample data ('sm24') ignored: played at 16 bits")
    pool, samples, sample_map, kind = _read_samples(f, path, smpl, pdta["shdr"], warn)
    presets = flatten_presets(pdta, samples, sample_map, warn)
    return Bank(path, kind, pool, samples, presets, warn.messages())


def _fourcc(b: bytes) -> str:
    return "'" + b.decode("latin-1").replace("\0", " ").rstrip() + "'"


def _chunks(f: io.BufferedReader, start: int, end: int, where: str, path: str) -> list[tuple[str, int, int]]:
    """(id, data offset, size) of each chunk between start and end; a chunk past the end is truncation."""
    out = []
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        cid, n = struct.unpack("<4sI", f.read(8))
        name = cid.decode("latin-1")
        if pos + 8 + n > end:
            raise _fail(path, f"truncated: chunk {_fourcc(cid)} in the {where} says {n} bytes, "
                              f"{end - pos - 8} are left")  # fmt: skip
        out.append((name, pos + 8, n))
        pos += 8 + n + (n & 1)  # chunks are padded to even sizes
    return out


def _read_info(f: io.BufferedReader, path: str, start: int, end: int, warn: Warnings) -> None:
    # nothing in INFO changes how the font plays; only an implausible version is worth a word
    for cid, off, n in _chunks(f, start, end, "'INFO' list", path):
        if cid == "ifil":
            f.seek(off)
            if n < 4:
                warn.add("info", f"'ifil' chunk is {n} bytes, not 4")
                continue
            major, minor = struct.unpack("<HH", f.read(4))
            if major not in (2, 3):
                warn.add("info", f"file format version {major}.{minor:02d}; read as 2.04")


def _read_pdta(f: io.BufferedReader, path: str, start: int, end: int) -> dict[str, np.ndarray]:
    """The nine hydra tables as structured arrays, each checked for size and its terminal record."""
    found = {}
    for cid, off, n in _chunks(f, start, end, "'pdta' list", path):
        if cid in PDTA_RECORDS and cid not in found:
            found[cid] = (off, n)
    out: dict[str, np.ndarray] = {}
    for cid, rec in PDTA_RECORDS.items():
        if cid not in found:
            raise _fail(path, f"pdta has no '{cid}' chunk")
        off, n = found[cid]
        if n % rec:
            raise _fail(path, f"pdta chunk '{cid}' is {n} bytes, not a multiple of {rec}")
        if n == 0:
            raise _fail(path, f"pdta chunk '{cid}' is empty (no terminal record)")
        f.seek(off)
        data = f.read(n)
        if len(data) != n:
            raise _fail(path, f"truncated: pdta chunk '{cid}' is cut short")
        out[cid] = np.frombuffer(data, _DTYPES[_KIND[cid]])
    _check_links(path, out)
    return out


def _check_links(path: str, t: dict[str, np.ndarray]) -> None:
    """Every index a header or bag holds must rise and stay inside the table it points into."""
    for head, bag, gen, mod in (("phdr", "pbag", "pgen", "pmod"), ("inst", "ibag", "igen", "imod")):
        _rising(path, head, "bag", t[head]["bag"], bag, len(t[bag]) - 1)
        _rising(path, bag, "generator", t[bag]["gen"], gen, len(t[gen]))
        _rising(path, bag, "modulator", t[bag]["mod"], mod, len(t[mod]))


def _rising(path: str, table: str, what: str, idx: np.ndarray, into: str, limit: int) -> None:
    if (bad := np.flatnonzero(idx > limit)).size:
        i = int(bad[0])
        raise _fail(path, f"pdta '{table}' record {i} points at {what} {idx[i]}, past the "
                          f"{limit} '{into}' records it may use")  # fmt: skip
    if len(idx) > 1 and (bad := np.flatnonzero(np.diff(idx.astype(np.int64)) < 0)).size:
        i = int(bad[0]) + 1
        raise _fail(path, f"pdta '{table}' record {i} goes back to {what} {idx[i]} (from {idx[i - 1]})")


def _read_samples(
    f: io.BufferedReader, path: str, smpl: tuple[int, int] | None, shdr: np.ndarray, warn: Warnings
) -> tuple[np.ndarray, list[Sample], list[int], str]:
    """The pool, the usable samples, shdr index -> Bank.samples index (-1: unusable), and the kind."""
    heads = shdr[:-1]  # the last record is the terminal 'EOS'
    types = heads["type"].astype(np.int64)
    compressed = bool(np.any((types & OGG_SAMPLE) & ~(types & ROM_SAMPLE)))
    if smpl is None:
        if len(heads) and not np.all(types & ROM_SAMPLE):
            raise _fail(path, "no 'smpl' chunk in the 'sdta' list, but the font has samples")
        smpl = (0, 0)
    off, nbytes = smpl
    if nbytes & 1 and not compressed:
        warn.add("smpl", f"'smpl' chunk has an odd size ({nbytes} bytes); last byte ignored")
    if not compressed:
        # the whole chunk, once, straight into the pool: no intermediate copy of a 100 MB+ chunk
        pool = np.empty(nbytes // 2, np.dtype("<i2"))
        f.seek(off)
        if f.readinto(pool.view(np.uint8).data) != pool.nbytes:
            raise _fail(path, "truncated: the 'smpl' chunk is cut short")
        pool = pool.astype(np.int16, copy=False)  # a no-op on little-endian machines
        return pool, *_sf2_samples(path, heads, pool, warn), "sf2"
    f.seek(off)
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise _fail(path, "truncated: the 'smpl' chunk is cut short")
    return *_sf3_samples(path, heads, data, warn), "sf3"


def _sample_meta(path: str, h: tuple, warn: Warnings) -> tuple[str, float, int, float]:
    name = record_name(h[0])
    rate = float(h[5])
    if rate <= 0:
        warn.add("rate", f"sample '{name}' has sample rate 0; taken as 44100")
        rate = 44100.0
    root = int(h[6]) if h[6] <= 127 else 60  # 255 (and any other value past 127) means 'unpitched'
    return name, rate, root, float(h[7])


def _sf2_samples(
    path: str, heads: np.ndarray, pool: np.ndarray, warn: Warnings
) -> tuple[list[Sample], list[int]]:
    samples: list[Sample] = []
    index = []
    frames = len(pool)
    for h in heads.tolist():
        name, rate, root, corr = _sample_meta(path, h, warn)
        start, end, ls, le, stype = int(h[1]), int(h[2]), int(h[3]), int(h[4]), int(h[9])
        if stype & ROM_SAMPLE:
            warn.add("rom", f"sample '{name}' lives in a sound ROM; skipped")
            index.append(-1)
            continue
        if not start < min(end, frames):
            warn.add("bad", f"sample '{name}' spans {start}..{end}, outside the {frames} frames of "
                            "sample data; skipped")  # fmt: skip
            index.append(-1)
            continue
        if end > frames:
            warn.add("end", f"sample '{name}' ends at {end}, past the {frames} frames of sample data; cut")
            end = frames
        ls, le = _fit_loop(name, start, end, ls, le, warn)
        index.append(len(samples))
        samples.append(Sample(name, start, end, ls, le, rate, root, corr))
    return samples, index


def _fit_loop(name: str, start: int, end: int, ls: int, le: int, warn: Warnings) -> tuple[int, int]:
    """Loop points cut to the sample; equal loop points (or nothing left) mean 'no loop' (start, start)."""
    if le <= ls:
        return start, start
    a, b = max(ls, start), min(le, end)
    if b <= a:
        warn.add("loop", f"sample '{name}' loops {ls}..{le}, outside its data {start}..{end}; no loop")
        return start, start
    if (a, b) != (ls, le):
        warn.add("loop", f"sample '{name}' loops {ls}..{le}, past its data {start}..{end}; cut to {a}..{b}")
    return a, b


def _sf3_samples(
    path: str, heads: np.ndarray, data: bytes, warn: Warnings
) -> tuple[np.ndarray, list[Sample], list[int]]:
    parts: list[np.ndarray] = []
    samples: list[Sample] = []
    index = []
    pos = 0
    guard = np.zeros(GUARD, np.int16)
    for h in heads.tolist():
        name, rate, root, corr = _sample_meta(path, h, warn)
        start, end, ls, le, stype = int(h[1]), int(h[2]), int(h[3]), int(h[4]), int(h[9])
        if stype & ROM_SAMPLE:
            warn.add("rom", f"sample '{name}' lives in a sound ROM; skipped")
            index.append(-1)
            continue
        if stype & OGG_SAMPLE:
            if not start < end <= len(data):
                raise _fail(path, f"sample '{name}': Ogg stream at bytes {start}..{end} lies outside the "
                                  f"{len(data)}-byte 'smpl' chunk")  # fmt: skip
            pcm = _decode_ogg(path, name, data[start:end], warn)
            n = len(pcm)
            ls, le = _fit_loop(name, 0, n, ls, le, warn)  # SF3 loops count from the decoded start
        else:  # an uncompressed sample inside an SF3: frame indices into the chunk as SF2 has them
            if not start < end <= len(data) // 2:
                warn.add("bad", f"sample '{name}' spans {start}..{end}, outside the sample data; skipped")
                index.append(-1)
                continue
            pcm = np.frombuffer(data, "<i2", end - start, 2 * start).astype(np.int16)
            n = end - start
            ls, le = _fit_loop(name, start, end, ls, le, warn)
            ls, le = ls - start, le - start
        index.append(len(samples))
        samples.append(Sample(name, pos, pos + n, pos + ls, pos + le, rate, root, corr))
        parts += [pcm, guard]
        pos += n + GUARD
    pool = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return pool, samples, index


def _decode_ogg(path: str, name: str, stream: bytes, warn: Warnings) -> np.ndarray:
    # only Ogg goes to the decoder: libsndfile would sniff (and parse) any other format it knows
    if stream[:4] != b"OggS":
        raise _fail(path, f"sample '{name}': compressed sample is not an Ogg stream")
    try:
        with sf.SoundFile(io.BytesIO(stream)) as snd:
            if snd.format != "OGG":
                raise _fail(path, f"sample '{name}': compressed sample is {snd.format}, not Ogg Vorbis")
            channels = snd.channels
            # block by block until the decoder runs dry: a damaged stream's frame count (from its last
            # page) could ask for gigabytes at once, or promise frames that are not there
            blocks = []
            while len(block := snd.read(65536, dtype="int16", always_2d=True)):
                blocks.append(block[:, 0].copy())
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        if isinstance(e, SampleFileError):
            raise
        why = getattr(e, "error_string", None) or str(e)  # libsndfile's words, without the BytesIO repr
        raise _fail(path, f"sample '{name}': bad Ogg Vorbis stream ({why})") from e
    if channels > 1:
        warn.add("stereo", f"sample '{name}' is a {channels}-channel Ogg stream; first channel taken")
    if not blocks:
        raise _fail(path, f"sample '{name}': Ogg Vorbis stream decodes to no audio")
    return np.concatenate(blocks)
