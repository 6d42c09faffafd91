"""Errors raised by the instruments. Every message names the file (or thing) at fault and the cause.

Tree::

    InstrumentError
    └── SampleFileError        (a SoundFont, SFZ, WAV, WAV folder or kit map that cannot be read)
        └── SamplePathError    (an SFZ or kit sample path that escapes the instrument's folder)
"""

from __future__ import annotations

__all__ = ["InstrumentError", "SampleFileError", "SamplePathError"]


class InstrumentError(Exception):
    """Base of every instrument error."""


class SampleFileError(InstrumentError, ValueError):
    """A sample file or instrument definition could not be read; the message names the file and why."""


class SamplePathError(SampleFileError):
    """A sample path leaves the folder of the instrument that names it (refused, never read)."""
