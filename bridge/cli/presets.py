"""``strum presets list|show|save``: the factory and user presets (synths, effect chains, track templates).

``save`` takes a preset file (``--from FILE``) or lifts one out of a song (``--from-song SONG --track
NAME``): a track's inserts as a chain (``master`` or a bus name work too), a whole track as a template, or
a track's synth (its preset plus its params) as a synth preset. Every preset is checked by building it
before it is written; the write is atomic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.cli import CliError

__all__ = ["add_arguments", "run"]

KINDS = ("synth", "chain", "track")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list presets (user presets hide factory ones of the same name)")
    ls.add_argument("--kind", choices=KINDS, help="only this kind")
    show = sub.add_parser("show", help="print a preset file and where it lives")
    show.add_argument("kind", choices=KINDS)
    show.add_argument("name")
    save = sub.add_parser("save", help="save a user preset from a file or from a song's track")
    save.add_argument("kind", choices=KINDS)
    save.add_argument("name")
    src = save.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="from_file", metavar="FILE", help="a preset file to check and save")
    src.add_argument("--from-song", metavar="SONG", help="a song file to take the preset from")
    save.add_argument("--track", help="with --from-song: the track (or bus, or master) to take")
    save.add_argument("--force", action="store_true", help="replace a user preset of the same name")
    p.epilog = "Example: strum presets save chain my-space --from-song song.yaml --track pad"


def run(args: argparse.Namespace) -> int:
    from presets.errors import PresetError

    try:
        if args.action == "list":
            return _list(args.kind)
        if args.action == "show":
            return _show(args.kind, args.name)
        return _save(args)
    except PresetError as exc:
        raise CliError(str(exc), 2) from None


def _list(kind: str | None) -> int:
    from presets.library import list_presets, user_root

    rows = list_presets(kind)
    width = max((len(r.name) for r in rows), default=4)
    for r in rows:
        print(f"{r.kind:<6} {r.name:<{width}}  {r.source:<7}  {r.description}")
    print(f"({len(rows)} presets; user presets in {user_root()})", file=sys.stderr)
    return 0


def _show(kind: str, name: str) -> int:
    from presets.library import find_preset, load_preset_data

    load_preset_data(kind, name)  # a preset that does not load says why rather than being printed
    path = find_preset(kind, name)
    print(f"# {path}")
    print(path.read_text(), end="")
    return 0


def _save(args: argparse.Namespace) -> int:
    from presets.library import save_preset

    if args.from_file:
        if args.track:
            raise CliError("--track goes with --from-song", 2)
        try:
            raw = Path(args.from_file).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {args.from_file}: {exc.strerror or exc}", 2) from None
        path = save_preset(args.kind, args.name, raw, overwrite=args.force)
    else:
        if not args.track:
            raise CliError("--from-song needs --track NAME (a track, a bus or master)", 2)
        data = _from_song(args.kind, Path(args.from_song), args.track)
        path = save_preset(args.kind, args.name, data, overwrite=args.force)
    print(f"saved {args.kind} preset {args.name!r} to {path}")
    return 0


def _from_song(kind: str, song: Path, track: str) -> dict[str, Any]:
    import yaml

    from presets.song import load_song

    load_song(song)  # the song must be valid: its errors name their place
    doc = yaml.safe_load(song.read_text())
    items = {t["name"]: t for t in doc.get("tracks", []) + doc.get("buses", [])}
    items["master"] = doc.get("master", {})
    if track not in items:
        raise CliError(f"{song} has no track or bus {track!r} (has: {', '.join(items)})", 2)
    item = items[track]
    if kind == "chain":
        if not item.get("inserts"):
            raise CliError(f"{track!r} has no inserts to save as a chain", 2)
        return {"description": f"The inserts of {track} in {song.name}", "inserts": item["inserts"]}
    if "instrument" not in item:
        raise CliError(f"{track!r} has no instrument (a bus, the master or an audio track)", 2)
    if kind == "track":
        keep = {k: item[k] for k in ("instrument", "inserts", "volume_db", "pan") if k in item}
        return {"description": f"Track {track} of {song.name}", **keep}
    return _synth_preset(item["instrument"], track)


def _synth_preset(instrument: dict[str, Any], track: str) -> dict[str, Any]:
    import yaml

    from presets.library import find_preset

    if instrument.get("type") != "synth":
        raise CliError(f"{track!r} does not play the built-in synth", 2)
    out: dict[str, Any] = {}
    if "preset" in instrument:
        out.update(yaml.safe_load(find_preset("synth", instrument["preset"]).read_text()))
    elif "max_voices" in instrument:
        out["max_voices"] = instrument["max_voices"]
    out.update(instrument.get("params") or {})
    out["description"] = out.get("description", f"The synth of {track}")
    return out
