"""Sample-based instruments: SoundFonts (SF2, SF3), SFZ, WAV folders and drum kits, played by one sampler.

:func:`load_bank` reads any of them into a :class:`~instruments.sampler.model.Bank` (cached: a file loaded
twice, by two tracks say, is read once and its samples are held once); :func:`load_sampler` makes a
:class:`~instruments.sampler.sampler.Sampler` that plays it. A file that cannot be read raises
:class:`instruments.errors.SampleFileError` naming the file and the cause; what was read but is not played
(an unknown SFZ opcode) is listed in ``bank.warnings``.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

from instruments.errors import SampleFileError
from instruments.sampler.model import Bank
from instruments.sampler.sampler import Sampler

__all__ = ["Bank", "Sampler", "bank_kind", "load_bank", "load_sampler"]

SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
SFZ_SUFFIXES = (".sfz",)
KIT_SUFFIXES = (".yaml", ".yml")

_cache: weakref.WeakValueDictionary[tuple[str, int, int], Bank] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def bank_kind(path: str | os.PathLike[str]) -> str:
    """``sf2`` (SF2 or SF3), ``sfz``, ``kit`` or ``wav-folder`` by the path; SampleFileError otherwise."""
    p = Path(path)
    if p.is_dir():
        return "kit" if (p / "kit.yaml").is_file() else "wav-folder"
    suffix = p.suffix.lower()
    if suffix in SOUNDFONT_SUFFIXES:
        return "sf2"
    if suffix in SFZ_SUFFIXES:
        return "sfz"
    if suffix in KIT_SUFFIXES:
        return "kit"
    raise SampleFileError(
        f"{p}: not a sample instrument (use a .sf2, .sf3 or .sfz file, a kit .yaml, or a folder of WAVs)"
    )


def load_bank(path: str | os.PathLike[str]) -> Bank:
    """Read the instrument at ``path`` (see :func:`bank_kind`), or return the bank already loaded from it
    if the file (or folder) has not changed since: its own modification time and size are compared, so
    after editing a sample an SFZ or folder names, load a fresh copy with ``_cache.clear()`` first."""
    p = Path(path)
    try:
        return _load(p)
    except OSError as exc:  # unreadable, a permission, a folder that vanished: the file's fault, named
        raise SampleFileError(f"{exc.filename or p}: {exc.strerror or exc}") from None


def _load(p: Path) -> Bank:
    if not p.exists():
        raise SampleFileError(f"{p}: no such file or folder")
    kind = bank_kind(p)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        bank: Bank
        if kind == "sf2":
            from instruments.sampler.sf2 import read_soundfont

            bank = read_soundfont(p)
        elif kind == "sfz":
            from instruments.sampler.sfz import read_sfz

            bank = read_sfz(p)
        elif kind == "kit":
            from instruments.sampler.wavfolder import read_kit

            bank = read_kit(p)
        else:
            from instruments.sampler.wavfolder import read_wav_folder

            bank = read_wav_folder(p)
        _cache[key] = bank
        return bank


def load_sampler(path: str | os.PathLike[str], **options: Any) -> Sampler:
    """A :class:`Sampler` playing the instrument at ``path``; ``options`` as :class:`Sampler` takes them."""
    return Sampler(load_bank(path), **options)
