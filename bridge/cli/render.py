"""``strum render SONG -o OUT.wav``: render a song file (.yaml) or a Standard MIDI File (.mid) offline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]

SONG_SUFFIXES = (".yaml", ".yml")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("song", metavar="SONG", help="a song file (.yaml) or a Standard MIDI File (.mid)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="the WAV file to write")
    p.add_argument("--sample-rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    p.add_argument("--block-size", type=int, default=512, help="samples per block (default 512)")
    p.add_argument(
        "--bit-depth",
        choices=("16", "24", "32f"),
        default="24",
        help="WAV sample format (default 24; 16 is dithered)",
    )
    p.add_argument("--stems", metavar="DIR", help="also write one WAV per track and bus into DIR")
    p.add_argument(
        "--tail",
        default="auto",
        help="'auto' (render until the sound falls below -90 dBFS) or seconds after the song end",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.epilog = "Example: strum render examples/songs/demo.yaml -o out/demo.wav --stems out/stems"


def _load(path: Path):
    from bridge.cli import CliError

    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        from bridge.errors import MidiFileError
        from bridge.midi_import import session_from_midi

        try:
            return session_from_midi(path)
        except MidiFileError as exc:
            raise CliError(str(exc)) from None
    if suffix in SONG_SUFFIXES:
        from presets.errors import PresetError
        from presets.song import load_song

        try:
            return load_song(path)
        except PresetError as exc:
            raise CliError(str(exc)) from None
    raise CliError(f"{path}: unknown song type {suffix!r} (expected .yaml, .yml, .mid or .midi)", 2)


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; returns the ones created, outermost first."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    song = Path(args.song)
    out = Path(args.output)
    if out.suffix.lower() != ".wav":
        raise CliError(f"{out}: the output must be a .wav file", 2)
    tail: str | float = args.tail
    if tail != "auto":
        try:
            tail = float(tail)
        except ValueError:
            raise CliError(f"--tail must be 'auto' or seconds, got {args.tail!r}", 2) from None
    session = _load(song)

    from engine.errors import EngineError
    from engine.memory import release_compiler_pages
    from engine.render import WavSink, peak_db, render

    release_compiler_pages()  # what importing the JIT touched (see engine/memory.py)

    t0 = time.perf_counter()
    try:
        built = session.build(args.sample_rate, args.block_size)
    except (EngineError, ValueError) as exc:
        raise CliError(f"{song}: {exc}") from None
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=1000,
            desc=f"render {song.name}",
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
        )

    first_block = [True]

    def progress(frac: float) -> None:
        if first_block[0]:
            # every processor has run once, so every kernel is loaded: the compiler's pages can go
            first_block[0] = False
            release_compiler_pages()
            if bar is not None:
                bar.set_description(f"render {song.name}")
        if bar is not None:
            bar.update(int(frac * 1000) - bar.n)

    # every file this render writes, checked before anything is written
    targets = {"mix": out}
    if args.stems:
        for name in built.stems:
            targets[name] = Path(args.stems) / f"{name}.wav"
    seen: dict[Path, str] = {}
    for what, path in targets.items():
        key = path.resolve()
        if key in seen:
            raise CliError(
                f"the {what} stem would overwrite the {seen[key]} at {path}; choose another --stems", 2
            )
        seen[key] = "mix" if what == "mix" else f"{what} stem"

    # stream into temporary files beside the targets; rename only when everything has rendered
    sinks: list[WavSink] = []
    made_dirs: list[Path] = []
    try:
        for folder in {p.parent for p in targets.values()}:
            made_dirs += _make_dirs(folder)
        mix = WavSink(out, int(args.sample_rate), 2, args.bit_depth)
        sinks.append(mix)
        stems = {}
        for name, ref in built.stems.items() if args.stems else ():
            sink = WavSink(targets[name], int(args.sample_rate), 2, args.bit_depth)
            sinks.append(sink)
            stems[name] = (ref, sink)
        stats = render(
            built.engine,
            built.end_sample,
            mix,
            stems,
            block_size=args.block_size,
            tail=tail,
            progress=progress,
        )
        for s in sinks:
            s.finish()  # everything on disk before anything is renamed into place
    except BaseException as exc:
        for s in sinks:
            s.abort()
        for folder in reversed(made_dirs):
            try:
                folder.rmdir()  # only folders this render created, and only if still empty
            except OSError:
                pass
        if isinstance(exc, (EngineError, ValueError, OSError)):
            raise CliError(f"{song}: {exc}") from None
        raise
    finally:
        if bar is not None:
            bar.close()
    for s in sinks:
        s.publish()
    elapsed = time.perf_counter() - t0
    speed = stats.seconds / elapsed if elapsed > 0 else float("inf")
    print(
        f"wrote {out}: {stats.seconds:.2f} s at {stats.sample_rate} Hz, peak {peak_db(stats.peak):.1f} dBFS,"
        f" rendered in {elapsed:.2f} s ({speed:.0f}x real time)"
        + (f"; {len(sinks) - 1} stems in {args.stems}" if args.stems else "")
    )
    return 0
