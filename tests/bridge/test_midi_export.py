"""MIDI export, and MIDI import into song documents: a file survives import -> YAML -> load -> export.

mido writes the fixtures and reads the exported files back as an independent reader; our own reader
(bridge.midifile) reads them too.
"""

from __future__ import annotations

import bisect
import io
import itertools
from pathlib import Path

import mido
import pytest

import presets.song
from bridge.midi_export import export_midi, key_name, key_signature, midi_bytes
from bridge.midi_import import (
    DRUM_INSTRUMENT,
    song_document_from_midi,
    song_header,
    synth_preset_for_program,
)
from bridge.midifile import parse_midi_bytes, read_midi_file
from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange, compile_events
from engine.session import Section, Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint, TimeSignature
from presets.song import load_song, parse_song
from presets.song_yaml import dump_song_yaml
from tests.helpers import Ramp

PPQ = 480


def band_file(path: Path) -> Path:
    """A type 1 file: conductor (3/4 then 4/4 at bar 2 with a tempo change there), keys with overlapping
    notes of one pitch, a bass and strings on one file track (two channels), drums on channel 10."""
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Band Song", time=0),
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
            mido.MetaMessage("key_signature", key="Bb", time=0),
            mido.MetaMessage("set_tempo", tempo=500000, time=0),
            mido.MetaMessage("marker", text="intro", time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=PPQ * 6),
            mido.MetaMessage("set_tempo", tempo=631579, time=0),  # 95 bpm, not a whole microsecond
            mido.MetaMessage("marker", text="verse", time=0),
        ]
    )
    keys = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Keys.L/R", time=0),
            mido.Message("program_change", program=4, channel=0, time=0),
            mido.Message("note_on", note=60, velocity=90, time=0),
            mido.Message("note_on", note=60, velocity=70, time=240),  # the same pitch again, overlapping
            mido.Message("note_on", note=67, velocity=1, time=0),
            mido.Message("note_off", note=60, time=240),
            mido.Message("note_on", note=60, velocity=0, time=240),  # a note-off as note-on velocity 0
            mido.Message("control_change", control=64, value=127, time=0),
            mido.Message("pitchwheel", pitch=-8192, time=101),
            mido.Message("note_off", note=67, time=0),
            mido.Message("note_on", note=72, velocity=127, time=0),
            mido.Message("note_off", note=72, time=1),  # one tick long
            mido.Message("program_change", program=5, channel=0, time=3000),
            mido.Message("note_on", note=48, velocity=64, time=17),
            mido.Message("note_off", note=48, time=3333),
        ]
    )
    band = mido.MidiTrack([mido.MetaMessage("track_name", name="Band", time=0)])
    band += [
        mido.Message("program_change", program=33, channel=1, time=0),
        mido.Message("program_change", program=48, channel=2, time=0),
        mido.Message("note_on", note=36, velocity=100, channel=1, time=0),
        mido.Message("note_on", note=55, velocity=80, channel=2, time=0),
        mido.Message("note_off", note=36, channel=1, time=PPQ * 3),
        mido.Message("control_change", control=1, value=30, channel=2, time=7),
        mido.Message("note_off", note=55, channel=2, time=PPQ * 5),
        mido.Message("note_on", note=38, velocity=110, channel=1, time=0),
        mido.Message("pitchwheel", pitch=8191, channel=1, time=333),
        mido.Message("note_off", note=38, channel=1, time=PPQ),
    ]
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Drums", time=0)])
    for i in range(24):
        pitch = (36, 42, 38, 42)[i % 4]
        drums += [
            mido.Message("note_on", note=pitch, velocity=80 + i, channel=9, time=0 if i == 0 else 180),
            mido.Message("note_off", note=pitch, channel=9, time=60),
        ]
    mid.tracks.extend([conductor, keys, band, drums])
    mid.save(path)
    return path


NoteRow = tuple[int, int, float, float, int]  # channel, pitch, start beat, length beats, velocity


def mido_notes(mid: mido.MidiFile) -> list[NoteRow]:
    """Every note of a file read by mido, note-ons paired with note-offs first in, first out."""
    out: list[NoteRow] = []
    for track in mid.tracks:
        tick = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                start, vel = sounding[(msg.channel, msg.note)].pop(0)
                tpb = mid.ticks_per_beat
                out.append((msg.channel, msg.note, start / tpb, (tick - start) / tpb, vel))
    return sorted(out)


def our_notes(data: bytes) -> list[NoteRow]:
    """The same, read by bridge.midifile."""
    f = parse_midi_bytes(data)
    out: list[NoteRow] = []
    for track in f.tracks:
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for ev in track.events:
            key = (ev.channel, ev.data1)
            if ev.kind == 0x90:
                sounding.setdefault(key, []).append((ev.tick, ev.data2))
            elif ev.kind == 0x80:
                start, vel = sounding[key].pop(0)
                out.append(
                    (ev.channel, ev.data1, f.tick_to_beat(start), f.tick_to_beat(ev.tick - start), vel)
                )
    return sorted(out)


def conductor(data: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, int, int]]]:
    """Tempo changes as (beat, bpm) and time signatures as (beat, numerator, denominator)."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    tempos, meters = [], []
    tick = 0
    for msg in mid.tracks[0]:
        tick += msg.time
        beat = tick / mid.ticks_per_beat
        if msg.type == "set_tempo":
            tempos.append((beat, mido.tempo2bpm(msg.tempo)))
        elif msg.type == "time_signature":
            meters.append((beat, msg.numerator, msg.denominator))
    return tempos, meters


def assert_same_notes(got: list[NoteRow], want: list[NoteRow], tolerance: float) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:2] == w[:2] and g[4] == w[4], (g, w)
        assert g[2] == pytest.approx(w[2], abs=tolerance), (g, w)
        assert g[3] == pytest.approx(w[3], abs=tolerance), (g, w)


@pytest.mark.parametrize("ppq", [480, 960, 96])
def test_a_file_survives_import_yaml_load_and_export(tmp_path, ppq):
    source = band_file(tmp_path / "band.mid")
    song = tmp_path / "band.yaml"
    song.write_text(dump_song_yaml(song_document_from_midi(source)), encoding="utf-8")
    out = tmp_path / "again.mid"
    export_midi(load_song(song), out, ppq=ppq)

    data = out.read_bytes()
    back = mido.MidiFile(out)
    assert back.type == 1 and back.ticks_per_beat == ppq
    want = mido_notes(mido.MidiFile(source))
    tick = 1 / ppq + 1e-6  # positions in the song are the file's ticks to 1e-6 beat
    assert_same_notes(mido_notes(back), want, tick)
    assert_same_notes(our_notes(data), want, tick)
    assert sum(1 for n in want if n[1] == 60) == 2  # both overlapping notes of one pitch survive
    assert {n[0] for n in want} == {0, 1, 2, 9}  # each on its own channel, drums on channel 10

    tempos, meters = conductor(data)
    want_tempos, want_meters = conductor(source.read_bytes())
    assert [b for b, _ in tempos] == [b for b, _ in want_tempos] == [0, 6]
    assert [bpm for _, bpm in tempos] == pytest.approx([bpm for _, bpm in want_tempos], rel=1e-9)
    assert meters == want_meters == [(0, 3, 4), (6, 4, 4)]
    programs = sorted((m.channel, m.program) for t in back.tracks for m in t if m.type == "program_change")
    assert programs == [(0, 4), (0, 5), (1, 33), (2, 48)]
    bends = sorted((m.channel, m.pitch) for t in back.tracks for m in t if m.type == "pitchwheel")
    assert bends == [(0, -8192), (1, 8191)]


def test_the_song_document_names_tracks_and_picks_instruments(tmp_path):
    doc = song_document_from_midi(band_file(tmp_path / "band.mid"))
    tracks = {t["name"]: t for t in doc["tracks"]}
    assert list(tracks) == ["Keys_L_R", "Band-ch2", "Band-ch3", "Drums"]
    presets_of = {name: t["instrument"].get("preset") for name, t in tracks.items()}
    assert presets_of == {"Keys_L_R": "keys", "Band-ch2": "bass", "Band-ch3": "strings", "Drums": "pluck"}
    assert tracks["Drums"]["instrument"] == DRUM_INSTRUMENT
    clip = tracks["Keys_L_R"]["clips"][0]
    assert clip["notes"][:2] == [[60, 0.0, 1.0, 90, 0], [60, 0.5, 1.0, 70, 0]]
    assert clip["pitch_bends"] == [{"beat": round(821 / 480, 6), "value": -8192, "channel": 0}]
    assert doc["tempo_map"] == [{"beat": 0.0, "bpm": 120.0}, {"beat": 6.0, "bpm": round(60e6 / 631579, 6)}]
    assert doc["time_signatures"][1] == {"bar": 2, "numerator": 4, "denominator": 4}
    if presets.song.SCHEMA_VERSION >= 2:
        assert doc["metadata"] == {"title": "Band Song"}
        assert doc["key"] == "Bb major"
        assert doc["sections"] == [{"name": "intro", "beat": 0.0}, {"name": "verse", "beat": 6.0}]
    session = parse_song(dump_song_yaml(doc), "band.yaml")
    assert session.title == "Band Song"
    assert [t.name for t in session.tracks] == list(tracks)
    assert session.tracks[3].instrument.param("decay_ms").value == 60  # the drums: a short pluck
    # bytes read the same as the file
    assert song_document_from_midi((tmp_path / "band.mid").read_bytes())["tracks"] == doc["tracks"]


@pytest.mark.parametrize(
    ("program", "preset"),
    [(0, "keys"), (19, "keys"), (25, "pluck"), (33, "bass"), (41, "strings"), (48, "strings"),
     (52, "keys"), (57, "brass"), (81, "lead"), (89, "pad"), (105, "pluck"), (127, "keys")],
)  # fmt: skip
def test_general_midi_families_choose_a_factory_preset(program, preset):
    assert synth_preset_for_program(program) == preset


def test_the_song_header_follows_the_schema_version(monkeypatch):
    monkeypatch.setattr(presets.song, "SCHEMA_VERSION", 1)
    assert song_header("T", "A minor", [("intro", 0.0)]) == {"schema_version": 1, "title": "T"}
    monkeypatch.setattr(presets.song, "SCHEMA_VERSION", 2)
    assert song_header("T", "A minor", [("intro", 0.0)]) == {
        "schema_version": 2,
        "metadata": {"title": "T"},
        "key": "A minor",
        "sections": [{"name": "intro", "beat": 0.0}],
    }
    assert song_header() == {"schema_version": 2}


def sequencer_rows(clips: list[Clip], ppq: int) -> list[tuple[int, int, int, int]]:
    """What the sequencer plays, in ticks: at 60 bpm and a sample rate of ``ppq`` a sample is a tick."""
    table = compile_events(clips, TempoMap(bpm=60), ppq)
    return sorted(
        zip(
            table.sample.tolist(),
            table.status.tolist(),
            table.data1.tolist(),
            table.data2.tolist(),
            strict=True,
        )
    )


def file_rows(data: bytes, track: int) -> list[tuple[int, int, int, int]]:
    f = parse_midi_bytes(data)
    return sorted((e.tick, e.status, e.data1, e.data2) for e in f.tracks[track].events)


def test_clip_start_offset_and_length_are_exported_as_the_sequencer_plays_them():
    cut = Clip(
        4.0,
        (
            Note(60, 0.0, 1.0, 100),  # before the offset: dropped
            Note(62, 1.0, 3.0, 90),  # runs past the clip end: cut there
            Note(64, 2.5, 0.25, 80),
            Note(65, 3.0, 1.0, 70),  # starts at the clip end: dropped
        ),
        (ControlChange(0.5, 1, 10), ControlChange(1.5, 1, 20)),
        (PitchBend(2.0, -100),),
        (ProgramChange(1.0, 7), ProgramChange(3.5, 9)),
        length_beats=2.0,
        offset_beats=1.0,
        name="cut",
    )
    plain = Clip(8.0, (Note(36, 0.0, 0.5, 100, 9), Note(38, 0.375, 0.125, 90, 9)))
    later = Clip(1.0, (Note(62, 0.0, 1.0, 50),), offset_beats=0.0)
    session = Session(tempo_map=TempoMap(bpm=60))
    session.tracks.append(TrackSpec("t", Ramp(), [cut, plain, later]))
    data = midi_bytes(session, PPQ)
    assert file_rows(data, 1) == sequencer_rows([cut, plain, later], PPQ)
    bend = -100 + 8192
    assert file_rows(data, 1) == [
        (480, 0x90, 62, 50),
        (960, 0x80, 62, 64),
        (1920, 0x90, 62, 90),  # the clip's beat 4 is its content's beat 1, the offset
        (1920, 0xC0, 7, 0),
        (2160, 0xB0, 1, 20),
        (2400, 0xE0, bend & 0x7F, bend >> 7),
        (2640, 0x90, 64, 80),
        (2760, 0x80, 64, 64),
        (2880, 0x80, 62, 64),  # cut at the clip end, beat 6
        (3840, 0x99, 36, 100),
        (4020, 0x99, 38, 90),
        (4080, 0x89, 36, 64),
        (4080, 0x89, 38, 64),
    ]

    # within a tick, the order the sequencer uses: note-offs, programs, controls, bends, note-ons
    mid = mido.MidiFile(file=io.BytesIO(data))
    tick, last_rank = 0, {}
    rank = {"note_off": 0, "program_change": 1, "control_change": 2, "pitchwheel": 3, "note_on": 4}
    for msg in mid.tracks[1]:
        tick += msg.time
        if msg.type in rank:
            assert rank[msg.type] >= last_rank.get(tick, 0), msg
            last_rank[tick] = rank[msg.type]


def file_clock(data: bytes):
    """Seconds at a tick by the file's tempo events, as any player counts them."""
    f = parse_midi_bytes(data)
    starts = [(0, 0.0, 500000)]  # tick, seconds there, microseconds per beat from there
    for change in f.tempo_changes:
        tick, seconds, us = starts[-1]
        starts.append(
            (
                change.tick,
                seconds + (change.tick - tick) * us / f.ticks_per_beat / 1e6,
                change.microseconds_per_beat,
            )
        )

    def seconds(tick: int) -> float:
        at, at_seconds, us = starts[bisect.bisect_right([s[0] for s in starts], tick) - 1]
        return at_seconds + (tick - at) * us / f.ticks_per_beat / 1e6

    return seconds


@pytest.mark.parametrize("ppq", [480, 96, 1000, 9600])
def test_a_linear_tempo_ramp_keeps_every_tick_on_time(ppq):
    tm = TempoMap(
        [
            TempoPoint(0.0, 60.0, "linear"),
            TempoPoint(8.0, 180.0),
            TempoPoint(12.0, 90.0, "linear"),
            TempoPoint(16.0, 120.0),
            TempoPoint(17.5, 40.0),
        ]
    )
    session = Session(tempo_map=tm)
    notes = tuple(Note(60, float(b), 0.5) for b in range(20))
    session.tracks.append(TrackSpec("t", Ramp(), [Clip(0.0, notes)]))
    data = midi_bytes(session, ppq)
    changes = parse_midi_bytes(data).tempo_changes
    for lo, hi in ((0, 8), (12, 16)):
        ticks = [c.tick for c in changes if lo * ppq <= c.tick < hi * ppq] + [hi * ppq]
        assert ticks[0] == lo * ppq and max(b - a for a, b in itertools.pairwise(ticks)) <= ppq / 8
    clock = file_clock(data)
    for tick in range(0, 20 * ppq, 7):
        error = abs(clock(tick) - tm.beat_to_seconds(tick / ppq))
        tick_seconds = 60 / tm.tempo_at_beat(tick / ppq) / ppq
        assert error < 0.5 * tick_seconds, tick
    assert [(c.tick, round(c.bpm, 3)) for c in changes if c.tick >= 16 * ppq] == [
        (16 * ppq, 120.0),
        (int(17.5 * ppq), 40.0),
    ]


@pytest.mark.parametrize(
    ("key", "mido_key"),
    [("A minor", "Am"), ("Eb major", "Eb"), ("F# minor", "F#m"), ("C# major", "C#"), ("D dorian", "C")],
)
def test_title_key_sections_and_meters_are_in_the_conductor_track(key, mido_key):
    session = Session(
        tempo_map=TempoMap([], [TimeSignature(0, 4, 4), TimeSignature(2, 6, 8), TimeSignature(3, 5, 4)]),
        title="My Song",
        key=key,
        sections=[Section("intro", 0.0), Section("chorus", 8.0), Section("outro", 13.0)],
    )
    session.tracks.append(TrackSpec("lead", Ramp(), [Clip(0.0, (Note(60, 0.0, 16.0),))]))
    data = midi_bytes(session)
    mid = mido.MidiFile(file=io.BytesIO(data))
    metas, tick = [], 0
    for msg in mid.tracks[0]:
        tick += msg.time
        metas.append((tick, msg.type, getattr(msg, "name", getattr(msg, "text", getattr(msg, "key", "")))))
    assert (0, "track_name", "My Song") in metas
    assert (0, "key_signature", mido_key) in metas
    assert [(t, text) for t, kind, text in metas if kind == "marker"] == [
        (0, "intro"),
        (8 * PPQ, "chorus"),
        (13 * PPQ, "outro"),
    ]
    meters = [(t, m.numerator, m.denominator) for t, m in _timed(mid.tracks[0]) if m.type == "time_signature"]
    assert meters == [(0, 4, 4), (8 * PPQ, 6, 8), (11 * PPQ, 5, 4)]
    assert mid.tracks[1][0] == mido.MetaMessage("track_name", name="lead", time=0)
    assert metas[-1][:2] == (16 * PPQ, "end_of_track")  # the conductor lasts the whole song

    # and back into a song document
    doc = song_document_from_midi(data)
    if presets.song.SCHEMA_VERSION >= 2:
        assert doc["metadata"] == {"title": "My Song"}
        assert doc["key"] == key_name(*key_signature(key))  # a mode comes back as its parent major
        assert doc["sections"] == [
            {"name": "intro", "beat": 0.0},
            {"name": "chorus", "beat": 8.0},
            {"name": "outro", "beat": 13.0},
        ]
    else:
        assert doc["title"] == "My Song"
    assert doc["time_signatures"] == [
        {"bar": 0, "numerator": 4, "denominator": 4},
        {"bar": 2, "numerator": 6, "denominator": 8},
        {"bar": 3, "numerator": 5, "denominator": 4},
    ]


def _timed(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def test_key_names_and_signatures_agree():
    for minor in (0, 1):
        for sharps in range(-7, 8):
            assert key_signature(key_name(sharps, minor)) == (sharps, minor)
    assert key_signature("D# major") == (-3, 0)  # nine sharps do not fit: Eb
    assert key_signature("B lydian") == (6, 0)
    assert key_signature("") is None and key_signature("H major") is None and key_signature("C") is None


def test_export_midi_writes_what_midi_bytes_returns(tmp_path):
    session = Session(title="x")
    session.tracks.append(TrackSpec("a", Ramp(), [Clip(0.0, (Note(60, 0.0, 1.0),))]))
    export_midi(session, tmp_path / "x.mid", ppq=96)
    assert (tmp_path / "x.mid").read_bytes() == midi_bytes(session, 96)
    assert read_midi_file(tmp_path / "x.mid").ticks_per_beat == 96


def test_what_cannot_be_exported_is_a_clear_value_error():
    with pytest.raises(ValueError, match="the session has no tracks"):
        midi_bytes(Session())
    silent = Session()
    silent.tracks.append(TrackSpec("a", Ramp(), [Clip(0.0, (Note(60, 0.0, 1.0),), offset_beats=2.0)]))
    with pytest.raises(ValueError, match="nothing to export"):
        midi_bytes(silent)

    note = Note(60, 0.0, 1.0, 100, 15)
    object.__setattr__(note, "channel", 16)  # what the Note constructor would have refused
    bad = Session()
    bad.tracks.append(TrackSpec("lead", Ramp(), [Clip(0.0, (Note(62, 0.0, 1.0), note), name="riff")]))
    with pytest.raises(
        ValueError, match=r"track 'lead', clip 0 \('riff'\), note 1: channel must be .* 0\.\.15, got 16"
    ):
        midi_bytes(bad)
    cc = ControlChange(0.0, 7, 100)
    object.__setattr__(cc, "channel", -1)
    bad.tracks[0].clips = [Clip(0.0, (Note(60, 0.0, 1.0),), (cc,))]
    with pytest.raises(ValueError, match=r"control 0: channel must be an integer in 0\.\.15, got -1"):
        midi_bytes(bad)

    ok = Session()
    ok.tracks.append(TrackSpec("a", Ramp(), [Clip(0.0, (Note(60, 0.0, 1.0),))]))
    for ppq in (0, 0x8000, 480.0, True):
        with pytest.raises(ValueError, match="ppq"):
            midi_bytes(ok, ppq)  # type: ignore[arg-type]
    ok.sections = [Section("intro", -1.0)]
    with pytest.raises(
        ValueError, match=r"section 0 \('intro'\): start must be a finite beat >= 0, got -1.0"
    ):
        midi_bytes(ok)
    ok.sections = []
    ok.tempo_map = TempoMap([TempoPoint(0.0, 120.0), TempoPoint(4.0, 2.0)])
    with pytest.raises(
        ValueError, match=r"tempo point 1 \(beat 4\): 2 bpm is slower than a MIDI file can hold"
    ):
        midi_bytes(ok)
