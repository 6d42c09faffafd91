"""Chord names from pitches, and the harmony of a session bar by bar (bridge/chords.py)."""

from __future__ import annotations

import itertools

import pytest

from bridge.chords import QUALITIES, chord_name, chords_per_bar, placed_notes, spelling_for_key
from engine.processor import Processor
from engine.sequencer import Clip, Note
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap, TempoPoint, TimeSignature

C4 = 60


@pytest.mark.parametrize(
    ("intervals", "name"),
    [
        ((0, 4, 7), "C"),
        ((0, 3, 7), "Cm"),
        ((0, 3, 6), "Cdim"),
        ((0, 4, 8), "Caug"),
        ((0, 2, 7), "Csus2"),
        ((0, 5, 7), "Csus4"),
        ((0, 4, 7, 10), "C7"),
        ((0, 4, 7, 11), "Cmaj7"),
        ((0, 3, 7, 10), "Cm7"),
        ((0, 3, 6, 10), "Cm7b5"),
        ((0, 3, 6, 9), "Cdim7"),
        ((0, 4, 7, 9), "C6"),
        ((0, 3, 7, 9), "Cm6"),
        ((0, 2, 4, 7), "Cadd9"),
    ],
)
def test_every_quality_is_named_in_root_position(intervals, name):
    assert chord_name([C4 + i for i in intervals]) == name


def test_the_table_covers_the_qualities_the_roll_shows():
    assert set(QUALITIES) == {
        "",
        "m",
        "dim",
        "aug",
        "sus2",
        "sus4",
        "7",
        "maj7",
        "m7",
        "m7b5",
        "dim7",
        "6",
    } | {
        "m6",
        "add9",
    }


@pytest.mark.parametrize(
    ("pitches", "name"),
    [
        ([64, 67, 72], "C/E"),  # first inversion
        ([55, 60, 64], "C/G"),  # second inversion
        ([59, 62, 65, 67], "G7/B"),
        ([65, 69, 74], "Dm/F"),
        ([64, 67, 71, 72], "Cmaj7/E"),
        ([58, 60, 64, 67], "C7/Bb"),  # seventh in the bass
        ([62, 65, 69, 72], "Dm7"),  # not F6/D: the reading rooted on the bass wins
        ([65, 69, 72, 74], "F6"),  # the same notes over F
        ([64, 67, 69, 72], "Am7/E"),  # no reading rooted on E: the earlier quality (m7 before 6)
        ([63, 66, 69, 72], "Ebdim7"),  # symmetric: the bass is the root
        ([56, 60, 64], "Abaug"),
        ([62, 67, 72], "Gsus4/D"),  # sus4 before sus2 when the bass roots neither
        ([48, 52, 58], "C7"),  # seventh without its fifth
        ([48, 51, 58], "Cm7"),
        ([36, 48, 52, 55, 60, 64, 76], "C"),  # doublings and octaves
        ([66, 70, 73], "F#"),
        ([61, 65, 68], "Db"),
        ([61, 64, 69], "A/C#"),  # the bass is spelled as the chord tone it is
        ([67, 70, 75], "Eb/G"),
        ([63, 66, 71], "B/D#"),
    ],
)
def test_inversions_and_slash_chords(pitches, name):
    assert chord_name(pitches) == name


def test_the_order_of_the_pitches_does_not_matter():
    for perm in itertools.permutations([59, 62, 65, 67]):
        assert chord_name(perm) == "G7/B"


@pytest.mark.parametrize(
    "pitches",
    [
        [],
        [60],
        [60, 72],  # one pitch class
        [60, 67],  # a fifth: major or minor?
        [60, 64],
        [60, 61, 62],  # a cluster
        [60, 62, 64, 67, 71],  # five pitch classes (Cmaj9) are not in the table
        [60, 64, 66],
    ],
)
def test_empty_ambiguous_or_unknown_sets_have_no_name(pitches):
    assert chord_name(pitches) is None


def test_spelling_picks_the_black_key_names():
    eb_minor = [63, 66, 70]
    assert chord_name(eb_minor) == "Ebm"
    assert chord_name(eb_minor, "sharps") == "D#m"
    assert chord_name(eb_minor, "flats") == "Ebm"
    assert chord_name([66, 70, 73], "flats") == "Gb"
    assert chord_name([70, 74, 77, 80], "sharps") == "A#7"


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match=r"pitch must be in 0\.\.127, got 128"):
        chord_name([60, 64, 128])
    with pytest.raises(ValueError, match="spelling must be one of"):
        chord_name([60, 64, 67], "german")


@pytest.mark.parametrize(
    ("key", "spelling"),
    [
        ("C major", "mixed"),
        ("A minor", "mixed"),
        ("", "mixed"),
        ("F major", "flats"),
        ("D minor", "flats"),
        ("Bb major", "flats"),
        ("G dorian", "flats"),  # the key signature of F major
        ("E minor", "sharps"),
        ("F# minor", "sharps"),
        ("D mixolydian", "sharps"),
    ],
)
def test_spelling_follows_the_key_signature(key, spelling):
    assert spelling_for_key(key) == spelling


# -- songs -----------------------------------------------------------------------------------------------


class _Silent(Processor):
    """An instrument that is never run: chord reading only looks at the notes."""


def _track(name: str, *clips: Clip, mute: bool = False) -> TrackSpec:
    return TrackSpec(name, _Silent(), clips=list(clips), mute=mute)


def _chord(pitches, start, length, velocity=90, channel=0):
    return [Note(p, start, length, velocity, channel) for p in pitches]


def test_placed_notes_follow_the_clip_window_like_the_sequencer():
    clip = Clip(
        8.0,
        notes=(Note(60, 0.0, 1.0), Note(62, 1.0, 4.0), Note(64, 2.0, 1.0), Note(65, 6.0, 1.0)),
        length_beats=3.0,
        offset_beats=1.0,
    )
    notes = placed_notes(Session(tracks=[_track("keys", clip)]))
    # content 1..4 plays at 8..11: the note at 0 is skipped, the one at 1 is cut at the clip end
    assert [(n.pitch, n.start_beats, n.end_beats) for n in notes] == [(62, 8.0, 11.0), (64, 9.0, 10.0)]


def test_placed_notes_end_a_note_where_the_same_pitch_starts_again():
    clip = Clip(0.0, notes=(Note(60, 0.0, 4.0), Note(60, 1.0, 1.0)))
    notes = placed_notes(Session(tracks=[_track("keys", clip)]))
    assert [(n.start_beats, n.end_beats) for n in notes] == [(0.0, 1.0), (1.0, 2.0)]


def _song() -> Session:
    pad = Clip(
        0.0,
        notes=tuple(
            _chord([60, 64, 67], 0, 4)  # bar 0: C
            + _chord([65, 69, 72], 4, 2)  # bar 1: F, then G halfway
            + _chord([67, 71, 74], 6, 2)
            + _chord([57, 60, 64], 12, 4)  # bar 3: Am under a melody with a passing D
            + _chord([64, 67, 72], 16, 4)  # bar 4: C over E
            + _chord([60, 64, 67], 20, 4)  # bar 5: C all bar, with the bass walking C E
        ),
    )
    melody = Clip(12.0, notes=(Note(76, 0, 2), Note(74, 2, 0.5), Note(72, 2.5, 1.5)))
    bass = Clip(20.0, notes=(Note(36, 0, 2), Note(40, 2, 2)))
    drums = Clip(0.0, notes=tuple(Note(p, b, 0.25, 100, 9) for b in range(24) for p in (37, 42, 46)))
    muted = Clip(0.0, notes=tuple(_chord([61, 66, 70], 0, 24)))
    return Session(
        tracks=[
            _track("pad", pad),
            _track("melody", melody),
            _track("bass", bass),
            _track("drums", drums),
            _track("muted", muted, mute=True),
        ]
    )


def test_chords_per_bar_reads_bars_half_bars_and_slash_basses():
    assert chords_per_bar(_song()) == [
        (0.0, 4.0, "C"),
        (4.0, 6.0, "F"),
        (6.0, 8.0, "G"),
        # bar 2 is silent: left out
        (12.0, 16.0, "Am"),
        (16.0, 20.0, "C/E"),
        (20.0, 24.0, "C"),
    ]


def test_chords_per_bar_follows_solo_and_ignores_drums():
    song = _song()
    song.tracks[4].mute = False
    song.tracks[4].solo = True  # only the F#-major pad is heard now
    assert {name for _a, _b, name in chords_per_bar(song)} == {"F#/C#"}
    assert chords_per_bar(song, spelling="flats")[0][2] == "Gb/Db"
    drums_only = Session(tracks=[song.tracks[3]])
    assert chords_per_bar(drums_only) == []


def test_chords_per_bar_uses_the_time_signatures():
    tm = TempoMap([TempoPoint(0, 90)], [TimeSignature(0, 3, 4), TimeSignature(2, 6, 8)])
    clip = Clip(
        0.0,
        notes=tuple(
            _chord([62, 65, 69], 0, 3)  # bar 0 (3/4): Dm
            + _chord([67, 71, 74, 77], 3, 3)  # bar 1: G7
            + _chord([60, 64, 67], 6, 1.5)  # bar 2 (6/8, 3 beats): C then F at its half (1.5 beats)
            + _chord([60, 65, 69], 7.5, 1.5)
        ),
    )
    song = Session(tempo_map=tm, tracks=[_track("keys", clip)], key="F major")
    assert chords_per_bar(song) == [(0.0, 3.0, "Dm"), (3.0, 6.0, "G7"), (6.0, 7.5, "C"), (7.5, 9.0, "F/C")]


def test_chords_per_bar_is_deterministic():
    first = chords_per_bar(_song())
    for _ in range(3):
        assert chords_per_bar(_song()) == first
