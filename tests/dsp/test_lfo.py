"""The LFO: shapes against closed forms, tempo sync locked to the timeline, retrigger at the exact sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.kernels.osc import hash_uniform, lfo_shape_value, timeline_beats
from dsp.lfo import LFO, LFO_SHAPES
from engine.events import NOTE_OFF, NOTE_ON, EventBuffer
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext
from engine.tempo import TempoMap, TempoPoint
from engine.transport import Transport
from tests.alloc import allocations

RATES = [44100, 48000, 96000]
BLOCK_SIZES = [32, 64, 1000, 4096]
MASK64 = (1 << 64) - 1


# -- slow references ------------------------------------------------------------------------------------
def splitmix_reference(seed: int, index: int) -> float:
    """hash_uniform in plain Python integers."""

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    golden = 0x9E3779B97F4A7C15
    z = ((seed & MASK64) * golden + (index & MASK64) + golden) & MASK64
    return 2.0 * (mix(mix(z)) >> 11) / 2.0**53 - 1.0


def closed_form(shape: str, phase: np.ndarray, seed: int = 0) -> np.ndarray:
    """Bipolar value of a shape at absolute phase (in cycles)."""
    f = np.mod(phase, 1.0)
    if shape == "sine":
        return np.sin(2 * np.pi * f)
    if shape == "triangle":
        return 1 - 4 * np.abs(np.mod(f + 0.25, 1.0) - 0.5)
    if shape == "saw_up":
        return 2 * f - 1
    if shape == "saw_down":
        return 1 - 2 * f
    if shape == "square":
        return np.where(f < 0.5, 1.0, -1.0)
    cycles = np.floor(phase).astype(np.int64)
    values = {c: splitmix_reference(seed, int(c)) for c in np.unique(np.concatenate([cycles, cycles + 1]))}
    a = np.array([values[c] for c in cycles])
    if shape == "sample_hold":
        return a
    b = np.array([values[c + 1] for c in cycles])
    return a + (b - a) * (0.5 - 0.5 * np.cos(np.pi * f))


def far_from_jumps(shape: str, phase: np.ndarray) -> np.ndarray:
    """Samples whose phase is not within 1e-9 cycles of a discontinuity of the shape (rounding there may
    put the sample on either side)."""
    f = np.mod(phase, 1.0)
    near = np.minimum(f, 1 - f) < 1e-9
    if shape == "square":
        near |= np.abs(f - 0.5) < 1e-9
    return ~near


# -- drivers ---------------------------------------------------------------------------------------------
def run(lfo, total, block, sr=48000, bpm=120.0, playing=True, events=()):
    """Blocks at a constant tempo without a transport; ``events`` are (sample, status, d1, d2)."""
    lfo.prepare(sr, block)
    ctx = BlockContext(sr)
    ctx.tempo_bpm = bpm
    ev = EventBuffer()
    out = np.zeros((1, total), dtype=np.float64)
    for start in range(0, total, block):
        n = min(block, total - start)
        ctx.set_single_segment(n, start, playing)
        ctx.beat_pos = start * bpm / (60.0 * sr)
        ev.clear()
        for t, status, d1, d2 in events:
            if start <= t < start + n:
                ev.push(t - start, status, d1, d2)
        lfo.process(ctx, [], [out[:, start : start + n]], [ev], [])
    return out[0]


def run_transport(lfo, tempo_map, total, block, sr=48000, loop=None):
    """Blocks driven by a real transport (beat position, tempo and loop segments from ``tempo_map``)."""
    transport = Transport(tempo_map, sr, block)
    if loop is not None:
        transport.set_loop(*loop)
    transport.play()
    lfo.prepare(sr, block)
    ctx = BlockContext(sr)
    out = np.zeros((1, total), dtype=np.float64)
    for start in range(0, total, block):
        n = min(block, total - start)
        transport.begin_block(ctx, n)
        lfo.process(ctx, [], [out[:, start : start + n]], [EventBuffer()], [])
    return out[0]


def make(shape="sine", **params) -> LFO:
    lfo = LFO(seed=params.pop("seed", 0))
    lfo.param("shape").set(LFO_SHAPES[shape])
    for name, value in params.items():
        lfo.param(name).set(value)
    return lfo


# -- shapes ----------------------------------------------------------------------------------------------
def test_lfo_builds_with_no_arguments():
    lfo = LFO()
    assert set(lfo.params) == {
        "shape", "rate_hz", "sync", "rate_beats", "phase_deg", "retrigger", "unipolar", "depth",
    }  # fmt: skip
    assert lfo.audio_outputs[0].channels == 1 and lfo.event_inputs[0].name == "midi"


def test_hash_uniform_is_splitmix64_of_seed_and_cycle():
    for seed, index in ((0, 0), (1, 7), (12345, -3), (2**40, 10**12)):
        assert hash_uniform(seed, index) == splitmix_reference(seed, index)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("shape", list(LFO_SHAPES))
def test_each_shape_matches_its_closed_form_at_the_set_rate(shape, sr):
    rate = 2.9
    y = run(make(shape, rate_hz=rate, seed=4), 2 * sr, 1000, sr)
    phase = np.arange(2 * sr) * (rate / sr)
    keep = far_from_jumps(shape, phase)
    assert np.abs(y - closed_form(shape, phase, seed=4))[keep].max() < 1e-9


def test_shape_values_at_quarter_cycles():
    expected = {
        "sine": (0.0, 1.0, 0.0, -1.0),
        "triangle": (0.0, 1.0, 0.0, -1.0),
        "saw_up": (-1.0, -0.5, 0.0, 0.5),
        "saw_down": (1.0, 0.5, 0.0, -0.5),
        "square": (1.0, 1.0, -1.0, -1.0),
    }
    for shape, values in expected.items():
        got = [lfo_shape_value(LFO_SHAPES[shape], 0, q / 4, 0) for q in range(4)]
        assert got == pytest.approx(values, abs=1e-12), shape


def test_sample_and_hold_holds_one_seeded_value_per_cycle():
    y = run(make("sample_hold", rate_hz=10.0, seed=7), 48000 * 20, 1000)
    cycles = y.reshape(200, 4800)
    assert np.all(cycles == cycles[:, :1])  # constant within each cycle
    values = cycles[:, 0]
    assert len(np.unique(values)) == 200
    assert values.min() < -0.8 and values.max() > 0.8 and abs(values.mean()) < 0.15
    other = run(make("sample_hold", rate_hz=10.0, seed=8), 4800 * 3, 1000)
    assert not np.array_equal(other[::4800], values[:3])


def test_smooth_random_glides_through_the_sample_and_hold_values():
    smooth = run(make("smooth_random", rate_hz=10.0, seed=7), 48000, 1000)
    held = run(make("sample_hold", rate_hz=10.0, seed=7), 48000, 1000)
    assert np.array_equal(smooth[::4800], held[::4800])  # each cycle starts at its held value
    assert np.abs(np.diff(smooth)).max() < 2.0 * math.pi / 4800  # continuous: no steps


def test_phase_offset_turns_the_sine_into_a_cosine():
    y = run(make("sine", rate_hz=3.0, phase_deg=90.0), 48000, 512)
    assert np.abs(y - np.cos(2 * np.pi * np.arange(48000) * 3.0 / 48000)).max() < 1e-9


def test_unipolar_and_depth_scale_the_output():
    bipolar = run(make("triangle", rate_hz=5.0), 48000, 512)
    unipolar = run(make("triangle", rate_hz=5.0, unipolar=1, depth=0.5), 48000, 512)
    assert np.abs(unipolar - 0.5 * (bipolar + 1) / 2).max() < 1e-12
    assert unipolar.min() >= 0.0 and unipolar.max() == pytest.approx(0.5)


# -- tempo sync ------------------------------------------------------------------------------------------
def test_timeline_beats_match_the_tempo_map_through_steps_and_ramps():
    tm = TempoMap([TempoPoint(0, 120), TempoPoint(4, 90, "linear"), TempoPoint(12, 150), TempoPoint(20, 60)])
    lfo = LFO()
    lfo.set_tempo_map(tm)
    beats, seconds, bpms, slopes = lfo._tempo
    sr = 44100
    out = np.zeros(sr * 20)
    timeline_beats(out, 0, out.size, 0, sr, beats, seconds, bpms, slopes)
    ref = np.array([tm.sample_to_beat(t, sr) for t in range(0, out.size, 7)])
    assert np.abs(out[::7] - ref).max() < 1e-9


@pytest.mark.parametrize("sr", RATES)
def test_synced_phase_is_the_beat_position_over_rate_beats(sr):
    y = run(make("saw_up", sync=1, rate_beats=0.25), 4 * sr, 1000, sr, bpm=137.0)
    phase = np.arange(4 * sr) * 137.0 / (60.0 * sr) / 0.25
    keep = far_from_jumps("saw_up", phase)
    assert np.abs(y - closed_form("saw_up", phase))[keep].max() < 1e-9


def test_synced_lfo_stays_locked_to_beats_across_tempo_changes_at_any_block_size():
    sr = 48000
    tm = TempoMap([TempoPoint(0, 120), TempoPoint(8, 90), TempoPoint(12, 90, "linear"), TempoPoint(20, 160)])
    total = int(tm.beat_to_sample(24, sr))
    outs = []
    for block in BLOCK_SIZES:
        lfo = make("sine", sync=1, rate_beats=1.5, phase_deg=30.0)
        lfo.set_tempo_map(tm)
        outs.append(run_transport(lfo, tm, total, block, sr))
    beats = np.array([tm.sample_to_beat(t, sr) for t in range(total)])
    ref = np.sin(2 * np.pi * (beats / 1.5 + 30.0 / 360.0))
    for out in outs:
        assert np.abs(out - ref).max() < 1e-9
    # every 6 beats (4 cycles of 1.5 beats) the phase is back at its offset of 30 degrees
    for k in range(4):
        t = round(tm.beat_to_sample(6 * k, sr))
        assert outs[0][t] == pytest.approx(math.sin(math.pi / 6), abs=2e-3)


def test_without_a_tempo_map_the_block_tempo_locks_a_constant_tempo():
    sr = 48000
    tm = TempoMap(bpm=100.0)
    outs = [run_transport(make("triangle", sync=1, rate_beats=0.5), tm, 3 * sr, b, sr) for b in BLOCK_SIZES]
    phase = np.arange(3 * sr) * 100.0 / (60.0 * sr) / 0.5
    for out in outs:
        assert np.abs(out - closed_form("triangle", phase)).max() < 1e-9


def test_synced_lfo_follows_the_timeline_through_a_loop_wrap():
    sr = 48000
    tm = TempoMap(bpm=120.0)
    lfo = make("saw_up", sync=1, rate_beats=3.0)
    lfo.set_tempo_map(tm)
    y = run_transport(lfo, tm, 4 * sr, 1000, sr, loop=(0.0, 2.0))  # one second loop, wraps mid-block
    t = np.mod(np.arange(4 * sr), sr)  # timeline sample of every output sample
    assert np.abs(y - closed_form("saw_up", t * 2.0 / sr / 3.0)).max() < 1e-9


def test_synced_lfo_runs_on_at_the_tempo_while_stopped():
    sr = 48000
    y = run(make("sine", sync=1, rate_beats=2.0), sr, 256, sr, bpm=150.0, playing=False)
    rate = 150.0 / 60.0 / 2.0
    assert np.abs(y - np.sin(2 * np.pi * np.arange(sr) * rate / sr)).max() < 1e-9


# -- retrigger -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_a_note_on_restarts_the_cycle_at_its_exact_sample(block):
    sr, at = 48000, 12345
    events = [(at, NOTE_ON | 3, 60, 100), (20000, NOTE_OFF, 60, 0), (30000, NOTE_ON, 61, 0)]
    y = run(make("saw_up", rate_hz=1.7, retrigger=1), 48000, block, sr, events=events)
    n = np.arange(48000)
    phase = np.where(n < at, n, n - at) * 1.7 / sr
    assert y[at] == -1.0  # the start of a rising saw, at the note's sample
    assert np.abs(y - closed_form("saw_up", phase))[far_from_jumps("saw_up", phase)].max() < 1e-9


def test_note_ons_do_not_restart_the_cycle_while_retrigger_is_off():
    events = [(12345, NOTE_ON, 60, 100)]
    y = run(make("sine", rate_hz=1.7), 48000, 1000, events=events)
    assert np.abs(y - np.sin(2 * np.pi * np.arange(48000) * 1.7 / 48000)).max() < 1e-9


def test_a_synced_retrigger_anchors_the_phase_at_the_note_and_keeps_the_tempo():
    sr, at, bpm = 48000, 7777, 120.0
    y = run(
        make("saw_up", sync=1, rate_beats=0.5, retrigger=1), sr, 500, sr, bpm, events=[(at, NOTE_ON, 1, 1)]
    )
    n = np.arange(sr)
    phase = np.where(n < at, n, n - at) * bpm / (60.0 * sr) / 0.5
    assert np.abs(y - closed_form("saw_up", phase))[far_from_jumps("saw_up", phase)].max() < 1e-9


def test_retrigger_call_restarts_at_the_next_block():
    lfo = make("saw_up", rate_hz=2.0)
    lfo.prepare(48000, 100)
    ctx = BlockContext(48000)
    out = np.zeros((1, 300))
    for k in range(3):
        if k == 2:
            lfo.retrigger()
        ctx.set_single_segment(100, 100 * k, True)
        lfo.process(ctx, [], [out[:, 100 * k : 100 * (k + 1)]], [], [])
    assert out[0, 200] == -1.0 and out[0, 199] == pytest.approx(-1.0 + 2 * 199 * 2.0 / 48000)


# -- block size, extremes, real time --------------------------------------------------------------------
@pytest.mark.parametrize("shape", list(LFO_SHAPES))
def test_output_does_not_depend_on_the_block_size(shape):
    sr = 48000
    outs = []
    events = [(5000, NOTE_ON, 60, 90), (70001, NOTE_ON, 62, 90)]
    for block in BLOCK_SIZES:
        lfo = make(shape, retrigger=1, seed=3)
        beat = sr * 0.5  # samples per beat at 120 bpm
        lane = AutomationLane([Breakpoint(0.0, 0.5, "exp"), Breakpoint(3.0, 40.0), Breakpoint(6.0, 2.0)])
        lfo.param("rate_hz").set_automation(lane.compile(lambda b, beat=beat: b * beat))
        depth = AutomationLane([Breakpoint(0.0, 1.0), Breakpoint(6.0, 0.2)])
        lfo.param("depth").set_automation(depth.compile(lambda b, beat=beat: b * beat))
        outs.append(run(lfo, 4 * sr, block, sr, events=events))
    for out in outs[1:]:
        assert np.abs(out - outs[0]).max() < 1e-9


def test_extreme_settings_give_finite_output():
    for shape in LFO_SHAPES:
        for rate_hz, rate_beats in ((0.01, 1 / 64), (100.0, 64.0)):
            for sync in (0, 1):
                lfo = make(shape, rate_hz=rate_hz, rate_beats=rate_beats, sync=sync, phase_deg=360.0)
                y = run(lfo, 20000, 4096, 96000, bpm=999.0)
                assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0


def test_processing_allocates_no_buffers():
    lfo = make("smooth_random", sync=1, retrigger=1)
    lfo.set_tempo_map(TempoMap(bpm=128.0))
    lfo.prepare(48000, 512)
    ctx = BlockContext(48000)
    out = np.zeros((1, 512))
    ev = EventBuffer()
    ev.push(100, NOTE_ON, 60, 100)

    def block(k):
        ctx.set_single_segment(512, 512 * k, True)
        lfo.process(ctx, [], [out], [ev], [])

    for k in range(20):
        block(k)
    got = allocations(block, 180, first=20)
    assert got.peak < 2048, got
