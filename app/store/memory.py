"""``BACKPROP_LAB_STORE=memory``: sessions live in this process's memory, as trainers.

Nothing is written anywhere: a restart loses every session, and a second worker would not
see them (``serve --workers`` refuses it). For tests and single-process use. The bookkeeping
is kept on the session objects themselves, in least-recently-used order; a session is in use
while a request holds or waits for it or a stream is connected.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from app.store.base import Caps, Created, Index, NewRecord, Usage


class Live(Protocol):
    """What the index reads and writes on a session object (see app.sessions.Session)."""

    id: str
    client: str
    bytes: int
    last_used: float
    closed: bool

    @property
    def in_use(self) -> bool: ...


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp


class MemoryIndex(Index):
    where = "the in-memory store"

    def __init__(self) -> None:
        self.sessions: OrderedDict[str, Live] = OrderedDict()  # least recently used first
        self._buckets: dict[str, _Bucket] = {}

    def touch(self, session: Live) -> None:
        if not session.closed:
            self.sessions.move_to_end(session.id)

    async def usage(self, client: str) -> Usage:
        live = self.sessions.values()
        owned = sum(1 for s in live if s.client == client)
        return Usage(len(self.sessions), sum(s.bytes for s in live), owned)

    async def bucket(self, client: str, now: float, rate: float, burst: int, take: bool) -> float:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(burst), now)
            if len(self._buckets) > 10_000:  # forget clients whose bucket is full again
                full = [k for k, b in self._buckets.items() if b.tokens >= burst]
                for key in full[: len(full) // 2]:
                    self._buckets.pop(key, None)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) / rate
        if take:
            bucket.tokens -= 1.0
        return 0.0

    async def oldest_idle(self, before: float, keep: str | None) -> str | None:
        for s in self.sessions.values():
            if s.id == keep or s.in_use:
                continue
            return s.id if s.last_used < before else None
        return None

    async def evict(self, session_id: str, before: float) -> bool:
        s = self.sessions.get(session_id)
        if s is None or s.in_use or s.last_used >= before:
            return False
        self._remove(session_id)
        return True

    async def purge_expired(self, now: float, ttl: float) -> list[str]:
        live = self.sessions.values()
        gone = [s.id for s in live if not s.in_use and now - s.last_used > ttl]
        for session_id in gone:
            self._remove(session_id)
        return gone

    async def create(self, record: NewRecord, caps: Caps) -> Created:
        usage = await self.usage(record.client)
        if usage.owned >= caps.max_per_client:
            return Created.QUOTA
        full = usage.sessions + 1 > caps.max_sessions
        if full or usage.bytes + record.nbytes > caps.memory_bytes:
            return Created.FULL
        assert record.live is not None, "the memory store keeps the session object"
        self.sessions[record.session_id] = record.live  # type: ignore[assignment]
        return Created.OK

    async def delete(self, session_id: str) -> None:
        self._remove(session_id)

    def _remove(self, session_id: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            session.closed = True
