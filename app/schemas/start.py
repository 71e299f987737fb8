"""``POST /api/sessions/start``: a new session and everything a page draws first."""

from __future__ import annotations

from pydantic import Field

from app.schemas.boundary import BoundaryModel
from app.schemas.data import DataModel
from app.schemas.history import HistoryModel
from app.schemas.recurrent_reads import (
    RecurrentHistoryModel,
    RecurrentTraceModel,
    SequenceDataModel,
)
from app.schemas.session import SessionModel
from app.schemas.trace import TraceModel


class StartModel(SessionModel):
    """A new session with everything the page draws first, in one answer."""

    trace: TraceModel | RecurrentTraceModel = Field(
        description="As GET /trace (summary, sample 0)."
    )
    history: HistoryModel | RecurrentHistoryModel = Field(
        description="As GET /history (empty at step 0)."
    )
    boundary: BoundaryModel | None = Field(
        description="As GET /boundary?grid=64&hidden_grid=24; null for a recurrent session "
        "(its inputs are sequences, not points of a plane)."
    )
    data: DataModel | SequenceDataModel = Field(description="As GET /data.")
