"""Give back the resident pages of the JIT compiler's library once the kernels are loaded.

Numba loads every compiled kernel through LLVM, a read-only shared library of ~180 MB of which a render
touches ~100 MB while loading kernels and never again. :func:`release_compiler_pages` asks the kernel to
drop those clean, file-backed pages from this process (``madvise(MADV_PAGEOUT)``); should a new kernel
be compiled later, the pages fault back in from the file. It is a no-op where the call is not supported,
and when the environment variable ``STRUM_KEEP_COMPILER_PAGES`` is set.
The audio callback never touches these pages: compiled kernels live in the JIT's own memory.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["release_compiler_pages", "resident_mb"]

_MADV_PAGEOUT = 21  # Linux 5.4+
_LIBRARIES = ("libllvmlite",)


def release_compiler_pages() -> int:
    """Drop the compiler library's resident read-only pages; returns the MB released (0: unsupported)."""
    if not sys.platform.startswith("linux") or os.environ.get("STRUM_KEEP_COMPILER_PAGES"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return 0
    released = 0
    for line in maps:
        parts = line.split()
        if len(parts) < 6 or "w" in parts[1] or not any(lib in parts[5] for lib in _LIBRARIES):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), _MADV_PAGEOUT) == 0:
            released += hi - lo
    return released >> 20


def resident_mb() -> float:
    """This process's resident set size now, in MB (Linux; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
