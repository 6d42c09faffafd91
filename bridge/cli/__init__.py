"""The ``strum`` command line. Every subcommand imports what it needs only when it runs, so
``strum --help`` starts fast and rendering never imports the machine-learning stack.

Subcommands live in their own modules (``bridge/cli/render.py``...); each has ``add_parser`` and ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

VERSION = "0.1.0"

# name -> (module, one-line help)
COMMANDS = {
    "render": ("bridge.cli.render", "render a song file or MIDI file to WAV (no sound card needed)"),
    "bench": ("bridge.cli.bench", "run a benchmark against its peers and print a table"),
    "show": ("bridge.cli.show", "draw a piano roll with bars, sections and chords (PNG)"),
    "import": ("bridge.cli.convert", "turn a Standard MIDI File (.mid) into a song file (.yaml)"),
    "export": ("bridge.cli.convert", "write a song file (.yaml) as a Standard MIDI File (.mid)"),
    "presets": ("bridge.cli.presets", "list, show and save presets: synths, effect chains, track templates"),
    "plugins": ("bridge.cli.plugins", "scan VST3 plugins (blocklisting any that crash or hang), list, info"),
    "generate": ("bridge.cli.generate", "arrange and render a new song from a genre, key, tempo and length"),
    "arrange": (
        "bridge.cli.arrange",
        "run the arranger's stages and print the plan (sections, chords, parts)",
    ),
    "play": ("bridge.cli.play", "play a song through the audio device: transport keys and a live meter line"),
    "live": ("bridge.cli.live", "play an instrument (or a song) from a MIDI controller, in real time"),
    "jobs": ("bridge.cli.jobs", "queue long jobs (renders), follow their progress, cancel, get results"),
    "worker": ("bridge.cli.worker", "run queued jobs (start as many workers as you like)"),
    "jam": ("bridge.cli.jam", "serve networked jam rooms, make room tokens, join a room"),
    "devices": ("bridge.cli.devices", "list audio output devices and MIDI ports"),
    "map": ("bridge.cli.map", "bind MIDI controls to a song's parameters: list, targets, add, remove, learn"),
    "train": ("bridge.cli.train", "train an arrangement model (chords, melody) and export it to ONNX"),
    "separate": (
        "bridge.cli.separate",
        "split a mixed song into stems (drums, bass, vocals...) as WAV files",
    ),
}


class CliError(Exception):
    """A problem to report in one line, with exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strum",
        description="StrumSpace: a Python DAW engine. Render songs to WAV, benchmark the engine.",
        epilog="Example: strum render examples/songs/demo.yaml -o out/demo.wav",
    )
    parser.add_argument("--version", action="version", version=f"strumspace {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # each module adds its own arguments; importing it is cheap (heavy imports are inside run)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except CliError as exc:
        print(f"strum {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"strum {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
