"""Read-only views of a session: trace, history, boundary, chain rule, gradient check, data.

Every query bound is in the schema: those set by the server's limits as numbers, those that
depend on the session's network (its batch, its layer sizes) said in the description and
checked against the session (422 naming the range).
"""

# No ``from __future__ import annotations``: the query bounds are built from this server's
# limits inside build_router, and FastAPI must see them as objects, not names.

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from app import operations as ops
from app.deps import SessionDep, StoreDep
from app.routers.common import INVALID, NOT_FOUND, JsonRoute, Responses, answer
from app.schemas.boundary import BoundaryModel
from app.schemas.data import DataModel
from app.schemas.diagnostics import ChainModel, GradcheckModel
from app.schemas.errors import MessageBody
from app.schemas.history import HistoryModel
from app.schemas.recurrent_reads import (
    RecurrentGradcheckModel,
    RecurrentHistoryModel,
    RecurrentTraceModel,
    SequenceDataModel,
    TimestepDetailModel,
)
from app.schemas.requests import IntRange
from app.schemas.trace import TraceModel
from app.schemas.update import UpdateRuleModel
from app.settings import Settings
from engine.datasets import FEATURES, MAX_CLASSES
from engine.export import MAX_COUNT

DEFAULT_GRID = 64
DENSE_ONLY: Responses = {
    409: {"model": MessageBody, "description": "The session runs a recurrent network."},
}
RECURRENT_ONLY: Responses = {
    409: {"model": MessageBody, "description": "The session runs a dense network."},
}


def build_router(settings: Settings) -> APIRouter:
    """The read-only routes, their query bounds taken from ``settings``."""
    router = APIRouter(
        prefix="/api/sessions",
        tags=["inspect"],
        responses={**INVALID, **NOT_FOUND},
        route_class=JsonRoute,
    )
    # The widest network and the largest batch any session on this server can have.
    last_row = max(settings.max_samples, settings.max_csv_rows) - 1
    last_unit = max(settings.max_width, len(FEATURES), MAX_CLASSES) - 1
    grid_range = IntRange(2, settings.max_grid)

    budget = settings.max_request_seconds

    @router.get("/{session_id}/trace", response_model=TraceModel | RecurrentTraceModel)
    async def trace(
        request: Request,
        session: SessionDep,
        store: StoreDep,
        detail: Annotated[Literal["summary", "full"], Query()] = "summary",
        sample: Annotated[
            int,
            Query(description="Batch row, below the session's batch size."),
            IntRange(0, last_row),
        ] = 0,
    ) -> Response:
        """The current step's per-layer trace (arrays are null before the stage that computes
        them). ``summary``: parameters, gradients, per-neuron means, one sample's values,
        statistics and histograms. ``full`` adds the batch and every (rows, units) array.
        A recurrent session answers its trace timestep by timestep (``model: "recurrent"``:
        h_t, gates, ‖∂L/∂h_t‖, each timestep's share of ∂L/∂W_hh, state Jacobians) for the
        batch sequence ``sample``; ``detail`` does not apply to it."""
        limit = settings.max_trace_values
        return await answer(
            store,
            session,
            lambda s: ops.trace(s, detail, sample, limit),
            cost=ops.read_cost,
            request=request,
        )

    @router.get("/{session_id}/history", response_model=HistoryModel | RecurrentHistoryModel)
    async def history(
        session: SessionDep,
        store: StoreDep,
        since: Annotated[
            int, Query(description="Only steps after this one."), IntRange(0, MAX_COUNT)
        ] = 0,
    ) -> Response:
        """Per-step metrics after step ``since``, evenly downsampled to at most 2000 points
        (the last one always kept). Recurrent sessions: rows with ‖∂L/∂h_t‖ per timestep."""
        return await answer(store, session, lambda s: ops.history(s, since))

    @router.get("/{session_id}/boundary", response_model=BoundaryModel, responses=DENSE_ONLY)
    async def boundary(
        request: Request,
        session: SessionDep,
        store: StoreDep,
        grid: Annotated[int, Query(description="Grid side G."), grid_range] = min(
            DEFAULT_GRID, settings.max_grid
        ),
        hidden_grid: Annotated[
            Annotated[int, grid_range] | None,
            Query(description="Side for hidden neurons and inputs, at most G (default G)."),
        ] = None,
    ) -> Response:
        """The output, every hidden neuron and every input feature on a grid over the data
        domain, 8-bit quantised and base64-encoded with each grid's value range."""
        return await answer(
            store,
            session,
            lambda s: ops.boundary(s, grid, hidden_grid, budget, settings.max_grid_cells),
            cost=ops.grid_cost(grid, hidden_grid),
            request=request,
        )

    @router.get("/{session_id}/chain", response_model=ChainModel, responses=DENSE_ONLY)
    async def chain(
        request: Request,
        session: SessionDep,
        store: StoreDep,
        layer: Annotated[
            int,
            Query(description="Weight layer, below the session's n_layers."),
            IntRange(0, settings.max_depth),
        ],
        i: Annotated[
            int,
            Query(description="Input unit of the weight (row of W), below the layer's fan_in."),
            IntRange(0, last_unit),
        ],
        j: Annotated[
            int,
            Query(description="Output unit (column of W), below the layer's fan_out."),
            IntRange(0, last_unit),
        ],
        sample: Annotated[
            int,
            Query(description="Batch row, below the session's batch size."),
            IntRange(0, last_row),
        ] = 0,
    ) -> Response:
        """The chain rule for one weight W[layer][i, j] and one sample: ∂L_n/∂w_ij = δ_j · a_i
        with δ_j = f′(z_j) · Σ_k w_jk δ_k, and the batch average that equals dW[i, j]."""
        return await answer(
            store,
            session,
            lambda s: ops.chain(s, layer, i, j, sample),
            cost=ops.read_cost,
            request=request,
        )

    @router.get("/{session_id}/update-rule", response_model=UpdateRuleModel, responses=DENSE_ONLY)
    async def update_rule(
        session: SessionDep,
        store: StoreDep,
        layer: Annotated[
            int,
            Query(description="Weight layer, below the session's n_layers."),
            IntRange(0, settings.max_depth),
        ],
        i: Annotated[
            int,
            Query(description="Input unit of the weight (row of W), below the layer's fan_in."),
            IntRange(0, last_unit),
        ],
        j: Annotated[
            int,
            Query(description="Output unit (column of W), below the layer's fan_out."),
            IntRange(0, last_unit),
        ],
    ) -> Response:
        """How weight W[layer][i, j] changed at this step's update, term by term: w before,
        the gradient the optimiser got (data gradient, L2 and L1 terms, clipping), the
        optimiser's rule with this weight's state before the update and every intermediate
        value (velocity; m, v, m̂, v̂ …), Δw and w after. Until this step's update has run,
        ``update`` is null and ``pending`` says why (200 either way: not having run yet is a
        state, not an error)."""
        return await answer(store, session, lambda s: ops.update_rule(s, layer, i, j))

    @router.get("/{session_id}/gradcheck", response_model=GradcheckModel | RecurrentGradcheckModel)
    async def gradcheck(request: Request, session: SessionDep, store: StoreDep) -> Response:
        """Backprop's gradients against central finite differences on the current batch, on
        at most 64 entries per W and b, evenly spread — fewer when a large network would take
        longer than a request may (the answer counts the entries checked);
        ``passed`` when the max relative error < tolerance."""
        return await answer(
            store,
            session,
            lambda s: ops.gradcheck(s, budget),
            cost=ops.gradcheck_cost(budget),
            request=request,
        )

    @router.get("/{session_id}/data", response_model=DataModel | SequenceDataModel)
    async def data(session: SessionDep, store: StoreDep) -> Response:
        """The session's train and test points (raw coordinates), for drawing over the
        boundary. Recurrent sessions: the first 64 sequences of each part."""
        return await answer(store, session, ops.data)

    @router.get(
        "/{session_id}/timestep/{t}",
        response_model=TimestepDetailModel,
        responses=RECURRENT_ONLY,
    )
    async def timestep(
        request: Request,
        session: SessionDep,
        store: StoreDep,
        t: Annotated[
            int,
            Path(description="Timestep, below the session's sequence length T."),
            IntRange(0, ops.engine_limits(settings).max_sequence_length - 1),
        ],
        sample: Annotated[
            int,
            Query(description="Batch sequence, below the session's batch size."),
            IntRange(0, last_row),
        ] = 0,
    ) -> Response:
        """Recurrent sessions: timestep t of the current step in full — the sample's h_t and
        gates, and t's own term of ∂L/∂W_xh, ∂L/∂W_hh, ∂L/∂b_h (and ∂L/∂W_hy, ∂L/∂b_y where
        the head reads t) with their norms, beside the gradient so far and t's share of it.
        The terms are null until the backward pass reaches t (200: a state, not an error);
        summed over the timesteps they are the gradient. A dense session: 409."""
        return await answer(
            store,
            session,
            lambda s: ops.timestep(s, t, sample),
            cost=ops.timestep_cost,
            request=request,
        )

    return router
