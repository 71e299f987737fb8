"""``GET /api/catalog``: what the page builds its controls from."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app import operations as ops
from app.deps import SettingsDep, StoreDep
from app.schemas.catalog import CatalogModel
from app.schemas.wire import render
from app.settings import Settings

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/catalog", response_model=CatalogModel)
async def catalog(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    """Activations (with formulas and sampled curves), initialisers, losses (and which fit
    which task), optimisers with their default hyperparameters, datasets (task, classes,
    a small preview), input features, the server's limits and the default config."""
    cached: bytes | None = getattr(request.app.state, "catalog", None)
    if cached is None:  # the same for every request: rendered once per server
        model = await store.lanes.quick(ops.catalog, settings)
        cached = render(model)
        request.app.state.catalog = cached
    return Response(cached, media_type="application/json")


def build_router(settings: Settings) -> APIRouter:
    """The catalog route (it reads ``settings`` per request)."""
    return router
