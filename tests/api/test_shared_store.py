"""Sessions shared by several server processes and kept across restarts: real servers on
loopback, a real SQLite file and a real Redis.

- a 2xx answer is stored: kill -9 the server right after it, start it again, and the session
  continues bit for bit (the next step is the step an uninterrupted run takes);
- two processes (two ports, or ``--workers 2``) share sessions: a step on one is read on the
  other, and 50 concurrent one-step requests spread over both end at exactly step 50;
- a stream playing on one process and a request on the other: nothing torn, nothing lost;
- Redis stopped (or frozen) mid-test: 503 naming Redis, then the same session again once it
  is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import SMALL, make_client
from tests.conftest import ROOT, TEST_SERVER_ENV, RedisServer, free_port

HEADERS = {"content-type": "application/json"}


class Server:
    """``python -m app serve`` on a fixed loopback port, in a process group of its own (so
    that kill -9 takes its workers along), which can be killed and started again."""

    def __init__(self, store: str, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **TEST_SERVER_ENV,
            "BACKPROP_LAB_STORE": store,
            "BACKPROP_LAB_WORKERS": str(workers),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited with {self.process.returncode}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not answer /healthz within 60 s")

    def kill_9(self) -> None:
        """SIGKILL to the server and its workers: nothing gets to clean up."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            with_group = self.process.pid
            os.killpg(with_group, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(with_group, signal.SIGKILL)
                self.process.wait()
            self.process = None

    def workers(self) -> list[int]:
        """The worker processes' ids (``--workers N``; not multiprocessing's helper)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        return [
            pid
            for pid in pids
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]


@contextmanager
def servers(*started: Server) -> Iterator[tuple[Server, ...]]:
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


def post(url: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=HEADERS, timeout=60)


def step_on(url: str, session: str, steps: int = 1) -> dict[str, Any]:
    response = post(url, f"/api/sessions/{session}/step", {"steps": steps})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def export_of(url: str, session: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/sessions/{session}/export", timeout=60)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def next_step_of(export: dict[str, Any], requests: list[tuple[str, str, Any]]) -> list[Any]:
    """What an uninterrupted run answers next: the export imported into a fresh in-memory
    server, then the same requests."""
    with make_client() as client:
        session = client.post("/api/sessions/import", json=export).json()["id"]
        return [
            client.request(method, path.format(id=session), json=body).json()
            for method, path, body in requests
        ]


def answers(url: str, session: str, requests: list[tuple[str, str, Any]]) -> list[Any]:
    out = []
    for method, path, body in requests:
        response = httpx.request(
            method, f"{url}{path.format(id=session)}", json=body, headers=HEADERS, timeout=60
        )
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def next_frame(ws: ClientConnection) -> dict[str, Any]:
    """The stream's next frame; a stream that stopped sending fails the test (60 s: a hang
    guard, not a measurement) instead of stalling the run."""
    frame: dict[str, Any] = json.loads(ws.recv(timeout=60))
    return frame


NEXT = [
    ("POST", "/api/sessions/{id}/backward", {"layers": 1}),
    ("POST", "/api/sessions/{id}/step", {"steps": 3}),
    ("GET", "/api/sessions/{id}/trace", None),
]


# --- durability ----------------------------------------------------------------------------


def test_a_2xx_answer_survives_kill_9_and_the_session_continues_bit_for_bit(
    shared_url: str,
) -> None:
    server = Server(shared_url)
    with servers(server):
        url = server.url
        session = post(url, "/api/sessions", SMALL).json()["id"]
        step_on(url, session, 12)
        assert (
            httpx.patch(
                f"{url}/api/sessions/{session}", json={"learning_rate": 0.05}, timeout=60
            ).status_code
            == 200
        )
        last = post(url, f"/api/sessions/{session}/forward", {"layers": 1})
        assert last.status_code == 200 and last.json()["stage"] == "forward"
        before = export_of(url, session)
        server.kill_9()  # right after the 2xx: no shutdown, no clean-up
        server.start()
        assert export_of(url, session) == before  # every number, the optimiser, the RNG
        assert answers(url, session, NEXT) == next_step_of(before, NEXT)


def test_a_stream_checkpoint_survives_kill_9(shared_url: str) -> None:
    """kill -9 while a stream plays: the session is back at its last checkpoint (at most a
    second of play lost), consistent and continuing."""
    server = Server(shared_url, BACKPROP_LAB_CHECKPOINT_SECONDS="0.2")
    with servers(server):
        url = server.url
        session = post(url, "/api/sessions", SMALL).json()["id"]
        ws_url = url.replace("http", "ws") + f"/api/sessions/{session}/stream"
        with connect(ws_url) as ws:
            ws.send(json.dumps({"action": "play", "steps_per_frame": 5, "max_fps": 30}))
            played = 0
            while played < 200:  # frames keep coming; checkpoints are written meanwhile
                played = next_frame(ws)["state"]["step"]
            server.kill_9()
        server.start()
        state = httpx.get(f"{url}/api/sessions/{session}", timeout=60).json()["state"]
        assert 0 < state["step"] <= played
        kept = export_of(url, session)
        assert answers(url, session, NEXT) == next_step_of(kept, NEXT)


# --- several processes --------------------------------------------------------------------


def concurrent_steps(urls: list[str], session: str, n: int) -> list[int]:
    """``n`` one-step requests at once, spread over ``urls`` in turn, each on a connection of
    its own; the step numbers they answered."""

    def one(k: int) -> int:
        return int(step_on(urls[k % len(urls)], session)["step"])

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_two_processes_share_sessions_and_concurrent_steps_end_at_the_exact_count(
    shared_url: str,
) -> None:
    a, b = Server(shared_url), Server(shared_url)
    with servers(a, b):
        session = post(a.url, "/api/sessions", SMALL).json()["id"]
        assert step_on(a.url, session)["step"] == 1
        on_b = httpx.get(f"{b.url}/api/sessions/{session}", timeout=60).json()
        assert on_b["state"]["step"] == 1  # stepped on one, read on the other
        assert step_on(b.url, session)["step"] == 2
        assert export_of(a.url, session) == export_of(b.url, session)

        steps = concurrent_steps([a.url, b.url], session, 50)
        assert sorted(steps) == list(range(3, 53))  # each request its own step, none lost
        history = httpx.get(f"{b.url}/api/sessions/{session}/history", timeout=60).json()
        assert history["step"] == list(range(1, 53))
        assert export_of(a.url, session) == export_of(b.url, session)


def test_two_workers_on_one_sqlite_file(tmp_path: Path) -> None:
    """``backprop-lab serve --workers 2``: two processes behind one port, one file."""
    server = Server(f"sqlite:///{tmp_path}/sessions.db", workers=2)
    with servers(server):
        assert len(server.workers()) == 2
        session = post(server.url, "/api/sessions", SMALL).json()["id"]
        steps = concurrent_steps([server.url], session, 50)
        assert sorted(steps) == list(range(1, 51))
        state = httpx.get(f"{server.url}/api/sessions/{session}", timeout=60).json()["state"]
        assert state["step"] == 50


def test_a_request_from_another_process_to_a_playing_session_waits_for_a_frame(
    shared_url: str,
) -> None:
    """A stream plays on A; steps sent to B are answered between two frames: the stream
    goes on from them, every step is counted once, the stored session is one consistent
    run."""
    a, b = Server(shared_url), Server(shared_url)
    with servers(a, b):
        session = post(a.url, "/api/sessions", SMALL).json()["id"]
        ws_url = a.url.replace("http", "ws") + f"/api/sessions/{session}/stream"
        with connect(ws_url) as ws:
            ws.send(json.dumps({"action": "play", "steps_per_frame": 1, "max_fps": 60}))
            seen = [next_frame(ws)["state"]["step"] for _ in range(5)]
            from_b = [step_on(b.url, session)["step"] for _ in range(3)]
            while seen[-1] <= from_b[-1]:  # the stream continues after B's steps
                seen.append(next_frame(ws)["state"]["step"])
            ws.send(json.dumps({"action": "pause"}))
            while (frame := next_frame(ws))["reason"] != "pause":
                seen.append(frame["state"]["step"])
            final = frame["state"]["step"]
        assert from_b == sorted(set(from_b))  # B's own steps in order
        assert not set(from_b) & set(seen)  # B's steps and the stream's never collide
        history = httpx.get(f"{b.url}/api/sessions/{session}/history", timeout=60).json()
        assert history["step"] == list(range(1, final + 1))
        assert export_of(a.url, session) == export_of(b.url, session)


# --- Redis failures ------------------------------------------------------------------------


def test_redis_stopped_then_back_503_then_the_same_session(own_redis: RedisServer) -> None:
    server = Server(own_redis.url, BACKPROP_LAB_STORE_TIMEOUT_SECONDS="1")
    with servers(server):
        url = server.url
        session = post(url, "/api/sessions", SMALL).json()["id"]
        assert step_on(url, session, 4)["step"] == 4
        own_redis.stop()
        for response in (
            post(url, f"/api/sessions/{session}/step", {}),
            httpx.get(f"{url}/api/sessions/{session}", timeout=60),
            post(url, "/api/sessions", SMALL),
        ):
            assert response.status_code == 503, response.text
            assert f"Redis at 127.0.0.1:{own_redis.port}" in response.json()["detail"]
            assert int(response.headers["retry-after"]) >= 1
        own_redis.start()  # its append-only file brings the sessions back
        assert step_on(url, session)["step"] == 5
        assert httpx.get(f"{url}/healthz", timeout=60).status_code == 200


def test_a_frozen_redis_gives_a_503_instead_of_a_hang(own_redis: RedisServer) -> None:
    """SIGSTOP: the connection stays open but nothing answers, as over a dead link. The
    request fails after the store timeout instead of waiting for ever."""
    server = Server(own_redis.url, BACKPROP_LAB_STORE_TIMEOUT_SECONDS="1")
    with servers(server):
        url = server.url
        session = post(url, "/api/sessions", SMALL).json()["id"]
        step_on(url, session)
        own_redis.freeze()
        try:
            response = post(url, f"/api/sessions/{session}/step", {})  # httpx gives up at 60 s
            assert response.status_code == 503 and "Redis" in response.json()["detail"]
        finally:
            own_redis.thaw()
        assert step_on(url, session)["step"] >= 2


@pytest.mark.slow
def test_redis_tests_fail_rather_than_skip_under_ci_without_redis(tmp_path: Path) -> None:
    """Under CI=true a missing redis-server is an error; elsewhere a skip with the hint."""
    test = "tests/api/test_store.py::test_api_lru_eviction[redis]"
    base = {**os.environ, "BACKPROP_LAB_REDIS_SERVER": str(tmp_path / "no-redis-server")}
    for ci, expected in [("true", "1 error"), ("", "1 skipped")]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test],
            cwd=ROOT,
            env={**base, "CI": ci},
            capture_output=True,
            text=True,
        )
        assert expected in result.stdout, result.stdout[-2000:]
        assert "apt-get install -y redis-server" in result.stdout
        assert (result.returncode != 0) == (ci == "true")
