"""Streaming audio through pedalboard plugins block by block, at a fixed latency.

pedalboard's ``process(..., reset=False)`` continues a stream, but two of its habits need care:

- It trims a plugin's latency from the start of the stream: while the plugin's delay line fills it hands
  back *fewer* samples than it was given (pedalboard compensates latency itself). An engine block must
  always produce its full length, so :class:`OutputQueue` puts the delay back: it starts holding
  ``latency`` samples of silence, takes whatever pedalboard returns and gives out exactly a block. The
  output is then the plugin's input delayed by its ``latency_samples``, which the render plan compensates.
- It re-prepares a plugin (for VST3: deactivates and reactivates it, losing tails and envelopes) whenever
  a call is longer than any call before it since the last reset. :func:`prime` therefore starts every
  stream with one call of the largest block size (silence), so later, shorter calls never re-prepare.

Helpers here only run on the control side, except :class:`OutputQueue`'s :meth:`~OutputQueue.push` and
:meth:`~OutputQueue.pop_into`, which copy between preallocated buffers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["OutputQueue", "is_external", "measure_latency", "prime", "probe_widths"]


def is_external(plugin: Any) -> bool:
    """True for a VST3/AU plugin (pedalboard's ExternalPlugin), False for its built-in effects."""
    import pedalboard

    return isinstance(plugin, pedalboard.ExternalPlugin)


class OutputQueue:
    """A ring of output samples between pedalboard and the engine (see the module docstring)."""

    __slots__ = ("buf", "cap", "fill", "overruns", "read", "underruns")

    def __init__(self, channels: int, latency: int, max_block_size: int) -> None:
        self.cap = latency + 2 * max_block_size + 1
        self.buf = np.zeros((channels, self.cap), dtype=np.float32)
        self.read = 0
        self.fill = 0
        self.underruns = 0  # blocks that found fewer samples than they needed (a plugin later than reported)
        self.overruns = 0  # samples dropped because the ring was full (a plugin earlier than reported)

    def clear(self, preload: int) -> None:
        """Empty the ring, then hold ``preload`` samples of silence (the part of the latency still owed)."""
        self.buf[:] = 0.0
        self.read = 0
        self.fill = min(max(0, preload), self.cap)

    def push(self, y: np.ndarray) -> None:
        m = y.shape[-1]
        room = self.cap - self.fill
        if m > room:
            self.overruns += m - room
            m = room
        if m <= 0:
            return
        cap = self.cap
        w = (self.read + self.fill) % cap
        first = min(m, cap - w)
        self.buf[:, w : w + first] = y[:, :first]
        if m > first:
            self.buf[:, : m - first] = y[:, first:m]
        self.fill += m

    def pop_into(self, dest: np.ndarray) -> None:
        """Fill ``dest`` (channels, n) with the next n samples; on an underrun the missing ones are silence
        at the front (the samples that did arrive keep their place at the end)."""
        n = dest.shape[-1]
        short = n - self.fill if n > self.fill else 0
        if short:
            dest[:, :short] = 0.0
            self.underruns += 1
        k = n - short
        if k <= 0:
            return
        cap = self.cap
        r = self.read
        first = min(k, cap - r)
        dest[:, short : short + first] = self.buf[:, r : r + first]
        if k > first:
            dest[:, short + first : n] = self.buf[:, : k - first]
        self.read = (r + k) % cap
        self.fill -= k


def prime(plugin: Any, sample_rate: float, channels: int, length: int) -> int:
    """Start a fresh stream: reset, then run ``length`` silent samples through (see the module docstring).

    A built-in effect is reset again afterwards (its reset keeps the prepared block size), so it starts
    from a clean state; a VST3/AU plugin is not (its reset would undo the preparation). Returns the samples
    pedalboard still owes, i.e. how much of the latency the silence has not filled yet.
    """
    plugin.reset()
    silence = np.zeros((channels, length), dtype=np.float32)
    out = plugin.process(silence, sample_rate, buffer_size=length, reset=False)
    if not is_external(plugin):
        plugin.reset()
        return 0
    return length - int(out.shape[-1])


def measure_latency(
    plugin: Any, sample_rate: float, channels: int, length: int, max_seconds: float = 10.0
) -> int | None:
    """The latency pedalboard trims from a built-in effect (which does not report it to Python): the
    largest shortfall of output against input over a stream of silence, until output has flowed for 16
    calls, plus one call's length where it is not 0 (a plugin that delivers in bursts, as Rubber Band
    does, varies its timing a little with the signal: the margin keeps the stream from running dry).
    None if nothing came out within ``max_seconds``. The plugin is reset afterwards."""
    plugin.reset()
    silence = np.zeros((channels, length), dtype=np.float32)
    fed = got = flowing = worst = 0
    while fed < max_seconds * sample_rate:
        out = plugin.process(silence, sample_rate, buffer_size=length, reset=False)
        fed += length
        got += int(out.shape[-1])
        worst = max(worst, fed - got)
        if got:
            flowing += 1
            if flowing >= 16:
                break
    plugin.reset()
    if not got:
        return None
    return worst + length if worst else 0


def probe_widths(
    plugin: Any, sample_rate: float, candidates: tuple[int, ...] = (2, 1)
) -> tuple[list[int], dict[int, str]]:
    """The main-bus widths among ``candidates`` (channels) a plugin processes, and pedalboard's message for
    each width it refused. pedalboard's VST3 host feeds the main bus only (no sidechain bus)."""
    ok: list[int] = []
    refused: dict[int, str] = {}
    for ch in candidates:
        try:
            plugin.process(np.zeros((ch, 64), dtype=np.float32), sample_rate, buffer_size=64, reset=True)
        except Exception as exc:  # pedalboard raises ValueError/RuntimeError: any refusal counts
            refused[ch] = str(exc)
        else:
            ok.append(ch)
    return ok, refused
