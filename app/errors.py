"""Error responses: one shape for every bad input, never a 500 for a client's mistake.

422 bodies always read ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` (FastAPI's
own shape, without echoing the input back); 404, 409, 413 and 503 carry ``{"detail": "..."}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from app.sessions import SessionNotFoundError, StoreFullError
from engine.errors import ConfigError

Loc = Sequence[str | int]


class InputError(Exception):
    """A client's input failed a check outside pydantic (engine validation, ranges)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def at(cls, loc: Loc, msg: str, type_: str = "value_error") -> InputError:
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])

    @classmethod
    def from_engine(cls, exc: BaseException, prefix: Loc = ("body",)) -> InputError:
        """An engine error as one entry; a ConfigError carries its field path as data."""
        if isinstance(exc, ConfigError):
            return cls.at((*prefix, *exc.loc), exc.message)
        return cls.at(prefix, str(exc))


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(413, f"{what} is larger than the limit of {limit} bytes")


def clean_errors(errors: Iterable[Mapping[str, Any]], prefix: Loc = ()) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error entries → ``{"loc", "msg", "type"}`` (unknown keys join the loc)."""
    out = []
    for error in errors:
        loc = [*prefix, *error.get("loc", ())]
        ctx = error.get("ctx") or {}
        if error.get("type") == "unknown_field" and "field" in ctx:
            loc.append(str(ctx["field"]))
        msg = str(error.get("msg", ""))
        if msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        out.append({"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))})
    return out


def in_range_message(lo: int, hi: int, got: object) -> str:
    return f"must be an integer in {lo}..{hi}, got {got!r}"


def check_int_range(value: int, lo: int, hi: int, loc: Loc) -> None:
    if not lo <= value <= hi:
        raise InputError.at(loc, in_range_message(lo, hi, value))


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error its documented shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": clean_errors(exc.errors())}, status_code=422)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        return JSONResponse({"detail": exc.errors}, status_code=422)

    @app.exception_handler(SessionNotFoundError)
    async def _not_found(request: Request, exc: SessionNotFoundError) -> Response:
        return JSONResponse(
            {"detail": "unknown session (it may have expired after being idle)"}, status_code=404
        )

    @app.exception_handler(StoreFullError)
    async def _full(request: Request, exc: StoreFullError) -> Response:
        retry = str(request.app.state.settings.busy_retry_after_seconds)
        return JSONResponse(
            {"detail": "every session slot is in use; try again shortly"},
            status_code=503,
            headers={"Retry-After": retry},
        )
