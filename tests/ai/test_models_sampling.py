"""sample_token: mask, top-k, temperature 0 and determinism for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from ai.models.sampling import sample_token

LOGITS = np.array([0.0, 3.0, 1.0, 2.5, -1.0], np.float32)


def test_temperature_zero_takes_the_most_likely_allowed_token():
    rng = np.random.default_rng(0)
    assert sample_token(LOGITS, rng, temperature=0) == 1
    mask = np.array([True, False, True, True, True])
    assert sample_token(LOGITS, rng, temperature=0, mask=mask) == 3


def test_mask_is_never_broken():
    rng = np.random.default_rng(1)
    mask = np.array([True, False, False, False, True])
    drawn = {sample_token(LOGITS, rng, temperature=2.0, mask=mask) for _ in range(300)}
    assert drawn == {0, 4}


def test_top_k_keeps_only_the_k_most_likely():
    rng = np.random.default_rng(2)
    drawn = {sample_token(LOGITS, rng, temperature=5.0, top_k=2) for _ in range(300)}
    assert drawn == {1, 3}


def test_same_seed_same_samples_and_other_seed_differs():
    a = [sample_token(LOGITS, np.random.default_rng(7)) for _ in range(1)]
    r1, r2, r3 = np.random.default_rng(7), np.random.default_rng(7), np.random.default_rng(8)
    s1 = [sample_token(LOGITS, r1, temperature=1.5) for _ in range(50)]
    s2 = [sample_token(LOGITS, r2, temperature=1.5) for _ in range(50)]
    s3 = [sample_token(LOGITS, r3, temperature=1.5) for _ in range(50)]
    assert s1 == s2 and s1 != s3 and a[0] == s1[0]


def test_sampling_follows_the_softmax():
    rng = np.random.default_rng(3)
    counts = np.bincount([sample_token(LOGITS, rng) for _ in range(4000)], minlength=5) / 4000
    p = np.exp(LOGITS) / np.exp(LOGITS).sum()
    assert np.abs(counts - p).max() < 0.03


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -1.0}, "temperature must be >= 0, got -1.0"),
        ({"top_k": -2}, "top_k must be >= 0, got -2"),
        ({"mask": np.zeros(5, bool)}, "mask allows no token"),
        ({"mask": np.ones(3, bool)}, "mask must have 5 entries (one per token), got 3"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError) as e:
        sample_token(LOGITS, np.random.default_rng(0), **kwargs)
    assert str(e.value) == message
