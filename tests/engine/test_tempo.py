"""Tests for engine/tempo.py: beats <-> seconds <-> samples, ramps, bars and time signatures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad

from engine.tempo import TempoMap, TempoPoint, TimeSignature

SIGNATURES = (TimeSignature(0, 4, 4), TimeSignature(2, 3, 4), TimeSignature(3, 6, 8))


def ramp_map() -> TempoMap:
    """A map with every kind of segment: step, ramp up, flat ramp, ramp down, then constant."""
    return TempoMap(
        [
            TempoPoint(0.0, 90.0),
            TempoPoint(4.0, 100.0, "linear"),
            TempoPoint(12.0, 160.0, "linear"),
            TempoPoint(16.0, 160.0, "linear"),
            TempoPoint(20.0, 160.0, "linear"),
            TempoPoint(28.5, 72.0),
        ]
    )


def numeric_seconds(tmap: TempoMap, beat: float) -> float:
    """Seconds to ``beat`` by integrating 60 / tempo numerically, one segment at a time."""
    edges = [b for b in (p.beat for p in tmap.points) if 0.0 < b < beat]
    bounds = [0.0, *edges, beat]
    return sum(
        quad(lambda b: 60.0 / tmap.tempo_at_beat(b), lo, hi, epsabs=1e-13, epsrel=1e-13)[0]
        for lo, hi in itertools.pairwise(bounds)
    )


# -- constant tempo ---------------------------------------------------------------------------------------


def test_default_map_is_120_bpm_in_4_4() -> None:
    tmap = TempoMap()
    assert tmap.points == (TempoPoint(0.0, 120.0),)
    assert tmap.time_signatures == (TimeSignature(0, 4, 4),)
    assert tmap.tempo_at_beat(37.0) == 120.0


def test_constant_tempo_conversions_are_exact() -> None:
    tmap = TempoMap()
    assert tmap.beat_to_seconds(1.5) == 0.75
    assert tmap.beat_to_sample(1.5, 48000) == 36000.0
    assert tmap.seconds_to_beat(0.75) == 1.5
    assert tmap.sample_to_beat(36000.0, 48000) == 1.5
    assert tmap.beat_to_sample(4.0, 44100) == 88200.0


@pytest.mark.parametrize("bpm", [60.0, 90.0, 120.0, 128.0, 174.0])
def test_constant_tempo_beat_0_is_second_0_and_scales_linearly(bpm: float) -> None:
    tmap = TempoMap(bpm=bpm)
    assert tmap.beat_to_seconds(0.0) == 0.0
    assert tmap.beat_to_seconds(8.0) == pytest.approx(8 * 60 / bpm, abs=1e-12)
    assert tmap.tempo_at_seconds(3.0) == bpm


def test_negative_beats_extrapolate_with_the_first_tempo_for_pre_roll() -> None:
    tmap = TempoMap([TempoPoint(0.0, 120.0, "linear"), TempoPoint(4.0, 60.0)])
    assert tmap.beat_to_seconds(-2.0) == -1.0
    assert tmap.seconds_to_beat(-1.0) == -2.0
    assert tmap.beat_to_sample(-4.0, 48000) == -96000.0
    assert tmap.tempo_at_beat(-1.0) == 120.0
    assert tmap.tempo_at_seconds(-1.0) == 120.0


def test_first_point_after_beat_0_holds_its_tempo_before_it() -> None:
    tmap = TempoMap([TempoPoint(4.0, 60.0), TempoPoint(8.0, 120.0)])
    assert tmap.points[0].beat == 4.0
    assert tmap.beat_to_seconds(0.0) == 0.0
    assert tmap.beat_to_seconds(4.0) == 4.0
    assert tmap.beat_to_seconds(10.0) == 9.0
    assert tmap.tempo_at_beat(1.0) == 60.0


# -- step changes -----------------------------------------------------------------------------------------


def test_step_change_adds_the_seconds_of_each_segment() -> None:
    tmap = TempoMap([TempoPoint(0.0, 120.0), TempoPoint(4.0, 60.0)])
    assert tmap.beat_to_seconds(4.0) == 2.0
    assert tmap.beat_to_seconds(6.0) == 4.0
    assert tmap.seconds_to_beat(4.0) == 6.0
    assert tmap.tempo_at_beat(3.999) == 120.0
    assert tmap.tempo_at_beat(4.0) == 60.0
    assert tmap.tempo_at_seconds(1.9) == 120.0
    assert tmap.tempo_at_seconds(2.0) == 60.0


# -- linear ramps -----------------------------------------------------------------------------------------


def test_linear_ramp_tempo_is_linear_in_beats() -> None:
    tmap = TempoMap([TempoPoint(0.0, 100.0, "linear"), TempoPoint(8.0, 140.0)])
    assert tmap.tempo_at_beat(0.0) == 100.0
    assert tmap.tempo_at_beat(2.0) == pytest.approx(110.0, abs=1e-12)
    assert tmap.tempo_at_beat(8.0) == 140.0
    assert tmap.tempo_at_beat(20.0) == 140.0


def test_linear_ramp_matches_the_closed_form() -> None:
    tmap = TempoMap([TempoPoint(0.0, 100.0, "linear"), TempoPoint(8.0, 140.0)])
    expected = 60.0 * 8.0 / 40.0 * math.log(140.0 / 100.0)
    assert tmap.beat_to_seconds(8.0) == pytest.approx(expected, abs=1e-12)


def test_linear_ramp_seconds_match_numeric_integration() -> None:
    tmap = ramp_map()
    for beat in np.linspace(0.0, 34.0, 69):
        assert tmap.beat_to_seconds(float(beat)) == pytest.approx(
            numeric_seconds(tmap, float(beat)), abs=1e-9
        )


def test_gentle_ramp_matches_numeric_integration() -> None:
    # A ramp of 1e-6 bpm over 16 beats would lose digits in a plain log(T/T0).
    tmap = TempoMap([TempoPoint(0.0, 120.0, "linear"), TempoPoint(16.0, 120.000001)])
    assert tmap.beat_to_seconds(11.0) == pytest.approx(numeric_seconds(tmap, 11.0), abs=1e-12)


def test_seconds_to_beat_round_trips_random_beats_through_ramps() -> None:
    tmap = ramp_map()
    rng = np.random.default_rng(1234)
    for beat in rng.uniform(-8.0, 40.0, 2000):
        b = float(beat)
        assert tmap.seconds_to_beat(tmap.beat_to_seconds(b)) == pytest.approx(b, abs=1e-9)


def test_sample_to_beat_round_trips_through_ramps() -> None:
    tmap = ramp_map()
    for beat in (0.0, 3.3, 7.25, 14.0, 22.1, 30.0):
        sample = tmap.beat_to_sample(beat, 44100)
        assert tmap.sample_to_beat(sample, 44100) == pytest.approx(beat, abs=1e-9)


def test_tempo_at_seconds_agrees_with_tempo_at_beat_on_ramps() -> None:
    tmap = ramp_map()
    for beat in np.linspace(-2.0, 34.0, 73):
        b = float(beat)
        seconds = tmap.beat_to_seconds(b)
        assert tmap.tempo_at_seconds(seconds) == pytest.approx(tmap.tempo_at_beat(b), rel=1e-9)


def test_seconds_increase_strictly_with_beats() -> None:
    beats = np.linspace(-4.0, 40.0, 4001)
    seconds = ramp_map().beats_to_seconds(beats)
    assert np.all(np.diff(seconds) > 0)


# -- vectorised -------------------------------------------------------------------------------------------


def test_vectorised_equals_scalar_bit_for_bit_on_step_maps() -> None:
    tmap = TempoMap([TempoPoint(0.0, 120.0), TempoPoint(4.0, 60.0), TempoPoint(9.5, 133.0)])
    beats = np.random.default_rng(7).uniform(-4.0, 20.0, 500)
    expected = np.array([tmap.beat_to_seconds(float(b)) for b in beats])
    np.testing.assert_array_equal(tmap.beats_to_seconds(beats), expected)


def test_vectorised_equals_scalar_on_ramps() -> None:
    tmap = ramp_map()
    beats = np.random.default_rng(8).uniform(-4.0, 40.0, 1000)
    expected = np.array([tmap.beat_to_seconds(float(b)) for b in beats])
    np.testing.assert_allclose(tmap.beats_to_seconds(beats), expected, rtol=1e-14, atol=1e-12)


def test_vectorised_seconds_to_beats_equals_scalar() -> None:
    tmap = ramp_map()
    seconds = np.random.default_rng(9).uniform(-2.0, 20.0, 1000)
    expected = np.array([tmap.seconds_to_beat(float(s)) for s in seconds])
    np.testing.assert_allclose(tmap.seconds_to_beats(seconds), expected, rtol=1e-14, atol=1e-12)


def test_vectorised_keeps_the_input_shape() -> None:
    tmap = ramp_map()
    assert tmap.beats_to_seconds(np.zeros((3, 4))).shape == (3, 4)
    assert tmap.beats_to_seconds(np.array(1.5)).shape == ()


# -- time signatures --------------------------------------------------------------------------------------


def test_no_time_signature_means_4_4_from_bar_0() -> None:
    tmap = TempoMap()
    assert tmap.time_signature_at_bar(12) == TimeSignature(0, 4, 4)
    assert tmap.bar_to_beat(3) == 12.0
    assert tmap.beat_to_bar(13.5) == (3, 1.5)


def test_bar_lengths_follow_signature_changes() -> None:
    tmap = TempoMap(time_signatures=SIGNATURES)
    assert [tmap.bar_length_beats(bar) for bar in range(5)] == [4.0, 4.0, 3.0, 3.0, 3.0]
    assert tmap.time_signature_at_bar(2) == TimeSignature(2, 3, 4)
    assert tmap.time_signature_at_bar(100) == TimeSignature(3, 6, 8)
    assert tmap.time_signature_at_bar(-1) == TimeSignature(0, 4, 4)


def test_bar_to_beat_sums_bar_lengths_across_signature_changes() -> None:
    tmap = TempoMap(time_signatures=SIGNATURES)
    assert [tmap.bar_to_beat(bar) for bar in range(6)] == [0.0, 4.0, 8.0, 11.0, 14.0, 17.0]
    assert tmap.bar_to_beat(3, 1.5) == 12.5
    assert tmap.bar_to_beat(-1) == -4.0


def test_bar_to_beat_and_beat_to_bar_round_trip_across_signature_changes() -> None:
    tmap = TempoMap(time_signatures=SIGNATURES)
    for bar in range(-2, 12):
        length = tmap.bar_length_beats(bar)
        for beat_in_bar in np.arange(0.0, length, 0.25):
            beat = tmap.bar_to_beat(bar, float(beat_in_bar))
            assert tmap.beat_to_bar(beat) == (bar, float(beat_in_bar))


def test_beat_to_bar_puts_bar_lines_in_the_new_bar() -> None:
    tmap = TempoMap(time_signatures=SIGNATURES)
    assert tmap.beat_to_bar(7.999) == (1, pytest.approx(3.999))
    assert tmap.beat_to_bar(8.0) == (2, 0.0)
    assert tmap.beat_to_bar(11.0) == (3, 0.0)
    assert tmap.beat_to_bar(-0.5) == (-1, 3.5)


# -- display ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("beat", "shown"),
    [
        (0.0, "1.1.000"),
        (1.0, "1.2.000"),
        (5.5, "2.2.480"),
        (8.0, "3.1.000"),  # 3/4 starts
        (10.25, "3.3.240"),
        (11.0, "4.1.000"),  # 6/8 starts: beats count eighths
        (12.5, "4.4.000"),
        (12.75, "4.4.240"),
        (13.75, "4.6.240"),
        (-1.0, "0.4.000"),  # pre-roll bar
        (7.9999999, "3.1.000"),  # rounds to the next bar line, not to "2.4.960"
    ],
)
def test_format_position_is_one_based_bar_beat_ticks(beat: float, shown: str) -> None:
    assert TempoMap(time_signatures=SIGNATURES).format_position(beat) == shown


def test_format_position_counts_half_notes_in_cut_time() -> None:
    tmap = TempoMap(time_signatures=[TimeSignature(0, 2, 2)])
    assert tmap.format_position(3.0) == "1.2.960"


# -- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([TempoPoint(0.0, 0)], "tempo point 0: bpm must be in 1..999, got 0"),
        (
            [TempoPoint(0.0, 120.0), TempoPoint(4.0, 1000.0)],
            "tempo point 1: bpm must be in 1..999, got 1000.0",
        ),
        (
            [TempoPoint(0.0, 120.0), TempoPoint(2.0, 120.0), TempoPoint(4.0, 0)],
            "tempo point 2: bpm must be in 1..999, got 0",
        ),
        ([TempoPoint(0.0, math.nan)], "tempo point 0: bpm must be in 1..999, got nan"),
        ([TempoPoint(-1.0, 120.0)], "tempo point 0: beat must be finite and >= 0, got -1.0"),
        ([TempoPoint(math.inf, 120.0)], "tempo point 0: beat must be finite and >= 0, got inf"),
        (
            [TempoPoint(0.0, 120.0), TempoPoint(4.0, 100.0), TempoPoint(4.0, 90.0)],
            "tempo point 2: beat must be greater than the previous point's beat 4.0, got 4.0",
        ),
        (
            [TempoPoint(0.0, 120.0), TempoPoint(4.0, 100.0), TempoPoint(2.0, 90.0)],
            "tempo point 2: beat must be greater than the previous point's beat 4.0, got 2.0",
        ),
        ([TempoPoint(0.0, 120.0, "exp")], "tempo point 0: ramp must be 'step' or 'linear', got 'exp'"),
        (
            [TempoPoint(0.0, 120.0), TempoPoint(4.0, 100.0, "linear")],
            "tempo point 1: a linear ramp needs a following point to ramp to",
        ),
    ],
)
def test_bad_tempo_points_raise_naming_the_point(points: list[TempoPoint], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        TempoMap(points)
    assert str(excinfo.value) == message


def test_bad_default_bpm_raises() -> None:
    with pytest.raises(ValueError) as excinfo:
        TempoMap(bpm=0)
    assert str(excinfo.value) == "bpm must be in 1..999, got 0"


@pytest.mark.parametrize(
    ("signatures", "message"),
    [
        ([TimeSignature(0, 4, 3)], "time signature 0: denominator must be a power of two in 1..64, got 3"),
        (
            [TimeSignature(0, 4, 128)],
            "time signature 0: denominator must be a power of two in 1..64, got 128",
        ),
        (
            [TimeSignature(0, 4, 4), TimeSignature(4, 7, 3)],
            "time signature 1: denominator must be a power of two in 1..64, got 3",
        ),
        ([TimeSignature(0, 0, 4)], "time signature 0: numerator must be an integer in 1..64, got 0"),
        ([TimeSignature(0, 65, 4)], "time signature 0: numerator must be an integer in 1..64, got 65"),
        ([TimeSignature(2, 4, 4)], "time signature 0: the first time signature must be at bar 0, got bar 2"),
        (
            [TimeSignature(0, 4, 4), TimeSignature(4, 3, 4), TimeSignature(4, 6, 8)],
            "time signature 2: bar must be greater than the previous signature's bar 4, got 4",
        ),
        ([TimeSignature(1.5, 4, 4)], "time signature 0: bar must be an integer, got 1.5"),  # type: ignore[arg-type]
    ],
)
def test_bad_time_signatures_raise_naming_the_signature(
    signatures: list[TimeSignature], message: str
) -> None:
    with pytest.raises(ValueError) as excinfo:
        TempoMap(time_signatures=signatures)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("sample_rate", [0.0, -48000.0, math.nan])
def test_bad_sample_rate_raises(sample_rate: float) -> None:
    with pytest.raises(ValueError, match="sample_rate must be finite and > 0"):
        TempoMap().beat_to_sample(1.0, sample_rate)
