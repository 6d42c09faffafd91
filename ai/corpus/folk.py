"""The ``melody`` corpus: tunes from music21's offline folk collections, as pitch and duration tokens.

Recipe (:data:`FOLK_RECIPE`): the first ``essen_files`` files of ``essenFolksong`` (Essen) and the
first ``oneills_files`` of ``oneills1850`` (O'Neill's 1850), every tune in each file (a file is an
opus). Ryan's Mammoth is left out of the default recipe: its 1,059 one-tune files take longer to parse
than the whole training run. The key comes from the tune's key field when it names a mode, else from
``analyze('key')``. Tied notes are merged, grace notes dropped, chords read as their top note; the
tokens are those of :mod:`ai.corpus.vocab` (melody). :func:`melody_tokens` turns any (MIDI pitch or
None, quarter length) list into tokens, so the MIDI importer spells tunes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ai.corpus.dataset import Piece, cached
from ai.corpus.vocab import EOS, REST, mode_token, pitch_token, quantise_sixteenths

__all__ = ["FOLK_RECIPE", "folk_pieces", "melody_tokens", "score_key", "score_notes"]

FOLK_RECIPE = {
    "corpus": "music21 essenFolksong + oneills1850 (first files of each, every tune of a file)",
    "key": "the tune's key field (K:) when it names a mode, else analyze('key')",
    "tokens": "per note 'p±N' (semitones above tonic, folded into -5..+19) or 'r', then 'dN' sixteenths",
    "version": 1,
}


def melody_tokens(notes: Sequence[tuple[int | None, float]], tonic_pc: int, mode: str) -> list[str] | None:
    """Tokens of a tune: ``notes`` are (MIDI pitch or None for a rest, quarter length) in order."""
    pitched = sorted(m for m, _ in notes if m is not None)
    if len(pitched) < 8:
        return None
    median = pitched[len(pitched) // 2] - tonic_pc
    # the tonic octave that puts the tune's middle nearest the fifth above the tonic
    shift = 12 * round((median - 7) / 12)
    tokens = [mode_token(mode)]
    for i, (m, ql) in enumerate(notes):
        if m is None and (i == 0 or i == len(notes) - 1):
            continue
        tokens.append(REST if m is None else pitch_token(m - tonic_pc - shift))
        tokens.append(f"d{quantise_sixteenths(ql)}")
    tokens.append(EOS)
    return tokens


def score_notes(score: Any) -> list[tuple[int | None, float]]:
    """(MIDI pitch or None, quarter length) of a one-voice score: ties merged, grace notes dropped."""
    out: list[tuple[int | None, float]] = []
    for n in score.flatten().notesAndRests:
        ql = float(n.quarterLength)
        if ql <= 0:
            continue
        if n.isRest:
            if out and out[-1][0] is None:
                out[-1] = (None, out[-1][1] + ql)
            else:
                out.append((None, ql))
            continue
        midi = max(p.midi for p in n.pitches)
        if n.tie is not None and n.tie.type in ("continue", "stop") and out and out[-1][0] == midi:
            out[-1] = (midi, out[-1][1] + ql)
        else:
            out.append((midi, ql))
    return out


def score_key(score: Any) -> tuple[int, str]:
    """(tonic pitch class, 'major' or 'minor') of a tune."""
    from music21 import key as m21key

    for k in score.flatten().getElementsByClass("KeySignature"):
        if isinstance(k, m21key.Key) and k.mode in ("major", "minor"):
            return k.tonic.pitchClass, k.mode
        break
    k = score.analyze("key")
    return k.tonic.pitchClass, k.mode if k.mode in ("major", "minor") else "major"


def _extract(essen_files: int, oneills_files: int) -> list[Piece]:
    from music21 import corpus

    pieces: list[Piece] = []
    for collection, count in (("essenFolksong", essen_files), ("oneills1850", oneills_files)):
        for path in corpus.getComposer(collection)[:count]:
            opus = corpus.parse(path)
            scores = opus.scores if hasattr(opus, "scores") else [opus]
            for i, score in enumerate(scores):
                notes = score_notes(score)
                if not notes:
                    continue
                tonic, mode = score_key(score)
                toks = melody_tokens(notes, tonic, mode)
                if toks is not None:
                    pieces.append(
                        Piece(f"{collection}:{path.name}:{i}", f"music21 {collection}", tuple(toks))
                    )
    return pieces


def folk_pieces(essen_files: int = 8, oneills_files: int = 8) -> list[Piece]:
    """The folk melody corpus of the default (or a given) recipe, extracted once and cached."""
    recipe = dict(FOLK_RECIPE, essen_files=essen_files, oneills_files=oneills_files)
    return cached(
        f"melody-folk-{essen_files}-{oneills_files}", recipe, lambda: _extract(essen_files, oneills_files)
    )
