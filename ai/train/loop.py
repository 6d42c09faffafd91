"""Training of a :class:`ai.train.model.TokenLSTM` on a token corpus, deterministic for a seed.

:func:`train_model` seeds torch and numpy, runs on one thread (on the CPU), shuffles pieces into
padded batches, trains with Adam and gradient clipping, and keeps the weights of the epoch with the
best held-out NLL. :func:`held_out_nll` scores a model in nats per token on the targets the n-gram
baselines of :mod:`ai.corpus.ngram` are scored on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ai.train.model import TokenLSTM

__all__ = ["TrainConfig", "TrainResult", "held_out_nll", "train_model"]

PAD = -100


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    embed: int = 64
    hidden: int = 192
    layers: int = 1
    dropout: float = 0.2
    max_len: int = 400
    max_steps: int | None = None  # stop after this many optimiser steps (tests)
    device: str = "cpu"


@dataclass
class TrainResult:
    model: TokenLSTM
    held_out_nll: float
    best_epoch: int
    steps: int
    seconds: float


def _batches(seqs: Sequence[Sequence[int]], batch_size: int, rng: np.random.Generator | None, max_len: int):
    order = np.arange(len(seqs)) if rng is None else rng.permutation(len(seqs))
    for i in range(0, len(order), batch_size):
        chunk = [list(seqs[j])[:max_len] for j in order[i : i + batch_size]]
        width = max(len(s) for s in chunk)
        x = torch.zeros(len(chunk), width - 1, dtype=torch.int64)
        y = torch.full((len(chunk), width - 1), PAD, dtype=torch.int64)
        for r, s in enumerate(chunk):
            x[r, : len(s) - 1] = torch.tensor(s[:-1])
            y[r, : len(s) - 1] = torch.tensor(s[1:])
        yield x, y


def held_out_nll(
    model: TokenLSTM, seqs: Sequence[Sequence[int]], device: str = "cpu", max_len: int = 100_000
) -> float:
    """Mean NLL in nats per target token of ``model`` over ``seqs``."""
    model.eval()
    total, n = 0.0, 0
    loss = nn.CrossEntropyLoss(ignore_index=PAD, reduction="sum")
    with torch.no_grad():
        for x, y in _batches(seqs, 32, None, max_len):
            x, y = x.to(device), y.to(device)
            total += float(loss(model(x).flatten(0, 1), y.flatten()))
            n += int((y != PAD).sum())
    return total / max(n, 1)


def train_model(
    train: Sequence[Sequence[int]],
    held: Sequence[Sequence[int]],
    vocab_size: int,
    config: TrainConfig,
    log: Callable[[str], None] = lambda s: None,
) -> TrainResult:
    """Train from scratch; identical weights for an identical corpus and config on one device."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(config.seed)
        model = TokenLSTM(vocab_size, config.embed, config.hidden, config.layers, config.dropout).to(
            config.device
        )
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(config.epochs, 1))
        loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
        best, best_state, best_epoch, steps = float("inf"), None, 0, 0
        t0 = time.perf_counter()
        for epoch in range(config.epochs):
            model.train()
            for x, y in _batches(train, config.batch_size, rng, config.max_len):
                x, y = x.to(config.device), y.to(config.device)
                opt.zero_grad()
                loss = loss_fn(model(x).flatten(0, 1), y.flatten())
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                steps += 1
                if config.max_steps is not None and steps >= config.max_steps:
                    break
            sched.step()
            nll = held_out_nll(model, held, config.device) if held else float(loss)
            log(
                f"epoch {epoch + 1}/{config.epochs}: validation {nll:.4f} nats/token "
                f"({time.perf_counter() - t0:.0f} s)"
            )
            if nll < best:
                best, best_epoch = nll, epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if config.max_steps is not None and steps >= config.max_steps:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model = model.cpu().eval()
        return TrainResult(model, best, best_epoch, steps, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
