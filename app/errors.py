"""Error responses: one shape for every bad input, never a 500 for a client's mistake.

422 bodies always read ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` (FastAPI's
own shape, without echoing the input back); 404, 405, 413, 500 and 503 carry
``{"detail": "..."}``. Engine errors arrive as :class:`~engine.errors.ConfigError`, whose field
path travels as data (``loc``); no message is ever parsed for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.lanes import SessionBusyError
from app.schemas.errors import ErrorItem, MessageBody, ValidationErrorBody
from app.schemas.wire import render
from app.sessions import (
    MB,
    QuotaError,
    SessionNotFoundError,
    SessionTooLargeError,
    StoreError,
    StoreFullError,
)
from engine.errors import ConfigError

Loc = Sequence[str | int]
INTERNAL_ERROR = "internal server error: the request could not be completed"


class InputError(Exception):
    """A client's input failed a check outside pydantic (engine validation, ranges)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def at(cls, loc: Loc, msg: str, type_: str = "value_error") -> InputError:
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])

    @classmethod
    def from_engine(cls, exc: ConfigError, prefix: Loc = ("body",)) -> InputError:
        """An engine error as one entry located at ``prefix`` + the error's field path."""
        return cls.at((*prefix, *exc.loc), exc.message)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(413, f"{what} is larger than the limit of {limit} bytes")


MODEL_TAGS = ("dense", "recurrent")  # the branches of a config body (see app.schemas.recurrent)


def clean_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error entries → ``{"loc", "msg", "type"}`` (unknown keys join the loc;
    a JSON syntax error is located at the body and says where the text went wrong)."""
    out = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] in MODEL_TAGS:
            del loc[1]  # the union's branch (the config's kind) is not a field of the body
        ctx = error.get("ctx") or {}
        kind = str(error.get("type", "value_error"))
        msg = str(error.get("msg", ""))
        if kind == "unknown_field" and "field" in ctx:
            loc.append(str(ctx["field"]))
        if kind == "model_kind" and loc[-1:] != ["model"]:
            loc.append("model")  # a wrong model kind is the union's tag: some versions omit it
        if kind == "json_invalid" and loc and isinstance(loc[-1], int):
            msg = f"not valid JSON: {ctx.get('error', 'syntax error')} (at character {loc[-1]})"
            loc = loc[:-1]
        out.append({"loc": loc, "msg": msg, "type": kind})
    return out


def in_range_message(lo: int, hi: int, got: object) -> str:
    return f"must be an integer in {lo}..{hi}, got {got!r}"


def json_response(body: ValidationErrorBody | MessageBody, status: int, **headers: str) -> Response:
    return Response(render(body), status, headers or None, media_type="application/json")


def validation_response(errors: list[dict[str, Any]]) -> Response:
    return json_response(ValidationErrorBody(detail=[ErrorItem(**e) for e in errors]), 422)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error its documented shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return validation_response(clean_errors(exc.errors()))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        return validation_response(exc.errors)

    @app.exception_handler(SessionNotFoundError)
    async def _not_found(request: Request, exc: SessionNotFoundError) -> Response:
        body = MessageBody(detail="unknown session (it may have expired after being idle)")
        return json_response(body, 404)

    @app.exception_handler(StoreFullError)
    async def _full(request: Request, exc: StoreFullError) -> Response:
        retry = str(request.app.state.settings.busy_retry_after_seconds)
        body = MessageBody(
            detail="the server is full: every session slot or all of its memory is held by "
            "sessions in recent use; try again shortly"
        )
        return json_response(body, 503, **{"Retry-After": retry})

    @app.exception_handler(QuotaError)
    async def _quota(request: Request, exc: QuotaError) -> Response:
        return json_response(
            MessageBody(detail=exc.message), 429, **{"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(SessionBusyError)
    async def _busy(request: Request, exc: SessionBusyError) -> Response:
        body = MessageBody(
            detail="this session is already running a long request; wait for its answer"
        )
        return json_response(body, 429, **{"Retry-After": "1"})

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        """The store failed (503, try again) or holds a session it cannot read (409)."""
        headers = {"Retry-After": str(exc.retry_after)} if exc.status == 503 else {}
        return json_response(MessageBody(detail=exc.message), exc.status, **headers)

    @app.exception_handler(SessionTooLargeError)
    async def _too_large(request: Request, exc: SessionTooLargeError) -> Response:
        return validation_response([too_large_error(exc)])


def too_large_error(exc: SessionTooLargeError) -> dict[str, Any]:
    """One 422 entry naming the memory budget a setup would pass."""
    needed, allowed = exc.needed / MB, exc.allowed / MB
    return {
        "loc": ["body"],
        "msg": f"this setup needs about {needed:.0f} MB, more than the {allowed:.0f} MB one "
        "session may hold (max_session_mb): a smaller batch_size, fewer samples or smaller "
        "layers fit",
        "type": "memory_budget",
    }
