"""``GET /healthz``."""

from __future__ import annotations

from typing import Literal

from app.schemas.wire import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]
    version: str
