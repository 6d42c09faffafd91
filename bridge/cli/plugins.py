"""``strum plugins scan|list|info``: find VST3 plugins, blocklist the ones that crash or hang, describe them.

``scan`` loads each bundle in its own process with a timeout (see :mod:`dsp.plugins.scan`) and caches the
result, so ``list`` and ``info`` answer from the cache without loading anything.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bridge.cli import CliError

if TYPE_CHECKING:
    from dsp.plugins.scan import BlockedBundle, BundleResult, PluginInfo

__all__ = ["add_arguments", "run"]

_WIDTHS = {1: "mono", 2: "stereo"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sc = sub.add_parser("scan", help="load every bundle in a sandbox process and cache what it is")
    sc.add_argument("paths", nargs="*", metavar="PATH", help="bundles or folders (default: the VST3 folders)")
    sc.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per bundle (default 10 s)")
    sc.add_argument("--sample-rate", type=int, default=44100, metavar="N", help="host rate (default 44100)")
    sc.add_argument("--rescan", action="store_true", help="probe every bundle again, cached or not")
    sc.add_argument("--jobs", type=int, default=None, metavar="N", help="probes at once (default: CPUs)")
    ls = sub.add_parser("list", help="the cached plugins (no scan)")
    ls.add_argument("--all", action="store_true", help="also the blocklisted bundles, with the reasons")
    info = sub.add_parser("info", help="a cached plugin's parameters: range, default and unit")
    info.add_argument("name", help="plugin name (case-insensitive), identifier or bundle path")
    p.epilog = "Example: strum plugins scan /usr/lib/vst3 --timeout 5 && strum plugins info ZamCompX2"


def run(args: argparse.Namespace) -> int:
    from dsp.plugins.scan import ScanError
    from presets.errors import PresetError

    try:
        if args.action == "scan":
            return _scan(args)
        if args.action == "list":
            return _list(args.all)
        return _info(args.name)
    except (ScanError, ValueError) as exc:
        raise CliError(str(exc), 2) from None
    except PresetError as exc:  # the cache could not be written
        raise CliError(str(exc), 1) from None


def _progress(r: BundleResult) -> None:
    from pathlib import Path

    name = Path(r.path).name
    if r.blocked is not None:
        what = f"BLOCKED ({r.blocked.kind}): {r.blocked.reason}"
    else:
        what = f"{r.status}: {_n(len(r.plugins), 'plugin')}"
    took = "" if r.status == "cached" else f"  {r.duration_s:.2f} s"
    width = len(str(r.total))
    print(f"[{r.index:>{width}}/{r.total}] {name}  {what}{took}", file=sys.stderr, flush=True)


def _scan(args: argparse.Namespace) -> int:
    from dsp.plugins.scan import scan

    if not args.timeout > 0:
        raise CliError(f"--timeout must be > 0, got {args.timeout:g}", 2)
    if args.jobs is not None and args.jobs < 1:
        raise CliError(f"--jobs must be >= 1, got {args.jobs}", 2)
    report = scan(
        args.paths or None,
        timeout_s=args.timeout,
        sample_rate=args.sample_rate,
        rescan=args.rescan,
        jobs=args.jobs,
        on_result=_progress,
    )
    if report.cache_warning:
        print(f"warning: {report.cache_warning}", file=sys.stderr)
    _table(report.plugins)
    _blocked(report.blocklist)
    print(
        f"{_n(report.found, 'plugin')} found, {report.blocked} blocklisted, {_n(report.skipped, 'bundle')} "
        f"unchanged (cached), {report.probed} probed in {report.elapsed_s:.1f} s; cache: {report.cache_path}",
        file=sys.stderr,
    )
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _list(include_blocked: bool) -> int:
    from dsp.plugins.scan import cache_file, list_blocked, list_plugins

    plugins = list_plugins()
    _table(plugins)
    blocked = list_blocked() if include_blocked else []
    _blocked(blocked)
    if not plugins and not blocked:
        print("no plugins cached: run `strum plugins scan`", file=sys.stderr)
    else:
        print(f"({_n(len(plugins), 'plugin')}; cache: {cache_file()})", file=sys.stderr)
    return 0


def _columns(rows: Sequence[Sequence[str]], right: tuple[int, ...] = ()) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _table(plugins: Sequence[PluginInfo]) -> None:
    if not plugins:
        return
    rows = [("NAME", "VENDOR", "KIND", "CHANNELS", "PARAMS", "LATENCY")]
    for p in sorted(plugins, key=lambda p: p.name.lower()):
        width = _WIDTHS.get(p.channels or 0, f"{p.channels} ch" if p.channels else "?")
        rows.append((p.name, p.vendor, p.kind, width, str(len(p.parameters)), f"{p.latency_samples} smp"))
    _columns(rows, right=(4, 5))


def _blocked(blocked: Sequence[BlockedBundle]) -> None:
    if not blocked:
        return
    print(f"\nBlocklisted ({len(blocked)}):")
    for b in blocked:
        print(f"  {b.path}  [{b.kind}] {b.reason}")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _info(name: str) -> int:
    from dsp.plugins.scan import find_plugin

    p = find_plugin(name)
    width = _WIDTHS.get(p.channels or 0, f"{p.channels} channels" if p.channels else "unknown")
    print(f"{p.name}  ({p.vendor}, version {p.version})")
    print(f"  kind      {p.kind} ({p.category})")
    print(f"  channels  {width}")
    print(f"  latency   {p.latency_samples} samples at {p.sample_rate:g} Hz")
    print(f"  path      {p.path}")
    print(f"  id        {p.identifier}")
    print(f"\n{len(p.parameters)} parameters:")
    rows = [("PARAMETER", "NAME", "RANGE", "DEFAULT", "UNIT", "STEPS")]
    for q in p.parameters:
        if q.valid_values is not None:
            span = " | ".join(q.valid_values[:8]) + (" | ..." if len(q.valid_values) > 8 else "")
        elif q.is_boolean:
            span = "off | on"
        else:
            span = f"{_fmt(q.min_value)} .. {_fmt(q.max_value)}"
        steps = str(q.num_steps) if q.num_steps else ("toggle" if q.is_boolean else "")
        rows.append((q.python_name, q.name, span, _fmt(q.default_value), q.unit or "", steps))
    _columns(rows)
    return 0
