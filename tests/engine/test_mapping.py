"""MIDI mapping: every source, curve, mode and takeover against its formula, learn, and the sample offset."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from engine.control import resolve_param
from engine.mapping import (
    DEFAULT_STEP,
    PICKUP_TOLERANCE,
    Mapping,
    MidiMapper,
    curve_position,
    curve_value,
    learn_from,
)
from engine.mixer import apply_solo
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from engine.session import Session, TrackSpec

CC, NOTE_ON, NOTE_OFF, BEND = 0xB0, 0x90, 0x80, 0xE0


def make(*mappings: Mapping, **params: Parameter) -> tuple[MidiMapper, dict[str, Parameter]]:
    table = {f"t/{name}": p for name, p in params.items()}
    mapper = MidiMapper(table.__getitem__)
    mapper.set_mappings(mappings)
    return mapper, table


def knob(lo: float = -10.0, hi: float = 10.0, default: float = 0.0, **kw) -> Parameter:
    return Parameter("knob", lo, hi, default, **kw)


def render_block(param: Parameter) -> None:
    """Let the audio side take the parameter's pending change (one block)."""
    ctx = BlockContext(48000)
    ctx.set_single_segment(64, 0, False)
    param.prepare(48000, 64)
    param.render(ctx)


# -- absolute controls ---------------------------------------------------------------------------------------
EXPECTED = {
    "linear": lambda lo, hi, x: lo + (hi - lo) * x,
    "log": lambda lo, hi, x: lo * (hi / lo) ** x,
    "exp": lambda lo, hi, x: lo + (hi - lo) * x * x,
    "sqrt": lambda lo, hi, x: lo + (hi - lo) * math.sqrt(x),
}


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("curve", ["linear", "log", "exp", "sqrt"])
def test_a_cc_sweep_follows_the_curve_through_the_mapped_range(curve, invert):
    param = Parameter("cutoff_hz", 20.0, 20000.0, 1000.0, "Hz")
    m = Mapping("t/cutoff", "cc", 74, min_value=200.0, max_value=8000.0, curve=curve, invert=invert)
    mapper, _ = make(m, cutoff=param)
    for v in range(128):
        assert mapper.feed(CC, 74, v)
        x = 1 - v / 127 if invert else v / 127
        assert param.value == pytest.approx(EXPECTED[curve](200.0, 8000.0, x), rel=1e-12)
    assert mapper.applied == 128 and mapper.errors == 0


def test_without_a_range_the_parameters_own_range_is_swept():
    param = knob()
    mapper, _ = make(Mapping("t/knob", "cc", 1), knob=param)
    mapper.feed(CC, 1, 0)
    assert param.value == -10.0
    mapper.feed(CC, 1, 127)
    assert param.value == 10.0


def test_curve_position_inverts_curve_value():
    for curve in ("linear", "log", "exp", "sqrt"):
        for x in np.linspace(0, 1, 33):
            assert curve_position(curve, 0.5, 50.0, curve_value(curve, 0.5, 50.0, x)) == pytest.approx(x)


def test_a_14_bit_pair_gives_16384_steps():
    param = knob()
    mapper, _ = make(Mapping("t/knob", "cc14", 7), knob=param)
    seen = []
    for v in range(16384):
        assert mapper.feed(CC, 7, v >> 7)
        assert param.value == pytest.approx(-10 + 20 * ((v >> 7) << 7) / 16383)  # the MSB alone: LSB 0
        assert mapper.feed(CC, 39, v & 127)
        assert param.value == pytest.approx(-10 + 20 * v / 16383)
        seen.append(param.value)
    assert len(set(seen)) == 16384 and seen[0] == -10.0 and seen[-1] == 10.0


def test_nrpn_data_entry_and_increment_and_decrement():
    param = knob(0.0, 1.0, 0.0)
    mapper, _ = make(Mapping("t/knob", "nrpn", 300, channel=2, step=0.1), knob=param)
    assert not mapper.feed(CC + 2, 6, 64)  # no NRPN selected yet: plain data entry, not ours
    assert mapper.feed(CC + 2, 99, 300 >> 7) and mapper.feed(CC + 2, 98, 300 & 127)
    assert mapper.feed(CC + 2, 6, 64)
    assert param.value == pytest.approx((64 << 7) / 16383)
    assert mapper.feed(CC + 2, 38, 5)
    assert param.value == pytest.approx((64 << 7 | 5) / 16383)
    start = param.value
    assert mapper.feed(CC + 2, 96, 0)
    assert param.value == pytest.approx(start + 0.1)
    assert mapper.feed(CC + 2, 97, 0) and mapper.feed(CC + 2, 97, 0)
    assert param.value == pytest.approx(start - 0.1)
    mapper.feed(CC + 2, 98, 1)  # another NRPN: its data is not ours
    before = param.value
    assert not mapper.feed(CC + 2, 6, 127)
    assert param.value == before
    mapper.feed(CC + 2, 98, 300 & 127)
    mapper.feed(CC + 2, 101, 0)  # an RPN selected: data entry goes there now
    assert not mapper.feed(CC + 2, 6, 127)
    assert param.value == before


def test_a_note_is_momentary_or_toggles():
    held, switch = knob(0.0, 1.0, 0.0), knob(0.0, 1.0, 0.0, stepped=True)
    mapper, _ = make(
        Mapping("t/held", "note", 36, min_value=0.2, max_value=0.9),
        Mapping("t/switch", "note", 37, note_mode="toggle"),
        held=held,
        switch=switch,
    )
    assert mapper.feed(NOTE_ON, 36, 100) and held.value == pytest.approx(0.9)
    assert mapper.feed(NOTE_OFF, 36, 64) and held.value == pytest.approx(0.2)
    mapper.feed(NOTE_ON, 36, 1)
    assert mapper.feed(NOTE_ON, 36, 0) and held.value == pytest.approx(0.2)  # velocity 0 is a note-off
    assert mapper.feed(NOTE_ON, 37, 100) and switch.value == 1.0
    assert mapper.feed(NOTE_OFF, 37, 0) and switch.value == 1.0  # the release does nothing
    assert mapper.feed(NOTE_ON, 37, 100) and switch.value == 0.0
    assert not mapper.feed(NOTE_ON, 38, 100)


def test_pitch_bend_sweeps_its_14_bits():
    param = knob(-1.0, 1.0, 0.0)
    mapper, _ = make(Mapping("t/pan", "pitchbend"), pan=param)
    for v in (0, 1, 8192, 12345, 16383):
        assert mapper.feed(BEND, v & 127, v >> 7)
        assert param.value == pytest.approx(-1 + 2 * v / 16383)


# -- relative controls ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "up1", "up3", "down1", "down3", "top"),
    [
        ("relative_twos", 1, 3, 127, 125, 63),
        ("relative_offset", 65, 67, 63, 61, 127),
        ("relative_sign", 1, 3, 65, 67, 63),
    ],
)
def test_an_encoder_moves_the_parameter_by_ticks_and_stops_at_the_ends(mode, up1, up3, down1, down3, top):
    param = knob(0.0, 1.0, 0.5)
    mapper, _ = make(Mapping("t/knob", "cc", 20, mode=mode), knob=param)
    assert mapper.feed(CC, 20, up1) and param.value == pytest.approx(0.5 + DEFAULT_STEP)
    assert mapper.feed(CC, 20, up3) and param.value == pytest.approx(0.5 + 4 * DEFAULT_STEP)
    assert mapper.feed(CC, 20, down1) and param.value == pytest.approx(0.5 + 3 * DEFAULT_STEP)
    assert mapper.feed(CC, 20, down3) and param.value == pytest.approx(0.5)
    for _ in range(5):
        mapper.feed(CC, 20, top)
    assert param.value == 1.0
    for _ in range(300):
        mapper.feed(CC, 20, down3)
    assert param.value == 0.0


def test_an_encoder_moves_along_the_curve_with_its_step():
    param = Parameter("cutoff_hz", 20.0, 20000.0, 200.0, "Hz")
    mapper, _ = make(
        Mapping(
            "t/f",
            "cc",
            21,
            min_value=100.0,
            max_value=10000.0,
            curve="log",
            mode="relative_offset",
            step=0.25,
        ),
        f=param,
    )
    mapper.feed(CC, 21, 66)  # two ticks: half the range on a log scale from 200 Hz
    x = math.log(200 / 100) / math.log(100) + 0.5
    assert param.value == pytest.approx(100 * 100**x)


# -- takeover ------------------------------------------------------------------------------------------------
def test_pickup_ignores_the_control_until_it_crosses_the_parameter():
    param = knob(0.0, 1.0, 0.5)
    mapper, _ = make(Mapping("t/knob", "cc", 7, takeover="pickup"), knob=param)
    for v in (0, 10, 30, 60):  # below 0.5: consumed, nothing changes
        assert mapper.feed(CC, 7, v)
        assert param.value == 0.5
    assert mapper.feed(CC, 7, 80)  # crossed 0.5 on the way from 60 to 80: it follows from here
    assert param.value == pytest.approx(80 / 127)
    mapper.feed(CC, 7, 10)
    assert param.value == pytest.approx(10 / 127)
    render_block(param)
    param.set(0.9)  # moved by something else: pick it up again
    mapper.feed(CC, 7, 20)
    mapper.feed(CC, 7, 100)
    assert param.value == 0.9
    mapper.feed(CC, 7, 120)  # crossed 0.9 (= 114.3/127)
    assert param.value == pytest.approx(120 / 127)


def test_pickup_takes_over_within_a_small_tolerance():
    param = knob(0.0, 1.0, 0.5)
    mapper, _ = make(Mapping("t/knob", "cc", 7, takeover="pickup"), knob=param)
    assert abs(64 / 127 - 0.5) < PICKUP_TOLERANCE
    mapper.feed(CC, 7, 64)
    assert param.value == pytest.approx(64 / 127)


def test_jump_follows_the_control_at_once():
    param = knob(0.0, 1.0, 0.5)
    mapper, _ = make(Mapping("t/knob", "cc", 7), knob=param)
    mapper.feed(CC, 7, 0)
    assert param.value == 0.0


def test_a_stepped_parameter_gets_whole_values():
    param = Parameter("mode", 0.0, 7.0, 0.0, stepped=True)
    mapper, _ = make(Mapping("t/mode", "cc", 3), mode=param)
    for v in range(128):
        mapper.feed(CC, 3, v)
        assert param.value == round(7 * v / 127)
    assert mapper.errors == 0


# -- what is consumed ----------------------------------------------------------------------------------------
def test_the_channel_filter():
    one, any_ = knob(), knob()
    mapper, _ = make(Mapping("t/one", "cc", 7, channel=2), Mapping("t/any", "cc", 8), one=one, any=any_)
    assert not mapper.feed(CC + 0, 7, 127)
    assert one.value == 0.0
    assert mapper.feed(CC + 2, 7, 127) and one.value == 10.0
    assert mapper.feed(CC + 0, 8, 127) and mapper.feed(CC + 15, 8, 0)
    assert any_.value == -10.0


def test_unmapped_messages_are_not_consumed():
    param = knob()
    mapper, _ = make(Mapping("t/knob", "cc", 7), knob=param)
    for msg in [(CC, 8, 1), (NOTE_ON, 60, 100), (NOTE_OFF, 60, 0), (BEND, 0, 64), (0xC0, 5, 0), (0xD0, 9, 0)]:
        assert not mapper.feed(*msg)
    assert param.value == 0.0 and mapper.applied == 0


class Refusing(Parameter):
    def set_at(self, value: float, offset: int) -> bool:
        return False

    def set(self, value: float) -> None:
        raise ValueError("refused")


def test_feed_never_raises():
    mapper, _ = make(Mapping("t/no", "cc", 7), no=Refusing("no", 0.0, 1.0, 0.0))
    assert mapper.feed(CC, 7, 64)  # consumed, the refusal is counted
    assert mapper.errors == 1
    assert not mapper.feed(None, None, None)  # type: ignore[arg-type]
    assert not mapper.feed(0xF8, 0, 0)
    assert mapper.errors == 2


def test_a_failing_switch_hook_is_counted_not_raised():
    def boom() -> None:
        raise RuntimeError("boom")

    mute = Parameter("mute", 0.0, 1.0, 0.0, stepped=True)
    mapper = MidiMapper({"t/mute": mute}.__getitem__, on_switch=boom)
    mapper.set_mappings([Mapping("t/mute", "note", 40)])
    assert mapper.feed(NOTE_ON, 40, 100) and mute.value == 1.0
    assert mapper.errors == 1


def test_set_mappings_swaps_the_whole_table_or_nothing():
    a, b = knob(), knob()
    mapper, _ = make(Mapping("t/a", "cc", 1), a=a, b=b)
    old = mapper._table
    mapper.set_mappings([Mapping("t/b", "cc", 2)])
    assert mapper._table is not old
    assert not mapper.feed(CC, 1, 127) and a.value == 0.0
    assert mapper.feed(CC, 2, 127) and b.value == 10.0
    with pytest.raises(KeyError, match=r"mapping 1 \(cc 9 ch 4 -> t/nope\)"):
        mapper.set_mappings([Mapping("t/a", "cc", 1), Mapping("t/nope", "cc", 9, channel=3)])
    assert mapper.mappings == (Mapping("t/b", "cc", 2),)


# -- learn ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("messages", "source", "number", "channel"),
    [
        ([(CC + 1, 74, 10), (CC + 1, 74, 11)], "cc", 74, 1),
        ([(CC, 7, 64), (CC, 39, 3)], "cc14", 7, 0),
        ([(CC, 7, 64), (CC, 7, 65)], "cc", 7, 0),
        ([(CC + 3, 99, 2), (CC + 3, 98, 44), (CC + 3, 6, 10)], "nrpn", 300, 3),
        ([(NOTE_OFF, 50, 0), (NOTE_ON + 9, 36, 90)], "note", 36, 9),
        ([(BEND + 4, 0, 70)], "pitchbend", 0, 4),
    ],
)
def test_learn_makes_a_mapping_of_each_kind_through_feed(messages, source, number, channel):
    param = knob()
    mapper, _ = make(knob=param)
    mapper.learn("t/knob", curve="exp")
    assert mapper.learning == "t/knob"
    assert mapper.poll_learn() is None
    for msg in messages:
        mapper.feed(*msg)
    learnt = mapper.poll_learn()
    assert learnt == Mapping("t/knob", source, number, channel=channel, curve="exp")
    assert mapper.mappings == (learnt,) and mapper.learning is None


def test_learn_waits_for_a_possible_lsb_and_skips_what_cannot_be_mapped():
    assert learn_from([(CC, 7, 64)], "t/k") is None
    assert learn_from([(CC, 7, 64)], "t/k", final=True) == Mapping("t/k", "cc", 7, channel=0)
    assert learn_from([(CC, 123, 0), (CC, 101, 0), (NOTE_OFF, 60, 0), (0xC0, 3, 0)], "t/k") is None
    assert learn_from([(CC, 99, 1)], "t/k") is None  # an NRPN selected, its data not yet seen
    learnt = learn_from([(CC + 5, 1, 3), (CC + 5, 1, 4)], "t/k", channel=None, takeover="pickup")
    assert learnt == Mapping("t/k", "cc", 1, takeover="pickup")


def test_learn_replaces_the_targets_mapping_and_can_be_cancelled():
    param = knob()
    mapper, _ = make(Mapping("t/knob", "cc", 1), knob=param)
    mapper.learn("t/knob")
    mapper.cancel_learn()
    mapper.feed(CC, 2, 5)
    assert mapper.poll_learn() is None and mapper.mappings == (Mapping("t/knob", "cc", 1),)
    mapper.learn("t/knob")
    mapper.feed(CC, 80, 5)
    assert mapper.poll_learn() == Mapping("t/knob", "cc", 80, channel=0)
    assert mapper.mappings == (Mapping("t/knob", "cc", 80, channel=0),)
    with pytest.raises(KeyError):
        mapper.learn("t/nope")


# -- validation and the song-file form -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "osc"}, "source must be one of"),
        ({"number": 128}, "cc number must be in 0..127, got 128"),
        ({"source": "cc14", "number": 32}, "cc14 an MSB controller must be in 0..31"),
        ({"source": "pitchbend", "number": 3}, "a pitchbend mapping has no number"),
        ({"channel": 16}, "channel must be in 0..15"),
        ({"min_value": 5.0, "max_value": 1.0}, "min_value must be below max_value"),
        ({"curve": "log", "min_value": 0.0}, "a log curve needs min_value above 0"),
        ({"source": "note", "mode": "relative_twos"}, "is for encoders sending a 7-bit cc"),
        ({"step": 0.0}, "step must be in"),
        ({"mode": "relative_sign", "takeover": "pickup"}, "pickup is for absolute controls"),
        ({"note_mode": "toggle"}, "note_mode toggle is for note mappings"),
        ({"target": "volume"}, "target must be a parameter path"),
    ],
)
def test_a_bad_mapping_is_refused_with_the_reason(kwargs, message):
    fields = {"target": "t/k", "source": "cc", "number": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Mapping(**fields)


def test_to_dict_writes_only_what_differs_and_from_dict_reads_it_back():
    plain = Mapping("t/k", "cc", 1)
    assert plain.to_dict() == {"target": "t/k", "source": "cc", "number": 1}
    assert Mapping("t/k", "pitchbend").to_dict() == {"target": "t/k", "source": "pitchbend"}
    full = Mapping("t/k", "cc", 9, 3, 0.5, 2.0, "log", True, "relative_sign", 0.05, "jump", "momentary")
    assert Mapping.from_dict(full.to_dict()) == full
    with pytest.raises(ValueError, match="unknown mapping field 'colour'"):
        Mapping.from_dict({"target": "t/k", "source": "cc", "colour": 1})


def test_a_range_outside_the_parameter_is_refused_when_installed():
    mapper = MidiMapper({"t/k": knob()}.__getitem__)
    with pytest.raises(ValueError, match=r"max_value 40 is outside knob's range -10\.\.10"):
        mapper.set_mappings([Mapping("t/k", "cc", 1, max_value=40.0)])


# -- in a session: the change lands on its sample ------------------------------------------------------------
class Level(Processor):
    """An instrument that plays a constant level."""

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        audio_out[0][:] = 0.5


def test_a_cc_at_offset_100_changes_the_volume_from_sample_100_of_the_block():
    session = Session(tracks=[TrackSpec("lead", Level())])
    built = session.build(48000, 256)
    mapper = MidiMapper(lambda p: resolve_param(session, built, p).param)
    mapper.set_mappings([Mapping("lead/volume_db", "cc", 7, channel=0)])
    eng = built.engine
    steady = eng.process_block(256).copy()
    assert np.allclose(steady, steady[:, :1])
    assert mapper.feed(CC, 7, 0, offset=100)  # -96 dB
    out = eng.process_block(256).copy()
    assert np.array_equal(out[:, :100], steady[:, :100])
    assert np.all(np.abs(out[:, 100:]) < np.abs(steady[:, :1]))
    assert np.all(np.diff(np.abs(out[0, 99:])) < 0)  # the fader's ramp starts at sample 100
    for _ in range(8):  # 20 ms of smoothing later: silence
        out = eng.process_block(256)
    assert np.max(np.abs(out)) < 1e-4


def test_a_note_mutes_a_track_through_the_switch_hook():
    session = Session(tracks=[TrackSpec("lead", Level())])
    built = session.build(48000, 256)
    mapper = MidiMapper(
        lambda p: resolve_param(session, built, p).param, on_switch=lambda: apply_solo(built.strips.values())
    )
    mapper.set_mappings([Mapping("lead/mute", "note", 60, note_mode="toggle")])
    assert mapper.feed(NOTE_ON, 60, 100)
    assert built.strips["lead"].gate.value == 0.0
    assert mapper.feed(NOTE_ON, 60, 100)
    assert built.strips["lead"].gate.value == 1.0


def test_learn_takes_a_lone_controller_below_32_as_7_bit_after_a_quiet_moment(monkeypatch) -> None:
    import engine.mapping as mapping_module

    mapper, _ = make(knob=knob())
    mapper.learn("t/knob")
    mapper.feed(0xB0, 21, 90)
    assert mapper.poll_learn() is None  # its LSB partner (CC 53) may follow
    later = time.monotonic() + mapping_module.LEARN_QUIET_S + 0.01
    monkeypatch.setattr(mapping_module.time, "monotonic", lambda: later)
    m = mapper.poll_learn()
    assert m is not None and (m.source, m.number, m.channel) == ("cc", 21, 0)
    assert mapper.learning is None
