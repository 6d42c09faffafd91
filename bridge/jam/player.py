"""What a member's engine makes of the room: the notes logged in a room as clips of a song, at their beats
on the room's timeline (in interval mode, the others' notes one interval later: everyone hears the others
as they played an interval ago), and the room's parameter values, clips and tempo applied to a session."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.control import resolve_param
from engine.sequencer import Clip, Note
from engine.session import BuildResult, Session
from engine.tempo import TempoMap

__all__ = ["apply_room", "note_clips", "shift_beats"]


def shift_beats(state: dict[str, Any], entry: dict[str, Any], me: str | None) -> float:
    """How many beats later this member plays an entry: the interval in interval mode, for the others'."""
    mode = state.get("mode", {})
    if mode.get("mode") != "interval" or entry.get("from") == me:
        return 0.0
    return float(mode.get("interval_bars", 1)) * float(state["timeline"].get("beats_per_bar", 4))


def note_clips(
    entries: Iterable[dict[str, Any]], state: dict[str, Any], me: str | None = None
) -> dict[str, Clip]:
    """Every note op as one clip per track (notes at their beats, shifted as :func:`shift_beats` says)."""
    per_track: dict[str, list[Note]] = {}
    held: dict[tuple[str, str, int], tuple[float, int]] = {}  # (member, track, pitch) -> (beat, velocity)
    for e in entries:
        op = e["op"]
        kind = op["kind"]
        if kind not in ("note", "note_on", "note_off"):
            continue
        beat = op["beat"] + shift_beats(state, e, me)
        if kind == "note":
            per_track.setdefault(op["track"], []).append(
                Note(op["pitch"], beat, op["length"], op["velocity"])
            )
            continue
        key = (e["from"], op["track"], op["pitch"])
        if kind == "note_on":
            if key in held:  # played again before its note-off: the first ends here
                start, vel = held.pop(key)
                per_track.setdefault(op["track"], []).append(
                    Note(op["pitch"], start, max(beat - start, 1e-3), vel)
                )
            held[key] = (beat, op["velocity"])
        elif key in held:
            start, vel = held.pop(key)
            per_track.setdefault(op["track"], []).append(
                Note(op["pitch"], start, max(beat - start, 1e-3), vel)
            )
    for (_, track, pitch), (start, vel) in held.items():  # never released: a bar long
        per_track.setdefault(track, []).append(Note(pitch, start, 4.0, vel))
    return {
        t: Clip(0.0, tuple(sorted(n, key=lambda x: x.start_beats)), name="jam") for t, n in per_track.items()
    }


def apply_room(
    session: Session, state: dict[str, Any], entries: Iterable[dict[str, Any]], me: str | None = None
) -> list[str]:
    """Put the room into a session before it is built: its tempo, the notes played (as clips) and the clips
    edited in the room. Returns the tracks the room names that the session lacks (their notes are left
    out)."""
    session.tempo_map = TempoMap(
        time_signatures=session.tempo_map.time_signatures, bpm=state["timeline"]["bpm"]
    )
    tracks = {t.name: t for t in session.tracks}
    missing: set[str] = set()
    for track, clip in note_clips(entries, state, me).items():
        if track in tracks:
            tracks[track].clips.append(clip)
        else:
            missing.add(track)
    for key, notes in state.get("clips", {}).items():
        track, _, name = key.partition("/")
        if track not in tracks:
            missing.add(track)
            continue
        clip = Clip(0.0, tuple(Note(int(p), float(s), float(n), int(v)) for p, s, n, v in notes), name=name)
        tracks[track].clips = [c for c in tracks[track].clips if c.name != name] + [clip]
    return sorted(missing)


def apply_params(session: Session, built: BuildResult, state: dict[str, Any]) -> list[str]:
    """Set the room's parameter values on a built session; returns the paths it could not set (with why)."""
    problems = []
    for path, value in state.get("params", {}).items():
        try:
            resolve_param(session, built, path).param.set(value)
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    return problems
