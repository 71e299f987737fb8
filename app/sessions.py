"""Session store: id → trainer, with an idle TTL, caps by count *and by bytes*, per-client
quotas, and one lock per session.

Every route and stream runs on the event loop, so the store's own bookkeeping needs no lock;
engine work runs in worker threads (:mod:`app.lanes`) while the session's ``asyncio.Lock``
is held, which serialises the requests of one session without tying up a thread per waiting
request.

Admission (a new session, or a request that grows one): the store knows every session's
bytes (measured after each request) and refuses what would pass the server's memory budget.
To make room it evicts idle sessions, least recently used first — but never one used in the
last ``protect_seconds``: a student who stepped a minute ago keeps their network even when
someone floods the server with new sessions; the newcomer gets the 503 instead. A session is
*in use* while a request waits for or holds its lock, or while a stream is connected to it;
in-use sessions never expire and are never evicted.

Each client (its address, or behind a trusted proxy the address the proxy forwards) may hold
at most ``max_per_client`` sessions and create them at a bounded rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.lanes import Lanes

if TYPE_CHECKING:
    from engine.trainer import Trainer

Clock = Callable[[], float]
MB = 2**20


class SessionNotFoundError(LookupError):
    """No live session has this id (never created, deleted, expired or evicted)."""


class StoreFullError(RuntimeError):
    """No room: every slot or every byte of the budget is held by sessions in recent use."""


class QuotaError(RuntimeError):
    """This client holds too many sessions, or creates them too fast."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class SessionTooLargeError(RuntimeError):
    """One session would need more memory than a session may hold."""

    def __init__(self, needed: int, allowed: int) -> None:
        super().__init__(needed, allowed)
        self.needed, self.allowed = needed, allowed


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How much the store may hold, and for whom."""

    ttl_seconds: float = 1800.0
    max_sessions: int = 500
    memory_bytes: int = 4096 * MB  # all sessions together
    session_bytes: int = 256 * MB  # one session
    protect_seconds: float = 300.0  # used this recently → never evicted
    max_per_client: int = 30
    create_per_minute: float = 60.0
    create_burst: int = 30


@dataclass(eq=False)
class Session:
    """One learner's trainer plus the bookkeeping the store needs."""

    id: str
    trainer: Trainer
    last_used: float
    client: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # requests waiting for or holding the lock, plus connected streams
    closed: bool = False  # removed from the store (deleted, expired or evicted)
    csv_text: str | None = None  # uploaded CSV, kept to re-split when the data seed changes
    bytes: int = 0  # the trainer's arrays, as last measured

    @property
    def in_use(self) -> bool:
        return self.users > 0


class _Bucket:
    """Token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp


class SessionStore:
    """Holds sessions within the limits of :class:`StoreLimits`."""

    def __init__(
        self, limits: StoreLimits, lanes: Lanes | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.limits = limits
        self.lanes = lanes or Lanes(1, 1, 0.02)  # where the sessions' engine work runs
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._buckets: dict[str, _Bucket] = {}
        self._purger: asyncio.Task[None] | None = None
        self.imports = asyncio.Semaphore(1)  # a large export takes much memory to read
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def bytes(self) -> int:
        """Bytes held by every session's arrays together (as last measured)."""
        return sum(s.bytes for s in self._sessions.values())

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, every_seconds: float = 15.0) -> None:
        """Start the lanes, and purge expired sessions periodically, so their memory returns
        even when nobody asks the server anything."""
        self.lanes.start()
        self._purger = asyncio.create_task(self._purge_forever(every_seconds))

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.lanes.stop()

    async def _purge_forever(self, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            if self.purge_expired():
                release_free_memory()

    # --- expiry and eviction ------------------------------------------------------------------

    def _expired(self, session: Session, now: float) -> bool:
        return not session.in_use and now - session.last_used > self.limits.ttl_seconds

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

    def _evictable(self, now: float, keep: Session | None) -> Session | None:
        """The least recently used session that is idle and not recently used."""
        for s in self._sessions.values():
            if s is keep or s.in_use:
                continue
            if now - s.last_used > self.limits.protect_seconds:
                return s
            return None  # ordered by last use: every later one is more recent
        return None

    def make_room(self, new_sessions: int, new_bytes: int, keep: Session | None = None) -> None:
        """Evict idle, not recently used sessions until ``new_sessions`` more sessions and
        ``new_bytes`` more bytes fit; StoreFullError if they cannot."""
        self.purge_expired()
        now = self.clock()
        limits = self.limits
        while (
            len(self._sessions) + new_sessions > limits.max_sessions
            or self.bytes + new_bytes > limits.memory_bytes
        ):
            victim = self._evictable(now, keep)
            if victim is None:
                raise StoreFullError
            self._remove(victim.id)
            self.evictions += 1

    # --- admission ----------------------------------------------------------------------------

    def admit(self, client: str, estimated_bytes: int) -> None:
        """Check that ``client`` may create a session needing about ``estimated_bytes``, and
        make room for it. Raises SessionTooLargeError, QuotaError or StoreFullError; takes one
        creation token only when the session is admitted."""
        limits = self.limits
        if estimated_bytes > limits.session_bytes:
            raise SessionTooLargeError(estimated_bytes, limits.session_bytes)
        self.purge_expired()
        owned = sum(1 for s in self._sessions.values() if s.client == client)
        if owned >= limits.max_per_client:
            raise QuotaError(
                f"this address holds {owned} sessions, the most one may hold; "
                "end one (DELETE) or let it expire",
                max(1, int(limits.protect_seconds)),
            )
        bucket = self._refill(client)
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) * 60.0 / limits.create_per_minute
            raise QuotaError(
                f"sessions are being created too fast from this address "
                f"(at most {limits.create_per_minute:g} a minute)",
                max(1, int(wait + 0.999)),
            )
        self.make_room(1, estimated_bytes)
        bucket.tokens -= 1.0

    def _refill(self, client: str) -> _Bucket:
        now, limits = self.clock(), self.limits
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(limits.create_burst), now)
            if len(self._buckets) > 4 * limits.max_sessions:  # forget long-idle clients
                full = [k for k, b in self._buckets.items() if b.tokens >= limits.create_burst]
                for key in full[: len(full) // 2]:
                    self._buckets.pop(key, None)
        rate = limits.create_per_minute / 60.0
        bucket.tokens = min(float(limits.create_burst), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        return bucket

    def add(self, trainer: Trainer, client: str = "") -> Session:
        """Store a new, admitted session."""
        session_id = secrets.token_urlsafe(24)  # 192 random bits
        while session_id in self._sessions:  # pragma: no cover - astronomically unlikely
            session_id = secrets.token_urlsafe(24)
        session = Session(session_id, trainer, self.clock(), client)
        session.bytes = trainer.memory_bytes()
        self._sessions[session_id] = session
        return session

    def account(self, session: Session) -> None:
        """Measure the session's bytes again (after a request changed its trainer)."""
        session.bytes = session.trainer.memory_bytes()

    # --- lookup -------------------------------------------------------------------------------

    def get(self, session_id: str) -> Session:
        """The live session with this id (marked as just used); SessionNotFoundError otherwise."""
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        if self._expired(session, self.clock()):
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
                if session.closed:
                    raise SessionNotFoundError(session.id)
                yield session
        finally:
            session.users -= 1
            self.touch(session)
            if not session.closed:
                self.account(session)

    @asynccontextmanager
    async def attach(self, session: Session) -> AsyncIterator[Session]:
        """Mark the session in use for as long as a stream is connected (no lock held)."""
        session.users += 1
        try:
            yield session
        finally:
            session.users -= 1
            self.touch(session)


def release_free_memory() -> None:
    """Ask the C allocator to hand freed memory back to the system (glibc keeps freed heap
    pages otherwise, and a server's RSS would never go down after sessions expire)."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - no C library to ask
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)
