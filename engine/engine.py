"""The engine: a graph, its current render plan, a transport, and the block loop that live and offline share.

Control side: edit :attr:`Engine.graph`, then :meth:`Engine.commit` compiles a new plan and posts it; the
audio side swaps it in whole at the top of its next block and hands the old plan back, to be dropped on
the control side by :meth:`Engine.collect`. Audio side: :meth:`Engine.process_block` runs one block and
returns the output view; a live device calls it from its callback, the offline renderer in a loop.
"""

from __future__ import annotations

import threading

import numpy as np

from engine.graph import Graph
from engine.params import Parameter
from engine.plan import RenderPlan, compile_plan
from engine.processor import BlockContext
from engine.queues import SPSCQueue
from engine.tempo import TempoMap
from engine.transport import Transport

__all__ = ["Engine"]

SCHEDULE_CAPACITY = 1024
SAMPLE_RATES = (22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


class Engine:
    """Runs a :class:`Graph` block by block at a fixed sample rate and maximum block size."""

    def __init__(
        self,
        graph: Graph | None = None,
        sample_rate: float = 48000,
        max_block_size: int = 512,
        tempo_map: TempoMap | None = None,
        taps: tuple[str, ...] = (),
        first_stage: tuple[str, ...] = (),
    ) -> None:
        if int(sample_rate) != sample_rate or int(sample_rate) not in SAMPLE_RATES:
            rates = ", ".join(str(r) for r in SAMPLE_RATES)
            raise ValueError(f"sample rate must be one of {rates} Hz, got {sample_rate}")
        if not 1 <= max_block_size <= 16384:
            raise ValueError(f"block size must be in 1..16384 samples, got {max_block_size}")
        self.graph = graph if graph is not None else Graph()
        self.sample_rate = float(sample_rate)
        self.max_block_size = int(max_block_size)
        self.transport = Transport(tempo_map or TempoMap(), self.sample_rate, self.max_block_size)
        self.ctx = BlockContext(self.sample_rate)
        self.taps = tuple(taps)
        # nodes whose plan stage may run a block ahead in offline renders (engine.pipeline)
        self.first_stage = tuple(first_stage)
        self._plan: RenderPlan | None = None
        self._compiled_version = -1
        self._pending: SPSCQueue[RenderPlan] = SPSCQueue(8)
        self._retired: SPSCQueue[RenderPlan] = SPSCQueue(64)
        self.errors: SPSCQueue[BaseException] = SPSCQueue(64)
        self.raise_errors = True  # offline: raise; a live device sets False and reads `errors`
        self._silence = np.zeros((2, self.max_block_size), dtype=np.float32)
        self.plan_swaps = 0
        # frames run since the engine was made: the clock that scheduled changes are placed on
        self.frame_clock = 0
        self._scheduled: SPSCQueue[tuple[int, Parameter, float]] = SPSCQueue(SCHEDULE_CAPACITY)
        self._schedule_lock = threading.Lock()  # between producers only; the audio side never takes it
        self._waiting: list[tuple[int, Parameter, float]] = []
        self.schedule_refused = 0  # changes whose value the parameter refused when they came due

    # -- control side -----------------------------------------------------------------------------------
    def commit(self) -> RenderPlan:
        """Compile the graph if it (or a processor's latency) changed since the last commit, and post
        the plan to the audio side."""
        self.collect()
        latencies = tuple(p.latency_samples for p in self.graph.nodes.values())
        if (
            self._compiled_version == self.graph.version
            and self._latest is not None
            and latencies == self._compiled_latencies
        ):
            return self._latest
        plan = compile_plan(
            self.graph,
            self.sample_rate,
            self.max_block_size,
            taps=self.taps,
            previous=self._latest,
            first_stage=[n for n in self.first_stage if n in self.graph.nodes],
        )
        plan.prepare_frames(self.max_block_size)
        self._compiled_version = self.graph.version
        self._compiled_latencies = latencies  # a processor whose latency changes needs a new plan
        self._latest = plan
        if self._plan is None:
            self._plan = plan
        elif not self._pending.try_push(plan):
            raise RuntimeError("too many plans waiting: the audio side is not running")
        return plan

    _latest: RenderPlan | None = None
    _compiled_latencies: tuple[int, ...] = ()

    def schedule(self, frame: int, param: Parameter, value: float) -> bool:
        """Change ``param`` to ``value`` at engine frame ``frame`` (see :attr:`frame_clock`), to the sample;
        a frame already past applies at the next block's first sample. False if the queue is full. The
        value is checked now (ValueError), and again by the parameter when it comes due."""
        param.validate(value)
        with self._schedule_lock:
            return self._scheduled.try_push((int(frame), param, float(value)))

    @property
    def plan(self) -> RenderPlan | None:
        """The plan the audio side runs now."""
        return self._plan

    def collect(self) -> int:
        """Drop plans the audio side has retired; returns how many."""
        n = 0
        while self._retired.try_pop() is not None:
            n += 1
        return n

    def reset(self) -> None:
        """Silence everything: every processor and the plan's delay lines (call while stopped)."""
        for proc in self.graph.nodes.values():
            proc.reset()
        if self._plan is not None:
            self._plan.reset()

    @property
    def latency_samples(self) -> int:
        return self._plan.latency_samples if self._plan is not None else 0

    # -- audio side -------------------------------------------------------------------------------------
    def process_block(self, frames: int) -> np.ndarray:
        """Run one block of ``frames`` samples; returns the output view ``(channels, frames)``."""
        self.take_plan()
        plan = self._plan
        ctx = self.ctx
        self.begin_block(frames)
        if plan is None:
            return self._silence[:, :frames]
        try:
            out = plan.process(ctx)
        except Exception as exc:  # a live stream must go on; offline renders raise
            if self.raise_errors:
                raise
            self.errors.try_push(exc)
            out = self._silence[:, :frames]
        ctx.block_index += 1
        return out

    def take_plan(self) -> RenderPlan | None:
        """Audio side: swap in the newest committed plan, if one waits; returns the plan to run."""
        nxt = self._pending.try_pop()
        if nxt is not None:
            while True:  # a burst of commits: only the newest matters
                newer = self._pending.try_pop()
                if newer is None:
                    break
                self._retired.try_push(nxt)
                nxt = newer
            old = self._plan
            if old is not None:
                nxt.adopt(old)
            self._plan = nxt
            self.plan_swaps += 1
            if old is not None:
                self._retired.try_push(old)
        return self._plan

    def begin_block(self, frames: int) -> None:
        """Audio side: apply the changes scheduled in the next ``frames`` frames and describe that block
        in :attr:`ctx` (the transport moves on); :meth:`process_block` does this first."""
        if self._waiting or len(self._scheduled):
            self._apply_scheduled(frames)
        self.frame_clock += frames
        self.transport.begin_block(self.ctx, frames)

    def begin_block_ahead(self, frames: int) -> bool:
        """Offline, for a block begun before the one in hand is finished (:mod:`engine.pipeline`): begin it
        only if no scheduled change waits (those must find the block before theirs done), holding off
        producers meanwhile; False when one waits and nothing was begun."""
        with self._schedule_lock:
            if self._waiting or len(self._scheduled):
                return False
            self.frame_clock += frames
            self.transport.begin_block(self.ctx, frames)
            return True

    def _apply_scheduled(self, frames: int) -> None:
        waiting = self._waiting
        while True:
            item = self._scheduled.try_pop()
            if item is None:
                break
            k = len(waiting)
            while k > 0 and waiting[k - 1][0] > item[0]:
                k -= 1
            waiting.insert(k, item)
        start = self.frame_clock
        end = start + frames
        k = 0
        while k < len(waiting) and waiting[k][0] < end:
            frame, param, value = waiting[k]
            if param.change_pending:
                k += 1  # one change per parameter per block: the next waits for the next block
                continue
            if not param.set_at(value, frame - start):
                self.schedule_refused += 1
            del waiting[k]
