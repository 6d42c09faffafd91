"""The sampler in whole renders: General MIDI files through a real SoundFont, song files, SF3 against SF2,
instruments rendered side by side, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from bridge.midi_import import session_from_midi
from engine.processor import Processor
from engine.render import render
from engine.sequencer import Clip, Note
from engine.session import Session, TrackSpec
from instruments.drums import DrumMachine
from instruments.sampler import load_bank
from instruments.sampler.sampler import Sampler
from instruments.sampler.sf2_writer import PresetSpec, SampleSpec, ZoneSpec, write_soundfont
from instruments.synth import PolySynth
from tests.alloc import allocations
from tests.helpers import Collect, strum

GM_FONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_gm_font = pytest.mark.skipif(
    not GM_FONT.exists(),
    reason="TimGM6mb.sf2 is not installed here (scripts/test installs timgm6mb-soundfont)",
)
SR = 48000


def render_session(session: Session, threads: int = 1, block: int = 2048) -> np.ndarray:
    built = session.build(SR, block, render_threads=threads)
    sink = Collect()
    render(built.engine, built.end_sample, sink, {}, block_size=block, tail=0.5)
    return sink.audio()


def gm_file(path: Path) -> Path:
    """A type 1 file: a tempo change at beat 4 (120 -> 60 bpm), an A4 on a piano, a program change to a
    second part on channel 2 set up by a track without notes, and a kick on channel 10."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500000, time=0),
            mido.MetaMessage("set_tempo", tempo=1000000, time=4 * 480),
        ]
    )
    setup = mido.MidiTrack(
        [mido.Message("program_change", channel=1, program=40, time=0)]
    )  # violin, no notes
    piano = mido.MidiTrack(
        [
            mido.Message("program_change", channel=0, program=0, time=0),
            mido.Message("note_on", channel=0, note=69, velocity=100, time=0),
            mido.Message("note_off", channel=0, note=69, velocity=0, time=960),
        ]
    )
    strings = mido.MidiTrack(
        [
            mido.Message("note_on", channel=1, note=57, velocity=100, time=2 * 480),
            mido.Message("note_off", channel=1, note=57, velocity=0, time=480),
        ]
    )
    drums = mido.MidiTrack(
        [
            mido.Message("note_on", channel=9, note=36, velocity=120, time=4 * 480),  # beat 4: 2.0 s
            mido.Message("note_off", channel=9, note=36, velocity=0, time=120),
            mido.Message("note_on", channel=9, note=36, velocity=120, time=480 - 120),  # beat 5: 3.0 s
            mido.Message("note_off", channel=9, note=36, velocity=0, time=120),
        ]
    )
    mid.tracks += [conductor, setup, piano, strings, drums]
    mid.save(path)
    return path


def onset_s(x: np.ndarray, after_s: float = 0.0, threshold: float = 1e-3) -> float:
    env = np.abs(x).max(axis=0)
    start = int(after_s * SR)
    return (start + int(np.flatnonzero(env[start:] > threshold * env[start:].max())[0])) / SR


@needs_gm_font
def test_a_general_midi_file_plays_through_a_soundfont(tmp_path):
    session = session_from_midi(gm_file(tmp_path / "gm.mid"), soundfont=GM_FONT, dry=True)
    names = [t.name for t in session.tracks]
    assert len(names) == 3 and all(isinstance(t.instrument, Sampler) for t in session.tracks)
    stems = {t.name: render_session(Session(session.tempo_map, [t])) for t in session.tracks}
    piano, strings, drums = (stems[n] for n in names)
    # the piano starts at once (its sample's own attack aside), at its pitch (A4 = 440 Hz is the strongest
    # partial of its first half second)
    assert onset_s(piano) < 0.015
    spec = np.abs(np.fft.rfft(piano[0, : SR // 2] * np.hanning(SR // 2)))
    assert abs(np.argmax(spec) * 2 - 440) <= 4
    # the strings take the program set up on their channel by a track without notes, at beat 2 (1.0 s)
    assert abs(onset_s(strings) - 1.0) < 0.002
    assert session.tracks[1].instrument.preset_of_channel(1)[1] == 40
    # channel 10 plays the drum kit; the kicks land on beats 4 and 5, after the tempo halves: 2.0 and 3.0 s
    assert session.tracks[2].instrument.preset_of_channel(9)[0] == 128
    assert abs(onset_s(drums) - 2.0) < 0.002
    assert abs(onset_s(drums, after_s=2.9) - 3.0) < 0.002


@needs_gm_font
def test_strum_render_plays_a_midi_file_with_a_soundfont(tmp_path):
    out = tmp_path / "gm.wav"
    r = strum("render", gm_file(tmp_path / "gm.mid"), "--soundfont", GM_FONT, "-o", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    audio, rate = sf.read(out)
    assert rate == SR and np.abs(audio).max() > 0.05
    assert audio.shape[0] > 3.0 * SR


@pytest.mark.parametrize(
    ("content", "expect"),
    [(b"", "truncated"), (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont"), (b"\x00" * 64, "RIFF")],
)
def test_strum_render_refuses_a_bad_soundfont_naming_it(tmp_path, content, expect):
    font = tmp_path / "bad.sf2"
    font.write_bytes(content)
    out = tmp_path / "x.wav"
    r = strum("render", gm_file(tmp_path / "gm.mid"), "--soundfont", font, "-o", out, "--no-progress")
    assert r.returncode == 2
    assert "bad.sf2" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_strum_render_says_soundfont_is_for_midi_files(tmp_path):
    song = tmp_path / "s.yaml"
    song.write_text("schema_version: 2\ntracks: []\n")
    r = strum("render", song, "--soundfont", tmp_path / "x.sf2", "-o", tmp_path / "x.wav")
    assert r.returncode == 2 and "--soundfont plays MIDI files" in r.stderr


def _sine_font(path: Path, compress: bool) -> Path:
    t = np.arange(4410) / 44100
    data = (0.5 * np.sin(2 * np.pi * 441 * t)).astype(np.float32)
    sample = SampleSpec("sine", data, 44100, root_key=69, loop=(400, 4400))  # 40 whole periods
    zone = ZoneSpec(sample, generators={"sampleModes": 1, "releaseVolEnv": -1200})
    write_soundfont(path, [PresetSpec("sine", 0, 0, [zone])], compress=compress)
    return path


def test_sf3_and_sf2_of_the_same_content_render_alike(tmp_path):
    clip = Clip(0.0, (Note(69, 0.0, 2.0, 100), Note(76, 1.0, 1.0, 90)), length_beats=3.0)
    outs = []
    for name, compress in (("a.sf2", False), ("a.sf3", True)):
        bank = load_bank(_sine_font(tmp_path / name, compress))
        assert bank.kind == ("sf3" if compress else "sf2")
        outs.append(render_session(Session(tracks=[TrackSpec("t", Sampler(bank), [clip])])))
    a, b = outs
    n = min(a.shape[1], b.shape[1])
    corr = np.corrcoef(a[0, :n], b[0, :n])[0, 1]
    assert corr > 0.99  # Vorbis is lossy; the notes, pitches and envelopes are the same
    assert abs(20 * np.log10(np.abs(b).max() / np.abs(a).max())) < 0.5


def test_a_song_whose_sampler_cannot_load_still_plays_its_other_tracks(tmp_path):
    song = tmp_path / "song.yaml"
    song.write_text(
        "schema_version: 2\n"
        "tempo: 120\n"
        "tracks:\n"
        "  - name: lead\n"
        "    instrument: {type: synth}\n"
        "    clips: [{start_beats: 0, notes: [[60, 0, 1, 100]]}]\n"
        "  - name: piano\n"
        "    instrument: {type: sampler, path: missing.sf2}\n"
        "    clips: [{start_beats: 0, notes: [[64, 0, 1, 100]]}]\n"
    )
    out = tmp_path / "song.wav"
    r = strum("render", song, "-o", out, "--no-progress", "--stems", tmp_path / "stems")
    assert r.returncode == 0, r.stderr
    assert "missing.sf2" in r.stderr and "silence" in r.stderr
    lead, _ = sf.read(tmp_path / "stems" / "lead.wav")
    piano, _ = sf.read(tmp_path / "stems" / "piano.wav")
    assert np.abs(lead).max() > 0.01 and np.abs(piano).max() == 0.0
    assert song.read_text().count("missing.sf2") == 1  # the song file is untouched


def test_a_song_plays_a_sampler_relative_to_its_own_folder(tmp_path):
    _sine_font(tmp_path / "sine.sf2", False)
    song = tmp_path / "song.yaml"
    song.write_text(
        "schema_version: 2\n"
        "tracks:\n"
        "  - name: sine\n"
        "    instrument: {type: sampler, path: sine.sf2, max_voices: 8, params: {gain_db: -6}}\n"
        "    clips: [{start_beats: 0, notes: [[69, 0, 4, 100]]}]\n"
    )
    out = tmp_path / "song.wav"
    r = strum("render", song, "-o", out, "--no-progress", cwd=Path("/"))
    assert r.returncode == 0, r.stderr
    audio, rate = sf.read(out)
    spec = np.abs(np.fft.rfft(audio[:rate, 0] * np.hanning(rate)))
    assert abs(np.argmax(spec) - 441) <= 1


class _Boom(Processor):
    from engine.processor import AudioPort, EventPort

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)
    parallel_safe = True

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        raise RuntimeError("boom in a worker")


def _band(tmp_path: Path, extra: list[TrackSpec] | None = None) -> Session:
    bank = load_bank(_sine_font(tmp_path / "sine.sf2", False))
    notes = tuple(Note(60 + (i * 5) % 24, i * 0.5, 0.5, 100) for i in range(16))
    drums = tuple(Note(36 + (i % 3) * 2, i * 0.5, 0.25, 110, 9) for i in range(16))
    tracks = [
        TrackSpec("synth", PolySynth(), [Clip(0.0, notes, length_beats=8)]),
        TrackSpec("drums", DrumMachine(), [Clip(0.0, drums, length_beats=8)]),
        TrackSpec("sampler", Sampler(bank), [Clip(0.0, notes, length_beats=8)]),
        TrackSpec("sampler2", Sampler(bank), [Clip(0.0, notes[::2], length_beats=8)]),
    ]
    return Session(tracks=tracks + (extra or []))


@pytest.mark.parametrize("block", [512, 2048])
def test_instruments_rendered_side_by_side_sound_exactly_as_one_by_one(tmp_path, block):
    one = render_session(_band(tmp_path), threads=1, block=block)
    built = _band(tmp_path).build(SR, block, render_threads=2)
    assert "instruments" in built.engine.graph.nodes  # the rack is in the graph
    two = render_session(_band(tmp_path), threads=2, block=block)
    np.testing.assert_array_equal(one, two)


def test_an_error_in_a_rendering_thread_reaches_the_render(tmp_path):
    session = _band(
        tmp_path, [TrackSpec("boom", _Boom(), [Clip(0.0, (Note(60, 0, 1, 100),), length_beats=1)])]
    )
    with pytest.raises(Exception, match="boom in a worker"):
        render_session(session, threads=2)


def test_cc91_sends_the_voices_to_the_reverb_return(tmp_path):
    _sine_font(tmp_path / "sine.sf2", False)

    def reverb_stem(cc91: int, dry: bool = False) -> np.ndarray:
        mid = mido.MidiFile(type=0, ticks_per_beat=480)
        mid.tracks.append(
            mido.MidiTrack(
                [
                    mido.Message("control_change", control=91, value=cc91, time=0),
                    mido.Message("note_on", note=69, velocity=100, time=0),
                    mido.Message("note_off", note=69, velocity=0, time=960),
                ]
            )
        )
        mid.save(tmp_path / "r.mid")
        session = session_from_midi(tmp_path / "r.mid", soundfont=tmp_path / "sine.sf2", dry=dry)
        if dry:
            assert not session.buses
            return np.zeros(1)
        assert [b.name for b in session.buses] == ["reverb", "chorus"]
        built = session.build(SR, 2048)
        sink, stem = Collect(), Collect()
        render(built.engine, built.end_sample, sink, {"reverb": (built.stems["reverb"], stem)}, tail=0.5)
        return stem.audio()

    none, full = reverb_stem(0), reverb_stem(127)
    assert np.abs(full).max() > 10 * max(np.abs(none).max(), 1e-6)  # CC91 0: the font's own send only
    reverb_stem(127, dry=True)


def test_an_instrument_send_to_a_missing_port_or_bus_is_refused(tmp_path):
    from engine.errors import SessionError

    bank = load_bank(_sine_font(tmp_path / "sine.sf2", False))
    for sends, message in (({"reverb": "nowhere"}, "unknown bus"), ({"delay": "reverb"}, "no send output")):
        session = Session(tracks=[TrackSpec("t", Sampler(bank, sends=True), instrument_sends=sends)])
        with pytest.raises(SessionError, match=message):
            session.build(SR, 512)


def _held_session(tmp_path: Path) -> tuple[Session, Sampler]:
    from engine.sequencer import ControlChange

    sampler = Sampler(load_bank(_sine_font(tmp_path / "sine.sf2", False)))
    notes = (Note(60, 0.0, 0.5, 100), Note(64, 0.5, 0.5, 100), Note(67, 1.0, 8.0, 100))
    clip = Clip(0.0, notes, (ControlChange(0.0, 64, 127),), length_beats=16.0)
    return Session(tracks=[TrackSpec("held", sampler, [clip])]), sampler


def test_stop_lifts_the_sustain_pedal_so_no_voice_hangs(tmp_path):
    session, sampler = _held_session(tmp_path)
    eng = session.build(SR, 512).engine
    eng.transport.play()
    for _ in range(int(1.5 * SR / 512)):  # the pedal is down, three notes sound
        eng.process_block(512)
    assert sampler.active_voice_count() == 3
    eng.transport.stop()
    for _ in range(int(2 * SR / 512)):  # the loops would ring for ever if the pedal stayed down
        eng.process_block(512)
    assert sampler.active_voice_count() == 0


def test_playing_the_sampler_allocates_nothing_per_block(tmp_path):
    session, _ = _held_session(tmp_path)
    eng = session.build(SR, 512).engine
    eng.transport.play()
    for _ in range(50):
        eng.process_block(512)
    got = allocations(lambda _: eng.process_block(512), 400)
    assert got.peak < 4096 and got.held < 1024, got


def test_a_muted_track_sends_nothing_to_the_reverb(tmp_path):
    _sine_font(tmp_path / "sine.sf2", False)
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("control_change", control=91, value=127, time=0),
                mido.Message("note_on", note=69, velocity=100, time=0),
                mido.Message("note_off", note=69, velocity=0, time=960),
            ]
        )
    )
    mid.save(tmp_path / "r.mid")
    session = session_from_midi(tmp_path / "r.mid", soundfont=tmp_path / "sine.sf2")
    session.tracks[0].mute = True
    built = session.build(SR, 2048)
    sink, stem = Collect(), Collect()
    render(built.engine, built.end_sample, sink, {"reverb": (built.stems["reverb"], stem)}, tail=0.5)
    assert np.abs(stem.audio()).max() == 0.0 and np.abs(sink.audio()).max() == 0.0


def test_automation_of_a_sampler_that_failed_to_load_still_loads(tmp_path):
    song = tmp_path / "song.yaml"
    song.write_text(
        "schema_version: 2\n"
        "tracks:\n"
        "  - name: piano\n"
        "    instrument: {type: sampler, path: gone.sf2}\n"
        "    clips: [{start_beats: 0, notes: [[64, 0, 1, 100]]}]\n"
        "    automation:\n"
        "      instrument.gain_db: [{beat: 0, value: -12}, {beat: 1, value: 0}]\n"
    )
    from presets.song import load_song

    session = load_song(song)
    assert any("gone.sf2" in w for w in session.warnings)
    render_session(session)  # plays: silence, the automation moving nothing
