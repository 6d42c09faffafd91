"""``strum train chords|melody --seed N``: train a sequence model and write NAME.onnx + NAME.json.

With no corpus option it trains on the music21 recipe and, with the default ``--out``, rewrites the
committed weights in ``ai/models/weights`` (the same seed and epochs give the same weights on the
CPU). ``--from-midi DIR`` trains ``melody`` on a folder of MIDI files; ``--from-csv FILE`` trains
``chords`` on a CSV of progressions (columns song, section, chord, key). Load the result with
``ai.models.load_model(NAME, path=OUT/NAME.onnx)``.

Exit status: 0 trained; 2 the options or the corpus were refused (one line naming the file and line);
1 training or export failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]

DEFAULT_EPOCHS = {"chords": 40, "melody": 20}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=("chords", "melody"), help="which model to train")
    p.add_argument(
        "--seed", type=int, default=0, help="training seed (default 0, the committed weights' seed)"
    )
    p.add_argument("--epochs", type=int, help="passes over the corpus (default: chords 40, melody 20)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (a quick try)")
    p.add_argument(
        "--out", metavar="DIR", help="where to write NAME.onnx and NAME.json (default ai/models/weights)"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="torch device (default cpu)")
    p.add_argument("--from-midi", metavar="DIR", help="melody: train on a folder of MIDI files")
    p.add_argument("--from-csv", metavar="FILE.csv", help="chords: train on a CSV of chord progressions")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.epilog = "Example: strum train melody --from-midi my_tunes/ --out out/models --epochs 20"


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    if args.from_midi and args.model != "melody":
        raise CliError("--from-midi trains the melody model: use 'strum train melody --from-midi DIR'", 2)
    if args.from_csv and args.model != "chords":
        raise CliError("--from-csv trains the chords model: use 'strum train chords --from-csv FILE.csv'", 2)
    if args.epochs is not None and args.epochs < 1:
        raise CliError(f"--epochs must be >= 1, got {args.epochs}", 2)
    try:
        import torch
    except ImportError:
        raise CliError("strum train needs torch: pip install 'strumspace[train]'", 2) from None
    if args.device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda: no CUDA device is available to torch", 2)

    from ai.corpus.importers import CorpusError, csv_pieces, midi_folder_pieces
    from ai.models.runtime import weights_dir
    from ai.train.loop import TrainConfig
    from ai.train.pipeline import build

    pieces, recipe = None, None
    try:
        if args.from_midi:
            pieces = midi_folder_pieces(args.from_midi)
            recipe = {"corpus": f"MIDI folder {args.from_midi}", "melody": "track with most notes, top note"}
        elif args.from_csv:
            pieces = csv_pieces(args.from_csv)
            recipe = {"corpus": f"CSV {args.from_csv}", "columns": "song, section, chord, key"}
    except CorpusError as e:
        raise CliError(str(e), 2) from None
    epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    config = TrainConfig(seed=args.seed, epochs=epochs, max_steps=args.max_steps, device=args.device)
    out = Path(args.out) if args.out else weights_dir()
    try:
        meta = build(args.model, out, config, pieces, recipe, log=(lambda s: None) if args.quiet else print)
    except (RuntimeError, OSError) as e:
        raise CliError(f"training {args.model} failed: {e}", 1) from None
    print(
        f"{args.model}: held-out {meta['held_out_nll']:.4f} nats/token "
        f"(unigram {meta['baselines']['unigram']:.4f}, "
        f"bigram {meta['baselines']['bigram']:.4f}), {meta['model']['params']} parameters -> {out}"
    )
    return 0
