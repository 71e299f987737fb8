"""The live stream's messages: what a client sends (one model per ``action``) and the frames
and error frames the server sends back. The protocol is described in
:mod:`app.routers.stream`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Discriminator, Field, TypeAdapter, ValidationError

from app.errors import clean_errors
from app.schemas.boundary import BoundaryModel
from app.schemas.errors import ErrorItem
from app.schemas.history import HistoryModel
from app.schemas.recurrent import RecurrentStateModel
from app.schemas.recurrent_reads import RecurrentFrameTraceModel, RecurrentHistoryModel
from app.schemas.requests import ConfigModel, IntRange, StrictModel
from app.schemas.session import StateModel
from app.schemas.trace import TraceModel
from app.schemas.wire import ResponseModel

MAX_FPS = 60
DEFAULT_FPS = 30
MAX_WINDOW = 4
ACTIONS = ("play", "pause", "step", "patch", "reset", "frame", "ack")

# ----------------------------------------------------------------------------- client → server
# Bounds named by a string ("max_steps_per_frame") are the server's settings, passed as the
# validation context by whoever validates (see :func:`parse_message`).


class FrameView(StrictModel):
    """What the client draws, so frames can leave out what it does not (smaller frames)."""

    edges: Literal["W", "dW", "both"] = Field(
        "both", description="Which matrix the network view draws: the other one is null."
    )
    layer: Annotated[int, IntRange(0, "max_depth")] | None = Field(
        None,
        description="The one layer whose summaries and histograms are shown (the others' are "
        "empty); null: every layer's.",
    )
    sample: bool = Field(True, description="Each layer's values for the focus sample.")


class PlayMessage(StrictModel):
    """Start (or retune) playing."""

    action: Literal["play"]
    steps_per_frame: Annotated[
        int | Literal["auto"], IntRange(1, "max_steps_per_frame", ("auto",))
    ] = Field(
        1,
        description="Training steps per frame, 1..max_steps_per_frame (see /api/catalog), "
        "or 'auto': as many as keep max_fps (as fast as the screen allows).",
    )
    max_fps: float = Field(DEFAULT_FPS, ge=1, le=MAX_FPS, description="Frames per second.")
    ack: bool = Field(False, description="Wait for 'ack' messages before computing frames.")
    window: int = Field(
        1,
        ge=1,
        le=MAX_WINDOW,
        description="With ack: frames the client may have unacknowledged. 2 lets the server "
        "compute the next frame while the client draws this one.",
    )
    view: FrameView = Field(default_factory=FrameView, description="What the client draws.")


class PauseMessage(StrictModel):
    action: Literal["pause"]


class StepMessage(StrictModel):
    action: Literal["step"]


class PatchMessage(StrictModel):
    action: Literal["patch"]
    config: ConfigModel = Field(description="A partial config, as for PATCH.")


class ResetMessage(StrictModel):
    action: Literal["reset"]


class FrameRequest(StrictModel):
    action: Literal["frame"]
    grid: Annotated[int, IntRange(2, "max_grid")] | None = Field(
        None, description="Boundary side, 2..max_grid (default: the stream's own)."
    )


class AckMessage(StrictModel):
    action: Literal["ack"]


ClientMessage = Annotated[
    PlayMessage
    | PauseMessage
    | StepMessage
    | PatchMessage
    | ResetMessage
    | FrameRequest
    | AckMessage,
    Discriminator("action"),
]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


class BadMessageError(Exception):
    """A client message that is not one of :data:`ClientMessage`; ``errors`` as in a 422."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def at(cls, loc: list[str | int], msg: str, type_: str = "value_error") -> BadMessageError:
        return cls([{"loc": loc, "msg": msg, "type": type_}])


def parse_message(text: str, limits: dict[str, int], max_chars: int) -> ClientMessage:
    """One client message, checked in full, or :class:`BadMessageError`.

    orjson parses (it refuses NaN, Infinity, numbers that overflow and nesting deeper than
    1024 levels, without recursing in Python); the models check the rest. ``limits`` holds
    the bounds the models name (``max_steps_per_frame``, ``max_grid``).
    """
    if len(text) > max_chars:
        raise BadMessageError.at([], f"message longer than {max_chars} characters")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadMessageError.at([], f"not valid JSON: {exc}", "json_invalid") from None
    try:
        return CLIENT_MESSAGE.validate_python(data, context=limits)
    except ValidationError as exc:
        raise BadMessageError(_message_errors(exc, data)) from None


def _message_errors(exc: ValidationError, data: Any) -> list[dict[str, Any]]:
    """Errors located in the message itself: the union's tag leaves the location, and a
    missing or unknown action is located at ``action``."""
    if not isinstance(data, dict):
        return [{"loc": [], "msg": "must be a JSON object with an 'action'", "type": "dict_type"}]
    tag = data.get("action")
    if tag not in ACTIONS:
        got = "missing" if "action" not in data else f"got {tag!r}"
        msg = f"must be one of {', '.join(ACTIONS)}; {got}"
        return [{"loc": ["action"], "msg": msg, "type": "unknown_action"}]
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = list(error["loc"])
        errors.append({**error, "loc": loc[1:] if loc and loc[0] == tag else loc})
    return clean_errors(errors)


# ----------------------------------------------------------------------------- server → client

FrameReason = Literal["play", "pause", "step", "patch", "frame", "reset"]


class FrameModel(ResponseModel):
    """One WebSocket frame (``type: "frame"``)."""

    type: Literal["frame"]
    reason: FrameReason
    playing: bool
    reset: bool = Field(description="True when this frame follows a rebuild (step 0).")
    state: StateModel | RecurrentStateModel
    history: HistoryModel | RecurrentHistoryModel = Field(
        description="Rows since the previous frame (recurrent: with dh_norm per timestep)."
    )
    trace: TraceModel | RecurrentFrameTraceModel = Field(
        description="detail=summary, sample 0 (recurrent: the per-timestep summary)."
    )
    boundary: BoundaryModel | None = Field(
        description="Every N frames and on request; always null for a recurrent session."
    )


class ErrorFrame(ResponseModel):
    """The answer to a message the server cannot take; the socket stays open."""

    type: Literal["error"]
    detail: list[ErrorItem]
