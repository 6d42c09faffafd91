"""The users' importers: MIDI folders and chord CSVs made from music21 data, and the files they refuse."""

from __future__ import annotations

import pytest

pytest.importorskip("music21")

from music21 import corpus

from ai.corpus.chorales import chorale_tokens
from ai.corpus.folk import melody_tokens, score_key, score_notes
from ai.corpus.importers import CorpusError, csv_pieces, midi_folder_pieces, parse_note_name
from ai.corpus.vocab import CHORD_VOCAB, MELODY_VOCAB, PHRASE, parse_chord_token
from ai.plan import NOTE_NAMES

CHORALES = ("bach/bwv269", "bach/bwv347", "bach/bwv153.1")


def _chorale_csv(path, names=CHORALES):
    """A CSV of the chords of a few chorales, in absolute chord symbols, one section per phrase."""
    rows = ["song,section,chord,key"]
    expected = {}
    for name in names:
        score = corpus.parse(name)
        key = score.analyze("key")
        toks = chorale_tokens(score)
        expected[name] = toks
        section, first = 1, True
        for t in toks[1:-1]:
            if t == PHRASE:
                section += 1
                continue
            rel, q = parse_chord_token(t)
            root = NOTE_NAMES[(rel + key.tonic.pitchClass) % 12]
            key_text = key.tonic.name.replace("-", "b") + ":" + key.mode if first else ""
            rows.append(f"{name},s{section},{root}:{q},{key_text}")
            first = False
    path.write_text("\n".join(rows) + "\n")
    return expected


def test_csv_of_chorale_chords_reads_back_to_the_chorale_tokens(tmp_path):
    f = tmp_path / "chorales.csv"
    expected = _chorale_csv(f)
    pieces = csv_pieces(f)
    assert [p.id for p in pieces] == [f"csv:chorales.csv:{n}" for n in CHORALES]
    for p in pieces:
        assert list(p.tokens) == expected[p.id.split(":", 2)[2]]
        assert set(p.tokens) <= set(CHORD_VOCAB)


def test_csv_extended_qualities_are_reduced_to_the_model_table(tmp_path):
    f = tmp_path / "jazz.csv"
    f.write_text("song,section,chord,key\na,A,D:min9,C:major\na,A,G:dom13,\na,B,C:maj9,\n")
    assert csv_pieces(f)[0].tokens == ("<major>", "2:min7", "7:dom7", "|", "0:maj7", "<eos>")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "song,section,chord,key\na,A,C:maj,C:major\na,A,C:blues,\n",
            ":3: unknown chord quality 'blues' in 'C:blues'",
        ),
        ("song,section,chord,key\na,A,H:maj,C:major\n", ":2: not a note name: 'H'"),
        ("song,section,chord,key\na,A,Cmaj,C:major\n", ":2: chord 'Cmaj' must be written ROOT:QUALITY"),
        (
            "song,section,chord,key\na,A,C:maj,C:dorian\n",
            ":2: key 'C:dorian' must be written ROOT:major or ROOT:minor",
        ),
        ("song,section,chord,key\na,A,C:maj,\n", ":2: song 'a' has no key"),
        ("song,section,chord\na,A,C:maj\n", ":1: missing column(s) key"),
        ("song,section,chord,key\na,A,C:maj,C:major\na,A,F:maj,G:major\n", ":3: key 'G:major' differs"),
    ],
)
def test_bad_csv_is_refused_naming_file_and_line(tmp_path, body, message):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(CorpusError) as e:
        csv_pieces(f)
    assert str(e.value).startswith(f"{f}{message}")


def test_note_names():
    assert [parse_note_name(n) for n in ("C", "C#", "Db", "Bb", "B#", "Fb")] == [0, 1, 1, 10, 0, 4]


def test_midi_folder_of_chorales_and_a_folk_tune(tmp_path):
    for name in CHORALES[:2]:
        corpus.parse(name).write("midi", fp=str(tmp_path / f"{name.split('/')[1]}.mid"))
    tune = corpus.parse("bach/bwv269").parts[0]  # a one-voice tune: the soprano
    (tmp_path / "sub").mkdir()
    tune.write("midi", fp=str(tmp_path / "sub" / "tune.mid"))
    pieces = midi_folder_pieces(tmp_path)
    assert [p.id for p in pieces] == ["midi:bwv269.mid", "midi:bwv347.mid", "midi:sub/tune.mid"]
    for p in pieces:
        assert p.tokens[0] in ("<major>", "<minor>") and p.tokens[-1] == "<eos>"
        assert set(p.tokens) <= set(MELODY_VOCAB)
        body = p.tokens[1:-1]
        assert all(
            a.startswith(("p", "r")) and b.startswith("d") for a, b in zip(body[::2], body[1::2], strict=True)
        )
    # a one-voice file reads as the tune read from the score itself, through its first phrases (the MIDI
    # file then plays the repeat, which the score reading does not expand)
    direct = melody_tokens(score_notes(tune), *score_key(tune))
    assert direct is not None and list(pieces[2].tokens[:30]) == direct[:30]


def test_midi_folder_refuses_a_broken_file_by_name(tmp_path):
    corpus.parse("bach/bwv269").write("midi", fp=str(tmp_path / "a.mid"))
    bad = tmp_path / "b.mid"
    bad.write_bytes(b"MThd\x00\x00garbage")
    with pytest.raises(CorpusError) as e:
        midi_folder_pieces(tmp_path)
    assert str(e.value).startswith(f"{bad}: not a readable MIDI file")


def test_midi_folder_without_midi_files_is_refused(tmp_path):
    with pytest.raises(CorpusError, match=r"no \.mid or \.midi files"):
        midi_folder_pieces(tmp_path)
