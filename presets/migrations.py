"""Song files of every schema version: each migration takes a document one version forward.

A song file says which ``schema_version`` it was written in. :func:`migrate` checks that number, then
runs the document through every step from that version to :data:`SCHEMA_VERSION`, so a file written by
any earlier StrumSpace loads; a file from a newer StrumSpace is refused with a message saying so (it may
use fields this build does not know, and guessing would lose them). Steps keep the place marks of the
values they move, so an error in a migrated value still points at its line in the file.

History:

- 1: the first format (``docs/song-format.md`` as of the engine core).
- 2: ``title`` moves into ``metadata`` (with artist, album, genre, comment, created, modified); new
  ``key`` and ``sections``; clips may read their notes from a ``.mid`` file (``midi_file``); tracks may
  hold audio clips (``audio_clips``).
"""

from __future__ import annotations

from collections.abc import Callable

from presets.checker import Checker
from presets.marked import MarkedDict, copy_marked

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "V1_FIELDS", "migrate"]

SCHEMA_VERSION = 2

V1_FIELDS = (
    "schema_version",
    "title",
    "tempo",
    "tempo_map",
    "time_signatures",
    "length_beats",
    "tracks",
    "buses",
    "master",
)


def _v1_to_v2(doc: MarkedDict, c: Checker) -> MarkedDict:
    # version 1 knew only its own fields: anything else is a mistake in a version-1 file, named as such
    c.keys(doc, V1_FIELDS, "")
    out = copy_marked(doc)
    if "title" in out:
        meta = MarkedDict(title=out.pop("title"))
        meta.mark = doc.key_marks["title"]
        meta.key_marks = {"title": doc.key_marks["title"]}
        meta.name_marks = {"title": doc.name_marks["title"]}
        out["metadata"] = meta
        out.key_marks["metadata"] = meta.mark
        out.name_marks["metadata"] = doc.name_marks["title"]
    return out


# MIGRATIONS[v] takes a document of version v to version v + 1
MIGRATIONS: dict[int, Callable[[MarkedDict, Checker], MarkedDict]] = {1: _v1_to_v2}


def migrate(doc: MarkedDict, c: Checker) -> MarkedDict:
    """``doc`` brought to :data:`SCHEMA_VERSION` (a new mapping; ``doc`` is left as it was)."""
    version = c.integer(doc, "schema_version", "schema_version", 1, 1_000_000)
    if version > SCHEMA_VERSION:
        raise c.fail(
            doc,
            "schema_version",
            "schema_version",
            f"the file is schema version {version}, from a newer StrumSpace; this one reads versions "
            f"1..{SCHEMA_VERSION} (update StrumSpace to open it)",
        )
    for v in range(version, SCHEMA_VERSION):
        doc = MIGRATIONS[v](doc, c)
    if version != SCHEMA_VERSION:
        doc = copy_marked(doc)
        doc["schema_version"] = SCHEMA_VERSION
    return doc
