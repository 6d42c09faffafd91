"""Offline rendering in two stages at once: the next block's instruments while this block's mix.

A render's blocks go through the plan one after the other, and most of a block is the instruments
(:mod:`engine.rack` renders them on several threads) and then the mix after them (strips, sends, buses,
the master chain), which waits for the last instrument. With a plan split in two stages
(:func:`engine.plan.compile_plan` with ``first_stage``: the instrument rack and its sequencers),
:class:`PipelinedBlocks` runs block ``N + 1``'s first stage on a worker thread while block ``N``'s second
stage runs on the caller's: the transport has moved on to ``N + 1`` by then, so the second stage gets a
copy of block ``N``'s context, and the first stage's outputs were copied for it
(:meth:`engine.plan.RenderPlan.hand_off`). Each stage still sees its blocks in order and with the context
of its own block, so the output is the same as block by block, to the bit.

It is for offline renders only: handing a block to a thread and waiting for it blocks. Changes scheduled on
the engine (:meth:`engine.engine.Engine.schedule`) apply when their block begins, so while any wait, blocks
run one at a time; one scheduled from another thread once the next block has begun applies from the block
after it, as a change for a frame already begun does. After a render that stops early (an automatic tail),
the first stage has run one block past the last output.
"""

from __future__ import annotations

import queue
import threading
import weakref

import numpy as np

from engine.engine import Engine
from engine.processor import BlockContext

__all__ = ["PipelinedBlocks"]


def _work(jobs: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    while True:
        item = jobs.get()
        if item is None:
            return
        plan, ctx = item
        try:
            plan.process_first(ctx)
            done.put(None)
        except BaseException as exc:  # handed back to the render's thread, which raises it
            done.put(exc)


class PipelinedBlocks:
    """Runs ``engine``'s split plan block by block with the stages overlapped (module docstring).

    Call :meth:`process_block` with each block's length and the next block's (0 for none), then
    :meth:`close`. The engine's plan must not change in between."""

    def __init__(self, engine: Engine) -> None:
        plan = engine.take_plan()
        if plan is None or not plan.split:
            raise ValueError("the engine's plan is not split in two stages")
        self.engine = engine
        self.plan = plan
        self._ctx = BlockContext(engine.sample_rate)  # the context of the block the second stage runs
        self._ahead = 0  # frames of the block whose first stage is on the worker (0: none)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=_work, args=(self._jobs, self._done), daemon=True, name="strum-pipeline"
        )
        self._thread.start()
        weakref.finalize(self, self._jobs.put, None)  # the worker ends with this object

    def process_block(self, frames: int, next_frames: int = 0) -> np.ndarray:
        """Run one block of ``frames`` samples and return the engine's output view for it; with
        ``next_frames`` above 0, the next block's first stage starts on the worker meanwhile."""
        eng, plan = self.engine, self.plan
        if self._ahead:
            started = self._ahead
            self._wait()
            if started != frames:
                raise ValueError(f"block of {frames} frames, but {started} were started ahead")
        else:
            eng.begin_block(frames)
            plan.process_first(eng.ctx)
        plan.hand_off()
        ctx = self._ctx
        ctx.copy_from(eng.ctx)
        eng.ctx.block_index += 1
        # a change scheduled on the engine must find the block before it done: no overlap while any wait
        if next_frames > 0 and eng.begin_block_ahead(next_frames):
            self._jobs.put((plan, eng.ctx))
            self._ahead = next_frames
        try:
            return plan.process_second(ctx)
        except BaseException:
            self.close()
            raise

    def _wait(self) -> None:
        self._ahead = 0
        error = self._done.get()
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for a block still on the worker (its error, if any, is dropped) and stop the worker."""
        if self._ahead:
            self._ahead = 0
            self._done.get()
        self._jobs.put(None)
