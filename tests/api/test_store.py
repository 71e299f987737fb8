"""Session store: idle TTL, LRU eviction, sessions in use are never evicted, 503 when full,
per-client quotas — the same with every backend (memory, a SQLite file, a real Redis)."""

from __future__ import annotations

import asyncio
import ctypes.util
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app import sessions
from app.lanes import Lanes
from app.sessions import (
    QuotaError,
    Session,
    SessionNotFoundError,
    SessionStore,
    SessionTooLargeError,
    StoreFullError,
    StoreLimits,
)
from app.store import open_backend
from app.store.base import SharedBackend
from engine.config import LayerConfig, NetworkConfig
from engine.trainer import Trainer
from tests.api.conftest import FakeClock, create, make_client

BACKENDS = ["memory", "sqlite", "redis"]
TINY = NetworkConfig(layers=(LayerConfig(units=2, activation="tanh"),))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: memory, a fresh SQLite file, an emptied Redis."""
    kind = request.param
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.db"
    url: str = request.getfixturevalue("redis_url")
    return url


class SizedTrainer(Trainer):
    """A real (tiny) trainer that says it holds ``nbytes``: the store budgets by that."""

    def __init__(self, nbytes: int = 1000) -> None:
        super().__init__(TINY)
        self.nbytes = nbytes

    def memory_bytes(self) -> int:
        return self.nbytes


def in_store(
    url: str,
    scenario: Callable[[SessionStore, FakeClock], Awaitable[None]],
    purge_every: float = 3600,
    **limits: Any,
) -> None:
    """Run ``scenario`` against a started store on ``url`` with a fake clock (purging
    expired sessions by itself every ``purge_every`` seconds)."""

    async def run() -> None:
        clock = FakeClock()
        settings = {"protect_seconds": 0.0, "ttl_seconds": 60.0, "max_sessions": 3, **limits}
        backend = open_backend(url, ttl_seconds=settings["ttl_seconds"], timeout=5)
        store = SessionStore(
            StoreLimits(**settings), Lanes(1, 1, 0.02), clock=clock, backend=backend
        )
        await store.start(every_seconds=purge_every)
        try:
            await scenario(store, clock)
        finally:
            await store.stop()

    asyncio.run(run())


async def add(
    s: SessionStore, client: str = "c", nbytes: int = 1000, at: FakeClock | None = None
) -> Session:
    """A new session (``at``: a second after the last one, on that clock)."""
    if at is not None:
        at.advance(1)
    await s.admit(client, nbytes)
    return await s.add(SizedTrainer(nbytes), client)


async def use(s: SessionStore, session_id: str) -> Session:
    """One request to the session (a read): NotFound if it is gone."""
    session = await s.get(session_id)
    async with s.hold(session):
        pass
    return session


async def gone(s: SessionStore, session_id: str) -> bool:
    try:
        await use(s, session_id)
    except SessionNotFoundError:
        return True
    return False


async def stored(s: SessionStore, session_id: str) -> bool:
    """Whether the backend itself still holds the session (memory: whether it is live)."""
    if isinstance(s.backend, SharedBackend):
        return await s.backend.load(session_id) is not None
    return session_id in s._live


def test_idle_sessions_expire_after_the_ttl(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        a = await add(s)
        clock.advance(59)
        await use(s, a.id)  # and that use restarts its idle time
        clock.advance(59)
        await use(s, a.id)
        clock.advance(61)
        assert await gone(s, a.id)
        assert not await stored(s, a.id) and len(s) == 0

    in_store(store_url, scenario)


def test_least_recently_used_is_evicted_first(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        a, b, c = [await add(s, at=clock) for _ in range(3)]  # a second apart, in this order
        clock.advance(1)
        await use(s, a.id)
        clock.advance(1)
        d = await add(s)
        assert await gone(s, b.id) and not await stored(s, b.id)
        for kept in (a, c, d):
            assert await stored(s, kept.id)
        await add(s)
        assert await gone(s, c.id)

    in_store(store_url, scenario)


def test_recently_used_sessions_are_never_evicted_to_make_room(store_url: str) -> None:
    """A flood of new sessions cannot push out a student who stepped a minute ago."""

    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        student = await add(s, "student")
        clock.advance(10)
        await add(s, "flood")
        await add(s, "flood")
        with pytest.raises(StoreFullError):
            await add(s, "flood")  # the newcomer gets the 503, not the student
        assert await stored(s, student.id)
        clock.advance(301)  # everyone idle for longer than the protection window
        await add(s, "flood")
        assert not await stored(s, student.id)  # now the least recently used one may go

    in_store(store_url, scenario, protect_seconds=300.0)


def test_sessions_in_use_are_never_evicted_nor_expired(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        a, b = await add(s), await add(s)
        async with s.hold(a), s.attach(b):
            clock.advance(100)  # both past their TTL, but in use
            assert await s.purge_expired() == 0
            with pytest.raises(StoreFullError):
                await s.admit("c", 1000)
            assert await stored(s, a.id) and await stored(s, b.id)
        # Released: their use counts as activity, so nothing expired, but both are idle
        # now and the least recently used one makes room.
        clock.advance(1)
        await use(s, a.id)
        clock.advance(1)
        c = await add(s)
        assert await stored(s, c.id) and not await stored(s, b.id) and await stored(s, a.id)

    in_store(store_url, scenario, ttl_seconds=10.0, max_sessions=2)


def test_memory_is_budgeted_in_bytes(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        with pytest.raises(SessionTooLargeError) as too_large:
            await s.admit("c", 7_000)  # more than one session may hold
        assert too_large.value.allowed == 6_000
        a = await add(s, nbytes=5_000)
        clock.advance(1)
        b = await add(s, nbytes=4_000)
        assert (await s.backend.usage("c")).bytes == 9_000
        clock.advance(1)
        await add(s, nbytes=3_000)  # 12,000 would pass the budget: the oldest idle one goes
        assert not await stored(s, a.id) and await stored(s, b.id)
        assert (await s.backend.usage("c")).bytes == 7_000

    in_store(store_url, scenario, max_sessions=100, memory_bytes=10_000, session_bytes=6_000)


def test_a_client_may_hold_only_so_many_sessions(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        await add(s, "a")
        await add(s, "a")
        with pytest.raises(QuotaError) as quota:
            await add(s, "a")
        assert "holds 2 sessions" in quota.value.message
        await add(s, "b")  # another client is not affected

    in_store(store_url, scenario, max_sessions=100, max_per_client=2)


def test_creation_rate_is_limited_per_client(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        for _ in range(3):
            await add(s, "a")
        with pytest.raises(QuotaError) as quota:
            await add(s, "a")
        assert quota.value.retry_after == 1  # one token per second
        await add(s, "b")
        clock.advance(1.0)
        await add(s, "a")  # refilled

    in_store(
        store_url,
        scenario,
        max_sessions=100,
        max_per_client=100,
        create_per_minute=60,
        create_burst=3,
    )


def test_expired_sessions_are_purged_without_any_request(store_url: str) -> None:
    async def scenario(s: SessionStore, clock: FakeClock) -> None:
        a, b = await add(s), await add(s)
        clock.advance(61)
        for _ in range(200):
            if not (await stored(s, a.id) or await stored(s, b.id)):
                break
            await asyncio.sleep(0.01)
        assert not await stored(s, a.id) and not await stored(s, b.id)
        assert (await s.backend.usage("c")).sessions == 0

    in_store(store_url, scenario, purge_every=0.01)


def test_memory_is_handed_back_without_looking_the_c_library_up_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a purge the server asks the C allocator to return freed memory. Finding the C
    library runs ``ldconfig`` in a subprocess (milliseconds of the event loop and a fork of
    the server), so it is found once, not on every purge."""
    lookups: list[str] = []
    find = ctypes.util.find_library

    def counted(name: str) -> str | None:
        lookups.append(name)
        return find(name)

    monkeypatch.setattr(ctypes.util, "find_library", counted)
    sessions._c_library.cache_clear()
    for _ in range(3):
        sessions.release_free_memory()
    assert lookups == ["c"]


# --- the same through the API ------------------------------------------------------------------


@pytest.fixture
def api(store_url: str) -> Callable[..., Any]:
    """make_client on this test's backend."""

    def client(clock: FakeClock | None = None, **overrides: Any) -> Any:
        return make_client(clock, store=store_url, **overrides)

    return client


def create_later(client: Any, clock: FakeClock) -> str:
    clock.advance(1)
    return create(client)


def test_api_ttl_expiry_with_an_injected_clock(api: Callable[..., Any]) -> None:
    clock = FakeClock()
    with api(clock=clock, session_ttl_seconds=60) as client:
        session = create(client)
        clock.advance(30)
        assert client.post(f"/api/sessions/{session}/step", json={}).status_code == 200
        clock.advance(59)
        assert client.get(f"/api/sessions/{session}").status_code == 200
        clock.advance(61)
        assert client.get(f"/api/sessions/{session}").status_code == 404


def test_api_lru_eviction(api: Callable[..., Any]) -> None:
    clock = FakeClock()
    with api(clock, max_sessions=3) as client:
        a, b, c = (create_later(client, clock) for _ in range(3))  # a second apart, in order
        clock.advance(301)  # all idle for longer than the protection window
        client.get(f"/api/sessions/{a}")
        clock.advance(1)
        d = create(client)
        assert client.get(f"/api/sessions/{b}").status_code == 404
        for s in (a, c, d):
            assert client.get(f"/api/sessions/{s}").status_code == 200


def test_api_recently_used_sessions_are_kept_and_the_newcomer_gets_503(
    api: Callable[..., Any],
) -> None:
    """A flood of creations cannot evict a student who stepped a minute ago."""
    clock = FakeClock()
    with api(clock, max_sessions=3, busy_retry_after_seconds=7) as client:
        student = create(client)
        clock.advance(60)
        create(client), create(client)
        client.post(f"/api/sessions/{student}/step", json={})
        for _ in range(5):
            response = client.post("/api/sessions", json={})
            assert response.status_code == 503 and response.headers["retry-after"] == "7"
        assert client.get(f"/api/sessions/{student}").status_code == 200


def test_api_per_client_quota_and_creation_rate(api: Callable[..., Any]) -> None:
    clock = FakeClock()
    with api(
        clock, max_sessions_per_client=3, create_burst=10, create_rate_per_minute=60
    ) as client:
        sessions = [create(client) for _ in range(3)]
        refused = client.post("/api/sessions", json={})
        assert refused.status_code == 429 and "holds 3 sessions" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        client.delete(f"/api/sessions/{sessions[0]}")
        assert client.post("/api/sessions", json={}).status_code == 201
    with api(clock, max_sessions_per_client=100, create_burst=2) as client:
        for session in sessions[1:]:
            client.delete(f"/api/sessions/{session}")
        clock.advance(3600)  # the first client's bucket (same address) refills completely
        create(client), create(client)
        too_fast = client.post("/api/sessions", json={})
        assert too_fast.status_code == 429 and "too fast" in too_fast.json()["detail"]
        clock.advance(1.0)  # one more token a second at 60 a minute
        assert client.post("/api/sessions", json={}).status_code == 201


def test_api_a_session_too_large_for_its_budget_is_refused_before_it_is_built(
    api: Callable[..., Any],
) -> None:
    with api(max_session_mb=8) as client:
        big = {
            "dataset": {"name": "circle", "n_samples": 5000},
            "layers": [{"units": 64, "activation": "tanh"}] * 16,
            "batch_size": 5000,
        }
        response = client.post("/api/sessions", json=big)
        assert response.status_code == 422
        error = response.json()["detail"][0]
        assert error["type"] == "memory_budget" and "8 MB" in error["msg"]
        session = create(client)  # a small one fits
        grown = client.patch(f"/api/sessions/{session}", json={"batch_size": 5000, **big})
        assert grown.status_code == 422 and grown.json()["detail"][0]["type"] == "memory_budget"


def test_api_503_when_every_slot_is_in_use(api: Callable[..., Any]) -> None:
    clock = FakeClock()
    with api(clock, max_sessions=2, busy_retry_after_seconds=7) as client:
        a, b = create(client), create(client)
        with (
            client.websocket_connect(f"/api/sessions/{a}/stream") as wa,
            client.websocket_connect(f"/api/sessions/{b}/stream") as wb,
        ):
            for ws in (wa, wb):  # a round trip proves both streams are attached
                ws.send_json({"action": "frame"})
                assert ws.receive_json()["type"] == "frame"
            clock.advance(301)  # idle past the protection window, but connected
            response = client.post("/api/sessions", json={})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert client.post("/api/sessions/import", json={}).status_code in (422, 503)
            # the sessions in use still work
            assert client.post(f"/api/sessions/{a}/step", json={}).status_code == 200
        # streams closed and idle past the protection window: the least recently used
        # idle session makes room once the server has finished with the closed streams.
        # Closing a test WebSocket returns before that, and the server's detach marks the
        # session used at the clock's time then, so every retry moves the clock past the
        # window again (while a stream is attached no clock makes room: see above).
        # A generous bound, not a speed claim: a loaded machine may take seconds to get there.
        statuses, give_up = [], time.monotonic() + 60
        while time.monotonic() < give_up and 201 not in statuses:
            clock.advance(301)
            statuses.append(client.post("/api/sessions", json={}).status_code)
            time.sleep(0.02 * (statuses[-1] == 503))
        assert statuses[-1] == 201 and set(statuses) <= {201, 503}
