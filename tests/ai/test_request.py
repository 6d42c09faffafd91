"""Requests are checked at the edge with messages that name the field and what is allowed; prompts fill in
what the flags leave out and say which words they did not use."""

from __future__ import annotations

import pytest

from ai.errors import RequestError
from ai.plan import GENRES, Note
from ai.prompt import read_prompt
from ai.request import GENRE_TEMPO_BPM, KEY_SPELLINGS, make_request, parse_key


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"genre": "polka"}, "genre", "unknown 'polka'; allowed: " + ", ".join(GENRES)),
        ({"tempo_bpm": 0}, "tempo_bpm", "must be in 20..300 bpm, got 0"),
        ({"tempo_bpm": float("nan")}, "tempo_bpm", "must be in 20..300 bpm"),
        ({"tempo_bpm": "fast"}, "tempo_bpm", "must be a number in 20..300 bpm, got 'fast'"),
        ({"key": "H#"}, "key", "'H#' is not a key; allowed: " + ", ".join(KEY_SPELLINGS)),
        ({"key": "C lydian"}, "key", "'C lydian' is not a key"),
        ({"mode": "dorian"}, "mode", "unknown 'dorian'; allowed: major, minor"),
        ({"energy": "max"}, "energy", "unknown 'max'; allowed: low, mid, high"),
        ({"bars": 0}, "bars", "must be an integer in 1..1000, got 0"),
        ({"bars": None, "duration_s": 0.5}, "duration_s", "0.5 s is shorter than one bar (2 s at 120 bpm)"),
        ({"bars": 4, "duration_s": 30}, "duration_s", "not both were given"),
        ({"bars": None}, "duration_s", "not neither was given"),
        ({"temperature": -1}, "temperature", "must be in 0..5, got -1"),
        ({"top_k": -3}, "top_k", "must be an integer in 0..1000, got -3"),
        ({"seed": 1.5}, "seed", "must be an integer"),
        ({"seed_notes": [Note(60, 0.0, 0.0, 90)]}, "seed_notes", "note 0 must have"),
    ],
)
def test_a_bad_request_names_its_field_and_what_is_allowed(kwargs, field, message):
    args = {"genre": "pop", "key": "C", "tempo_bpm": 120, "bars": 8} | kwargs
    genre, key = args.pop("genre"), args.pop("key")
    mode, tempo = args.pop("mode", None), args.pop("tempo_bpm")
    with pytest.raises(RequestError) as e:
        make_request(genre, key, mode, tempo, **args)
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}: ")
    assert message in str(e.value)


def test_a_missing_genre_lists_the_genres():
    with pytest.raises(RequestError, match="genre: missing; allowed: pop, rock, jazz"):
        make_request(None, "C", None, 100, bars=4)


@pytest.mark.parametrize(
    ("text", "pc", "mode"),
    [("C", 0, None), ("Eb", 3, None), ("eb", 3, None), ("F#", 6, None), ("Gb minor", 6, "minor"),
     ("Am", 9, "minor"), ("B♭ major", 10, "major"), ("Cb", 11, None)],
)  # fmt: skip
def test_keys_are_read_in_every_spelling(text, pc, mode):
    assert parse_key(text) == (pc, mode)


def test_duration_fits_whole_bars_and_keeps_the_exact_duration():
    r = make_request("rock", "E", "minor", 126, duration_s=180)
    bar_s = 4 * 60 / 126
    assert r.bars == int(180 // bar_s) and r.duration_s == 180.0
    assert r.key.tonic_pc == 4 and r.key.mode == "minor" and r.tempo_bpm == 126


def test_the_prompt_fills_in_genre_mood_tempo_key_and_instruments_and_reports_unused_words():
    r = make_request(prompt="mellow jazz ballad in Eb at 70 bpm with piano and a flugelbone", bars=8)
    assert (r.genre, r.key.tonic_pc, r.tempo_bpm, r.energy, r.mood) == ("jazz", 3, 70.0, "low", "mellow")
    assert "keys" in r.instruments
    reading = read_prompt(r.prompt)
    assert reading.unused == ("with", "and", "a", "flugelbone")
    assert {"mellow", "jazz", "ballad", "Eb", "70", "bpm", "piano"} <= set(reading.used)


def test_flags_win_over_the_prompt_and_the_genre_gives_the_rest():
    r = make_request("blues", None, None, 88, prompt="dark techno in A minor at 140 bpm", bars=12)
    assert r.genre == "blues" and r.tempo_bpm == 88  # flags
    assert r.key.tonic_pc == 9 and r.key.mode == "minor"  # the prompt's key
    plain = make_request("hip-hop", None, None, None, bars=8)
    assert plain.tempo_bpm == GENRE_TEMPO_BPM["hip-hop"] and plain.key.mode == "minor"


@pytest.mark.parametrize(
    ("prompt", "field", "value"),
    [("uplifting trance", "genre", "electronic"), ("sad folk song", "mode", "minor"),
     ("tempo 92 boom-bap", "tempo_bpm", 92.0), ("energetic punk", "energy", "high"),
     ("bluegrass in G major", "tonic_pc", 7)],
)  # fmt: skip
def test_prompt_words_map_to_request_fields(prompt, field, value):
    assert getattr(read_prompt(prompt), field) == value
