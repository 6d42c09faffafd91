"""``strum arrange``: run the arranger's stages up to one of them and print what they made, without
rendering: the sections (``--stage structure``), their chords bar by bar (``progression``), the tracks
and where each plays (``instrumentation``) or the notes of every part (``parts``, the default), as a
lead sheet or, with ``--json``, as data. It takes the same request options as ``strum generate`` and the
same seed gives the same plan; ``--song`` also saves the song file (``--stage parts`` only).

Exit status: 0 printed; 2 a bad request or option (one line naming the field and what is allowed).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "plan_dict", "run"]

STAGE_NAMES = ("structure", "progression", "instrumentation", "parts")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from bridge.cli.generate import add_request_arguments

    add_request_arguments(p)
    p.add_argument(
        "--stage", choices=STAGE_NAMES, default="parts", help="the last stage to run (default parts)"
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--song", metavar="SONG.yaml", help="also save the song file (with --stage parts)")
    p.epilog = "Example: strum arrange --genre blues --key A --bars 24 --stage progression"


def plan_dict(state: Any, stage: str) -> dict[str, Any]:
    """The plan made up to ``stage`` as plain data."""
    r = state.request
    out: dict[str, Any] = {
        "genre": r.genre,
        "key": r.key.name,
        "tempo_bpm": r.tempo_bpm,
        "bars": r.bars,
        "seed": r.seed,
        "sections": [
            {"name": s.name, "start_bar": s.start_bar, "bars": s.bars, "energy": s.energy}
            for s in state.sections
        ],
    }
    done = STAGE_NAMES[: STAGE_NAMES.index(stage) + 1]
    if "progression" in done:
        out["chords"] = [
            {"beat": c.start_beats, "beats": c.length_beats, "chord": c.name} for c in state.chords
        ]
    if "instrumentation" in done:
        out["parts"] = [
            {"name": p.name, "role": p.role, "instrument": p.instrument, "gm_program": p.gm_program,
             "sections": list(p.active_sections)}
            for p in state.parts
        ]  # fmt: skip
    if "parts" in done:
        for entry, part in zip(out["parts"], state.parts, strict=True):
            entry["notes"] = [[n.pitch, n.start_beats, n.length_beats, n.velocity] for n in part.notes]
    return out


def _lead_sheet(plan: dict[str, Any]) -> str:
    lines = [
        f"{plan['genre']}, {plan['key']}, {plan['tempo_bpm']:g} bpm, {plan['bars']} bars, seed {plan['seed']}"
    ]
    chords = plan.get("chords", [])
    for s in plan["sections"]:
        lines.append(
            f"{s['name']:<10} bars {s['start_bar'] + 1}-{s['start_bar'] + s['bars']}, energy {s['energy']:g}"
        )
        lo, hi = s["start_bar"] * 4, (s["start_bar"] + s["bars"]) * 4
        names = [c["chord"] for c in chords if lo <= c["beat"] < hi]
        for i in range(0, len(names), 8):
            lines.append("    | " + " | ".join(names[i : i + 8]) + " |")
    for p in plan.get("parts", []):
        what = p["instrument"].get("preset", p["instrument"]["type"])
        notes = f"{len(p['notes']):>5} notes, " if "notes" in p else ""
        lines.append(f"{p['name']:<8} {p['role']:<7} {what:<8} {notes}plays in {', '.join(p['sections'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ai.arranger import run_stages
    from bridge.cli import CliError
    from bridge.cli.generate import read_request

    if args.song and args.stage != "parts":
        raise CliError("--song needs every stage: leave out --stage or use --stage parts", 2)
    request = read_request(args)
    state = run_stages(request, False if args.no_models else None, until=args.stage)
    plan = plan_dict(state, args.stage)
    print(json.dumps(plan, indent=1) if args.json else _lead_sheet(plan))
    if args.song:
        from ai.arranger import end_beats
        from ai.plan import Arrangement
        from ai.song import song_document, write_song

        arrangement = Arrangement(request, state.sections, state.chords, state.parts)
        write_song(song_document(arrangement, end_beats(request)), args.song)
    return 0
