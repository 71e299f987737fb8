"""Helpers shared by the routers: run engine work off the event loop under the session lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.responses import Response

from app.schemas import MessageBody, ValidationErrorBody, json_bytes
from app.sessions import Session, SessionNotFoundError, SessionStore

T = TypeVar("T")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": MessageBody, "description": "Unknown session (never created or expired)."},
    422: {
        "model": ValidationErrorBody,
        "description": "Invalid input: `detail` lists `{loc, msg, type}` per problem.",
    },
}


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


async def locked_json(
    store: SessionStore,
    session: Session,
    work: Callable[[Session], Any],
    status: int = 200,
    heavy: bool = False,
) -> Response:
    """As :func:`locked`, answering the (already JSON-safe) result as is. The JSON text is
    rendered in the worker thread too, so a large answer never holds up the event loop."""

    def render(s: Session) -> bytes:
        return json_bytes(work(s))

    body = await locked(store, session, render, heavy)
    return Response(body, status_code=status, media_type="application/json")
