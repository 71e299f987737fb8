"""Server settings, read from environment variables prefixed ``BACKPROP_LAB_``.

Every limit that protects the server from a request that could exhaust memory or CPU lives
here, so a classroom host can tighten or loosen it without touching code.
"""

from functools import lru_cache
from typing import Literal

from pydantic import DirectoryPath, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.resources import page_dir


class Settings(BaseSettings):
    """Configuration of one server process; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="BACKPROP_LAB_", frozen=True)

    host: str = Field("127.0.0.1", description="Interface the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the server listens on.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    static_dir: DirectoryPath = Field(
        default_factory=lambda: page_dir("static"), description="Folder served at /static."
    )
    templates_dir: DirectoryPath = Field(
        default_factory=lambda: page_dir("templates"), description="Jinja2 page templates."
    )

    # Session store.
    session_ttl_seconds: float = Field(1800.0, gt=0, description="Idle time before a session ends.")
    max_sessions: int = Field(500, ge=1, le=100_000, description="Sessions held at once.")

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
        16_000_000, ge=1024, description="Size of an imported session export."
    )
    max_trace_values: int = Field(
        2_000_000,
        ge=10_000,
        description="Numbers in one full trace; past it, per-sample arrays keep fewer rows.",
    )

    # Engine threads (CPU-bound work under one interpreter lock: few threads serve best).
    engine_threads: int = Field(
        1, ge=1, le=64, description="Threads for quick engine work (one step, reads)."
    )
    heavy_engine_threads: int = Field(
        2, ge=1, le=64, description="Threads for long engine work (many steps, rebuilds)."
    )

    switch_interval_ms: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Interpreter thread switch interval; shorter keeps quick requests quick "
        "while long ones compute.",
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


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
