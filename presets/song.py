"""Song files (YAML, ``schema_version: 1``): load and check them, with errors that point at the line.

:func:`load_song` reads a file and returns an :class:`engine.session.Session`; every problem raises
:class:`presets.errors.SongFileError` naming the file, line, column and field, e.g.
``song.yaml:14:21: tracks[0].clips[0].notes[2].velocity: must be in 1..127, got 200``.
The format is described in ``docs/song-format.md``; the song-file issue extends it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SessionError
from engine.mixer import ChannelStrip
from engine.params import AutomationLane, Breakpoint
from engine.processor import Processor
from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange
from engine.session import MASTER, BusSpec, SendSpec, Session, TrackSpec, automation_target
from engine.tempo import TempoMap, TempoPoint, TimeSignature
from presets.devices import build_device, note_number
from presets.errors import SongFileError
from presets.marked import MarkedDict, MarkedList, load_marked, place

__all__ = ["SCHEMA_VERSION", "load_song", "parse_song"]

SCHEMA_VERSION = 1
MAX_SONG_BYTES = 64 * 1024 * 1024


class _Checker:
    """Validation helpers that know the file and raise SongFileError at the right place."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, container: Any, key: Any, where: str, message: str) -> SongFileError:
        line, col = place(container, key)
        return SongFileError(self.file, line, col, where, message)

    def mapping(self, container: Any, key: Any, where: str) -> MarkedDict:
        value = container[key] if key is not None else container
        if not isinstance(value, dict):
            raise self.fail(container, key, where, f"must be a mapping, got {_kind(value)}")
        return value  # type: ignore[return-value]

    def sequence(self, container: Any, key: Any, where: str) -> MarkedList:
        value = container[key]
        if not isinstance(value, list):
            raise self.fail(container, key, where, f"must be a list, got {_kind(value)}")
        return value  # type: ignore[return-value]

    def keys(self, d: MarkedDict, allowed: tuple[str, ...], where: str) -> None:
        for k in d:
            if k not in allowed:
                line, col = getattr(d, "name_marks", {}).get(k, d.mark)
                raise SongFileError(
                    self.file,
                    line,
                    col,
                    f"{where}.{k}" if where else str(k),
                    f"unknown field (allowed: {', '.join(allowed)})",
                )

    def number(
        self, d: Any, key: Any, where: str, lo: float, hi: float, default: float | None = None
    ) -> float:
        if isinstance(d, dict) and key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(d, key, where, f"must be a number, got {_show(v)}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f) or not lo <= f <= hi:
            raise self.fail(d, key, where, f"must be in {lo:g}..{hi:g}, got {_show(v)}")
        return f

    def integer(self, d: Any, key: Any, where: str, lo: int, hi: int, default: int | None = None) -> int:
        if isinstance(d, dict) and key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(d, key, where, f"must be an integer, got {_show(v)}")
        if not lo <= v <= hi:
            raise self.fail(d, key, where, f"must be in {lo}..{hi}, got {_show(v)}")
        return v

    def boolean(self, d: MarkedDict, key: str, where: str, default: bool = False) -> bool:
        if key not in d:
            return default
        v = d[key]
        if not isinstance(v, bool):
            raise self.fail(d, key, where, f"must be true or false, got {_show(v)}")
        return v

    def text(self, d: MarkedDict, key: str, where: str, default: str | None = None) -> str:
        if key not in d:
            if default is None:
                raise self.fail(d, None, where, "is required")
            return default
        v = d[key]
        if not isinstance(v, str) or not v:
            raise self.fail(d, key, where, f"must be a non-empty string, got {_show(v)}")
        return v

    def wrap(self, d: Any, key: Any, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` and turn its ValueError into a SongFileError at this place."""
        try:
            return fn(*args)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise self.fail(d, key, where, str(msg)) from None


def _show(v: Any, limit: int = 40) -> str:
    """A value for an error message, shortened so a huge value cannot flood the terminal."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(v).__mro__[-2] if isinstance(v, (dict, list)) else type(v), type(v).__name__
    )


def load_song(path: str | os.PathLike[str]) -> Session:
    """Read and check a song file; raises SongFileError (naming file, line and field) on any problem."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SONG_BYTES:
            raise SongFileError(str(p), 0, 0, "", f"file is larger than {MAX_SONG_BYTES // 2**20} MiB")
        raw = p.read_bytes()
    except OSError as exc:
        raise SongFileError(str(p), 0, 0, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SongFileError(str(p), 0, 0, "", f"not UTF-8 text (byte {exc.start})") from None
    return parse_song(text, str(p))


def parse_song(text: str, file: str = "<song>") -> Session:
    """Check a song given as YAML text; ``file`` names it in errors."""
    try:
        doc = load_marked(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise SongFileError(file, line, col, "", f"not valid YAML: {problem}") from None
    c = _Checker(file)
    doc_any: Any = doc
    if not isinstance(doc_any, MarkedDict):
        raise SongFileError(file, 1, 1, "", f"a song file is a YAML mapping, got {_kind(doc)}")
    c.keys(
        doc,
        (
            "schema_version",
            "title",
            "tempo",
            "tempo_map",
            "time_signatures",
            "length_beats",
            "tracks",
            "buses",
            "master",
        ),
        "",
    )
    version = c.integer(doc, "schema_version", "schema_version", 1, 1_000_000)
    if version != SCHEMA_VERSION:
        raise c.fail(
            doc,
            "schema_version",
            "schema_version",
            f"this StrumSpace reads schema version {SCHEMA_VERSION}, the file has {version}",
        )
    session = Session(title=str(doc.get("title", "")))
    session.tempo_map = _tempo_map(c, doc)
    if "length_beats" in doc:
        session.length_beats = c.number(doc, "length_beats", "length_beats", 0.0, 1e6)
    buses = c.sequence(doc, "buses", "buses") if "buses" in doc else MarkedList()
    for i, _ in enumerate(buses):
        session.buses.append(_bus(c, buses, i))
    tracks = c.sequence(doc, "tracks", "tracks") if "tracks" in doc else MarkedList()
    for i, _ in enumerate(tracks):
        session.tracks.append(_track(c, tracks, i))
    if "master" in doc:
        m = c.mapping(doc, "master", "master")
        c.keys(m, ("volume_db", "inserts", "automation"), "master")
        session.master_volume_db = c.number(m, "volume_db", "master.volume_db", -96, 12, 0.0)
        session.master_inserts = _inserts(c, m, "master")
        session.master_automation = _automation(c, m, "master")
        _check_automation(c, m, "master", session.master_automation, None, session.master_inserts)
    names: dict[str, str] = {}
    groups: list[tuple[str, list[Any], Any]] = [
        ("buses", session.buses, buses),
        ("tracks", session.tracks, tracks),
    ]
    for kind, items, seq in groups:
        for i, item in enumerate(items):
            where = f"{kind}[{i}].name"
            if item.name == MASTER:
                raise c.fail(seq[i], "name", where, f"{MASTER!r} is reserved for the master bus")
            if item.name in names:
                raise c.fail(seq[i], "name", where, f"{item.name!r} is already used by {names[item.name]}")
            names[item.name] = f"{kind}[{i}]"
    bus_names = {b.name for b in session.buses}
    for kind, items, seq in groups:
        for i, item in enumerate(items):
            if item.output != MASTER and item.output not in bus_names:
                raise c.fail(seq[i], "output", f"{kind}[{i}].output", f"no bus named {item.output!r}")
            for k, s in enumerate(getattr(item, "sends", [])):
                if s.bus not in bus_names:
                    sends = seq[i]["sends"]
                    raise c.fail(sends[k], "bus", f"{kind}[{i}].sends[{k}].bus", f"no bus named {s.bus!r}")
    return session


def _tempo_map(c: _Checker, doc: MarkedDict) -> TempoMap:
    if "tempo" in doc and "tempo_map" in doc:
        raise c.fail(doc, "tempo_map", "tempo_map", "give either tempo or tempo_map, not both")
    points: list[TempoPoint] = []
    if "tempo_map" in doc:
        seq = c.sequence(doc, "tempo_map", "tempo_map")
        for i, _ in enumerate(seq):
            w = f"tempo_map[{i}]"
            e = c.mapping(seq, i, w)
            c.keys(e, ("beat", "bpm", "ramp"), w)
            beat = c.number(e, "beat", f"{w}.beat", 0, 1e6)
            if points and beat <= points[-1].beat:
                raise c.fail(
                    e, "beat", f"{w}.beat", f"must come after the previous point's beat {points[-1].beat:g}"
                )
            bpm = c.number(e, "bpm", f"{w}.bpm", 1, 999)
            ramp = e.get("ramp", "step")
            if ramp not in ("step", "linear"):
                raise c.fail(e, "ramp", f"{w}.ramp", f"must be step or linear, got {_show(ramp)}")
            if ramp == "linear" and i == len(seq) - 1:
                raise c.fail(e, "ramp", f"{w}.ramp", "the last point has no next point to ramp to")
            points.append(c.wrap(e, None, w, TempoPoint, beat, bpm, ramp))
    bpm = c.number(doc, "tempo", "tempo", 1, 999, 120.0)
    sigs: list[TimeSignature] = []
    if "time_signatures" in doc:
        seq = c.sequence(doc, "time_signatures", "time_signatures")
        for i, _ in enumerate(seq):
            w = f"time_signatures[{i}]"
            e = c.mapping(seq, i, w)
            c.keys(e, ("bar", "numerator", "denominator"), w)
            bar = c.integer(e, "bar", f"{w}.bar", 0, 100000)
            if i == 0 and bar != 0:
                raise c.fail(e, "bar", f"{w}.bar", f"the first time signature must be at bar 0, got {bar}")
            if sigs and bar <= sigs[-1].bar:
                raise c.fail(
                    e, "bar", f"{w}.bar", f"must come after the previous signature's bar {sigs[-1].bar}"
                )
            num = c.integer(e, "numerator", f"{w}.numerator", 1, 64)
            den = c.integer(e, "denominator", f"{w}.denominator", 1, 64)
            if den & (den - 1):
                raise c.fail(e, "denominator", f"{w}.denominator", f"must be a power of two, got {den}")
            sigs.append(c.wrap(e, None, w, TimeSignature, bar, num, den))
    # everything is checked point by point above; what is left for TempoMap is consistent
    place_of = "tempo_map" if points else "time_signatures" if sigs else None
    return c.wrap(doc, place_of, place_of or "tempo", TempoMap, points, sigs, bpm)


def _inserts(c: _Checker, d: MarkedDict, where: str) -> list:
    if "inserts" not in d:
        return []
    seq = c.sequence(d, "inserts", f"{where}.inserts")
    out = []
    for i, entry in enumerate(seq):
        w = f"{where}.inserts[{i}]"
        c.mapping(seq, i, w)
        out.append(c.wrap(seq, i, w, build_device, entry, "effect"))
    return out


def _automation(c: _Checker, d: MarkedDict, where: str) -> dict[str, AutomationLane]:
    if "automation" not in d:
        return {}
    lanes = c.mapping(d, "automation", f"{where}.automation")
    out: dict[str, AutomationLane] = {}
    for path in lanes:
        w = f"{where}.automation.{path}"
        seq = c.sequence(lanes, path, w)
        points = []
        for i, _ in enumerate(seq):
            e = c.mapping(seq, i, f"{w}[{i}]")
            c.keys(e, ("beat", "value", "curve"), f"{w}[{i}]")
            beat = c.number(e, "beat", f"{w}[{i}].beat", 0, 1e6)
            value = c.number(e, "value", f"{w}[{i}].value", -1e9, 1e9)
            curve = e.get("curve", "linear")
            where_curve = "curve" if "curve" in e else None
            points.append(c.wrap(e, where_curve, f"{w}[{i}]", Breakpoint, beat, value, curve))
        out[str(path)] = c.wrap(lanes, path, w, AutomationLane, points)
    return out


def _sends(c: _Checker, d: MarkedDict, where: str) -> list[SendSpec]:
    if "sends" not in d:
        return []
    seq = c.sequence(d, "sends", f"{where}.sends")
    out = []
    for i, _ in enumerate(seq):
        w = f"{where}.sends[{i}]"
        e = c.mapping(seq, i, w)
        c.keys(e, ("bus", "level_db", "pre_fader"), w)
        out.append(
            SendSpec(
                c.text(e, "bus", f"{w}.bus"),
                c.number(e, "level_db", f"{w}.level_db", -96, 12, 0.0),
                c.boolean(e, "pre_fader", f"{w}.pre_fader"),
            )
        )
    return out


def _name(c: _Checker, d: MarkedDict, w: str) -> str:
    name = c.text(d, "name", f"{w}.name")
    if "/" in name or "." in name:
        raise c.fail(d, "name", f"{w}.name", f"must not contain '/' or '.', got {_show(name)}")
    return name


def _check_automation(
    c: _Checker,
    d: MarkedDict,
    w: str,
    lanes: dict[str, AutomationLane],
    instrument: Processor | None,
    inserts: list[Processor],
) -> None:
    """Each lane must name a parameter of this strip or device and stay inside its range."""
    if not lanes:
        return
    strip = ChannelStrip(2)
    node = d["automation"]
    for path, lane in lanes.items():
        try:
            param = automation_target(path, strip, instrument, inserts)
        except SessionError as exc:
            raise c.fail(node, path, f"{w}.automation.{path}", str(exc)) from None
        for k, point in enumerate(lane.points):
            if not param.min_value <= point.value <= param.max_value:
                where = f"{w}.automation.{path}[{k}].value"
                raise c.fail(
                    node[path][k],
                    "value",
                    where,
                    f"{param.name} must be in {param.min_value:g}..{param.max_value:g}, got {point.value:g}",
                )


def _bus(c: _Checker, seq: MarkedList, i: int) -> BusSpec:
    w = f"buses[{i}]"
    d = c.mapping(seq, i, w)
    c.keys(d, ("name", "inserts", "volume_db", "pan", "mute", "output", "automation"), w)
    bus = BusSpec(
        name=_name(c, d, w),
        inserts=_inserts(c, d, w),
        volume_db=c.number(d, "volume_db", f"{w}.volume_db", -96, 12, 0.0),
        pan=c.number(d, "pan", f"{w}.pan", -1, 1, 0.0),
        mute=c.boolean(d, "mute", f"{w}.mute"),
        output=c.text(d, "output", f"{w}.output", MASTER),
        automation=_automation(c, d, w),
    )
    _check_automation(c, d, w, bus.automation, None, bus.inserts)
    return bus


def _track(c: _Checker, seq: MarkedList, i: int) -> TrackSpec:
    w = f"tracks[{i}]"
    d = c.mapping(seq, i, w)
    c.keys(
        d,
        (
            "name",
            "instrument",
            "clips",
            "inserts",
            "volume_db",
            "pan",
            "mute",
            "solo",
            "sends",
            "output",
            "automation",
        ),
        w,
    )
    name = _name(c, d, w)
    if "instrument" not in d:
        raise c.fail(d, None, f"{w}.instrument", "is required")
    c.mapping(d, "instrument", f"{w}.instrument")
    instrument = c.wrap(d, "instrument", f"{w}.instrument", build_device, d["instrument"], "instrument")
    clips = []
    if "clips" in d:
        cseq = c.sequence(d, "clips", f"{w}.clips")
        for k, _ in enumerate(cseq):
            clips.append(_clip(c, cseq, k, f"{w}.clips[{k}]"))
    track = TrackSpec(
        name=name,
        instrument=instrument,
        clips=clips,
        inserts=_inserts(c, d, w),
        volume_db=c.number(d, "volume_db", f"{w}.volume_db", -96, 12, 0.0),
        pan=c.number(d, "pan", f"{w}.pan", -1, 1, 0.0),
        mute=c.boolean(d, "mute", f"{w}.mute"),
        solo=c.boolean(d, "solo", f"{w}.solo"),
        sends=_sends(c, d, w),
        output=c.text(d, "output", f"{w}.output", MASTER),
        automation=_automation(c, d, w),
    )
    _check_automation(c, d, w, track.automation, track.instrument, track.inserts)
    return track


_NOTE_FIELDS = ("pitch", "start", "length", "velocity", "channel")


def _clip(c: _Checker, seq: MarkedList, k: int, w: str) -> Clip:
    d = c.mapping(seq, k, w)
    c.keys(
        d,
        (
            "name",
            "start_beats",
            "length_beats",
            "offset_beats",
            "notes",
            "controls",
            "pitch_bends",
            "programs",
        ),
        w,
    )
    start = c.number(d, "start_beats", f"{w}.start_beats", 0, 1e6)
    length = c.number(d, "length_beats", f"{w}.length_beats", 1e-6, 1e6) if "length_beats" in d else None
    offset = c.number(d, "offset_beats", f"{w}.offset_beats", 0, 1e6, 0.0)
    notes = []
    if "notes" in d:
        nseq = c.sequence(d, "notes", f"{w}.notes")
        for j, item in enumerate(nseq):
            nw = f"{w}.notes[{j}]"
            if isinstance(item, list):
                # compact form: [pitch, start, length, velocity?, channel?]
                if not 3 <= len(item) <= 5:
                    raise c.fail(
                        nseq,
                        j,
                        nw,
                        f"a note is [pitch, start, length, velocity?, channel?], got {len(item)} items",
                    )
                e: Any = MarkedDict(zip(_NOTE_FIELDS, item, strict=False))
                e.mark = place(nseq, j)
                e.key_marks = {f: item.item_marks[x] for x, f in enumerate(_NOTE_FIELDS[: len(item)])}  # type: ignore[attr-defined]
            else:
                e = c.mapping(nseq, j, nw)
                c.keys(e, _NOTE_FIELDS, nw)
            if "pitch" not in e:
                raise c.fail(e, None, f"{nw}.pitch", "is required")
            pitch = c.wrap(e, "pitch", f"{nw}.pitch", note_number, e["pitch"])
            ns = c.number(e, "start", f"{nw}.start", 0, 1e6)
            nl = c.number(e, "length", f"{nw}.length", 1e-6, 1e6)
            vel = c.integer(e, "velocity", f"{nw}.velocity", 1, 127, 100)
            ch = c.integer(e, "channel", f"{nw}.channel", 0, 15, 0)
            notes.append(Note(pitch, ns, nl, vel, ch))
    controls = [
        ControlChange(*v) for v in _events(c, d, "controls", w, ("controller", 0, 127), ("value", 0, 127))
    ]
    bends = [PitchBend(*v) for v in _events(c, d, "pitch_bends", w, ("value", -8192, 8191))]
    programs = [ProgramChange(*v) for v in _events(c, d, "programs", w, ("program", 0, 127))]
    return c.wrap(
        d,
        None,
        w,
        Clip,
        start,
        tuple(notes),
        tuple(controls),
        tuple(bends),
        tuple(programs),
        length,
        offset,
        str(d.get("name", "")),
    )


def _events(c: _Checker, d: MarkedDict, key: str, w: str, *fields: tuple[str, int, int]) -> list[tuple]:
    if key not in d:
        return []
    seq = c.sequence(d, key, f"{w}.{key}")
    out = []
    for j, _ in enumerate(seq):
        ew = f"{w}.{key}[{j}]"
        e = c.mapping(seq, j, ew)
        c.keys(e, ("beat", *(f[0] for f in fields), "channel"), ew)
        beat = c.number(e, "beat", f"{ew}.beat", 0, 1e6)
        vals = [c.integer(e, name, f"{ew}.{name}", lo, hi) for name, lo, hi in fields]
        out.append((beat, *vals, c.integer(e, "channel", f"{ew}.channel", 0, 15, 0)))
    return out
