"""The plugin scan cache: one JSON file of entries keyed by bundle path, each with the bundle's stamp.

:func:`cache_file` says where it lives; :func:`read_cache` and :func:`write_cache` load and save the
entries; :func:`is_fresh` compares an entry's stamp with the bundle on disk, so :func:`dsp.plugins.scan.scan`
skips what has not changed; :func:`plugins_of` and :func:`blocked_of` turn an entry into records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dsp.plugins.probe import PROBE_VERSION
from dsp.plugins.scan_records import BlockedBundle, PluginInfo
from presets.storage import atomic_write

__all__ = [
    "CACHE_FORMAT",
    "blocked_of",
    "cache_file",
    "is_fresh",
    "plugins_of",
    "read_cache",
    "stamp",
    "write_cache",
]

CACHE_FORMAT = 1


def cache_file() -> Path:
    """``$STRUM_CACHE_DIR/plugins.json``, else ``$XDG_CACHE_HOME/strumspace/plugins.json`` (~/.cache)."""
    if os.environ.get("STRUM_CACHE_DIR"):
        return Path(os.environ["STRUM_CACHE_DIR"]).expanduser() / "plugins.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "strumspace" / "plugins.json"


def stamp(bundle: str) -> dict[str, int]:
    """The bundle's own mtime plus the newest mtime, count and size of what is inside it."""
    st = os.stat(bundle)
    newest, files, size = st.st_mtime_ns, 0, st.st_size if not os.path.isdir(bundle) else 0
    for top, _dirs, names in os.walk(bundle):
        for name in names:
            try:
                s = os.stat(os.path.join(top, name))
            except OSError:
                continue
            newest, files, size = max(newest, s.st_mtime_ns), files + 1, size + s.st_size
    return {"mtime_ns": st.st_mtime_ns, "tree_mtime_ns": newest, "files": files, "bytes": size}


def read_cache(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The cached entries by bundle path, and a warning when the file was unreadable (then: no entries)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot read plugin cache {path}: {exc.strerror or exc}; rebuilding it"
    try:
        doc = json.loads(raw)
        bundles = doc["bundles"]
        if doc.get("format") != CACHE_FORMAT or not isinstance(bundles, dict):
            raise ValueError(f"format {doc.get('format')!r}, expected {CACHE_FORMAT}")
        if not all(isinstance(v, dict) and "status" in v for v in bundles.values()):
            raise ValueError("an entry without a status")
    except (ValueError, KeyError, TypeError) as exc:
        return {}, f"plugin cache {path} is corrupt ({exc}); rebuilding it"
    return bundles, None


def write_cache(path: Path, bundles: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": CACHE_FORMAT, "bundles": dict(sorted(bundles.items()))}
    atomic_write(path, json.dumps(doc, indent=1, allow_nan=False) + "\n", backup=False)


def plugins_of(entry: dict[str, Any], path: str) -> tuple[PluginInfo, ...]:
    rate = float(entry.get("sample_rate", 0))
    return tuple(PluginInfo.from_probe(d, path, rate) for d in entry.get("plugins", ()))


def blocked_of(entry: dict[str, Any], path: str) -> BlockedBundle:
    return BlockedBundle(path, str(entry.get("kind", "error")), str(entry.get("reason", "unknown")))


def is_fresh(entry: dict[str, Any] | None, bundle: str, sample_rate: float) -> bool:
    if entry is None or entry.get("probe_version") != PROBE_VERSION:
        return False
    if float(entry.get("sample_rate", 0)) != float(sample_rate):
        return False  # latency (and whether it loads at all) depends on the rate
    try:
        return entry.get("stamp") == stamp(bundle)
    except OSError:
        return False
