"""The lanes engine work runs in: fair turns between sessions, cancellation that waits for the
engine to stop, and a quick lane that long work cannot block."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator

import pytest

from app.lanes import Cancel, Lanes, SessionBusyError


def _chunks(log: list[str], name: str, n: int, cancel: Cancel) -> Generator[None, None, int]:
    done = 0
    for _ in range(n):
        if cancel():
            break
        log.append(name)
        done += 1
        yield
    return done


def test_heavy_jobs_of_two_sessions_take_turns() -> None:
    async def main() -> list[str]:
        lanes = Lanes(quick_threads=1, heavy_threads=1, quick_seconds=0.01)
        lanes.start()
        log: list[str] = []
        a = asyncio.create_task(lanes.heavy("a", lambda c: _chunks(log, "a", 4, c)))
        await asyncio.sleep(0)  # a is queued first
        b = asyncio.create_task(lanes.heavy("b", lambda c: _chunks(log, "b", 4, c)))
        assert await a == 4 and await b == 4
        await lanes.stop()
        return log

    log = asyncio.run(main())
    # First come does not mean first served to the end: after a's first chunk, b gets a turn.
    assert log[:4] in (["a", "b", "a", "b"], ["a", "a", "b", "a"])
    assert log.index("b") <= 2 and sorted(log) == ["a"] * 4 + ["b"] * 4


def test_one_heavy_job_per_session() -> None:
    async def main() -> None:
        lanes = Lanes(1, 1, 0.01)
        lanes.start()
        gate = threading.Event()

        def slow(cancel: Cancel) -> Generator[None, None, str]:
            gate.wait(5)
            yield
            return "done"

        first = asyncio.create_task(lanes.heavy("s", slow))
        await asyncio.sleep(0.01)
        assert lanes.busy("s")
        with pytest.raises(SessionBusyError):
            await lanes.heavy("s", slow)
        gate.set()
        assert await first == "done"
        assert not lanes.busy("s")
        await lanes.stop()

    asyncio.run(main())


def test_a_cancelled_waiter_returns_only_after_the_engine_stopped() -> None:
    """The race issue 9 found: a cancelled request released the session's lock while its
    engine thread kept training. Now the waiter asks the job to stop and waits for it."""

    async def main() -> None:
        lanes = Lanes(1, 1, 0.01)
        lanes.start()
        running = threading.Event()
        stopped = threading.Event()

        def train(cancel: Cancel) -> Generator[None, None, int]:
            steps = 0
            running.set()
            while not cancel():  # an engine loop that checks between steps
                time.sleep(0.001)
                steps += 1
            stopped.set()
            yield
            return steps

        lock = asyncio.Lock()

        async def request() -> None:
            async with lock:
                await lanes.heavy("s", train)

        task = asyncio.create_task(request())
        while not running.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert stopped.is_set()  # the engine loop had ended before the lock was released
        assert not lock.locked()
        await lanes.stop()

    asyncio.run(main())


def test_quick_work_does_not_wait_for_heavy_work() -> None:
    async def main() -> None:
        lanes = Lanes(1, 1, 0.01)
        lanes.start()
        release = threading.Event()

        def blocker(cancel: Cancel) -> Generator[None, None, None]:
            release.wait(10)
            yield

        heavy = asyncio.create_task(lanes.heavy("s", blocker))
        await asyncio.sleep(0.01)
        # The heavy thread is blocked; quick work still runs to completion.
        assert await lanes.quick(lambda: 6 * 7) == 42
        assert not heavy.done()
        release.set()
        await heavy
        await lanes.stop()

    asyncio.run(main())


def test_work_estimated_under_the_inline_threshold_runs_on_the_event_loop() -> None:
    """At most ``inline_seconds`` estimated: on the loop's own thread; above it, or with no
    estimate: on the quick thread."""

    async def main() -> tuple[int, int, int, int]:
        lanes = Lanes(1, 1, quick_seconds=0.02, inline_seconds=0.001)
        lanes.start()
        here = await lanes.quick(threading.get_ident, estimate=0.001)
        there = await lanes.quick(threading.get_ident, estimate=0.0011)
        unknown = await lanes.quick(threading.get_ident)
        await lanes.stop()
        return threading.get_ident(), here, there, unknown

    loop_thread, here, there, unknown = asyncio.run(main())
    assert here == loop_thread
    assert there != loop_thread and unknown != loop_thread


def test_a_job_error_reaches_its_waiter_and_the_lane_goes_on() -> None:
    async def main() -> None:
        lanes = Lanes(1, 1, 0.01)
        lanes.start()

        def broken(cancel: Cancel) -> Generator[None, None, None]:
            yield
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await lanes.heavy("s", broken)
        log: list[str] = []
        assert await lanes.heavy("s", lambda c: _chunks(log, "s", 2, c)) == 2
        await lanes.stop()

    asyncio.run(main())
