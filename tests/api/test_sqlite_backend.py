"""The SQLite backend's own mechanics: taking turns at the write lock with another process,
and checkpointing the WAL away from the event loop.

(What every store must do — leases, caps, expiry, restarts — is tested for every backend in
test_store.py, test_shared_store.py and test_store_failures.py.)
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.store import sqlite as sqlite_store
from app.store.base import (
    KEEP_CSV,
    LARGE_BYTES,
    Acquired,
    Blob,
    Caps,
    NewRecord,
    StoreUnavailableError,
)
from app.store.sqlite import SqliteBackend

SESSION = "s" * 32
CAPS = Caps(max_sessions=1000, memory_bytes=2**30, max_per_client=1000)
BLOB = Blob(trainer=b"trainer" * 100, history=b"", replace=False)


async def opened(path: Path) -> SqliteBackend:
    backend = SqliteBackend(f"sqlite:///{path}")
    await backend.open()
    return backend


async def with_session(path: Path) -> SqliteBackend:
    backend = await opened(path)
    record = NewRecord(SESSION, "client", 100, time.time(), BLOB)
    await backend.create(record, CAPS)
    return backend


def other_process_writing(path: Path) -> sqlite3.Connection:
    """A connection of "another process" holding the file's write lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def big_blob() -> Blob:
    """A 100 KB trainer, new bytes every time (SQLite skips rewriting equal pages)."""
    return Blob(trainer=os.urandom(100_000), history=b"", replace=False)


async def thread_caught_up(backend: SqliteBackend) -> None:
    """Wait until the store's thread has done what it was given (checkpoints included)."""
    await asyncio.get_running_loop().run_in_executor(backend._thread, lambda: None)


def test_a_held_write_lock_is_waited_for_without_blocking_the_event_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"

    async def main() -> None:
        backend = await with_session(path)
        other = other_process_writing(path)
        acquiring = asyncio.create_task(backend.acquire(SESSION, "me", time.time(), 3600, 30))
        ticks = 0
        for _ in range(20):  # the event loop keeps running other work meanwhile
            await asyncio.sleep(0.002)
            ticks += 1
        assert ticks == 20
        assert not acquiring.done()  # still waiting for the lock, not failed
        other.execute("COMMIT")
        other.close()
        got = await asyncio.wait_for(acquiring, timeout=30)
        assert isinstance(got, Acquired) and got.version == 1
        saved = await backend.save(
            SESSION, "me", lambda: BLOB, 100, KEEP_CSV, time.time(), release=True
        )
        assert saved.version == 2
        await backend.close()

    asyncio.run(main())


def test_a_write_lock_held_too_long_is_a_clear_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_SECONDS", 0.05)
    path = tmp_path / "sessions.db"

    async def main() -> None:
        backend = await with_session(path)
        other = other_process_writing(path)
        try:
            with pytest.raises(StoreUnavailableError, match="locked by another process"):
                await backend.acquire(SESSION, "me", time.time(), 3600, 30)
        finally:
            other.execute("ROLLBACK")
            other.close()
        # The lock is free again: the same call now succeeds.
        assert isinstance(await backend.acquire(SESSION, "me", time.time(), 3600, 30), Acquired)
        await backend.close()

    asyncio.run(main())


@pytest.mark.parametrize("nbytes", [100, 5 * 2**20])
def test_a_save_encodes_once_however_long_the_lock_is_held(tmp_path: Path, nbytes: int) -> None:
    """A small session is encoded and saved on the event loop, a large one in the store's
    thread; either way the loop keeps running while the lock is held, and the session is
    encoded once, not once per try."""
    path = tmp_path / "sessions.db"
    encoded_in: list[str] = []

    def encode() -> Blob:
        encoded_in.append(threading.current_thread().name)
        return BLOB

    async def main() -> None:
        backend = await with_session(path)
        await backend.acquire(SESSION, "me", time.time(), 3600, 30)
        other = other_process_writing(path)
        saving = asyncio.create_task(
            backend.save(SESSION, "me", encode, nbytes, KEEP_CSV, time.time(), release=True)
        )
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.002)
            ticks += 1
        assert ticks == 10 and not saving.done()
        other.execute("COMMIT")
        other.close()
        assert (await asyncio.wait_for(saving, timeout=30)).version == 2
        await backend.close()

    asyncio.run(main())
    assert len(encoded_in) == 1
    assert encoded_in[0].startswith("sqlite-store") == (nbytes >= LARGE_BYTES)


@pytest.mark.parametrize("every", [10, 10**9])
def test_the_wal_is_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    """The event loop's connection never checkpoints; every CHECKPOINT_EVERY calls the
    store's thread copies the WAL into the database file and has the WAL start again from
    its beginning, so that steady writes do not grow it without end (with a huge
    CHECKPOINT_EVERY, the control, nothing reaches the file and the WAL holds every write).

    The test lets the thread finish its work after every save, as the pauses between a
    server's requests do: how far a writer that never pauses gets ahead of a checkpoint
    depends on how fast the disk syncs, which is no property of the store."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", every)
    path = tmp_path / "sessions.db"
    wal = tmp_path / "sessions.db-wal"

    async def main() -> tuple[int, int, int]:
        backend = await opened(path)
        before = path.stat().st_size
        record = NewRecord(SESSION, "client", 100, time.time(), big_blob())
        await backend.create(record, CAPS)
        for _ in range(300):  # 30 MB of saves
            await backend.acquire(SESSION, "me", time.time(), 3600, 30)
            await backend.save(SESSION, "me", big_blob, 100, KEEP_CSV, time.time(), True)
            await thread_caught_up(backend)
        after, wal_size = path.stat().st_size, wal.stat().st_size
        await backend.close()
        return before, after, wal_size

    before, after, wal_size = asyncio.run(main())
    if every == 10:
        assert after >= before + 100_000  # the trainer reached the database file
        assert wal_size < 12 * 2**20  # (its largest size) a few checkpoints apart, not 30 MB
    else:
        assert after == before
        assert wal_size > 30 * 10**6


def test_a_burst_that_outruns_the_checkpoints_leaves_no_large_wal_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves that never pause may grow the WAL past WAL_LIMIT_BYTES while a checkpoint
    syncs the disk (how far depends on the disk); once the writes slow down, a checkpoint
    completes and the next write, starting the WAL from its beginning, cuts the file back."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10)
    monkeypatch.setattr(sqlite_store, "WAL_LIMIT_BYTES", 2 * 2**20)
    wal = tmp_path / "sessions.db-wal"

    async def main() -> tuple[int, int]:
        backend = await opened(tmp_path / "sessions.db")
        await backend.create(NewRecord(SESSION, "client", 100, time.time(), big_blob()), CAPS)
        largest = 0
        for paced in [False] * 300 + [True] * 30:
            await backend.acquire(SESSION, "me", time.time(), 3600, 30)
            await backend.save(SESSION, "me", big_blob, 100, KEEP_CSV, time.time(), True)
            if paced:
                await thread_caught_up(backend)
            largest = max(largest, wal.stat().st_size)
        size = wal.stat().st_size
        await backend.close()
        return largest, size

    largest, size = asyncio.run(main())
    # The last write left at most the limit plus that write's own frames (about 110 KB).
    assert size <= 2 * 2**20 + 200_000, (largest, size)
