from __future__ import annotations

import pytest

from engine.processor import BlockContext
from engine.tempo import TempoMap, TempoPoint, TimeSignature
from engine.transport import Transport


def segments(ctx: BlockContext) -> list[tuple[int, int, int]]:
    return [
        (int(ctx.seg_start[k]), int(ctx.seg_offset[k]), int(ctx.seg_frames[k]))
        for k in range(ctx.num_segments)
    ]


def make(tempo: TempoMap | None = None, block: int = 64) -> tuple[Transport, BlockContext]:
    return Transport(tempo or TempoMap(bpm=120), 48000, block), BlockContext(48000)


def test_stopped_transport_does_not_advance():
    t, ctx = make()
    t.begin_block(ctx, 64)
    assert not ctx.playing and segments(ctx) == [(0, 0, 64)]
    t.begin_block(ctx, 64)
    assert t.position == 0


def test_play_advances_by_block_and_reports_beats_and_tempo():
    tm = TempoMap([TempoPoint(0, 120), TempoPoint(4, 60)])
    t, ctx = make(tm, block=4800)
    t.play()
    positions = []
    for _ in range(30):
        t.begin_block(ctx, 4800)
        positions.append((ctx.sample_pos, ctx.beat_pos, ctx.tempo_bpm))
    # 4 beats at 120 bpm = 2 s = 96000 samples; then one beat per second
    assert positions[20] == (96000, pytest.approx(4.0), 60.0)
    assert positions[25][1] == pytest.approx(4.0 + 0.5)
    assert positions[5][2] == 120.0


def test_loop_wrap_splits_the_block_into_segments():
    t, ctx = make(block=64)
    t.set_loop(0, 1)  # one beat = 24000 samples
    t.locate(24000 - 10)
    t.play()
    t.begin_block(ctx, 64)
    assert segments(ctx) == [(23990, 0, 10), (0, 10, 54)]
    assert t.position == 54
    assert t.loop_wraps == 1


def test_block_ending_exactly_on_loop_end_starts_next_block_at_loop_start():
    t, ctx = make(block=100)
    t.set_loop(0.5, 1)  # samples 12000..24000
    t.locate(23900)
    t.play()
    t.begin_block(ctx, 100)
    assert segments(ctx) == [(23900, 0, 100)]
    t.begin_block(ctx, 100)
    assert segments(ctx) == [(12000, 0, 100)]


def test_loop_after_its_end_does_not_wrap():
    t, ctx = make()
    t.set_loop(0, 1)
    t.locate(30000)
    t.play()
    t.begin_block(ctx, 64)
    assert segments(ctx) == [(30000, 0, 64)]


def test_stop_and_locate_ask_for_note_offs():
    t, ctx = make()
    t.play()
    t.begin_block(ctx, 64)
    assert not ctx.notes_off_due
    t.stop()
    t.begin_block(ctx, 64)
    assert ctx.notes_off_due and not ctx.playing
    t.play()
    t.begin_block(ctx, 64)
    t.locate(1000)
    t.begin_block(ctx, 64)
    assert ctx.notes_off_due and ctx.sample_pos == 1000


def test_locate_by_bar_follows_time_signatures():
    tm = TempoMap(bpm=120, time_signatures=[TimeSignature(0, 4, 4), TimeSignature(2, 3, 4)])
    t, ctx = make(tm)
    t.locate_bar(3)  # 4 + 4 + 3 beats = 11 beats = 5.5 s
    t.begin_block(ctx, 64)
    assert ctx.sample_pos == 264000


def test_loop_shorter_than_a_block_and_bad_positions_are_refused():
    t, _ = make(block=4096)
    with pytest.raises(ValueError, match="at least one block"):
        t.set_loop(0, 0.05)
    with pytest.raises(ValueError, match=">= 0"):
        t.locate(-1)


def test_position_reads_in_samples_seconds_beats_and_bars():
    tm = TempoMap(bpm=120, time_signatures=[TimeSignature(0, 3, 4)])
    t, ctx = make(tm, block=4800)
    t.play()
    for _ in range(25):  # 25 * 0.1 s = 2.5 s = 5 beats
        t.begin_block(ctx, 4800)
    assert t.position == 120000
    assert t.position_seconds() == 2.5
    assert t.position_beats() == pytest.approx(5.0)
    assert t.position_bars() == (1, pytest.approx(2.0))
    assert t.position_text() == "2.3.000"
