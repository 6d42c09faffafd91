"""The clips of a song file: MIDI notes, controllers, pitch bends and program changes, inline or read from a
Standard MIDI File (``midi_file``: a path relative to the song file, with ``track`` choosing one of the
file's tracks by index from 0 or by name, and ``channel`` one of its channels; positions in the file's
beats, the song's tempo map rules the timing)."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange
from presets.checker import Checker
from presets.devices import note_number
from presets.marked import MarkedDict, MarkedList, place

__all__ = ["parse_audio_clips", "parse_clip"]


_NOTE_FIELDS = ("pitch", "start", "length", "velocity", "channel")


def parse_clip(c: Checker, seq: MarkedList, k: int, w: str) -> Clip:
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
            "midi_file",
            "track",
            "channel",
        ),
        w,
    )
    if "midi_file" in d:
        return _midi_file_clip(c, d, w)
    for key in ("track", "channel"):
        if key in d:
            raise c.fail(d, key, f"{w}.{key}", "only for a clip with midi_file")
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


def _midi_file_clip(c: Checker, d: MarkedDict, w: str) -> Clip:
    from bridge.errors import MidiFileError
    from bridge.midi_import import session_from_midi_data
    from bridge.midifile import read_midi_file
    from engine.processor import Processor

    for key in ("notes", "controls", "pitch_bends", "programs"):
        if key in d:
            raise c.fail(
                d, key, f"{w}.{key}", "a clip takes its events from midi_file or lists them, not both"
            )
    path = c.base_dir / c.text(d, "midi_file", f"{w}.midi_file")
    if not path.is_file():
        raise c.fail(d, "midi_file", f"{w}.midi_file", f"no such file: {path}")
    try:
        data = read_midi_file(path)
    except MidiFileError as exc:
        raise c.fail(d, "midi_file", f"{w}.midi_file", str(exc)) from None
    if "track" in d:
        want = d["track"]
        if isinstance(want, int) and not isinstance(want, bool):
            if not 0 <= want < len(data.tracks):
                last = len(data.tracks) - 1
                raise c.fail(d, "track", f"{w}.track", f"the file has tracks 0..{last}, got {want}")
            chosen = [data.tracks[want]]
        elif isinstance(want, str):
            chosen = [t for t in data.tracks if t.name == want]
            if not chosen:
                known = ", ".join(repr(t.name) for t in data.tracks)
                raise c.fail(d, "track", f"{w}.track", f"no track named {want!r} in {path} (tracks: {known})")
        else:
            raise c.fail(d, "track", f"{w}.track", "must be a track index (from 0) or a track name")
        data = dataclasses.replace(data, tracks=tuple(chosen))
    # one clip per (file track, channel), as an import makes them; no instruments are needed here
    session = session_from_midi_data(data, lambda channel: Processor())
    parts = [(t, clip) for t in session.tracks for clip in t.clips]
    if "channel" in d:
        ch = c.integer(d, "channel", f"{w}.channel", 0, 15)
        parts = [(t, clip) for t, clip in parts if any(n.channel == ch for n in clip.notes)]
    if len(parts) != 1:
        names = ", ".join(t.name for t, _ in parts) or "none"
        raise c.fail(
            d, "midi_file", f"{w}.midi_file", f"choose one part of {path} with track/channel (parts: {names})"
        )
    src = parts[0][1]
    start = c.number(d, "start_beats", f"{w}.start_beats", 0, 1e6)
    length = (
        c.number(d, "length_beats", f"{w}.length_beats", 1e-6, 1e6)
        if "length_beats" in d
        else src.length_beats
    )
    offset = c.number(d, "offset_beats", f"{w}.offset_beats", 0, 1e6, 0.0)
    name = str(d.get("name", src.name))
    return c.wrap(
        d, None, w, Clip, start, src.notes, src.controls, src.pitch_bends, src.programs, length, offset, name
    )


def _events(c: Checker, d: MarkedDict, key: str, w: str, *fields: tuple[str, int, int]) -> list[tuple]:
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


_AUDIO_FIELDS = (
    "file",
    "name",
    "start_beats",
    "offset_seconds",
    "length_seconds",
    "gain_db",
    "fade_in_seconds",
    "fade_out_seconds",
    "fade_shape",
)


def parse_audio_clips(c: Checker, d: MarkedDict, w: str) -> Any:
    """The player of an audio track's ``audio_clips``: each file is found and its header read now, so a
    missing or broken file is named at its place in the song (the audio is read when the engine prepares)."""
    from engine.audio_clips import AudioClip, AudioClipPlayer
    from engine.audiofile import AudioFileError, probe_audio

    seq = c.sequence(d, "audio_clips", f"{w}.audio_clips")
    clips = []
    for k, _ in enumerate(seq):
        aw = f"{w}.audio_clips[{k}]"
        e = c.mapping(seq, k, aw)
        c.keys(e, _AUDIO_FIELDS, aw)
        path = c.base_dir / c.text(e, "file", f"{aw}.file")
        try:
            info = probe_audio(path)
        except AudioFileError as exc:
            raise c.fail(e, "file", f"{aw}.file", str(exc)) from None
        offset = c.number(e, "offset_seconds", f"{aw}.offset_seconds", 0, 1e6, 0.0)
        if offset >= info.duration_seconds:
            raise c.fail(
                e, "offset_seconds", f"{aw}.offset_seconds",
                f"{offset:g} s is past the end of {path} ({info.duration_seconds:.3f} s)",
            )  # fmt: skip
        length = (
            c.number(e, "length_seconds", f"{aw}.length_seconds", 1e-6, 1e6)
            if "length_seconds" in e
            else None
        )
        fades = {
            key: c.number(e, key, f"{aw}.{key}", 0, 1e6) if key in e else None
            for key in ("fade_in_seconds", "fade_out_seconds")
        }
        clip = c.wrap(
            e, None, aw, AudioClip,
            str(path),
            c.number(e, "start_beats", f"{aw}.start_beats", 0, 1e6),
            offset,
            length,
            c.number(e, "gain_db", f"{aw}.gain_db", -96, 24, 0.0),
            fades["fade_in_seconds"],
            fades["fade_out_seconds"],
            c.text(e, "fade_shape", f"{aw}.fade_shape", "equal_power"),
            str(e.get("name", "")),
        )  # fmt: skip
        clips.append(clip)
    return c.wrap(d, "audio_clips", f"{w}.audio_clips", AudioClipPlayer, clips)
