"""Session store: idle TTL, LRU eviction, sessions in use are never evicted, 503 when full."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.sessions import SessionNotFoundError, SessionStore, StoreFullError
from tests.api.conftest import FakeClock, create, make_client


def store(ttl: float = 60, cap: int = 3) -> tuple[SessionStore, FakeClock]:
    clock = FakeClock()
    return SessionStore(ttl, cap, clock), clock


def trainer() -> Any:
    return object()  # the store never looks inside


def test_idle_sessions_expire_after_the_ttl() -> None:
    s, clock = store(ttl=60)
    a = s.add(trainer())
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
    a, b, c = (s.add(trainer()) for _ in range(3))
    clock.advance(1)
    s.get(a.id)
    d = s.add(trainer())
    assert b.closed and not (a.closed or c.closed or d.closed)
    with pytest.raises(SessionNotFoundError):
        s.get(b.id)
    s.add(trainer())
    assert c.closed


def test_sessions_in_use_are_never_evicted_nor_expired() -> None:
    async def scenario() -> None:
        s, clock = store(ttl=10, cap=2)
        a, b = s.add(trainer()), s.add(trainer())
        async with s.hold(a), s.attach(b):
            clock.advance(100)  # both past their TTL, but in use
            assert s.purge_expired() == 0
            with pytest.raises(StoreFullError):
                s.ensure_room()
            with pytest.raises(StoreFullError):
                s.add(trainer())
            assert not a.closed and not b.closed
        # Released (b first, then a): their use counts as activity, so nothing expired,
        # but both are idle now: the least recently used makes room.
        clock.advance(1)
        c = s.add(trainer())
        assert not c.closed and b.closed and not a.closed

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
    with make_client(max_sessions=3) as client:
        a, b, c = (create(client) for _ in range(3))
        client.get(f"/api/sessions/{a}")
        d = create(client)
        assert client.get(f"/api/sessions/{b}").status_code == 404
        for s in (a, c, d):
            assert client.get(f"/api/sessions/{s}").status_code == 200


def test_api_503_when_every_slot_is_in_use() -> None:
    with make_client(max_sessions=2, busy_retry_after_seconds=7) as client:
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
        # streams closed: the least recently used idle session makes room
        assert client.post("/api/sessions", json={}).status_code == 201
