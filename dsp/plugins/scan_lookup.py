"""Reading the plugin scan cache without scanning: :func:`list_plugins`, :func:`list_blocked` and
:func:`find_plugin`. An unreadable cache gives no plugins and logs why; run :func:`dsp.plugins.scan.scan`
to fill it. Import these from :mod:`dsp.plugins.scan`, which re-exports them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from dsp.plugins.scan_cache import blocked_of, cache_file, plugins_of, read_cache
from dsp.plugins.scan_records import BlockedBundle, PathLike, PluginInfo, PluginLookupError

__all__ = ["find_plugin", "list_blocked", "list_plugins"]

log = logging.getLogger("dsp.plugins.scan")  # the logger these wrote to before the split


def _cached(cache_path: PathLike | None) -> dict[str, dict[str, Any]]:
    path = Path(cache_path) if cache_path is not None else cache_file()
    entries, warning = read_cache(path)
    if warning:
        log.warning("%s (run a scan)", warning)
    return entries


def list_plugins(cache_path: PathLike | None = None) -> list[PluginInfo]:
    """Every plugin in the cache, by name (no scan; an unreadable cache gives none and logs why)."""
    out: list[PluginInfo] = []
    for path, entry in _cached(cache_path).items():
        if entry.get("status") == "ok":
            try:
                out.extend(plugins_of(entry, path))
            except (KeyError, TypeError, ValueError):
                log.warning("skipping a malformed cache entry for %s", path)
    return sorted(out, key=lambda p: (p.name.lower(), p.path))


def list_blocked(cache_path: PathLike | None = None) -> list[BlockedBundle]:
    """The blocklisted bundles in the cache, with the reasons."""
    entries = _cached(cache_path)
    return sorted((blocked_of(e, p) for p, e in entries.items() if e.get("status") != "ok"), key=_bundle_key)


def _bundle_key(b: BlockedBundle) -> str:
    return Path(b.path).stem.lower()


def find_plugin(name_or_path: str, cache_path: PathLike | None = None) -> PluginInfo:
    """The cached plugin with this name (case-insensitive; else a unique part of a name), identifier or
    bundle path. Raises :class:`PluginLookupError` naming the candidates when none or several match."""
    plugins = list_plugins(cache_path)
    key = name_or_path.strip().lower()
    real = os.path.realpath(os.path.expanduser(name_or_path))
    matches = [p for p in plugins if p.path == real or p.identifier.lower() == key]
    matches = matches or [p for p in plugins if p.name.lower() == key]
    matches = matches or [p for p in plugins if key and key in p.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = [f"{p.name} ({p.path})" for p in matches]
        raise PluginLookupError(f"{name_or_path!r} is ambiguous: {', '.join(names)}", names)
    blocked = [b for b in list_blocked(cache_path) if key in (_bundle_key(b), b.path.lower())]
    if blocked:
        b = blocked[0]
        raise PluginLookupError(f"{name_or_path!r} is blocklisted ({b.path}: {b.reason})", [])
    names = sorted({p.name for p in plugins}, key=str.lower)
    known = ", ".join(names) if names else "none: run `strum plugins scan`"
    raise PluginLookupError(f"no plugin {name_or_path!r} (known: {known})", names)
