"""``strum play SONG``: play a song file through the audio device, with transport keys and a meter line.

The engine runs in its own process; see :mod:`bridge.cli.console` for the keys. Live MIDI (``--midi-in``)
plays the armed track (``--arm``, default the first) over the song. Exit status: 0 played; 2 the song or an
option was refused; 1 the audio device could not be used (or its server did not come back).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli import CliError
from bridge.cli.console import add_live_options, run_console, spec_options

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("song", metavar="SONG", help="a song file (.yaml)")
    p.add_argument("--start-bar", type=int, default=1, metavar="N", help="start at this bar (default 1)")
    p.add_argument("--stopped", action="store_true", help="open the song without starting to play")
    add_live_options(p)
    p.epilog = "Example: strum play examples/songs/demo.yaml   (space play/stop, arrows move by bar, q quit)"


def run(args: argparse.Namespace) -> int:
    from engine.live_process import EngineProcess, LiveSpec
    from presets.errors import PresetError
    from presets.song import load_song

    path = Path(args.song)
    try:
        session = load_song(path)  # checked here, so a bad file is refused before any device opens
    except (OSError, PresetError) as exc:
        raise CliError(str(exc), 2) from None
    if args.start_bar < 1:
        raise CliError(f"--start-bar must be 1 or more, got {args.start_bar}", 2)
    opts = spec_options(args)
    if opts["arm"] and opts["arm"] not in {t.name for t in session.tracks}:
        raise CliError(f"--arm: the song has no track {opts['arm']!r}", 2)
    start = session.tempo_map.bar_to_beat(args.start_bar - 1)
    spec = LiveSpec(song=str(path), playing=not args.stopped, start_beat=start, **opts)
    return run_console(EngineProcess(spec), args.seconds, until_end=True, title="strum play")
