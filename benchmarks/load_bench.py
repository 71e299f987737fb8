"""Load benchmark: a classroom of simulated students against one server on loopback.

Starts ``python -m app serve`` (one worker, as deployed, on a new SQLite file of its own;
``--store`` picks another) on a free loopback port, then runs:

1. **step** — N students (default 100) each create a session with the default config and
   then, for ``--seconds``, send one-step ``POST /step`` requests with a think time of
   ``--think`` seconds between them (a student clicking "step" a few times a second), fetching
   the trace summary after every 5th step. Prints p50/p99 latency of the one-step requests
   and of the trace fetches, throughput and errors.
2. **stream ×1** — one client plays (1 step per frame, max_fps 60) and reads every frame:
   frames per second, mean and max frame size (the largest frames carry the boundary).
3. **stream ×K** — K clients (default 20) play at max_fps 30 at once: frames per second per
   client (min and mean) and errors.

Targets (2 cores): one-step p99 < 50 ms with 100 students and zero errors; ≥ 30 frames/s to
one client; ≥ 20 frames/s each to 20 clients; a frame of the default network ≤ 32 KB.

Run: python -m benchmarks.load_bench [--students 100] [--seconds 10] [--think 0.2]
     [--streams 20] [--stream-seconds 5] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
FRAME_LIMIT = 32 * 1024


# --- a small keep-alive HTTP/1.1 client (keeps the load generator's own cost low) -------------


class _Answers(asyncio.Protocol):
    """The read side of one connection: bytes in, one whole response at a time out. It works
    on the bytes as they arrive, with no stream reader between: the line-by-line stream reader
    it replaced cost the load generator about a fifth more CPU per request (0.118 against
    0.096 ms, side by side), on the same cores as the servers it measures."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.answer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            lost = exc or ConnectionResetError("the server closed the connection")
            self.waiter.set_exception(lost)

    def answer(self) -> None:
        """Hand the waiting request its response once all of it is here."""
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head.split(b" ", 2)[1])
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else None])
        elif status in (204, 304):  # no body, by definition
            length = 0
        else:  # the API gives every other answer a length; nothing else is read here
            waiter.set_exception(ValueError(f"a response without Content-Length: {head[:80]!r}"))
            return
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        waiter.set_result((status, body))


class Http:
    """One keep-alive connection; ``request`` returns (status, body bytes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.extra_headers: dict[str, str] = {}
        self.transport: asyncio.Transport | None = None
        self.answers: _Answers | None = None

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        try:
            return await self._request(method, path, body)
        except ConnectionError:  # the server closed an idle keep-alive connection as we wrote
            await self.close()
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: object) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.transport is None or self.answers is None or self.transport.is_closing():
            self.transport, self.answers = await loop.create_connection(
                _Answers, self.host, self.port
            )
        data = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.extra_headers.items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        waiter = self.answers.waiter = loop.create_future()
        self.transport.write(head.encode() + data)
        try:
            return await waiter
        except asyncio.CancelledError:  # its response would be read as the next one's
            self.transport.close()
            raise

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = self.answers = None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class StepResult:
    step_ms: list[float] = field(default_factory=list)
    trace_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def student(
    host: str, port: int, seconds: float, think: float, out: StepResult, ready: asyncio.Barrier
) -> None:
    http = Http(host, port)
    try:
        t0 = time.perf_counter()
        status, body = await http.request("POST", "/api/sessions", {})
        out.create_ms.append(1000 * (time.perf_counter() - t0))
        await ready.wait()  # everyone has a session: now they all step at once
        if status != 201:
            out.errors.append(f"create {status}")
            return
        session = json.loads(body)["id"]
        await asyncio.sleep(random.uniform(0, think))  # students do not click in lockstep
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            status, _ = await http.request("POST", f"/api/sessions/{session}/step", {"steps": 1})
            out.step_ms.append(1000 * (time.perf_counter() - t0))
            if status != 200:
                out.errors.append(f"step {status}")
            n += 1
            if n % 5 == 0:
                t0 = time.perf_counter()
                status, _ = await http.request("GET", f"/api/sessions/{session}/trace")
                out.trace_ms.append(1000 * (time.perf_counter() - t0))
                if status != 200:
                    out.errors.append(f"trace {status}")
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
        await http.request("DELETE", f"/api/sessions/{session}")
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.errors.append(repr(exc))
    finally:
        await http.close()


@dataclass
class StreamResult:
    frames: int = 0
    seconds: float = 0.0
    sizes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def streamer(host: str, port: int, seconds: float, fps: float, out: StreamResult) -> None:
    http = Http(host, port)
    try:
        status, body = await http.request("POST", "/api/sessions", {})
        if status != 201:
            out.errors.append(f"create {status}")
            return
        session = json.loads(body)["id"]
        async with connect(
            f"ws://{host}:{port}/api/sessions/{session}/stream", max_size=2**22
        ) as ws:
            await ws.send(json.dumps({"action": "play", "steps_per_frame": 1, "max_fps": fps}))
            first = await ws.recv()  # the clock starts at the first frame
            out.sizes.append(len(first))
            t0 = time.perf_counter()
            while (elapsed := time.perf_counter() - t0) < seconds:
                message = await ws.recv()
                frame = json.loads(message)
                if frame.get("type") != "frame":
                    out.errors.append(str(frame)[:200])
                    continue
                out.frames += 1
                out.sizes.append(len(message))
            out.seconds = elapsed
            await ws.send(json.dumps({"action": "pause"}))
            while json.loads(await ws.recv()).get("reason") != "pause":
                pass
        await http.request("DELETE", f"/api/sessions/{session}")
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.errors.append(repr(exc))
    finally:
        await http.close()


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def store_for_run(choice: str | None) -> Iterator[str]:
    """The store a benchmark's server uses: ``choice`` as given, or by default a new SQLite
    file — the default deployment, without the sessions earlier runs left in the user's own
    (they would count against the session cap, and the file grows run after run)."""
    if choice:
        yield choice
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        yield f"sqlite:///{folder}/sessions.db"


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        help="BACKPROP_LAB_STORE of the server (default: a new SQLite file for this run)",
    )


def start_server(port: int, store: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BACKPROP_LAB_STORE": store,
        "BACKPROP_LAB_LOG_LEVEL": "warning",
        # The simulated class connects from one address: lift the per-address quotas.
        "BACKPROP_LAB_MAX_SESSIONS_PER_CLIENT": "100000",
        "BACKPROP_LAB_CREATE_BURST": "100000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 30 s")


def process_stat(stat: Path) -> tuple[int, float] | None:
    """From a ``/proc/PID/stat`` file: the process's group and its user + system CPU time so
    far (None once it is gone, or off Linux)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; NaN elsewhere)."""
    found = process_stat(Path(f"/proc/{pid}/stat"))
    return float("nan") if found is None else found[1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


async def run(args: argparse.Namespace, port: int, pid: int) -> bool:
    host = "127.0.0.1"
    http = Http(host, port)
    await http.request("GET", "/api/catalog")  # warm up: imports, catalog cache
    await http.close()
    ok = True

    print(f"\n1. step: {args.students} students, {args.seconds:g} s, think {args.think:g} s")
    steps = StepResult()
    ready = asyncio.Barrier(args.students + 1)
    tasks = [
        asyncio.create_task(student(host, port, args.seconds, args.think, steps, ready))
        for _ in range(args.students)
    ]
    await ready.wait()
    t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*tasks)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    p50, p99 = percentile(steps.step_ms, 50), percentile(steps.step_ms, 99)
    print(f"   one-step requests: {len(steps.step_ms)} ({len(steps.step_ms) / wall:.0f}/s)")
    requests = len(steps.step_ms) + len(steps.trace_ms)
    print(
        f"   server CPU {cpu / wall:.2f} cores, "
        f"{1000 * cpu / max(requests, 1):.2f} ms per request (steps and traces)"
    )
    print(f"   step  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {max(steps.step_ms):6.1f} ms")
    print(
        f"   trace p50 {percentile(steps.trace_ms, 50):6.1f} ms   "
        f"p99 {percentile(steps.trace_ms, 99):6.1f} ms"
    )
    print(
        f"   create (all {args.students} at once, before stepping) "
        f"p50 {percentile(steps.create_ms, 50):.0f} ms, max {max(steps.create_ms):.0f} ms"
    )
    print(f"   errors: {len(steps.errors)} {steps.errors[:3]}")
    good = p99 < 50 and not steps.errors
    ok &= good
    print(f"   {verdict(good)}: p99 < 50 ms and zero errors")

    print(f"\n2. stream ×1: max_fps 60, {args.stream_seconds:g} s")
    one = StreamResult()
    await streamer(host, port, args.stream_seconds, 60, one)
    fps = one.frames / one.seconds if one.seconds else 0.0
    size_max = max(one.sizes, default=0)
    size_mean = sum(one.sizes) / max(len(one.sizes), 1)
    print(
        f"   {fps:.1f} frames/s, frame size mean {size_mean / 1024:.1f} KB, "
        f"max {size_max / 1024:.1f} KB"
    )
    print(f"   errors: {len(one.errors)} {one.errors[:3]}")
    good = fps >= 30 and not one.errors
    ok &= good and size_max <= FRAME_LIMIT
    print(f"   {verdict(good)}: ≥ 30 frames/s;  {verdict(size_max <= FRAME_LIMIT)}: frame ≤ 32 KB")

    print(f"\n3. stream ×{args.streams}: max_fps 30 each, {args.stream_seconds:g} s")
    many = [StreamResult() for _ in range(args.streams)]
    cpu0 = cpu_seconds(pid)
    await asyncio.gather(*(streamer(host, port, args.stream_seconds, 30, r) for r in many))
    cpu = cpu_seconds(pid) - cpu0
    rates = [r.frames / r.seconds if r.seconds else 0.0 for r in many]
    errors = [e for r in many for e in r.errors]
    size_max = max((s for r in many for s in r.sizes), default=0)
    print(
        f"   per client: min {min(rates):.1f}, mean {sum(rates) / len(rates):.1f} frames/s; "
        f"total {sum(rates):.0f} frames/s; max frame {size_max / 1024:.1f} KB"
    )
    frames = sum(r.frames for r in many)
    print(f"   server CPU {1000 * cpu / max(frames, 1):.2f} ms per frame (incl. session setup)")
    print(f"   errors: {len(errors)} {errors[:3]}")
    good = min(rates) >= 20 and not errors
    ok &= good
    print(f"   {verdict(good)}: ≥ 20 frames/s to each client")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--think", type=float, default=0.2, help="seconds between a student's steps"
    )
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--stream-seconds", type=float, default=5.0)
    add_store_option(parser)
    args = parser.parse_args()
    port = free_port()
    started = time.perf_counter()
    with store_for_run(args.store) as store:
        print(f"store: {store}")
        server = start_server(port, store)
        try:
            ok = asyncio.run(run(args, port, server.pid))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    outcome = "all targets met" if ok else "some targets missed"
    print(f"\n{outcome} ({time.perf_counter() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
