"""The committed models load with onnxruntime, match their meta, and a broken file is named."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from ai.models.runtime import ModelFileError, load_model, weights_dir
from ai.models.sampling import sample_token

NAMES = ("chords", "melody")


@pytest.mark.parametrize("name", NAMES)
def test_committed_model_gives_finite_logits_of_the_vocab_size(name):
    model = load_model(name)
    assert model.name == name
    state = model.initial_state()
    logits, state = model.step(model.token_id("<major>"), state)
    assert logits.dtype == np.float32 and logits.shape == (len(model.vocab),)
    assert np.isfinite(logits).all()
    logits2, _ = model.step(model.token_id("<eos>"), state)
    assert not np.allclose(logits, logits2)  # the state carries the history


@pytest.mark.parametrize("name", NAMES)
def test_committed_onnx_matches_its_meta(name):
    meta = json.loads((weights_dir() / f"{name}.json").read_text())
    data = (weights_dir() / f"{name}.onnx").read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["onnx_sha256"]
    assert len(data) < 2_000_000
    assert meta["held_out_nll"] < meta["baselines"]["bigram"] < meta["baselines"]["unigram"]
    assert meta["onnx_max_logit_error"] <= 1e-4
    assert meta["seed"] == 0 and meta["data"]["held_out_pieces"] > 0
    assert len(load_model(name).vocab) == len(meta["vocab"])


def test_chord_model_prefers_the_tonic_after_the_start_of_a_major_piece():
    model = load_model("chords")
    logits, _ = model.step(model.token_id("<major>"), model.initial_state())
    assert model.vocab[int(np.argmax(logits))] == "0:maj"


def test_same_seed_generates_the_same_tokens():
    model = load_model("melody")

    def gen(seed):
        rng, state, tok, out = (
            np.random.default_rng(seed),
            model.initial_state(),
            model.token_id("<minor>"),
            [],
        )
        for _ in range(40):
            logits, state = model.step(tok, state)
            tok = sample_token(logits, rng, temperature=1.0, top_k=8)
            out.append(tok)
        return out

    assert gen(5) == gen(5) != gen(6)


def test_unknown_token_is_named():
    with pytest.raises(KeyError, match="'C:maj'"):
        load_model("chords").token_id("C:maj")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelFileError, match=str(tmp_path / "melody.onnx")):
        load_model("melody", tmp_path)


def test_corrupt_onnx_file_is_named(tmp_path):
    shutil.copy(weights_dir() / "chords.json", tmp_path / "chords.json")
    bad = tmp_path / "chords.onnx"
    bad.write_bytes(b"this is not a model" * 10)
    with pytest.raises(ModelFileError) as e:
        load_model("chords", bad)
    assert str(e.value).startswith(f"model file {bad} is not a valid ONNX model")


def test_corrupt_meta_file_is_named(tmp_path):
    shutil.copy(weights_dir() / "chords.onnx", tmp_path / "chords.onnx")
    (tmp_path / "chords.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"model meta file .*chords\.json is not valid"):
        load_model("chords", tmp_path)


def test_meta_that_does_not_fit_the_graph_is_refused(tmp_path):
    shutil.copy(weights_dir() / "chords.onnx", tmp_path / "chords.onnx")
    meta = json.loads((weights_dir() / "melody.json").read_text())
    (tmp_path / "chords.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="does not match"):
        load_model("chords", tmp_path)
