"""Genre harmony grammars: documented music-theory rules used as a prior and a constraint, not a model.

No pop, jazz or blues chord corpus exists offline, so each genre's harmony is written down here as the
textbooks give it, in chord tokens relative to the tonic (``"7:maj"`` is the triad on the fifth degree,
the same spelling as the ``chords`` model's vocabulary, :mod:`ai.corpus.vocab`):

- ``loops``: the short repeating progressions a genre is built from (I-V-vi-IV in pop, I-bVII-IV in rock,
  I-IV-I-V in country, modal i-bVI-bIII-bVII loops in electronic, i-iv and 4-3-2-1 loops in hip-hop).
  Genres with ``loops`` repeat one loop per section name; the others walk the functions below bar by bar.
- ``functions``: functional harmony (tonic T -> predominant PD -> dominant D -> T), the chords of each
  function with weights, and which function may follow which: the classical, folk and jazz walk.
- ``cadence_mid``/``cadence_end``: the last chords of a section that goes on (a half cadence on V, or the
  genre's turnaround) and of the song (an authentic cadence V-I, plagal IV-I in folk, bVII-i in
  electronic). Cadences are forced whatever the model proposes.
- ``extend``: how the genre colours a triad (jazz: maj7/min7/dom9/dom13 and m7b5; blues: dom7;
  hip-hop: min7/min9), applied after the chords are chosen.

:data:`BLUES_FORM` is the 12-bar blues, fully fixed by the grammar. :func:`allowed_tokens` is the
vocabulary mask a model draws from for a genre and mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BLUES_FORM", "GRAMMARS", "HarmonyGrammar", "allowed_tokens"]

Weighted = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class HarmonyGrammar:
    loops: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)  # mode -> loops
    functions: dict[str, dict[str, Weighted]] = field(default_factory=dict)  # mode -> function -> chords
    cadence_mid: dict[str, tuple[str, ...]] = field(default_factory=dict)  # mode -> last chords
    cadence_end: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extend: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)  # quality -> options
    chords_per_bar: int = 1


# function -> the functions that may follow, with weights (T -> PD -> D -> T, and prolongations)
FUNCTION_MOVES: dict[str, tuple[tuple[str, float], ...]] = {
    "T": (("T", 0.25), ("PD", 0.5), ("D", 0.25)),
    "PD": (("PD", 0.2), ("D", 0.8)),
    "D": (("T", 0.85), ("D", 0.15)),
}
_FUNCTIONAL = {
    "major": {
        "T": (("0:maj", 3.0), ("9:min", 1.2), ("4:min", 0.4)),
        "PD": (("5:maj", 2.0), ("2:min", 1.5)),
        "D": (("7:maj", 3.0), ("11:dim", 0.4), ("7:dom7", 1.0)),
    },
    "minor": {
        "T": (("0:min", 3.0), ("8:maj", 1.2), ("3:maj", 0.6)),
        "PD": (("5:min", 2.0), ("2:dim", 1.0)),
        "D": (("7:maj", 2.5), ("7:dom7", 1.0), ("11:dim", 0.4)),
    },
}
_FOLK = {
    "major": {
        "T": (("0:maj", 3.0), ("9:min", 0.6)),
        "PD": (("5:maj", 2.0), ("2:min", 0.6)),
        "D": (("7:maj", 2.0),),
    },
    "minor": {
        "T": (("0:min", 3.0), ("3:maj", 0.8)),
        "PD": (("5:min", 1.0), ("10:maj", 1.2)),
        "D": (("7:min", 1.0), ("10:maj", 1.0), ("7:maj", 1.0)),
    },
}
_JAZZ = {
    "major": {
        "T": (("0:maj", 3.0), ("9:min", 1.5), ("4:min", 0.8)),
        "PD": (("2:min", 3.0), ("5:maj", 1.0)),
        "D": (("7:dom7", 3.0),),
    },
    "minor": {
        "T": (("0:min", 3.0), ("8:maj", 1.0), ("3:maj", 0.8)),
        "PD": (("2:m7b5", 3.0), ("5:min", 1.0)),
        "D": (("7:dom7", 3.0),),
    },
}
_AUTHENTIC: dict[str, tuple[str, ...]] = {
    "major": ("5:maj", "7:maj", "0:maj"),
    "minor": ("5:min", "7:maj", "0:min"),
}
_HALF: dict[str, tuple[str, ...]] = {"major": ("5:maj", "7:maj"), "minor": ("5:min", "7:maj")}

GRAMMARS: dict[str, HarmonyGrammar] = {
    "pop": HarmonyGrammar(
        loops={
            "major": (
                ("0:maj", "7:maj", "9:min", "5:maj"),
                ("9:min", "5:maj", "0:maj", "7:maj"),
                ("0:maj", "9:min", "5:maj", "7:maj"),
                ("5:maj", "0:maj", "7:maj", "9:min"),
            ),
            "minor": (
                ("0:min", "8:maj", "3:maj", "10:maj"),
                ("0:min", "5:min", "8:maj", "7:maj"),
                ("8:maj", "10:maj", "0:min", "0:min"),
            ),
        },
        cadence_mid=_HALF,
        cadence_end=_AUTHENTIC,
        extend={"maj": (("maj", 0.85), ("sus2", 0.15))},
    ),
    "rock": HarmonyGrammar(
        loops={
            "major": (
                ("0:maj", "5:maj", "7:maj", "5:maj"),
                ("0:maj", "10:maj", "5:maj", "0:maj"),
                ("9:min", "5:maj", "0:maj", "7:maj"),
                ("0:maj", "7:maj", "5:maj", "5:maj"),
            ),
            "minor": (
                ("0:min", "10:maj", "8:maj", "10:maj"),
                ("0:min", "8:maj", "10:maj", "0:min"),
                ("0:min", "5:min", "10:maj", "8:maj"),
            ),
        },
        cadence_mid={"major": ("5:maj", "7:maj"), "minor": ("8:maj", "10:maj")},
        cadence_end={"major": ("5:maj", "7:maj", "0:maj"), "minor": ("8:maj", "10:maj", "0:min")},
    ),
    "country": HarmonyGrammar(
        loops={
            "major": (
                ("0:maj", "5:maj", "0:maj", "7:maj"),
                ("0:maj", "0:maj", "5:maj", "5:maj"),
                ("0:maj", "7:maj", "5:maj", "0:maj"),
                ("0:maj", "2:maj", "7:maj", "0:maj"),
            ),
            "minor": (("0:min", "5:min", "7:maj", "0:min"), ("0:min", "10:maj", "5:min", "7:maj")),
        },
        cadence_mid=_HALF,
        cadence_end={"major": ("5:maj", "7:dom7", "0:maj"), "minor": _AUTHENTIC["minor"]},
    ),
    "electronic": HarmonyGrammar(
        loops={
            "minor": (
                ("0:min", "8:maj", "3:maj", "10:maj"),
                ("0:min", "10:maj", "8:maj", "10:maj"),
                ("0:min", "3:maj", "10:maj", "5:min"),
                ("0:min", "0:min", "8:maj", "10:maj"),
            ),
            "major": (
                ("0:maj", "7:maj", "9:min", "5:maj"),
                ("5:maj", "0:maj", "7:maj", "9:min"),
                ("0:maj", "10:maj", "5:maj", "0:maj"),
            ),
        },
        cadence_mid={"major": ("5:maj", "7:maj"), "minor": ("8:maj", "10:maj")},
        cadence_end={"major": ("10:maj", "0:maj"), "minor": ("10:maj", "0:min")},
        extend={"min": (("min", 0.6), ("min7", 0.4)), "maj": (("maj", 0.7), ("sus2", 0.3))},
    ),
    "hip-hop": HarmonyGrammar(
        loops={
            "minor": (
                ("0:min", "5:min", "0:min", "5:min"),
                ("0:min", "8:maj", "5:min", "7:min"),
                ("0:min", "3:maj", "8:maj", "7:maj"),
            ),
            "major": (("5:maj", "4:min", "2:min", "0:maj"), ("2:min", "7:maj", "0:maj", "9:min")),
        },
        cadence_mid={"major": ("2:min", "7:maj"), "minor": ("5:min", "7:min")},
        cadence_end={"major": ("2:min", "7:maj", "0:maj"), "minor": ("5:min", "7:min", "0:min")},
        extend={"min": (("min7", 0.6), ("min9", 0.4)), "maj": (("maj7", 0.7), ("maj9", 0.3))},
    ),
    "classical": HarmonyGrammar(
        functions=_FUNCTIONAL,
        cadence_mid=_HALF,
        cadence_end=_AUTHENTIC,
        chords_per_bar=2,
        extend={"dom7": (("dom7", 1.0),)},
    ),
    "folk": HarmonyGrammar(
        functions=_FOLK,
        cadence_mid={"major": ("5:maj", "7:maj"), "minor": ("10:maj", "7:min")},
        cadence_end={"major": ("7:maj", "5:maj", "0:maj"), "minor": ("10:maj", "5:min", "0:min")},
    ),
    "jazz": HarmonyGrammar(
        functions=_JAZZ,
        cadence_mid={"major": ("9:min", "2:min", "7:dom7"), "minor": ("8:maj", "2:m7b5", "7:dom7")},
        cadence_end={"major": ("2:min", "7:dom7", "0:maj"), "minor": ("2:m7b5", "7:dom7", "0:min")},
        extend={
            "maj": (("maj7", 0.6), ("maj9", 0.25), ("maj6", 0.15)),
            "min": (("min7", 0.7), ("min9", 0.3)),
            "dom7": (("dom7", 0.3), ("dom9", 0.4), ("dom13", 0.3)),
            "dim": (("m7b5", 1.0),),
        },
    ),
    "blues": HarmonyGrammar(extend={"maj": (("dom7", 1.0),)}),
}

# The 12-bar blues: I7 IV7 I7 I7 | IV7 IV7 I7 I7 | V7 IV7 I7 V7 (the last bar V7 turns around; the
# song's last chorus ends on I7). Minor blues: i7 iv7 ... with V7.
BLUES_FORM: dict[str, tuple[str, ...]] = {
    "major": (
        "0:dom7",
        "5:dom7",
        "0:dom7",
        "0:dom7",
        "5:dom7",
        "5:dom7",
        "0:dom7",
        "0:dom7",
        "7:dom7",
        "5:dom7",
        "0:dom7",
        "7:dom7",
    ),
    "minor": (
        "0:min7",
        "5:min7",
        "0:min7",
        "0:min7",
        "5:min7",
        "5:min7",
        "0:min7",
        "0:min7",
        "7:dom7",
        "5:min7",
        "0:min7",
        "7:dom7",
    ),
}


def allowed_tokens(genre: str, mode: str) -> tuple[str, ...]:
    """Every chord token the genre's grammar uses in ``mode``, in a fixed order: the mask a chord model
    draws from."""
    g = GRAMMARS[genre]
    seen: dict[str, None] = {}
    for loop in g.loops.get(mode, ()):
        seen.update(dict.fromkeys(loop))
    for chords in g.functions.get(mode, {}).values():
        seen.update(dict.fromkeys(tok for tok, _ in chords))
    seen.update(dict.fromkeys(g.cadence_mid.get(mode, ()) + g.cadence_end.get(mode, ())))
    if genre == "blues":
        seen.update(dict.fromkeys(BLUES_FORM[mode]))
    return tuple(seen)
