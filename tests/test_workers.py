"""``serve --workers N`` on Linux: N processes, each with a listening socket of its own, kept
running by a small supervisor (app/workers.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.workers import balanced_workers
from tests.conftest import ROOT, TEST_SERVER_ENV, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not balanced_workers(), reason="balanced workers are Linux only"),
]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def sockets_of(pid: int) -> set[int]:
    """The inodes of the process's open sockets."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def tcp_table() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket."""
    rows = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
            rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return rows


def workers_of(supervisor: int, port: int) -> list[int]:
    """The supervisor's children that listen on ``port`` (state 0A: LISTEN)."""
    listening = {inode for lp, _, state, inode in tcp_table() if lp == port and state == "0A"}
    return [pid for pid in children(supervisor) if sockets_of(pid) & listening]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {
        **os.environ,
        **TEST_SERVER_ENV,
        "BACKPROP_LAB_STORE": f"sqlite:///{tmp_path}/sessions.db",
        "BACKPROP_LAB_WORKERS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(workers_of(process.pid, port)) == 2, "two workers listening")
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(condition: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:g} s: {what}")


def test_a_burst_of_connections_is_spread_over_the_workers(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    """32 connections opened together, before any request: with one shared socket the first
    worker to wake often accepted all of them; with a socket each, the kernel hashes every
    connection to one of the two (fewer than 4 on one worker by chance: probability about
    3 × 10⁻⁶)."""
    process, port = two_workers
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for client in clients:  # answered: accepted by a worker
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        ours = {client.getsockname()[1] for client in clients}
        held = {}
        table = tcp_table()
        for pid in workers_of(process.pid, port):
            inodes = sockets_of(pid)
            held[pid] = {rp for lp, rp, _, inode in table if lp == port and inode in inodes} & ours
        assert set().union(*held.values()) == ours  # every connection is held by a worker
        spread = {pid: len(connections) for pid, connections in held.items()}
        assert len(spread) == 2 and min(spread.values()) >= 4, spread
    finally:
        for client in clients:
            client.close()


def test_a_worker_that_dies_is_replaced(two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = two_workers
    first, second = workers_of(process.pid, port)
    os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: len(now := workers_of(process.pid, port)) == 2 and first not in now,
        "a new worker in place of the killed one",
    )
    assert second in workers_of(process.pid, port)  # the other one was left alone
    for _ in range(10):  # and the port keeps answering
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200


def test_sigterm_stops_every_worker(two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = two_workers
    workers = workers_of(process.pid, port)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_taken_port_stops_the_server_with_a_clear_line(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = {
        **os.environ,
        **TEST_SERVER_ENV,
        "BACKPROP_LAB_STORE": f"sqlite:///{tmp_path}/sessions.db",
        "BACKPROP_LAB_WORKERS": "2",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        taken.close()
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "A worker could not start: stopping the server" in result.stderr
