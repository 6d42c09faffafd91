"""``strum import FILE.mid -o SONG.yaml`` and ``strum export SONG.yaml -o FILE.mid``: songs to and from
Standard MIDI Files.

``import`` writes the song file that :func:`bridge.midi_import.song_document_from_midi` makes of a .mid
file; it never overwrites a file without ``--force``, since a song file is what one edits by hand.
``export`` loads a song file (:func:`presets.song.load_song`) and writes it as a type 1 MIDI file
(:func:`bridge.midi_export.export_midi`); like ``render``, it replaces an existing output, which is made
from the song. A file that cannot be read or used is reported in one line, with exit status 2.
Both save through :func:`presets.storage.atomic_write`, so a failure leaves no half file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]

SONG_SUFFIXES = (".yaml", ".yml")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")
MAX_PPQ = 0x7FFF  # as bridge.midi_export.MAX_PPQ, which is not imported here: --help stays light


def _ppq(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of ticks per beat, got {text!r}") from None
    if not 1 <= value <= MAX_PPQ:
        raise argparse.ArgumentTypeError(f"must be in 1..{MAX_PPQ}, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``import`` or ``export``, whichever ``p`` is (both live in this module)."""
    command = p.prog.split()[-1]
    if command == "import":
        p.add_argument("midi", metavar="FILE.mid", help="the Standard MIDI File to read")
        p.add_argument("-o", "--output", required=True, metavar="SONG.yaml", help="the song file to write")
        p.add_argument("--force", action="store_true", help="overwrite the song file if it exists")
        p.epilog = "Example: strum import take1.mid -o songs/take1.yaml"
    else:
        p.add_argument("song", metavar="SONG.yaml", help="the song file to read")
        p.add_argument("-o", "--output", required=True, metavar="FILE.mid", help="the MIDI file to write")
        p.add_argument(
            "--ppq", type=_ppq, default=480, help="ticks per beat (quarter note) in the file (default 480)"
        )
        p.epilog = "Example: strum export examples/songs/demo.yaml -o out/demo.mid --ppq 960"


def run(args: argparse.Namespace) -> int:
    return _import(args) if args.command == "import" else _export(args)


def _check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    from bridge.cli import CliError

    if path.suffix.lower() not in suffixes:
        raise CliError(f"{path}: the output must be {what} ({', '.join(suffixes)})", 2)


def _write(path: Path, data: bytes, overwrite: bool) -> None:
    """Save ``data`` atomically (:func:`presets.storage.atomic_write`), never over an existing file unless
    ``overwrite``; missing folders are made."""
    import errno

    from bridge.cli import CliError
    from presets.storage import SaveError, atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, backup=False, exclusive=not overwrite)
    except SaveError as exc:
        if exc.errno == errno.EEXIST:
            raise CliError(f"{path}: already exists (use --force to overwrite it)", 2) from None
        raise CliError(f"{path}: cannot write: {exc.reason}") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _import(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    source, out = Path(args.midi), Path(args.output)
    _check_suffix(out, SONG_SUFFIXES, "a song file")
    if out.exists() and not args.force:
        raise CliError(f"{out}: already exists (use --force to overwrite it)", 2)

    from bridge.errors import MidiFileError
    from bridge.midi_import import song_document_from_midi
    from presets.song_yaml import dump_song_yaml

    try:
        doc = song_document_from_midi(source)
    except MidiFileError as exc:
        raise CliError(str(exc), 2) from None
    _write(out, dump_song_yaml(doc).encode("utf-8"), args.force)
    tracks = doc.get("tracks", [])
    notes = sum(len(clip.get("notes", [])) for t in tracks for clip in t.get("clips", []))
    print(f"wrote {out}: {len(tracks)} tracks, {notes} notes from {source}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    song, out = Path(args.song), Path(args.output)
    _check_suffix(out, MIDI_SUFFIXES, "a MIDI file")

    from bridge.midi_export import midi_bytes
    from presets.errors import PresetError
    from presets.song import load_song

    try:
        session = load_song(song)
    except PresetError as exc:
        raise CliError(str(exc), 2) from None
    try:
        data = midi_bytes(session, args.ppq)
    except ValueError as exc:
        raise CliError(f"{song}: {exc}", 2) from None
    _write(out, data, overwrite=True)
    print(f"wrote {out}: {len(session.tracks)} tracks at {args.ppq} ticks per beat from {song}")
    return 0
