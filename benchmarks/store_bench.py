"""Store benchmark: the same classroom load against every session store, in one run.

Starts real servers on loopback (and, for Redis, its own ``redis-server`` on a free port,
without persistence), and loads one configuration at a time:

- ``memory``: one process, sessions in its memory (the baseline);
- ``sqlite ×2 workers``: ``serve --workers 2`` on one SQLite file;
- ``redis ×2 replicas``: two processes on two ports sharing one Redis;
- for the scaling figure, also ``redis ×1`` and ``sqlite ×1`` (one process each), and
  ``memory ×2 replicas``: what two processes gain over one with no store at all;
- for reference, ``memory, threaded``: the memory store with small work sent to the quick
  lane's thread (``BACKPROP_LAB_INLINE_SECONDS=0``) instead of run on the event loop;
- for reference, ``redis ×2, not kept`` (overhead) and ``redis ×1, not kept`` (throughput):
  Redis with ``BACKPROP_LAB_STORE_KEEP_SECONDS=0``, every request taking the session's lease
  from the store and letting it go, as before leases were kept between requests.

Then, per configuration:

1. **overhead** — one client, one session, ``--sequential`` one-step requests one after the
   other: p50 latency. The store's overhead is this p50 minus memory's, in the same run
   (the configurations take turns, ``--rounds`` times: min/median/max over rounds).
2. **class** — ``--students`` students (default 100) each create a session and send
   one-step requests with ~``--think`` s between them for ``--seconds``: p50/p99 latency,
   requests per second, errors (also, for reference, for one SQLite process: the default
   deployment). With two replicas each student's requests go to one of
   them (as the proxy in docker-compose.yml routes by session id).
3. **throughput** — ``--clients`` clients send one-step requests back to back for
   ``--seconds``: requests per second the configuration sustains, and the CPU that its
   servers, the load generator and Redis spend per request. Every configuration is started
   once and they take turns, ``--rounds`` times; two processes ÷ one is worked out per round.

Targets (2 cores, load generator included): store overhead ≤ 1 ms p50 per one-step request;
class p99 < 50 ms for every store; two processes ≥ 1.6× the throughput of one. The load
generator runs on uvloop, like the servers; the throughput lines print what the servers, it
and Redis cost in CPU per request, all on the same two cores.

Run: python -m benchmarks.store_bench [--students 100] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.load_bench import Http, cpu_seconds, free_port, percentile, process_stat

try:  # the servers run on uvloop (uvicorn[standard]); the load generator too, to cost less
    from uvloop import run as drive
except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
    from asyncio import run as drive

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Setup:
    """One configuration: a name, the store, processes (workers or replicas)."""

    name: str
    store: str  # "memory", "sqlite" or "redis"
    workers: int = 1  # uvicorn workers behind one port
    replicas: int = 1  # processes on ports of their own
    env: dict[str, str] = field(default_factory=dict)  # settings of its own


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within 60 s")


@dataclass
class Pids:
    """A running setup's processes: its Redis, and its servers' process groups (a server
    with workers is a group of processes)."""

    redis: list[int] = field(default_factory=list)
    servers: list[int] = field(default_factory=list)

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: (the servers, this process (the load generator), Redis)."""
        servers = sum(map(group_cpu_seconds, self.servers))
        return servers, time.process_time(), sum(map(cpu_seconds, self.redis))


def group_cpu_seconds(group: int) -> float:
    """User + system CPU time so far of every process in process group ``group`` (Linux)."""
    found = (process_stat(stat) for stat in Path("/proc").glob("[0-9]*/stat"))
    return sum(cpu for (pgrp, cpu) in filter(None, found) if pgrp == group)


@contextlib.contextmanager
def running(setup: Setup, folder: Path, pids: Pids | None = None) -> Iterator[list[int]]:
    """Start the setup's servers (and its Redis); yield their ports (and fill ``pids``)."""
    pids = Pids() if pids is None else pids
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if setup.store == "redis":
            port = free_port()
            redis = subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
            processes.append(redis)
            pids.redis.append(redis.pid)
            wait_for_port(port, redis, "redis-server")
            store = f"redis://127.0.0.1:{port}/0"
        elif setup.store == "sqlite":
            store = f"sqlite:///{folder}/{setup.name.replace(' ', '-')}.db"
        else:
            store = "memory"
        env = {
            **os.environ,
            "BACKPROP_LAB_LOG_LEVEL": "warning",
            "BACKPROP_LAB_STORE": store,
            "BACKPROP_LAB_WORKERS": str(setup.workers),
            # The simulated class connects from one address: lift the per-address quotas.
            "BACKPROP_LAB_MAX_SESSIONS_PER_CLIENT": "100000",
            "BACKPROP_LAB_CREATE_BURST": "100000",
            **setup.env,
        }
        ports = [free_port() for _ in range(setup.replicas)]
        for port in ports:
            command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1"]
            server = subprocess.Popen(
                [*command, "--port", str(port)], cwd=ROOT, env=env, start_new_session=True
            )
            processes.append(server)
            pids.servers.append(server.pid)  # its own session: a process group of its own
            wait_for_port(port, server, "the server")
        time.sleep(0.5 * setup.workers)  # every worker up, not only the first
        yield ports
    finally:
        for process in reversed(processes):
            with_group = process.pid
            try:
                os.killpg(with_group, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(with_group, signal.SIGKILL)
                process.wait()


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # see throughput()

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


async def new_session(http: Http) -> str:
    status, body = await http.request("POST", "/api/sessions", {})
    if status != 201:
        raise RuntimeError(f"create {status}: {body[:200]!r}")
    session: str = json.loads(body)["id"]
    return session


async def one_step(http: Http, session: str, out: Result) -> None:
    t0 = time.perf_counter()
    status, body = await http.request("POST", f"/api/sessions/{session}/step", {"steps": 1})
    out.latencies_ms.append(1000 * (time.perf_counter() - t0))
    if status != 200:
        out.errors.append(f"step {status} {body[:120]!r}")


async def sequential(port: int, n: int) -> float:
    """p50 of ``n`` one-step requests, one at a time, on one session."""
    http = Http("127.0.0.1", port)
    out = Result()
    try:
        session = await new_session(http)
        for _ in range(20):  # warm up: connection, imports, the first steps
            await one_step(http, session, Result())
        for _ in range(n):
            await one_step(http, session, out)
        await http.request("DELETE", f"/api/sessions/{session}")
    finally:
        await http.close()
    if out.errors:
        raise RuntimeError(out.errors[0])
    return percentile(out.latencies_ms, 50)


async def student(
    port: int, seconds: float, think: float, out: Result, ready: asyncio.Barrier
) -> None:
    http = Http("127.0.0.1", port)
    try:
        session = await new_session(http)
        await ready.wait()
        await asyncio.sleep(random.uniform(0, think))
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await one_step(http, session, out)
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
        await http.request("DELETE", f"/api/sessions/{session}")
    except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError) as exc:
        out.errors.append(repr(exc))
    finally:
        await http.close()


async def hammer(
    port: int, seconds: float, out: Result, ready: asyncio.Barrier, stop: asyncio.Event
) -> None:
    http = Http("127.0.0.1", port)
    try:
        session = await new_session(http)
        await ready.wait()
        while not stop.is_set():
            await one_step(http, session, out)
        await http.request("DELETE", f"/api/sessions/{session}")
    except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError) as exc:
        out.errors.append(repr(exc))
    finally:
        await http.close()


async def class_load(ports: list[int], students: int, seconds: float, think: float) -> Result:
    out = Result()
    ready = asyncio.Barrier(students + 1)
    tasks = [
        asyncio.create_task(student(ports[k % len(ports)], seconds, think, out, ready))
        for k in range(students)
    ]
    await ready.wait()
    t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    out.seconds = time.perf_counter() - t0
    return out


async def throughput(
    ports: list[int], clients: int, seconds: float, pids: Pids | None = None
) -> Result:
    """``clients`` clients, each on a session of its own, send one-step requests back to back
    for ``seconds``; with ``pids``, ``out.cpu`` is what the servers, this load generator and
    Redis spent meanwhile (CPU seconds; the sessions' creation and deletion left out)."""
    out = Result()
    ready, stop = asyncio.Barrier(clients + 1), asyncio.Event()
    tasks = [
        asyncio.create_task(hammer(ports[k % len(ports)], seconds, out, ready, stop))
        for k in range(clients)
    ]
    await ready.wait()
    before = pids.cpu() if pids else (0.0, 0.0, 0.0)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    out.seconds = time.perf_counter() - t0
    after = pids.cpu() if pids else (0.0, 0.0, 0.0)
    out.cpu = (after[0] - before[0], after[1] - before[1], after[2] - before[2])
    await asyncio.gather(*tasks)
    return out


# --- the run ----------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 2) -> str:
    """min/median/max."""
    if not values:
        return "—"
    return "/".join(
        f"{v:,.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=0.2)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    if not Path(REDIS_SERVER).exists():
        print(f"needs redis-server ({REDIS_SERVER}): apt-get install -y redis-server")
        return 2

    main_setups = [
        Setup("memory", "memory"),
        Setup("sqlite ×2 workers", "sqlite", workers=2),
        Setup("redis ×2 replicas", "redis", replicas=2),
    ]
    single = {"sqlite": Setup("sqlite ×1", "sqlite"), "redis": Setup("redis ×1", "redis")}
    # Small work on the quick lane's thread, as before it ran on the event loop: the gain of
    # running it in place, measured side by side.
    threaded = Setup("memory, threaded", "memory", env={"BACKPROP_LAB_INLINE_SECONDS": "0"})
    # Every request takes the lease and lets it go: the gain of keeping it, side by side.
    not_kept = {"BACKPROP_LAB_STORE_KEEP_SECONDS": "0"}
    overhead_setups = [
        *main_setups,
        Setup("redis ×2, not kept", "redis", replicas=2, env=not_kept),
    ]
    started = time.perf_counter()
    ok = True
    with tempfile.TemporaryDirectory(prefix="store-bench-") as scratch:
        folder = Path(scratch)

        print(f"1. overhead: {args.sequential} one-step requests in a row, {args.rounds} rounds")
        p50s: dict[str, list[float]] = {s.name: [] for s in overhead_setups}
        for _ in range(args.rounds):
            for setup in overhead_setups:
                with running(setup, folder) as ports:
                    p50s[setup.name].append(drive(sequential(ports[0], args.sequential)))
        for setup in overhead_setups:
            line = f"   {setup.name:18s} p50 {spread(p50s[setup.name])} ms (min/median/max)"
            if setup.store != "memory":
                extra = [b - m for b, m in zip(p50s[setup.name], p50s["memory"], strict=True)]
                good = statistics.median(extra) <= 1.0
                judged = setup in main_setups
                ok &= good or not judged
                mark = f"{verdict(good)}: ≤ 1 ms" if judged else "(for reference)"
                line += f"; store overhead {spread(extra)} ms  {mark}"
            print(line)

        print(f"\n2. class: {args.students} students, {args.seconds:g} s, think {args.think:g} s")
        for setup in [*main_setups, single["sqlite"], threaded]:
            with running(setup, folder) as ports:
                result = drive(class_load(ports, args.students, args.seconds, args.think))
            lat = result.latencies_ms
            p99 = percentile(lat, 99)
            good = p99 < 50 and not result.errors
            # The targets are for the three configurations; one SQLite process, the
            # default deployment, and small work on a thread are shown for reference.
            judged = setup in main_setups
            ok &= good or not judged
            mark = f"{verdict(good)}: p99 < 50 ms" if judged else "(for reference)"
            print(
                f"   {setup.name:18s} {result.rate:5.0f} req/s  p50 {percentile(lat, 50):5.1f} ms"
                f"  p99 {p99:5.1f} ms  errors {len(result.errors)}  {mark}"
            )
            for error in result.errors[:3]:
                print(f"      {error}")

        print(
            f"\n3. throughput: {args.clients} clients back to back, {args.seconds:g} s, "
            f"{args.rounds} rounds (min/median/max)"
        )
        # Two memory processes: what two processes gain over one with no store at all, on
        # these cores beside this load generator (the ceiling for the stores' ratios).
        memory_two = Setup("memory ×2 replicas", "memory", replicas=2)
        redis_not_kept = Setup("redis ×1, not kept", "redis", env=not_kept)
        order = [
            main_setups[0],
            memory_two,
            threaded,
            single["sqlite"],
            main_setups[1],
            redis_not_kept,
            single["redis"],
            main_setups[2],
        ]
        rates: dict[str, list[float]] = {s.name: [] for s in order}
        p50: dict[str, list[float]] = {s.name: [] for s in order}
        errors: dict[str, int] = {s.name: 0 for s in order}
        # CPU milliseconds per request: the servers, the load generator, Redis.
        spent: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in order}
        with contextlib.ExitStack() as stack:
            # Every configuration is started once and they take turns, round after round, so
            # that a slow minute on the machine falls on all of them, not on one.
            up = {}
            for setup in order:
                pids = Pids()
                up[setup.name] = stack.enter_context(running(setup, folder, pids)), pids
            for _ in range(args.rounds):
                for setup in order:
                    ports, pids = up[setup.name]
                    result = drive(throughput(ports, args.clients, args.seconds, pids))
                    n = max(1, len(result.latencies_ms))
                    rates[setup.name].append(result.rate)
                    p50[setup.name].append(percentile(result.latencies_ms, 50))
                    errors[setup.name] += len(result.errors)
                    servers, generator, redis = (1000 * c / n for c in result.cpu)
                    spent[setup.name].append((servers, generator, redis))
        for setup in order:
            cpu = [statistics.median(part) for part in zip(*spent[setup.name], strict=True)]
            beside = f"servers {cpu[0]:.2f} ms, load generator {cpu[1]:.2f} ms"
            beside += f", Redis {cpu[2]:.2f} ms" if setup.store == "redis" else ""
            print(
                f"   {setup.name:18s} {spread(rates[setup.name], 0)} req/s  "
                f"p50 {statistics.median(p50[setup.name]):5.1f} ms  errors {errors[setup.name]}"
                f"  CPU per request (medians): {beside}"
            )
        for kind, two in (("sqlite", "sqlite ×2 workers"), ("redis", "redis ×2 replicas")):
            # The ratio of each round (the two ran one right after the other), judged on the
            # median.
            ratios = [b / a for a, b in zip(rates[single[kind].name], rates[two], strict=True)]
            good = statistics.median(ratios) >= 1.6
            ok &= good
            print(f"   {two} ÷ {single[kind].name}: {spread(ratios)}×  {verdict(good)}: ≥ 1.6×")
        ceiling = [b / a for a, b in zip(rates["memory"], rates[memory_two.name], strict=True)]
        print(f"   {memory_two.name} ÷ memory (no store; for reference): {spread(ceiling)}×")
        in_place = [m / t for m, t in zip(rates["memory"], rates[threaded.name], strict=True)]
        print(f"   memory (small work on the event loop) ÷ {threaded.name}: {spread(in_place)}×")
        kept = [k / n for n, k in zip(rates[redis_not_kept.name], rates["redis ×1"], strict=True)]
        print(f"   redis ×1 (leases kept) ÷ {redis_not_kept.name}: {spread(kept)}×")

    outcome = "all targets met" if ok else "some targets missed"
    print(f"\n{outcome} ({time.perf_counter() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
