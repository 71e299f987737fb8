"""What every router shares: JSON bodies parsed by orjson, engine work run off the event loop
under the session's lock, answers rendered in the worker thread, the documented errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from app.kinds import AnyTrainer
from app.lanes import Cancel
from app.schemas.errors import MessageBody, ValidationErrorBody
from app.schemas.wire import render
from app.sessions import Session, SessionStore

T = TypeVar("T")

# The error answers a route documents: only those it can give. (FastAPI documents a 422 for
# every route with a parameter, a path's session id included; INVALID gives it its shape.)
Responses = dict[int | str, dict[str, Any]]
INVALID: Responses = {
    422: {
        "model": ValidationErrorBody,
        "description": "Invalid input: `detail` lists `{loc, msg, type}` per problem.",
    },
}
NOT_FOUND: Responses = {
    404: {"model": MessageBody, "description": "Unknown session (never created or expired)."},
}
TOO_LARGE: Responses = {
    413: {"model": MessageBody, "description": "The body is larger than max_request_bytes."},
}
BUSY: Responses = {
    503: {
        "model": MessageBody,
        "description": "Every session slot, or the server's memory budget, is held by sessions "
        "in recent use (Retry-After).",
    },
}
NOT_JSON: Responses = {
    415: {
        "model": MessageBody,
        "description": "The request did not say Content-Type: application/json (required on "
        "every POST, bodyless ones too, so that other sites cannot post here).",
    },
}
QUOTA: Responses = {
    429: {
        "model": MessageBody,
        "description": "This address holds too many sessions or creates them too fast "
        "(Retry-After).",
    },
}


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI answers it with 422.
            self._json = orjson.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is parsed by orjson, which refuses NaN, Infinity, numbers that
    overflow a double and nesting deeper than 1024 levels as syntax errors (422). The standard
    parser accepts the first three and recurses until a RecursionError, which FastAPI answers
    with a 400."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return parse_with_orjson


Cost = Callable[[AnyTrainer], float]  # estimated CPU seconds of a request's engine work
Job = Generator[None, None, T]


async def watch_disconnect(request: Request, cancel: Cancel) -> None:
    """Set ``cancel`` when the client goes away (long work then stops between steps).

    The route has read the request's body, so the next ASGI message is the disconnect: this
    waits for it rather than polling ``Request.is_disconnected``, whose cancel scope can
    swallow the cancellation of the task it runs in on some anyio versions (the request then
    never finished)."""
    while not cancel():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


@contextlib.asynccontextmanager
async def cancel_on_disconnect(request: Request | None) -> AsyncIterator[Cancel]:
    cancel = Cancel()
    watcher = None if request is None else asyncio.create_task(watch_disconnect(request, cancel))
    try:
        yield cancel
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def run_work(
    store: SessionStore,
    session: Session,
    job: Callable[[Session, Cancel], Job[T]],
    *,
    cost: Cost | None = None,
    request: Request | None = None,
    reserve: Callable[[AnyTrainer], int] | None = None,
    durable: bool = True,
) -> T:
    """Run ``job`` on ``session`` under its lock, on the lane its estimated cost picks.

    Work estimated under ``quick_seconds`` runs on the quick lane in one go (under
    ``inline_seconds``, on the event loop: see :mod:`app.lanes`); anything longer
    runs on the heavy lane chunk by chunk, taking turns with other sessions, and stops at its
    next chunk boundary when the client goes away. Requests to one session wait for its lock
    in order, so the heavy lane never holds more than one job of a session: a session cannot
    crowd others out by sending many long requests at once.
    ``reserve`` says how many more bytes the work will keep in the session (a staged step's
    arrays): room is made for them first, or the request is refused (503) before it starts.
    ``durable``: the change is stored before this returns (a stream's frames pass False: see
    :meth:`SessionStore.hold`).
    """
    lanes = store.lanes
    async with store.hold(session, durable):
        if reserve is not None:
            await store.make_room(0, reserve(session.trainer), keep=session)
        estimate = None if cost is None else cost(session.trainer)
        if estimate is None or estimate <= lanes.quick_seconds:
            # Quick work ends in milliseconds: nothing to watch or to cancel.
            return await lanes.quick(_run_to_end, job(session, Cancel()), estimate=estimate)
        async with cancel_on_disconnect(request) as cancel:
            return await lanes.heavy(session.id, lambda token: job(session, token), cancel)


def _run_to_end(job: Job[T]) -> T:
    """Every chunk of ``job`` at once (on the quick lane: it is small)."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            result: T = stop.value
            return result


def one_chunk(work: Callable[[Session], T]) -> Callable[[Session, Cancel], Job[T]]:
    """Work that cannot be split, as a job of one chunk."""

    def job(session: Session, cancel: Cancel) -> Job[T]:
        return work(session)
        yield  # unreachable: makes this function a generator

    return job


async def answer(
    store: SessionStore,
    session: Session,
    work: Callable[[Session], BaseModel | dict[str, Any]],
    status: int = 200,
    *,
    cost: Cost | None = None,
    request: Request | None = None,
    reserve: Callable[[AnyTrainer], int] | None = None,
) -> Response:
    """Run ``work`` (see :func:`run_work`) and answer with the model it returns. The JSON is
    rendered in the worker thread too, so a large answer never holds up the event loop."""
    return await answer_job(
        store, session, one_chunk(work), status, cost=cost, request=request, reserve=reserve
    )


async def answer_job(
    store: SessionStore,
    session: Session,
    job: Callable[[Session, Cancel], Job[BaseModel | dict[str, Any]]],
    status: int = 200,
    *,
    cost: Cost | None = None,
    request: Request | None = None,
    reserve: Callable[[AnyTrainer], int] | None = None,
) -> Response:
    """As :func:`answer` for work split into chunks (a generator yielding between them)."""

    def rendered(s: Session, cancel: Cancel) -> Job[bytes]:
        result = yield from job(s, cancel)
        return render(result)

    body = await run_work(store, session, rendered, cost=cost, request=request, reserve=reserve)
    return Response(body, status_code=status, media_type="application/json")
