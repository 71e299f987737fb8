"""Fixtures for the API tests: an in-process client per test, with settings and a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

# The network most tests use (the engine's teaching defaults may change; these tests should not).
SMALL = {
    "layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}],
    "learning_rate": 0.03,
}

# A configuration that diverges within a few steps: linear layers, plain SGD, η = 100.
DIVERGING = {
    "dataset": {"name": "plane"},
    "layers": [{"units": 8, "activation": "linear"}, {"units": 8, "activation": "linear"}],
    "optimizer": {"name": "sgd"},
    "learning_rate": 100,
}


class FakeClock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Every test client is one address: the per-client quotas would stop tests that create many
# sessions. Tests of the quotas themselves set them.
GENEROUS_QUOTAS = {"max_sessions_per_client": 100_000, "create_burst": 100_000}


def say_json(request: httpx.Request) -> None:
    """What the page does: every POST says it sends JSON (the server refuses others)."""
    if request.method == "POST" and "content-type" not in request.headers:
        request.headers["content-type"] = "application/json"


@contextmanager
def make_client(
    clock: FakeClock | None = None, *, like_the_page: bool = True, **overrides: Any
) -> Iterator[TestClient]:
    """A client for an app with these settings (lifespan run, so the store exists).
    ``like_the_page``: bodyless POSTs say ``Content-Type: application/json``."""
    settings = {"store": "memory", **GENEROUS_QUOTAS, **overrides}  # store tests pick theirs
    app = create_app(Settings(**settings), clock=clock)
    with TestClient(app) as client:
        if like_the_page:
            client.event_hooks["request"].append(say_json)
        yield client


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c


def strict_json(text: str) -> Any:
    """Parse JSON the way a browser does: NaN and Infinity are errors."""

    def reject(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def create(client: TestClient, config: dict[str, Any] | None = None) -> str:
    """A new session; ``config`` defaults to :data:`SMALL` (2 hidden tanh layers of 8)."""
    response = client.post("/api/sessions", json=SMALL if config is None else config)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


@pytest.fixture
def session(client: TestClient) -> str:
    return create(client)


Creator = Callable[..., str]


@pytest.fixture(params=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store several processes can share in turn: a fresh SQLite file, an emptied Redis."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.db"
    url: str = request.getfixturevalue("redis_url")
    return url
