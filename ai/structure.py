"""Structure: :func:`plan_sections` lays out a song's sections for its genre, fitted exactly to its bars.

Each genre has a form (:data:`FORMS`): opening sections, a body that repeats as often as the length
allows, and closing sections, each with a bar count and an energy (0..1, read by the density plan in
:mod:`ai.instrumentation`). Pop, rock and country go intro/verse/chorus/bridge/outro; jazz plays a head,
solo choruses and the head again; blues is 12-bar choruses; electronic builds, drops and breaks down;
hip-hop alternates verse and hook; classical is ternary (A B A) with a coda; folk is AABA tunes.

Fitting: the opening and closing sections are kept when they leave room for the first two body sections
(otherwise only the body is used); the body is cycled while whole sections fit; what is left is either a
shortened next section (two bars or more) or added to the last one. The bar counts therefore always sum
to the request's bars. Next: :func:`ai.progression.plan_chords`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ai.plan import GenerateRequest, Section

__all__ = ["ENERGY_SHIFT", "FORMS", "Form", "fit_form", "plan_sections"]

Entry = tuple[str, int, float]  # name, bars, energy


@dataclass(frozen=True)
class Form:
    head: tuple[Entry, ...]
    body: tuple[Entry, ...]
    tail: tuple[Entry, ...]


_SONG = Form(
    head=(("intro", 4, 0.3),),
    body=(
        ("verse", 8, 0.5),
        ("chorus", 8, 0.9),
        ("verse", 8, 0.55),
        ("chorus", 8, 0.95),
        ("bridge", 8, 0.6),
        ("chorus", 8, 1.0),
    ),
    tail=(("outro", 4, 0.35),),
)
FORMS: dict[str, Form] = {
    "pop": _SONG,
    "rock": Form(_SONG.head, (*_SONG.body[:4], ("solo", 8, 0.85), *_SONG.body[4:]), _SONG.tail),
    "country": Form(_SONG.head, _SONG.body, (("outro", 2, 0.3),)),
    "jazz": Form(
        head=(("intro", 4, 0.3),),
        body=(("head", 16, 0.6), ("solo", 16, 0.8), ("solo", 16, 0.9), ("head", 16, 0.7)),
        tail=(("outro", 4, 0.4),),
    ),
    "blues": Form(
        head=(),
        body=(("chorus", 12, 0.6), ("solo", 12, 0.85), ("chorus", 12, 0.75), ("solo", 12, 0.9)),
        tail=(),
    ),
    "electronic": Form(
        head=(("intro", 8, 0.3),),
        body=(
            ("build", 8, 0.6),
            ("drop", 16, 1.0),
            ("breakdown", 8, 0.35),
            ("build", 8, 0.65),
            ("drop", 16, 1.0),
        ),
        tail=(("outro", 8, 0.3),),
    ),
    "hip-hop": Form(
        head=(("intro", 4, 0.35),),
        body=(("verse", 16, 0.6), ("hook", 8, 0.9), ("verse", 16, 0.65), ("hook", 8, 0.95)),
        tail=(("outro", 4, 0.4),),
    ),
    "classical": Form(
        head=(),
        body=(("a", 8, 0.5), ("a", 8, 0.6), ("b", 8, 0.75), ("b", 8, 0.7), ("a", 8, 0.6)),
        tail=(("coda", 4, 0.4),),
    ),
    "folk": Form(
        head=(("intro", 2, 0.3),),
        body=(("a", 8, 0.45), ("a", 8, 0.5), ("b", 8, 0.6), ("a", 8, 0.55)),
        tail=(("outro", 2, 0.3),),
    ),
}
ENERGY_SHIFT = {"low": -0.2, "mid": 0.0, "high": 0.15}
MIN_SECTION_BARS = 2


def fit_form(form: Form, bars: int) -> list[tuple[str, int, float]]:
    """The form's sections with bar counts that sum to exactly ``bars`` (see the module docstring)."""
    edges = sum(e[1] for e in form.head + form.tail)
    keep_edges = bars >= edges + form.body[0][1] + (form.body[1][1] if len(form.body) > 1 else 0)
    out: list[tuple[str, int, float]] = list(form.head) if keep_edges else []
    remaining = bars - (edges if keep_edges else 0)
    i = 0
    while remaining > 0:
        name, n, energy = form.body[i % len(form.body)]
        if n <= remaining:
            out.append((name, n, energy))
            remaining -= n
        elif remaining >= MIN_SECTION_BARS or not out:
            out.append((name, remaining, energy))
            remaining = 0
        else:  # a bar too few for a section of its own: the last one plays longer
            last = out[-1]
            out[-1] = (last[0], last[1] + remaining, last[2])
            remaining = 0
        i += 1
    if keep_edges:
        out += list(form.tail)
    return out


def plan_sections(request: GenerateRequest) -> list[Section]:
    """The sections of ``request``'s song, in order, with start bars and energies (shifted by the
    request's energy, kept in 0.05..1)."""
    shift = ENERGY_SHIFT[request.energy]
    sections: list[Section] = []
    start = 0
    for name, n, energy in fit_form(FORMS[request.genre], request.bars):
        sections.append(Section(name, start, n, round(min(1.0, max(0.05, energy + shift)), 3)))
        start += n
    return sections
