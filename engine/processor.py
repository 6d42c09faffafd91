"""The one contract every graph node follows, and the per-block context the plan hands it.

A processor declares its ports (audio ports with a channel count, event ports), allocates in
:meth:`Processor.prepare`, only computes in :meth:`Processor.process`, clears its state in
:meth:`Processor.reset`, and reports :attr:`Processor.latency_samples`. The plan calls ``process`` with
views of preallocated buffers: ``audio_in[i]`` and ``audio_out[i]`` have shape ``(channels, frames)``.

Next: build a :class:`engine.graph.Graph` of processors and compile it with :func:`engine.plan.compile_plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.events import EventBuffer
from engine.params import Parameter

__all__ = ["MAX_SEGMENTS", "AudioPort", "BlockContext", "EventPort", "Processor"]

MAX_SEGMENTS = 4  # a block splits at loop wraps; four segments cover a loop shorter than a block


@dataclass(frozen=True)
class AudioPort:
    """An audio input or output with a fixed channel count."""

    name: str
    channels: int = 2

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ValueError(f"audio port {self.name!r}: channels must be at least 1, got {self.channels}")


@dataclass(frozen=True)
class EventPort:
    """A MIDI event input or output."""

    name: str


class BlockContext:
    """Where one block sits on the timeline; preallocated once and updated in place every block.

    The block of ``frames`` samples is split into ``num_segments`` contiguous segments: more than one only
    when the loop wraps inside the block. Segment ``k`` covers block samples ``seg_offset[k]`` ..
    ``seg_offset[k] + seg_frames[k]`` and timeline samples from ``seg_start[k]`` on. While the transport is
    stopped there is one segment whose timeline position does not advance.

    ``notes_off_due`` is set for the block after a stop or locate: event sources send the note-offs they
    owe at offset 0.
    """

    __slots__ = (
        "beat_pos",
        "block_index",
        "frames",
        "notes_off_due",
        "num_segments",
        "playing",
        "sample_pos",
        "sample_rate",
        "seg_frames",
        "seg_offset",
        "seg_start",
        "tempo_bpm",
    )

    def __init__(self, sample_rate: float) -> None:
        self.sample_rate = float(sample_rate)
        self.frames = 0
        self.block_index = 0
        self.playing = False
        self.sample_pos = 0
        self.beat_pos = 0.0
        self.tempo_bpm = 120.0
        self.notes_off_due = False
        self.num_segments = 1
        self.seg_start = np.zeros(MAX_SEGMENTS, dtype=np.int64)
        self.seg_offset = np.zeros(MAX_SEGMENTS, dtype=np.int64)
        self.seg_frames = np.zeros(MAX_SEGMENTS, dtype=np.int64)

    def copy_from(self, other: BlockContext) -> None:
        """Make this context describe the same block as ``other`` (no allocation)."""
        self.sample_rate = other.sample_rate
        self.frames = other.frames
        self.block_index = other.block_index
        self.playing = other.playing
        self.sample_pos = other.sample_pos
        self.beat_pos = other.beat_pos
        self.tempo_bpm = other.tempo_bpm
        self.notes_off_due = other.notes_off_due
        self.num_segments = other.num_segments
        self.seg_start[:] = other.seg_start
        self.seg_offset[:] = other.seg_offset
        self.seg_frames[:] = other.seg_frames

    def set_single_segment(self, frames: int, sample_pos: int, playing: bool) -> None:
        """One segment covering the whole block (no loop wrap)."""
        self.frames = frames
        self.sample_pos = sample_pos
        self.playing = playing
        self.num_segments = 1
        self.seg_start[0] = sample_pos
        self.seg_offset[0] = 0
        self.seg_frames[0] = frames


class Processor:
    """Base class of every graph node.

    Subclasses set the port tuples (class attributes or in ``__init__``), add parameters with
    :meth:`add_param`, and override :meth:`prepare`, :meth:`process` and :meth:`reset` as needed.
    ``in_place`` says that ``audio_out[0]`` may be the same buffer as ``audio_in[0]`` (same channel count),
    which lets the plan skip a buffer and a copy.
    """

    audio_inputs: tuple[AudioPort, ...] = ()
    audio_outputs: tuple[AudioPort, ...] = ()
    event_inputs: tuple[EventPort, ...] = ()
    event_outputs: tuple[EventPort, ...] = ()
    in_place: bool = False

    def __init__(self) -> None:
        self.params: dict[str, Parameter] = {}
        self.sample_rate = 0.0
        self.max_block_size = 0

    # -- parameters -------------------------------------------------------------------------------------
    def add_param(self, param: Parameter) -> Parameter:
        if param.name in self.params:
            raise ValueError(f"{type(self).__name__}: parameter {param.name!r} defined twice")
        self.params[param.name] = param
        return param

    def param(self, name: str) -> Parameter:
        try:
            return self.params[name]
        except KeyError:
            known = ", ".join(sorted(self.params)) or "none"
            raise KeyError(f"{type(self).__name__} has no parameter {name!r} (known: {known})") from None

    # -- the contract -----------------------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """Samples by which this processor delays its audio; the plan compensates parallel paths."""
        return 0

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Allocate everything ``process`` needs. Called on the control side before the plan runs."""
        self.sample_rate = float(sample_rate)
        self.max_block_size = int(max_block_size)
        for p in self.params.values():
            p.prepare(sample_rate, max_block_size)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Compute one block of ``ctx.frames`` samples. Never allocate, block, log or do I/O here."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all signal state (voices, delay lines, envelopes)."""
        for p in self.params.values():
            p.reset()
