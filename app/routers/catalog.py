"""``GET /api/catalog``: what the page builds its controls from."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.deps import SettingsDep, StoreDep
from app.operations import MAX_HISTORY_POINTS, default_config, engine_limits
from app.schemas import CatalogModel, catalog_json, json_bytes

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/catalog", response_model=CatalogModel)
async def catalog(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    """Activations (with formulas and sampled curves), initialisers, losses (and which fit
    which task), optimisers with their default hyperparameters, datasets (task, classes,
    a small preview), input features, the server's limits and the default config."""
    cached = getattr(request.app.state, "catalog", None)
    if cached is None:
        limits = {
            "max_depth": settings.max_depth,
            "max_width": settings.max_width,
            "max_samples": settings.max_samples,
            "max_grid": settings.max_grid,
            "max_steps": settings.max_steps,
            "max_csv_bytes": settings.max_csv_bytes,
            "max_csv_rows": settings.max_csv_rows,
            "max_request_bytes": settings.max_request_bytes,
            "max_import_bytes": settings.max_import_bytes,
            "max_steps_per_frame": settings.max_steps_per_frame,
            "max_history_points": MAX_HISTORY_POINTS,
        }
        defaults = default_config(engine_limits(settings))
        content = await store.workers.run(catalog_json, limits, defaults, heavy=True)
        cached = json_bytes(content)
        request.app.state.catalog = cached
    return Response(cached, media_type="application/json")
