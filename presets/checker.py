"""Checks of YAML documents loaded with marks: each failure is a :class:`SongFileError` that names the
file, the line and column, and the field (``tracks[2].clips[0].notes[5].velocity``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from presets.errors import SongFileError
from presets.marked import MarkedDict, MarkedList, place

__all__ = ["Checker", "kind", "show"]


class Checker:
    """Validation helpers that know the file and raise SongFileError at the right place."""

    def __init__(self, file: str) -> None:
        self.file = file
        # where paths in the document are relative to: the file's folder (the working folder for text)
        self.base_dir = Path(file).resolve().parent if file and not file.startswith("<") else Path.cwd()

    def fail(self, container: Any, key: Any, where: str, message: str) -> SongFileError:
        line, col = place(container, key)
        return SongFileError(self.file, line, col, where, message)

    def mapping(self, container: Any, key: Any, where: str) -> MarkedDict:
        value = container[key] if key is not None else container
        if not isinstance(value, dict):
            raise self.fail(container, key, where, f"must be a mapping, got {kind(value)}")
        return value  # type: ignore[return-value]

    def sequence(self, container: Any, key: Any, where: str) -> MarkedList:
        value = container[key]
        if not isinstance(value, list):
            raise self.fail(container, key, where, f"must be a list, got {kind(value)}")
        return value  # type: ignore[return-value]

    def keys(self, d: MarkedDict, allowed: tuple[str, ...], where: str) -> None:
        for k in d:
            if k not in allowed:
                line, col = getattr(d, "name_marks", {}).get(k, d.mark)
                raise SongFileError(
                    self.file,
                    line,
                    col,
                    f"{where}.{k}" if where else str(k),
                    f"unknown field (allowed: {', '.join(allowed)})",
                )

    def number(
        self, d: Any, key: Any, where: str, lo: float, hi: float, default: float | None = None
    ) -> float:
        if isinstance(d, dict) and key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(d, key, where, f"must be a number, got {show(v)}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f) or not lo <= f <= hi:
            raise self.fail(d, key, where, f"must be in {lo:g}..{hi:g}, got {show(v)}")
        return f

    def integer(self, d: Any, key: Any, where: str, lo: int, hi: int, default: int | None = None) -> int:
        if isinstance(d, dict) and key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(d, key, where, f"must be an integer, got {show(v)}")
        if not lo <= v <= hi:
            raise self.fail(d, key, where, f"must be in {lo}..{hi}, got {show(v)}")
        return v

    def boolean(self, d: MarkedDict, key: str, where: str, default: bool = False) -> bool:
        if key not in d:
            return default
        v = d[key]
        if not isinstance(v, bool):
            raise self.fail(d, key, where, f"must be true or false, got {show(v)}")
        return v

    def text(self, d: MarkedDict, key: str, where: str, default: str | None = None) -> str:
        if key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if not isinstance(v, str) or not v:
            raise self.fail(d, key, where, f"must be a non-empty string, got {show(v)}")
        return v

    def wrap(self, d: Any, key: Any, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` and turn its ValueError into a SongFileError at this place."""
        try:
            return fn(*args)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise self.fail(d, key, where, str(msg)) from None


def show(v: Any, limit: int = 40) -> str:
    """A value for an error message, shortened so a huge value cannot flood the terminal."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind(v: Any) -> str:
    if v is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(v).__mro__[-2] if isinstance(v, (dict, list)) else type(v), type(v).__name__
    )
