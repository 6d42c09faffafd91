"""`strum generate`, run as a user runs it: a request in, a WAV (and song, MIDI, picture) out, exactly as
long as asked, in the key and tempo asked, identical for the same seed; bad requests write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import yaml

from ai.seed import estimate_key, read_seed
from bridge.errors import MidiFileError
from tests.helpers import strum

ROOT = Path(__file__).resolve().parents[2]


def _midi_facts(path: Path) -> tuple[list[float], list[str], dict[str, int]]:
    f = mido.MidiFile(str(path))
    tempos = [mido.tempo2bpm(m.tempo) for t in f.tracks for m in t if m.type == "set_tempo"]
    keys = [m.key for t in f.tracks for m in t if m.type == "key_signature"]
    notes: dict[str, int] = {}
    for t in f.tracks:
        name = next((m.name for m in t if m.type == "track_name"), "")
        notes[name] = sum(1 for m in t if m.type == "note_on" and m.velocity > 0)
    return tempos, keys, notes


def test_generate_writes_an_exact_length_wav_in_the_asked_key_and_tempo(tmp_path):
    out = tmp_path / "deep" / "song.wav"
    r = strum("generate", "--genre", "jazz", "--key", "Eb", "--tempo", "132", "--duration", "12.5",
              "--seed", "7", "-o", out, "--song", tmp_path / "song.yaml", "--midi", tmp_path / "song.mid",
              "--plot", tmp_path / "song.png")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "jazz, Eb major, 132 bpm" in r.stdout
    audio, sr = sf.read(out, always_2d=True)
    assert sr == 48000 and audio.shape == (round(12.5 * 48000), 2)
    assert np.abs(audio[-1]).max() < 1e-3  # faded onto the last sample, no click
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # and music before it
    tempos, keys, notes = _midi_facts(tmp_path / "song.mid")
    assert tempos == [pytest.approx(132, abs=1e-3)] and keys == ["Eb"]
    assert notes["bass"] > 0 and notes["drums"] > 0 and notes["piano"] > 0
    doc = yaml.safe_load((tmp_path / "song.yaml").read_text())
    assert doc["tempo"] == 132 and doc["key"] == "Eb major"
    assert doc["length_beats"] == pytest.approx(12.5 * 132 / 60)
    assert (tmp_path / "song.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_gives_identical_wav_and_midi_bytes_and_another_seed_does_not(tmp_path):
    def run(seed: int, tag: str, *extra: str) -> tuple[bytes, bytes]:
        wav, mid = tmp_path / f"{tag}.wav", tmp_path / f"{tag}.mid"
        r = strum("generate", "--genre", "electronic", "--key", "A minor", "--tempo", "124", "--bars", "4",
                  "--seed", str(seed), "-o", wav, "--midi", mid, "--no-progress", *extra)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return wav.read_bytes(), mid.read_bytes()

    a, b, c = run(5, "a"), run(5, "b", "--block-size", "512"), run(6, "c")
    assert a == b  # the block size changes nothing either
    assert a[0] != c[0] and a[1] != c[1]


@pytest.mark.parametrize("genre", ["jazz", "hip-hop"])
def test_rendering_the_song_file_generate_saved_gives_the_very_wav_it_wrote(tmp_path, genre):
    # generate renders its document directly; the file it saves must load to the same session, and one
    # render thread against generate's default two changes nothing either
    wav, song, again = tmp_path / "gen.wav", tmp_path / "gen.yaml", tmp_path / "again.wav"
    r = strum("generate", "--genre", genre, "--bars", "4", "--seed", "11", "-o", wav, "--song", song,
              "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = strum("render", song, "-o", again, "--threads", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert wav.read_bytes() == again.read_bytes()


def test_bars_give_whole_bars_plus_the_release_tail(tmp_path):
    out = tmp_path / "blues.wav"
    r = strum("generate", "--genre", "blues", "--key", "A", "--tempo", "96", "--bars", "12", "-o", out,
              "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    bars_s = 12 * 4 * 60 / 96
    assert bars_s <= info.duration <= bars_s + 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--genre", "polka", "--bars", "4"), "genre: unknown 'polka'; allowed: pop, rock, jazz"),
        (("--genre", "pop", "--tempo", "0", "--bars", "4"), "tempo_bpm: must be in 20..300 bpm, got 0"),
        (("--genre", "pop", "--key", "H#", "--bars", "4"), "key: 'H#' is not a key; allowed: C, C#, Db"),
        (("--genre", "pop"), "duration_s: give the length as duration_s (seconds) or bars"),
        (("--genre", "pop", "--bars", "4", "--top-k", "-1"), "top_k: must be an integer in 0..1000, got -1"),
        (("--genre", "pop", "--bars", "4", "--midi", "x.txt"), "the midi must be a .mid or .midi file"),
    ],
)
def test_a_bad_request_exits_2_naming_the_field_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "sub" / "x.wav"
    r = strum("generate", *args, "-o", out, "--no-progress")
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_prompt_sets_the_request_and_unused_words_are_reported(tmp_path):
    out = tmp_path / "p.wav"
    r = strum("generate", "--prompt", "mellow jazz ballad in Eb at 70 bpm, smoky", "--bars", "4", "-o", out,
              "--no-progress", "--song", tmp_path / "p.yaml")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "jazz, Eb major, 70 bpm" in r.stdout
    assert "prompt: words not used: smoky" in r.stdout
    assert yaml.safe_load((tmp_path / "p.yaml").read_text())["tempo"] == 70


# E minor, no key signature: E G A B | A G E D | E...
TUNE = [(64, 1), (67, 1), (69, 1), (71, 1), (69, 1), (67, 1), (64, 1), (62, 1), (64, 2), (71, 2)]


def _seed_file(path: Path, bpm: float = 96.0, key: str | None = None) -> Path:
    f = mido.MidiFile(ticks_per_beat=480)
    t = mido.MidiTrack()
    f.tracks.append(t)
    t.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    if key:
        t.append(mido.MetaMessage("key_signature", key=key))
    t.append(mido.Message("program_change", program=73))
    for pitch, beats in TUNE:
        t.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        t.append(mido.Message("note_on", note=pitch - 12, velocity=60, time=0))  # a lower voice: not the tune
        t.append(mido.Message("note_off", note=pitch, velocity=0, time=beats * 480))
        t.append(mido.Message("note_off", note=pitch - 12, velocity=0, time=0))
    f.save(str(path))
    return path


def test_read_seed_takes_the_top_voice_the_tempo_and_estimates_the_key(tmp_path):
    seed = read_seed(_seed_file(tmp_path / "idea.mid"))
    assert seed.key == "E minor" and seed.tempo_bpm == pytest.approx(96)
    assert [n.pitch for n in seed.notes] == [p for p, _ in TUNE]
    assert [n.length_beats for n in seed.notes] == [b for _, b in TUNE]
    assert seed.notes[0].start_beats == 0 and seed.length_beats == 12
    assert read_seed(_seed_file(tmp_path / "k.mid", key="G")).key == "G major"  # the signature wins
    assert estimate_key(list(seed.notes)) == (4, "minor")


def test_seed_midi_is_continued_in_its_key_and_tempo(tmp_path):
    idea = _seed_file(tmp_path / "idea.mid", bpm=84)
    song = tmp_path / "cont.yaml"
    r = strum("generate", "--genre", "folk", "--seed-midi", idea, "--bars", "24", "--temperature", "0.8",
              "--top-k", "8", "-o", tmp_path / "cont.wav", "--song", song, "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "folk, E minor, 84 bpm" in r.stdout
    doc = yaml.safe_load(song.read_text())
    melody = next(t for t in doc["tracks"] if t["name"] == "whistle")["clips"][0]["notes"]
    first = [n for n in melody if 8 <= n[1] < 20]  # the first section after the two-bar intro
    assert [(n[0] - 64) % 12 for n in first[: len(TUNE)]] == [(p - 64) % 12 for p, _ in TUNE]
    assert [n[1] - 8 for n in first[: len(TUNE)]] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert len(melody) > 3 * len(TUNE)  # and the tune goes on past the idea


def test_a_broken_or_empty_seed_midi_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00")
    r = strum("generate", "--genre", "pop", "--bars", "4", "--seed-midi", bad, "-o", tmp_path / "x.wav")
    assert r.returncode == 2 and f"--seed-midi: {bad}" in r.stderr
    drums_only = tmp_path / "drums.mid"
    f = mido.MidiFile()
    f.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=100),
                                    mido.Message("note_off", channel=9, note=36, time=240)]))  # fmt: skip
    f.save(str(drums_only))
    with pytest.raises(ValueError, match="no melodic notes"):
        read_seed(drums_only)
    with pytest.raises(MidiFileError):
        read_seed(bad)
    assert not (tmp_path / "x.wav").exists()


def test_strum_arrange_prints_each_stage_and_saves_the_song_generate_would_render(tmp_path):
    r = strum("arrange", "--genre", "blues", "--key", "A", "--bars", "24", "--stage", "progression")
    assert r.returncode == 0, r.stderr
    assert "| A:dom7 | D:dom7 | A:dom7 | A:dom7 | D:dom7 | D:dom7 | A:dom7 | A:dom7 |" in r.stdout
    assert "bass" not in r.stdout  # instrumentation did not run
    r = strum(
        "arrange", "--genre", "pop", "--bars", "16", "--seed", "4", "--json", "--song", tmp_path / "a.yaml"
    )
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert sum(s["bars"] for s in plan["sections"]) == 16 and plan["chords"][0]["beat"] == 0
    drums = next(p for p in plan["parts"] if p["role"] == "drums")
    assert drums["instrument"] == {"type": "drums"} and drums["notes"]
    song = yaml.safe_load((tmp_path / "a.yaml").read_text())
    generated = tmp_path / "g.yaml"
    g = strum("generate", "--genre", "pop", "--bars", "16", "--seed", "4", "-o", tmp_path / "g.wav", "--song",
              generated, "--no-progress")  # fmt: skip
    assert g.returncode == 0, g.stderr
    assert yaml.safe_load(generated.read_text()) == song
    bad = strum(
        "arrange", "--genre", "pop", "--bars", "4", "--stage", "structure", "--song", tmp_path / "b.yaml"
    )
    assert bad.returncode == 2 and "--song needs every stage" in bad.stderr
