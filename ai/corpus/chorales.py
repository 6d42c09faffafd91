"""The ``chords`` corpus: harmony of the 371 Bach chorales in music21's offline corpus, as chord tokens.

Recipe (:data:`CHORALE_RECIPE`): every piece of ``music21.corpus.chorales.Iterator()``; key from
``score.analyze('key')``; the chordified score sampled once per beat (the slice sounding at each beat's
onset), each slice named by :func:`ai.corpus.harmony.name_chord` relative to the tonic; repeated
chords collapsed; a ``|`` after the beat on which a soprano fermata falls. Call
:func:`chorale_pieces` for the (cached) corpus.
"""

from __future__ import annotations

from typing import Any

from ai.corpus.dataset import Piece, cached
from ai.corpus.harmony import name_chord
from ai.corpus.vocab import EOS, PHRASE, chord_token, mode_token

__all__ = ["CHORALE_RECIPE", "chorale_pieces", "chorale_tokens"]

CHORALE_RECIPE = {
    "corpus": "music21.corpus.chorales.Iterator() (Bach chorales)",
    "key": "score.analyze('key')",
    "sampling": "one chordified slice per beat onset, repeated chords collapsed",
    "phrase": "'|' after a soprano fermata",
    "version": 1,
}


def chorale_tokens(score: Any) -> list[str] | None:
    """The token sequence of one chorale score, or None when it has no usable key or chords."""
    from music21 import expressions

    key = score.analyze("key")
    tonic = key.tonic.pitchClass
    tokens = [mode_token(key.mode)]
    fermatas: list[float] = []
    if score.parts:
        for n in score.parts[0].flatten().notes:
            if any(isinstance(e, expressions.Fermata) for e in n.expressions):
                fermatas.append(float(n.getOffsetInHierarchy(score)) + float(n.quarterLength))
    chords = score.chordify().flatten().getElementsByClass("Chord")
    beat = (
        float(score.flatten().timeSignature.beatDuration.quarterLength)
        if score.flatten().timeSignature
        else 1.0
    )
    beat = beat or 1.0
    events: list[tuple[float, float, Any]] = [
        (float(c.offset), float(c.offset + c.quarterLength), c) for c in chords
    ]
    if not events:
        return None
    end = events[-1][1]
    t, i, last = events[0][0], 0, ""
    fi = 0
    while t < end - 1e-9:
        while i + 1 < len(events) and events[i][1] <= t + 1e-9:
            i += 1
        c = events[i][2]
        named = name_chord([p.pitchClass for p in c.pitches], c.bass().pitchClass if c.pitches else None)
        if named is not None:
            tok = chord_token(named[0] - tonic, named[1])
            if tok != last:
                tokens.append(tok)
                last = tok
        t += beat
        if fi < len(fermatas) and t >= fermatas[fi] - 1e-9:
            while fi < len(fermatas) and t >= fermatas[fi] - 1e-9:
                fi += 1
            if tokens[-1] != PHRASE and len(tokens) > 1:
                tokens.append(PHRASE)
                last = ""
    if tokens[-1] == PHRASE:
        tokens.pop()
    tokens.append(EOS)
    return tokens if len(tokens) > 4 else None


def _extract(limit: int | None) -> list[Piece]:
    from music21 import corpus

    pieces: list[Piece] = []
    seen: set[str] = set()
    for n, score in enumerate(corpus.chorales.Iterator(returnType="stream")):
        if limit is not None and n >= limit:
            break
        src = str(score.metadata.corpusFilePath if score.metadata else n)
        pid = f"bach:{src}"
        if pid in seen:
            continue
        seen.add(pid)
        toks = chorale_tokens(score)
        if toks is not None:
            pieces.append(Piece(pid, "music21 bach chorales", tuple(toks)))
    return pieces


def chorale_pieces(limit: int | None = None) -> list[Piece]:
    """The chorale corpus (every chorale, or the first ``limit``), extracted once and cached."""
    recipe = dict(CHORALE_RECIPE, limit=limit)
    name = "chords-chorales" if limit is None else f"chords-chorales-{limit}"
    return cached(name, recipe, lambda: _extract(limit))
