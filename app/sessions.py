"""Session store: id → trainer, with an idle TTL, a cap with LRU eviction and one lock each.

Every route and stream runs on the event loop, so the store's own bookkeeping needs no lock;
engine work runs in worker threads while the session's ``asyncio.Lock`` is held, which
serialises the requests of one session without tying up a thread per waiting request.

A session is *in use* while a request waits for or holds its lock, or while a stream is
connected to it. In-use sessions never expire and are never evicted; only when every slot is
in use does creating a session fail (:class:`StoreFullError` → 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from engine.trainer import Trainer

Clock = Callable[[], float]
T = TypeVar("T")


class Workers:
    """Two small thread pools for engine work: *light* (one step, reads) and *heavy*
    (many steps, rebuilds, imports). Few threads on purpose: the work is CPU-bound under one
    interpreter lock, and every extra runnable thread delays the event loop (which serves
    every client) at each lock hand-over. Separate pools keep quick requests from queueing
    behind long ones."""

    def __init__(self, light: int, heavy: int) -> None:
        self.sizes = (light, heavy)
        self._limiters: tuple[anyio.CapacityLimiter, anyio.CapacityLimiter] | None = None

    async def run(self, work: Callable[..., T], *args: object, heavy: bool = False) -> T:
        if self._limiters is None:  # created in the running event loop
            self._limiters = (
                anyio.CapacityLimiter(self.sizes[0]),
                anyio.CapacityLimiter(self.sizes[1]),
            )
        limiter = self._limiters[1 if heavy else 0]
        return await anyio.to_thread.run_sync(work, *args, limiter=limiter)


class SessionNotFoundError(LookupError):
    """No live session has this id (never created, deleted, expired or evicted)."""


class StoreFullError(RuntimeError):
    """Every session slot holds a session in active use."""


@dataclass(eq=False)
class Session:
    """One learner's trainer plus the bookkeeping the store needs."""

    id: str
    trainer: Trainer
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # requests waiting for or holding the lock, plus connected streams
    closed: bool = False  # removed from the store (deleted, expired or evicted)
    csv_text: str | None = None  # uploaded CSV, kept to re-split when the data seed changes

    @property
    def in_use(self) -> bool:
        return self.users > 0


class SessionStore:
    """Holds at most ``max_sessions`` sessions; idle ones expire after ``ttl_seconds``."""

    def __init__(
        self,
        ttl_seconds: float,
        max_sessions: int,
        clock: Clock = time.monotonic,
        workers: Workers | None = None,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_sessions = max_sessions
        self.clock = clock
        self.workers = workers or Workers(2, 2)
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return not session.in_use and now - session.last_used > self.ttl

    def _remove(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.closed = True

    def purge_expired(self) -> int:
        """Drop every idle session past its TTL; returns how many went."""
        now = self.clock()
        gone = [s.id for s in self._sessions.values() if self._expired(s, now)]
        for session_id in gone:
            self._remove(session_id)
        return len(gone)

    def ensure_room(self) -> None:
        """Raise StoreFullError now if adding a session would fail (before building a trainer)."""
        self.purge_expired()
        if len(self._sessions) >= self.max_sessions and all(
            s.in_use for s in self._sessions.values()
        ):
            raise StoreFullError

    def add(self, trainer: Trainer) -> Session:
        """Store a new session, evicting the least recently used idle one if full."""
        self.purge_expired()
        if len(self._sessions) >= self.max_sessions:
            victim = next((s for s in self._sessions.values() if not s.in_use), None)
            if victim is None:
                raise StoreFullError
            self._remove(victim.id)
        session_id = secrets.token_urlsafe(24)  # 192 random bits
        while session_id in self._sessions:  # pragma: no cover - astronomically unlikely
            session_id = secrets.token_urlsafe(24)
        session = Session(session_id, trainer, self.clock())
        self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The live session with this id (marked as just used); SessionNotFoundError otherwise."""
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        now = self.clock()
        if self._expired(session, now):
            self._remove(session_id)
            raise SessionNotFoundError(session_id)
        self.touch(session)
        return session

    def touch(self, session: Session) -> None:
        session.last_used = self.clock()
        if not session.closed:
            self._sessions.move_to_end(session.id)

    def delete(self, session_id: str) -> None:
        self.get(session_id)
        self._remove(session_id)

    @asynccontextmanager
    async def hold(self, session: Session) -> AsyncIterator[Session]:
        """Mark the session in use and hold its lock (requests to one session run in order)."""
        session.users += 1
        try:
            async with session.lock:
                yield session
        finally:
            session.users -= 1
            self.touch(session)

    @asynccontextmanager
    async def attach(self, session: Session) -> AsyncIterator[Session]:
        """Mark the session in use for as long as a stream is connected (no lock held)."""
        session.users += 1
        try:
            yield session
        finally:
            session.users -= 1
            self.touch(session)
