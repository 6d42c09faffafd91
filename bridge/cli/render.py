"""``strum render SONG -o OUT.wav``: render a song file (.yaml) or a Standard MIDI File (.mid) offline.

Exit status: 0 rendered; 2 the input was refused (a song or MIDI file that cannot be read, an option
value, an output path that cannot be written), checked before anything is written; 1 the render or the
writing failed on good input (an engine error, a full disk). Either way one line, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]

SONG_SUFFIXES = (".yaml", ".yml")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("song", metavar="SONG", help="a song file (.yaml) or a Standard MIDI File (.mid)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="the WAV file to write")
    add_render_options(p)
    p.add_argument(
        "--bit-depth",
        choices=("16", "24", "32f"),
        default="24",
        help="WAV sample format (default 24; 16 is dithered)",
    )
    p.add_argument(
        "--soundfont",
        metavar="FILE",
        help="play a MIDI file with this .sf2, .sf3, .sfz, kit .yaml or WAV folder (General MIDI programs,"
        " banks and drums); without it the built-in synth plays",
    )
    p.add_argument(
        "--dry",
        action="store_true",
        help="with --soundfont: no reverb and chorus returns (the font's and CC91/CC93 send amounts unused)",
    )
    p.add_argument("--stems", metavar="DIR", help="also write one WAV per track and bus into DIR")
    p.add_argument(
        "--tail",
        default="auto",
        help="'auto' (render until the sound falls below -90 dBFS) or seconds after the song end",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--plot",
        metavar="OUT.png",
        help="also draw the rendered audio into a PNG: waveform over spectrogram, bars and sections",
    )
    p.add_argument(
        "--plot-time",
        choices=("bars", "seconds"),
        default="bars",
        help="the plot's time axis: bar:beat from the tempo map (default) or m:ss",
    )
    p.add_argument(
        "--plot-size", default="1600x900", metavar="WxH", help="plot size in pixels (default 1600x900)"
    )
    p.epilog = (
        "Example: strum render examples/songs/demo.yaml -o out/demo.wav --stems out/stems --plot out/demo.png"
    )


def _load(path: Path, soundfont: str | None = None, dry: bool = False):
    """The session of a song file or MIDI file (played by ``soundfont`` if given); CliError (exit 2) naming
    the file for one that cannot be read."""
    from bridge.cli import CliError

    suffix = path.suffix.lower()
    if soundfont is not None and suffix not in MIDI_SUFFIXES:
        raise CliError(
            f"--soundfont plays MIDI files; a song file names its instruments ({path} is {suffix!r})", 2
        )
    if suffix in MIDI_SUFFIXES:
        from bridge.errors import MidiFileError
        from bridge.midi_import import session_from_midi
        from instruments.errors import SampleFileError

        try:
            return session_from_midi(path, soundfont=soundfont, dry=dry)
        except (MidiFileError, SampleFileError) as exc:
            raise CliError(str(exc), 2) from None
    if suffix in SONG_SUFFIXES:
        from presets.errors import PresetError
        from presets.song import load_song

        try:
            return load_song(path)
        except PresetError as exc:
            raise CliError(str(exc), 2) from None
    raise CliError(f"{path}: unknown song type {suffix!r} (expected .yaml, .yml, .mid or .midi)", 2)


def make_dirs(folder: Path) -> list[Path]:
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


def parse_size(text: str, what: str = "--plot-size") -> tuple[int, int]:
    """``"1600x900"`` -> ``(1600, 900)``; CliError (exit 2) for anything else."""
    from bridge.cli import CliError

    w, sep, h = text.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise CliError(f"{what} must be WIDTHxHEIGHT in pixels (like 1600x900), got {text!r}", 2)
    return int(w), int(h)


def add_render_options(p: argparse.ArgumentParser) -> None:
    """The options of an offline render that ``render`` and ``generate`` share: rate, block, threads."""
    p.add_argument("--sample-rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    p.add_argument(
        "--block-size", type=int, default=8192, help="samples per block (default 8192; the sound is the same)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads that render instruments side by side (default 0: one per core, up to 4)",
    )


def render_threads(requested: int, block_size: int) -> int:
    """How many threads render instruments: ``requested``, or with 0 one per core up to 4 when blocks are
    long enough for the hand-over to pay (1024 samples or more); CliError (exit 2) outside 0..64."""
    from bridge.cli import CliError

    if requested < 0 or requested > 64:
        raise CliError(f"--threads must be 0..64, got {requested}", 2)
    if requested:
        return requested
    return min(os.cpu_count() or 1, 4) if block_size >= 1024 else 1


def parse_tail(text: str) -> str | float:
    """``"auto"`` or seconds after the song end, 0..3600 (the bound :func:`engine.render.render` keeps);
    CliError (exit 2) for anything else, nan and inf included."""
    from bridge.cli import CliError

    if text == "auto":
        return text
    try:
        seconds = float(text)
    except ValueError:
        raise CliError(f"--tail must be 'auto' or seconds, got {text!r}", 2) from None
    if not 0 <= seconds <= 3600:
        raise CliError(f"--tail must be 0..3600 seconds, got {text}", 2)
    return seconds


def check_writable(path: Path, what: str = "output") -> None:
    """Refuse (CliError, exit 2) an output path that cannot be written, before any work is done: a folder,
    a path under a file, or a folder without write permission. Missing folders may be created."""
    from bridge.cli import CliError

    if path.is_dir():
        raise CliError(f"{path}: the {what} is a directory", 2)
    folder = path.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise CliError(f"{path}: cannot write the {what}: {folder} is not a folder", 2)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"{path}: cannot write the {what}: no permission to write in {folder}", 2)


def _bank_warnings(session) -> list[str]:
    """What the sampler's bank read but does not play (each bank once)."""
    from presets.song_devices import failed_plugins

    return failed_plugins([t.instrument for t in session.tracks])


class _Tee:
    """A sink that passes every block to several sinks (the WAV file and the plot's summary)."""

    def __init__(self, *sinks) -> None:
        self.sinks = sinks

    def write(self, block) -> None:
        for s in self.sinks:
            s.write(block)


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    song = Path(args.song)
    out = Path(args.output)
    if out.suffix.lower() != ".wav":
        raise CliError(f"{out}: the output must be a .wav file", 2)
    check_writable(out)
    plot = Path(args.plot) if args.plot else None
    plot_size = (0, 0)
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise CliError(f"{plot}: the plot must be a .png file", 2)
        plot_size = parse_size(args.plot_size)
        from bridge.plots import MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH

        if not (MIN_WIDTH <= plot_size[0] <= MAX_WIDTH and MIN_HEIGHT <= plot_size[1] <= MAX_HEIGHT):
            raise CliError(
                f"--plot-size must be {MIN_WIDTH}..{MAX_WIDTH} x {MIN_HEIGHT}..{MAX_HEIGHT} pixels,"
                f" got {args.plot_size}",
                2,
            )
        check_writable(plot, "plot")
    tail = parse_tail(args.tail)
    session = _load(song, args.soundfont, args.dry)
    if args.soundfont:
        session.warnings = [*session.warnings, *_bank_warnings(session)]
    for warning in session.warnings:  # e.g. a plugin that failed to load: its slot is bypassed
        print(f"strum render: warning: {warning}", file=sys.stderr)

    from engine.errors import EngineError
    from engine.memory import release_compiler_pages
    from engine.render import WavSink, peak_db, render

    release_compiler_pages()  # what importing the JIT touched (see engine/memory.py)

    t0 = time.perf_counter()
    try:
        built = session.build(
            args.sample_rate, args.block_size, render_threads(args.threads, args.block_size)
        )
    except ValueError as exc:  # the song (SessionError, GraphError) or --sample-rate/--block-size refused
        raise CliError(f"{song}: {exc}", 2) from None
    except EngineError as exc:
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
        check_writable(path, seen[key])
    if plot is not None and plot.resolve() in seen:
        raise CliError(
            f"the plot would overwrite the {seen[plot.resolve()]} at {plot}; choose another --plot", 2
        )

    # stream into temporary files beside the targets; rename only when everything has rendered
    sinks: list[WavSink] = []
    made_dirs: list[Path] = []
    plot_tmp: Path | None = None
    try:
        for folder in {p.parent for p in targets.values()} | ({plot.parent} if plot else set()):
            made_dirs += make_dirs(folder)
        mix = WavSink(out, int(args.sample_rate), 2, args.bit_depth)
        sinks.append(mix)
        summary = None
        if plot is not None:
            from bridge.plots import AudioSummary

            summary = AudioSummary(int(args.sample_rate), 2)
        stems = {}
        for name, ref in built.stems.items() if args.stems else ():
            sink = WavSink(targets[name], int(args.sample_rate), 2, args.bit_depth)
            sinks.append(sink)
            stems[name] = (ref, sink)
        stats = render(
            built.engine,
            built.end_sample,
            _Tee(mix, summary) if summary is not None else mix,
            stems,
            block_size=args.block_size,
            tail=tail,
            progress=progress,
        )
        rendered = time.perf_counter()  # the speed reported is the render's, without the plot
        for s in sinks:
            s.finish()  # everything on disk before anything is renamed into place
        if plot is not None and summary is not None:
            from bridge.plots import plot_render, write_png

            fig, _info = plot_render(
                summary,
                session,
                width_px=plot_size[0],
                height_px=plot_size[1],
                time_axis=args.plot_time,
                name=song.stem,
                peak_dbfs=peak_db(stats.peak),
            )
            plot_tmp = write_png(fig, plot, publish=False)
    except BaseException as exc:
        for s in sinks:
            s.abort()
        if plot_tmp is not None and plot_tmp.exists():
            plot_tmp.unlink()
        for folder in reversed(made_dirs):
            try:
                folder.rmdir()  # only folders this render created, and only if still empty
            except OSError:
                pass
        if isinstance(exc, (EngineError, ValueError, OSError)):  # the input was checked: not a usage error
            raise CliError(f"{song}: {exc}") from None
        raise
    finally:
        if bar is not None:
            bar.close()
    for s in sinks:
        s.publish()
    if plot is not None and plot_tmp is not None:
        try:
            os.replace(plot_tmp, plot)
        except OSError as exc:
            plot_tmp.unlink(missing_ok=True)
            raise CliError(f"{plot}: cannot write the plot: {exc}") from None
    elapsed = rendered - t0
    speed = stats.seconds / elapsed if elapsed > 0 else float("inf")
    print(
        f"wrote {out}: {stats.seconds:.2f} s at {stats.sample_rate} Hz, peak {peak_db(stats.peak):.1f} dBFS,"
        f" rendered in {elapsed:.2f} s ({speed:.0f}x real time)"
        + (f"; {len(sinks) - 1} stems in {args.stems}" if args.stems else "")
    )
    if plot is not None:
        print(f"wrote {plot}: {plot_size[0]}x{plot_size[1]} px")
    return 0
