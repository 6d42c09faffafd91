"""Song files (YAML, ``schema_version`` 2): load and check them, with errors that point at the line.

:func:`load_song` reads a file and returns an :class:`engine.session.Session`; every problem raises
:class:`presets.errors.SongFileError` naming the file, line, column and field, e.g.
``song.yaml:14:21: tracks[0].clips[0].notes[2].velocity: must be in 1..127, got 200``.
The format is described in ``docs/song-format.md``. Files of earlier versions are migrated as they load
(:mod:`presets.migrations`). A plugin that cannot be loaded becomes a bypassed slot and a line in
``Session.warnings``; the song still loads. The ``mappings`` list binds MIDI controls to parameters
(:class:`engine.mapping.Mapping`); each target must name a parameter of the song (:func:`mapping_param`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from engine.audio_clips import AudioClipPlayer
from engine.control import ControlError, check_path
from engine.errors import SessionError
from engine.mapping import (
    CURVES,
    DEFAULT_STEP,
    MAPPING_FIELDS,
    MODES,
    NOTE_MODES,
    NUMBER_MAX,
    SOURCES,
    TAKEOVERS,
    Mapping,
    mapped_range,
)
from engine.mixer import ChannelStrip, Send
from engine.params import AutomationLane, Breakpoint, Parameter
from engine.processor import Processor
from engine.session import MASTER, BusSpec, SendSpec, Session, TrackSpec, automation_target
from presets.checker import Checker, show
from presets.checker import kind as kind_of
from presets.errors import SongFileError
from presets.marked import MarkedDict, MarkedList, load_marked, marked_data
from presets.migrations import SCHEMA_VERSION, migrate
from presets.song_clips import parse_audio_clips, parse_clip
from presets.song_devices import device, failed_plugins, parse_inserts, with_template
from presets.song_header import (
    KEY_MODES,
    METADATA_FIELDS,
    parse_key,
    parse_metadata,
    parse_sections,
    parse_tempo_map,
)

__all__ = [
    "KEY_MODES",
    "MAPPING_FIELDS",
    "METADATA_FIELDS",
    "SCHEMA_VERSION",
    "V2_FIELDS",
    "load_song",
    "mapping_param",
    "parse_song",
    "parse_song_document",
]

V2_FIELDS = (
    "schema_version",
    "metadata",
    "key",
    "tempo",
    "tempo_map",
    "time_signatures",
    "sections",
    "length_beats",
    "tracks",
    "buses",
    "master",
    "mappings",
)
# where an error of a mapping is shown: the first of these fields that its message names
BLAME_ORDER = (
    "min_value",
    "max_value",
    "number",
    "channel",
    "step",
    "note_mode",
    "mode",
    "takeover",
    "curve",
)
MAX_SONG_BYTES = 64 * 1024 * 1024


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
    return _parse(doc, file)


def parse_song_document(doc: dict[str, Any], file: str = "<song>") -> Session:
    """Check a song given as the data its YAML would load to (a document built in code: dicts, lists,
    strings, numbers), through the same checks as a file; errors have no line numbers. Saving ``doc`` with
    :func:`presets.song_yaml.save_song` and loading the file gives the same session."""
    try:
        data = marked_data(doc)
    except TypeError as exc:
        raise SongFileError(file, 0, 0, "", f"not song data: {exc}") from None
    return _parse(data, file)


def _parse(doc: Any, file: str) -> Session:
    c = Checker(file)
    doc_any: Any = doc
    if not isinstance(doc_any, MarkedDict):
        raise SongFileError(file, 1, 1, "", f"a song file is a YAML mapping, got {kind_of(doc)}")
    doc = migrate(doc, c)
    c.keys(doc, V2_FIELDS, "")
    session = Session(
        title=parse_metadata(c, doc).get("title", ""),
        key=parse_key(c, doc),
    )
    session.tempo_map = parse_tempo_map(c, doc)
    session.sections = parse_sections(c, doc)
    buses = c.sequence(doc, "buses", "buses") if "buses" in doc else MarkedList()
    for i, _ in enumerate(buses):
        session.buses.append(_bus(c, buses, i))
    tracks = c.sequence(doc, "tracks", "tracks") if "tracks" in doc else MarkedList()
    for i, _ in enumerate(tracks):
        session.tracks.append(_track(c, tracks, i))
    if "length_beats" in doc:
        session.length_beats = c.number(doc, "length_beats", "length_beats", 0.0, 1e6)
    else:
        audio_end = max(
            (
                t.instrument.end_beats(session.tempo_map)
                for t in session.tracks
                if isinstance(t.instrument, AudioClipPlayer)
            ),
            default=0.0,
        )
        if audio_end > session.end_beats():
            session.length_beats = audio_end  # audio clips end after the last MIDI clip
    if "master" in doc:
        m = c.mapping(doc, "master", "master")
        c.keys(m, ("volume_db", "inserts", "automation"), "master")
        session.master_volume_db = c.number(m, "volume_db", "master.volume_db", -96, 12, 0.0)
        session.master_inserts = parse_inserts(c, m, "master")
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
    inserts = [p for t in session.tracks for p in t.inserts] + [p for b in session.buses for p in b.inserts]
    inserts += session.master_inserts
    session.warnings = failed_plugins([t.instrument for t in session.tracks] + inserts)
    if "mappings" in doc:
        seq = c.sequence(doc, "mappings", "mappings")
        session.mappings = [_mapping(c, seq, i, session) for i, _ in enumerate(seq)]
    return session


def mapping_param(session: Session, path: str) -> Parameter:
    """The parameter that a mapping's target (a path of :mod:`engine.control`: ``bass/volume_db``,
    ``bass/send/room``, ``bass/instrument/cutoff_hz``, ``master/fx0/mix``) names in a session, without
    building it (a strip's or a send's parameter as every strip and send has it); ValueError says what is
    wrong with a path that names nothing."""
    try:
        _, head, name, device = check_path(session, path)
    except ControlError as exc:
        raise ValueError(exc.args[1]) from None
    if device is not None:
        return device.param(name)
    if head == "send":
        return Send().level_db
    return ChannelStrip(2).param(head)


def _mapping(c: Checker, seq: MarkedList, i: int, session: Session) -> Mapping:
    w = f"mappings[{i}]"
    e = c.mapping(seq, i, w)
    c.keys(e, MAPPING_FIELDS, w)
    choices = {
        "source": SOURCES,
        "curve": CURVES,
        "mode": MODES,
        "takeover": TAKEOVERS,
        "note_mode": NOTE_MODES,
    }
    words: dict[str, Any] = {}
    for key, allowed in choices.items():
        if key in e or key == "source":
            words[key] = c.text(e, key, f"{w}.{key}")
            if words[key] not in allowed:
                raise c.fail(e, key, f"{w}.{key}", f"must be one of {', '.join(allowed)}, got {show(e[key])}")
    top = NUMBER_MAX[words["source"]]
    fields: dict[str, Any] = {
        "target": c.text(e, "target", f"{w}.target"),
        **words,
        "number": c.integer(e, "number", f"{w}.number", 0, top, 0 if top == 0 else None),
        "invert": c.boolean(e, "invert", f"{w}.invert"),
        "step": c.number(e, "step", f"{w}.step", 0, 1, DEFAULT_STEP),
    }
    if "channel" in e:
        fields["channel"] = c.integer(e, "channel", f"{w}.channel", 0, 15)
    for key in ("min_value", "max_value"):
        if key in e:
            fields[key] = c.number(e, key, f"{w}.{key}", -1e9, 1e9)
    at: str | None = None  # the field at fault: the target, else the one the message names
    try:
        mapping = Mapping(**fields)
        at = "target"
        param = mapping_param(session, mapping.target)
        at = "range"
        mapped_range(mapping, param)
    except ValueError as exc:
        message = str(exc)
        if at != "target":
            named = [k for k in BLAME_ORDER if k in e and k in message]
            at = named[0] if named else "target" if at == "range" else None
        raise c.fail(e, at, f"{w}.{at}" if at else w, message) from None
    return mapping


def _automation(c: Checker, d: MarkedDict, where: str) -> dict[str, AutomationLane]:
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


def _sends(c: Checker, d: MarkedDict, where: str) -> list[SendSpec]:
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


def _name(c: Checker, d: MarkedDict, w: str) -> str:
    name = c.text(d, "name", f"{w}.name")
    if "/" in name or "." in name:
        raise c.fail(d, "name", f"{w}.name", f"must not contain '/' or '.', got {show(name)}")
    return name


def _check_automation(
    c: Checker,
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


def _bus(c: Checker, seq: MarkedList, i: int) -> BusSpec:
    w = f"buses[{i}]"
    d = c.mapping(seq, i, w)
    c.keys(d, ("name", "inserts", "volume_db", "pan", "mute", "output", "automation"), w)
    bus = BusSpec(
        name=_name(c, d, w),
        inserts=parse_inserts(c, d, w),
        volume_db=c.number(d, "volume_db", f"{w}.volume_db", -96, 12, 0.0),
        pan=c.number(d, "pan", f"{w}.pan", -1, 1, 0.0),
        mute=c.boolean(d, "mute", f"{w}.mute"),
        output=c.text(d, "output", f"{w}.output", MASTER),
        automation=_automation(c, d, w),
    )
    _check_automation(c, d, w, bus.automation, None, bus.inserts)
    return bus


def _track(c: Checker, seq: MarkedList, i: int) -> TrackSpec:
    w = f"tracks[{i}]"
    d = c.mapping(seq, i, w)
    c.keys(
        d,
        (
            "name",
            "template",
            "instrument",
            "clips",
            "audio_clips",
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
    if "template" in d:
        d = with_template(c, d, w)
    if "audio_clips" in d:
        for key in ("instrument", "clips"):
            if key in d:
                raise c.fail(
                    d, key, f"{w}.{key}", "an audio track (audio_clips) has no instrument or MIDI clips"
                )
        instrument: Processor = parse_audio_clips(c, d, w)
    else:
        if "instrument" not in d:
            raise c.fail(d, None, f"{w}.instrument", "is required (or audio_clips for an audio track)")
        c.mapping(d, "instrument", f"{w}.instrument")
        instrument = device(c, d, "instrument", f"{w}.instrument", "instrument")
    clips = []
    if "clips" in d:
        cseq = c.sequence(d, "clips", f"{w}.clips")
        for k, _ in enumerate(cseq):
            clips.append(parse_clip(c, cseq, k, f"{w}.clips[{k}]"))
    track = TrackSpec(
        name=name,
        instrument=instrument,
        clips=clips,
        inserts=parse_inserts(c, d, w),
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
