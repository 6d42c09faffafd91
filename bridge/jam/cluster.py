"""Rooms over several server processes (and hosts): Redis as the room directory and the message bus.

Each room is run by one server at a time, its *owner*: the one that logs its ops in order. The directory
is a Redis key per room (``strum:jam:owner:ROOM``) that a server claims with ``SET NX`` and a time to live,
renewed while it runs the room; when the owner goes away the claim lapses and the next server that gets a
member of the room takes it over (from the store, when the servers share one).

A member may join through any server. A server that does not own the room relays for it (an *edge*): it
checks the member's messages (size, rate, the protocol) and publishes them on the room's inbox channel
(``strum:jam:in:ROOM``); the owner answers one member on that server's channel (``strum:jam:srv:ID``:
welcome, acks, pongs, errors) and everyone on the room's channel (``strum:jam:room:ROOM``: the batched
ops and presence), which every edge with members in the room forwards to them. Redis keeps each channel's
order, and an edge holds a joining member's room traffic until its welcome has gone out, so a member sees
the same ordered log through any server.

When an owner stops, its claim lapses (``claim_ttl_s``); the edges notice and drop the room's members with
the reason, the members come back (through any server), and the first server to get one claims the room
and loads it from the store; servers on one host share one SQLite file, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["RedisBus"]

PREFIX = "strum:jam"
CLAIM_TTL_MS = 10_000
RENEW_S = 3.0


class RedisBus:
    """One server's link to Redis: claims, publishing and subscriptions with a reader task each."""

    def __init__(
        self, url: str, server_id: str | None = None, claim_ttl_s: float = CLAIM_TTL_MS / 1000
    ) -> None:
        self.url = url
        self.id = server_id or uuid.uuid4().hex[:12]
        self.claim_ttl_ms = int(claim_ttl_s * 1000)
        self.renew_s = min(RENEW_S, claim_ttl_s / 3)
        self._redis: Any = None
        self._subs: dict[str, tuple[Any, asyncio.Task]] = {}
        self._renewer: asyncio.Task | None = None
        self.owned: set[str] = set()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url, decode_responses=True)
        await self._redis.ping()
        self._renewer = asyncio.create_task(self._renew())

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        for ch in list(self._subs):
            await self.unsubscribe(ch)
        for room in list(self.owned):
            with contextlib.suppress(Exception):
                if await self._redis.get(self.owner_key(room)) == self.id:
                    await self._redis.delete(self.owner_key(room))
        if self._redis is not None:
            await self._redis.aclose()

    @staticmethod
    def owner_key(room: str) -> str:
        return f"{PREFIX}:owner:{room}"

    @staticmethod
    def room_channel(room: str) -> str:
        return f"{PREFIX}:room:{room}"

    @staticmethod
    def inbox(room: str) -> str:
        return f"{PREFIX}:in:{room}"

    def server_channel(self, server: str | None = None) -> str:
        return f"{PREFIX}:srv:{server or self.id}"

    async def claim(self, room: str) -> str:
        """The id of the room's owner, claiming it for this server if nobody holds it."""
        key = self.owner_key(room)
        if await self._redis.set(key, self.id, nx=True, px=self.claim_ttl_ms):
            self.owned.add(room)
            return self.id
        owner = await self._redis.get(key)
        if owner is None:  # lapsed between the two calls
            return await self.claim(room)
        if owner == self.id:
            self.owned.add(room)
        return str(owner)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            for room in list(self.owned):
                with contextlib.suppress(Exception):
                    key = self.owner_key(room)
                    if await self._redis.get(key) == self.id:
                        await self._redis.pexpire(key, self.claim_ttl_ms)
                    else:
                        self.owned.discard(room)

    async def owner(self, room: str) -> str | None:
        got = await self._redis.get(self.owner_key(room))
        return None if got is None else str(got)

    async def publish(self, channel: str, data: dict[str, Any] | str) -> None:
        await self._redis.publish(channel, data if isinstance(data, str) else json.dumps(data))

    async def subscribe(self, channel: str, handler: Callable[[str], Awaitable[None] | None]) -> None:
        """Call ``handler`` with each message on ``channel``, in order, until :meth:`unsubscribe`."""
        if channel in self._subs:
            return
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(channel)

        async def read() -> None:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                try:
                    result = handler(msg["data"])
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    pass  # one bad message must not end the subscription

        self._subs[channel] = (pubsub, asyncio.create_task(read()))

    async def unsubscribe(self, channel: str) -> None:
        entry = self._subs.pop(channel, None)
        if entry is None:
            return
        pubsub, task = entry
        task.cancel()
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()
