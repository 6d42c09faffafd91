"""Live MIDI placement, MIDI clock and MIDI out, without a device: the audio side's per-block work driven by
hand with known times."""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import EventBuffer
from engine.live_input import LiveInput, LiveMidi
from engine.midi_out import CLOCK, CONTINUE, SONG_POSITION, START, STOP, MidiClock, MidiSend
from engine.processor import BlockContext
from engine.tempo import TempoMap
from engine.transport import Transport
from tests.alloc import allocations

SR = 48000
FRAMES = 128


class FakeInput:
    """Stands in for a MidiInput: messages with given arrival times, handed out once."""

    virtual = True

    def __init__(self, messages: list[tuple[list[int], float]]) -> None:
        self.messages = list(messages)

    def poll(self, now: float):
        if self.messages and self.messages[0][1] <= now:
            return self.messages.pop(0)
        return None


class FakeOutput:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def send(self, message: list[int]) -> None:
        self.sent.append(list(message))


def test_messages_land_one_latency_after_they_arrived_at_sample_offsets():
    latency = FRAMES / SR
    live = LiveMidi(SR, latency_s=latency)
    t0 = 100.0
    # arrivals spread over one block: 0, 10, 64.5 and 127 samples after the block start
    arrivals = [t0 + s / SR for s in (0, 10, 64.5, 127)]
    live.set_inputs([FakeInput([([0x90, 60 + k, 100], t) for k, t in enumerate(arrivals)])])
    live.collect(now=t0 + FRAMES / SR, block_time=t0 + FRAMES / SR, frames=FRAMES)
    # due one latency (one block) later: in this block, at the offsets they arrived at in the last one
    assert live.events.as_list() == [
        (0, 0x90, 60, 100),
        (10, 0x90, 61, 100),
        (65, 0x90, 62, 100),
        (127, 0x90, 63, 100),
    ]
    assert live.late == 0


def test_messages_due_after_the_block_wait_for_their_block():
    live = LiveMidi(SR, latency_s=0.002)
    live.set_inputs([FakeInput([([0x90, 60, 100], 10.0), ([0xB0, 1, 64], 10.001)])])
    live.collect(now=10.0015, block_time=10.0, frames=FRAMES)  # due at 10.002 and 10.003: after 10.00267
    assert live.events.count == 1 and live.events.as_list()[0][:2] == (96, 0x90)
    assert live.pending() == 1
    live.collect(now=10.0027, block_time=10.0 + FRAMES / SR, frames=FRAMES)
    assert live.events.as_list() == [(16, 0xB0, 1, 64)]
    assert live.pending() == 0


def test_late_messages_go_to_offset_zero_and_are_counted():
    live = LiveMidi(SR, latency_s=0.0)
    live.set_inputs([FakeInput([([0x90, 60, 100], 5.0)])])
    live.collect(now=5.01, block_time=5.01, frames=FRAMES)
    assert live.events.as_list() == [(0, 0x90, 60, 100)]
    assert live.late == 1


def test_note_on_with_velocity_zero_is_a_note_off_and_system_messages_are_not_played():
    live = LiveMidi(SR)
    live.set_inputs([FakeInput([([0x91, 60, 0], 1.0), ([0xF8], 1.0), ([0xE0, 0, 64], 1.0)])])
    live.collect(now=1.0, block_time=1.0, frames=FRAMES)
    assert live.events.as_list() == [(0, 0x81, 60, 64), (0, 0xE0, 0, 64)]
    assert live.received == 3


def test_posted_messages_are_checked():
    live = LiveMidi(SR)
    with pytest.raises(ValueError, match="not a channel message"):
        live.post(0xF8)
    with pytest.raises(ValueError, match="not a channel message"):
        live.post(0x90, 128, 1)


def test_live_input_merges_with_the_sequencer_and_panic_releases_held_notes():
    live = LiveMidi(SR)
    node = LiveInput(live)
    seq = EventBuffer(16)
    seq.push(5, 0x90, 40, 90)
    seq.push(50, 0x80, 40, 0)
    live.events.push(0, 0x90, 60, 100)
    live.events.push(20, 0xB0, 64, 127)
    live.events.push(60, 0x90, 64, 100)
    out = EventBuffer(16)
    ctx = BlockContext(SR)
    node.process(ctx, [], [], [seq], [out])
    assert [e[0] for e in out.as_list()] == [0, 5, 20, 50, 60], "in offset order"
    assert node.held_notes() == 2
    live.events.count = 0
    live.panic()
    node.process(ctx, [], [], [EventBuffer(1)], [out])
    assert sorted(out.as_list()) == [(0, 0x80, 60, 64), (0, 0x80, 64, 64), (0, 0xB0, 64, 0)]
    assert node.held_notes() == 0


def test_a_channel_filter_keeps_only_its_channel():
    live = LiveMidi(SR)
    node = LiveInput(live, channel=2)
    live.events.push(0, 0x90, 60, 100)
    live.events.push(1, 0x92, 61, 100)
    out = EventBuffer(8)
    node.process(BlockContext(SR), [], [], [EventBuffer(1)], [out])
    assert out.as_list() == [(1, 0x92, 61, 100)]
    with pytest.raises(ValueError, match=r"0\.\.15"):
        LiveInput(live, channel=16)


def _run_transport(tr: Transport, clock: MidiClock, blocks: int) -> None:
    ctx = BlockContext(SR)
    for _ in range(blocks):
        tr.begin_block(ctx, FRAMES)
        clock.after_block(ctx, tr.tempo_map.sample_to_beat(tr.position, SR))


def test_midi_clock_sends_24_pulses_a_beat_with_start_stop_and_song_position():
    out = FakeOutput()
    clock = MidiClock(out)  # type: ignore[arg-type]
    tr = Transport(TempoMap(bpm=120.0), SR, FRAMES)
    tr.play()
    _run_transport(tr, clock, 750)  # 2 s = 4 beats at 120 bpm
    kinds = [m[0] for m in out.sent]
    assert kinds[0] == START
    assert kinds.count(CLOCK) == 96
    tr.stop()
    _run_transport(tr, clock, 1)
    assert out.sent[-1] == [STOP]
    out.sent.clear()
    tr.locate_beats(8.25)  # while stopped: the pointer follows
    _run_transport(tr, clock, 1)
    assert out.sent == [[SONG_POSITION, 33, 0]]  # 8.25 beats = 33 sixteenths
    out.sent.clear()
    tr.play()
    _run_transport(tr, clock, 1)
    assert out.sent[0][0] == SONG_POSITION and out.sent[1] == [CONTINUE]


def test_midi_send_forwards_the_tracks_events_and_sends_note_offs_on_stop():
    out = FakeOutput()
    node = MidiSend(out, channel=3)  # type: ignore[arg-type]
    node.prepare(SR, FRAMES)
    events = EventBuffer(8)
    events.push(0, 0x90, 60, 100)
    events.push(10, 0x90, 62, 90)
    events.push(20, 0x80, 60, 0)
    events.push(30, 0xC0, 5, 0)
    audio = np.ones((2, FRAMES), np.float32)
    node.process(BlockContext(SR), [], [audio], [events], [])
    assert not audio.any(), "no sound of its own"
    node.flush_to_port()
    assert out.sent == [[0x93, 60, 100], [0x93, 62, 90], [0x83, 60, 0], [0xC3, 5]]
    out.sent.clear()
    node.all_notes_off()
    assert out.sent == [[0x83, 62, 64], [0xB3, 123, 0]]


class _Flags:
    output_underflow = False


class CountingOutput:
    """A MIDI output that only counts (keeping the messages would allocate)."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, message: list[int]) -> None:
        self.count += 1


def test_the_live_callback_allocates_no_buffers_while_notes_arrive():
    from pathlib import Path

    from engine.live import DeviceChoice, LiveEngine
    from presets.song import load_song

    BLOCK = 512  # a block whose buffer (4 KB) dwarfs the few small objects Python makes
    demo = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"
    live = LiveMidi(SR)
    built = load_song(demo).build(SR, BLOCK, live=live, live_tracks={"lead": None})
    dev = DeviceChoice(0, "test", "none", SR, BLOCK, 2)
    clock_out = CountingOutput()
    le = LiveEngine(built.engine, dev, live=live, clock=MidiClock(clock_out))  # type: ignore[arg-type]
    le._warm_up()
    built.engine.transport.play()
    outdata = np.zeros((BLOCK, 2), np.float32)
    t = 50.0
    for k in range(400):  # warm: first notes, automation segments, views
        if k % 10 == 0:
            live.post(0x90 | 0, 60 + k % 12, 100, at=t)
        le._callback(outdata, BLOCK, None, _Flags())
        t += BLOCK / SR

    def step(k: int) -> None:
        if k % 10 == 0:
            live.post(0x80 | 0, 60 + (k // 10) % 12, 0, at=50.0 + k * BLOCK / SR)
        le._callback(outdata, BLOCK, None, _Flags())

    got = allocations(step, 1000, first=400)  # 3 x 10.7 s of the song with a note posted every 10 blocks
    assert le.errors == 0 and le.drain_errors() == []
    assert np.abs(outdata).max() > 0, "the song plays through the callback"
    assert le.callbacks == 3400
    assert clock_out.count > 100, "the clock ran"
    # a 512-frame stereo float32 block is 4 KB: nothing that size appears per block, nothing leaks
    assert got.peak < 4096 and got.held < 1024, got


def test_midi_backends_are_checked_by_name():
    import os

    from engine.midi_io import MidiPortError, list_midi_ports, resolve_api

    with pytest.raises(MidiPortError, match="unknown MIDI backend 'usb'"):
        resolve_api("usb")
    if not os.path.exists("/dev/snd/seq"):  # this machine: no ALSA sequencer, and the error says so
        with pytest.raises(MidiPortError, match="no ALSA sequencer"):
            list_midi_ports("alsa")
    else:
        assert isinstance(list_midi_ports("alsa"), list)
