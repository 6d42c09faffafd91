"""Errors raised by bridge/. Tree:

    BridgeError
    └── MidiFileError   (a .mid file that cannot be read; message names the file and the place)

Catch :class:`BridgeError` for anything bridge/ refuses; :class:`MidiFileError` is also a ``ValueError``
so callers that only know the standard library can catch it.
"""

from __future__ import annotations

__all__ = ["BridgeError", "MidiFileError"]


class BridgeError(Exception):
    """Base of every error raised by bridge/."""


class MidiFileError(BridgeError, ValueError):
    """A Standard MIDI File that cannot be read: ``"<file>: <place>: <what>"``.

    The place is ``byte 0x....`` (offset from the start of the file) or, inside a track chunk,
    ``track N, byte 0x....`` with tracks numbered from 0.
    """
