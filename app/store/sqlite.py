"""``BACKPROP_LAB_STORE=sqlite:///PATH``: sessions in one SQLite file, the default.

Several worker processes on one host share the file (``backprop-lab serve --workers N``).
The database runs in WAL mode: readers never wait for the writer, and each write is one short
``BEGIN IMMEDIATE`` transaction. ``synchronous=NORMAL`` (the default) makes every committed
save survive the server process being killed or crashing; a power cut or a kernel crash can
lose the last commits before the next WAL checkpoint. ``?synchronous=full`` in the URL syncs
the disk on every commit instead (safe against power loss, about an fsync per request).

Tables: ``sessions`` holds the small, often-written bookkeeping (owner, bytes, last use,
version, lease, waiter); ``trainers`` the stored trainer (without its history rows) and
uploaded CSV text, so that marking a session used never rewrites its trainer; ``history``
the pieces of each session's history, appended save after save; ``attachments`` the
processes with a stream connected to a session. Lease and attachment times are real
time (``time.time()``); every process on the host reads the same clock.

Where the work runs. Each call is one short transaction, and with ``synchronous=NORMAL`` a
commit only appends to the WAL file (no fsync), so calls run on the event loop itself: a
request's store calls (take the lease, unless this process kept it since the student's last
request; save) cost no hand-over to a thread and back, which under load made every request
wait for the interpreter lock several times over.
What does wait for the disk, or takes long, runs in the store's own thread on a second
connection: WAL checkpoints (automatic checkpoints are off on the event loop's connection),
handing freed pages back to the file system, and encoding and saving a large session. With
``synchronous=FULL`` every commit syncs the disk, so every call runs in that thread instead.

Two processes take turns at the file's one write lock. A call that finds it held does not
sleep inside SQLite (its busy handler waits in growing steps of up to 100 ms, which made the
tail of a class's latency): it fails at once, and the event loop serves other requests for
a millisecond or so before the call is tried again, for at most ``BUSY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from app.store.base import (
    KEEP_CSV,
    LARGE_BYTES,
    Acquired,
    Blob,
    Busy,
    Caps,
    Created,
    LeaseLostError,
    NewRecord,
    Saved,
    SessionNotFoundError,
    SharedBackend,
    Stored,
    StoreStartupError,
    StoreUnavailableError,
    Usage,
)

T = TypeVar("T")
SCHEMA_VERSION = "1"
WANT_SECONDS = 0.5  # a waiter that stops asking loses its place after this long
BUSY_SECONDS = 5.0  # the longest a call waits for another process's write lock
FIRST_PAUSE, LONGEST_PAUSE = 0.0005, 0.004  # between tries at a held write lock, doubling
CHECKPOINT_EVERY = 100  # calls between WAL checkpoints (a save adds about 17 pages)
# The bulk of the copy first, while writers go on; then the few frames added meanwhile, with
# writers held off for that moment, so that the next write starts the WAL from its beginning
# again (without the second step, under steady writes no checkpoint ever catches up, and the
# WAL file grows for as long as the server runs).
CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE); PRAGMA wal_checkpoint(RESTART);"
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
# A burst of writes that outruns a checkpoint (its disk sync) grows the WAL file, and SQLite
# keeps a WAL file at its largest size; the write that next starts the WAL from its beginning
# cuts it back to this.
WAL_LIMIT_BYTES = 8 * 2**20

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    version INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    last_used REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    want_owner TEXT,
    want_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_last_use ON sessions (last_used);
CREATE INDEX IF NOT EXISTS sessions_by_client ON sessions (client);
CREATE TABLE IF NOT EXISTS trainers (id TEXT PRIMARY KEY, blob BLOB NOT NULL, csv TEXT);
CREATE TABLE IF NOT EXISTS history (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, piece BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS attachments (
    session_id TEXT NOT NULL, owner TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (session_id, owner)
);
CREATE TABLE IF NOT EXISTS buckets (
    client TEXT PRIMARY KEY, tokens REAL NOT NULL, stamp REAL NOT NULL
);
"""
# Nobody uses the session: no lease, no connected stream (times are real time).
IDLE = (
    "lease_until <= :real AND NOT EXISTS (SELECT 1 FROM attachments AS a "
    "WHERE a.session_id = sessions.id AND a.until > :real)"
)


def parse_path(url: str) -> tuple[Path, str]:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` (optionally
    ``?synchronous=full``) → (path, synchronous mode)."""
    rest = url.removeprefix("sqlite:///")
    rest, _, query = rest.partition("?")
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    mode = options.pop("synchronous", "normal").upper()
    if options or mode not in ("NORMAL", "FULL") or not rest:
        raise StoreStartupError(
            f"{url!r}: expected sqlite:///PATH, optionally ?synchronous=normal or full"
        )
    return Path(rest).expanduser(), mode


class SqliteBackend(SharedBackend):
    def __init__(self, url: str) -> None:
        self.path, self.synchronous = parse_path(url)
        self.where = f"the SQLite file {self.path}"
        self._conn: sqlite3.Connection | None = None  # the event loop's calls
        self._upkeep: sqlite3.Connection | None = None  # the thread's (NORMAL)
        self._in_thread = threading.local()
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix="sqlite-store", initializer=self._mark_thread
        )
        self._inline = self.synchronous == "NORMAL"
        self._calls = 0  # since the last checkpoint
        self._checkpointing = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self.open_now)

    def open_now(self) -> None:
        """Open (creating the folder and the file if needed) and prove that the file can be
        written: StoreStartupError naming the file and the cause otherwise."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreStartupError(
                f"cannot create the folder {self.path.parent} for the session store: "
                f"{exc.strerror or exc}"
            ) from None
        try:
            conn = self._connect()
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            with _transaction(conn):  # a real write: a read-only or full disk fails here
                conn.execute(
                    "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT (key) DO NOTHING",
                    (SCHEMA_VERSION,),
                )
                conn.execute(
                    "INSERT INTO meta VALUES ('opened', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (repr(time.time()),),
                )
            (schema,) = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            upkeep = self._connect()
        except sqlite3.Error as exc:
            raise StoreStartupError(
                f"cannot write the session store {self.path}: {exc} "
                "(is its folder read-only, or its disk full?)"
            ) from None
        problem = None
        if sqlite3.sqlite_version_info < (3, 35):
            problem = (
                f"the SQLite store needs SQLite 3.35 or newer; this Python has "
                f"{sqlite3.sqlite_version}"
            )
        elif schema != SCHEMA_VERSION:
            problem = (
                f"the session store {self.path} has layout {schema}, this version reads "
                f"{SCHEMA_VERSION}: point BACKPROP_LAB_STORE at a new file"
            )
        if problem is not None:
            conn.close()
            upkeep.close()
            raise StoreStartupError(problem)
        if self._inline:
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the thread checkpoints instead
            conn.execute("PRAGMA busy_timeout = 0")  # a held write lock: try again later
        self._conn, self._upkeep = conn, upkeep

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS
        )
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        return conn

    def close_now(self) -> None:
        """Close from the calling thread (a check before the server starts)."""
        for conn in self._let_go_of_connections():
            conn.close()
        self._thread.shutdown(wait=False)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for conn in self._let_go_of_connections():  # (the last one out checkpoints)
            await loop.run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)

    def _let_go_of_connections(self) -> list[sqlite3.Connection]:
        conns = [c for c in (self._conn, self._upkeep) if c is not None]
        self._conn = self._upkeep = None
        return conns

    async def _run(self, work: Callable[..., T], *args: Any, thread: bool = False) -> T:
        """``work(*args)``, one transaction, where the module docstring says (``thread``: in
        the store's thread in any case); tried again while another process holds the write
        lock. SQLite errors (and a lock held for longer than BUSY_SECONDS) become
        StoreUnavailableError."""
        pause, deadline = FIRST_PAUSE, time.monotonic() + BUSY_SECONDS
        while True:
            try:
                done = await self._call(work, *args, thread=thread)
            except sqlite3.Error as exc:
                code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
                if code not in BUSY_CODES:
                    raise StoreUnavailableError(f"{self.where} failed: {exc}") from None
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        f"{self.where} has been locked by another process for {BUSY_SECONDS:g} s"
                    ) from None
                await asyncio.sleep(pause)
                pause = min(2 * pause, LONGEST_PAUSE)
                continue
            self._after_call()
            return done

    async def _call(self, work: Callable[..., T], *args: Any, thread: bool = False) -> T:
        if self._inline and not thread:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    def _after_call(self) -> None:
        """Every CHECKPOINT_EVERY calls, copy the WAL into the database in the thread (the
        event loop's connection never checkpoints: that waits for the disk)."""
        self._calls += 1
        if not self._inline or self._checkpointing or self._calls < CHECKPOINT_EVERY:
            return
        self._calls, self._checkpointing = 0, True
        future = self._thread.submit(self._upkeep_now, CHECKPOINT)
        future.add_done_callback(self._checkpointed)

    def _checkpointed(self, future: Any) -> None:
        self._checkpointing = False
        # A checkpoint that could not finish (a reader, another process's checkpoint) is
        # simply done by a later one.
        future.exception()

    def _upkeep_now(self, script: str) -> None:
        upkeep = self._upkeep
        if upkeep is not None:
            upkeep.executescript(script)

    def _mark_thread(self) -> None:
        self._in_thread.yes = True

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection: one connection is never used by two threads at
        once (the event loop's transactions would interleave with the thread's)."""
        conn = self._conn
        if self._inline and getattr(self._in_thread, "yes", False):
            conn = self._upkeep
        assert conn is not None, "SqliteBackend.open() was not called"
        return conn

    # --- bookkeeping --------------------------------------------------------------------------

    async def usage(self, client: str) -> Usage:
        return await self._run(self._usage, client)

    def _usage(self, client: str) -> Usage:
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(client = ?), 0) FROM sessions",
            (client,),
        ).fetchone()
        return Usage(int(row[0]), int(row[1]), int(row[2]))

    async def bucket(self, client: str, now: float, rate: float, burst: int, take: bool) -> float:
        def work() -> float:
            with _transaction(self.conn) as conn:
                row = conn.execute(
                    "SELECT tokens, stamp FROM buckets WHERE client = ?", (client,)
                ).fetchone()
                tokens = float(burst) if row is None else row[0] + (now - row[1]) * rate
                tokens = min(float(burst), tokens)
                wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
                if take and not wait:
                    tokens -= 1.0
                conn.execute(
                    "INSERT INTO buckets VALUES (?, ?, ?) ON CONFLICT (client) DO UPDATE "
                    "SET tokens = excluded.tokens, stamp = excluded.stamp",
                    (client, tokens, now),
                )
                return wait

        return await self._run(work)

    async def oldest_idle(self, before: float, keep: str | None) -> str | None:
        def work() -> str | None:
            row = self.conn.execute(
                f"SELECT id, last_used FROM sessions WHERE id IS NOT :keep AND {IDLE} "
                "ORDER BY last_used LIMIT 1",
                {"keep": keep, "real": time.time()},
            ).fetchone()
            return row[0] if row is not None and row[1] < before else None

        return await self._run(work)

    async def evict(self, session_id: str, before: float) -> bool:
        def work() -> bool:
            with _transaction(self.conn) as conn:
                gone = conn.execute(
                    f"DELETE FROM sessions WHERE id = :id AND last_used < :before AND {IDLE}",
                    {"id": session_id, "before": before, "real": time.time()},
                ).rowcount
                if gone:
                    _drop(conn, [session_id])
                return bool(gone)

        return await self._run(work)

    async def purge_expired(self, now: float, ttl: float) -> list[str]:
        def work() -> list[str]:
            with _transaction(self.conn) as conn:
                args = {"before": now - ttl, "real": time.time()}
                gone = [
                    row[0]
                    for row in conn.execute(
                        f"SELECT id FROM sessions WHERE last_used < :before AND {IDLE}", args
                    )
                ]
                _drop(conn, gone)
                # A client idle for the TTL has had time to refill its bucket: forget it.
                conn.execute("DELETE FROM buckets WHERE stamp < ?", (now - ttl,))
                # Streams of processes that died without saying so.
                conn.execute("DELETE FROM attachments WHERE until <= ?", (args["real"],))
            return gone

        gone = await self._run(work)
        # Hand the pages of expired, evicted and deleted sessions back to the file system
        # (executescript: execute() would run it one step, freeing a single page). In the
        # thread, waiting for the write lock there: it writes many pages.
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._thread, self._upkeep_now, "PRAGMA incremental_vacuum;"
            )
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"{self.where} failed: {exc}") from None
        return gone

    async def create(self, record: NewRecord, caps: Caps) -> Created:
        def work() -> Created:
            with _transaction(self.conn) as conn:
                usage = self._usage(record.client)
                if usage.owned >= caps.max_per_client:
                    return Created.QUOTA
                full = usage.sessions + 1 > caps.max_sessions
                if full or usage.bytes + record.nbytes > caps.memory_bytes:
                    return Created.FULL
                conn.execute(
                    "INSERT INTO sessions (id, client, version, bytes, last_used) "
                    "VALUES (?, ?, 1, ?, ?)",
                    (record.session_id, record.client, record.nbytes, record.now),
                )
                assert record.blob is not None, "a shared store keeps the trainer"
                conn.execute(
                    "INSERT INTO trainers VALUES (?, ?, ?)",
                    (record.session_id, record.blob.trainer, record.csv),
                )
                _store_history(conn, record.session_id, record.blob)
                return Created.OK

        return await self._run(work)

    async def delete(self, session_id: str) -> None:
        def work() -> None:
            with _transaction(self.conn) as conn:
                _drop(conn, [session_id])

        await self._run(work)

    # --- leases and stored trainers -----------------------------------------------------------

    async def acquire(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> Acquired | Busy | None:
        def work() -> Acquired | Busy | None:
            real = time.time()
            # The usual case in one statement: the lease is free (or ours), nobody else waits
            # for it, and the session has not expired.
            row = self.conn.execute(
                "UPDATE sessions SET lease_owner = :owner, lease_until = :until, "
                "last_used = MAX(last_used, :now), want_owner = NULL, want_until = 0 "
                "WHERE id = :id AND (lease_owner IS NULL OR lease_owner = :owner "
                "OR lease_until <= :real) AND (want_owner IS NULL OR want_owner = :owner "
                f"OR want_until <= :real) AND (:now - last_used <= :ttl OR NOT ({IDLE})) "
                "RETURNING version, client",
                {
                    "id": session_id,
                    "owner": owner,
                    "until": real + lease_seconds,
                    "now": now,
                    "real": real,
                    "ttl": ttl,
                },
            ).fetchall()
            if row:
                return Acquired(int(row[0][0]), str(row[0][1]))
            return self._not_acquired(session_id, owner, now, ttl, real)

        return await self._run(work)

    def _not_acquired(
        self, session_id: str, owner: str, now: float, ttl: float, real: float
    ) -> Busy | None:
        """Why the lease was not free: the session is gone or expired (None: deleted now),
        or another process holds it or waits first (Busy; ``owner`` queues if nobody does)."""
        with _transaction(self.conn) as conn:
            row = conn.execute(
                f"SELECT last_used, want_owner, want_until, {IDLE} FROM sessions WHERE id = :id",
                {"id": session_id, "real": real},
            ).fetchone()
            if row is None:
                return None
            last_used, waiter, wait_until, idle = row
            if idle and now - last_used > ttl:
                _drop(conn, [session_id])
                return None
            if waiter is None or waiter == owner or wait_until <= real:
                conn.execute(
                    "UPDATE sessions SET want_owner = ?, want_until = ? WHERE id = ?",
                    (owner, real + WANT_SECONDS, session_id),
                )
            return Busy.BUSY

    async def load(self, session_id: str) -> Stored | None:
        def work() -> Stored | None:
            with _transaction(self.conn, "DEFERRED") as conn:  # one snapshot of both tables
                row = conn.execute(
                    "SELECT t.blob, t.csv, s.version, s.client FROM sessions AS s "
                    "JOIN trainers AS t ON t.id = s.id WHERE s.id = ?",
                    (session_id,),
                ).fetchone()
                pieces = [
                    bytes(piece)
                    for (piece,) in conn.execute(
                        "SELECT piece FROM history WHERE session_id = ? ORDER BY seq",
                        (session_id,),
                    )
                ]
            if row is None:
                return None
            return Stored(bytes(row[0]), pieces, row[1], int(row[2]), row[3])

        return await self._run(work)

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
        # Before the transaction: other processes' writes need not wait for it. A large
        # session is encoded and written in the thread, off the event loop.
        large = nbytes >= LARGE_BYTES
        blob = await self._call(encode, thread=large)

        def work() -> Saved:
            real = time.time()
            until: tuple[float, ...]
            if release:
                lease, until = "lease_owner = NULL, lease_until = 0", ()
            elif lease_seconds:
                lease, until = "lease_until = ?", (real + lease_seconds,)
            else:
                lease, until = "lease_until = lease_until", ()
            with _transaction(self.conn) as conn:
                row = conn.execute(
                    "UPDATE sessions SET version = version + 1, bytes = ?, "
                    f"last_used = MAX(last_used, ?), {lease} WHERE id = ? AND lease_owner = ? "
                    "RETURNING version, want_owner, want_until",
                    (nbytes, now, *until, session_id, owner),
                ).fetchall()
                if not row:
                    gone = conn.execute(
                        "SELECT 1 FROM sessions WHERE id = ?", (session_id,)
                    ).fetchone()
                    if gone is None:
                        raise SessionNotFoundError(session_id)
                    raise LeaseLostError(
                        "this request ran longer than the session's lease and another server "
                        "process took the session over: its changes were not saved; try again"
                    )
                if csv is KEEP_CSV:
                    conn.execute(
                        "UPDATE trainers SET blob = ? WHERE id = ?", (blob.trainer, session_id)
                    )
                else:
                    conn.execute(
                        "UPDATE trainers SET blob = ?, csv = ? WHERE id = ?",
                        (blob.trainer, csv, session_id),
                    )
                _store_history(conn, session_id, blob)
            version, waiter, wait_until = row[0]
            return Saved(int(version), waiter is not None and waiter != owner and wait_until > real)

        return await self._run(work, thread=large)

    async def release(self, session_id: str, owner: str, now: float) -> None:
        await self._run(
            self._write,
            "UPDATE sessions SET lease_owner = NULL, lease_until = 0, "
            "last_used = MAX(last_used, ?) WHERE id = ? AND lease_owner = ?",
            (now, session_id, owner),
        )

    async def waiting(self, session_ids: Sequence[str], owner: str) -> set[str]:
        if not session_ids:
            return set()

        def work() -> set[str]:
            found: set[str] = set()
            for start in range(0, len(session_ids), 500):  # within SQLite's variable limit
                chunk = list(session_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(
                    session_id
                    for (session_id,) in self.conn.execute(
                        f"SELECT id FROM sessions WHERE id IN ({marks}) AND want_owner "
                        "IS NOT NULL AND want_owner != ? AND want_until > ?",
                        (*chunk, owner, time.time()),
                    )
                )
            return found

        return await self._run(work)

    async def renew(
        self,
        leases: Sequence[str],
        attached: Sequence[str],
        owner: str,
        lease_seconds: float,
        now: float,
    ) -> None:
        def work() -> None:
            until = time.time() + lease_seconds
            with _transaction(self.conn) as conn:
                conn.executemany(
                    "UPDATE sessions SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                    [(until, i, owner) for i in leases],
                )
                conn.executemany(
                    "UPDATE attachments SET until = ? WHERE session_id = ? AND owner = ?",
                    [(until, i, owner) for i in attached],
                )
                conn.executemany(
                    "UPDATE sessions SET last_used = MAX(last_used, ?) WHERE id = ?",
                    [(now, i) for i in attached],
                )

        await self._run(work)

    async def attach(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> bool:
        def work() -> bool:
            real = time.time()
            with _transaction(self.conn) as conn:
                row = conn.execute(
                    f"SELECT last_used, {IDLE} FROM sessions WHERE id = :id",
                    {"id": session_id, "real": real},
                ).fetchone()
                if row is None:
                    return False
                if row[1] and now - row[0] > ttl:
                    _drop(conn, [session_id])
                    return False
                conn.execute(
                    "INSERT INTO attachments VALUES (?, ?, ?) ON CONFLICT (session_id, owner) "
                    "DO UPDATE SET until = excluded.until",
                    (session_id, owner, real + lease_seconds),
                )
                conn.execute(
                    "UPDATE sessions SET last_used = MAX(last_used, ?) WHERE id = ?",
                    (now, session_id),
                )
                return True

        return await self._run(work)

    async def detach(self, session_id: str, owner: str, now: float) -> None:
        def work() -> None:
            with _transaction(self.conn) as conn:
                conn.execute(
                    "DELETE FROM attachments WHERE session_id = ? AND owner = ?",
                    (session_id, owner),
                )
                conn.execute(
                    "UPDATE sessions SET last_used = MAX(last_used, ?) WHERE id = ?",
                    (now, session_id),
                )

        await self._run(work)

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        self.conn.execute(sql, args)


def _drop(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Delete sessions and everything stored with them (inside a transaction)."""
    rows = [(i,) for i in ids]
    conn.executemany("DELETE FROM sessions WHERE id = ?", rows)
    conn.executemany("DELETE FROM trainers WHERE id = ?", rows)
    conn.executemany("DELETE FROM history WHERE session_id = ?", rows)
    conn.executemany("DELETE FROM attachments WHERE session_id = ?", rows)


def _store_history(conn: sqlite3.Connection, session_id: str, blob: Blob) -> None:
    """Append the blob's history piece, or replace every piece with it."""
    if blob.replace:
        conn.execute("DELETE FROM history WHERE session_id = ?", (session_id,))
    if blob.history:
        conn.execute(
            "INSERT INTO history SELECT ?, COALESCE(MAX(seq), -1) + 1, ? FROM history "
            "WHERE session_id = ?",
            (session_id, blob.history, session_id),
        )


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, kind: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """One transaction; a write transaction takes the write lock at once (IMMEDIATE: no
    upgrade deadlocks), a read-only one (DEFERRED) reads one snapshot."""
    conn.execute(f"BEGIN {kind}")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # (a failed COMMIT leaves it open)
            conn.execute("ROLLBACK")
        raise
