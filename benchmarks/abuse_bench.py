"""Abuse benchmark: a classroom stepping while three hostile clients push every limit.

Starts ``python -m app serve`` (one worker, on a new SQLite file of its own; ``--store``
picks another) on a free loopback port, trusting forwarded addresses from loopback so each
simulated client has an address of its own (``X-Forwarded-For``). The **students** (default
100) each create a session with the default config, then send one-step requests with
``--think`` seconds between them, fetching the trace every 5th step; a newcomer arrives every
half second, creates a session and leaves.

The run has two halves of ``--seconds`` / 2 each, measured side by side: the class alone,
then the class while three attackers join:

- **heavy**: a session of the largest network the limits allow (16 × 64 tanh, 5,000 points,
  full batch) sending, in a loop, the largest requests the budgets accept — as many steps as
  fit, the largest grid, a gradient check, a full trace;
- **flood**: creates sessions as fast as the server answers, from one address;
- **stepper**: a second largest-network session looping one-step requests.

Prints, per half, the students' one-step latency (p50/p99) and the newcomers' session
creation latency; how the server answered the attackers; 404s seen by active students (must
be 0: they are never evicted) and the server's resident memory over time against its budget.

Targets (2 cores, the load generator on the same machine): under attack, students' one-step
p99 < 100 ms and creation p99 < 200 ms, zero 404s for active students, RSS below the budget.

Run: python -m benchmarks.abuse_bench [--students 100] [--seconds 30] [--think 0.2] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.load_bench import (
    Http,
    add_store_option,
    free_port,
    percentile,
    store_for_run,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
LARGEST = {
    "dataset": {"name": "circle", "n_samples": 5000},
    "layers": [{"units": 64, "activation": "tanh"}] * 16,
    "batch_size": 5000,
}
MEMORY_BUDGET_MB = 2048


@dataclass
class Results:
    attack_starts: float = float("inf")  # perf_counter time the attackers join
    step_ms: list[tuple[float, float]] = field(default_factory=list)  # (when, ms)
    create_ms: list[tuple[float, float]] = field(default_factory=list)
    first_create_ms: list[float] = field(default_factory=list)  # the class, all at once
    student_404: int = 0
    student_errors: Counter[str] = field(default_factory=Counter)
    attacker: Counter[str] = field(default_factory=Counter)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)


class Client(Http):
    """A keep-alive connection that speaks for one forwarded address."""

    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port)
        self.extra_headers = {"X-Forwarded-For": address}


async def student(k: int, host: str, port: int, until: float, think: float, out: Results) -> None:
    http = Client(host, port, f"10.1.{k // 200}.{k % 200 + 1}")
    try:
        t0 = time.perf_counter()
        status, body = await http.request("POST", "/api/sessions", {})
        out.first_create_ms.append(1000 * (time.perf_counter() - t0))
        if status != 201:
            out.student_errors[f"create {status}"] += 1
            return
        session = json.loads(body)["id"]
        await asyncio.sleep(random.uniform(0, think))
        n = 0
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            status, _ = await http.request("POST", f"/api/sessions/{session}/step", {"steps": 1})
            out.step_ms.append((t0, 1000 * (time.perf_counter() - t0)))
            if status == 404:
                out.student_404 += 1
            elif status != 200:
                out.student_errors[f"step {status}"] += 1
            n += 1
            if n % 5 == 0:
                status, _ = await http.request("GET", f"/api/sessions/{session}/trace")
                if status != 200:
                    out.student_errors[f"trace {status}"] += 1
            await asyncio.sleep(think)
    finally:
        await http.close()


async def late_creators(host: str, port: int, until: float, out: Results) -> None:
    """New students arriving while the flood runs: their creation latency is what counts."""
    k = 0
    while time.perf_counter() < until:
        http = Client(host, port, f"10.2.{k // 200}.{k % 200 + 1}")
        t0 = time.perf_counter()
        status, body = await http.request("POST", "/api/sessions", {})
        out.create_ms.append((t0, 1000 * (time.perf_counter() - t0)))
        if status == 201:
            await http.request("DELETE", f"/api/sessions/{json.loads(body)['id']}")
        else:
            out.student_errors[f"late create {status}"] += 1
        await http.close()
        k += 1
        await asyncio.sleep(0.5)


async def heavy(host: str, port: int, until: float, out: Results) -> None:
    http = Client(host, port, "10.9.0.1")
    status, body = await http.request("POST", "/api/sessions", LARGEST)
    out.attacker[f"heavy create {status}"] += 1
    if status != 201:
        return
    session = json.loads(body)["id"]
    steps, grid, hidden = 10_000, 128, 128
    while time.perf_counter() < until:
        status, body = await http.request("POST", f"/api/sessions/{session}/step", {"steps": steps})
        out.attacker[f"heavy step {status}"] += 1
        if status == 422:  # over the budget: the answer names the largest allowed count
            steps = max(1, _largest_allowed(body) or steps // 2)
        path = f"/api/sessions/{session}/boundary?grid={grid}&hidden_grid={hidden}"
        status, body = await http.request("GET", path)
        out.attacker[f"heavy boundary {status}"] += 1
        if status == 422:  # the grid or the hidden grid is over its budget: take the largest
            field = json.loads(body)["detail"][0]["loc"][-1]
            largest = _largest_allowed(body) or 2
            grid, hidden = (largest, min(hidden, largest)) if field == "grid" else (grid, largest)
        for path in (
            f"/api/sessions/{session}/gradcheck",
            f"/api/sessions/{session}/trace?detail=full",
        ):
            status, _ = await http.request("GET", path)
            out.attacker[f"heavy {path.split('/')[-1].split('?')[0]} {status}"] += 1
    await http.close()


def _largest_allowed(body: bytes) -> int | None:
    with contextlib.suppress(ValueError, KeyError, IndexError):
        message = json.loads(body)["detail"][0]["msg"]
        for word in message.replace(",", "").split():
            if word.isdigit():
                return int(word)
    return None


async def flood(host: str, port: int, until: float, out: Results) -> None:
    http = Client(host, port, "10.9.0.2")
    while time.perf_counter() < until:
        status, _ = await http.request("POST", "/api/sessions", {})
        out.attacker[f"flood create {status}"] += 1
        if status == 429:
            await asyncio.sleep(0.05)
    await http.close()


async def stepper(host: str, port: int, until: float, out: Results) -> None:
    http = Client(host, port, "10.9.0.3")
    status, body = await http.request("POST", "/api/sessions", LARGEST)
    out.attacker[f"stepper create {status}"] += 1
    if status != 201:
        return
    session = json.loads(body)["id"]
    while time.perf_counter() < until:
        status, _ = await http.request("POST", f"/api/sessions/{session}/step", {"steps": 1})
        out.attacker[f"stepper step {status}"] += 1
    await http.close()


async def watch_memory(pid: int, until: float, out: Results) -> None:
    start = time.perf_counter()
    while time.perf_counter() < until + 1:
        out.rss_mb.append((time.perf_counter() - start, rss_mb(pid)))
        await asyncio.sleep(1.0)


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace, port: int, pid: int) -> bool:
    host = "127.0.0.1"
    out = Results()
    start = time.perf_counter()
    until = start + args.seconds
    out.attack_starts = start + args.seconds / 2
    tasks = [student(k, host, port, until, args.think, out) for k in range(args.students)]
    tasks += [late_creators(host, port, until, out), watch_memory(pid, until, out)]
    attackers = {"heavy": heavy, "flood": flood, "stepper": stepper}
    names = [] if args.no_attackers else args.attackers.split(",")
    tasks += [_later(out.attack_starts, attackers[name](host, port, until, out)) for name in names]
    await asyncio.gather(*tasks)

    def split(samples: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
        calm = [ms for when, ms in samples if when < out.attack_starts]
        return calm, [ms for when, ms in samples if when >= out.attack_starts]

    steps, creates = split(out.step_ms), split(out.create_ms)
    print(f"students: {args.students}, think {args.think} s; attackers join at half time")
    print(f"{'':28}{'class alone':>22}{'under attack':>22}{'ratio p99':>11}")
    for name, (calm, attacked) in (("one-step latency", steps), ("newcomer creation", creates)):
        print(
            f"  {name:26}{_p(calm):>22}{_p(attacked):>22}"
            f"{percentile(attacked, 99) / percentile(calm, 99):>10.1f}×"
        )
    print(
        f"  (the class's own {len(out.first_create_ms)} sessions, all created at once: "
        f"p50 {percentile(out.first_create_ms, 50):.0f} ms)"
    )
    print(
        f"  404s seen by active students: {out.student_404}   other errors: "
        f"{dict(out.student_errors) or 'none'}"
    )
    print("attackers' answers:")
    for key, count in sorted(out.attacker.items()):
        print(f"  {key:40} {count}")
    every = max(1, len(out.rss_mb) // 10)
    trail = "  ".join(f"{t:.0f}s:{mb:.0f}" for t, mb in out.rss_mb[::every])
    peak = max(mb for _, mb in out.rss_mb)
    print(f"server RSS (MB) over time: {trail}")
    print(f"  peak {peak:.0f} MB   budget {MEMORY_BUDGET_MB} MB")
    attacked = steps[1] or steps[0]
    created = creates[1] or creates[0]
    ok = {
        "one-step p99 < 100 ms under attack": percentile(attacked, 99) < 100,
        "creation p99 < 200 ms under attack": percentile(created, 99) < 200,
        "no 404s for active students": out.student_404 == 0,
        "RSS under the budget": peak < MEMORY_BUDGET_MB,
    }
    for name, passed in ok.items():
        print(f"{verdict(passed)}  {name}")
    return all(ok.values())


async def _later(when: float, work: Any) -> None:
    await asyncio.sleep(max(0.0, when - time.perf_counter()))
    await work


def _p(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 50):5.1f}  p99 {percentile(values, 99):6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=0.2)
    parser.add_argument(
        "--no-attackers", action="store_true", help="the class alone, for comparison"
    )
    parser.add_argument(
        "--attackers", default="heavy,flood,stepper", help="which attackers (comma-separated)"
    )
    add_store_option(parser)
    args = parser.parse_args()
    port = free_port()
    with store_for_run(args.store) as store:
        print(f"store: {store}")
        env = {
            **os.environ,
            "BACKPROP_LAB_STORE": store,
            "BACKPROP_LAB_LOG_LEVEL": "warning",
            "BACKPROP_LAB_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "BACKPROP_LAB_MEMORY_BUDGET_MB": str(MEMORY_BUDGET_MB),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
        )
        try:
            _wait_until_up(port, server)
            return 0 if asyncio.run(run(args, port, server.pid)) else 1
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start within 30 s")


if __name__ == "__main__":
    raise SystemExit(main())
