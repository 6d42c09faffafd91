"""Training data for the sequence models: music21's offline corpora and users' own files, as tokens."""

from __future__ import annotations

from ai.corpus.dataset import Piece, split
from ai.corpus.importers import CorpusError, csv_pieces, midi_folder_pieces

__all__ = ["CorpusError", "Piece", "csv_pieces", "midi_folder_pieces", "split"]
