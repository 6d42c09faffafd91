"""A bounded single-producer/single-consumer queue between the control side and the audio side.

The ring of slots is allocated once. ``try_push`` (producer) and ``try_pop`` (consumer) never block and
never allocate: each side writes only its own index, and a slot is published by advancing the index
after the slot is written, so one producer and one consumer need no lock.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["SPSCQueue"]

T = TypeVar("T")


class SPSCQueue(Generic[T]):
    """Bounded lock-free queue for exactly one producer thread and one consumer thread."""

    __slots__ = ("_capacity", "_head", "_slots", "_tail", "dropped")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity + 1  # one slot stays empty to tell full from empty
        self._slots: list[T | None] = [None] * self._capacity
        self._head = 0  # next slot to read (consumer owns)
        self._tail = 0  # next slot to write (producer owns)
        self.dropped = 0

    def try_push(self, item: T) -> bool:
        """Producer: enqueue, or return False (and count a drop) when full."""
        tail = self._tail
        nxt = tail + 1
        if nxt == self._capacity:
            nxt = 0
        if nxt == self._head:
            self.dropped += 1
            return False
        self._slots[tail] = item
        self._tail = nxt
        return True

    def try_pop(self) -> T | None:
        """Consumer: dequeue the oldest item, or None when empty."""
        head = self._head
        if head == self._tail:
            return None
        item = self._slots[head]
        self._slots[head] = None
        nxt = head + 1
        self._head = 0 if nxt == self._capacity else nxt
        return item

    def __len__(self) -> int:
        return (self._tail - self._head) % self._capacity

    @property
    def capacity(self) -> int:
        return self._capacity - 1
