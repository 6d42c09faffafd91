"""The arranger's stages, checked on what they write: forms that fit, harmony in the key and the genre's
grammar (12-bar blues, ii-V-I in jazz), melodies on chord tones, bass and drum idioms, voice leading, a
density plan, genres that really differ, and the same seed giving the same song."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from ai.arranger import arrange
from ai.errors import ModelError
from ai.grammar import BLUES_FORM, GRAMMARS
from ai.parts.common import chord_at
from ai.parts.comping import voice
from ai.parts.drums import HUMANISE_BEATS
from ai.parts.melody import STRONG_TENSION_RATE, melody_range
from ai.plan import CHORD_QUALITIES, GENRES, ChordEvent, Part
from ai.progression import parse_token
from ai.request import make_request
from ai.song import song_document, song_session
from ai.structure import plan_sections
from ai.walker import load_optional


def _arr(genre, key="C", mode=None, bars=32, seed=0, use_models=None, **kw):
    return arrange(make_request(genre, key, mode, None, bars=bars, seed=seed, **kw), use_models=use_models)


def _part(arrangement, role) -> Part:
    return next(p for p in arrangement.parts if p.role == role)


@pytest.mark.parametrize("genre", GENRES)
@pytest.mark.parametrize("bars", [1, 2, 3, 7, 12, 16, 31, 64, 100, 257])
def test_sections_fill_exactly_the_requested_bars(genre, bars):
    sections = plan_sections(make_request(genre, "C", None, None, bars=bars))
    assert sum(s.bars for s in sections) == bars
    assert all(s.bars >= 1 for s in sections)
    assert [s.start_bar for s in sections] == list(
        itertools.accumulate([0] + [s.bars for s in sections[:-1]])
    )


def test_forms_are_the_genres_own():
    names = {g: [s.name for s in plan_sections(make_request(g, "C", None, None, bars=80))] for g in GENRES}
    assert names["pop"][:3] == ["intro", "verse", "chorus"] and names["pop"][-1] == "outro"
    assert "solo" in names["rock"] and "bridge" in names["pop"]
    assert set(names["blues"]) <= {"chorus", "solo"}
    assert "drop" in names["electronic"] and "breakdown" in names["electronic"]
    assert "hook" in names["hip-hop"] and names["jazz"][1] == "head"


@pytest.mark.parametrize("genre", GENRES)
@pytest.mark.parametrize(("key", "mode"), [("C", "major"), ("F#", "minor"), ("Eb", "major"), ("A", "minor")])
def test_the_song_ends_on_its_tonic_chord_in_its_key(genre, key, mode):
    a = _arr(genre, key, mode, bars=24, seed=3)
    tonic = a.request.key.tonic_pc
    last = a.chords[-1]
    assert last.root_pc == tonic
    third = 4 if mode == "major" else 3
    assert (tonic + third) % 12 in last.pitch_classes
    # chords are contiguous and cover the song
    assert a.chords[0].start_beats == 0
    for c, d in itertools.pairwise(a.chords):
        assert d.start_beats == pytest.approx(c.start_beats + c.length_beats)
    assert a.chords[-1].start_beats + a.chords[-1].length_beats == pytest.approx(a.length_beats)


def _rel(chord: ChordEvent, tonic: int) -> int:
    return (chord.root_pc - tonic) % 12


@pytest.mark.parametrize("mode", ["major", "minor"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blues_follows_the_12_bar_form(mode, seed):
    a = _arr("blues", "A", mode, bars=48, seed=seed)
    assert len(a.chords) == 48
    for bar, chord in enumerate(a.chords):
        want_root, want_quality = parse_token(BLUES_FORM[mode][bar % 12])
        if bar == 47:  # the song ends on the tonic instead of turning around
            want_root, want_quality = parse_token(BLUES_FORM[mode][0])
        assert _rel(chord, 9) == want_root, bar
        assert chord.quality == want_quality, bar
        assert chord.start_beats == bar * 4 and chord.length_beats == 4


@pytest.mark.parametrize("mode", ["major", "minor"])
@pytest.mark.parametrize("seed", range(5))
def test_jazz_prepares_every_dominant_with_its_ii_and_resolves_ii_v_i(mode, seed):
    a = _arr("jazz", "Bb", mode, bars=40, seed=seed)
    tonic = a.request.key.tonic_pc
    dominants = 0
    for prev, c in itertools.pairwise(a.chords):
        if _rel(c, tonic) == 7 and c.quality.startswith("dom"):
            dominants += 1
            assert _rel(prev, tonic) == 2 and prev.quality in ("min", "min7", "min9", "m7b5"), (prev, c)
    assert dominants >= 2
    ii, v, i = a.chords[-3:]
    assert (_rel(ii, tonic), _rel(v, tonic), _rel(i, tonic)) == (2, 7, 0)
    # jazz colours its chords: sevenths and beyond
    sevenths = [c for c in a.chords if len(CHORD_QUALITIES[c.quality]) >= 4]
    assert len(sevenths) / len(a.chords) > 0.6


def test_loop_genres_repeat_one_progression_per_section_name():
    a = _arr("pop", bars=64, seed=5)
    by_name: dict[str, list[tuple]] = {}
    for s in a.sections:
        if s.bars < 8:
            continue
        start = s.start_bar * 4
        loop = tuple(c.root_pc for c in a.chords if start <= c.start_beats < start + 16)  # colours vary
        by_name.setdefault(s.name, []).append(loop)
    assert any(len(v) >= 2 for v in by_name.values())
    for loops in by_name.values():
        assert len(set(loops)) == 1


@pytest.mark.parametrize("genre", GENRES)
@pytest.mark.parametrize("use_models", [True, False])
def test_melody_strong_beats_are_chord_tones_or_in_key_ninths_and_stay_singable(genre, use_models):
    a = _arr(genre, "D", bars=48, seed=11, use_models=use_models)
    melody = _part(a, "melody")
    scale = set(a.request.key.scale_pcs)
    lo, hi = melody_range(a.request.key.tonic_pc)
    assert melody.notes
    assert all(lo <= n.pitch <= hi for n in melody.notes)
    strong = [n for n in melody.notes if abs(n.start_beats % 2.0) < 1e-6]
    tones = tensions = 0
    for n in strong:
        chord = chord_at(a.chords, n.start_beats)
        if n.pitch % 12 in chord.pitch_classes:
            tones += 1
        else:  # the only other choice the grammar allows: the chord's ninth, when it is in the key
            assert n.pitch % 12 == (chord.root_pc + 2) % 12 and n.pitch % 12 in scale, (n, chord)
            tensions += 1
    assert len(strong) >= 40
    # stated rate: at most STRONG_TENSION_RATE of strong beats are ninths (with slack for small counts)
    assert tensions / len(strong) <= STRONG_TENSION_RATE + 0.06
    weak = [n for n in melody.notes if abs(n.start_beats % 2.0) >= 1e-6]
    in_key = sum(n.pitch % 12 in scale | set(chord_at(a.chords, n.start_beats).pitch_classes) for n in weak)
    assert in_key == len(weak)


def test_melody_phrases_end_on_long_notes_and_answers_cadence_on_the_tonic():
    a = _arr("pop", "G", "major", bars=48, seed=2, use_models=False)
    melody = _part(a, "melody")

    def offset(n):  # beats from the start of the note's section
        s = next(s for s in reversed(a.sections) if s.start_bar * 4 <= n.start_beats)
        return n.start_beats - s.start_bar * 4

    phrase_ends = [n for n in melody.notes if abs(offset(n) % 8.0 - 6.0) < 1e-6]
    assert len(phrase_ends) >= 8 and all(n.length_beats >= 1.5 for n in phrase_ends)
    answers = [n for n in melody.notes if abs(offset(n) % 16.0 - 14.0) < 1e-6]
    on_tonic = [n for n in answers if 7 in chord_at(a.chords, n.start_beats).pitch_classes]
    assert on_tonic and all(n.pitch % 12 == 7 for n in on_tonic)


def test_bass_idioms_walk_in_jazz_drive_in_rock_and_sit_low():
    jazz = _part(_arr("jazz", bars=16, seed=1), "bass")
    onsets = Counter(int(n.start_beats // 4) for n in jazz.notes)
    assert all(v == 4 for v in onsets.values())  # four quarter notes a bar
    assert all(n.length_beats == 1 for n in jazz.notes[:-1])
    rock = _part(_arr("rock", bars=16, seed=1), "bass")
    assert Counter(n.length_beats for n in rock.notes).most_common(1)[0][0] == pytest.approx(0.45)
    hiphop = _part(_arr("hip-hop", bars=16, seed=1), "bass")
    assert any(abs(n.start_beats % 1.0 - 0.75) < 1e-6 for n in hiphop.notes)  # syncopated
    for part in (jazz, rock, hiphop):
        assert all(28 <= n.pitch <= 55 for n in part.notes)
    # on each downbeat the bass plays the chord's root
    a = _arr("pop", bars=16, seed=4)
    for n in _part(a, "bass").notes:
        if n.start_beats % 4 == 0:
            assert n.pitch % 12 == chord_at(a.chords, n.start_beats).root_pc


def test_drums_fill_into_section_changes_humanise_and_stay_out_of_classical():
    a = _arr("rock", bars=40, seed=6)
    drums = _part(a, "drums").notes
    toms = {45, 41}
    for s in a.sections[:-1]:
        last_bar = (s.start_bar + s.bars - 1) * 4
        in_last = [n for n in drums if last_bar <= n.start_beats < last_bar + 4]
        assert any(n.pitch in toms for n in in_last), s
    body = [n for n in drums if n.pitch not in toms]
    off_grid = [abs(n.start_beats * 4 - round(n.start_beats * 4)) / 4 for n in body]
    assert max(off_grid) <= HUMANISE_BEATS + 1e-9 and np.mean(off_grid) > HUMANISE_BEATS / 10
    assert len({n.velocity for n in drums}) > 10
    assert not _part(_arr("classical", bars=8), "bass").role == "drums"
    assert all(p.role != "drums" or not p.notes for p in _arr("classical", bars=8).parts)


def test_comping_moves_its_voices_less_than_root_position_blocks():
    a = _arr("jazz", bars=32, seed=8)

    def motion(v, last):  # mean semitones from each voice to the nearest voice of the last chord
        return sum(min(abs(x - y) for y in last) for x in v) / len(v)

    def block(c):  # the chord's first four tones stacked from its root, as written in a chord book
        return [52 + (c.root_pc - 52) % 12 + i for i in CHORD_QUALITIES[c.quality][:4]]

    led, blocks, last = [], [], None
    for prev, c in itertools.pairwise([None, *a.chords]):
        v = voice(c, last, 52, 76)
        assert all(52 <= n <= 76 for n in v)
        if prev is not None and last is not None:
            led.append(motion(v, last))
            blocks.append(motion(block(c), block(prev)))
        last = v
    assert np.mean(led) < 0.6 * np.mean(blocks)


def test_the_density_plan_thins_intros_and_fills_choruses():
    a = _arr("pop", bars=64, seed=0)
    playing = {s.name: sum(1 for p in a.parts if s.name in p.active_sections) for s in a.sections}
    assert playing["intro"] < playing["chorus"] == len(a.parts)
    low = arrange(make_request("pop", "C", None, None, bars=64, energy="low"))
    high = arrange(make_request("pop", "C", None, None, bars=64, energy="high"))
    count = lambda arr: sum(len(p.active_sections) for p in arr.parts)  # noqa: E731
    assert count(low) < count(high)


def _features(genre: str) -> tuple:
    a = arrange(make_request(genre, "C", None, None, bars=48, seed=0))
    drums = next((p.notes for p in a.parts if p.role == "drums"), [])
    return (
        a.request.tempo_bpm,
        frozenset(c.quality for c in a.chords),
        round(len(drums) / 48, 1),
        tuple(
            sorted((p.role, p.instrument.get("preset", p.instrument["type"]), p.gm_program) for p in a.parts)
        ),
    )


def test_every_genre_changes_tempo_harmony_groove_and_instruments():
    feats = {g: _features(g) for g in GENRES}
    for g, h in itertools.combinations(GENRES, 2):
        assert feats[g] != feats[h], (g, h)
        differing = sum(x != y for x, y in zip(feats[g], feats[h], strict=True))
        assert differing >= 2, (g, h, feats[g], feats[h])
    assert {"dom7"} == set(feats["blues"][1])
    assert feats["electronic"][2] > feats["folk"][2] and feats["classical"][2] == 0


@pytest.mark.parametrize("genre", ["pop", "jazz", "electronic"])
def test_same_seed_same_arrangement_other_seed_other_arrangement(genre):
    a, b, c = _arr(genre, seed=42), _arr(genre, seed=42), _arr(genre, seed=43)
    notes = lambda arr: [(p.name, p.notes) for p in arr.parts]  # noqa: E731
    assert a.chords == b.chords and notes(a) == notes(b)
    assert notes(a) != notes(c)


def test_the_trained_models_change_the_song_and_a_missing_model_is_an_error():
    with_models = _arr("classical", bars=32, seed=1, use_models=True)
    grammar_only = _arr("classical", bars=32, seed=1, use_models=False)
    assert _part(with_models, "melody").notes != _part(grammar_only, "melody").notes
    with pytest.raises(ModelError, match="model 'nope' cannot be loaded"):
        load_optional("nope", required=True)
    assert load_optional("nope") is None


def test_classical_walks_tonic_predominant_dominant_with_two_chords_a_bar():
    a = _arr("classical", "C", "major", bars=16, seed=9)
    assert GRAMMARS["classical"].chords_per_bar == 2 and len(a.chords) == 32
    funcs = {tok.split(":")[0] for f in GRAMMARS["classical"].functions["major"].values() for tok, _ in f}
    assert all(str(_rel(c, 0)) in funcs for c in a.chords)


def test_the_song_document_loads_with_the_exact_length_and_the_gm_programs():
    r = make_request("country", "G", None, 112, duration_s=20.0)
    a = arrange(r)
    doc = song_document(a, 20.0 * 112 / 60)
    session = song_session(doc)
    assert doc["length_beats"] == pytest.approx(20.0 * 112 / 60)
    assert [t.name for t in session.tracks] == [p.name for p in a.parts]
    assert doc["key"] == "G major" and doc["tempo"] == 112
    drums = next(t for t in doc["tracks"] if t["name"] == "drums")
    assert drums["instrument"] == {"type": "drums"}
    assert all(n[4] == 9 for n in drums["clips"][0]["notes"])
    fiddle = next(t for t in doc["tracks"] if t["name"] == "fiddle")
    channel = fiddle["clips"][0]["notes"][0][4]
    assert fiddle["clips"][0]["programs"] == [{"beat": 0, "program": 110, "channel": channel}]
    # every pitched part has a channel of its own, so a General MIDI player keeps their programs apart
    pitched = [t["clips"][0]["notes"][0][4] for t in doc["tracks"] if t["name"] != "drums" and "clips" in t]
    assert len(set(pitched)) == len(pitched) and 9 not in pitched


def test_a_seed_tune_opens_the_melody_and_the_chords_under_it_are_refitted_to_it():
    from ai.plan import Note
    from ai.seed import seed_placements

    # an arpeggio of F major (IV in C) for a bar, then of G major (V): a loop would rarely put them there
    tune = [Note(p, i * 0.5, 0.5, 90) for i, p in enumerate((65, 69, 72, 69, 65, 69, 72, 77))]
    tune += [Note(p, 4 + i * 0.5, 0.5, 90) for i, p in enumerate((67, 71, 74, 71, 67, 71, 74, 79))]
    r = make_request("pop", "C", "major", None, bars=48, seed=3, seed_notes=tune)
    a = arrange(r)
    melody = _part(a, "melody")
    places = seed_placements(r, a.sections, melody)
    assert len(places) >= 2 and len({s.name for s in places}) == 1
    for s in places:
        start = s.start_bar * 4
        stated = [n for n in melody.notes if start <= n.start_beats < start + 8]
        assert [(n.pitch - 65) % 12 for n in stated[:8]] == [(n.pitch - 65) % 12 for n in tune[:8]]
        assert [n.start_beats - start for n in stated] == [n.start_beats for n in tune]
        assert {c.root_pc for c in a.chords if start <= c.start_beats < start + 4} == {5}
        assert {c.root_pc for c in a.chords if start + 4 <= c.start_beats < start + 8} == {7}
    plain = arrange(make_request("pop", "C", "major", None, bars=48, seed=3))
    assert _part(plain, "melody").notes != melody.notes
