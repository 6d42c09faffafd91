"""From a corpus to committed model files: encode, split by piece, train, export, check, write meta.

:func:`build` is what ``strum train`` runs: it trains model ``name`` (``chords`` or ``melody``) on the
music21 recipe or a user's pieces, exports ``NAME.onnx``, checks that onnxruntime and torch agree on
the logits of a held-out piece within :data:`ONNX_TOLERANCE`, and writes ``NAME.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ai.corpus.dataset import HELD_OUT_PERCENT, VALIDATION_PERCENT, Piece, split, split_validation
from ai.corpus.ngram import ALPHA, bigram_nll, unigram_nll
from ai.corpus.vocab import CHORD_VOCAB, MELODY_VOCAB
from ai.train.export import export_onnx, file_sha256, max_logit_error
from ai.train.loop import TrainConfig, held_out_nll, train_model

__all__ = ["MODEL_NAMES", "ONNX_TOLERANCE", "VOCABS", "build", "default_pieces", "encode"]

VOCABS = {"chords": CHORD_VOCAB, "melody": MELODY_VOCAB}
MODEL_NAMES = tuple(VOCABS)
ONNX_TOLERANCE = 1e-4


def default_pieces(name: str) -> tuple[list[Piece], dict]:
    """The music21 corpus of model ``name`` and its recipe."""
    if name == "chords":
        from ai.corpus.chorales import CHORALE_RECIPE, chorale_pieces

        return chorale_pieces(), dict(CHORALE_RECIPE)
    if name == "melody":
        from ai.corpus.folk import FOLK_RECIPE, folk_pieces

        return folk_pieces(), dict(FOLK_RECIPE, essen_files=8, oneills_files=8)
    raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}, got {name!r}")


def encode(pieces: Sequence[Piece], vocab: Sequence[str]) -> list[list[int]]:
    ids = {t: i for i, t in enumerate(vocab)}
    return [[ids[t] for t in p.tokens] for p in pieces]


def build(
    name: str,
    out_dir: Path,
    config: TrainConfig,
    pieces: Sequence[Piece] | None = None,
    recipe: dict | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train and write ``out_dir/NAME.onnx`` + ``NAME.json``; returns the meta written."""
    vocab = VOCABS[name]
    if pieces is None:
        t0 = time.perf_counter()
        pieces, recipe = default_pieces(name)
        log(f"corpus: {len(pieces)} pieces ({time.perf_counter() - t0:.1f} s)")
    train_p, held_p = split(pieces)
    if not held_p and len(train_p) > 1:  # a tiny user corpus: hold out its last piece
        train_p, held_p = train_p[:-1], train_p[-1:]
    fit_p, valid_p = split_validation(train_p)
    if not valid_p or not fit_p:
        fit_p, valid_p = train_p, held_p
    train, held = encode(train_p, vocab), encode(held_p, vocab)
    fit, valid = encode(fit_p, vocab), encode(valid_p, vocab)
    uni, bi = unigram_nll(train, held, len(vocab)), bigram_nll(train, held, len(vocab))
    log(
        f"train {len(fit)} + validation {len(valid)} pieces, held-out {len(held)}; "
        f"baselines unigram {uni:.3f}, bigram {bi:.3f}"
    )
    result = train_model(fit, valid, len(vocab), config, log)
    nll = held_out_nll(result.model, held) if held else result.held_out_nll
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(result.model, onnx_path)
    probe = (held or train)[0][:300]
    err = max_logit_error(result.model, onnx_path, probe)
    if err > ONNX_TOLERANCE:
        raise RuntimeError(f"ONNX and torch logits differ by {err:.2e} (> {ONNX_TOLERANCE}) for {onnx_path}")
    meta = {
        "name": name,
        "vocab": list(vocab),
        "state": {"layers": result.model.layers, "hidden": result.model.hidden_size},
        "model": dict(result.model.config(), kind="lstm", params=result.model.parameter_count()),
        "seed": config.seed,
        "train_config": asdict(config),
        "data": {
            "recipe": recipe or {},
            "pieces": len(pieces),
            "train_pieces": len(fit),
            "validation_pieces": len(valid),
            "held_out_pieces": len(held),
            "train_tokens": sum(len(s) - 1 for s in fit),
            "held_out_tokens": sum(len(s) - 1 for s in held),
            "split": f"by piece: crc32(piece id) % 100 < {HELD_OUT_PERCENT} is held out, the next "
            f"{VALIDATION_PERCENT} are validation (picks the epoch kept); "
            "baselines are fitted on train + validation",
        },
        "held_out_nll": round(nll, 5),
        "validation_nll": round(result.held_out_nll, 5),
        "baselines": {"unigram": round(uni, 5), "bigram": round(bi, 5), "smoothing": f"add-{ALPHA}"},
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "onnx_max_logit_error": err,
        "onnx_sha256": file_sha256(onnx_path),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "made_by": f"strum train {name} --seed {config.seed} --epochs {config.epochs}",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log(
        f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes): held-out {nll:.4f} nats/token "
        f"(unigram {uni:.4f}, bigram {bi:.4f}), onnx error {err:.1e}"
    )
    return meta
