"""``strum show SONG -o roll.png``: draw a song's piano roll with bars, sections and chord names, no audio."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("song", metavar="SONG", help="a song file (.yaml) or a Standard MIDI File (.mid)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="the PNG file to write")
    p.add_argument(
        "--width", type=int, default=1600, metavar="PX", help="picture width in pixels (default 1600)"
    )
    p.epilog = (
        "One colour per track, opacity by velocity, drums (channel 10) in lanes below; the height follows"
        " the pitch range. Example: strum show examples/songs/demo.yaml -o out/demo-roll.png"
    )


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError
    from bridge.cli.render import _load, check_writable

    song = Path(args.song)
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CliError(f"{out}: the output must be a .png file", 2)
    from bridge.plots import MAX_WIDTH, MIN_WIDTH

    if not MIN_WIDTH <= args.width <= MAX_WIDTH:
        raise CliError(f"--width must be {MIN_WIDTH}..{MAX_WIDTH} pixels, got {args.width}", 2)
    check_writable(out)
    session = _load(song)  # a song that cannot be read: CliError, exit 2

    from bridge.plots import plot_roll, write_png

    fig, info = plot_roll(session, width_px=args.width, name=song.stem)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_png(fig, out)
    except OSError as exc:
        raise CliError(f"{out}: cannot write the picture: {exc}", 2) from None
    print(
        f"wrote {out}: {info.width_px}x{info.height_px} px, {len(session.tracks)} tracks,"
        f" {len(session.sections)} sections, {len(info.chords)} chord spans"
    )
    return 0
