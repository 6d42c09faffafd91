"""``strum separate FILE -o DIR``: split a mixed song into stems (WAV files), optionally as audio tracks of
a song file (``--into SONG.yaml``).

Exit status: 0 separated; 2 the options, the audio file, the model or the song file were refused (one line
naming the problem; nothing written); 1 separation failed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "add_stems_to_song", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the mixed song: WAV, FLAC, AIFF, OGG or MP3, mono or stereo")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder for STEM.wav files")
    p.add_argument(
        "--model",
        default="spleeter",
        help="spleeter (2 stems, the CPU default), strum4stem (drums, bass, lead, other), htdemucs,"
        " htdemucs_6s, htdemucs_ft (with --model-dir), or a model file or folder",
    )
    p.add_argument(
        "--model-dir", metavar="DIR", help="a folder holding Demucs' model files (never downloaded)"
    )
    p.add_argument(
        "--model-name", metavar="NAME", help="the model to load from a model folder given as --model"
    )
    p.add_argument("--trust-model", action="store_true", help="load model files that hold more than weights")
    p.add_argument("--stems", metavar="A,B", help="only these stems (default: all the model's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--batch", type=int, default=16, help="segments per model call (default 16)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 on a GPU (faster; the output holds)")
    p.add_argument("--into", metavar="SONG.yaml", help="add the stems as audio tracks to this song file")
    p.add_argument("--plot", metavar="PNG", help="also draw the mix and the stems as waveforms")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.epilog = "Example: strum separate song.wav -o stems/ --model strum4stem --into stems/song.yaml"


def _song_doc(song: Path, title: str) -> dict[str, Any]:
    import yaml

    if not song.exists():
        return {"schema_version": 2, "metadata": {"title": title}, "tracks": []}
    try:
        doc = yaml.safe_load(song.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{song}: cannot read the song to add stems to: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{song}: not a song file (no mapping at the top)")
    if not isinstance(doc.setdefault("tracks", []), list):
        raise ValueError(f"{song}: 'tracks' is not a list")
    return doc


def add_stems_to_song(song: Path, stems: dict[str, Path], prefix: str = "") -> Path:
    """Append one audio track per stem (its WAV from the song's start) to ``song``, creating the song if
    it does not exist. The result is checked as a song before it replaces the file (the old one is kept
    as ``SONG.yaml.bak``); a song that would not load is refused and the file left as it was."""
    from presets.song_yaml import save_song

    doc = _song_doc(song, prefix.rstrip(" -") or "stems")
    tracks = doc["tracks"]
    taken = {t.get("name") for t in tracks if isinstance(t, dict)}
    base = song.resolve().parent
    for stem, path in stems.items():
        name, k = f"{prefix}{stem}", 2
        while name in taken:
            name, k = f"{prefix}{stem} {k}", k + 1
        taken.add(name)
        rel = os.path.relpath(path.resolve(), base)
        tracks.append({"name": name, "audio_clips": [{"file": rel, "start_beats": 0}]})
    return save_song(doc, song, backup=song.exists())


def _plot(path: Path, source: Path, stems: dict[str, Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from engine.audiofile import read_audio

    mix = read_audio(source)
    rate = mix.sample_rate
    rows: list[tuple[str, Any]] = [("mix", mix.samples)]
    rows += [(s, read_audio(p).samples) for s, p in stems.items()]
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 1.4 * len(rows)), sharex=True, squeeze=False)
    for ax, (name, x) in zip(axes[:, 0], rows, strict=True):
        mono = np.mean(x, axis=0)
        step = max(1, len(mono) // 4000)
        n = len(mono) // step * step
        env = np.abs(mono[:n]).reshape(-1, step).max(axis=1)
        t = np.arange(len(env)) * step / rate
        ax.fill_between(t, -env, env, linewidth=0)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    src = Path(args.file)
    if not src.is_file():
        raise CliError(f"{src}: no such file", 2)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} is a file: -o names the folder for the stems", 2)
    if args.batch < 1:
        raise CliError(f"--batch must be >= 1, got {args.batch}", 2)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CliError("strum separate needs torch: pip install 'strumspace[separate]'", 2) from None
    from ai.separation.errors import SeparationError
    from ai.separation.models import load_separator, separate_file

    stems = [s.strip() for s in args.stems.split(",") if s.strip()] if args.stems else None
    if args.into:
        try:
            _song_doc(Path(args.into), "stems")  # refused before any work, with the file untouched
        except ValueError as exc:
            raise CliError(f"--into: {exc}", 2) from None
    try:
        sep = load_separator(
            args.model, args.device, args.model_dir, args.model_name, args.trust_model, args.batch, args.bf16
        )
    except SeparationError as exc:
        raise CliError(str(exc), 2) from None
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", desc=f"separating ({sep.name})", leave=True)

    def progress(fraction: float, stage: str) -> None:
        if bar is not None:
            bar.set_description(f"{stage} ({sep.name})")
            bar.update(round(100 * fraction) - bar.n)

    try:
        paths = separate_file(src, out, sep, stems, progress)
    except SeparationError as exc:
        raise CliError(str(exc), 2) from None
    finally:
        if bar is not None:
            bar.close()
    for s, p in paths.items():
        print(f"{s}: {p}")
    if args.into:
        try:
            song = add_stems_to_song(Path(args.into), paths, prefix="")
        except Exception as exc:  # a song that does not load, a file that cannot be written
            raise CliError(f"--into: {exc}", 2) from None
        print(f"song: {song} (+{len(paths)} audio tracks)")
    if args.plot:
        _plot(Path(args.plot), src, paths)
        print(f"plot: {args.plot}")
    return 0
