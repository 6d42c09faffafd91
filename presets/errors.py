"""Errors raised by presets/. Tree::

PresetError
└── SongFileError   (a song file that cannot be loaded: names the file, line, column and field)
"""

from __future__ import annotations

__all__ = ["PresetError", "SongFileError"]


class PresetError(ValueError):
    """Base of every presets error."""


class SongFileError(PresetError):
    """``file:line:column: field: what is wrong``; line and column are 1-based (0 when unknown)."""

    def __init__(self, file: str, line: int, column: int, where: str, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.where = where
        self.problem = message
        place = f"{file}:{line}:{column}" if line else file
        field = f" {where}:" if where else ""
        super().__init__(f"{place}:{field} {message}")
