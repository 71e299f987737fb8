"""A process keeps a session's lease between a student's requests (SQLite and Redis): the
next request to that process takes nothing from the store, a read costs no call at all;
another process that asks for the session gets it and sees every step; a process whose copy
was out of date lets go at once; a kept lease ends when its window passes; and the store's
background tasks end even when a cancellation is lost on the way."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.lanes import Lanes
from app.sessions import Session, SessionStore, StoreLimits
from app.store import open_backend
from app.store.base import Acquired, SharedBackend
from engine.config import LayerConfig, NetworkConfig
from engine.trainer import Trainer

TINY = NetworkConfig(layers=(LayerConfig(units=3, activation="tanh"),))
# A window longer than any wait below: a lease let go was handed over, not timed out.
SLOW = {"lease_seconds": 120.0, "keep_seconds": 60.0, "lock_wait_seconds": 20.0}


def count_calls(backend: SharedBackend) -> Counter[str]:
    """Count the backend's lease and trainer calls from now on."""
    calls: Counter[str] = Counter()
    for name in ("acquire", "load", "save", "release"):
        method = getattr(backend, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kw: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kw)

        setattr(backend, name, counted)
    return calls


def processes(
    url: str, scenario: Callable[..., Awaitable[None]], n: int = 2, **limits: Any
) -> None:
    """``scenario`` with ``n`` started stores on ``url``, as ``n`` server processes."""

    async def run() -> None:
        stores = []
        try:
            for _ in range(n):
                backend = open_backend(url, ttl_seconds=1800, timeout=5)
                store = SessionStore(
                    StoreLimits(**{**SLOW, **limits}), Lanes(1, 1, 0.02), backend=backend
                )
                await store.start()
                stores.append(store)
            await scenario(*stores)
        finally:
            for store in stores:
                await store.stop()

    asyncio.run(run())


async def step(store: SessionStore, session_id: str) -> int:
    """One one-step request to the session on ``store``: the step it answers."""
    session = await store.get(session_id)
    async with store.hold(session) as held:
        held.trainer.train(1)
        return held.trainer.step


async def read(store: SessionStore, session_id: str) -> int:
    session = await store.get(session_id)
    async with store.hold(session) as held:
        return held.trainer.step


async def takes_at_once(store: SessionStore, session_id: str) -> bool:
    """Whether a third process would get the session's lease at its first try."""
    backend = store.backend
    assert isinstance(backend, SharedBackend)
    got = await backend.acquire(session_id, "a third process", store.clock(), 1800, 1)
    if isinstance(got, Acquired):
        await backend.release(session_id, "a third process", store.clock())
        return True
    return False


async def new_session(store: SessionStore) -> Session:
    return await store.add(Trainer(TINY), "c")


def test_the_next_requests_to_the_same_process_take_nothing_from_the_store(
    shared_url: str,
) -> None:
    async def scenario(a: SessionStore) -> None:
        session = await new_session(a)
        assert isinstance(a.backend, SharedBackend)
        calls = count_calls(a.backend)
        assert [await step(a, session.id) for _ in range(5)] == [1, 2, 3, 4, 5]
        assert calls == {"acquire": 1, "save": 5}  # the lease taken once, every step saved
        assert await read(a, session.id) == 5
        assert calls == {"acquire": 1, "save": 5}  # a read: no call at all
        stored = await a.backend.load(session.id)
        assert stored is not None and stored.version == 6  # created, then five saves
        assert not await takes_at_once(a, session.id)  # the lease is still this process's

    processes(shared_url, scenario, n=1)


def test_another_process_that_asks_gets_the_kept_session_and_sees_every_step(
    shared_url: str,
) -> None:
    async def scenario(a: SessionStore, b: SessionStore) -> None:
        session = await new_session(a)
        assert [await step(a, session.id) for _ in range(3)] == [1, 2, 3]
        # The window is a minute and B waits at most 20 s: A hands the lease over on asking.
        assert await step(b, session.id) == 4
        assert await read(b, session.id) == 4
        assert isinstance(a.backend, SharedBackend)
        calls = count_calls(a.backend)
        assert await step(a, session.id) == 5  # A loads what B wrote, then steps
        assert calls["acquire"] >= 1 and calls["load"] == 1
        # A's copy was out of date: it let go at once rather than keep the lease.
        assert await takes_at_once(a, session.id)

    processes(shared_url, scenario)


def test_two_processes_stepping_in_turn_lose_no_step(shared_url: str) -> None:
    async def scenario(a: SessionStore, b: SessionStore) -> None:
        session = await new_session(a)
        answered = await asyncio.gather(*(step((a, b)[k % 2], session.id) for k in range(20)))
        assert sorted(answered) == list(range(1, 21))
        assert await read(b, session.id) == await read(a, session.id) == 20

    processes(shared_url, scenario)


@pytest.mark.parametrize("keep_seconds", [0.0, 0.2])
def test_a_kept_lease_ends_with_its_window(shared_url: str, keep_seconds: float) -> None:
    async def scenario(a: SessionStore) -> None:
        session = await new_session(a)
        await step(a, session.id)
        if keep_seconds == 0:
            assert await takes_at_once(a, session.id)  # let go with the save
            return
        deadline = time.monotonic() + 30  # a bound for a slow machine, not a measurement
        while not await takes_at_once(a, session.id):
            assert time.monotonic() < deadline, "the kept lease was never let go"
            await asyncio.sleep(0.05)
        assert await step(a, session.id) == 2  # and the next request takes it again

    processes(shared_url, scenario, n=1, keep_seconds=keep_seconds)


def test_the_store_stops_even_when_a_cancellation_is_swallowed(shared_url: str) -> None:
    """A library call may swallow the cancel that stops a background task (on Python 3.11
    asyncio.wait_for loses one that arrives as its work completes, and the Redis client used
    it under a socket timeout); the tasks must end anyway, or the server never shuts down."""

    async def scenario(a: SessionStore) -> None:
        backend = a.backend
        assert isinstance(backend, SharedBackend)
        asked, swallow = asyncio.Event(), [True]
        answer = backend.waiting

        async def swallowing(*args: Any) -> set[str]:
            asked.set()
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if not swallow[0]:
                    raise
                # What the client library did: the cancel is lost, every time.
            return await answer(*args)

        backend.waiting = swallowing  # type: ignore[method-assign]
        session = await new_session(a)
        await step(a, session.id)  # a kept lease: the hand-over task asks about it
        await asyncio.wait_for(asked.wait(), 30)
        stopping = asyncio.ensure_future(a.stop())
        done, _ = await asyncio.wait({stopping}, timeout=30)  # a bound, not a measurement
        swallow[0] = False  # (a failed run can still clean up)
        assert done, "the store did not stop: a background task outlived its cancellation"

    processes(shared_url, scenario, n=1)
