"""Reading sample files for the sampler's readers, and packing them into one bank pool.

:func:`read_sample_file` reads a WAV, FLAC, OGG or AIFF file through ``soundfile`` and, for WAV, the
first loop of its ``smpl`` chunk. :class:`PoolBuilder` packs mono sample data into the pool of a
:class:`~instruments.sampler.model.Bank` and makes its :class:`~instruments.sampler.model.Sample`
entries: call :meth:`PoolBuilder.add_file` once per region (a file is read once however many regions name
it), then :meth:`PoolBuilder.build` for the pool. :func:`note_number` reads note names (``c4`` = 60), and
:func:`inside_folder`/:func:`find_file` check and find sample paths, for the SFZ and WAV-folder readers.

Next: :func:`instruments.sampler.sfz.read_sfz` and :func:`instruments.sampler.wavfolder.read_wav_folder`
use these to build a bank.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from instruments.errors import SampleFileError
from instruments.sampler.model import Sample

__all__ = [
    "AUDIO_EXTENSIONS",
    "POOL_GUARD_FRAMES",
    "FileSamples",
    "PoolBuilder",
    "find_file",
    "inside_folder",
    "note_number",
    "read_sample_file",
]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aif", ".aiff")
# zero frames before the first sample and after every sample, so an interpolating read a few frames past
# a sample's end (or before its start) hears silence instead of the neighbouring sample
POOL_GUARD_FRAMES = 8
# subtypes that fit int16 without loss (8-bit is widened to 16 by soundfile)
_INT16_SUBTYPES = {"PCM_16", "PCM_S8", "PCM_U8"}
_NOTE = re.compile(r"([a-g])(#|b)?(-?\d+)", re.IGNORECASE)
_SEMITONES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_number(text: str) -> int | None:
    """The MIDI key of a note name (``c4`` = 60, ``c#4``/``db4`` = 61, ``c-1`` = 0; any case), or ``None``
    when ``text`` is not a note name or names a key outside 0..127."""
    m = _NOTE.fullmatch(text.strip())
    if m is None:
        return None
    key = (int(m.group(3)) + 1) * 12 + _SEMITONES[m.group(1).lower()]
    key += {"#": 1, "b": -1}.get(m.group(2) or "", 0)
    return key if 0 <= key <= 127 else None


def inside_folder(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies in ``root``'s folder tree, both absolute; ``..`` is resolved lexically, so a
    symlink kept inside an instrument's folder may point anywhere (the user put it there)."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return os.path.commonpath([path, root]) == root


def find_file(root: Path, rel: str) -> Path | None:
    """The file ``root/rel``, each name matched without regard to case when no exact match exists
    (instruments written on Windows or macOS often spell sample names in another case), or ``None``."""
    cur = root
    for part in Path(rel).parts:
        if not (cur / part).exists():
            same = [c for c in cur.iterdir() if c.name.lower() == part.lower()] if cur.is_dir() else []
            if not same:
                return None
            part = same[0].name
        cur = cur / part
    return cur if cur.is_file() else None


def _walk_chunks(path: Path) -> tuple[tuple[int, int] | None, int | None]:
    """Check that a WAV/AIFF file's audio chunk is whole, and return the first ``smpl`` loop of a WAV
    (start, end exclusive, in frames) and its MIDI unity note. Other containers are left to soundfile.

    libsndfile reads a file cut short without complaint (it just reports fewer frames), so a truncated
    file would load as a silently shortened sample; the declared chunk size tells us it is incomplete."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            endian, audio_id = "<", b"data"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            endian, audio_id = ">", b"SSND"
        else:
            return None, None
        loop, unity, seen_smpl = None, None, False
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(endian + "4sI", f.read(8))
            body = pos + 8
            if cid == audio_id and csize != 0xFFFFFFFF and body + csize > size:
                raise SampleFileError(
                    f"{path}: the file is truncated or corrupt: its audio chunk declares {csize} bytes "
                    f"but only {size - body} are present"
                )
            if cid == b"smpl" and endian == "<" and not seen_smpl and body + min(csize, 60) <= size:
                seen_smpl = True
                smpl = f.read(min(csize, 60))
                # 36 bytes of header (unity note at 12, loop count at 28), then 24-byte loops: id, type,
                # start, end, fraction, play count
                if len(smpl) >= 16:
                    unity = struct.unpack_from("<I", smpl, 12)[0]
                    unity = unity if 0 <= unity <= 127 else None
                if len(smpl) >= 60 and struct.unpack_from("<I", smpl, 28)[0] > 0:
                    start, end = struct.unpack_from("<II", smpl, 44)
                    loop = (start, end + 1)  # the smpl chunk's loop end is the last frame played
            pos = body + csize + (csize & 1)  # chunks are padded to an even size
    return loop, unity


def read_sample_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, int, tuple[int, int] | None, bool]:
    """Read a WAV/FLAC/OGG/AIFF file: ``(data (frames, channels), sample_rate, loop, is_16bit)``.

    ``data`` is ``int16`` when the file holds 16-bit (or 8-bit) PCM, ``is_16bit`` says so; otherwise it
    is ``float32`` in -1..1. ``loop`` is the first loop of a WAV's ``smpl`` chunk as ``(start, end)``
    frames with ``end`` exclusive, clipped to the data, or ``None`` (no chunk, or an empty loop).
    Raises :class:`SampleFileError` naming the file for a missing, truncated, corrupt or empty file.
    """
    data, rate, loop, is_16bit, _ = _read(Path(path))
    return data, rate, loop, is_16bit


def _read(p: Path) -> tuple[np.ndarray, int, tuple[int, int] | None, bool, int | None]:
    """:func:`read_sample_file` plus the ``smpl`` chunk's unity note (``None`` without one)."""
    if not p.is_file():
        raise SampleFileError(f"{p}: sample file not found")
    try:
        loop, unity = _walk_chunks(p)
        info = sf.info(str(p))
        is_16bit = info.subtype in _INT16_SUBTYPES
        data, rate = sf.read(str(p), dtype="int16" if is_16bit else "float32", always_2d=True)
    except SampleFileError:
        raise
    except (RuntimeError, OSError, struct.error) as e:  # soundfile's errors are RuntimeErrors
        raise SampleFileError(f"{p}: cannot read the sample file: {e}") from e
    if data.shape[0] == 0:
        raise SampleFileError(f"{p}: the sample file holds no audio frames")
    if data.shape[1] > 2:
        raise SampleFileError(f"{p}: {data.shape[1]} channels; only mono and stereo samples are supported")
    if loop is not None:
        loop = (loop[0], min(loop[1], data.shape[0]))
        if loop[0] >= loop[1]:
            loop = None
    return data, int(rate), loop, is_16bit, unity


@dataclass(frozen=True)
class FileSamples:
    """What :meth:`PoolBuilder.add_file` made of one file: ``samples`` are indices into
    :attr:`PoolBuilder.samples` (one for mono, left and right for stereo); ``loop`` is the file's own
    loop (frames, end exclusive) or ``None``; ``root_key`` the unity note of a WAV's ``smpl`` chunk or
    ``None``."""

    path: Path
    samples: tuple[int, ...]
    frames: int
    sample_rate: int
    loop: tuple[int, int] | None
    root_key: int | None = None


class PoolBuilder:
    """Collects mono samples into one pool. The pool is ``int16`` when every sample added was 16-bit,
    else ``float32`` (16-bit data then scaled by 1/32768), matching :attr:`Bank.pool_scale`."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._chunks: list[np.ndarray] = [np.zeros(POOL_GUARD_FRAMES, np.int16)]
        self._size = POOL_GUARD_FRAMES
        self._all_16bit = True
        self._files: dict[Path, FileSamples] = {}

    def add(
        self,
        name: str,
        data: np.ndarray,
        sample_rate: float,
        loop: tuple[int, int] | None = None,
        root_key: int = 60,
        pitch_correction_cents: float = 0.0,
    ) -> int:
        """Append one mono sample (1-D ``int16`` or float data; ``loop`` in frames of ``data``, end
        exclusive) and return its index in :attr:`samples`."""
        data = np.asarray(data)
        if data.ndim != 1:
            raise ValueError(f"sample {name!r}: expected mono 1-D data, got shape {data.shape}")
        if data.dtype != np.int16:
            data = data.astype(np.float32, copy=False)
            self._all_16bit = False
        start = self._size
        end = start + len(data)
        lo, hi = (start + loop[0], start + loop[1]) if loop is not None else (start, start)
        self.samples.append(
            Sample(name, start, end, lo, hi, float(sample_rate), root_key, pitch_correction_cents)
        )
        self._chunks.append(data)
        self._chunks.append(np.zeros(POOL_GUARD_FRAMES, np.int16))
        self._size = end + POOL_GUARD_FRAMES
        return len(self.samples) - 1

    def add_file(self, path: str | os.PathLike[str]) -> FileSamples:
        """Read a sample file (once per resolved path) and add its channels as mono samples, named after
        the file (``" L"``/``" R"`` added for stereo), root key from its ``smpl`` chunk or 60."""
        key = Path(path).resolve()
        if key in self._files:
            return self._files[key]
        data, rate, loop, _, unity = _read(key)
        names = [key.stem] if data.shape[1] == 1 else [f"{key.stem} L", f"{key.stem} R"]
        indices = tuple(
            self.add(names[c], np.ascontiguousarray(data[:, c]), rate, loop, 60 if unity is None else unity)
            for c in range(data.shape[1])
        )
        fs = FileSamples(key, indices, data.shape[0], rate, loop, unity)
        self._files[key] = fs
        return fs

    def build(self) -> np.ndarray:
        """The pool: every sample added, end to end with guard frames of silence between them."""
        if self._all_16bit:
            return np.concatenate(self._chunks).astype(np.int16, copy=False)
        return np.concatenate(
            [c.astype(np.float32) / 32768.0 if c.dtype == np.int16 else c for c in self._chunks]
        ).astype(np.float32, copy=False)
