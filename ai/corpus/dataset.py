"""Token corpora on disk: pieces as token lists, the by-piece held-out split, and the extraction cache.

A corpus is a list of :class:`Piece` (an id, where it came from, its tokens from the start-of-mode
token to ``<eos>``). :func:`split` puts a piece in the held-out set by a hash of its id, never by token,
so a piece never leaks across the split and the split does not move when the training seed does.
:func:`cached` runs an extraction once and keeps its result as JSON under ``.cache/strumspace/``
(gitignored; ``STRUMSPACE_CACHE`` moves it).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HELD_OUT_PERCENT",
    "VALIDATION_PERCENT",
    "Piece",
    "cache_dir",
    "cached",
    "load_pieces",
    "save_pieces",
    "split",
    "split_validation",
]

HELD_OUT_PERCENT = 10
VALIDATION_PERCENT = 10


@dataclass(frozen=True)
class Piece:
    """One training sequence: ``tokens`` run from the mode token to ``<eos>``."""

    id: str
    source: str
    tokens: tuple[str, ...]


def cache_dir() -> Path:
    """The folder extracted corpora are cached in (``$STRUMSPACE_CACHE`` or ``./.cache/strumspace``)."""
    return Path(os.environ.get("STRUMSPACE_CACHE", Path.cwd() / ".cache" / "strumspace"))


def is_held_out(piece_id: str) -> bool:
    """Whether the piece with this id belongs to the held-out set (a stable hash of the id)."""
    return _bucket(piece_id) < HELD_OUT_PERCENT


def _bucket(piece_id: str) -> int:
    return zlib.crc32(piece_id.encode("utf-8")) % 100


def split_validation(train: Sequence[Piece]) -> tuple[list[Piece], list[Piece]]:
    """``(fit, validation)`` of the training pieces: validation picks the epoch to keep, so the
    held-out set is scored once, by a model that never saw it, not even for early stopping."""
    lo, hi = HELD_OUT_PERCENT, HELD_OUT_PERCENT + VALIDATION_PERCENT
    return [p for p in train if not lo <= _bucket(p.id) < hi], [p for p in train if lo <= _bucket(p.id) < hi]


def split(pieces: Sequence[Piece]) -> tuple[list[Piece], list[Piece]]:
    """``(train, held_out)`` by piece."""
    train = [p for p in pieces if not is_held_out(p.id)]
    held = [p for p in pieces if is_held_out(p.id)]
    return train, held


def save_pieces(path: Path, pieces: Sequence[Piece], recipe: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "recipe": recipe,
        "pieces": [{"id": p.id, "source": p.source, "tokens": list(p.tokens)} for p in pieces],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def load_pieces(path: Path) -> tuple[list[Piece], dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    pieces = [Piece(d["id"], d["source"], tuple(d["tokens"])) for d in data["pieces"]]
    return pieces, data["recipe"]


def cached(name: str, recipe: dict, extract: Callable[[], list[Piece]]) -> list[Piece]:
    """The pieces of ``extract()``, from the cache when an extraction with the same recipe ran before."""
    path = cache_dir() / f"{name}.json"
    if path.exists():
        try:
            pieces, old = load_pieces(path)
            if old == recipe:
                return pieces
        except (OSError, ValueError, KeyError):
            pass
    pieces = extract()
    save_pieces(path, pieces, recipe)
    return pieces
