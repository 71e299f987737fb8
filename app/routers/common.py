"""What every router shares: JSON bodies parsed by orjson, engine work run off the event loop
under the session's lock, answers rendered in the worker thread, the documented errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from app.schemas.errors import MessageBody, ValidationErrorBody
from app.schemas.wire import render
from app.sessions import Session, SessionNotFoundError, SessionStore

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
    503: {"model": MessageBody, "description": "Every session slot is in use (Retry-After)."},
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


async def locked(
    store: SessionStore, session: Session, work: Callable[[Session], T], heavy: bool = False
) -> T:
    """Run ``work(session)`` in a worker thread while holding the session's lock.

    Requests to one session therefore run one at a time, in arrival order, and never block
    the event loop (other sessions' requests go on meanwhile). ``heavy`` work (many steps,
    rebuilds) runs in its own small pool so that quick requests never wait behind it.
    """
    async with store.hold(session):
        if session.closed:
            raise SessionNotFoundError(session.id)
        return await store.workers.run(work, session, heavy=heavy)


async def answer(
    store: SessionStore,
    session: Session,
    work: Callable[[Session], BaseModel | dict[str, Any]],
    status: int = 200,
    heavy: bool = False,
) -> Response:
    """As :func:`locked`, answering with the response model ``work`` returns. The JSON is
    rendered in the worker thread too, so a large answer never holds up the event loop."""

    def render_work(s: Session) -> bytes:
        return render(work(s))

    body = await locked(store, session, render_work, heavy)
    return Response(body, status_code=status, media_type="application/json")
