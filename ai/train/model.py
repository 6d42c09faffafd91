"""The sequence model trained for ``chords`` and ``melody``: token embedding, LSTM, linear read-out.

:class:`TokenLSTM` runs whole padded batches for training; :class:`OneStep` wraps it as the one-step
graph that is exported to ONNX (token id [1] int64, state h and c [layers, 1, hidden] in; logits [V],
new h and c out), which :mod:`ai.models.runtime` steps with onnxruntime.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["OneStep", "TokenLSTM"]


class TokenLSTM(nn.Module):
    """Embedding -> LSTM -> linear logits over the vocabulary."""

    def __init__(
        self, vocab_size: int, embed: int = 64, hidden: int = 192, layers: int = 1, dropout: float = 0.1
    ):
        super().__init__()
        self.vocab_size, self.embed_size, self.hidden_size, self.layers = vocab_size, embed, hidden, layers
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(
            embed, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for token ids [B, T] (position t predicts token t + 1)."""
        y, _ = self.lstm(self.drop(self.embed(tokens)))
        return self.out(self.drop(y))

    def config(self) -> dict:
        return {"embed": self.embed_size, "hidden": self.hidden_size, "layers": self.layers}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


class OneStep(nn.Module):
    """One generation step of a :class:`TokenLSTM` (eval mode): the graph that goes to ONNX."""

    def __init__(self, model: TokenLSTM):
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        x = self.model.embed(token).unsqueeze(0)  # [1, 1, E]
        y, (h2, c2) = self.model.lstm(x, (h, c))
        return self.model.out(y[0, 0]), h2, c2
