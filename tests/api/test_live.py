"""Against a real server on loopback: real concurrency, disconnects, slow readers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import SMALL
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    process, url = start_server()
    yield url
    stop_server(process)


def new_session(url: str, config: dict | None = None) -> str:
    response = httpx.post(f"{url}/api/sessions", json=SMALL if config is None else config)
    assert response.status_code == 201
    session_id: str = response.json()["id"]
    return session_id


def step_of(url: str, session: str) -> int:
    step: int = httpx.get(f"{url}/api/sessions/{session}").json()["state"]["step"]
    return step


def open_stream(url: str, session: str, rcvbuf: int | None = None) -> ClientConnection:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    if rcvbuf is not None:  # a reader that really cannot take more
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    return connect(f"ws://{host}:{port}/api/sessions/{session}/stream", sock=sock, max_queue=1)


def test_fifty_concurrent_one_step_requests_end_at_step_50(server: str) -> None:
    session = new_session(server)
    start = threading.Barrier(50)

    def one_step(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            start.wait()
            return client.post(
                f"{server}/api/sessions/{session}/step", json={"steps": 1}
            ).status_code

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(one_step, range(50)))
    assert codes == [200] * 50
    assert step_of(server, session) == 50
    history = httpx.get(f"{server}/api/sessions/{session}/history").json()
    assert history["step"] == list(range(1, 51))  # one row per step, none lost or doubled


def test_a_playing_stream_does_not_stall_other_sessions(server: str) -> None:
    busy, other = new_session(server), new_session(server)
    with open_stream(server, busy) as ws:
        ws.send(json.dumps({"action": "play", "steps_per_frame": 500, "max_fps": 60}))
        json.loads(ws.recv(timeout=10))
        latencies = []
        with httpx.Client() as client:
            for _ in range(20):
                t0 = time.perf_counter()
                assert client.get(f"{server}/api/sessions/{other}").status_code == 200
                latencies.append(time.perf_counter() - t0)
        ws.send(json.dumps({"action": "pause"}))
    assert max(latencies) < 0.5, latencies  # a 500-step frame takes far longer than this
    assert sorted(latencies)[10] < 0.1


def test_disconnect_mid_play_stops_training(server: str) -> None:
    session = new_session(server)
    with open_stream(server, session) as ws:
        ws.send(json.dumps({"action": "play", "steps_per_frame": 1, "max_fps": 60}))
        for _ in range(3):
            ws.recv(timeout=10)
        ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a closing handshake
        ws.socket.close()
    time.sleep(0.5)
    first = step_of(server, session)
    time.sleep(0.5)
    assert step_of(server, session) == first
    assert httpx.get(f"{server}/healthz").status_code == 200
    with open_stream(server, session) as again:  # the session is still usable
        again.send(json.dumps({"action": "step"}))
        assert json.loads(again.recv(timeout=10))["state"]["step"] == first + 1


def test_a_slow_reader_slows_playing_down(server: str) -> None:
    session = new_session(server)
    with open_stream(server, session, rcvbuf=16 * 1024) as ws:
        ws.send(json.dumps({"action": "play", "steps_per_frame": 1, "max_fps": 60}))
        read = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            ws.recv(timeout=10)
            read += 1
            time.sleep(0.2)
        trained = step_of(server, session)
        ws.send(json.dumps({"action": "pause"}))
        while json.loads(ws.recv(timeout=10))["reason"] != "pause":
            pass  # the frames still in flight, then the pause frame
    # Unthrottled, 60 frames/s would have trained ~120 steps; the frames in flight stay few.
    assert read <= trained <= read + 40, (read, trained)


def test_ack_mode_is_exact_over_the_network(server: str) -> None:
    session = new_session(server)
    with open_stream(server, session) as ws:
        ws.send(json.dumps({"action": "play", "max_fps": 60, "ack": True}))
        for expected in range(1, 6):
            frame = json.loads(ws.recv(timeout=10))
            assert frame["state"]["step"] == expected
            time.sleep(0.1)
            assert step_of(server, session) == expected  # nothing ran ahead of the client
            ws.send(json.dumps({"action": "ack"}))
        ws.send(json.dumps({"action": "pause"}))
