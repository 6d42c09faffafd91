"""Progression: :func:`plan_chords` gives every section its chords, in the request's key and mode.

The model proposes and the genre grammar constrains (:mod:`ai.grammar`, a documented music-theory prior,
not a model). With the trained ``chords`` model (a chorale model, :mod:`ai.models.runtime`) each chord is
drawn from the model's logits under a mask of the chords the genre's grammar allows at that point; with
no model, the grammar's own weights draw them. Either way:

1. Loop genres (pop, rock, country, electronic, hip-hop) get one four-chord loop per section name, so a
   chorus sounds like the chorus every time; walk genres (classical, folk, jazz) move tonic ->
   predominant -> dominant -> tonic slot by slot. Blues is the 12-bar form, fixed by the grammar.
2. Each section's last chords are forced to the genre's cadence: a half cadence or turnaround where the
   song goes on, an authentic (or the genre's own) cadence at the end.
3. Jazz turns every dominant not already prepared by its ii into ii-V (the bar is split), so every
   V-I is a ii-V-I; then the genre's extensions colour the triads (maj7/min7/dom9/dom13 in jazz, dom7 in
   blues, min7/min9 in hip-hop).

The draws use the request's temperature and top-k and the numpy generator passed in, so the same seed
gives the same chords. Next: :func:`ai.instrumentation.plan_parts`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ai.grammar import BLUES_FORM, FUNCTION_MOVES, GRAMMARS, HarmonyGrammar, allowed_tokens
from ai.plan import ChordEvent, GenerateRequest, Section
from ai.walker import ModelWalker

__all__ = ["parse_token", "plan_chords", "relative_token"]

LOOP_LENGTH = 4


def parse_token(token: str) -> tuple[int, str]:
    """``"7:dom7"`` -> ``(7, "dom7")``: root in semitones above the tonic and quality."""
    root, _, quality = token.partition(":")
    return int(root), quality


def relative_token(chord: ChordEvent, tonic_pc: int) -> str:
    """A chord event spelled as a grammar token relative to ``tonic_pc`` (``"2:min7"``)."""
    return f"{(chord.root_pc - tonic_pc) % 12}:{chord.quality}"


def _weighted(options: tuple[tuple[str, float], ...], rng: np.random.Generator) -> str:
    w = np.array([p for _, p in options], dtype=np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))][0]


class _Chooser:
    """Draws chord tokens: from the model under the grammar's mask when there is one, else the grammar."""

    def __init__(self, walker: ModelWalker | None, rng: np.random.Generator) -> None:
        self.walker = walker
        self.rng = rng

    def choose(self, options: tuple[tuple[str, float], ...], avoid: str = "") -> str:
        allowed = tuple((t, w) for t, w in options if t != avoid) or options
        if self.walker is not None and any(self.walker.knows(t) for t, _ in allowed):
            return self.walker.draw([t for t, _ in allowed], self.rng)
        token = _weighted(allowed, self.rng)
        self.played(token)
        return token

    def played(self, token: str) -> None:
        if self.walker is not None:
            self.walker.feed(token)


def _loop(g: HarmonyGrammar, mode: str, chooser: _Chooser, vocab: tuple[str, ...]) -> tuple[str, ...]:
    loops = g.loops[mode]
    if chooser.walker is None:
        loop = loops[int(chooser.rng.choice(len(loops)))]
        for tok in loop:
            chooser.played(tok)
        return loop
    starts = tuple(dict.fromkeys(lp[0] for lp in loops))
    out = [chooser.choose(tuple((t, 1.0) for t in starts))]
    while len(out) < LOOP_LENGTH:
        out.append(chooser.choose(tuple((t, 1.0) for t in vocab), avoid=out[-1]))
    return tuple(out)


def _walk(g: HarmonyGrammar, mode: str, slots: int, chooser: _Chooser) -> list[str]:
    funcs = g.functions[mode]
    function_of = {tok: f for f, chords in funcs.items() for tok, _ in chords}
    out: list[str] = []
    current = "T"
    for i in range(slots):
        if i == 0:
            options = tuple((t, w) for t, w in funcs["T"] if parse_token(t)[0] == 0) or funcs["T"]
        else:
            nxt = _weighted(FUNCTION_MOVES[current], chooser.rng)
            options = funcs[nxt]
        tok = chooser.choose(options, avoid=out[-1] if out else "")
        current = function_of.get(tok, "T")
        out.append(tok)
    return out


def _section_tokens(
    request: GenerateRequest,
    section: Section,
    last: bool,
    chooser: _Chooser,
    loops: dict[str, tuple[str, ...]],
) -> list[str]:
    g = GRAMMARS[request.genre]
    mode = request.key.mode
    if request.genre == "blues":
        form = BLUES_FORM[mode]
        tokens = [form[(section.start_bar + i) % 12] for i in range(section.bars)]
        if last:
            tokens[-1] = form[0]  # the last chorus ends on the tonic instead of turning around
        for t in tokens:
            chooser.played(t)
        return tokens
    slots = section.bars * g.chords_per_bar
    if g.loops:
        if section.name not in loops:
            loops[section.name] = _loop(g, mode, chooser, allowed_tokens(request.genre, mode))
        loop = loops[section.name]
        tokens = [loop[(i // g.chords_per_bar) % len(loop)] for i in range(slots)]
    else:
        tokens = _walk(g, mode, slots, chooser)
    cadence = (g.cadence_end if last else g.cadence_mid).get(mode, ())
    n = min(len(cadence), max(1, slots - 1)) if slots > 1 else 1
    tokens[slots - n :] = cadence[len(cadence) - n :] if cadence else tokens[slots - n :]
    for t in tokens[slots - n :]:
        chooser.played(t)
    if chooser.walker is not None:
        chooser.walker.feed("|")  # a phrase ends with the section
    return tokens


def _jazz_ii_v(events: list[tuple[str, float, float]], mode: str) -> list[tuple[str, float, float]]:
    """Every V7 not prepared by its ii becomes ii-V in the same time (split when it lasts 4+ beats)."""
    ii = "2:min" if mode == "major" else "2:m7b5"
    out: list[tuple[str, float, float]] = []
    for tok, start, length in events:
        root, quality = parse_token(tok)
        prepared = bool(out) and parse_token(out[-1][0])[0] == 2
        if root == 7 and quality in ("dom7", "maj") and not prepared and length >= 4:
            out.append((ii, start, length / 2))
            out.append(("7:dom7", start + length / 2, length / 2))
        else:
            out.append((tok, start, length))
    return out


def _extend(quality: str, g: HarmonyGrammar, rng: np.random.Generator) -> str:
    options = g.extend.get(quality)
    return _weighted(options, rng) if options else quality


def plan_chords(
    request: GenerateRequest, sections: list[Section], rng: np.random.Generator, model: Any | None = None
) -> list[ChordEvent]:
    """The chords of the whole song, in time order, one or more per bar (see the module docstring).

    ``model``: a loaded ``chords`` model (:func:`ai.walker.load_optional`), or None for the grammar
    alone."""
    walker = None
    if model is not None:
        walker = ModelWalker(model, request.temperature, request.top_k)
        walker.feed("<major>" if request.key.mode == "major" else "<minor>")
    chooser = _Chooser(walker, rng)
    g = GRAMMARS[request.genre]
    bar = float(request.beats_per_bar)
    slot = bar / g.chords_per_bar
    loops: dict[str, tuple[str, ...]] = {}
    timed: list[tuple[str, float, float]] = []
    for i, section in enumerate(sections):
        tokens = _section_tokens(request, section, i == len(sections) - 1, chooser, loops)
        start = section.start_bar * bar
        timed += [(tok, start + k * slot, slot) for k, tok in enumerate(tokens)]
    if request.genre == "jazz":
        timed = _jazz_ii_v(timed, request.key.mode)
    chords = []
    for tok, start, length in timed:
        root, quality = parse_token(tok)
        chords.append(ChordEvent((request.key.tonic_pc + root) % 12, _extend(quality, g, rng), start, length))
    return chords
