"""`strum import` and `strum export`, run as a user runs them: in a subprocess, on real files."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from presets.song import load_song

ROOT = Path(__file__).resolve().parents[2]


def strum(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def two_track_file(path: Path) -> Path:
    mid = mido.MidiFile(type=1, ticks_per_beat=384)
    mid.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name="Demo", time=0),
                mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
                mido.MetaMessage("set_tempo", tempo=400000, time=0),
                mido.MetaMessage("time_signature", numerator=4, denominator=4, time=384 * 3),
                mido.MetaMessage("set_tempo", tempo=750000, time=0),
            ]
        )
    )
    lead = mido.MidiTrack([mido.MetaMessage("track_name", name="Lead", time=0)])
    lead += [mido.Message("program_change", program=81, time=0)]
    for i, pitch in enumerate((60, 62, 64, 64, 67)):
        lead += [
            mido.Message("note_on", note=pitch, velocity=60 + 10 * i, time=0 if i == 0 else 96),
            mido.Message("note_off", note=pitch, time=288),
        ]
    drums = mido.MidiTrack(
        [
            mido.Message("note_on", note=36, velocity=120, channel=9, time=0),
            mido.Message("note_off", note=36, channel=9, time=48),
            mido.Message("note_on", note=38, velocity=100, channel=9, time=336),
            mido.Message("note_off", note=38, channel=9, time=48),
        ]
    )
    mid.tracks.extend([lead, drums])
    mid.save(path)
    return path


def notes(mid: mido.MidiFile) -> list[tuple[int, int, float, float, int]]:
    out = []
    for track in mid.tracks:
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                start, vel = sounding[(msg.channel, msg.note)].pop(0)
                tpb = mid.ticks_per_beat
                out.append((msg.channel, msg.note, start / tpb, (tick - start) / tpb, vel))
    return sorted(out)


def test_import_then_export_gives_back_the_notes_and_tempo(tmp_path):
    source = two_track_file(tmp_path / "demo.mid")
    song = tmp_path / "songs" / "demo.yaml"
    r = strum("import", str(source), "-o", str(song))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "2 tracks, 7 notes" in r.stdout
    session = load_song(song)
    assert [t.name for t in session.tracks] == ["Lead", "track3"]
    assert song.read_text(encoding="utf-8").startswith("schema_version: ")

    out = tmp_path / "demo-again.mid"
    r = strum("export", str(song), "-o", str(out), "--ppq", "960")
    assert r.returncode == 0, r.stderr
    back, original = mido.MidiFile(out), mido.MidiFile(source)
    assert back.ticks_per_beat == 960
    got, want = notes(back), notes(original)
    assert [n[:2] + n[4:] for n in got] == [n[:2] + n[4:] for n in want]
    for g, w in zip(got, want, strict=True):
        assert g[2] == pytest.approx(w[2], abs=1 / 960) and g[3] == pytest.approx(w[3], abs=1 / 960)
    ticks = itertools.accumulate(m.time for m in back.tracks[0])
    tempos = [(tick, m.tempo) for tick, m in zip(ticks, back.tracks[0], strict=True) if m.type == "set_tempo"]
    assert tempos == [(0, 400000), (960 * 3, 750000)]

    # export replaces its output (it is made from the song, like a render)
    r = strum("export", str(song), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert mido.MidiFile(out).ticks_per_beat == 480


def test_help_lists_import_and_export():
    r = strum("--help")
    assert r.returncode == 0 and "import" in r.stdout and "export" in r.stdout
    assert "--force" in strum("import", "--help").stdout
    assert "--ppq" in strum("export", "--help").stdout


def test_import_refuses_to_overwrite_a_song_without_force(tmp_path):
    source = two_track_file(tmp_path / "demo.mid")
    song = tmp_path / "demo.yaml"
    song.write_text("# my edits\n", encoding="utf-8")
    r = strum("import", str(source), "-o", str(song))
    assert r.returncode == 2
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert song.read_text(encoding="utf-8") == "# my edits\n"
    r = strum("import", str(source), "-o", str(song), "--force")
    assert r.returncode == 0, r.stderr
    assert load_song(song).title == "Demo"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_corrupt_midi_file_is_one_line_with_the_byte_offset(tmp_path):
    source = two_track_file(tmp_path / "demo.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(source.read_bytes()[:-7])
    r = strum("import", str(bad), "-o", str(tmp_path / "bad.yaml"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("strum import: error: ") and "bad.mid" in r.stderr and "byte 0x" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.yaml").exists()


def test_a_missing_input_is_exit_2_without_a_traceback(tmp_path):
    r = strum("import", str(tmp_path / "nope.mid"), "-o", str(tmp_path / "x.yaml"))
    assert r.returncode == 2 and "nope.mid: cannot read the file" in r.stderr and "Traceback" not in r.stderr
    r = strum("export", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "x.mid"))
    assert r.returncode == 2 and "nope.yaml: cannot read the file" in r.stderr and "Traceback" not in r.stderr


def test_a_song_error_is_printed_with_its_place(tmp_path):
    song = tmp_path / "song.yaml"
    song.write_text(
        "schema_version: 1\n"
        "tracks:\n"
        "  - name: lead\n"
        "    instrument: {type: synth}\n"
        "    clips:\n"
        "      - start_beats: 0\n"
        "        notes:\n"
        "          - [60, 0, 1, 200]\n",
        encoding="utf-8",
    )
    r = strum("export", str(song), "-o", str(tmp_path / "song.mid"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{song}:8:" in r.stderr and "velocity: must be in 1..127, got 200" in r.stderr
    assert not (tmp_path / "song.mid").exists()


def test_outputs_of_the_wrong_kind_are_refused(tmp_path):
    source = two_track_file(tmp_path / "demo.mid")
    r = strum("import", str(source), "-o", str(tmp_path / "demo.mid"))
    assert r.returncode == 2 and "must be a song file" in r.stderr
    assert mido.MidiFile(source).tracks  # untouched
    r = strum("export", str(tmp_path / "x.yaml"), "-o", str(tmp_path / "x.wav"))
    assert r.returncode == 2 and "must be a MIDI file" in r.stderr
