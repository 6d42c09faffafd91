"""Changes placed on a sample (Parameter.set_at, Engine.schedule), retiming a playing session, and the
sequencer playing through the small jumps of a clock follower's phase correction."""

from __future__ import annotations

import numpy as np
import pytest

from engine.engine import Engine
from engine.graph import Graph
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, Processor
from engine.retime import constant_tempo, retime
from engine.sequencer import NUDGE_MAX, Clip, EventTable, Note, Sequencer, compile_events
from engine.session import Session, TrackSpec
from engine.tempo import TempoMap
from instruments.synth_presets import load_synth_preset

SR = 48000


def _ctx(frames: int, pos: int = 0, playing: bool = False) -> BlockContext:
    ctx = BlockContext(SR)
    ctx.set_single_segment(frames, pos, playing)
    return ctx


def test_set_at_changes_a_stepped_parameter_on_its_sample() -> None:
    p = Parameter("mode", 0, 4, 0, stepped=True)
    p.prepare(SR, 256)
    assert p.set_at(3, 100)
    assert p.value == 3 and p.change_pending
    out = p.render(_ctx(256)).copy()
    assert np.all(out[:100] == 0) and np.all(out[100:] == 3)
    assert not p.change_pending
    out = p.render(_ctx(256))
    assert np.all(out == 3)


def test_set_at_starts_the_smoothing_ramp_on_its_sample() -> None:
    p = Parameter("gain_db", -60, 12, 0, smoothing_ms=1.0)  # 48 samples
    p.prepare(SR, 256)
    p.set_at(-12.0, 37)
    out = p.render(_ctx(256)).copy()
    assert np.all(out[:37] == 0.0)
    assert out[37] == pytest.approx(-12.0 / 48)
    assert out[37 + 47] == -12.0 and np.all(out[37 + 47 :] == -12.0)
    assert np.all(np.diff(out[37 : 37 + 48]) < 0)


def test_set_at_refuses_a_value_out_of_range_and_changes_nothing() -> None:
    p = Parameter("pan", -1, 1, 0)
    p.prepare(SR, 64)
    assert not p.set_at(5.0, 3)
    assert not p.change_pending and p.value == 0.0


class Level(Processor):
    """Outputs its ``level`` parameter, sample by sample."""

    audio_outputs = (AudioPort("out", 2),)

    def __init__(self) -> None:
        super().__init__()
        self.level = self.add_param(Parameter("level", 0.0, 1.0, 0.0, smoothing_ms=0.0))

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        audio_out[0][:] = self.level.render(ctx)[None, :]


def _ramp_engine() -> tuple[Engine, Parameter]:
    g = Graph()
    src = Level()
    g.add("src", src)
    g.set_output("src")
    eng = Engine(g, SR, 256)
    eng.commit()
    return eng, src.level


def test_engine_schedule_lands_on_the_frame_across_blocks() -> None:
    eng, level = _ramp_engine()
    frames = [1000, 1001, 5000]
    values = [0.25, 0.5, 0.75]
    for f, v in zip(frames, values, strict=True):
        assert eng.schedule(f, level, v)
    out = np.concatenate([eng.process_block(256)[0].copy() for _ in range(24)])
    steps = np.flatnonzero(np.diff(out)) + 1
    # 1000 and 1001 fall in one block: the second waits for the next block's first sample
    assert list(steps) == [1000, 1024, 5000]
    assert out[1000] == 0.25 and out[1024] == 0.5 and out[5000] == 0.75
    with pytest.raises(ValueError):
        eng.schedule(6000, level, 7.0)


def test_a_past_frame_applies_at_the_next_block() -> None:
    eng, level = _ramp_engine()
    for _ in range(4):
        eng.process_block(256)
    eng.schedule(10, level, 0.5)
    out = eng.process_block(256)[0]
    assert np.all(out == 0.5)


def _song(bpm: float = 120.0) -> Session:
    clip = Clip(0.0, notes=tuple(Note(60, float(b), 0.5, 100) for b in range(16)))
    return Session(
        tempo_map=TempoMap(bpm=bpm), tracks=[TrackSpec("keys", load_synth_preset("pluck"), [clip])]
    )


def test_retime_plays_on_from_the_same_beat_with_notes_moved() -> None:
    session = _song(120.0)
    built = session.build(SR, 256)
    eng = built.engine
    tr = eng.transport
    tr.set_loop(4.0, 12.0)
    tr.locate_beats(2.0)
    tr.play()
    eng.process_block(256)
    beat_before = tr.position_beats()
    retime(session, built, constant_tempo(session.tempo_map, 90.0))
    eng.process_block(256)
    # the block after the swap starts on the beat the old map stood on
    assert tr.tempo_map.tempo_at_beat(0) == 90.0
    assert tr.position_beats() == pytest.approx(beat_before + 256 / SR * 90 / 60, abs=1e-4)
    assert tr.loop_start == round(4 * 60 / 90 * SR) and tr.loop_end == round(12 * 60 / 90 * SR)
    seq = built.sequencers["keys"]
    expected = compile_events(session.tracks[0].clips, TempoMap(bpm=90.0), SR)
    assert np.array_equal(seq.table.sample, expected.sample)
    assert tr.retimes == 1


def test_retime_keeps_sounding_notes() -> None:
    session = _song(120.0)
    built = session.build(SR, 256)
    eng = built.engine
    tr = eng.transport
    tr.play()
    seq = built.sequencers["keys"]
    eng.process_block(256)
    assert seq.active_notes() == 1  # the note at beat 0 sounds
    retime(session, built, constant_tempo(session.tempo_map, 60.0))
    eng.process_block(256)
    assert seq.active_notes() == 1  # not cut by the swap


def _gather(seq: Sequencer, starts: list[int], frames: int = 64) -> list[tuple[int, int, int]]:
    """Run the sequencer over blocks starting at the given timeline samples; (block, offset, note) of each
    note-on."""
    from engine.events import EventBuffer

    out = EventBuffer(256)
    got = []
    for k, start in enumerate(starts):
        ctx = _ctx(frames, start, True)
        seq.process(ctx, [], [], [], [out])
        for i in range(out.count):
            if out.status[i] & 0xF0 == 0x90:
                got.append((k, int(out.offset[i]), int(out.data1[i])))
    return got


def _table(samples: list[int]) -> EventTable:
    n = len(samples)
    return EventTable(
        np.array(samples, dtype=np.int64),
        np.full(n, 0x90, dtype=np.uint8),
        np.arange(60, 60 + n, dtype=np.uint8),
        np.full(n, 100, dtype=np.uint8),
    )


def test_a_small_jump_ahead_plays_the_skipped_events_at_the_block_start() -> None:
    seq = Sequencer(_table([70, 130, 140]))
    # blocks of 64: 0..64, then a jump of 10 (64 -> 74: the event at 70 is skipped over), then on
    got = _gather(seq, [0, 74, 138])
    assert got == [(1, 0, 60), (1, 130 - 74, 61), (2, 140 - 138, 62)]


def test_a_small_jump_back_plays_nothing_twice() -> None:
    seq = Sequencer(_table([60, 66, 120]))
    got = _gather(seq, [0, 56, 120])  # back 8 samples: the event at 60 already played
    assert got == [(0, 60, 60), (1, 66 - 56, 61), (2, 0, 62)]


def test_a_large_jump_is_a_locate() -> None:
    seq = Sequencer(_table([10, 1000]))
    got = _gather(seq, [0, 64 + NUDGE_MAX + 1])
    assert got == [(0, 10, 60)]
    assert seq.active_notes() == 0  # flushed: the note sounding at the jump was released
