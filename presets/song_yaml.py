"""Song documents written as readable YAML: :func:`dump_song_yaml`, and saved safely: :func:`save_song`.

A song document is what :mod:`presets.song` reads: plain dicts, lists, strings, numbers and booleans
(e.g. from :func:`bridge.midi_import.song_document_from_midi`). The text keeps a fixed key order (the
song's top-level fields as ``docs/song-format.md`` lists them, tracks and clips with their name first),
writes a small mapping or list (a note, a tempo point, an instrument) in flow style on one line and a
list of them one per line, and writes every float as the shortest text that reads back as the same
number (``0.5``, never ``0.50000000001`` unless that is the value). ``yaml.safe_load`` of the text equals
the document, whatever its strings and keys contain.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from engine.mapping import MAPPING_FIELDS

__all__ = ["FLOW_WIDTH", "KEY_ORDER", "dump_song_yaml", "save_song"]

FLOW_WIDTH = 100  # a mapping or list whose flow text is longer than this goes on several lines
INDENT = "  "

# Key order by the kind of mapping; keys not listed follow in the document's order.
KEY_ORDER: dict[str, tuple[str, ...]] = {
    "song": (
        "schema_version",
        "metadata",
        "title",
        "key",
        "tempo",
        "tempo_map",
        "time_signatures",
        "sections",
        "length_beats",
        "buses",
        "tracks",
        "master",
        "mappings",
    ),
    "metadata": ("title", "artist", "album", "genre", "comment", "created", "modified"),
    "track": (
        "name",
        "instrument",
        "inserts",
        "volume_db",
        "pan",
        "mute",
        "solo",
        "output",
        "sends",
        "automation",
        "clips",
        "audio_clips",
    ),
    "bus": ("name", "inserts", "volume_db", "pan", "mute", "output", "automation"),
    "master": ("volume_db", "inserts", "automation"),
    "clip": (
        "name",
        "start_beats",
        "length_beats",
        "offset_beats",
        "midi_file",
        "track",
        "channel",
        "notes",
        "controls",
        "pitch_bends",
        "programs",
    ),
    "device": ("type", "preset", "max_voices", "params"),
    "mapping": MAPPING_FIELDS,
}
# which kind of mapping sits under a key (for lists: each item)
_CHILD_KIND = {
    "metadata": "metadata",
    "tracks": "track",
    "buses": "bus",
    "master": "master",
    "clips": "clip",
    "audio_clips": "clip",
    "instrument": "device",
    "inserts": "device",
    "mappings": "mapping",
}

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .\-/()+]*", re.ASCII)
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_NO_WRAP = 1 << 30
_MAX_SIMPLE_KEY = 1000


def save_song(doc: Mapping[str, Any], path: str | os.PathLike[str], *, backup: bool = True) -> Path:
    """Write ``doc`` to ``path`` as YAML, after checking that the text loads as a song (a document that
    would not load is refused with its :class:`presets.errors.SongFileError`, and nothing is written).
    The write is atomic and keeps the previous file as ``<path>.bak`` (:func:`presets.storage.atomic_write`),
    so a crash during a save leaves the last good file readable. Returns the path written."""
    from presets.song import parse_song
    from presets.storage import atomic_write

    target = Path(path)
    text = dump_song_yaml(doc)
    parse_song(text, str(target))  # paths in the song are relative to where it will live
    return atomic_write(target, text, backup=backup)


def dump_song_yaml(doc: Mapping[str, Any]) -> str:
    """``doc`` as YAML text (see the module docstring); ends with a newline."""
    if not doc:
        return "{}\n"
    lines: list[str] = []
    _block_mapping(doc, "song", 0, lines)
    return "\n".join(lines) + "\n"


def _ordered(d: Mapping[Any, Any], kind: str) -> list[tuple[Any, Any]]:
    """Listed keys in their order, then the rest in the document's order (the sort is stable)."""
    rank = {k: i for i, k in enumerate(KEY_ORDER.get(kind, ()))}
    last = len(rank)
    return sorted(d.items(), key=lambda kv: rank.get(kv[0], last) if isinstance(kv[0], str) else last)


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, str):
        if _plain_ok(v):
            return v
        # double quotes with YAML's own escapes, on one line whatever the string holds
        text = yaml.safe_dump(v, default_style='"', allow_unicode=True, width=_NO_WRAP)
        return text.removesuffix("\n").removesuffix("\n...")
    raise TypeError(f"a song document holds dicts, lists, str, int, float and bool, not {type(v).__name__}")


def _plain_ok(text: str) -> bool:
    """Whether ``text`` can be written without quotes, in block and flow style, and read back as text."""
    return (
        _PLAIN.fullmatch(text) is not None
        and not text.endswith(" ")
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG
    )


def _float(v: float) -> str:
    if math.isnan(v):
        return ".nan"
    if math.isinf(v):
        return ".inf" if v > 0 else "-.inf"
    text = float.__repr__(v)  # the shortest text that reads back as this very float (numpy's too)
    if "." not in text and "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"  # YAML 1.1 (PyYAML) reads a float only with a dot
    return text


def _is_container(v: Any) -> bool:
    return isinstance(v, (Mapping, list, tuple))


def _flow(v: Any, kind: str = "") -> str:
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(x)}" for k, x in _ordered(v, kind)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    return _scalar(v)


def _depth(v: Any) -> int:
    if isinstance(v, Mapping):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, (list, tuple)):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def _flow_fits(v: Any, kind: str, indent: int) -> str | None:
    """The flow text of a small container (at most two levels, short enough), else None."""
    if not v:
        return "{}" if isinstance(v, Mapping) else "[]"
    if _depth(v) > 2:
        return None
    if isinstance(v, (list, tuple)) and all(_is_container(x) for x in v):
        return None  # a list of entries: one entry per line
    text = _flow(v, kind)
    return text if len(text) + indent <= FLOW_WIDTH else None


def _block_mapping(d: Mapping[Any, Any], kind: str, level: int, lines: list[str], first: str = "") -> None:
    """Lines of a block mapping at ``level``; ``first`` prefixes its first line (``"- "`` in a list)."""
    pad = INDENT * level
    for n, (k, v) in enumerate(_ordered(d, kind)):
        lead = pad[: -len(first)] + first if first and n == 0 else pad
        key = _scalar(k)
        if len(key) <= _MAX_SIMPLE_KEY:
            head = f"{lead}{key}:"
        else:  # YAML reads a key without "?" only up to 1024 characters
            lines.append(f"{lead}? {key}")
            head = f"{pad}:"
        child = _CHILD_KIND.get(k, "") if isinstance(k, str) else ""
        if not _is_container(v):
            lines.append(f"{head} {_scalar(v)}")
            continue
        flow = _flow_fits(v, child, len(head) + 1)
        if flow is not None:
            lines.append(f"{head} {flow}")
        elif isinstance(v, Mapping):
            lines.append(head)
            _block_mapping(v, child, level + 1, lines)
        else:
            lines.append(head)
            _block_list(v, child, level + 1, lines)


def _block_list(items: Sequence[Any], kind: str, level: int, lines: list[str]) -> None:
    pad = INDENT * level
    for v in items:
        if not _is_container(v):
            lines.append(f"{pad}- {_scalar(v)}")
            continue
        flow = _flow_fits(v, kind, len(pad) + 2)
        if flow is not None:
            lines.append(f"{pad}- {flow}")
        elif isinstance(v, Mapping):
            _block_mapping(v, kind, level + 1, lines, first="- ")
        else:
            lines.append(f"{pad}-")
            _block_list(v, kind, level + 1, lines)
