"""Fixtures shared by every test folder: a real server on a free loopback port, and the
``slow`` group (whole-tool checks) that only ``pytest --run-slow`` runs."""

import os
import socket
import subprocess
import sys
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


def start_server(
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    cwd: Path = ROOT,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``backprop-lab serve`` (by default via ``python -m app``) and wait for /healthz.

    ``command`` replaces the start of the command line (``[".../backprop-lab", "serve"]`` for
    an installed copy); ``--host`` and ``--port`` are added to it.
    """
    port = free_port()
    start = command or [sys.executable, "-m", "app", "serve"]
    process = subprocess.Popen(
        [*start, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **TEST_SERVER_ENV, **(env or {})},
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
