"""Compile a graph into an immutable render plan, and run the plan one block at a time.

:func:`compile_plan` works on the control side: it orders the nodes, prepares new processors, assigns
audio buffer slots (a slot is reused as soon as its last reader has run, so the slot count follows the
graph's width, not its node count), inserts summing where connections meet, channel adaptation where
counts differ, and latency compensation: every input of a node is delayed so that all its paths arrive
with the same latency, audio and events alike.

:meth:`RenderPlan.process` is the whole audio side: a flat list of calls over preallocated buffers. The
only allocation it ever does is rebuilding array views when the block length changes (a partial last
block, or a host that changes its period).

A plan compiled with ``first_stage`` is split in two stages for offline rendering
(:mod:`engine.pipeline`): the first holds the named nodes and everything upstream of them, in slots of
their own; :meth:`RenderPlan.hand_off` copies what the second stage reads from the first into slots of the
second's, so the first stage of the next block can run on another thread while the second stage of this
block runs. :meth:`RenderPlan.process` runs the stages one after the other and sounds the same.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsp.kernels.mix import delay_copy, mix_into
from engine.errors import GraphError
from engine.events import EventBuffer, merge_into
from engine.graph import Connection, Feedback, Graph
from engine.processor import BlockContext, Processor

__all__ = ["PlanStats", "RenderPlan", "compile_plan"]

_ZERO_CHANNELS_KEY = "zero"


# -- internal ops: same call shape as Processor.process ------------------------------------------------
class _MixOp:
    """Sum several sources (adapting channel counts) into one input buffer."""

    __slots__ = ()

    def process(self, ctx: BlockContext, audio_in: list, audio_out: list, ev_in: Any, ev_out: Any) -> None:
        dst = audio_out[0]
        n = ctx.frames
        first = True
        for src in audio_in:
            mix_into(dst, src, n, first)
            first = False


class _DelayOp:
    """A fixed delay of ``delay_samples`` on one connection (latency compensation)."""

    __slots__ = ("delay_samples", "ring", "write_pos")

    def __init__(self, channels: int, delay_samples: int) -> None:
        self.delay_samples = delay_samples
        self.ring = np.zeros((channels, delay_samples + 1), dtype=np.float32)
        self.write_pos = 0

    def process(self, ctx: BlockContext, audio_in: list, audio_out: list, ev_in: Any, ev_out: Any) -> None:
        self.write_pos = delay_copy(self.ring, self.write_pos, audio_in[0], audio_out[0], ctx.frames)

    def reset(self) -> None:
        self.ring[:] = 0.0
        self.write_pos = 0


class _EventDelayOp:
    """Delays events by ``delay_samples`` (latency compensation of an event path): a FIFO of due times."""

    __slots__ = ("d1", "d2", "delay_samples", "due", "head", "now", "size", "status")

    def __init__(self, delay_samples: int, capacity: int = 65536) -> None:
        self.delay_samples = delay_samples
        self.due = np.zeros(capacity, dtype=np.int64)
        self.status = np.zeros(capacity, dtype=np.uint8)
        self.d1 = np.zeros(capacity, dtype=np.uint8)
        self.d2 = np.zeros(capacity, dtype=np.uint8)
        self.head = 0
        self.size = 0
        self.now = 0

    def process(self, ctx: BlockContext, audio_in: Any, audio_out: Any, ev_in: list, ev_out: list) -> None:
        src: EventBuffer = ev_in[0]
        dst: EventBuffer = ev_out[0]
        cap = self.due.shape[0]
        for i in range(src.count):
            if self.size == cap:
                dst.dropped += 1
                continue
            j = (self.head + self.size) % cap
            self.due[j] = self.now + int(src.offset[i]) + self.delay_samples
            self.status[j] = src.status[i]
            self.d1[j] = src.data1[i]
            self.d2[j] = src.data2[i]
            self.size += 1
        dst.count = 0
        end = self.now + ctx.frames
        while self.size and self.due[self.head] < end:
            h = self.head
            dst.push(int(self.due[h] - self.now), int(self.status[h]), int(self.d1[h]), int(self.d2[h]))
            self.head = (h + 1) % cap
            self.size -= 1
        self.now = end

    def reset(self) -> None:
        self.head = self.size = self.now = 0

    def take_pending(self, old: _EventDelayOp) -> None:
        """Adopt the events still queued in ``old`` (a plan swap changed this path's delay), keeping
        their remaining time plus the change in delay, so no note-off is lost."""
        cap = old.due.shape[0]
        shift = self.delay_samples - old.delay_samples
        for i in range(old.size):
            j = (old.head + i) % cap
            if self.size == self.due.shape[0]:
                break
            k = (self.head + self.size) % self.due.shape[0]
            self.due[k] = self.now + max(0, int(old.due[j]) - old.now + shift)
            self.status[k] = old.status[j]
            self.d1[k] = old.d1[j]
            self.d2[k] = old.d2[j]
            self.size += 1


class _MergeOp:
    __slots__ = ("heads",)

    def __init__(self, n: int) -> None:
        self.heads = [0] * n

    def process(self, ctx: BlockContext, audio_in: Any, audio_out: Any, ev_in: list, ev_out: list) -> None:
        merge_into(ev_out[0], ev_in, self.heads)


class _FeedbackReadOp:
    __slots__ = ("node",)

    def __init__(self, node: Feedback) -> None:
        self.node = node

    def process(self, ctx: BlockContext, audio_in: Any, audio_out: list, ev_in: Any, ev_out: Any) -> None:
        self.node.read(audio_out[0], ctx.frames)


class _FeedbackStoreOp:
    __slots__ = ("node",)

    def __init__(self, node: Feedback) -> None:
        self.node = node

    def process(self, ctx: BlockContext, audio_in: list, audio_out: Any, ev_in: Any, ev_out: Any) -> None:
        self.node.store(audio_in[0], ctx.frames)


@dataclass
class _Step:
    """One call of the plan: a function and the full-size buffers it reads and writes."""

    fn: Callable[..., None]
    label: str
    audio_in: list[np.ndarray] = field(default_factory=list)
    audio_out: list[np.ndarray] = field(default_factory=list)
    events_in: list[EventBuffer] = field(default_factory=list)
    events_out: list[EventBuffer] = field(default_factory=list)
    # views of the buffers for the current block length; the lists are mutated, never replaced
    ins: list[np.ndarray] = field(default_factory=list)
    outs: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class PlanStats:
    """What a compiled plan holds: for tests, benchmarks and `strum` diagnostics."""

    nodes: int
    steps: int
    audio_slots: int
    slots_by_channels: dict[int, int]
    delays: int
    latency_samples: int


@dataclass(frozen=True)
class _Split:
    """Where a two-stage plan splits: the first stage's step and event-buffer counts, and the pairs
    (first stage's buffer, second stage's copy) that :meth:`RenderPlan.hand_off` copies."""

    steps: int
    event_buffers: int
    audio: list[tuple[np.ndarray, np.ndarray]]
    events: list[tuple[EventBuffer, EventBuffer]]


class _SlotPool:
    def __init__(self, max_block_size: int) -> None:
        self.max_block_size = max_block_size
        self.free: dict[int, list[np.ndarray]] = {}
        self.all: list[np.ndarray] = []

    def take(self, channels: int) -> np.ndarray:
        free = self.free.setdefault(channels, [])
        if free:
            return free.pop()
        slot = np.zeros((channels, self.max_block_size), dtype=np.float32)
        self.all.append(slot)
        return slot

    def give(self, slot: np.ndarray) -> None:
        bucket = self.free.setdefault(slot.shape[0], [])
        if not any(s is slot for s in bucket):
            bucket.append(slot)


class RenderPlan:
    """An immutable, compiled graph. Call :meth:`process` once per block from the audio side, then read
    :attr:`output` (a ``(channels, frames)`` view of the graph output for that block)."""

    def __init__(
        self,
        steps: list[_Step],
        output_slot: np.ndarray,
        taps: dict[str, np.ndarray],
        processors: list[Processor],
        event_buffers: list[EventBuffer],
        delay_ops: dict[str, Any],
        stats: PlanStats,
        sample_rate: float,
        max_block_size: int,
        order: list[str],
        tap_latency: dict[str, int],
        split: _Split | None = None,
    ) -> None:
        self._steps = steps
        self._calls = [(s.fn, s.ins, s.outs, s.events_in, s.events_out) for s in steps]
        self._split = split
        if split is not None:
            self._calls_first = self._calls[: split.steps]
            self._calls_second = self._calls[split.steps :]
            self._events_first = event_buffers[: split.event_buffers]
            self._events_second = event_buffers[split.event_buffers :]
            self._hand_views: list[tuple[np.ndarray, np.ndarray]] = []
        self._output_slot = output_slot
        self._tap_slots = taps
        self._event_buffers = event_buffers
        self._delay_ops = delay_ops
        self.tap_latency = tap_latency  # latency of each tap, as latency_samples is the output's
        self.processors = processors
        self.stats = stats
        self.sample_rate = sample_rate
        self.max_block_size = max_block_size
        self.order = order
        self.latency_samples = stats.latency_samples
        self.output: np.ndarray = output_slot[:, :0]
        self.taps: dict[str, np.ndarray] = {k: v[:, :0] for k, v in taps.items()}
        self._frames = -1
        self._frames_first = -1
        self._frames_second = -1

    @property
    def split(self) -> bool:
        """Whether the plan runs in two stages (compiled with ``first_stage``)."""
        return self._split is not None

    def _set_frames(self, n: int) -> None:
        if self._split is None:
            self._set_views(self._steps, n)
            self._set_outputs(n)
        else:
            self._set_first_frames(n)
            self._set_second_frames(n)
        self._frames = n

    def _set_outputs(self, n: int) -> None:
        self.output = self._output_slot[:, :n]
        for k, v in self._tap_slots.items():
            self.taps[k] = v[:, :n]

    @staticmethod
    def _set_views(steps: Sequence[_Step], n: int) -> None:
        # one view per buffer, so a processor can tell an aliased (in-place) output by identity
        views: dict[int, np.ndarray] = {}

        def view(b: np.ndarray) -> np.ndarray:
            v = views.get(id(b))
            if v is None:
                v = views[id(b)] = b[:, :n]
            return v

        for s in steps:
            s.ins[:] = [view(b) for b in s.audio_in]
            s.outs[:] = [view(b) for b in s.audio_out]

    def _set_first_frames(self, n: int) -> None:
        split = self._split
        assert split is not None
        self._set_views(self._steps[: split.steps], n)
        self._hand_views = [(src[:, :n], dst[:, :n]) for src, dst in split.audio]
        self._frames_first = n

    def _set_second_frames(self, n: int) -> None:
        split = self._split
        assert split is not None
        self._set_views(self._steps[split.steps :], n)
        self._set_outputs(n)
        self._frames_second = n

    def prepare_frames(self, frames: int) -> None:
        """Build the array views for blocks of ``frames`` samples ahead of time (control side)."""
        self._check_frames(frames)
        self._set_frames(frames)

    def _check_frames(self, n: int) -> None:
        if not 0 < n <= self.max_block_size:
            raise ValueError(f"block of {n} frames: must be in 1..{self.max_block_size}")

    def process(self, ctx: BlockContext) -> np.ndarray:
        """Run every step for a block of ``ctx.frames`` samples; returns :attr:`output`."""
        if self._split is not None:
            self.process_first(ctx)
            self.hand_off()
            return self.process_second(ctx)
        n = ctx.frames
        if n != self._frames:
            self._check_frames(n)
            self._set_frames(n)
        for eb in self._event_buffers:
            eb.count = 0
        for fn, ins, outs, ev_in, ev_out in self._calls:
            fn(ctx, ins, outs, ev_in, ev_out)
        return self.output

    def process_first(self, ctx: BlockContext) -> None:
        """A split plan's first stage for the block ``ctx`` describes."""
        n = ctx.frames
        if n != self._frames_first:
            self._check_frames(n)
            self._set_first_frames(n)
        for eb in self._events_first:
            eb.count = 0
        for fn, ins, outs, ev_in, ev_out in self._calls_first:
            fn(ctx, ins, outs, ev_in, ev_out)

    def hand_off(self) -> None:
        """Copy the block the first stage has just run into the slots the second stage reads; after
        this, the first stage may run the next block while the second runs this one."""
        split = self._split
        assert split is not None
        for src, dst in self._hand_views:
            dst[...] = src
        for esrc, edst in split.events:
            c = esrc.count
            edst.count = c
            edst.dropped = esrc.dropped
            if c:
                edst.offset[...] = esrc.offset
                edst.status[...] = esrc.status
                edst.data1[...] = esrc.data1
                edst.data2[...] = esrc.data2

    def process_second(self, ctx: BlockContext) -> np.ndarray:
        """A split plan's second stage for the block ``ctx`` describes (after :meth:`hand_off`);
        returns :attr:`output`."""
        n = ctx.frames
        if n != self._frames_second:
            self._check_frames(n)
            self._set_second_frames(n)
        for eb in self._events_second:
            eb.count = 0
        for fn, ins, outs, ev_in, ev_out in self._calls_second:
            fn(ctx, ins, outs, ev_in, ev_out)
        return self.output

    def reset(self) -> None:
        """Clear the plan's own delay lines (processors reset themselves through Engine.reset)."""
        for op in self._delay_ops.values():
            op.reset()
        for slot in self._steps:
            for b in slot.audio_out:
                b[:] = 0.0
        if self._split is not None:
            for _src, dst in self._split.audio:
                dst[:] = 0.0
            for _esrc, edst in self._split.events:
                edst.count = 0

    def adopt(self, previous: RenderPlan) -> None:
        """Audio side, at the swap: take over the events still queued in the previous plan's event delays
        whose delay changed (those that kept theirs are the same objects and simply carry on)."""
        for key, op in self._delay_ops.items():
            old = previous._delay_ops.get(key)
            if old is not None and old is not op and isinstance(op, _EventDelayOp):
                if isinstance(old, _EventDelayOp):
                    op.take_pending(old)

    def describe(self) -> str:
        return "\n".join(s.label for s in self._steps)


def _latencies(graph: Graph, order: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(latency at each node's output, latency at each node's inputs after alignment)."""
    out_lat: dict[str, int] = {}
    in_lat: dict[str, int] = {}
    incoming: dict[str, list[Connection]] = {name: [] for name in graph.nodes}
    for c in graph.connections:
        incoming[c.dest].append(c)
    for name, proc in graph.nodes.items():
        if isinstance(proc, Feedback):
            # a loop has no well-defined latency; the feedback path starts a fresh latency chain
            in_lat[name] = 0
            out_lat[name] = 0
    for name in order:
        proc = graph.nodes[name]
        if isinstance(proc, Feedback):
            continue
        lat = max((out_lat[c.source] for c in incoming[name]), default=0)
        in_lat[name] = lat
        own = int(proc.latency_samples)
        if own < 0:
            raise GraphError(f"node {name!r} reports negative latency {own}")
        out_lat[name] = lat + own
    for name, proc in graph.nodes.items():
        if isinstance(proc, Feedback):
            # what meets at a Feedback input is aligned like any other merge
            in_lat[name] = max((out_lat[c.source] for c in incoming[name]), default=0)
    return out_lat, in_lat


def compile_plan(
    graph: Graph,
    sample_rate: float,
    max_block_size: int,
    taps: Sequence[str] = (),
    output_channels: int = 2,
    previous: RenderPlan | None = None,
    first_stage: Collection[str] = (),
) -> RenderPlan:
    """Compile ``graph`` for ``sample_rate`` and blocks of up to ``max_block_size`` samples.

    ``taps`` names extra audio outputs (``"node.port"``) whose blocks stay readable after ``process``
    (stems, meters). Processors that are new, or prepared for another rate or block size, are prepared here.
    ``previous`` is the plan this one replaces: its latency-compensation delay lines carry on where a
    connection keeps its delay, and events waiting in a delay it drops move to the new one.
    ``first_stage`` names nodes that, with everything upstream of them, make a split plan's first stage
    (module docstring); a graph with feedback, or with nothing downstream of them, is not split.
    """
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not 1 <= max_block_size <= 1 << 16:
        raise ValueError(f"max_block_size must be in 1..65536, got {max_block_size}")
    order = graph.processing_order()
    nodes = graph.nodes
    first = _upstream(graph, first_stage)
    if first and (len(first) == len(nodes) or any(isinstance(p, Feedback) for p in nodes.values())):
        first = set()
    if first:  # the first stage first (a valid order: nothing upstream of it is outside it)
        order = [n for n in order if n in first] + [n for n in order if n not in first]
    for proc in nodes.values():
        if proc.sample_rate != float(sample_rate) or proc.max_block_size != max_block_size:
            proc.prepare(sample_rate, max_block_size)

    out_lat, in_lat = _latencies(graph, order)
    incoming: dict[str, list[Connection]] = {name: [] for name in nodes}
    readers: dict[tuple[str, str], int] = {}
    for c in graph.connections:
        incoming[c.dest].append(c)
        if c.kind == "audio":
            readers[(c.source, c.source_port)] = readers.get((c.source, c.source_port), 0) + 1

    pinned: set[tuple[str, str]] = set()
    tap_refs: dict[str, tuple[str, str]] = {}
    for ref in taps:
        node, _, port = ref.partition(".")
        proc = graph.node(node)
        names = [p.name for p in proc.audio_outputs]
        if not port and len(names) == 1:
            port = names[0]
        if port not in names:
            raise GraphError(f"tap {ref!r}: node {node!r} has no audio output {port!r} (outputs: {names})")
        pinned.add((node, port))
        tap_refs[ref] = (node, port)
    if graph.output is not None:
        pinned.add(graph.output)

    pool = _SlotPool(max_block_size)
    zeros: dict[int, np.ndarray] = {}
    produced: dict[tuple[str, str], np.ndarray] = {}
    event_produced: dict[tuple[str, str], EventBuffer] = {}
    all_event_buffers: list[EventBuffer] = []
    empty_events = EventBuffer(1)
    steps: list[_Step] = []
    delay_ops: dict[str, Any] = {}
    old_ops: dict[str, Any] = previous._delay_ops if previous is not None else {}
    delays = 0

    def zero(channels: int) -> np.ndarray:
        if channels not in zeros:
            zeros[channels] = np.zeros((channels, max_block_size), dtype=np.float32)
        return zeros[channels]

    def release(key: tuple[str, str], slot: np.ndarray) -> None:
        readers[key] -= 1
        if readers[key] == 0 and key not in pinned:
            pool.give(slot)

    def build_audio_input(name: str, port: str, channels: int, owned: list[np.ndarray]) -> np.ndarray:
        """The buffer a node reads for one input port, adding mix/delay steps as needed."""
        conns = [c for c in incoming[name] if c.kind == "audio" and c.dest_port == port]
        if not conns:
            return zero(channels)
        sources: list[tuple[Connection, np.ndarray]] = [
            (c, produced[(c.source, c.source_port)]) for c in conns
        ]
        delayed = [in_lat[name] - out_lat[c.source] for c in conns]
        if len(conns) == 1 and delayed[0] == 0 and sources[0][1].shape[0] == channels:
            return sources[0][1]
        nonlocal delays
        feeds: list[np.ndarray] = []
        temps: list[np.ndarray] = []
        for (c, slot), d in zip(sources, delayed, strict=True):
            if d > 0:
                key = f"audio {c}"
                old = old_ops.get(key)
                if (
                    isinstance(old, _DelayOp)
                    and old.delay_samples == d
                    and old.ring.shape[0] == slot.shape[0]
                ):
                    op = old  # the same delay line carries on across the swap
                else:
                    op = _DelayOp(slot.shape[0], d)
                delay_ops[key] = op
                tmp = pool.take(slot.shape[0])
                steps.append(_Step(op.process, f"delay {c} by {d}", [slot], [tmp]))
                feeds.append(tmp)
                temps.append(tmp)
                delays += 1
            else:
                feeds.append(slot)
        dst = pool.take(channels)
        steps.append(_Step(_MixOp().process, f"mix -> {name}.{port}", feeds, [dst]))
        for t in temps:
            pool.give(t)
        owned.append(dst)
        return dst

    def build_event_input(name: str, port: str) -> EventBuffer:
        conns = [c for c in incoming[name] if c.kind == "event" and c.dest_port == port]
        if not conns:
            return empty_events
        nonlocal delays
        feeds: list[EventBuffer] = []
        for c in conns:
            src = event_produced[(c.source, c.source_port)]
            d = in_lat[name] - out_lat[c.source]
            key = f"events {c}"
            old_e = old_ops.get(key)
            if d > 0 or isinstance(old_e, _EventDelayOp):
                # (a path that no longer needs a delay keeps a zero delay for one plan, so the events
                # the old delay still holds reach their destination)
                if isinstance(old_e, _EventDelayOp) and old_e.delay_samples == d:
                    eop = old_e  # the same object carries on: nothing to hand over
                else:
                    eop = _EventDelayOp(d)  # adopt() moves the old queue over at the swap
                delay_ops[key] = eop
                buf = EventBuffer(src.capacity)
                all_event_buffers.append(buf)
                steps.append(
                    _Step(eop.process, f"delay events {c} by {d}", events_in=[src], events_out=[buf])
                )
                delays += 1
                feeds.append(buf)
            else:
                feeds.append(src)
        if len(feeds) == 1:
            return feeds[0]
        merged = EventBuffer(max(f.capacity for f in feeds))
        all_event_buffers.append(merged)
        steps.append(
            _Step(
                _MergeOp(len(feeds)).process, f"merge -> {name}.{port}", events_in=feeds, events_out=[merged]
            )
        )
        return merged

    # Feedback nodes hand out last block's audio before anything else runs.
    feedbacks = [n for n in order if isinstance(nodes[n], Feedback)]
    for name in feedbacks:
        fb = nodes[name]
        assert isinstance(fb, Feedback)
        slot = pool.take(fb.channels)
        produced[(name, "out")] = slot
        steps.append(_Step(_FeedbackReadOp(fb).process, f"feedback read {name}", [], [slot]))
        if readers.get((name, "out"), 0) == 0 and (name, "out") not in pinned:
            pool.give(slot)

    split: _Split | None = None
    for name in order:
        proc = nodes[name]
        if isinstance(proc, Feedback):
            continue
        if first and split is None and name not in first:
            split = _hand_over(pool, produced, event_produced, readers, pinned, first, graph, steps,
                               all_event_buffers)  # fmt: skip
        owned: list[np.ndarray] = []
        ins = [build_audio_input(name, p.name, p.channels, owned) for p in proc.audio_inputs]
        ev_in = [build_event_input(name, p.name) for p in proc.event_inputs]
        # sources whose last reader is this node
        dying: list[tuple[tuple[str, str], np.ndarray]] = []
        for c in incoming[name]:
            if c.kind == "audio":
                key = (c.source, c.source_port)
                dying.append((key, produced[key]))
        outs: list[np.ndarray] = []
        aliased: np.ndarray | None = None
        for k, p in enumerate(proc.audio_outputs):
            if k == 0 and proc.in_place and ins and ins[0].shape[0] == p.channels:
                cand = ins[0]
                # the contract lets audio_out[0] share only with audio_in[0], never with another input
                shared_elsewhere = any(cand is other for other in ins[1:])
                is_owned = any(o is cand for o in owned)
                # a source buffer can be taken over when this node is its last reader
                keys = [key for key, slot in dying if slot is cand]
                direct_dies = bool(keys) and all(
                    readers[key] == keys.count(key) and key not in pinned for key in keys
                )
                if (is_owned or direct_dies) and not shared_elsewhere:
                    aliased = cand
                    outs.append(cand)
                    continue
            outs.append(pool.take(p.channels))
        ev_out = []
        for ep in proc.event_outputs:
            buf = EventBuffer()
            all_event_buffers.append(buf)
            event_produced[(name, ep.name)] = buf
            ev_out.append(buf)
        steps.append(_Step(proc.process, f"node {name}", ins, outs, ev_in, ev_out))
        for k, p in enumerate(proc.audio_outputs):
            produced[(name, p.name)] = outs[k]
        # free what this node consumed, then outputs that nobody reads
        for key, slot in dying:
            readers[key] -= 1
            if readers[key] == 0 and key not in pinned and slot is not aliased:
                pool.give(slot)
        for o in owned:
            if o is not aliased:
                pool.give(o)
        for k, p in enumerate(proc.audio_outputs):
            key = (name, p.name)
            if readers.get(key, 0) == 0 and key not in pinned:
                pool.give(outs[k])

    for name in feedbacks:
        fb = nodes[name]
        assert isinstance(fb, Feedback)
        owned = []
        inp = build_audio_input(name, "in", fb.channels, owned)
        steps.append(_Step(_FeedbackStoreOp(fb).process, f"feedback store {name}", [inp], []))
        for c in incoming[name]:
            if c.kind == "audio":
                key = (c.source, c.source_port)
                release(key, produced[key])
        for o in owned:
            pool.give(o)

    if graph.output is not None:
        output_slot = produced[graph.output]
        latency = out_lat[graph.output[0]]
    else:
        output_slot = zero(output_channels)
        latency = 0
    tap_slots = {ref: produced[key] for ref, key in tap_refs.items()}
    tap_latency = {ref: out_lat[key[0]] for ref, key in tap_refs.items()}
    by_ch: dict[int, int] = {}
    for s in pool.all:
        by_ch[s.shape[0]] = by_ch.get(s.shape[0], 0) + 1
    stats = PlanStats(
        nodes=len(nodes),
        steps=len(steps),
        audio_slots=len(pool.all),
        slots_by_channels=by_ch,
        delays=delays,
        latency_samples=latency,
    )
    return RenderPlan(
        steps,
        output_slot,
        tap_slots,
        [nodes[n] for n in order],
        all_event_buffers,
        delay_ops,
        stats,
        float(sample_rate),
        max_block_size,
        order,
        tap_latency,
        split,
    )


def _upstream(graph: Graph, names: Collection[str]) -> set[str]:
    """``names`` and every node upstream of them."""
    for n in names:
        graph.node(n)  # an unknown name is an error
    sources: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for c in graph.connections:
        sources[c.dest].append(c.source)
    found: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n not in found:
            found.add(n)
            todo += sources[n]
    return found


def _hand_over(
    pool: _SlotPool,
    produced: dict[tuple[str, str], np.ndarray],
    event_produced: dict[tuple[str, str], EventBuffer],
    readers: dict[tuple[str, str], int],
    pinned: set[tuple[str, str]],
    first: set[str],
    graph: Graph,
    steps: list[_Step],
    event_buffers: list[EventBuffer],
) -> _Split:
    """At the end of the first stage: every first-stage output still to be read (or kept) gets a copy of
    its own for the second stage, which reads that instead; the second stage never reuses a first-stage
    slot."""
    pool.free.clear()
    audio: list[tuple[np.ndarray, np.ndarray]] = []
    for key, slot in list(produced.items()):
        if readers.get(key, 0) > 0 or key in pinned:
            copy = pool.take(slot.shape[0])
            audio.append((slot, copy))
            produced[key] = copy
    events: list[tuple[EventBuffer, EventBuffer]] = []
    read_later = {
        (c.source, c.source_port) for c in graph.connections if c.kind == "event" and c.dest not in first
    }
    for key, buf in list(event_produced.items()):
        if key in read_later:
            ecopy = EventBuffer(buf.capacity)
            events.append((buf, ecopy))
            event_produced[key] = ecopy
    return _Split(len(steps), len(event_buffers), audio, events)
