from __future__ import annotations

import numpy as np
import pytest

from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM_CHANGE
from engine.graph import Graph
from engine.plan import compile_plan
from engine.processor import BlockContext
from engine.sequencer import Clip, ControlChange, Note, PitchBend, ProgramChange, Sequencer, compile_events
from engine.tempo import TempoMap, TempoPoint
from engine.transport import Transport
from tests.helpers import EventRecorder

SR = 48000


def play(clips, tempo=None, total=96000, block=64, loop=None, actions=None):
    """Run sequencer -> recorder through a plan with a real transport; returns (events, sequencer)."""
    tm = tempo or TempoMap(bpm=120)
    seq = Sequencer(compile_events(clips, tm, SR))
    g = Graph()
    g.add("seq", seq)
    g.add("rec", EventRecorder())
    g.connect("seq", "rec")
    g.set_output("rec")
    plan = compile_plan(g, SR, max(block, 1))
    tr = Transport(tm, SR, block)
    ctx = BlockContext(SR)
    if loop:
        tr.set_loop(*loop)
    tr.play()
    done = 0
    rec = g.node("rec")
    while done < total:
        for at, fn in (actions or {}).items():
            if done <= at < done + block:
                fn(tr)
        tr.begin_block(ctx, block)
        plan.process(ctx)
        done += block
    tr.stop()  # the block after a stop carries the note-offs still owed
    tr.begin_block(ctx, block)
    plan.process(ctx)
    return rec.events, seq


@pytest.mark.parametrize("block", [1, 32, 64, 100, 128, 1000, 4096])
def test_note_at_beat_one_and_a_half_starts_at_sample_36000_at_every_block_size(block):
    events, _ = play([Clip(0, (Note(60, 1.5, 1.0),))], block=block, total=SR * 2)
    assert events[0] == (36000, NOTE_ON, 60, 100)
    assert events[1] == (60000, NOTE_OFF, 60, 64)


@pytest.mark.parametrize("rate", [44100, 48000, 88200, 96000])
@pytest.mark.parametrize("block", [64, 333, 2048])
def test_note_positions_follow_the_sample_rate(rate, block):
    tm = TempoMap(bpm=120)
    seq = Sequencer(compile_events([Clip(0, (Note(60, 1.5, 0.25),))], tm, rate))
    tr = Transport(tm, rate, block)
    ctx = BlockContext(rate)
    from engine.events import EventBuffer

    out = EventBuffer()
    tr.play()
    found = []
    for k in range(rate * 2 // block):
        tr.begin_block(ctx, block)
        seq.process(ctx, [], [], [], [out])
        found += [(k * block + off, st) for off, st, _, _ in out.as_list()]
    # beat 1.5 = 0.75 s and beat 1.75 = 0.875 s, rounded to the nearest sample (half up)
    assert found == [(int(rate * 0.75 + 0.5), NOTE_ON), (int(rate * 0.875 + 0.5), NOTE_OFF)]


def test_clip_start_and_offset_place_notes():
    clip = Clip(4.0, (Note(60, 0.0, 1.0), Note(62, 1.0, 1.0)), offset_beats=1.0)
    events, _ = play([clip], total=SR * 4)
    # content before the offset is skipped; the note at content beat 1 plays at clip start (beat 4 = 2 s)
    assert [(t, s, p) for t, s, p, _ in events] == [(96000, NOTE_ON, 62), (120000, NOTE_OFF, 62)]


def test_tempo_change_places_events_where_the_arithmetic_says():
    # 120 bpm for 2 beats (1 s), then a linear ramp 120 -> 60 over 4 beats, then 60
    tm = TempoMap([TempoPoint(0, 120), TempoPoint(2, 120, "linear"), TempoPoint(6, 60)])
    notes = (Note(60, 1.0, 0.5), Note(62, 4.0, 0.5), Note(64, 7.0, 0.5))
    events, _ = play([Clip(0, notes)], tempo=tm, total=SR * 8, block=128)
    ons = [t for t, s, _, _ in events if s == NOTE_ON]
    # ramp seconds: 60 * d / (T1 - T0) * ln(T(b) / T0) with d = 4 beats
    ramp = lambda b: 60 * 4 / (60 - 120) * np.log((120 + (60 - 120) * (b - 2) / 4) / 120)  # noqa: E731
    expected = [0.5, 1.0 + ramp(4.0), 1.0 + ramp(6.0) + 1.0]
    assert ons == [int(np.floor(s * SR + 0.5)) for s in expected]


def test_loop_puts_events_where_the_arithmetic_says_and_owes_no_hanging_notes():
    # a note from beat 1.5 to 2.5 in a loop 0..2: it must be cut at the wrap, then start again each pass
    clip = Clip(0, (Note(60, 0.5, 0.5), Note(64, 1.5, 1.0)))
    events, _seq = play([clip], total=SR * 3, loop=(0, 2))
    loop_len = SR  # 2 beats at 120 bpm
    on60 = [t for t, s, p, _ in events if s == NOTE_ON and p == 60]
    assert on60 == [12000, 12000 + loop_len, 12000 + 2 * loop_len]
    on64 = [t for t, s, p, _ in events if s == NOTE_ON and p == 64]
    off64 = [t for t, s, p, _ in events if s == NOTE_OFF and p == 64]
    assert on64 == [36000, 36000 + loop_len, 36000 + 2 * loop_len]
    assert off64 == [loop_len, 2 * loop_len, 3 * SR]  # cut at each wrap, and at the stop
    assert_no_hanging(events)


def assert_no_hanging(events):
    sounding: dict[tuple[int, int], int] = {}
    for _, st, p, _ in events:
        key = (st & 0x0F, p)
        if st & 0xF0 == NOTE_ON:
            sounding[key] = sounding.get(key, 0) + 1
        elif st & 0xF0 == NOTE_OFF:
            sounding[key] = sounding.get(key, 0) - 1
    assert all(v == 0 for v in sounding.values()), sounding


def test_stop_sends_the_note_offs_it_owes():
    events, seq = play(
        [Clip(0, (Note(60, 0, 8), Note(67, 0, 8)))], total=SR, actions={24000: lambda t: t.stop()}
    )
    assert seq.active_notes() == 0
    offs = [(t, p) for t, s, p, _ in events if s == NOTE_OFF]
    assert sorted(p for _, p in offs) == [60, 67]
    assert all(t == 24000 for t, _ in offs)
    assert_no_hanging(events)


def test_locate_sends_note_offs_at_the_jump():
    events, _ = play(
        [Clip(0, (Note(60, 0, 8),))], total=SR, block=100, actions={10000: lambda t: t.locate(0)}
    )
    assert (10000, NOTE_OFF, 60, 64) in events
    assert [t for t, s, _, _ in events if s == NOTE_ON] == [0, 10000]


def test_clip_end_cuts_notes_that_outlast_it():
    events, _ = play([Clip(0, (Note(60, 0, 10),), length_beats=1)], total=SR)
    assert events == [(0, NOTE_ON, 60, 100), (24000, NOTE_OFF, 60, 64)]


def test_overlapping_same_pitch_retriggers_with_one_off_per_on():
    events, _ = play([Clip(0, (Note(60, 0, 2), Note(60, 1, 2)))], total=SR * 2)
    assert [(t, s) for t, s, _, _ in events] == [
        (0, NOTE_ON),
        (24000, NOTE_OFF),
        (24000, NOTE_ON),
        (72000, NOTE_OFF),
    ]


def test_cc_pitch_bend_and_program_change_arrive_before_notes_at_the_same_sample():
    clip = Clip(
        0, (Note(60, 1, 1),), (ControlChange(1, 7, 90),), (PitchBend(1, -8192),), (ProgramChange(1, 5),)
    )
    events, _ = play([clip], total=SR)
    at = [(s & 0xF0, d1, d2) for t, s, d1, d2 in events if t == 24000]
    assert at == [(PROGRAM_CHANGE, 5, 0), (CONTROL_CHANGE, 7, 90), (PITCH_BEND, 0, 0), (NOTE_ON, 60, 100)]


def test_new_table_while_playing_releases_sounding_notes():
    tm = TempoMap(bpm=120)
    seq = Sequencer(compile_events([Clip(0, (Note(60, 0, 8),))], tm, SR))
    ctx = BlockContext(SR)
    tr = Transport(tm, SR, 64)
    tr.play()
    from engine.events import EventBuffer

    out = EventBuffer()
    tr.begin_block(ctx, 64)
    seq.process(ctx, [], [], [], [out])
    assert seq.active_notes() == 1
    seq.set_table(compile_events([], tm, SR))
    tr.begin_block(ctx, 64)
    seq.process(ctx, [], [], [], [out])
    assert out.as_list() == [(0, NOTE_OFF, 60, 64)] and seq.active_notes() == 0


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Note(128, 0, 1),
        lambda: Note(60, -1, 1),
        lambda: Note(60, 0, 0),
        lambda: Note(60, 0, 1, 0),
        lambda: Note(60, 0, 1, 100, 16),
        lambda: ControlChange(0, 128, 0),
        lambda: PitchBend(0, 9000),
        lambda: Clip(0, length_beats=0),
        lambda: Note(60, float("nan"), 1),
    ],
)
def test_out_of_range_values_are_refused_with_a_message(bad):
    with pytest.raises(ValueError, match="must be"):
        bad()


def test_a_note_shorter_than_a_sample_still_ends():
    events, seq = play(
        [
            Clip(
                0,
                (
                    Note(60, 0, 1e-6),
                    Note(62, 0.999999, 0.5),
                ),
                length_beats=1,
            )
        ],
        total=SR,
    )
    ons = {p: t for t, s, p, _ in events if s == NOTE_ON}
    offs = {p: t for t, s, p, _ in events if s == NOTE_OFF}
    assert offs[60] == ons[60] + 1 and offs[62] > ons[62]
    assert seq.active_notes() == 0
    assert_no_hanging(events)


def test_a_shorter_note_inside_a_longer_one_keeps_its_own_end():
    # A holds C4 for beats 0..4; B strikes C4 again at beat 1 for one beat: A ends at 1, B ends at 2
    events, _ = play([Clip(0, (Note(60, 0, 4), Note(60, 1, 1)))], total=SR * 3)
    assert [(t, s) for t, s, _, _ in events] == [
        (0, NOTE_ON),
        (24000, NOTE_OFF),
        (24000, NOTE_ON),
        (48000, NOTE_OFF),
    ]


def test_locating_into_a_note_sends_no_orphan_note_off():
    events, _ = play(
        [Clip(0, (Note(60, 0, 2),))], total=SR, block=100, actions={100: lambda t: t.locate(24000)}
    )
    assert [(t, s) for t, s, _, _ in events] == [(0, NOTE_ON), (100, NOTE_OFF)]  # the flush, nothing at 48000


def test_a_crowded_block_never_drops_a_note_off():
    from engine.events import EventBuffer

    tm = TempoMap(bpm=120)
    ccs = tuple(ControlChange(i / 10000, 1, i % 128) for i in range(5000))
    seq = Sequencer(compile_events([Clip(0, (Note(60, 0, 0.1),), ccs)], tm, SR))
    tr = Transport(tm, SR, 16384)
    ctx = BlockContext(SR)
    out = EventBuffer()
    tr.play()
    tr.begin_block(ctx, 16384)
    seq.process(ctx, [], [], [], [out])
    got = out.as_list()
    assert out.dropped > 0  # the buffer really overflowed
    assert (2400, NOTE_OFF, 60, 64) in got and seq.active_notes() == 0
