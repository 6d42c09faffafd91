"""Autosave of a live session: a background thread that saves it at an interval when it changed.

Built on :func:`presets.storage.atomic_write`, so an autosave interrupted by a crash leaves the previous
autosave whole. Control side only: never call any of this from an audio callback.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from presets.storage import PathLike, atomic_write

__all__ = ["Autosaver"]

log = logging.getLogger(__name__)


class Autosaver:
    """Saves a live session to an autosave file every ``interval_s`` seconds on a background thread.

    ``snapshot()`` returns the session as text or bytes; it is called on the autosave thread (and on the
    caller's thread by :meth:`save_now`), so it must be safe to call while the session is edited. A write
    happens only when the snapshot changed since the last successful write, through
    :func:`atomic_write` (no ``.bak``). A failing save is kept in :attr:`last_error` (None again after a
    later success) and tried again at the next interval; it never stops the thread. Use it as a context
    manager, or :meth:`start` and :meth:`stop`. Control side only: never from an audio callback.
    """

    def __init__(self, snapshot: Callable[[], str | bytes], path: PathLike, interval_s: float = 30.0) -> None:
        if not interval_s > 0:  # also rejects NaN
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.snapshot = snapshot
        self.path = Path(path)
        self.interval_s = float(interval_s)
        self.saves = 0
        self.failures = 0
        self.last_error: Exception | None = None
        self._digest: bytes | None = None
        self._lock = threading.Lock()  # one save at a time: the thread and save_now() never interleave
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Autosaver:
        """Start the autosave thread; the first save comes after one interval."""
        if self._thread is not None:
            raise RuntimeError("the autosaver is already running; call stop() first")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=f"autosave {self.path.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> bool:
        """Stop at once, save the last change (on the autosave thread), join it.

        Returns True when the latest snapshot is on disk; otherwise :attr:`last_error` says why.
        """
        thread = self._thread
        if thread is not None:
            self._stop.set()
            thread.join()
            self._thread = None
        return self.last_error is None

    def save_now(self) -> bool:
        """Save now if the snapshot changed; returns whether it wrote. Raises what the save raised."""
        with self._lock:
            try:
                snap = self.snapshot()
                payload = snap.encode("utf-8") if isinstance(snap, str) else bytes(snap)
                digest = hashlib.blake2b(payload, digest_size=16).digest()
                if digest == self._digest:
                    self.last_error = None
                    return False
                atomic_write(self.path, payload, backup=False)
            except Exception as exc:
                self.last_error = exc
                self.failures += 1
                raise
            self._digest = digest
            self.saves += 1
            self.last_error = None
            return True

    def _run(self, stop: threading.Event) -> None:
        while True:
            stopping = stop.wait(self.interval_s)  # an Event, so stop() does not wait out the interval
            try:
                self.save_now()
            except Exception as exc:
                # Recorded in last_error by save_now; keep the thread alive and retry next interval.
                log.warning("autosave to %s failed: %s", self.path, exc)
            if stopping:
                return

    def __enter__(self) -> Autosaver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
