"""Stepping: forward/backward a layer (dense) or a timestep (recurrent) at a time, the loss,
the update, and whole steps.

Stages run in the order ``forward 0 … forward L−1, loss, backward L−1 … backward 0, update``
and every call moves forward in time to the *next* stage of its kind, finishing whatever lies
in between. So ``backward`` before the forward pass is complete finishes the forward pass and
the loss first (the answer's ``stage`` is then ``backward``); ``forward`` after the loss
completes the current step (backward and update) and starts the next one. Nothing is ever
refused with 409: a student clicking "backward" early sees the forward pass it needed.

A recurrent session steps through time — ``forward t = 0 … T−1, loss, backward t = T−1 … 0,
update`` — one timestep per call (``timesteps``: more). A call ahead of the next stage runs
what lies between, as for dense; a call *behind* the current position of a step in progress
(``forward`` during the backward pass, say) answers 409 naming the stage and timestep that
come next, rather than finishing the step and updating the weights unasked.
"""

# No ``from __future__ import annotations``: the request models below are built for this
# server's limits inside build_router, and FastAPI must see them as objects, not names.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from pydantic import ConfigDict, Field

from app import operations as ops
from app.deps import SessionDep, StoreDep
from app.errors import InputError
from app.routers.common import (
    BUSY,
    INVALID,
    NOT_FOUND,
    NOT_JSON,
    TOO_LARGE,
    JsonRoute,
    answer,
    answer_job,
)
from app.schemas.errors import MessageBody
from app.schemas.recurrent import RecurrentStateModel
from app.schemas.requests import IntRange, StrictModel
from app.schemas.session import StateModel
from app.sessions import Session
from app.settings import Settings
from engine.recurrent_trainer import RecurrentTrainer

LAYERS_EXAMPLES: dict[str, Any] = {
    "one": {"summary": "One layer", "value": {"layers": 1}},
    "all": {"summary": "The rest of the pass", "value": {"layers": "all"}},
    "timestep": {"summary": "Recurrent: one timestep", "value": {"timesteps": 1}},
    "timesteps": {"summary": "Recurrent: the rest of the pass", "value": {"timesteps": "all"}},
}
STATE = StateModel | RecurrentStateModel
WRONG_ORDER: dict[int | str, dict[str, Any]] = {
    409: {
        "model": MessageBody,
        "description": "Recurrent sessions only: this stage lies behind the current position "
        "of the step in progress (the message names the stage and timestep that come next).",
    },
}
# A staged call runs at most the rest of one step, and keeps that step's arrays in memory.
STAGED: dict[str, Any] = {"cost": ops.stage_cost, "reserve": ops.record_bytes}
STEPS_EXAMPLES: dict[str, Any] = {
    "one": {"summary": "One step", "value": {"steps": 1}},
    "hundred": {"summary": "100 steps", "value": {"steps": 100}},
}


def build_router(settings: Settings) -> APIRouter:
    """The stepping routes, their bounds taken from ``settings``."""
    router = APIRouter(
        prefix="/api/sessions",
        tags=["training"],
        responses={**INVALID, **NOT_FOUND, **TOO_LARGE, **NOT_JSON},
        route_class=JsonRoute,
    )

    class LayersRequest(StrictModel):
        """How far to advance: ``layers`` for a dense session, ``timesteps`` for a recurrent
        one — a positive count or ``"all"`` (the rest of the pass)."""

        model_config = ConfigDict(
            json_schema_extra={"examples": [{"layers": 1}, {"layers": "all"}, {"timesteps": 1}]}
        )
        layers: Annotated[int | Literal["all"], IntRange(1, settings.max_depth + 1, ("all",))] = (
            Field(1, description="Dense: 1..n_layers (hidden layers + 1) or 'all'.")
        )
        timesteps: Annotated[
            int | Literal["all"],
            IntRange(1, ops.engine_limits(settings).max_sequence_length, ("all",)),
        ] = Field(1, description="Recurrent: 1..T timesteps or 'all'.")

    def count(body: LayersRequest | None, session: Session) -> int | Literal["all"]:
        """The body's count for the session's kind (the other kind's field: 422)."""
        body = body or LayersRequest()
        recurrent = isinstance(session.trainer, RecurrentTrainer)
        wrong = "layers" if recurrent else "timesteps"
        if wrong in body.model_fields_set:
            kind, right = ("recurrent", "timesteps") if recurrent else ("dense", "layers")
            raise InputError.at(
                ("body", wrong), f"this session runs a {kind} network: send {right!r} instead"
            )
        return body.timesteps if recurrent else body.layers

    class StepsRequest(StrictModel):
        """How many whole training steps to run."""

        model_config = ConfigDict(json_schema_extra={"examples": [{"steps": 1}, {"steps": 100}]})
        steps: Annotated[int, IntRange(1, settings.max_steps)] = Field(
            1, description="Whole training steps."
        )

    @router.post("/{session_id}/forward", response_model=STATE, responses={**BUSY, **WRONG_ORDER})
    async def forward(
        session: SessionDep,
        store: StoreDep,
        body: Annotated[LayersRequest | None, Body(openapi_examples=LAYERS_EXAMPLES)] = None,
    ) -> Response:
        """Advance the forward pass by ``layers`` layers (``"all"``: to the output). After the
        loss, this first completes the current step and then starts the next one.
        Recurrent: by ``timesteps`` timesteps (default one); 409 once the step is past its
        forward pass (and not yet updated)."""
        # The body is read against the session's kind once it is held (and loaded).
        return await answer(store, session, lambda s: ops.forward(s, count(body, s)), **STAGED)

    @router.post("/{session_id}/loss", response_model=STATE, responses={**BUSY, **WRONG_ORDER})
    async def loss(session: SessionDep, store: StoreDep) -> Response:
        """Compute the batch loss (finishing the forward pass first if needed; recurrent:
        409 once the step's backward pass has begun)."""
        return await answer(store, session, ops.loss, **STAGED)

    @router.post("/{session_id}/backward", response_model=STATE, responses={**BUSY, **WRONG_ORDER})
    async def backward(
        session: SessionDep,
        store: StoreDep,
        body: Annotated[LayersRequest | None, Body(openapi_examples=LAYERS_EXAMPLES)] = None,
    ) -> Response:
        """Advance the backward pass by ``layers`` layers (``"all"``: down to layer 0). If the
        forward pass or the loss is unfinished, they are completed first (no 409): the answer
        then ends on ``stage: "backward"`` at the output layer (or lower). Recurrent: back
        through ``timesteps`` timesteps from t = T−1 (default one); 409 once the backward
        pass is complete (update comes next)."""
        return await answer(store, session, lambda s: ops.backward(s, count(body, s)), **STAGED)

    @router.post("/{session_id}/update", response_model=STATE, responses=BUSY)
    async def update(session: SessionDep, store: StoreDep) -> Response:
        """Apply the optimiser step (finishing forward, loss and backward first if needed)."""
        return await answer(store, session, ops.update, **STAGED)

    @router.post("/{session_id}/step", response_model=STATE)
    async def step(
        request: Request,
        session: SessionDep,
        store: StoreDep,
        body: Annotated[StepsRequest | None, Body(openapi_examples=STEPS_EXAMPLES)] = None,
    ) -> Response:
        """Run ``steps`` full training steps on the fast path. A step in progress is completed
        first and counts as one. Refused (422, naming the largest count that fits) when the
        steps would take longer than a request may (``max_request_seconds``, estimated from
        the network, the batch and the data before anything runs). Stops early if the client
        goes away."""
        steps = (body or StepsRequest()).steps
        budget = settings.max_request_seconds
        return await answer_job(
            store,
            session,
            lambda s, cancel: ops.train(s, steps, budget, cancel),
            cost=ops.steps_cost(steps),
            request=request,
        )

    return router
