"""``strum live --instrument PRESET``: play an instrument (or a whole song) from a MIDI controller.

Without ``--midi-in`` the engine makes a MIDI input port of its own (``strum:midi_in``) for a controller or
another program to connect to; with it, it connects to the named ports and follows them when they are
unplugged and plugged in again. The engine runs in its own process; see :mod:`bridge.cli.console`.
"""

from __future__ import annotations

import argparse
import os

from bridge.cli import CliError
from bridge.cli.console import add_live_options, run_console, spec_options

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--instrument",
        metavar="PRESET",
        help="a synth preset (bass, keys, lead, pad, pluck, strings, brass) or a .sf2/.sfz/kit/WAV-folder"
        " path",
    )
    p.add_argument("--song", metavar="SONG", help="also load this song file (play it with space)")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo without a song (default 120)")
    add_live_options(p)
    p.epilog = "Example: strum live --instrument keys --midi-in 'Launchkey'   (q quits)"


def run(args: argparse.Namespace) -> int:
    from engine.live_process import EngineProcess, LiveSpec

    if not args.instrument and not args.song:
        raise CliError("give --instrument PRESET and/or --song SONG", 2)
    if args.instrument and not os.path.exists(args.instrument):
        from presets.library import list_presets

        names = sorted(p.name for p in list_presets("synth"))
        if args.instrument not in names:
            raise CliError(
                f"--instrument: no synth preset or file {args.instrument!r} (presets: {', '.join(names)})", 2
            )
    if not 1 <= args.bpm <= 999:
        raise CliError(f"--bpm must be in 1..999, got {args.bpm:g}", 2)
    if args.song:
        from presets.errors import PresetError
        from presets.song import load_song

        try:
            load_song(args.song)
        except (OSError, PresetError) as exc:
            raise CliError(str(exc), 2) from None
    spec = LiveSpec(song=args.song, instrument=args.instrument, bpm=args.bpm, **spec_options(args))
    return run_console(EngineProcess(spec), args.seconds, until_end=False, title="strum live")
