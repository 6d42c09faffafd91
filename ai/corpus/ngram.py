"""Unigram and bigram baselines: the held-out NLL a trained model has to beat.

Both are add-``alpha`` smoothed over the model's whole vocabulary and scored on exactly the targets the
model is scored on (every token after a piece's mode token), in nats per token.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["ALPHA", "bigram_nll", "unigram_nll"]

ALPHA = 0.1


def unigram_nll(train: Sequence[Sequence[int]], held: Sequence[Sequence[int]], vocab_size: int) -> float:
    counts = Counter(t for seq in train for t in seq[1:])
    total = sum(counts.values()) + ALPHA * vocab_size
    nll, n = 0.0, 0
    for seq in held:
        for t in seq[1:]:
            nll -= math.log((counts[t] + ALPHA) / total)
            n += 1
    return nll / max(n, 1)


def bigram_nll(train: Sequence[Sequence[int]], held: Sequence[Sequence[int]], vocab_size: int) -> float:
    pairs = Counter((a, b) for seq in train for a, b in itertools.pairwise(seq))
    ctx = Counter(a for seq in train for a in seq[:-1])
    nll, n = 0.0, 0
    for seq in held:
        for a, b in itertools.pairwise(seq):
            nll -= math.log((pairs[(a, b)] + ALPHA) / (ctx[a] + ALPHA * vocab_size))
            n += 1
    return nll / max(n, 1)
