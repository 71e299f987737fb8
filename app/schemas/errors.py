"""Error bodies: 422 lists ``{loc, msg, type}`` per problem; 404, 405, 413, 500 and 503 say
what happened in one sentence."""

from __future__ import annotations

from pydantic import Field

from app.schemas.wire import ResponseModel


class ErrorItem(ResponseModel):
    loc: list[str | int] = Field(
        description="Where: 'body', 'query' or a message key, then the path."
    )
    msg: str = Field(description="What is allowed, and what was sent.")
    type: str


class ValidationErrorBody(ResponseModel):
    detail: list[ErrorItem]


class MessageBody(ResponseModel):
    detail: str
