"""Session store: idle TTL, LRU eviction, sessions in use are never evicted, 503 when full."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.sessions import (
    QuotaError,
    Session,
    SessionNotFoundError,
    SessionStore,
    SessionTooLargeError,
    StoreFullError,
    StoreLimits,
)
from tests.api.conftest import FakeClock, create, make_client


class FakeTrainer:
    """The store only asks a trainer how many bytes it holds."""

    def __init__(self, nbytes: int = 1000) -> None:
        self.nbytes = nbytes

    def memory_bytes(self) -> int:
        return self.nbytes


def store(ttl: float = 60, cap: int = 3, **limits: Any) -> tuple[SessionStore, FakeClock]:
    clock = FakeClock()
    settings = {"protect_seconds": 0.0, **limits}
    return SessionStore(
        StoreLimits(ttl_seconds=ttl, max_sessions=cap, **settings), clock=clock
    ), clock


def trainer(nbytes: int = 1000) -> Any:
    return FakeTrainer(nbytes)


def add(s: SessionStore, client: str = "c", nbytes: int = 1000) -> Session:
    s.admit(client, nbytes)
    return s.add(trainer(nbytes), client)


def test_idle_sessions_expire_after_the_ttl() -> None:
    s, clock = store(ttl=60)
    a = add(s)
    clock.advance(59)
    assert s.get(a.id) is a  # and that use restarts its idle time
    clock.advance(59)
    assert s.get(a.id) is a
    clock.advance(61)
    with pytest.raises(SessionNotFoundError):
        s.get(a.id)
    assert a.closed and len(s) == 0


def test_least_recently_used_is_evicted_first() -> None:
    s, clock = store(cap=3)
    a, b, c = (add(s) for _ in range(3))
    clock.advance(1)
    s.get(a.id)
    d = add(s)
    assert b.closed and not (a.closed or c.closed or d.closed)
    with pytest.raises(SessionNotFoundError):
        s.get(b.id)
    add(s)
    assert c.closed


def test_recently_used_sessions_are_never_evicted_to_make_room() -> None:
    """A flood of new sessions cannot push out a student who stepped a minute ago."""
    s, clock = store(cap=3, protect_seconds=300)
    student = add(s, "student")
    clock.advance(10)
    add(s, "flood"), add(s, "flood")
    with pytest.raises(StoreFullError):
        add(s, "flood")  # the newcomer gets the 503, not the student
    assert not student.closed
    clock.advance(301)  # everyone idle for longer than the protection window
    add(s, "flood")
    assert student.closed  # now the least recently used one may go


def test_sessions_in_use_are_never_evicted_nor_expired() -> None:
    async def scenario() -> None:
        s, clock = store(ttl=10, cap=2)
        a, b = add(s), add(s)
        async with s.hold(a), s.attach(b):
            clock.advance(100)  # both past their TTL, but in use
            assert s.purge_expired() == 0
            with pytest.raises(StoreFullError):
                s.admit("c", 1000)
            assert not a.closed and not b.closed
        # Released (b first, then a): their use counts as activity, so nothing expired,
        # but both are idle now: the least recently used makes room.
        clock.advance(1)
        c = add(s)
        assert not c.closed and b.closed and not a.closed

    asyncio.run(scenario())


def test_memory_is_budgeted_in_bytes() -> None:
    s, clock = store(cap=100, memory_bytes=10_000, session_bytes=6_000)
    with pytest.raises(SessionTooLargeError) as too_large:
        s.admit("c", 7_000)  # more than one session may hold
    assert too_large.value.allowed == 6_000
    a = add(s, nbytes=5_000)
    b = add(s, nbytes=4_000)
    assert s.bytes == 9_000
    clock.advance(1)
    add(s, nbytes=3_000)  # 12,000 would pass the budget: the oldest idle session goes
    assert a.closed and not b.closed and s.bytes == 7_000


def test_a_client_may_hold_only_so_many_sessions() -> None:
    s, _ = store(cap=100, max_per_client=2)
    add(s, "a"), add(s, "a")
    with pytest.raises(QuotaError) as quota:
        add(s, "a")
    assert "holds 2 sessions" in quota.value.message
    add(s, "b")  # another client is not affected


def test_creation_rate_is_limited_per_client() -> None:
    s, clock = store(cap=100, max_per_client=100, create_per_minute=60, create_burst=3)
    for _ in range(3):
        add(s, "a")
    with pytest.raises(QuotaError) as quota:
        add(s, "a")
    assert quota.value.retry_after == 1  # one token per second
    add(s, "b")
    clock.advance(1.0)
    add(s, "a")  # refilled


def test_expired_sessions_are_purged_without_any_request() -> None:
    async def scenario() -> None:
        s, clock = store(ttl=5)
        add(s), add(s)
        s.start(every_seconds=0.01)
        clock.advance(6)
        for _ in range(100):
            if len(s) == 0:
                break
            await asyncio.sleep(0.01)
        await s.stop()
        assert len(s) == 0

    asyncio.run(scenario())


def test_api_ttl_expiry_with_an_injected_clock() -> None:
    clock = FakeClock()
    with make_client(clock=clock, session_ttl_seconds=60) as client:
        session = create(client)
        clock.advance(30)
        assert client.post(f"/api/sessions/{session}/step", json={}).status_code == 200
        clock.advance(59)
        assert client.get(f"/api/sessions/{session}").status_code == 200
        clock.advance(61)
        assert client.get(f"/api/sessions/{session}").status_code == 404


def test_api_lru_eviction() -> None:
    clock = FakeClock()
    with make_client(clock, max_sessions=3) as client:
        a, b, c = (create(client) for _ in range(3))
        clock.advance(301)  # all idle for longer than the protection window
        client.get(f"/api/sessions/{a}")
        d = create(client)
        assert client.get(f"/api/sessions/{b}").status_code == 404
        for s in (a, c, d):
            assert client.get(f"/api/sessions/{s}").status_code == 200


def test_api_recently_used_sessions_are_kept_and_the_newcomer_gets_503() -> None:
    """A flood of creations cannot evict a student who stepped a minute ago."""
    clock = FakeClock()
    with make_client(clock, max_sessions=3, busy_retry_after_seconds=7) as client:
        student = create(client)
        clock.advance(60)
        create(client), create(client)
        client.post(f"/api/sessions/{student}/step", json={})
        for _ in range(5):
            response = client.post("/api/sessions", json={})
            assert response.status_code == 503 and response.headers["retry-after"] == "7"
        assert client.get(f"/api/sessions/{student}").status_code == 200


def test_api_per_client_quota_and_creation_rate() -> None:
    clock = FakeClock()
    with make_client(
        clock, max_sessions_per_client=3, create_burst=10, create_rate_per_minute=60
    ) as client:
        sessions = [create(client) for _ in range(3)]
        refused = client.post("/api/sessions", json={})
        assert refused.status_code == 429 and "holds 3 sessions" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        client.delete(f"/api/sessions/{sessions[0]}")
        assert client.post("/api/sessions", json={}).status_code == 201
    with make_client(clock, max_sessions_per_client=100, create_burst=2) as client:
        create(client), create(client)
        too_fast = client.post("/api/sessions", json={})
        assert too_fast.status_code == 429 and "too fast" in too_fast.json()["detail"]
        clock.advance(1.0)  # one more token a second at 60 a minute
        assert client.post("/api/sessions", json={}).status_code == 201


def test_api_a_session_too_large_for_its_budget_is_refused_before_it_is_built() -> None:
    with make_client(max_session_mb=8) as client:
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


def test_api_503_when_every_slot_is_in_use() -> None:
    clock = FakeClock()
    with make_client(clock, max_sessions=2, busy_retry_after_seconds=7) as client:
        a, b = create(client), create(client)
        with (
            client.websocket_connect(f"/api/sessions/{a}/stream") as wa,
            client.websocket_connect(f"/api/sessions/{b}/stream") as wb,
        ):
            for ws in (wa, wb):  # a round trip proves both streams are attached
                ws.send_json({"action": "frame"})
                assert ws.receive_json()["type"] == "frame"
            response = client.post("/api/sessions", json={})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert client.post("/api/sessions/import", json={}).status_code in (422, 503)
            # the sessions in use still work
            assert client.post(f"/api/sessions/{a}/step", json={}).status_code == 200
        # streams closed and idle past the protection window: the least recently used
        # idle session makes room
        clock.advance(301)
        assert client.post("/api/sessions", json={}).status_code == 201
