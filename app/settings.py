"""Server settings, read from environment variables prefixed ``BACKPROP_LAB_``.

Every limit that protects the server from a request that could exhaust memory or CPU lives
here, so a classroom host can tighten or loosen it without touching code.
"""

import os
from functools import lru_cache
from typing import Literal, get_args, get_origin

from pydantic import DirectoryPath, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.resources import page_dir
from app.store import STORE_FORMS, store_kind

ENV_PREFIX = "BACKPROP_LAB_"
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    """Configuration of one server process; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    host: str = Field("127.0.0.1", description="Interface the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the server listens on.")
    log_level: LogLevel = Field("info", description="Least severe server log message shown.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto headers are trusted: comma-separated "
        "addresses or networks, or * for any.",
    )
    static_dir: DirectoryPath = Field(
        default_factory=lambda: page_dir("static"), description="Folder served at /static."
    )
    templates_dir: DirectoryPath = Field(
        default_factory=lambda: page_dir("templates"), description="Jinja2 page templates."
    )
    lessons_dir: DirectoryPath | None = Field(
        None,
        description="An extra folder of lesson files (*.toml) that join the shipped lessons; "
        "a broken one stops the server from starting, naming the file and the field.",
    )

    # Session store.
    store: str = Field(
        default_factory=lambda: default_store(),
        description="Where sessions live: memory (this process only), sqlite:///PATH (a "
        "file; the default, shared by the workers of one host) or redis://HOST:PORT/DB "
        "(shared by replicas on several hosts).",
        json_schema_extra={"accepts": STORE_FORMS},
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes on this host (uvicorn workers); more than one needs "
        "a shared store (sqlite:/// or redis://).",
    )
    store_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="The longest one Redis command may take; past it the request gets a 503.",
    )
    store_lease_seconds: float = Field(
        10.0,
        ge=1,
        le=600,
        description="How long a process's hold on a session lasts unless renewed: a crashed "
        "process's sessions are free again after this.",
    )
    store_keep_seconds: float = Field(
        3.0,
        ge=0,
        le=300,
        description="How long a process keeps a session after a request (at most half the "
        "lease), so that the student's next request to it skips taking the session from the "
        "store; another process that asks gets it once the holder notices, within 0.05 s. "
        "0: let go at once.",
    )
    store_wait_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="The longest a request waits for a session another process holds; then 503.",
    )
    checkpoint_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="A playing stream saves its session at least this often (shared stores).",
    )
    session_ttl_seconds: float = Field(1800.0, gt=0, description="Idle time before a session ends.")
    max_sessions: int = Field(500, ge=1, le=100_000, description="Sessions held at once.")
    memory_budget_mb: int = Field(
        default_factory=lambda: default_memory_budget_mb(),
        ge=64,
        description="Memory all sessions together may hold (default: half of this host's RAM).",
    )
    max_session_mb: int = Field(
        256, ge=8, description="Memory one session may hold (its data, network and a step)."
    )
    protect_active_seconds: float = Field(
        300.0,
        ge=0,
        description="A session used this recently is never evicted to make room for another.",
    )
    max_sessions_per_client: int = Field(
        30, ge=1, description="Sessions one client address may hold at once."
    )
    create_rate_per_minute: float = Field(
        60.0, gt=0, description="Sessions one client address may create per minute."
    )
    create_burst: int = Field(
        30, ge=1, description="Sessions one client address may create in a burst."
    )
    allowed_origins: str = Field(
        "",
        description="Other web origins (comma-separated, e.g. https://lab.example.org) whose "
        "pages may open live streams; the server's own origin always may.",
    )

    # Bounds on what one request may ask for.
    max_depth: int = Field(16, ge=0, le=64, description="Hidden layers per network.")
    max_width: int = Field(64, ge=1, le=1024, description="Neurons per hidden layer.")
    max_samples: int = Field(5000, ge=10, le=1_000_000, description="Points per dataset.")
    max_grid: int = Field(128, ge=8, le=1024, description="Boundary grid side G (G×G).")
    max_steps: int = Field(10_000, ge=1, le=10_000_000, description="Training steps per request.")
    max_csv_bytes: int = Field(1_000_000, ge=1024, description="Size of an uploaded CSV.")
    max_csv_rows: int = Field(5000, ge=10, description="Rows of an uploaded CSV.")
    max_request_bytes: int = Field(
        2_000_000, ge=1024, description="Size of any request body (imports included)."
    )
    max_import_bytes: int = Field(
        0,
        ge=0,
        description="Size of an imported session export; 0 = the largest export the other "
        "limits allow (about 20 MB with the defaults).",
    )
    max_trace_values: int = Field(
        250_000,
        ge=10_000,
        description="Numbers in one full trace; past it, per-sample arrays keep fewer rows.",
    )
    max_grid_cells: int = Field(
        2_000_000,
        ge=10_000,
        description="Hidden-neuron grid cells in one boundary (neurons × hidden_grid²); past "
        "it, a smaller hidden_grid is asked for (422 naming the largest).",
    )

    # Compute budget and lanes (CPU-bound work under one interpreter lock: few threads).
    max_request_seconds: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Estimated CPU seconds one request may take; more is refused (422 naming "
        "the largest allowed value).",
    )
    max_frame_seconds: float = Field(
        0.25, gt=0, le=60, description="Estimated CPU seconds of one stream frame's training."
    )
    quick_seconds: float = Field(
        0.02,
        gt=0,
        le=10,
        description="Work estimated below this runs on the quick lane, never behind long work.",
    )
    inline_seconds: float = Field(
        0.001,
        ge=0,
        le=0.01,
        description="Work estimated below this runs on the event loop itself (handing it to "
        "the quick lane's thread and back costs more than the work); 0 sends it all there.",
    )
    engine_threads: int = Field(
        1, ge=1, le=64, description="Threads of the quick lane (one step, reads)."
    )
    heavy_engine_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Threads of the heavy lane, shared in turns by sessions (one leaves a "
        "core for the quick lane on a 2-core server).",
    )

    switch_interval_ms: float = Field(
        5.0,
        gt=0,
        le=100,
        description="Interpreter thread switch interval. Measured on 2 cores under attack "
        "(benchmarks/abuse_bench.py): 5 ms keeps quick requests quickest; 1 ms makes threads "
        "hand the interpreter lock back and forth so often that every request waits.",
    )

    # Live stream.
    max_steps_per_frame: int = Field(500, ge=1, le=100_000, description="Steps per stream frame.")
    stream_boundary_grid: int = Field(32, ge=2, le=128, description="Output grid in frames.")
    stream_hidden_grid: int = Field(10, ge=2, le=128, description="Hidden-neuron grid in frames.")
    stream_boundary_every: int = Field(
        5, ge=1, le=1000, description="A stream frame carries the boundary every N frames."
    )
    ws_compression: bool = Field(
        False,
        description="Per-message deflate on WebSockets: frames ~3× smaller for ~0.4 ms of "
        "server CPU each; worth it on a slow network, not on a busy 2-core server.",
    )
    busy_retry_after_seconds: int = Field(
        5, ge=1, le=3600, description="Retry-After of a 503 when every session slot is busy."
    )

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        store_kind(value)  # ValueError naming the forms it accepts
        return value


def default_store() -> str:
    """A SQLite file in this user's data folder (``$XDG_DATA_HOME``, by default
    ``~/.local/share``); the Docker image sets ``sqlite:////data/sessions.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return "sqlite:///" + os.path.join(base, "backprop-lab", "sessions.db")


def import_limit(settings: Settings) -> int:
    """Bytes an import may have: the setting, or (when 0) the size of the largest export a
    session within these limits can write — every parameter array, a full history and the
    largest uploaded data, at about 24 characters a number — plus a margin."""
    if settings.max_import_bytes:
        return settings.max_import_bytes
    width, depth = settings.max_width, settings.max_depth
    features, classes = 7, 10  # the most input features and output classes a network has
    params = features * width + max(depth - 1, 0) * width * width + depth * width
    params += width * classes + classes
    history = 10_000 * (7 + 3 * (depth + 1))  # rows × (step, flags, losses, per-layer columns)
    rows = max(settings.max_samples, settings.max_csv_rows)
    numbers = 5 * params + history + 4 * rows  # θ, θ before, Δθ, two optimiser arrays
    return int(numbers * 24 * 1.25) + 64 * 1024


def default_memory_budget_mb() -> int:
    """Half of this host's physical memory, in MB (2 GB where the host does not say)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2048
    return max(64, total // 2 // 2**20)


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.upper()}"


def allowed_values(field: str) -> str:
    """What ``field`` accepts, in words, from its own type and bounds (for error messages)."""
    info = Settings.model_fields[field]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "accepts" in extra:
        return str(extra["accepts"])
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if annotation is bool:
        return "true or false"
    kinds: dict[object, str] = {int: "an integer", float: "a number", str: "text"}
    kind = kinds.get(annotation, "an existing folder")
    # pydantic keeps ge=/le=/gt=/lt= as annotated-types rules, each with one attribute.
    bounds = {
        name: getattr(rule, name)
        for rule in info.metadata
        for name in ("gt", "ge", "lt", "le")
        if hasattr(rule, name)
    }
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {bounds['ge']} to {bounds['le']}"
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    limits = " and ".join(f"{symbols[name]} {value}" for name, value in bounds.items())
    return f"{kind} {limits}" if limits else kind


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
