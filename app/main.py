"""Application factory: ``create_app(settings)`` wires routes, static files and templates."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app import __version__
from app.schemas import Health
from app.security import SecurityHeadersMiddleware
from app.settings import Settings, get_settings

DESCRIPTION = """
Step a neural network's forward and backward passes a layer at a time, fetch every layer's
activations and gradients, and stream live training. All numbers come from a NumPy engine;
JSON never carries NaN or Infinity (non-finite values become `null` and `diverged` is set).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI application for the given settings (environment settings by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(
        title="Backprop Lab",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from a local Swagger UI copy: the page works offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    app.mount(
        "/docs-assets",
        StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
        name="docs-assets",
    )
    templates = Jinja2Templates(directory=settings.templates_dir)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"version": __version__})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "docs.html", {"version": __version__})

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness probe for containers and load balancers."""
        return Health(status="ok", version=__version__)

    return app
