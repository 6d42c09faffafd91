"""Small processors and drivers shared by the tests (test-only code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.events import EventBuffer
from engine.params import AutomationLane, Breakpoint
from engine.processor import AudioPort, BlockContext, EventPort, Processor


class Ramp(Processor):
    """Outputs the running sample count (+ offset) on every channel: easy to check alignment."""

    def __init__(self, channels: int = 2, offset: float = 0.0) -> None:
        super().__init__()
        self.audio_outputs = (AudioPort("out", channels),)
        self.t = 0
        self.offset = offset

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        n = ctx.frames
        audio_out[0][:] = (np.arange(self.t, self.t + n, dtype=np.float32) + self.offset)[None, :]
        self.t += n

    def reset(self) -> None:
        super().reset()
        self.t = 0


class Delay(Processor):
    """A pure delay of ``d`` samples that reports ``d`` as its latency."""

    def __init__(self, d: int, channels: int = 2) -> None:
        super().__init__()
        self.d = d
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.channels = channels

    @property
    def latency_samples(self) -> int:
        return self.d

    def prepare(self, sample_rate, max_block_size) -> None:
        super().prepare(sample_rate, max_block_size)
        self.buf = np.zeros((self.channels, self.d + max_block_size), np.float32)

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        n, d = ctx.frames, self.d
        self.buf[:, d : d + n] = audio_in[0]
        audio_out[0][:] = self.buf[:, :n]
        self.buf[:, :d] = self.buf[:, n : n + d].copy()


class Through(Processor):
    """Copies input to output; ``in_place`` optional."""

    def __init__(self, channels: int = 2, in_place: bool = False) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.in_place = in_place

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        if audio_out[0] is not audio_in[0]:
            np.copyto(audio_out[0], audio_in[0])


class EventRecorder(Processor):
    """Records every event it receives as (absolute sample, status, d1, d2); outputs silence."""

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[int, int, int, int]] = []
        self.t = 0

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        for off, st, d1, d2 in events_in[0].as_list():
            self.events.append((self.t + off, st, d1, d2))
        audio_out[0][:] = 0.0
        self.t += ctx.frames


class Collect:
    """A render sink that keeps every block it is given (:func:`engine.render.render`'s ``mix`` or a
    stem); :meth:`audio` joins them."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(np.array(block, copy=True))

    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks, axis=-1)


def run_blocks(plan, total: int, block: int, sample_rate: float = 48000) -> np.ndarray:
    """Run a plan for ``total`` samples in blocks of ``block`` (last one partial); return the output."""
    ctx = BlockContext(sample_rate)
    out = []
    done = 0
    while done < total:
        n = min(block, total - done)
        ctx.set_single_segment(n, done, True)
        out.append(plan.process(ctx).copy())
        done += n
    return np.concatenate(out, axis=1)


def run_effect(
    proc: Processor,
    x: np.ndarray,
    rate: float,
    block: int = 512,
    bpm: float = 120.0,
    automation: dict[str, list[tuple]] | None = None,
    in_place: bool = False,
    prepare: bool = True,
) -> np.ndarray:
    """Prepare an audio effect (unless ``prepare`` is false: after a ``reset()``), give it the automation
    lanes, points as (beat, value[, curve]) at ``bpm``, and run ``x`` (channels x frames) through it in
    blocks of ``block`` (last one partial), in place if asked; return the output as float32."""
    if prepare:
        proc.prepare(rate, block)
    for name, points in (automation or {}).items():
        lane = AutomationLane([Breakpoint(*point) for point in points])
        proc.param(name).set_automation(lane.compile(lambda beat: beat * 60.0 / bpm * rate))
    ctx = BlockContext(rate)
    ctx.tempo_bpm = bpm
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = x.copy() if in_place else np.zeros_like(x)
    for start in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - start)
        ctx.set_single_segment(n, start, True)
        src = out if in_place else x
        proc.process(ctx, [src[:, start : start + n]], [out[:, start : start + n]], [], [])
    return out


__all__ = ["Delay", "EventBuffer", "EventRecorder", "Ramp", "Through", "run_blocks", "run_effect"]


ROOT = Path(__file__).resolve().parents[1]


def strum(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``strum`` command as a user does, in a subprocess (from the repository root by default)."""
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=600,
    )
