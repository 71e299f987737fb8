"""``serve --workers N`` on Linux: N server processes, each listening on the same port with a
socket of its own (``SO_REUSEPORT``), so that the kernel spreads new connections evenly.

Why not uvicorn's own workers: they share one listening socket, and whichever process wakes
first accepts every connection waiting. A burst of connections — a class opening the page
together, a proxy filling its pool — then lands on one worker while the other idles: in the
store benchmark, 16 clients connecting together all went to one of two workers in two runs
of three, and the two workers served no more than one. With a socket per worker, the kernel
hashes each new connection to one of them.

The supervisor here is small: it starts the workers, restarts one that dies (a crash, the
out-of-memory killer), stops them all on SIGINT or SIGTERM, and stops with exit code 3 if a
worker cannot start (the port is taken, the app fails at start-up). Where ``SO_REUSEPORT``
does not balance (not Linux), ``serve`` uses uvicorn's workers instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start
STOP_SECONDS = 30.0  # a worker still running this long after SIGTERM is killed
RESTART_PAUSE = 1.0  # between restarts of a worker that keeps dying

logger = logging.getLogger("uvicorn.error")


def balanced_workers() -> bool:
    """Whether this system spreads connections over sockets sharing a port."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other workers' sockets may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_worker(app: str, options: dict[str, Any]) -> None:
    """One worker process: its own socket, one uvicorn server (exit code 3 if it cannot
    start)."""
    config = uvicorn.Config(app, **options)
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Keeps ``workers`` processes of ``run_worker(app, options)`` running until told to
    stop."""

    def __init__(self, app: str, options: dict[str, Any], workers: int) -> None:
        self.app, self.options, self.workers = app, options, workers
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter each
        self.processes: list[BaseProcess] = []
        self.stopping = False

    def start_one(self) -> BaseProcess:
        process = self.context.Process(
            target=run_worker, args=(self.app, self.options), name="backprop-lab-worker"
        )
        process.start()
        logger.info("Started worker process [%s]", process.pid)
        return process

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Supervise until SIGINT or SIGTERM; the exit code for ``serve``."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.stop)
        self.processes = [self.start_one() for _ in range(self.workers)]
        code = 0
        while not self.stopping:
            sentinels = [p.sentinel for p in self.processes]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            for k, process in enumerate(self.processes):
                if process.exitcode is None or self.stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("A worker could not start: stopping the server")
                    self.stopping, code = True, STARTUP_FAILURE
                    break
                logger.warning(
                    "Worker process [%s] stopped (exit code %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                time.sleep(RESTART_PAUSE)
                self.processes[k] = self.start_one()
        self.stop_all()
        return code

    def stop_all(self) -> None:
        for process in self.processes:
            if process.exitcode is None:
                process.terminate()  # SIGTERM: uvicorn finishes what it is doing, then exits
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                logger.warning("Worker process [%s] did not stop: killing it", process.pid)
                process.kill()
                process.join()


def serve_workers(app: str, options: dict[str, Any]) -> int:
    """Run ``options["workers"]`` balanced worker processes of ``app``."""
    single = {k: v for k, v in options.items() if k != "workers"}
    config = uvicorn.Config(app, **single)  # (sets up uvicorn's logging in this process too)
    host = f"[{config.host}]" if ":" in config.host else config.host
    logger.info(
        "Backprop Lab running on http://%s:%d with %d worker processes (Press CTRL+C to quit)",
        host,
        config.port,
        options["workers"],
    )
    return Supervisor(app, single, options["workers"]).run()
