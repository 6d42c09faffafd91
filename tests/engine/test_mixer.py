from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.gain import Gain
from engine.graph import Graph
from engine.mixer import ChannelStrip, Send, apply_solo
from engine.plan import compile_plan
from engine.processor import AudioPort, Processor
from tests.helpers import run_blocks


class Const(Processor):
    def __init__(self, value: float, channels: int = 1):
        super().__init__()
        self.audio_outputs = (AudioPort("out", channels),)
        self.value = value

    def process(self, ctx, ai, ao, ei, eo):
        ao[0][:] = self.value


def strip_output(
    strip: ChannelStrip, value: float = 1.0, channels: int = 1, frames: int = 4096
) -> np.ndarray:
    g = Graph()
    g.add("src", Const(value, channels))
    g.add("strip", strip)
    g.connect("src", "strip")
    g.set_output("strip")
    return run_blocks(compile_plan(g, 48000, 256), frames, 256)


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_constant_power_pan_keeps_total_power(pan):
    s = ChannelStrip(1)
    s.pan.set(pan)
    s.reset()
    out = strip_output(s)[:, -1]
    theta = (pan + 1) * math.pi / 4
    assert out[0] == pytest.approx(math.sqrt(2) * math.cos(theta), abs=1e-6)
    assert out[1] == pytest.approx(math.sqrt(2) * math.sin(theta), abs=1e-6)
    assert out[0] ** 2 + out[1] ** 2 == pytest.approx(2.0, rel=1e-6)


def test_centre_pan_is_unity_and_fader_is_in_db():
    s = ChannelStrip(2)
    s.volume_db.set(-6.0)
    s.reset()
    out = strip_output(s, 0.5, channels=2)[:, -1]
    np.testing.assert_allclose(out, 0.5 * 10 ** (-6 / 20), rtol=1e-6)


def test_fader_moves_are_smoothed_not_stepped():
    s = ChannelStrip(1)
    g = Graph()
    g.add("src", Const(1.0))
    g.add("strip", s)
    g.connect("src", "strip")
    g.set_output("strip")
    plan = compile_plan(g, 48000, 64)
    first = run_blocks(plan, 640, 64)
    s.volume_db.set(-40.0)
    after = run_blocks(plan, 4800, 64)[0]
    assert first[0, -1] == pytest.approx(1.0)
    assert np.max(np.abs(np.diff(after))) < 0.01  # no jump from 1.0 to 0.01
    assert after[-1] == pytest.approx(10 ** (-40 / 20), rel=1e-3)


def test_meters_report_peak_and_rms():
    s = ChannelStrip(2)
    strip_output(s, 0.25, channels=2)
    peak_db, rms_db = s.meter_db()
    assert peak_db[0] == pytest.approx(20 * math.log10(0.25), abs=1e-4)
    assert rms_db[1] == pytest.approx(20 * math.log10(0.25), abs=1e-4)


def test_solo_silences_other_tracks_but_not_buses():
    a, b, bus = ChannelStrip(2), ChannelStrip(2), ChannelStrip(2, solo_safe=True)
    b.solo.set(1)
    apply_solo([a, b, bus])
    assert (a.gate.value, b.gate.value, bus.gate.value) == (0.0, 1.0, 1.0)
    b.solo.set(0)
    a.mute.set(1)
    apply_solo([a, b, bus])
    assert (a.gate.value, b.gate.value, bus.gate.value) == (0.0, 1.0, 1.0)


def test_muting_fades_out_without_a_click():
    s = ChannelStrip(1)
    g = Graph()
    g.add("src", Const(1.0))
    g.add("strip", s)
    g.connect("src", "strip")
    g.set_output("strip")
    plan = compile_plan(g, 48000, 64)
    run_blocks(plan, 640, 64)
    s.mute.set(1)
    apply_solo([s])
    out = run_blocks(plan, 960, 64)[0]
    assert out[-1] == 0.0
    assert np.max(np.abs(np.diff(out))) < 0.01


def test_send_level_and_gate():
    snd = Send(2, level_db=-12.0)
    snd.reset()
    g = Graph()
    g.add("src", Const(1.0, 2))
    g.add("send", snd)
    g.connect("src", "send")
    g.set_output("send")
    out = run_blocks(compile_plan(g, 48000, 128), 512, 128)
    np.testing.assert_allclose(out[:, -1], 10 ** (-12 / 20), rtol=1e-6)


def test_gain_processor_and_silence_floor():
    gain = Gain(2, -96.0)
    g = Graph()
    g.add("src", Const(1.0, 2))
    g.add("gain", gain)
    g.connect("src", "gain")
    g.set_output("gain")
    assert not run_blocks(compile_plan(g, 48000, 128), 256, 128).any()
    with pytest.raises(ValueError, match="gain_db must be in"):
        gain.gain_db.set(50)
