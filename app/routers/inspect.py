"""Read-only views of a session: trace, history, boundary, chain rule, gradient check, data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app import operations as ops
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import InputError, check_int_range
from app.routers.common import ERROR_RESPONSES, locked_json
from app.schemas import (
    BoundaryModel,
    ChainModel,
    DataModel,
    GradcheckModel,
    HistoryModel,
    TraceModel,
    chain_json,
    data_json,
    gradcheck_json,
)
from app.sessions import Session

router = APIRouter(prefix="/api/sessions", tags=["inspect"], responses=ERROR_RESPONSES)

DEFAULT_GRID = 64


@router.get("/{session_id}/trace", response_model=TraceModel)
async def trace(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    detail: Annotated[Literal["summary", "full"], Query()] = "summary",
    sample: Annotated[int, Query(description="Batch row for the per-sample values.")] = 0,
) -> Response:
    """The current step's per-layer trace (arrays are null before the stage that computes
    them). ``summary``: parameters, gradients, per-neuron means, one sample's values,
    statistics and histograms. ``full`` adds the batch and every (rows, units) array."""
    limit = settings.max_trace_values

    def work(s: Session) -> dict[str, Any]:
        return ops.trace(s.trainer, detail, sample, limit)

    # A trace is the costliest frequent read: it goes to the pool of long work, so that
    # one-step requests keep their own thread.
    return await locked_json(store, session, work, heavy=True)


@router.get("/{session_id}/history", response_model=HistoryModel)
async def history(
    session: SessionDep,
    store: StoreDep,
    since: Annotated[int, Query(ge=0, description="Only steps after this one.")] = 0,
) -> Response:
    """Per-step metrics after step ``since``, evenly downsampled to at most 2000 points
    (the last one always kept)."""

    def work(s: Session) -> dict[str, Any]:
        return ops.history(s.trainer, since)

    return await locked_json(store, session, work)


@router.get("/{session_id}/boundary", response_model=BoundaryModel)
async def boundary(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    grid: Annotated[int | None, Query(description="Grid side G, 2..max_grid (default 64).")] = None,
    hidden_grid: Annotated[
        int | None, Query(description="Side for hidden neurons and inputs, 2..G (default G).")
    ] = None,
) -> Response:
    """The output, every hidden neuron and every input feature on a grid over the data
    domain, 8-bit quantised and base64-encoded with each grid's value range."""
    size = min(DEFAULT_GRID, settings.max_grid) if grid is None else grid
    check_int_range(size, 2, settings.max_grid, ("query", "grid"))
    small = size if hidden_grid is None else hidden_grid
    check_int_range(small, 2, size, ("query", "hidden_grid"))

    def work(s: Session) -> dict[str, Any]:
        return ops.boundary(s.trainer, size, small)

    return await locked_json(store, session, work, heavy=size > 32)


@router.get("/{session_id}/chain", response_model=ChainModel)
async def chain(
    session: SessionDep,
    store: StoreDep,
    layer: Annotated[int, Query(description="Weight layer 0..n_layers−1.")],
    i: Annotated[int, Query(description="Input unit of the weight (row of W).")],
    j: Annotated[int, Query(description="Output unit of the weight (column of W).")],
    sample: Annotated[int, Query(description="Batch row.")] = 0,
) -> Response:
    """The chain rule for one weight W[layer][i, j] and one sample: ∂L_n/∂w_ij = δ_j · a_i
    with δ_j = f′(z_j) · Σ_k w_jk δ_k, and the batch average that equals dW[i, j]."""

    def work(s: Session) -> dict[str, Any]:
        try:
            result = s.trainer.chain(layer, i, j, sample)
        except ValueError as exc:
            raise InputError.from_engine(exc, ("query",)) from None
        return chain_json(result, ops.diverged(s.trainer))

    return await locked_json(store, session, work)


@router.get("/{session_id}/gradcheck", response_model=GradcheckModel)
async def gradcheck(session: SessionDep, store: StoreDep) -> Response:
    """Backprop's gradients against central finite differences on the current batch
    (at most 64 entries per W and b); ``passed`` when the max relative error < tolerance."""

    def work(s: Session) -> dict[str, Any]:
        return gradcheck_json(s.trainer.gradient_check(), ops.diverged(s.trainer))

    return await locked_json(store, session, work, heavy=True)


@router.get("/{session_id}/data", response_model=DataModel)
async def data(session: SessionDep, store: StoreDep) -> Response:
    """The session's train and test points (raw coordinates), for drawing over the boundary."""

    def work(s: Session) -> dict[str, Any]:
        return data_json(s.trainer.dataset)

    return await locked_json(store, session, work)
