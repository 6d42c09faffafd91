"""The contract every processor a song can name keeps: the same suite runs over all of them.

- reset gives identical output twice;
- the output does not depend on the block size (32 to 4096), with parameters still or automated;
- silence in gives silence out (processors with an audio input);
- no NaN or Inf for any parameter value in its range, even on loud input;
- an out-of-range value is refused with a message that gives the range.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine.events import NOTE_OFF, NOTE_ON, EventBuffer
from engine.params import AutomationLane, Breakpoint
from engine.processor import BlockContext, Processor
from presets.devices import EFFECTS, INSTRUMENTS

SR = 48000
FRAMES = 12000
HOSTED_PLUGIN = "/usr/lib/vst3/ZamCompX2.vst3"
# sources that songs do not name directly (modulation and test signals) keep the same contract
SOURCES = {"oscillator": ("dsp.oscillators", "Oscillator"), "lfo": ("dsp.lfo", "LFO")}
DEVICES = (
    [("effect", name) for name in sorted(EFFECTS)]
    + [("instrument", name) for name in sorted(INSTRUMENTS)]
    + [("source", name) for name in sorted(SOURCES)]
)


def make(kind: str, name: str) -> Processor:
    if kind == "source":
        import importlib

        module, cls = SOURCES[name]
        proc: Processor = getattr(importlib.import_module(module), cls)()
        return proc
    if name == "plugin":
        # songs name a VST3 by its path: the contract covers a real hosted one (Debian's zam-plugins)
        if not os.path.isdir(HOSTED_PLUGIN):
            pytest.skip(f"{HOSTED_PLUGIN} is not installed (Debian package zam-plugins)")
        from dsp.plugins import load_plugin_processor

        plugin: Processor = load_plugin_processor(HOSTED_PLUGIN)
        return plugin
    if name == "sampler":
        # songs name a sampler by its file: the contract covers one playing a small SoundFont with a loop
        return INSTRUMENTS[name][0]({"type": name, "path": str(_small_soundfont())})
    table = EFFECTS if kind == "effect" else INSTRUMENTS
    return table[name][0]({"type": name})


def _small_soundfont():
    import tempfile
    from pathlib import Path

    from instruments.sampler.sf2_writer import PresetSpec, SampleSpec, ZoneSpec, write_soundfont

    path = Path(tempfile.gettempdir()) / f"strum-contract-{os.getpid()}.sf2"
    if not path.exists():
        t = np.arange(8820) / 44100
        tone = (0.4 * np.sin(2 * np.pi * 441 * t) + 0.1 * np.sin(2 * np.pi * 1323 * t)).astype(np.float32)
        zone = ZoneSpec(
            SampleSpec("tone", tone, 44100, root_key=69, loop=(4410, 8820)),
            generators={"sampleModes": 1, "releaseVolEnv": -2400, "initialFilterFc": 9000},
        )
        write_soundfont(path, [PresetSpec("tone", 0, 0, [zone])])
    return path


def input_signal(channels: int, seed: int = 1, level: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, FRAMES)) * level * 0.3
    t = np.arange(FRAMES) / SR
    x += level * 0.5 * np.sin(2 * np.pi * 220 * t)  # a tone too, so filters and detectors have work
    x[:, 4000:5000] = 0.0  # and a gap
    return x.astype(np.float32)


def notes() -> list[tuple[int, int, int, int]]:
    # 36 and 38 too: a kick and a snare for the drum machine, which ignores notes outside the drum map
    return [
        (0, NOTE_ON, 60, 100), (1000, NOTE_ON, 64, 80), (2000, NOTE_ON, 36, 110), (3000, NOTE_ON, 38, 90),
        (5000, NOTE_OFF, 60, 0), (6000, NOTE_OFF, 36, 0), (6500, NOTE_OFF, 38, 0), (9000, NOTE_OFF, 64, 0),
    ]  # fmt: skip


def run(proc: Processor, block: int, x: np.ndarray | None, events=()) -> np.ndarray:
    """Render FRAMES samples through a prepared processor in blocks of ``block``."""
    ctx = BlockContext(SR)
    outs = [np.zeros((p.channels, FRAMES), np.float32) for p in proc.audio_outputs]
    ins = (
        [x] + [np.zeros((p.channels, FRAMES), np.float32) for p in proc.audio_inputs[1:]]
        if x is not None
        else []
    )
    ev = EventBuffer()
    for start in range(0, FRAMES, block):
        n = min(block, FRAMES - start)
        ctx.set_single_segment(n, start, True)
        ev.clear()
        for t, st, d1, d2 in events:
            if start <= t < start + n:
                ev.push(t - start, st, d1, d2)
        proc.process(
            ctx,
            [a[:, start : start + n] for a in ins],
            [o[:, start : start + n] for o in outs],
            [ev] * len(proc.event_inputs),
            [EventBuffer() for _ in proc.event_outputs],
        )
    return outs[0]


def drive(kind: str, name: str, block: int, automate: bool = False, x: np.ndarray | None = None):
    proc = make(kind, name)
    proc.prepare(SR, 4096)
    if automate:
        for p in proc.params.values():
            if p.stepped:
                continue
            target = p.min_value + 0.75 * (p.max_value - p.min_value)
            lane = AutomationLane([Breakpoint(0.0, p.value), Breakpoint(1.0, target)])
            p.set_automation(lane.compile(lambda b: b * FRAMES))
    inp = x if x is not None else (input_signal(proc.audio_inputs[0].channels) if proc.audio_inputs else None)
    return proc, run(proc, block, inp, notes() if proc.event_inputs else ())


@pytest.mark.parametrize(("kind", "name"), DEVICES)
def test_reset_gives_identical_output_twice(kind, name):
    proc, first = drive(kind, name, 256)
    proc.reset()
    inp = input_signal(proc.audio_inputs[0].channels) if proc.audio_inputs else None
    second = run(proc, 256, inp, notes() if proc.event_inputs else ())
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("automate", [False, True], ids=["still", "automated"])
@pytest.mark.parametrize(("kind", "name"), DEVICES)
def test_output_does_not_depend_on_the_block_size(kind, name, automate):
    if name == "plugin" and automate:
        pytest.skip(
            "a hosted plugin takes parameter changes once per process call (every 32 samples and at block"
            " ends); how it ramps between them is its own, so automated output depends on call boundaries"
        )
    _, ref = drive(kind, name, 32, automate)
    for block in (64, 1000, 4096):
        _, out = drive(kind, name, block, automate)
        assert np.max(np.abs(out - ref)) <= 1e-6, f"block {block}"


@pytest.mark.parametrize(("kind", "name"), [d for d in DEVICES if make(*d).audio_inputs])
def test_silence_in_gives_silence_out(kind, name):
    proc = make(kind, name)
    silence = np.zeros((proc.audio_inputs[0].channels, FRAMES), np.float32)
    _, out = drive(kind, name, 256, x=silence)
    assert np.max(np.abs(out)) == 0.0


@pytest.mark.parametrize(("kind", "name"), DEVICES)
def test_no_nan_or_inf_at_any_parameter_extreme(kind, name):
    rng = np.random.default_rng(3)
    for trial in range(6):
        proc = make(kind, name)
        for p in proc.params.values():
            pick = (
                (p.min_value, p.max_value)[trial % 2] if trial < 2 else rng.uniform(p.min_value, p.max_value)
            )
            p.set(pick)
        proc.prepare(SR, 512)
        inp = input_signal(proc.audio_inputs[0].channels, level=4.0) if proc.audio_inputs else None
        out = run(proc, 512, inp, notes() if proc.event_inputs else ())
        assert np.all(np.isfinite(out)), f"trial {trial}"


@pytest.mark.parametrize(("kind", "name"), DEVICES)
def test_out_of_range_values_are_refused_with_the_range(kind, name):
    proc = make(kind, name)
    for p in proc.params.values():
        span = p.max_value - p.min_value
        before = p.value
        for bad in (p.max_value + span, p.min_value - span, float("nan")):
            with pytest.raises(ValueError, match=f"{p.name} must be in"):
                p.set(bad)
        assert p.value == before
