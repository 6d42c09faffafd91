"""Chord naming from sounding pitch classes: a root and a quality from the chord model's table.

:func:`name_chord` matches a set of pitch classes against every root and every quality of
:data:`ai.corpus.vocab.CHORD_MODEL_QUALITIES`, scoring chord tones present against tones missing and
tones foreign (passing notes), with the bass as the tie-break; it is how a chordified chorale slice
becomes a chord token.
"""

from __future__ import annotations

from collections.abc import Iterable

from ai.corpus.vocab import CHORD_MODEL_QUALITIES
from ai.plan import CHORD_QUALITIES

__all__ = ["name_chord"]

_SHAPES = {q: frozenset(i % 12 for i in CHORD_QUALITIES[q]) for q in CHORD_MODEL_QUALITIES}
# a plainer reading wins a tie: triads before sevenths, sus4 last
_PREFERENCE = {
    q: i for i, q in enumerate(("maj", "min", "dom7", "min7", "dim", "m7b5", "dim7", "maj7", "aug", "sus4"))
}


def name_chord(pitch_classes: Iterable[int], bass: int | None = None) -> tuple[int, str] | None:
    """``(root_pc, quality)`` best describing ``pitch_classes``, or None for fewer than two classes."""
    pcs = frozenset(p % 12 for p in pitch_classes)
    if len(pcs) < 2:
        return None
    best: tuple[float, int, int, str] | None = None
    for root in range(12):
        rel = frozenset((p - root) % 12 for p in pcs)
        for q, shape in _SHAPES.items():
            present = len(rel & shape)
            if 0 not in rel or present < 2:
                continue
            missing = len(shape - rel)
            foreign = len(rel - shape)
            score = (
                present
                - 0.9 * missing
                - 1.1 * foreign
                + (0.3 if bass is not None and bass % 12 == root else 0.0)
            )
            key = (score, -_PREFERENCE[q], -root, q)
            if best is None or key > best:
                best = key
    if best is None:
        return None
    return -best[2], best[3]
