"""Rooms on disk: every op as it is logged, and a snapshot of each room's state now and then, in SQLite
(write-ahead log), so a server that stops (or is killed) comes back with every room as it was. Compaction
writes a snapshot and drops the ops it covers, except a tail kept for clients resuming."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from bridge.jam.room import Room

__all__ = ["RoomStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (room TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,
                                PRIMARY KEY (room, seq));
CREATE TABLE IF NOT EXISTS snapshots (room TEXT PRIMARY KEY, seq INTEGER NOT NULL, base_seq INTEGER NOT NULL,
                                      state TEXT NOT NULL);
"""


class RoomStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def append(self, room: str, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO ops (room, seq, entry) VALUES (?, ?, ?)",
                [(room, e["seq"], json.dumps(e, separators=(",", ":"))) for e in entries],
            )
            self._db.execute("COMMIT")

    def snapshot(self, room: Room) -> None:
        """Write the room's state at its ``seq``; drop the stored ops it folded in (before ``base_seq``)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots (room, seq, base_seq, state) VALUES (?, ?, ?, ?)",
                (room.name, room.seq, room.base_seq, json.dumps(room.state, separators=(",", ":"))),
            )
            self._db.execute("DELETE FROM ops WHERE room = ? AND seq <= ?", (room.name, room.base_seq))
            self._db.execute("COMMIT")

    def load(self, name: str) -> Room | None:
        """The room as stored (its snapshot with the ops after it replayed), or None if there is none."""
        from bridge.jam.room import apply_op, empty_state

        with self._lock:
            snap = self._db.execute(
                "SELECT seq, base_seq, state FROM snapshots WHERE room = ?", (name,)
            ).fetchone()
            rows = self._db.execute("SELECT entry FROM ops WHERE room = ? ORDER BY seq", (name,)).fetchall()
        if snap is None and not rows:
            return None
        state = json.loads(snap[2]) if snap else empty_state()
        seq = snap[0] if snap else 0
        base = snap[1] if snap else 0
        entries = [json.loads(r[0]) for r in rows]
        log = [e for e in entries if e["seq"] > base]
        for e in log:
            if e["seq"] > seq:
                apply_op(state, e)
                seq = e["seq"]
        return Room(name, state=state, seq=seq, log=log, base_seq=base)

    def rooms(self) -> list[str]:
        with self._lock:
            a = {r[0] for r in self._db.execute("SELECT room FROM snapshots")}
            b = {r[0] for r in self._db.execute("SELECT DISTINCT room FROM ops")}
        return sorted(a | b)
