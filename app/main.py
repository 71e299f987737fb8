"""Application factory: ``create_app(settings)`` wires routes, static files and templates."""

import gc
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app import __version__
from app import operations as ops
from app.bodylimit import BodySizeLimitMiddleware
from app.crossorigin import RequireJsonMiddleware
from app.errors import install_handlers
from app.lanes import Lanes
from app.methods import MethodsMiddleware
from app.routers import catalog, inspect, lessons, sessions, stream, training
from app.schemas.health import Health
from app.schemas.wire import render
from app.security import SecurityHeadersMiddleware
from app.sessions import MB, Clock, SessionStore, StoreLimits
from app.settings import Settings, env_name, get_settings, import_limit
from app.store import StoreStartupError, check_store, open_backend
from app.transport import StreamBufferLimitMiddleware

DESCRIPTION = """
Step a neural network's forward and backward passes a layer at a time, fetch every layer's
activations and gradients, and stream live training. All numbers come from a NumPy engine;
JSON never carries NaN or Infinity (non-finite values become `null` and `diverged` is set).
"""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the ASGI application for the given settings (environment settings by default).

    ``clock`` (seconds, monotonic) drives session expiry; tests pass a fake one.
    """
    if settings is None:  # the server's own start (uvicorn calls this factory)
        settings = get_settings()
        stop_unless_store_usable(settings)
    chosen = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = SessionStore(
            store_limits(chosen),
            Lanes(
                chosen.engine_threads,
                chosen.heavy_engine_threads,
                chosen.quick_seconds,
                chosen.inline_seconds,
            ),
            backend=open_backend(
                chosen.store,
                ttl_seconds=chosen.session_ttl_seconds,
                timeout=chosen.store_timeout_seconds,
            ),
            engine_limits=ops.engine_limits(chosen),
            # A shared store compares last-use times across processes and restarts: wall time.
            clock=clock or (time.monotonic if chosen.store == "memory" else time.time),
        )
        app.state.store = store
        await store.start()
        tune_runtime(chosen)
        try:
            yield
        finally:
            await store.stop()

    app = FastAPI(
        title="Backprop Lab",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from a local Swagger UI copy: the page works offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimitMiddleware, limit_for=_body_limits(settings))
    app.add_middleware(RequireJsonMiddleware)  # no cross-origin "simple" POSTs
    app.add_middleware(MethodsMiddleware)  # HEAD, OPTIONS and 405s on the API
    app.add_middleware(SecurityHeadersMiddleware)  # every response carries it
    app.add_middleware(StreamBufferLimitMiddleware)  # outermost: sees the server's own send
    install_handlers(app)
    for module in (catalog, sessions, training, inspect, stream):
        app.include_router(module.build_router(settings))
    # Read and checked now: a broken lesson file stops the server before it starts, with a
    # LessonError naming the file and the field (and fails the tests, not the classroom).
    app.state.lessons = ops.load_lessons(settings)
    app.include_router(lessons.build_router(settings, app.state.lessons))
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    app.mount(
        "/docs-assets",
        StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
        name="docs-assets",
    )
    templates = Jinja2Templates(directory=settings.templates_dir)

    # HEAD too: uptime monitors and link checkers probe with it.
    @app.api_route(
        "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def page(request: Request) -> HTMLResponse:
        context = {"version": __version__, "catalog_json": catalog_block(request.app, settings)}
        return templates.TemplateResponse(request, "index.html", context)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "docs.html", {"version": __version__})

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness probe for containers and load balancers."""
        return Health(status="ok", version=__version__)

    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @app.api_route("/favicon.ico", methods=["GET", "HEAD"], include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico by themselves; the page's SVG icon answers."""
        icon = settings.static_dir / "favicon.svg"
        if not icon.is_file():  # a replacement static folder without an icon
            raise HTTPException(404, "no favicon.svg in the static folder")
        return FileResponse(icon, media_type="image/svg+xml")

    return app


def catalog_block(app: FastAPI, settings: Settings) -> Markup:
    """The catalog (as ``GET /api/catalog`` answers it) for the page's JSON data block, so
    the page needs no round trip for it. ``<``, ``>`` and ``&`` are written as JSON ``\\u``
    escapes: no text in the catalog can end the block, and it parses to the same JSON."""
    block: Markup | None = getattr(app.state, "catalog_block", None)
    if block is None:  # the same for every page: made once per server
        cached: bytes | None = getattr(app.state, "catalog", None)
        if cached is None:
            cached = render(ops.catalog(settings))
            app.state.catalog = cached
        text = cached.decode()
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(char, escape)
        block = app.state.catalog_block = Markup(text)  # escaped above: safe in the block
    return block


def stop_unless_store_usable(settings: Settings) -> None:
    """A SQLite store the server cannot write (a read-only folder, a full disk) stops it
    before it starts, in one line naming the file and the cause (exit code 2). An
    unreachable Redis does not: requests get a 503 until it answers."""
    try:
        check_store(settings.store)
    except StoreStartupError as exc:
        print(f"backprop-lab serve: error: {env_name('store')}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def store_limits(settings: Settings) -> StoreLimits:
    return StoreLimits(
        ttl_seconds=settings.session_ttl_seconds,
        max_sessions=settings.max_sessions,
        memory_bytes=settings.memory_budget_mb * MB,
        session_bytes=settings.max_session_mb * MB,
        protect_seconds=settings.protect_active_seconds,
        max_per_client=settings.max_sessions_per_client,
        create_per_minute=settings.create_rate_per_minute,
        create_burst=settings.create_burst,
        lease_seconds=settings.store_lease_seconds,
        keep_seconds=settings.store_keep_seconds,
        lock_wait_seconds=settings.store_wait_seconds,
        checkpoint_seconds=settings.checkpoint_seconds,
    )


def tune_runtime(settings: Settings) -> None:
    """Interpreter settings for a server whose engine work is CPU-bound in threads.

    A shorter thread switch interval lets a waiting thread (a quick request, or the event
    loop) take the interpreter lock back sooner from a long computation: one-step requests
    keep a short tail latency while streams train. Freezing the objects that exist after
    start-up (modules, the app) keeps them out of every later garbage collection, which
    would otherwise pause all requests for tens of milliseconds now and then.
    """
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    gc.collect()
    gc.freeze()


def _body_limits(settings: Settings) -> Callable[[str], int]:
    """Byte limit per request path: imports and CSV uploads have their own."""

    def limit_for(path: str) -> int:
        if path == "/api/sessions/import":
            return import_limit(settings)
        if path.startswith("/api/sessions/") and path.endswith("/dataset"):
            return settings.max_csv_bytes + 64 * 1024  # multipart framing on top of the file
        return settings.max_request_bytes

    return limit_for
