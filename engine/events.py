"""Preallocated MIDI event buffers that travel along event ports.

An :class:`EventBuffer` holds the events of one block for one port as parallel arrays (struct of arrays),
so Numba kernels can read them directly and the audio side never allocates. Events are kept in order of
``offset`` (the sample inside the block). Messages are plain MIDI bytes: ``status`` (kind | channel),
``data1``, ``data2``; pitch bend keeps its 14-bit value as data1 (LSB) and data2 (MSB).

Call :meth:`EventBuffer.clear` at the start of a block, then :meth:`EventBuffer.push` in offset order.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHANNEL_AFTERTOUCH",
    "CONTROL_CHANGE",
    "DEFAULT_EVENT_CAPACITY",
    "NOTE_OFF",
    "NOTE_ON",
    "PITCH_BEND",
    "POLY_AFTERTOUCH",
    "PROGRAM_CHANGE",
    "EventBuffer",
    "merge_into",
]

# MIDI status kinds (upper nibble); the channel 0..15 is the lower nibble.
NOTE_OFF = 0x80
NOTE_ON = 0x90
POLY_AFTERTOUCH = 0xA0
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_AFTERTOUCH = 0xD0
PITCH_BEND = 0xE0

DEFAULT_EVENT_CAPACITY = 4096


class EventBuffer:
    """Events of one block on one port: parallel arrays with a fixed capacity.

    ``count`` events are valid. ``dropped`` counts events refused because the buffer was full (the audio
    side never grows a buffer; the control side reads the count as an overflow report).
    """

    __slots__ = ("capacity", "count", "data1", "data2", "dropped", "offset", "status")

    def __init__(self, capacity: int = DEFAULT_EVENT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.offset = np.zeros(capacity, dtype=np.int32)
        self.status = np.zeros(capacity, dtype=np.uint8)
        self.data1 = np.zeros(capacity, dtype=np.uint8)
        self.data2 = np.zeros(capacity, dtype=np.uint8)
        self.count = 0
        self.dropped = 0

    def clear(self) -> None:
        self.count = 0

    def push(self, offset: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        """Append one event; returns False (and counts a drop) when the buffer is full."""
        i = self.count
        if i >= self.capacity:
            self.dropped += 1
            return False
        self.offset[i] = offset
        self.status[i] = status
        self.data1[i] = data1
        self.data2[i] = data2
        self.count = i + 1
        return True

    def as_list(self) -> list[tuple[int, int, int, int]]:
        """The events as (offset, status, data1, data2) tuples; for tests and the control side only."""
        n = self.count
        return list(
            zip(
                self.offset[:n].tolist(),
                self.status[:n].tolist(),
                self.data1[:n].tolist(),
                self.data2[:n].tolist(),
                strict=True,
            )
        )

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"EventBuffer(count={self.count}, capacity={self.capacity})"


def merge_into(dst: EventBuffer, sources: list[EventBuffer], heads: list[int]) -> None:
    """Merge several offset-ordered buffers into ``dst``, keeping offset order (stable by source order).

    ``heads`` is a preallocated scratch list with one entry per source (the audio side never allocates).
    """
    dst.count = 0
    if len(sources) == 1:
        src = sources[0]
        n = min(src.count, dst.capacity)
        if n:
            dst.offset[:n] = src.offset[:n]
            dst.status[:n] = src.status[:n]
            dst.data1[:n] = src.data1[:n]
            dst.data2[:n] = src.data2[:n]
        dst.count = n
        dst.dropped += src.count - n
        return
    # k-way merge over small buffers; k is the fan-in of one port, typically 2..4.
    for k in range(len(sources)):
        heads[k] = 0
    while True:
        best = -1
        best_offset = 0
        for k, src in enumerate(sources):
            h = heads[k]
            if h < src.count:
                off = int(src.offset[h])
                if best < 0 or off < best_offset:
                    best = k
                    best_offset = off
        if best < 0:
            return
        src = sources[best]
        h = heads[best]
        dst.push(best_offset, int(src.status[h]), int(src.data1[h]), int(src.data2[h]))
        heads[best] = h + 1
