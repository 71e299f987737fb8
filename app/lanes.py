"""Where engine work runs: a quick lane that never waits behind long work, and a heavy lane
shared fairly between sessions.

Work is classified by its *estimated* cost (:mod:`engine.cost`), not by its kind: one step
of the largest network is heavy, a trace of the default network is quick.

- **Quick lane**: a thread of its own for work estimated below ``quick_seconds``. Session
  creation, reads and one-step requests of ordinary networks run here and never queue
  behind a long computation. Work estimated below ``inline_seconds`` (a step, a trace or
  the creation of a small network) runs on the event loop itself instead: handing it to the
  thread and back costs more than the work. Under load it costs far more: the thread, done,
  waits for the interpreter lock while the busy event loop holds it, up to a switch interval
  each time (``python -m benchmarks.store_bench``, memory store, 16 clients sending one-step
  requests back to back on 2 cores: 1.5–1.7× the requests per second with the work here).
- **Heavy lane**: a few threads serving *jobs* in turns. A job is a generator that yields
  between chunks of work (a few training steps, one grid row block…); after each chunk the
  job goes to the back of the queue, so two students' long jobs share the threads fairly
  instead of first come, first served. Each session has at most one heavy job at a time.

Cancellation: a job gets a :class:`Cancel` token. When the client goes away (or a stream
pauses) the token is set; the job stops at its next chunk boundary (training checks it
between steps). Whoever waits for a job keeps waiting until the engine has actually
stopped, even when the waiting coroutine itself is cancelled: the session's lock, held by
that coroutine, is therefore never released while engine work on the session still runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Job = Generator[None, None, T]  # yields between chunks, returns the result


class Cancel:
    """A thread-safe stop flag shared by a job and whoever waits for it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        """True once cancelled (usable directly as ``Trainer.train(should_stop=…)``)."""
        return self._event.is_set()


class SessionBusyError(RuntimeError):
    """The session already has a heavy job running or waiting."""


@dataclass(eq=False)
class _Entry(Generic[T]):
    key: str
    job: Job[T]
    future: asyncio.Future[T]
    cancel: Cancel
    chunks: int = 0


@dataclass
class LaneStats:
    """Counters for benchmarks and tests."""

    inline_jobs: int = 0
    quick_jobs: int = 0
    heavy_jobs: int = 0
    heavy_chunks: int = 0


class Lanes:
    """The quick thread, the heavy threads and the fair queue in front of the latter."""

    def __init__(
        self,
        quick_threads: int,
        heavy_threads: int,
        quick_seconds: float,
        inline_seconds: float = 0.0,
    ) -> None:
        self.quick_seconds = quick_seconds
        self.inline_seconds = inline_seconds
        self._quick = ThreadPoolExecutor(quick_threads, thread_name_prefix="quick")
        self._heavy = ThreadPoolExecutor(
            heavy_threads, thread_name_prefix="heavy", initializer=_lower_priority
        )
        self._heavy_threads = heavy_threads
        self._ready: collections.deque[_Entry[Any]] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[str] = set()
        self.stats = LaneStats()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the heavy lane's dispatchers (in the running event loop)."""
        self._wakeup = asyncio.Event()
        self._workers = [
            asyncio.create_task(self._dispatch(), name=f"heavy-lane-{k}")
            for k in range(self._heavy_threads)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._quick.shutdown(wait=False, cancel_futures=True)
        self._heavy.shutdown(wait=False, cancel_futures=True)

    # --- quick lane -----------------------------------------------------------------------------

    async def quick(self, work: Callable[..., T], *args: Any, estimate: float | None = None) -> T:
        """Run ``work(*args)`` on the quick thread; waits for it to finish even if cancelled.
        Work whose ``estimate`` (CPU seconds) is at most ``inline_seconds`` runs here, on the
        event loop, at once."""
        if estimate is not None and estimate <= self.inline_seconds:
            self.stats.inline_jobs += 1
            return work(*args)
        self.stats.quick_jobs += 1
        loop = asyncio.get_running_loop()
        return await _finish(loop.run_in_executor(self._quick, work, *args), None)

    # --- heavy lane -----------------------------------------------------------------------------

    def busy(self, key: str) -> bool:
        """Whether ``key`` (a session) has a heavy job running or waiting."""
        return key in self._busy

    async def heavy(
        self, key: str, job: Callable[[Cancel], Job[T]], cancel: Cancel | None = None
    ) -> T:
        """Run ``job(cancel)`` chunk by chunk, taking turns with other sessions' jobs.

        Raises SessionBusyError if ``key`` already has a heavy job. The result is the job's
        return value; the job stops early (at a chunk boundary) once ``cancel`` is set.
        """
        if key in self._busy:
            raise SessionBusyError(key)
        assert self._wakeup is not None, "Lanes.start() was not called"
        token = cancel or Cancel()
        loop = asyncio.get_running_loop()
        entry: _Entry[T] = _Entry(key, job(token), loop.create_future(), token)
        self._busy.add(key)
        self.stats.heavy_jobs += 1
        self._ready.append(entry)
        self._wakeup.set()
        try:
            return await _finish(entry.future, token)
        finally:
            self._busy.discard(key)

    async def _dispatch(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._ready:
                self._wakeup.clear()
                await self._wakeup.wait()
            entry = self._ready.popleft()
            if entry.future.done():  # pragma: no cover - defensive
                continue
            try:
                finished, value = await loop.run_in_executor(self._heavy, _advance, entry.job)
            except asyncio.CancelledError:  # the lane is stopping
                entry.future.cancel()
                raise
            except BaseException as exc:  # the job raised: hand the error to its waiter
                if not entry.future.done():
                    entry.future.set_exception(exc)
                continue
            entry.chunks += 1
            self.stats.heavy_chunks += 1
            if finished:
                entry.future.set_result(value)
            else:
                self._ready.append(entry)  # to the back: the next session's turn


HEAVY_NICENESS = 10  # scheduling priority of the heavy lane's threads (0 = normal, 19 = lowest)


def _lower_priority() -> None:
    """Let the system schedule this heavy-lane thread after everything else in the process.

    NumPy releases the interpreter lock inside its loops, so heavy work really runs on the
    cores in parallel; on a small server it would then take the CPU from the event loop and
    the quick lane. A nicer thread gets the CPU only when they do not want it. (Linux: a
    thread is a task with its own priority; elsewhere this does nothing.)
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HEAVY_NICENESS)


def _advance(job: Job[Any]) -> tuple[bool, Any]:
    """Run one chunk of ``job``: (True, result) when it returned, (False, None) otherwise."""
    try:
        next(job)
    except StopIteration as stop:
        return True, stop.value
    return False, None


async def _finish(future: asyncio.Future[T], cancel: Cancel | None) -> T:
    """Await ``future``; if the awaiting task is cancelled, ask the work to stop, wait until
    it has, then re-raise the cancellation (never return while the work still runs)."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if cancel is not None:
            cancel.set()
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(future)
        with contextlib.suppress(BaseException):
            future.result()
        raise
