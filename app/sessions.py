"""Session store: id → trainer, with an idle TTL, caps by count *and by bytes*, per-client
quotas, and one lock per session — over any backend (:mod:`app.store`).

Every route and stream uses this one class. Engine work runs in worker threads
(:mod:`app.lanes`) while the session is *held*: its ``asyncio.Lock`` serialises the requests
of this process, and with a shared backend (SQLite, Redis) a lease serialises the processes.

Admission (a new session, or a request that grows one): the store knows every session's
bytes (measured after each request) and refuses what would pass the memory budget. To make
room it evicts idle sessions, least recently used first — but never one used in the last
``protect_seconds``: a student who stepped a minute ago keeps their network even when
someone floods the server with new sessions; the newcomer gets the 503 instead. A session is
*in use* while a request waits for or holds it, or while a stream is connected to it;
in-use sessions never expire and are never evicted. Each client (its address, or behind a
trusted proxy the address the proxy forwards) may hold at most ``max_per_client`` sessions
and create them at a bounded rate. These rules are written once, here, over the backend's
atomic bookkeeping, so they hold the same with every backend and across processes.

Shared backends (see :mod:`app.store.base`). Each process keeps the trainers it has used in
memory (a cache: loading one per request would be slow) with the version it last read or
wrote. Holding a session takes its lease; if the stored version is newer than the cached one
(another process wrote it), the trainer is loaded again first. After the work, a trainer that
changed is saved before the answer is sent, so **every 2xx answer is stored**: kill the
server right after, start it again, and the session continues bit for bit. When this process
wrote the stored version last (its requests come here: a proxy routing by session), it
*keeps* the lease for ``keep_seconds`` after the request, so that the student's next request
takes nothing from the store (a step costs one call, its save; a read none); the hand-over
task lets go of a kept lease when its window passes or another process asks. A playing stream
keeps the lease between its frames (its work is not answered request by request) and saves a
checkpoint at least every ``checkpoint_seconds``; when a request from another process asks for
the session, the stream saves and hands the lease over after its current frame, then takes it
back: that request waits at most about a frame and sees every step played so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.lanes import Lanes
from app.store.base import (
    KEEP_CSV,
    LARGE_BYTES,
    MB,
    SESSION_ID,
    Acquired,
    Blob,
    Caps,
    Created,
    Index,
    LeaseLostError,
    NewRecord,
    QuotaError,
    SessionBusyElsewhereError,
    SessionCorruptError,
    SessionNotFoundError,
    SessionTooLargeError,
    SharedBackend,
    StoreError,
    StoreFullError,
    StoreStartupError,
    StoreUnavailableError,
    lease_owner,
)
from app.store.memory import MemoryIndex
from engine import export_binary_recurrent as recurrent_binary
from engine.config import Limits
from engine.errors import ConfigError
from engine.export import RecurrentExport
from engine.export_binary import history_bytes, history_row, to_bytes
from engine.recurrent_trainer import RecurrentTrainer

if TYPE_CHECKING:
    from app.kinds import AnyTrainer

__all__ = [
    "MB",
    "QuotaError",
    "Session",
    "SessionBusyElsewhereError",
    "SessionCorruptError",
    "SessionNotFoundError",
    "SessionStore",
    "SessionTooLargeError",
    "StoreError",
    "StoreFullError",
    "StoreLimits",
    "StoreStartupError",
    "StoreUnavailableError",
]

Clock = Callable[[], float]
log = logging.getLogger("backprop_lab.sessions")
ASK_EVERY = 0.1  # seconds between checks, while a stream plays, whether another process waits
HAND_OVER_EVERY = 0.05  # seconds between checks whether another process waits for a held lease


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How much the store may hold, and for whom; how long a process may keep a session."""

    ttl_seconds: float = 1800.0
    max_sessions: int = 500
    memory_bytes: int = 4096 * MB  # all sessions together
    session_bytes: int = 256 * MB  # one session
    protect_seconds: float = 300.0  # used this recently → never evicted
    max_per_client: int = 30
    create_per_minute: float = 60.0
    create_burst: int = 30
    # Shared backends only.
    lease_seconds: float = 10.0  # a dead process's sessions are free again after this
    lock_wait_seconds: float = 30.0  # the longest a request waits for another process
    checkpoint_seconds: float = 1.0  # a playing stream saves at least this often
    # After a request, a process keeps the session's lease this long (at most half the
    # lease), so that the student's next request needs no round trip to take it; a process
    # that asks for the session gets it within about HAND_OVER_EVERY. 0: let go at once.
    keep_seconds: float = 3.0

    @property
    def keep_window(self) -> float:
        return min(self.keep_seconds, self.lease_seconds / 2)


class Session:
    """One learner's trainer plus the bookkeeping the store needs."""

    def __init__(
        self, session_id: str, trainer: AnyTrainer | None, last_used: float, client: str = ""
    ) -> None:
        self.id = session_id
        self._trainer = trainer
        self.last_used = last_used
        self.client = client
        self.lock = asyncio.Lock()
        self.users = 0  # requests waiting for or holding the session
        self.streams = 0  # streams connected to it
        self.closed = False  # removed from the store (deleted, expired or evicted)
        self.csv_text: str | None = None  # uploaded CSV, kept to re-split on a new data seed
        self.bytes = 0 if trainer is None else trainer.memory_bytes()  # as last measured
        # Shared backends: what this process's copy is.
        self.version = 0  # the stored version the trainer reflects (0: none loaded)
        self.leased = False  # this process holds the session's lease
        self.pins = 0  # playing streams that keep the lease between their frames
        self.dirty = False  # changed since it was last saved (frames between checkpoints)
        self.saved_at = 0.0  # when it was last saved (the store's real clock)
        self.asked_at = 0.0  # when this process last asked whether another one waits
        self.sticky = False  # this process wrote the stored version last: keep the lease
        self.kept_until = 0.0  # a lease kept between requests is used again until then
        self.csv_saved: str | None = None  # csv_text as last saved
        self.history_saved: SavedHistory | None = None  # the history as last saved

    @property
    def trainer(self) -> AnyTrainer:
        """The live trainer; a shared store loads it when the session is held."""
        if self._trainer is None:
            raise SessionNotFoundError(self.id)  # pragma: no cover - held sessions are loaded
        return self._trainer

    @trainer.setter
    def trainer(self, value: AnyTrainer) -> None:
        self._trainer = value

    @property
    def loaded(self) -> bool:
        return self._trainer is not None

    @property
    def in_use(self) -> bool:
        return self.users > 0 or self.streams > 0


class _Mark:
    """What a session's trainer looks like before a request, to tell afterwards whether the
    request changed anything that is stored (then it must be saved). Objects are kept, not
    their ids: a freed object's id can be reused by its replacement."""

    __slots__ = ("objects", "values")

    def __init__(self, session: Session) -> None:
        self.objects, self.values = _state(session)

    def changed(self, session: Session) -> bool:
        objects, values = _state(session)
        if values != self.values or len(objects) != len(self.objects):
            return True
        return any(a is not b for a, b in zip(objects, self.objects, strict=True))


def _state(session: Session) -> tuple[tuple[object, ...], tuple[object, ...]]:
    t = session._trainer
    if t is None:
        return (), ()
    objects = (t, t.network, t.history, t.config, t.optimizer_state, t.batches, session.csv_text)
    order = t.batches
    values = (t.step, t.stage, len(t.history), order.cursor, order.epoch, t.divergence)
    return objects, values


MAX_PIECES = 64  # history pieces before a save writes the whole history as one again


@dataclass(frozen=True, slots=True)
class SavedHistory:
    """What the store holds of a trainer's history: which history, how many rows, the
    bytes of its last row (to see that no stored row has changed since), how many pieces."""

    history: object
    rows: int
    last_row: bytes
    pieces: int


def encode_trainer(
    trainer: AnyTrainer, saved: SavedHistory | None = None
) -> tuple[Blob, SavedHistory]:
    """The stored form of a trainer: the engine's export in binary (never pickled), its
    history as a piece of the rows added since ``saved`` — or all of them, when the history
    was replaced, thinned, or is in too many pieces."""
    history = trainer.history
    rows = len(history)
    # A recurrent run has its own layout (blocks by name, a per-timestep history column).
    if isinstance(trainer, RecurrentTrainer):
        rb = recurrent_binary
        state = rb.to_bytes(trainer.snapshot(rows=False), history=False)
        row_of: Any = rb.history_row
        rows_of: Any = rb.history_bytes
    else:
        state = to_bytes(trainer.snapshot(rows=False), history=False)
        row_of, rows_of = history_row, history_bytes
    appended = (
        saved is not None
        and saved.history is history
        and saved.rows <= rows
        and saved.pieces < MAX_PIECES
        and (not saved.rows or row_of(history, saved.rows - 1) == saved.last_row)
    )
    last_row = row_of(history, rows - 1) if rows else b""
    if appended:
        assert saved is not None
        new_rows = rows > saved.rows
        piece = rows_of(history, saved.rows) if new_rows else b""
        return Blob(state, piece, replace=False), SavedHistory(
            history, rows, last_row, saved.pieces + new_rows
        )
    piece = rows_of(history, 0) if rows else b""  # no rows: the export's own (none)
    return Blob(state, piece, replace=True), SavedHistory(history, rows, last_row, int(rows > 0))


def decode_trainer(
    session_id: str, blob: bytes, pieces: list[bytes], limits: Limits
) -> tuple[AnyTrainer, SavedHistory]:
    """A stored trainer read back through the export's checks; SessionCorruptError naming
    the problem if it cannot be."""
    from engine.trainer import Trainer as DenseTrainer

    try:
        snap = recurrent_binary.read_any(blob, limits, pieces or None)
        trainer: AnyTrainer
        if isinstance(snap, RecurrentExport):
            trainer = RecurrentTrainer.restore(snap, limits)
        else:
            trainer = DenseTrainer.restore(snap, limits)
    except ConfigError as exc:
        raise SessionCorruptError(session_id, str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise SessionCorruptError(session_id, f"{type(exc).__name__}: {exc}") from None
    history = trainer.history
    rows = len(history)
    row_of: Any = (
        recurrent_binary.history_row if isinstance(trainer, RecurrentTrainer) else history_row
    )
    last_row = row_of(history, rows - 1) if rows else b""
    return trainer, SavedHistory(history, rows, last_row, len(pieces))


class SessionStore:
    """Holds sessions within the limits of :class:`StoreLimits`, in ``backend``."""

    def __init__(
        self,
        limits: StoreLimits,
        lanes: Lanes | None = None,
        clock: Clock = time.monotonic,
        *,
        backend: Index | None = None,
        engine_limits: Limits | None = None,
        real_clock: Clock = time.monotonic,
    ) -> None:
        self.limits = limits
        self.lanes = lanes or Lanes(1, 1, 0.02)  # where the sessions' engine work runs
        self.clock = clock  # last use, expiry and protection (a test's fake clock)
        self.real = real_clock  # waiting and checkpoints
        self.backend = backend or MemoryIndex()
        self.shared = isinstance(self.backend, SharedBackend)
        self.engine_limits = engine_limits or Limits()
        self.owner = lease_owner()
        # Memory: every session; shared: this process's copies, least recently used first.
        self._live: OrderedDict[str, Session]
        if isinstance(self.backend, MemoryIndex):
            self._live = self.backend.sessions  # type: ignore[assignment]
        else:
            self._live = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        # The background tasks end when this is set, even if a cancellation was lost (on
        # Python 3.11 asyncio.wait_for loses one that arrives as its work completes; a
        # library that uses it would leave the task going on for ever).
        self._stopping = False
        self.imports = asyncio.Semaphore(1)  # a large export takes much memory to read
        self.evictions = 0

    def __len__(self) -> int:
        """Sessions this process holds in memory (with the memory backend: all of them)."""
        return len(self._live)

    @property
    def bytes(self) -> int:
        """Bytes held by this process's sessions' arrays together (as last measured)."""
        return sum(s.bytes for s in self._live.values() if s.loaded)

    @property
    def where(self) -> str:
        return self.backend.where

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, every_seconds: float = 15.0) -> None:
        """Open the backend, start the lanes, and purge expired sessions periodically, so
        their memory (and disk) returns even when nobody asks the server anything."""
        await self.backend.open()
        self.lanes.start()
        self._tasks.append(asyncio.create_task(self._purge_forever(every_seconds)))
        if self.shared:
            self._tasks.append(asyncio.create_task(self._renew_forever()))
            self._tasks.append(asyncio.create_task(self._hand_over_forever()))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.shared:  # what streams played since their last checkpoint, and the leases
            for session in list(self._live.values()):
                with contextlib.suppress(StoreError, SessionNotFoundError):
                    await self._let_go(session)
        await self.lanes.stop()
        await self.backend.close()

    async def _purge_forever(self, every_seconds: float) -> None:
        while not self._stopping:
            await asyncio.sleep(every_seconds)
            try:
                gone = await self.purge_expired()
            except StoreError as exc:
                log.warning("purging expired sessions failed: %s", exc.message)
                continue
            if gone + self._trim_cache():
                release_free_memory()

    async def _renew_forever(self) -> None:
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        while not self._stopping:
            await asyncio.sleep(self.limits.lease_seconds / 3)
            leases = [s.id for s in self._live.values() if s.leased]
            attached = [s.id for s in self._live.values() if s.streams]
            try:
                await backend.renew(
                    leases, attached, self.owner, self.limits.lease_seconds, self.clock()
                )
            except StoreError as exc:
                log.warning("renewing session leases failed: %s", exc.message)

    async def _hand_over_forever(self) -> None:
        """Leases this process holds with nothing using them: kept between a student's
        requests, or held by a stream that waits between frames (for its client's ack, or
        its frame rate). A kept lease is let go once its window has passed; any of them is
        handed over as soon as another process asks for it (one question to the store for
        all of them), so that process never waits for a stalled client or an idle student."""
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        while not self._stopping:
            await asyncio.sleep(HAND_OVER_EVERY)
            try:
                await self._let_go_kept(everything=False)
                held = [s for s in self._live.values() if s.leased and not s.users]
                if not held:
                    continue
                waited = await backend.waiting([s.id for s in held], self.owner)
                for session in held:
                    if session.id in waited:
                        await self._let_go_unused(session)
            except StoreError as exc:
                log.warning("handing a session over failed: %s", exc.message)

    def _within_keep(self, session: Session) -> bool:
        """Whether a lease kept since the session's last request may still be used (its
        window, in real time from when the store last confirmed the lease, and in the store's
        clock from the last use)."""
        return (
            self.real() < session.kept_until
            and self.clock() - session.last_used < self.limits.keep_window
        )

    async def _let_go_kept(self, everything: bool) -> None:
        """Let go of the leases kept between requests: those past their window, or (making
        room) all of them: a kept lease is a shortcut, never a reason to refuse room."""
        for session in list(self._live.values()):
            kept = session.leased and not session.users and not session.pins
            if kept and (everything or not self._within_keep(session)):
                await self._let_go_unused(session, at=session.last_used)

    async def _let_go_unused(self, session: Session, at: float | None = None) -> None:
        async with session.lock:
            if session.leased and not session.users:
                await self._let_go(session, at)

    # --- expiry and eviction ------------------------------------------------------------------

    def _forget(self, session_id: str) -> None:
        """This process lets go of a session the store no longer holds."""
        session = self._live.pop(session_id, None)
        if session is not None:
            session.closed = True
            session.leased = False

    async def purge_expired(self) -> int:
        """Drop every idle session past its TTL (from the store: memory, disk or Redis);
        returns how many went."""
        if self.shared:
            await self._let_go_kept(everything=False)
        gone = await self.backend.purge_expired(self.clock(), self.limits.ttl_seconds)
        for session_id in gone:
            self._forget(session_id)
        return len(gone)

    def _trim_cache(self) -> int:
        """Shared stores: drop this process's copies of sessions idle here for longer than
        the TTL, and, past the memory budget, the least recently used idle ones (they are
        stored; the next request loads them again). Returns how many trainers went."""
        if not self.shared:
            return 0
        now, dropped = self.clock(), 0
        over = self.bytes - self.limits.memory_bytes
        for session in list(self._live.values()):
            if session.in_use or session.leased or session.dirty:
                continue
            if now - session.last_used > self.limits.ttl_seconds:
                self._live.pop(session.id, None)
            elif over > 0 and session.loaded:
                over -= session.bytes
                session._trainer, session.version = None, 0
            else:
                continue
            dropped += 1
        return dropped

    async def make_room(
        self, new_sessions: int, new_bytes: int, keep: Session | None = None
    ) -> None:
        """Evict idle, not recently used sessions until ``new_sessions`` more sessions and
        ``new_bytes`` more bytes fit; StoreFullError if they cannot."""
        if new_sessions <= 0 and new_bytes <= 0:
            return
        await self.purge_expired()
        limits, backend = self.limits, self.backend
        before = self.clock() - limits.protect_seconds
        kept_let_go = not self.shared  # once, before the first eviction
        for _ in range(limits.max_sessions + 10):  # each round evicts one (or loses a race)
            usage = await backend.usage("")
            if (
                usage.sessions + new_sessions <= limits.max_sessions
                and usage.bytes + new_bytes <= limits.memory_bytes
            ):
                return
            if not kept_let_go:
                await self._let_go_kept(everything=True)
                kept_let_go = True
            victim = await backend.oldest_idle(before, keep.id if keep else None)
            if victim is None:
                raise StoreFullError
            if await backend.evict(victim, before):
                self.evictions += 1
                self._forget(victim)
        raise StoreFullError

    # --- admission ----------------------------------------------------------------------------

    async def admit(self, client: str, estimated_bytes: int) -> None:
        """Check that ``client`` may create a session needing about ``estimated_bytes``, and
        make room for it. Raises SessionTooLargeError, QuotaError or StoreFullError; takes one
        creation token only when the session is admitted."""
        limits = self.limits
        if estimated_bytes > limits.session_bytes:
            raise SessionTooLargeError(estimated_bytes, limits.session_bytes)
        await self.purge_expired()
        owned = (await self.backend.usage(client)).owned
        if owned >= limits.max_per_client:
            raise self._quota_error(owned)
        await self._creation_token(client, take=False)
        await self.make_room(1, estimated_bytes)
        await self._creation_token(client, take=True)

    def _quota_error(self, owned: int) -> QuotaError:
        return QuotaError(
            f"this address holds {owned} sessions, the most one may hold; "
            "end one (DELETE) or let it expire",
            max(1, int(self.limits.protect_seconds)),
        )

    async def _creation_token(self, client: str, take: bool) -> None:
        limits = self.limits
        rate = limits.create_per_minute / 60.0
        wait = await self.backend.bucket(client, self.clock(), rate, limits.create_burst, take)
        if wait > 0:
            raise QuotaError(
                f"sessions are being created too fast from this address "
                f"(at most {limits.create_per_minute:g} a minute)",
                max(1, int(wait + 0.999)),
            )

    async def add(self, trainer: AnyTrainer, client: str = "") -> Session:
        """Store a new, admitted session (room is made again if another process took it)."""
        session_id = secrets.token_urlsafe(24)  # 192 random bits
        now = self.clock()
        session = Session(session_id, trainer, now, client)
        blob = None
        if self.shared:
            # As a save: a small session is encoded here (a thread hop would cost more).
            if session.bytes < LARGE_BYTES:
                blob, session.history_saved = encode_trainer(trainer)
            else:
                blob, session.history_saved = await self.lanes.quick(encode_trainer, trainer)
        record = NewRecord(session_id, client, session.bytes, now, blob, None, live=session)
        limits = self.limits
        caps = Caps(limits.max_sessions, limits.memory_bytes, limits.max_per_client)
        for _ in range(3):
            created = await self.backend.create(record, caps)
            if created is Created.OK:
                break
            if created is Created.QUOTA:
                raise self._quota_error(limits.max_per_client)
            await self.make_room(1, session.bytes)
        else:
            raise StoreFullError
        session.version, session.saved_at = 1, self.real()
        self._live[session_id] = session
        return session

    def account(self, session: Session) -> None:
        """Measure the session's bytes again (after a request changed its trainer)."""
        session.bytes = session.trainer.memory_bytes()

    # --- lookup -------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session:
        """The session with this id (SessionNotFoundError if there is none). A shared store
        checks the id against the store only when the session is held or attached."""
        session = self._live.get(session_id)
        if not self.shared:
            if session is None:
                raise SessionNotFoundError(session_id)
            if not session.in_use and self.clock() - session.last_used > self.limits.ttl_seconds:
                await self.backend.delete(session_id)
                raise SessionNotFoundError(session_id)
            self.touch(session)
            return session
        if session is None:
            if not SESSION_ID.match(session_id):
                raise SessionNotFoundError(session_id)
            session = self._live[session_id] = Session(session_id, None, self.clock())
        return session

    def touch(self, session: Session) -> None:
        session.last_used = self.clock()
        if not session.closed and session.id in self._live:
            self._live.move_to_end(session.id)

    async def delete(self, session: Session) -> None:
        """End the session now, in this process and in the store."""
        session.users += 1
        try:
            async with session.lock:
                if session.closed:
                    raise SessionNotFoundError(session.id)
                if self.shared:
                    await self._take_lease(session, load=False)
                await self.backend.delete(session.id)
                self._forget(session.id)
        finally:
            session.users -= 1

    @asynccontextmanager
    async def hold(self, session: Session, durable: bool = True) -> AsyncIterator[Session]:
        """Hold the session: requests to it run in order, in this process and (shared
        stores) across processes. With ``durable`` (every request) a change is saved before
        this returns; a playing stream's frames pass False and are saved as checkpoints."""
        session.users += 1
        try:
            async with session.lock:
                if session.closed:
                    raise SessionNotFoundError(session.id)
                if not self.shared:
                    yield session
                    return
                await self._take_lease(session)
                mark = _Mark(session)
                try:
                    yield session
                finally:
                    await self._after_use(session, mark, durable)
        finally:
            session.users -= 1
            self.touch(session)
            if not session.closed and session.loaded:
                self.account(session)

    @asynccontextmanager
    async def attach(self, session: Session) -> AsyncIterator[Session]:
        """Mark the session in use for as long as a stream is connected (no lock held)."""
        session.streams += 1
        try:
            if isinstance(self.backend, SharedBackend):
                limits = self.limits
                alive = await self.backend.attach(
                    session.id, self.owner, self.clock(), limits.ttl_seconds, limits.lease_seconds
                )
                if not alive:
                    self._forget(session.id)
                    raise SessionNotFoundError(session.id)
                async with session.lock:
                    if not session.loaded:  # the stream reads the trainer it starts from
                        await self._load(session)
            yield session
        finally:
            session.streams -= 1
            self.touch(session)
            if isinstance(self.backend, SharedBackend) and not session.streams:
                detach = self.backend.detach(session.id, self.owner, self.clock())
                # Shielded: a stream cancelled with its connection still tells the store.
                with contextlib.suppress(StoreError):
                    await asyncio.shield(detach)

    @asynccontextmanager
    async def playing(self, session: Session) -> AsyncIterator[None]:
        """While a stream plays: this process keeps the session's lease between frames,
        frames are saved as checkpoints, and whatever was played is saved at the end."""
        session.pins += 1
        try:
            yield
        finally:
            session.pins -= 1
            if self.shared and not session.pins and session.leased:
                # Shielded: a stream cancelled with its connection still saves what it played.
                await asyncio.shield(self._stop_playing(session))

    async def _stop_playing(self, session: Session) -> None:
        async with session.lock:
            if session.leased and not session.users and not session.pins:
                await self._let_go(session)  # (waiting requests save and let go themselves)

    # --- shared backends: leases, loading and saving ------------------------------------------

    async def _take_lease(self, session: Session, load: bool = True) -> None:
        """Take the session's lease (waiting, at most ``lock_wait_seconds``, for another
        process to hand it over), then load the stored trainer if ours is not its latest
        version."""
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        if session.leased and not session.pins and not self._within_keep(session):
            # Kept past its window: take it (and check the session) again.
            await self._let_go(session, at=session.last_used)
        if not session.leased:
            limits = self.limits
            deadline = self.real() + limits.lock_wait_seconds
            pause = 0.001
            while True:
                got = await backend.acquire(
                    session.id, self.owner, self.clock(), limits.ttl_seconds, limits.lease_seconds
                )
                if got is None:
                    self._forget(session.id)
                    raise SessionNotFoundError(session.id)
                if isinstance(got, Acquired):
                    break
                if self.real() >= deadline:
                    raise SessionBusyElsewhereError(
                        f"this session has been busy in another server process for "
                        f"{limits.lock_wait_seconds:g} s (a long request); try again shortly"
                    )
                await asyncio.sleep(pause)
                pause = min(2 * pause, 0.02)
            session.leased, session.client = True, got.client
            session.kept_until = self.real() + limits.keep_window
            # Nobody else wrote it since this process did: its requests come here (a proxy
            # routing by session), so keep the lease for the next one.
            session.sticky = session.version == got.version
            if not session.sticky:
                session._trainer, session.dirty = None, False  # someone else wrote it
            session.version = got.version
        if load and not session.loaded:
            try:
                await self._load(session)
            except BaseException:
                with contextlib.suppress(StoreError):
                    await self._release(session)
                raise

    async def _load(self, session: Session) -> None:
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        stored = await backend.load(session.id)
        if stored is None:
            self._forget(session.id)
            raise SessionNotFoundError(session.id)
        trainer, session.history_saved = await self.lanes.quick(
            decode_trainer, session.id, stored.trainer, stored.history, self.engine_limits
        )
        session._trainer, session.version, session.client = trainer, stored.version, stored.client
        session.csv_text = session.csv_saved = stored.csv
        session.dirty = False
        self.account(session)

    async def _after_use(self, session: Session, mark: _Mark, durable: bool) -> None:
        """After a request or a frame: save what changed (a request always, a frame when a
        checkpoint is due or another process waits) and let go of the lease unless this
        process still needs it."""
        if session.closed or not session.leased:
            return
        if mark.changed(session):
            session.dirty = True
        busy = session.pins > 0 or session.users > 1  # a stream plays, or requests queue here
        keep = busy or (session.sticky and self.limits.keep_window > 0)
        due = durable or not busy or self.real() - session.saved_at >= self._checkpoint
        if session.dirty and due:
            wanted = await self._save(session, release=not keep)
            if keep and wanted:
                await self._let_go(session)
        elif not keep:
            await self._release(session)
        elif busy and self._time_to_ask(session) and await self._waited_for(session):
            await self._let_go(session)
        # (A lease kept for the next request: the hand-over task lets go of it when its
        # window passes or another process asks.)

    @property
    def _checkpoint(self) -> float:
        return self.limits.checkpoint_seconds

    def _time_to_ask(self, session: Session) -> bool:
        """Whether to ask the store if another process waits: after every request, and at
        most every ASK_EVERY seconds while a stream plays."""
        now = self.real()
        if session.pins and now - session.asked_at < ASK_EVERY:
            return False
        session.asked_at = now
        return True

    async def _waited_for(self, session: Session) -> bool:
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        return session.id in await backend.waiting([session.id], self.owner)

    async def _let_go(self, session: Session, at: float | None = None) -> None:
        """Save anything unsaved and release the lease (the session was last used ``at``,
        by the store's clock; default now)."""
        if not session.leased:
            return
        if session.dirty and session.loaded:
            await self._save(session, release=True)
        else:
            await self._release(session, at)

    async def _save(self, session: Session, release: bool) -> bool:
        """Store the session's trainer as its next version; True if another process waits.
        On failure this process's copy is dropped (the next request loads the stored one):
        what the failed request did is lost, and the request fails."""
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        trainer, before = session.trainer, session.history_saved
        self.account(session)
        csv: Any = KEEP_CSV if session.csv_text is session.csv_saved else session.csv_text
        history: list[SavedHistory] = []

        def encode() -> Blob:
            blob, after = encode_trainer(trainer, before)
            history.append(after)
            return blob

        try:
            saved = await backend.save(
                session.id,
                self.owner,
                encode,
                session.bytes,
                csv,
                self.clock(),
                release,
                lease_seconds=self.limits.lease_seconds,
            )
        except SessionNotFoundError:
            self._forget(session.id)
            raise
        except (StoreError, LeaseLostError):
            session._trainer, session.version, session.dirty = None, 0, False
            session.leased, session.history_saved = False, None
            raise
        session.version, session.dirty, session.saved_at = saved.version, False, self.real()
        session.csv_saved, session.history_saved = session.csv_text, history[0]
        if release:
            session.leased = False
        else:  # the lease is ours, renewed by the save: a window to use it again
            session.kept_until = self.real() + self.limits.keep_window
        return saved.wanted

    async def _release(self, session: Session, at: float | None = None) -> None:
        backend = self.backend
        assert isinstance(backend, SharedBackend)
        session.leased = False
        await backend.release(session.id, self.owner, self.clock() if at is None else at)


def release_free_memory() -> None:
    """Ask the C allocator to hand freed memory back to the system (glibc keeps freed heap
    pages otherwise, and a server's RSS would never go down after sessions expire)."""
    libc = _c_library()
    if libc is not None:
        with contextlib.suppress(AttributeError):  # not glibc: nothing to ask
            libc.malloc_trim(0)


@functools.cache
def _c_library() -> ctypes.CDLL | None:
    """The C library, looked up once: finding it runs ``ldconfig`` in a subprocess (a few
    milliseconds of the event loop, and a fork of the whole server, every time)."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - no C library to ask
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:  # pragma: no cover - listed but not loadable
        return None
