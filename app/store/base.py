"""What every session store backend offers, and the errors a store can raise.

A backend keeps the store-wide bookkeeping: which sessions exist, their owner (the client's
address), their size in bytes and when they were last used, plus the creation buckets of the
per-client rate limit. :class:`Index` is that part; every backend has it, the in-memory one
included, so the admission rules (caps, LRU eviction, the protection window, quotas) are
written once, in :class:`app.sessions.SessionStore`, over these few operations, each of
which the backend performs atomically.

:class:`SharedBackend` adds what a store shared by several processes needs: the trainer
itself, stored as bytes with a version number that every save increments, and a lease per
session (an owner and an expiry) so that one process at a time works on a session. A lease
is held only while a process uses the session and is renewed while it does; a process that
dies loses it after ``lease_seconds``. A process that finds a lease taken asks for it
(*wants* it): the holder hands it over after its current request or stream frame.

Clocks: ``now`` arguments are the store's clock (last use, idle expiry, protection; a test's
fake clock), in seconds. Lease and attachment expiry use real time inside each backend.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

MB = 2**20
LARGE_BYTES = MB  # sessions holding more are encoded (and, in SQLite, written) off the event loop
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")  # secrets.token_urlsafe(24)


# --- errors ------------------------------------------------------------------------------------


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


class StoreError(Exception):
    """The session store could not do what a request needed (not the client's fault).

    ``status`` is the HTTP answer, ``close_code`` the WebSocket close code of a stream.
    Deliberately not a RuntimeError: the stream treats those as a client gone away."""

    status = 503
    close_code = 1013  # "try again later"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class StoreUnavailableError(StoreError):
    """The store did not answer (Redis down or restarting, a disk error)."""


class SessionBusyElsewhereError(StoreError):
    """Another server process held the session for longer than a request may wait."""


class LeaseLostError(StoreError):
    """This process's lease on a session ran out and another process took the session: the
    work done since the last save is not stored (the request fails instead of answering)."""


class SessionCorruptError(StoreError):
    """The stored session cannot be read back; ``problem`` names what is wrong."""

    status = 409
    close_code = 4409

    def __init__(self, session_id: str, problem: str) -> None:
        super().__init__(
            f"the stored session cannot be read ({problem}); it cannot be continued: "
            "DELETE it and start again (or import an export of it)",
            retry_after=0,
        )
        self.session_id = session_id
        self.problem = problem


class StoreStartupError(Exception):
    """The store cannot be used at all (a bad URL, a read-only folder, a full disk)."""


# --- what the backends exchange ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """Sessions and bytes held by the whole store, and sessions held by one client."""

    sessions: int
    bytes: int
    owned: int


@dataclass(frozen=True, slots=True)
class Caps:
    """What a new session must fit in, checked atomically as it is inserted."""

    max_sessions: int
    memory_bytes: int
    max_per_client: int


class Created(Enum):
    OK = "ok"
    FULL = "full"  # no slot or no bytes left (make room, then try again)
    QUOTA = "quota"  # the client holds max_per_client sessions


@dataclass(frozen=True, slots=True)
class Blob:
    """A trainer's stored form: the engine's binary export without its history rows, and
    history rows as a piece (engine.export_binary.history_bytes). A session's history is
    kept as pieces appended save after save, so a save writes what is new, not every row."""

    trainer: bytes
    history: bytes  # b"": no new rows
    replace: bool  # the piece holds every row and replaces the stored pieces


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A session to insert: its bookkeeping and (shared backends) its stored form."""

    session_id: str
    client: str
    nbytes: int
    now: float
    blob: Blob | None = None
    csv: str | None = None
    live: object = None  # the in-memory backend keeps the session object itself


@dataclass(frozen=True, slots=True)
class Acquired:
    """The lease is ours; ``version`` is the stored trainer's version."""

    version: int
    client: str


class Busy(Enum):
    BUSY = "busy"  # another process holds the lease (or waits for it first)


@dataclass(frozen=True, slots=True)
class Stored:
    trainer: bytes
    history: list[bytes]  # the pieces, in order
    csv: str | None
    version: int
    client: str


@dataclass(frozen=True, slots=True)
class Saved:
    version: int
    wanted: bool  # another process is waiting for the lease


KEEP_CSV: object = object()  # save(): leave the stored CSV text as it is


# --- the interfaces ----------------------------------------------------------------------------


class Index(ABC):
    """The store-wide bookkeeping every backend keeps (see the module docstring)."""

    #: Human words for error messages: "the SQLite file /data/sessions.db".
    where: str = "the session store"

    async def open(self) -> None:  # noqa: B027 - nothing to open by default
        """Connect, create what is missing; StoreStartupError if the store cannot be used."""

    async def close(self) -> None:  # noqa: B027 - nothing to close by default
        """Let go of connections and threads."""

    @abstractmethod
    async def usage(self, client: str) -> Usage: ...

    @abstractmethod
    async def bucket(self, client: str, now: float, rate: float, burst: int, take: bool) -> float:
        """The client's creation bucket (``rate`` tokens a second up to ``burst``), refilled
        to ``now``: 0.0 if it holds a token (taken when ``take``), else the seconds until it
        will."""

    @abstractmethod
    async def oldest_idle(self, before: float, keep: str | None) -> str | None:
        """The least recently used session not in use and not ``keep``, if it was last used
        before ``before``; None when there is none or it was used since (every later one
        was used more recently still)."""

    @abstractmethod
    async def evict(self, session_id: str, before: float) -> bool:
        """Delete the session if it is (still) not in use and last used before ``before``."""

    @abstractmethod
    async def purge_expired(self, now: float, ttl: float) -> list[str]:
        """Delete every session not in use and idle for longer than ``ttl``; their ids."""

    @abstractmethod
    async def create(self, record: NewRecord, caps: Caps) -> Created:
        """Insert a session if it fits ``caps`` (checked and inserted in one step)."""

    @abstractmethod
    async def delete(self, session_id: str) -> None: ...


class SharedBackend(Index):
    """A store several processes share: stored trainers, versions and leases."""

    @abstractmethod
    async def acquire(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> Acquired | Busy | None:
        """Take the session's lease for ``owner`` (marking the session used at ``now``).
        None: no such session, or it was idle past ``ttl`` (it is deleted then). Busy:
        another owner holds the lease or asked for it first; ``owner`` is then recorded as
        the one waiting, if nobody else is."""

    @abstractmethod
    async def load(self, session_id: str) -> Stored | None: ...

    @abstractmethod
    async def save(
        self,
        session_id: str,
        owner: str,
        encode: Callable[[], Blob],
        nbytes: int,
        csv: object,
        now: float,
        release: bool,
        lease_seconds: float = 0.0,
    ) -> Saved:
        """Store ``encode()`` as the session's next version if ``owner`` holds its lease
        (LeaseLostError otherwise; SessionNotFoundError if it is gone); ``csv`` is the
        uploaded CSV text or KEEP_CSV. Marks the session used at ``now``; with ``release``
        the lease is let go in the same step, else (given ``lease_seconds``) it is renewed
        to last that long from now."""

    @abstractmethod
    async def release(self, session_id: str, owner: str, now: float) -> None:
        """Let go of the lease (if ``owner`` holds it), marking the session used at ``now``."""

    @abstractmethod
    async def waiting(self, session_ids: Sequence[str], owner: str) -> set[str]:
        """Which of these sessions, whose leases ``owner`` holds, another process waits for
        (one question for them all)."""

    @abstractmethod
    async def renew(
        self,
        leases: Sequence[str],
        attached: Sequence[str],
        owner: str,
        lease_seconds: float,
        now: float,
    ) -> None:
        """Extend ``owner``'s leases, and the attachments of this process's connected streams
        (whose sessions count as used at ``now``: a paused stream keeps its session)."""

    @abstractmethod
    async def attach(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> bool:
        """Mark the session in use by ``owner``'s connected streams (for ``lease_seconds``,
        renewed); False if it does not exist or has expired."""

    @abstractmethod
    async def detach(self, session_id: str, owner: str, now: float) -> None:
        """``owner`` has no stream connected to the session any more (marked used at ``now``)."""


def lease_owner() -> str:
    """A name for this process's leases: host, process id and a random part (a restarted
    process with the same pid is a new owner)."""
    import os
    import secrets
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
