"""``POST /api/sessions/start``: a new session and everything a page draws first."""

from __future__ import annotations

from pydantic import Field

from app.schemas.boundary import BoundaryModel
from app.schemas.data import DataModel
from app.schemas.history import HistoryModel
from app.schemas.session import SessionModel
from app.schemas.trace import TraceModel


class StartModel(SessionModel):
    """A new session with everything the page draws first, in one answer."""

    trace: TraceModel = Field(description="As GET /trace (summary, sample 0).")
    history: HistoryModel = Field(description="As GET /history (empty at step 0).")
    boundary: BoundaryModel = Field(description="As GET /boundary?grid=64&hidden_grid=24.")
    data: DataModel = Field(description="As GET /data.")
