"""Plugin scanning that a crashing or hanging plugin cannot stop, with a persistent cache and a blocklist.

Call :func:`scan` to find bundles (``*.vst3``; ``*.component`` on macOS) and describe them, then
:func:`list_plugins`, :func:`list_blocked` and :func:`find_plugin` to read the cache. Each bundle is loaded
by ``python -m dsp.plugins.probe`` in its own process group, several at a time; one that crashes, fails
to load or outlives ``timeout_s`` (its whole process group is killed) is blocklisted with the reason.

The cache is JSON at ``$STRUM_CACHE_DIR/plugins.json`` (default ``$XDG_CACHE_HOME/strumspace``, else
``~/.cache/strumspace``), keyed by bundle path. Each entry keeps the bundle's modification stamp, so a later
scan skips unchanged bundles, good and blocklisted alike, unless ``rescan=True``. A corrupt cache is
reported in :attr:`ScanReport.cache_warning` and rebuilt. Control-side only: never call any of this from
an audio callback.

The parts live beside this module: :mod:`~dsp.plugins.scan_records` (the records and errors),
:mod:`~dsp.plugins.scan_cache` (the cache file and stamps), :mod:`~dsp.plugins.scan_probes` (the probe
processes) and :mod:`~dsp.plugins.scan_lookup` (reading the cache); everything public is re-exported here.

Errors::

    ScanError              (a path to scan does not exist or is not a bundle or folder)
    └── PluginLookupError  (find_plugin: no such plugin, or several match; ``candidates`` lists names)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from dsp.plugins.scan_cache import CACHE_FORMAT as CACHE_FORMAT  # re-exported: it was defined here
from dsp.plugins.scan_cache import (
    blocked_of,
    cache_file,
    is_fresh,
    plugins_of,
    read_cache,
    stamp,
    write_cache,
)
from dsp.plugins.scan_lookup import find_plugin, list_blocked, list_plugins
from dsp.plugins.scan_probes import run_probes
from dsp.plugins.scan_records import (
    BlockedBundle,
    BundleResult,
    ParameterInfo,
    PathLike,
    PluginInfo,
    PluginLookupError,
    ScanError,
    ScanReport,
)

__all__ = [
    "BlockedBundle",
    "BundleResult",
    "ParameterInfo",
    "PluginInfo",
    "PluginLookupError",
    "ScanError",
    "ScanReport",
    "cache_file",
    "default_paths",
    "find_bundles",
    "find_plugin",
    "list_blocked",
    "list_plugins",
    "scan",
]

log = logging.getLogger(__name__)


# --- where things are ---------------------------------------------------------------------------------


def default_paths() -> list[Path]:
    """The platform's plugin folders that exist."""
    home = Path.home()
    if sys.platform == "darwin":
        lib = [Path("/Library/Audio/Plug-Ins"), home / "Library/Audio/Plug-Ins"]
        candidates = [d / sub for d in lib for sub in ("VST3", "Components")]
    elif os.name == "nt":
        common = os.environ.get("COMMONPROGRAMFILES", r"C:\Program Files\Common Files")
        candidates = [Path(common) / "VST3"]
    else:
        candidates = [Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3"), home / ".vst3"]
    return [p for p in candidates if p.is_dir()]


def _suffixes() -> tuple[str, ...]:
    return (".vst3", ".component") if sys.platform == "darwin" else (".vst3",)


def find_bundles(paths: Iterable[PathLike]) -> list[str]:
    """The bundles at or under ``paths`` (a bundle is not searched inside), as real paths."""
    suffixes = _suffixes()
    found: dict[str, None] = {}
    for given in paths:
        p = Path(given).expanduser()
        if not p.exists():
            raise ScanError(f"no such file or directory: {given}")
        if p.name.endswith(suffixes):
            found[os.path.realpath(p)] = None
        elif p.is_dir():
            for top, dirs, files in os.walk(p, followlinks=True):
                for name in sorted(dirs + files):
                    if name.endswith(suffixes):
                        found[os.path.realpath(os.path.join(top, name))] = None
                dirs[:] = sorted(d for d in dirs if not d.endswith(suffixes))
        else:
            raise ScanError(f"not a plugin bundle ({', '.join(suffixes)}) or a folder: {given}")
    return list(found)


# --- the public calls ---------------------------------------------------------------------------------


def scan(
    paths: Sequence[PathLike] | None = None,
    *,
    timeout_s: float = 10.0,
    sample_rate: float = 44100,
    rescan: bool = False,
    cache_path: PathLike | None = None,
    jobs: int | None = None,
    on_result: Callable[[BundleResult], None] | None = None,
    now: Callable[[], float] = time.monotonic,
) -> ScanReport:
    """Scan the bundles at or under ``paths`` (default: :func:`default_paths`) and update the cache.

    Each bundle not already cached with the same stamp and rate is probed in its own process, up to
    ``jobs`` (default: the CPU count) at a time, and killed after ``timeout_s``. ``on_result`` is called
    as each bundle is done (cached ones first). Raises :class:`ScanError` for a path that does not exist.
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if not 8000 <= sample_rate <= 768000:
        raise ValueError(f"sample_rate must be in 8000..768000, got {sample_rate}")
    start = now()
    bundles = find_bundles(default_paths() if paths is None else paths)
    cache = Path(cache_path) if cache_path is not None else cache_file()
    entries, warning = read_cache(cache)
    if warning:
        log.warning("%s", warning)
    report = ScanReport(cache_path=cache, cache_warning=warning)

    def record(bundle: str, entry: dict[str, Any], duration_s: float, cached: bool) -> None:
        entries[bundle] = entry
        plugins = plugins_of(entry, bundle) if entry["status"] == "ok" else ()
        blocked = blocked_of(entry, bundle) if entry["status"] != "ok" else None
        report.plugins.extend(plugins)
        if blocked:
            report.blocklist.append(blocked)
        status = "cached" if cached else ("ok" if blocked is None else "blocked")
        result = BundleResult(
            bundle, status, plugins, blocked, duration_s, len(report.results) + 1, len(bundles)
        )
        report.results.append(result)
        if on_result:
            on_result(result)

    to_probe: list[str] = []
    for bundle in bundles:
        entry = entries.get(bundle)
        try:
            fresh = not rescan and entry is not None and is_fresh(entry, bundle, sample_rate)
            if fresh and entry is not None:
                record(bundle, entry, 0.0, cached=True)
                report.skipped += 1
                continue
        except (KeyError, TypeError, ValueError):
            log.warning("malformed cache entry for %s: scanning it again", bundle)
        to_probe.append(bundle)

    def probed(bundle: str, entry: dict[str, Any], duration_s: float) -> None:
        try:
            entry["stamp"] = stamp(bundle)
        except OSError:
            entry["stamp"] = None  # vanished while probed: never fresh
        entry["scanned_at"] = time.time()
        entry["duration_s"] = round(duration_s, 3)
        report.probed += 1
        record(bundle, entry, duration_s, cached=False)

    # Start the ones that hung last time first, so their wait overlaps the others' probes.
    to_probe.sort(key=lambda b: (entries.get(b) or {}).get("kind") != "timeout")
    try:
        run_probes(
            to_probe,
            timeout_s=timeout_s,
            sample_rate=float(sample_rate),
            jobs=max(1, jobs or os.cpu_count() or 1),
            done=probed,
            now=now,
        )
    finally:
        gone = [k for k in entries if not os.path.exists(k)]  # uninstalled since: forget them
        for key in gone:
            del entries[key]
        if report.probed or warning or gone:
            write_cache(cache, entries)
    report.elapsed_s = now() - start
    return report
