"""Session lifecycle: create, read, patch, reset, delete, export/import, CSV data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from app import operations as ops
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import BodyTooLarge, InputError
from app.imports import ExportModel, RecurrentExportModel
from app.routers.common import (
    BUSY,
    INVALID,
    NOT_FOUND,
    NOT_JSON,
    QUOTA,
    TOO_LARGE,
    JsonRoute,
    answer,
)
from app.schemas.errors import MessageBody
from app.schemas.recurrent import AnyConfigModel, AnyPatchModel
from app.schemas.session import DatasetUploadModel, PatchedSessionModel, SessionModel
from app.schemas.start import StartModel
from app.sessions import Session, SessionStore
from app.settings import Settings

router = APIRouter(
    prefix="/api/sessions", tags=["sessions"], responses=INVALID, route_class=JsonRoute
)

CONFIG_EXAMPLES: dict[str, Any] = {
    "defaults": {"summary": "Teaching defaults (empty body)", "value": {}},
    "deep_sigmoid": {
        "summary": "Vanishing gradients: 6 sigmoid layers",
        "value": {
            "dataset": {"name": "spiral"},
            "layers": [{"units": 8, "activation": "sigmoid"}] * 6,
            "optimizer": {"name": "sgd"},
            "learning_rate": 0.1,
        },
    },
    "diverge": {
        "summary": "Divergence on purpose: learning rate 100",
        "value": {"optimizer": {"name": "sgd"}, "learning_rate": 100},
    },
}
PATCH_EXAMPLES: dict[str, Any] = {
    "learning_rate": {"summary": "Hyperparameter: no reset", "value": {"learning_rate": 0.1}},
    "optimizer": {
        "summary": "Switch optimiser (its state restarts, weights stay)",
        "value": {"optimizer": {"name": "momentum", "momentum": 0.8}},
    },
    "layers": {
        "summary": "Structural: rebuilds the network (reset: true)",
        "value": {"layers": [{"units": 4, "activation": "relu"}]},
    },
}


def client_of(request: Request) -> str:
    """Who is asking: the connection's address (behind a trusted proxy, the address it
    forwards: see ``forwarded_allow_ips``)."""
    return request.client.host if request.client is not None else "unknown"


CSV_EXAMPLE = "x1,x2,label\n0.5,1.2,1\n-2.0,0.3,0\n1.5,-1.0,1\n-0.7,-2.2,0\n"


@router.post(
    "",
    status_code=201,
    response_model=SessionModel,
    responses={**TOO_LARGE, **NOT_JSON, **QUOTA, **BUSY},
)
async def create_session(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    config: Annotated[AnyConfigModel | None, Body(openapi_examples=CONFIG_EXAMPLES)] = None,
) -> Response:
    """Create a session from a config; every field is optional (teaching defaults). A
    config with ``"model": "recurrent"`` creates a recurrent network (RNN, GRU or LSTM
    trained by backprop through time); without ``model`` (or ``"dense"``), a dense one.

    Refused before anything is built when the setup would need more memory than a session
    may hold (422), when this address holds too many sessions or creates them too fast (429),
    or when the server is full of sessions in recent use (503)."""
    session = await new_session(request, store, settings, config)
    return await answer(store, session, ops.session, status=201, cost=ops.session_cost)


async def new_session(
    request: Request, store: SessionStore, settings: Settings, config: AnyConfigModel | None
) -> Session:
    """Admit, build and store a session from a config (defaults for every field left out):
    the one way both creation routes make one."""
    limits = ops.engine_limits(settings)
    checked, needed = ops.creation(config, limits)
    client = client_of(request)
    await store.admit(client, needed)
    trainer = await store.lanes.quick(ops.build, checked, limits, estimate=ops.build_cost(checked))
    return await store.add(trainer, client)


@router.post(
    "/start",
    status_code=201,
    response_model=StartModel,
    responses={**TOO_LARGE, **NOT_JSON, **QUOTA, **BUSY},
)
async def start_session(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    config: Annotated[AnyConfigModel | None, Body(openapi_examples=CONFIG_EXAMPLES)] = None,
) -> Response:
    """Create a session, as ``POST /api/sessions``, and answer with everything a page draws
    first — its trace, history, boundary (output at 64², neurons at 24²; null for a
    recurrent session) and data — in one round trip instead of five. Refused as creation
    is."""
    session = await new_session(request, store, settings, config)
    cells, trace_values = settings.max_grid_cells, settings.max_trace_values
    return await answer(
        store,
        session,
        lambda s: ops.start(s, trace_values, cells),
        status=201,
        cost=ops.start_cost,
    )


@router.post(
    "/import",
    status_code=201,
    response_model=SessionModel,
    responses={
        413: {"model": MessageBody, "description": "Larger than max_import_bytes."},
        **NOT_JSON,
        **QUOTA,
        **BUSY,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/ExportModel"},
                            {"$ref": "#/components/schemas/RecurrentExportModel"},
                        ]
                    }
                }
            },
        }
    },
)
async def import_session(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Restore an export exactly: training on gives the same numbers as never exporting.
    Everything is checked (shapes against the config, ranges, finiteness) → 422 naming the
    field on any inconsistency."""
    client = client_of(request)
    await store.admit(client, 0)  # quotas and a slot first: the bytes are known once it is read
    body = await request.body()
    limits = ops.engine_limits(settings)
    async with store.imports:  # one at a time: a large export takes a while and much memory to read
        trainer = await store.lanes.heavy(
            "import", lambda cancel: ops.import_job(body, limits, store.limits.session_bytes)
        )
    await store.make_room(0, trainer.memory_bytes())
    session = await store.add(trainer, client)
    return await answer(store, session, ops.session, status=201, cost=ops.session_cost)


@router.get("/{session_id}", response_model=SessionModel, responses=NOT_FOUND)
async def get_session(session: SessionDep, store: StoreDep) -> Response:
    """The session's config and state."""
    return await answer(store, session, ops.session, cost=ops.session_cost)


@router.patch(
    "/{session_id}",
    response_model=PatchedSessionModel,
    responses={**NOT_FOUND, **TOO_LARGE},
)
async def patch_session(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    config: Annotated[AnyPatchModel, Body(openapi_examples=PATCH_EXAMPLES)],
) -> Response:
    """Change part of the config. Hyperparameters (learning_rate, optimizer, batch_size, l1,
    l2, grad_clip; recurrent sessions also truncate) apply in place; anything structural
    (dataset, features, layers, init, loss, seed; cell, hidden …) rebuilds the network at
    step 0 and answers ``reset: true``. The body is read as the session's kind of config
    (``model`` may be left out)."""
    limits = ops.engine_limits(settings)
    most = store.limits.session_bytes
    return await answer(
        store, session, lambda s: ops.patch(s, config, limits, most), cost=ops.rebuild_cost
    )


@router.delete("/{session_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
async def delete_session(session: SessionDep, store: StoreDep) -> Response:
    """End the session now (it would otherwise expire after the idle TTL)."""
    await store.delete(session)
    return Response(status_code=204)


@router.post(
    "/{session_id}/reset",
    response_model=SessionModel,
    responses={**NOT_FOUND, **TOO_LARGE, **NOT_JSON},
)
async def reset_session(session: SessionDep, store: StoreDep) -> Response:
    """Back to step 0 with the same config: same initial weights, history cleared."""
    return await answer(store, session, ops.reset)


@router.get(
    "/{session_id}/export",
    response_model=ExportModel | RecurrentExportModel,
    responses=NOT_FOUND,
)
async def export_session(session: SessionDep, store: StoreDep) -> Response:
    """Everything needed to continue exactly: config, parameters, optimiser state, generator
    state, step, history (and uploaded data). Floats are exact; non-finite values (after
    divergence) become null."""
    return await answer(store, session, ops.export, cost=ops.export_cost)


@router.post(
    "/{session_id}/dataset",
    response_model=DatasetUploadModel,
    responses={
        **NOT_FOUND,
        413: {"model": MessageBody, "description": "Larger than max_csv_bytes."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def upload_dataset(
    request: Request, session: SessionDep, store: StoreDep, settings: SettingsDep
) -> Response:
    """Train on your own data: a CSV with a header ``x1,x2,label`` (or ``x1,label`` for 1-D
    data; ``y`` for a regression target), sent as ``text/csv`` or as a multipart ``file``.
    The network is rebuilt on the new data (``reset: true``)."""
    text = await read_csv_body(request, settings.max_csv_bytes)
    limits = ops.engine_limits(settings)
    most = store.limits.session_bytes
    return await answer(
        store, session, lambda s: ops.upload_csv(s, text, limits, most), cost=ops.rebuild_cost
    )


def build_router(settings: Settings) -> APIRouter:
    """The session routes (no bound of theirs depends on ``settings``)."""
    return router


async def read_csv_body(request: Request, limit: int) -> str:
    """The CSV text from a text/csv (or any text) body or a multipart ``file`` field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    overhead = 64 * 1024 if content_type == "multipart/form-data" else 0
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + overhead:
            raise BodyTooLarge(limit, "CSV")
        chunks.append(chunk)
    body = b"".join(chunks)
    if content_type == "multipart/form-data":
        request._body = body  # the form parser reads the body we already have
        try:
            form = await request.form(max_files=1, max_fields=10, max_part_size=limit + 1)
        except Exception as exc:  # the multipart parser's own errors
            raise InputError.at(("body",), f"malformed multipart body: {exc}") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InputError.at(("body", "file"), "missing the CSV file field 'file'")
            body = await upload.read()
        finally:
            await form.close()
        if len(body) > limit:
            raise BodyTooLarge(limit, "CSV")
    elif content_type in ("application/json", "application/x-www-form-urlencoded"):
        raise InputError.at(("body",), "send the CSV as text/csv or as a multipart 'file' field")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError.at(("body",), f"CSV must be UTF-8 text ({exc.reason})") from None
