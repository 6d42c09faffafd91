"""``strum map SONG``: bind MIDI controls to a song's parameters, by hand or by moving the control.

``strum map SONG`` (or ``list``) prints the song's mappings, ``targets`` every parameter path with its
range, ``add TARGET --cc N`` (or ``--cc14``, ``--nrpn``, ``--note``, ``--pitchbend``) adds a mapping,
``remove INDEX`` drops one and ``learn TARGET --midi-in PORT`` waits for a control to move and maps it.
Channels on the command line count from 1 (as on the gear); the song file counts them from 0, as its
clips do. A change rewrites only the song's ``mappings:`` block (its comments and layout stay), is checked
by loading the new text, and is saved atomically with the previous file kept as ``SONG.bak``; bad input
leaves the file as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.mapping import Mapping
    from engine.session import Session

__all__ = ["add_arguments", "replace_mappings", "run", "song_targets"]

LEARN_SETTLE_S = 0.5  # a lone CC below 32 is taken as 7-bit once no partner came for this long


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.mapping import CURVES, MODES, NOTE_MODES, TAKEOVERS

    p.add_argument("song", metavar="SONG.yaml", help="the song file whose mappings to show or change")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="the song's mappings, one a line with its index (the default)")
    sub.add_parser("targets", help="every parameter path of the song, with its range and unit")

    def options(q: argparse.ArgumentParser) -> None:
        q.add_argument("target", metavar="TARGET", help="a parameter path, e.g. bass/volume_db (see targets)")
        q.add_argument("--channel", type=int, metavar="1..16", help="only this MIDI channel (default: any)")
        q.add_argument("--min", type=float, dest="min_value", metavar="V", help="value at the low end")
        q.add_argument("--max", type=float, dest="max_value", metavar="V", help="value at its high end")
        q.add_argument("--curve", choices=CURVES, default="linear", help="how the value follows the control")
        q.add_argument("--invert", action="store_true", help="turn the control around")
        q.add_argument("--mode", choices=MODES, default="absolute", help="relative_*: an endless encoder")
        q.add_argument("--step", type=float, metavar="S", help="part of the range per encoder tick (1/127)")
        q.add_argument("--takeover", choices=TAKEOVERS, default="jump", help="pickup: wait for the control")
        q.add_argument("--note-mode", choices=NOTE_MODES, default="momentary", help="for --note")

    add = sub.add_parser("add", help="add a mapping")
    options(add)
    src = add.add_mutually_exclusive_group(required=True)
    src.add_argument("--cc", type=int, metavar="N", help="a 7-bit controller, 0..127")
    src.add_argument("--cc14", type=int, metavar="N", help="a 14-bit pair: MSB on N (0..31), LSB on N+32")
    src.add_argument("--nrpn", type=int, metavar="N", help="an NRPN, 0..16383")
    src.add_argument("--note", metavar="N", help="a note (pad, key): 0..127 or a name like C4")
    src.add_argument("--pitchbend", action="store_true", help="the pitch bend wheel")
    remove = sub.add_parser("remove", help="remove the mapping at INDEX (see list)")
    remove.add_argument("index", type=int, metavar="INDEX")
    learn = sub.add_parser("learn", help="map the next control moved on a MIDI input")
    options(learn)
    learn.add_argument("--midi-in", required=True, metavar="PORT", help="a MIDI input (see strum devices)")
    learn.add_argument("--midi-api", choices=("auto", "jack", "alsa"), default="auto", help="MIDI backend")
    learn.add_argument("--timeout", type=float, default=30.0, metavar="S", help="give up after S seconds")
    p.epilog = (
        "Example: strum map song.yaml add bass/instrument/cutoff_hz --cc 74 --min 200 --max 8000 --curve log"
    )


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    path = Path(args.song)
    text, session = _load(path)
    action = args.action or "list"
    if action == "list":
        _print_list(path, session)
        return 0
    if action == "targets":
        _print_targets(session)
        return 0
    mappings = list(session.mappings)
    if action == "remove":
        if not 0 <= args.index < len(mappings):
            have = f"0..{len(mappings) - 1}" if mappings else "none: the song has no mappings"
            raise CliError(f"no mapping {args.index} in {path} (indexes: {have})", 2)
        gone = mappings.pop(args.index)
        _save(path, text, mappings)
        print(f"removed mapping {args.index}: {gone.describe()}")
        return 0
    options = _options(args)
    if action == "add":
        mapping = _checked(session, _mapping(args, options))
        _save(path, text, [*mappings, mapping])
        print(f"added mapping {len(mappings)}: {mapping.describe()}")
        return 0
    mapping = _learn(args, session, options)
    kept = [m for m in mappings if m.target != mapping.target]  # learning re-maps the target
    _save(path, text, [*kept, mapping])
    print(f"learnt mapping {len(kept)}: {mapping.describe()}")
    return 0


# -- reading and writing the song ----------------------------------------------------------------------------
def _load(path: Path) -> tuple[str, Session]:
    from bridge.cli import CliError
    from presets.errors import SongFileError
    from presets.song import parse_song

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read the song: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start})", 2) from None
    try:
        return text, parse_song(text, str(path))
    except SongFileError as exc:
        raise CliError(str(exc), 2) from None


def replace_mappings(text: str, mappings: list[dict[str, Any]]) -> str:
    """Song text with its top-level ``mappings`` block replaced by ``mappings`` (removed when empty); the
    rest of the text, comments included, stays as it was. A song not written in block style is written
    out whole instead (:func:`presets.song_yaml.dump_song_yaml`)."""
    import yaml

    from presets.marked import load_marked
    from presets.song_yaml import dump_song_yaml

    doc = load_marked(text)
    want = {k: v for k, v in yaml.safe_load(text).items() if k != "mappings"}
    if mappings:
        want["mappings"] = mappings
    block = dump_song_yaml({"mappings": mappings}).splitlines(keepends=True) if mappings else []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    starts = sorted(line for line, col in doc.name_marks.values())
    if "mappings" in doc:
        first = doc.name_marks["mappings"][0] - 1
        later = [line - 1 for line in starts if line - 1 > first]
        end = later[0] if later else len(lines)
        while end > first + 1 and _loose(lines[end - 1]):  # comments above the next field stay with it
            end -= 1
        lines[first:end] = block
    else:
        lines += block
    new = "".join(lines)
    try:
        same = yaml.safe_load(new) == want and all(col == 1 for _, col in doc.name_marks.values())
    except yaml.YAMLError:
        same = False
    return new if same else dump_song_yaml(want)


def _loose(line: str) -> bool:
    """A blank line or a comment at the start of a line: not part of the block above it."""
    return not line.strip() or line.startswith("#")


def save_mappings(path: Path, text: str, mappings: list[Mapping]) -> None:
    """Write ``mappings`` into the song file at ``path`` (whose text is ``text``), atomically; the rest of
    the file stays as it was. ValueError if the song would not load afterwards (nothing written),
    ``presets.storage.SaveError`` if it cannot be written."""
    from presets.errors import SongFileError
    from presets.song import parse_song
    from presets.storage import atomic_write

    new = replace_mappings(text, [m.to_dict() for m in mappings])
    try:
        parse_song(new, str(path))
    except SongFileError as exc:
        raise ValueError(f"the song would not load after this change, so it is not saved: {exc}") from None
    atomic_write(path, new)


def _save(path: Path, text: str, mappings: list[Mapping]) -> None:
    from bridge.cli import CliError
    from presets.storage import SaveError

    try:
        save_mappings(path, text, mappings)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    except SaveError as exc:
        raise CliError(str(exc), 1) from None


# -- mappings from the command line --------------------------------------------------------------------------
def _options(args: argparse.Namespace) -> dict[str, Any]:
    from bridge.cli import CliError

    out: dict[str, Any] = {
        "curve": args.curve,
        "invert": args.invert,
        "mode": args.mode,
        "takeover": args.takeover,
        "note_mode": args.note_mode,
    }
    if args.channel is not None:
        if not 1 <= args.channel <= 16:
            raise CliError(f"--channel must be in 1..16, got {args.channel}", 2)
        out["channel"] = args.channel - 1
    for key in ("min_value", "max_value", "step"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    return out


def _mapping(args: argparse.Namespace, options: dict[str, Any]) -> Mapping:
    from bridge.cli import CliError
    from engine.mapping import Mapping
    from presets.devices import note_number

    try:
        if args.pitchbend:
            return Mapping(args.target, "pitchbend", **options)
        if args.note is not None:
            note = int(args.note) if args.note.lstrip("-").isdigit() else args.note
            return Mapping(args.target, "note", note_number(note), **options)
        source = next(s for s in ("cc", "cc14", "nrpn") if getattr(args, s) is not None)
        return Mapping(args.target, source, getattr(args, source), **options)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None


def _checked(session: Session, mapping: Mapping) -> Mapping:
    """``mapping`` if its target names a parameter of the song and its range suits it (CliError if not)."""
    from bridge.cli import CliError
    from engine.mapping import mapped_range
    from presets.song import mapping_param

    try:
        mapped_range(mapping, mapping_param(session, mapping.target))
    except ValueError as exc:
        raise CliError(f"{mapping.target}: {exc}", 2) from None
    return mapping


def _learn(args: argparse.Namespace, session: Session, options: dict[str, Any]) -> Mapping:
    from bridge.cli import CliError
    from engine.mapping import Mapping, learn_from
    from engine.midi_io import MidiInput, MidiPortError

    source = "cc" if options["note_mode"] == "momentary" else "note"
    try:
        _checked(session, Mapping(args.target, source, **options))  # the target and options, before waiting
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    if not args.timeout > 0:
        raise CliError(f"--timeout must be a positive number of seconds, got {args.timeout:g}", 2)
    client = os.environ.get("STRUM_CLIENT_NAME", "strum")
    try:
        port = MidiInput(args.midi_in, args.midi_api, client_name=client)
    except MidiPortError as exc:
        raise CliError(str(exc), 2) from None
    try:
        if port.connected_to is None:
            raise CliError(f"no MIDI input matches {args.midi_in!r} (strum devices lists them)", 2)
        print(f"move a control on {port.connected_to} for {args.target}", file=sys.stderr, flush=True)
        seen: list[tuple[int, int, int]] = []
        deadline = last = time.monotonic() + args.timeout
        while True:
            now = time.monotonic()
            got = port.poll(now)
            if got is not None:
                msg = got[0]
                if len(msg) == 3 and 0x80 <= msg[0] < 0xF0:
                    seen.append((msg[0], msg[1], msg[2]))
                    last = now
                continue
            settled = bool(seen) and (now - last >= LEARN_SETTLE_S or now >= deadline)
            try:
                mapping = learn_from(seen, args.target, final=settled, **options)
            except ValueError as exc:  # e.g. a relative mode given for the note that was played
                raise CliError(f"the control moved does not suit the options: {exc}", 2) from None
            if mapping is not None:
                return _checked(session, mapping)
            if now >= deadline:
                raise CliError(f"no control moved on {port.connected_to} within {args.timeout:g} s", 1)
            time.sleep(0.002)
    finally:
        port.close()


# -- printing ------------------------------------------------------------------------------------------------
def _print_list(path: Path, session: Session) -> None:
    from engine.mapping import mapped_range
    from presets.song import mapping_param

    if not session.mappings:
        print(f"{path}: no mappings (add one: strum map {path} add TARGET --cc N)")
        return
    print(f"{'#':>3}  {'source':<9} {'ch':>3} {'number':>6}  {'target':<32} {'range':<22} curve   mode")
    for k, m in enumerate(session.mappings):
        param = mapping_param(session, m.target)
        lo, hi = mapped_range(m, param)
        unit = f" {param.unit}" if param.unit else ""
        channel = "any" if m.channel is None else str(m.channel + 1)
        number = "-" if m.source == "pitchbend" else str(m.number)
        flags = [m.mode, m.takeover] + (["inverted"] if m.invert else [])
        if m.source == "note":
            flags.append(m.note_mode)
        print(
            f"{k:>3}  {m.source:<9} {channel:>3} {number:>6}  {m.target:<32} {f'{lo:g}..{hi:g}{unit}':<22}"
            f" {m.curve:<7} {' '.join(flags)}"
        )


def song_targets(session: Session) -> list[str]:
    """Every parameter path of a song, in the order of :func:`engine.control.param_paths`, unbuilt."""
    from engine.control import STRIP_PARAMS, device_list, strip_names

    sends = {t.name: sorted(s.bus for s in t.sends) for t in session.tracks}
    out: list[str] = []
    for name in strip_names(session):
        out += [f"{name}/{p}" for p in STRIP_PARAMS]
        out += [f"{name}/send/{bus}" for bus in sends.get(name, [])]
        for dev, proc in device_list(session, name):
            out += [f"{name}/{dev}/{p}" for p in proc.params]
    return out


def _print_targets(session: Session) -> None:
    from presets.song import mapping_param

    paths = song_targets(session)
    width = max(len(p) for p in paths)
    for p in paths:
        param = mapping_param(session, p)
        unit = f" {param.unit}" if param.unit else ""
        kind = "  (stepped)" if param.stepped else ""
        print(f"{p:<{width}}  {param.min_value:g}..{param.max_value:g}{unit}{kind}")
