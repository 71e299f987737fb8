"""Fixtures shared by every test folder: a real server on a free loopback port, and the
``slow`` group (whole-tool checks) that only ``pytest --run-slow`` runs."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
_SLOW_DESELECTED = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the slow whole-tool checks (wheel, Dockerfile replay, mypy, pytest "
        "in a subprocess); plain pytest deselects them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --run-slow, deselect (not skip) the tests marked slow: the quick loop."""
    if config.getoption("--run-slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.stash[_SLOW_DESELECTED] = len(slow)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    deselected = config.stash.get(_SLOW_DESELECTED, 0)
    if deselected:
        checks = "check" if deselected == 1 else "checks"
        terminalreporter.write_line(
            f"{deselected} slow whole-tool {checks} deselected; pytest --run-slow runs them too"
        )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Every test talks from 127.0.0.1: a classroom's per-address quotas would stop a test run that
# opens many pages. Tests of the quotas use their own settings.
TEST_SERVER_ENV = {
    "BACKPROP_LAB_LOG_LEVEL": "warning",
    "BACKPROP_LAB_MAX_SESSIONS_PER_CLIENT": "100000",
    "BACKPROP_LAB_CREATE_BURST": "100000",
}


@pytest.fixture(autouse=True, scope="session")
def private_data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default store (a SQLite file in the user's data folder) of anything these tests
    start lands in a folder of this test run instead of the user's home."""
    folder = tmp_path_factory.mktemp("data-home")
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


def start_server(
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    cwd: Path = ROOT,
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``backprop-lab serve`` (by default via ``python -m app``) and wait for /healthz.

    ``command`` replaces the start of the command line (``[".../backprop-lab", "serve"]`` for
    an installed copy); ``--host`` and ``--port`` are added to it. Unless ``env`` names a
    store, the server gets the default kind, a SQLite file, of its own.
    """
    port = port or free_port()
    start = command or [sys.executable, "-m", "app", "serve"]
    own_store = {"BACKPROP_LAB_STORE": f"sqlite:///{_server_files()}/sessions-{port}.db"}
    process = subprocess.Popen(
        [*start, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **TEST_SERVER_ENV, **own_store, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not answer /healthz within 30 s")


_SERVER_FILES: list[tempfile.TemporaryDirectory[str]] = []


def _server_files() -> str:
    """A folder for the stores of the servers this test run starts (removed at exit)."""
    if not _SERVER_FILES:
        _SERVER_FILES.append(tempfile.TemporaryDirectory(prefix="backprop-lab-servers-"))
    return _SERVER_FILES[0].name


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# What pip prints when it cannot reach the package index (as opposed to any other failure).
_UNREACHABLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
)


def run_needing_index(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command that installs from the package index (a pip install, a Dockerfile RUN).

    Offline, the test is skipped saying so rather than failing with a network error; under
    ``CI=true`` it fails with the same one-line reason, as CI always has the index. Any other
    failure fails the test with the command's output.
    """
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    output = result.stdout + result.stderr
    if result.returncode != 0 and not _index_reachable(kwargs.get("env")):
        signs = [line for line in output.splitlines() if any(s in line for s in _UNREACHABLE)]
        cause = (signs or ["pip could not reach it"])[0].strip()[:200]
        reason = f"needs the package index, which is unreachable: {cause}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    assert result.returncode == 0, f"{command} failed:\n{output[-4000:]}"
    return result


def _index_reachable(env: dict[str, str] | None) -> bool:
    """Whether pip, configured as for the failed command, can list a package's versions."""
    probe = [sys.executable, "-m", "pip", "index", "versions", "pip", "--retries", "1"]
    return subprocess.run(probe, capture_output=True, env=env, timeout=120).returncode == 0


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """Base URL of a real uvicorn server started for this test session."""
    process, url = start_server()
    yield url
    stop_server(process)


# --- a real Redis server ------------------------------------------------------------------------

REDIS_SERVER = os.environ.get("BACKPROP_LAB_REDIS_SERVER", "/usr/bin/redis-server")


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class RedisServer:
    """Debian's redis-server on a free loopback port, started and stopped by the tests.

    No snapshots (``--save ''``) unless ``folder`` is given: then it keeps an append-only
    file there, synced on every write, so a restart finds its data again."""

    def __init__(self, folder: Path | None = None) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.folder is not None:
            command += ["--dir", str(self.folder), "--appendonly", "yes"]
            command += ["--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "redis-server exited at start"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 20 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """Stop the process without closing its socket: commands hang, as over a dead link."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(16).startswith(b"+OK")


def require_redis() -> None:
    """Skip outside CI when Debian's redis-server is missing; fail under CI=true."""
    if os.path.exists(REDIS_SERVER) or shutil.which(REDIS_SERVER):
        return
    message = (
        f"redis-server not found at {REDIS_SERVER}; install it: apt-get install -y redis-server"
    )
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the test run (each test that uses it starts from an empty one)."""
    require_redis()
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared test Redis, emptied for this test."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, which it may stop, freeze and restart (its data kept on
    disk in the test's folder, so a restart finds the sessions again)."""
    require_redis()
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.thaw()
    server.stop()
