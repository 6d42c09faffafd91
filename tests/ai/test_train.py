"""Training is deterministic for a seed, the export agrees with torch, and `strum train` runs end to end."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from ai.corpus.dataset import Piece  # noqa: E402
from ai.corpus.ngram import bigram_nll, unigram_nll  # noqa: E402
from ai.corpus.vocab import CHORD_VOCAB  # noqa: E402
from ai.models.runtime import load_model  # noqa: E402
from ai.train.export import export_onnx, max_logit_error  # noqa: E402
from ai.train.loop import TrainConfig, train_model  # noqa: E402
from ai.train.model import TokenLSTM  # noqa: E402
from ai.train.pipeline import build, encode  # noqa: E402
from bridge.cli import CliError  # noqa: E402
from bridge.cli import train as train_cli  # noqa: E402

PROG = ("<major>", "0:maj", "5:maj", "7:dom7", "0:maj", "|", "9:min", "2:min7", "7:dom7", "0:maj", "<eos>")
PIECES = [Piece(f"toy:{i}", "toy", PROG if i % 2 else PROG[:5] + PROG[-1:]) for i in range(12)]
TINY = TrainConfig(seed=3, epochs=2, batch_size=4, embed=8, hidden=16)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_twice_with_one_seed_gives_identical_weights():
    seqs = encode(PIECES, CHORD_VOCAB)
    a = train_model(seqs[:10], seqs[10:], len(CHORD_VOCAB), TINY).model
    b = train_model(seqs[:10], seqs[10:], len(CHORD_VOCAB), TINY).model
    c = train_model(seqs[:10], seqs[10:], len(CHORD_VOCAB), TrainConfig(**{**TINY.__dict__, "seed": 4})).model
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_training_lowers_the_loss_below_the_bigram_on_a_repetitive_corpus():
    seqs = encode(PIECES, CHORD_VOCAB)
    cfg = TrainConfig(seed=0, epochs=60, batch_size=4, embed=16, hidden=32, dropout=0.0)
    result = train_model(seqs[:10], seqs[10:], len(CHORD_VOCAB), cfg)
    assert (
        result.held_out_nll
        < bigram_nll(seqs[:10], seqs[10:], len(CHORD_VOCAB))
        < unigram_nll(seqs[:10], seqs[10:], len(CHORD_VOCAB))
    )


@pytest.mark.parametrize("layers", [1, 2])
def test_onnx_export_agrees_with_torch_within_1e_4(tmp_path, layers):
    torch.manual_seed(0)
    model = TokenLSTM(len(CHORD_VOCAB), embed=12, hidden=24, layers=layers).eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    seq = encode(PIECES[1:2], CHORD_VOCAB)[0] * 3
    assert max_logit_error(model, path, seq) < 1e-4


def test_build_writes_a_model_the_runtime_loads(tmp_path):
    meta = build("chords", tmp_path, TINY, PIECES, {"corpus": "toy"}, log=lambda s: None)
    model = load_model("chords", tmp_path / "chords.onnx")
    assert model.meta == meta and model.vocab == CHORD_VOCAB
    assert meta["data"]["pieces"] == 12 and meta["seed"] == 3
    assert meta["onnx_max_logit_error"] < 1e-4
    logits, _ = model.step(model.token_id("<major>"), model.initial_state())
    assert np.isfinite(logits).all()


def _cli(*argv):
    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    return train_cli.run(p.parse_args(list(argv)))


def test_strum_train_chords_from_csv(tmp_path, capsys):
    f = tmp_path / "songs.csv"
    rows = ["song,section,chord,key"]
    for s in range(6):
        rows += [
            f"s{s},verse,C:maj,C:major",
            f"s{s},verse,A:min,",
            f"s{s},verse,D:min7,",
            f"s{s},chorus,G:dom7,",
        ]
        rows += [f"s{s},chorus,C:maj,"]
    f.write_text("\n".join(rows) + "\n")
    assert _cli("chords", "--from-csv", str(f), "--out", str(tmp_path / "m"), "--epochs", "1", "--quiet") == 0
    assert "held-out" in capsys.readouterr().out
    assert load_model("chords", tmp_path / "m").meta["data"]["recipe"]["corpus"] == f"CSV {f}"


def test_strum_train_melody_from_midi(tmp_path):
    music21 = pytest.importorskip("music21")
    for name in ("bach/bwv269", "bach/bwv347", "bach/bwv66.6"):
        music21.corpus.parse(name).parts[0].write("midi", fp=str(tmp_path / f"{name[5:]}.mid"))
    out = tmp_path / "m"
    assert _cli("melody", "--from-midi", str(tmp_path), "--out", str(out), "--max-steps", "3", "--quiet") == 0
    model = load_model("melody", out)
    assert model.meta["steps"] == 3 and model.meta["data"]["pieces"] == 3


def test_strum_train_refuses_mismatched_importer_and_bad_csv(tmp_path):
    with pytest.raises(CliError) as e:
        _cli("chords", "--from-midi", str(tmp_path))
    assert e.value.code == 2 and "--from-midi trains the melody model" in str(e.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("song,section,chord,key\na,A,C:nope,C:major\n")
    with pytest.raises(CliError) as e:
        _cli("chords", "--from-csv", str(bad))
    assert e.value.code == 2 and str(e.value).startswith(f"{bad}:2: unknown chord quality 'nope'")
