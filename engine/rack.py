"""Instruments rendered side by side: one graph node that runs several instruments on worker threads.

Offline renders of songs with many tracks spend most of their time in instrument kernels that release
the GIL (the synth, the sampler and the drum machine: ``parallel_safe = True``, each rendering a block in
one kernel call, so that the GIL is not handed back and forth at every event). :class:`InstrumentRack`
takes such instruments and, every block, splits them between the calling thread and ``threads - 1``
worker threads, balanced by what each one cost in the blocks before; it returns when all are done, so the
plan sees one ordinary step. Each instrument keeps its own event input (``midi<k>``) and audio outputs
(its ports' names with ``<k>`` appended: ``out<k>``, and for a sampler with sends ``reverb<k>`` and
``chorus<k>``), its parameters and its automation.

It is for offline rendering only: handing work to threads and waiting for it blocks, which the audio
callback must never do. :meth:`engine.session.Session.build` puts one in the graph when asked for
``render_threads`` above 1; the live engine keeps one node per instrument.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Sequence

import numpy as np

from engine.events import EventBuffer
from engine.processor import AudioPort, BlockContext, EventPort, Processor

__all__ = ["InstrumentRack", "rackable"]


def rackable(proc: Processor) -> bool:
    """Whether ``proc`` can render in a rack: declared ``parallel_safe``, MIDI in, audio out, no audio
    input, no latency."""
    return (
        bool(getattr(proc, "parallel_safe", False))
        and len(proc.event_inputs) == 1
        and len(proc.audio_outputs) >= 1
        and not proc.audio_inputs
        and proc.latency_samples == 0
    )


def _work(jobs: queue.SimpleQueue, done: queue.SimpleQueue, index: int) -> None:
    # a worker: renders the instruments it is handed, reports how long each took (or what it raised)
    while True:
        item = jobs.get()
        if item is None:
            return
        block, ctx, tasks = item
        try:
            costs = []
            for inst, outs, evs in tasks:
                t0 = time.perf_counter()
                inst.process(ctx, (), outs, evs, ())
                costs.append(time.perf_counter() - t0)
            done.put((block, index, costs))
        except BaseException as exc:  # handed back to the plan's thread, which raises it
            done.put((block, index, exc))


class InstrumentRack(Processor):
    """``instruments`` (each :func:`rackable`) rendered on ``threads`` threads, the caller's included."""

    def __init__(self, instruments: Sequence[Processor], threads: int = 2) -> None:
        super().__init__()
        for k, inst in enumerate(instruments):
            if not rackable(inst):
                raise ValueError(f"instrument {k} ({type(inst).__name__}) cannot render in a rack")
        self.instruments = list(instruments)
        self.threads = max(1, min(int(threads), len(self.instruments)))
        self.event_inputs = tuple(EventPort(f"midi{k}") for k in range(len(self.instruments)))
        ports: list[AudioPort] = []
        self._first_output: list[int] = []  # where instrument k's outputs start among the rack's
        for k, inst in enumerate(self.instruments):
            self._first_output.append(len(ports))
            ports += [AudioPort(f"{port.name}{k}", port.channels) for port in inst.audio_outputs]
        self.audio_outputs = tuple(ports)
        self._cost = np.zeros(len(self.instruments))
        self._block = 0  # blocks handed out: a result from an earlier, abandoned block is dropped
        self._jobs: list[queue.SimpleQueue] = []
        self._done: queue.SimpleQueue = queue.SimpleQueue()

    def _start_workers(self) -> None:
        if self._jobs or self.threads < 2:
            return
        for index in range(1, self.threads):
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            args = (jobs, self._done, index)
            threading.Thread(target=_work, args=args, daemon=True, name="strum-rack").start()
            weakref.finalize(self, jobs.put, None)  # the worker ends with the rack
            self._jobs.append(jobs)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Prepare every instrument, and start the worker threads."""
        super().prepare(sample_rate, max_block_size)
        for inst in self.instruments:
            inst.prepare(sample_rate, max_block_size)
        self._start_workers()

    def set_tempo_map(self, tempo_map: object) -> None:
        """Hand the song's tempo map to the instruments that follow it (tempo-synced LFOs)."""
        for inst in self.instruments:
            setter = getattr(inst, "set_tempo_map", None)
            if callable(setter):
                setter(tempo_map)

    def reset(self) -> None:
        super().reset()
        for inst in self.instruments:
            inst.reset()

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        """Render every instrument's block into its output; returns when all are done."""
        self._start_workers()  # a rack used before prepare() (a test driving it by hand) still splits work
        self._block += 1
        block = self._block
        tasks = []
        for k in np.argsort(-self._cost, kind="stable"):
            inst = self.instruments[k]
            first = self._first_output[k]
            outs = tuple(audio_out[first : first + len(inst.audio_outputs)])
            tasks.append((k, (inst, outs, (events_in[k],))))
        # the costliest first, each to the least loaded thread (the caller is thread 0)
        loads = [0.0] * self.threads
        shares: list[list[tuple[int, tuple]]] = [[] for _ in range(self.threads)]
        for k, task in tasks:
            t = loads.index(min(loads))
            shares[t].append((k, task))
            loads[t] += self._cost[k] + 1e-9
        for t, jobs in enumerate(self._jobs, start=1):
            jobs.put((block, ctx, [task for _k, task in shares[t]]))
        error: BaseException | None = None
        try:
            for k, (inst, outs, evs) in shares[0]:
                t0 = time.perf_counter()
                inst.process(ctx, (), outs, evs, ())
                self._cost[k] = 0.8 * self._cost[k] + 0.2 * (time.perf_counter() - t0)
        except BaseException as exc:
            error = exc
        waiting = len(self._jobs)
        while waiting:  # every worker's answer for this block, whatever the caller's share raised
            got, index, result = self._done.get()
            if got != block:
                continue  # left over from a block whose wait was interrupted
            waiting -= 1
            if isinstance(result, BaseException):
                error = error or result
                continue
            for (k, _task), cost in zip(shares[index], result, strict=True):
                self._cost[k] = 0.8 * self._cost[k] + 0.2 * cost
        if error is not None:
            raise error
