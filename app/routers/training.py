"""Stepping: forward/backward a layer at a time, the loss, the update, and whole steps.

Stages run in the order ``forward 0 … forward L−1, loss, backward L−1 … backward 0, update``
and every call moves forward in time to the *next* stage of its kind, finishing whatever lies
in between. So ``backward`` before the forward pass is complete finishes the forward pass and
the loss first (the answer's ``stage`` is then ``backward``); ``forward`` after the loss
completes the current step (backward and update) and starts the next one. Nothing is ever
refused with 409: a student clicking "backward" early sees the forward pass it needed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from app import operations as ops
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import check_int_range
from app.routers.common import ERROR_RESPONSES, locked_json
from app.schemas import LayersRequest, StateModel, StepsRequest
from app.sessions import Session

router = APIRouter(prefix="/api/sessions", tags=["training"], responses=ERROR_RESPONSES)

LAYERS_EXAMPLES: dict[str, Any] = {
    "one": {"summary": "One layer", "value": {"layers": 1}},
    "all": {"summary": "The rest of the pass", "value": {"layers": "all"}},
}
STEPS_EXAMPLES: dict[str, Any] = {
    "one": {"summary": "One step", "value": {"steps": 1}},
    "hundred": {"summary": "100 steps", "value": {"steps": 100}},
}


@router.post("/{session_id}/forward", response_model=StateModel)
async def forward(
    session: SessionDep,
    store: StoreDep,
    body: Annotated[LayersRequest | None, Body(openapi_examples=LAYERS_EXAMPLES)] = None,
) -> Response:
    """Advance the forward pass by ``layers`` layers (``"all"``: to the output). After the
    loss, this first completes the current step and then starts the next one."""
    request = body or LayersRequest()

    def work(s: Session) -> dict[str, Any]:
        s.trainer.forward(ops.layer_count(request.layers, s.trainer))
        return ops.state(s.trainer)

    return await locked_json(store, session, work)


@router.post("/{session_id}/loss", response_model=StateModel)
async def loss(session: SessionDep, store: StoreDep) -> Response:
    """Compute the batch loss (finishing the forward pass first if needed)."""

    def work(s: Session) -> dict[str, Any]:
        s.trainer.compute_loss()
        return ops.state(s.trainer)

    return await locked_json(store, session, work)


@router.post("/{session_id}/backward", response_model=StateModel)
async def backward(
    session: SessionDep,
    store: StoreDep,
    body: Annotated[LayersRequest | None, Body(openapi_examples=LAYERS_EXAMPLES)] = None,
) -> Response:
    """Advance the backward pass by ``layers`` layers (``"all"``: down to layer 0). If the
    forward pass or the loss is unfinished, they are completed first (no 409): the answer
    then ends on ``stage: "backward"`` at the output layer (or lower)."""
    request = body or LayersRequest()

    def work(s: Session) -> dict[str, Any]:
        s.trainer.backward(ops.layer_count(request.layers, s.trainer))
        return ops.state(s.trainer)

    return await locked_json(store, session, work)


@router.post("/{session_id}/update", response_model=StateModel)
async def update(session: SessionDep, store: StoreDep) -> Response:
    """Apply the optimiser step (finishing forward, loss and backward first if needed)."""

    def work(s: Session) -> dict[str, Any]:
        s.trainer.update()
        return ops.state(s.trainer)

    return await locked_json(store, session, work)


@router.post("/{session_id}/step", response_model=StateModel)
async def step(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    body: Annotated[StepsRequest | None, Body(openapi_examples=STEPS_EXAMPLES)] = None,
) -> Response:
    """Run ``steps`` full training steps on the fast path (1..max_steps). A step in progress
    is completed first and counts as one."""
    request = body or StepsRequest()
    check_int_range(request.steps, 1, settings.max_steps, ("body", "steps"))

    def work(s: Session) -> dict[str, Any]:
        s.trainer.train(request.steps)
        return ops.state(s.trainer)

    return await locked_json(store, session, work, heavy=request.steps > 1)
