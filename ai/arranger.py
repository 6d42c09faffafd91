"""The arranger: :func:`arrange` turns a request into an :class:`ai.plan.Arrangement`, stage by stage.

The stages run in order and each can be called on its own (:data:`STAGES` names them for a progress bar):
structure (:func:`ai.structure.plan_sections`) -> progression (:func:`ai.progression.plan_chords`) ->
instrumentation (:func:`ai.instrumentation.plan_parts`) -> parts (:func:`write_parts`: melody, bass,
drums, comping). Every random draw comes from one :class:`numpy.random.Generator` seeded from the
request's seed, so the same request gives the same arrangement, byte for byte.

``use_models``: None uses the trained ``chords`` and ``melody`` models when their files are there and the
genre grammar alone otherwise; False always the grammar alone; True requires the models
(:class:`ai.errors.ModelError` when they cannot be loaded). Next: :func:`ai.song.song_document`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ai.instrumentation import plan_parts
from ai.parts.bass import write_bass
from ai.parts.comping import write_comping
from ai.parts.drums import write_drums
from ai.parts.melody import write_melody
from ai.plan import Arrangement, ChordEvent, GenerateRequest, Part, Section
from ai.progression import plan_chords
from ai.seed import fit_seed_chords, seed_placements
from ai.structure import plan_sections
from ai.walker import load_optional

__all__ = ["STAGES", "ArrangeState", "arrange", "end_beats", "run_stages", "write_parts"]


def end_beats(request: GenerateRequest) -> float | None:
    """Where the sound must end for a request with a duration (the last chord rings to it), else None."""
    if request.duration_s is None:
        return None
    return request.duration_s * request.tempo_bpm / 60.0


def write_parts(
    request: GenerateRequest,
    sections: list[Section],
    chords: list[ChordEvent],
    parts: list[Part],
    rng: np.random.Generator,
    melody_model: Any | None = None,
) -> list[Part]:
    """Fill every part's notes by its role; returns the parts (changed in place)."""
    ring = end_beats(request)
    for part in parts:
        if part.role == "melody":
            part.notes = write_melody(request, sections, chords, part, rng, melody_model)
        elif part.role == "bass":
            part.notes = write_bass(request, sections, chords, part, rng, ring)
        elif part.role == "drums":
            part.notes = write_drums(request, sections, part, rng)
        else:
            part.notes = write_comping(request, sections, chords, part, rng, ring)
    return parts


@dataclass
class ArrangeState:
    """What the stages have made so far."""

    request: GenerateRequest
    rng: np.random.Generator
    models: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    chords: list[ChordEvent] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


def _models(state: ArrangeState, use_models: bool | None) -> None:
    if use_models is False:
        return
    for name in ("chords", "melody"):
        state.models[name] = load_optional(name, required=bool(use_models))


def _structure(s: ArrangeState) -> None:
    s.sections = plan_sections(s.request)


def _progression(s: ArrangeState) -> None:
    s.chords = plan_chords(s.request, s.sections, s.rng, s.models.get("chords"))


def _instrumentation(s: ArrangeState) -> None:
    s.parts = plan_parts(s.request, s.sections)


def _parts(s: ArrangeState) -> None:
    melody = next((p for p in s.parts if p.role == "melody"), None)
    if melody is not None:  # a seed tune: the chords under its statements are refitted to it
        s.chords = fit_seed_chords(s.request, s.chords, seed_placements(s.request, s.sections, melody))
    write_parts(s.request, s.sections, s.chords, s.parts, s.rng, s.models.get("melody"))


STAGES: tuple[tuple[str, Callable[[ArrangeState], None]], ...] = (
    ("structure", _structure),
    ("progression", _progression),
    ("instrumentation", _instrumentation),
    ("parts", _parts),
)


def run_stages(
    request: GenerateRequest,
    use_models: bool | None = None,
    until: str = "parts",
    on_stage: Callable[[str], None] | None = None,
) -> ArrangeState:
    """The stages of ``request`` in order, up to and including ``until`` (a name in :data:`STAGES`);
    ``on_stage(name)`` is called after each."""
    names = [name for name, _ in STAGES]
    if until not in names:
        raise ValueError(f"until must be one of {', '.join(names)}, got {until!r}")
    state = ArrangeState(request, np.random.default_rng(request.seed))
    _models(state, use_models)
    for name, stage in STAGES[: names.index(until) + 1]:
        stage(state)
        if on_stage is not None:
            on_stage(name)
    return state


def arrange(
    request: GenerateRequest,
    use_models: bool | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Arrangement:
    """The whole arrangement of ``request``; ``on_stage(name)`` is called after each stage."""
    state = run_stages(request, use_models, on_stage=on_stage)
    return Arrangement(request, state.sections, state.chords, state.parts)
