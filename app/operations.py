"""Everything the routes and the stream do with a session, as plain functions.

They run in worker threads while the session's lock is held, return the response model of
their route, and raise :class:`InputError` for anything the client got wrong (engine errors
arrive as ``ConfigError`` and keep their field path). Routers call nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from app.errors import InputError, Loc, in_range_message
from app.imports import import_trainer
from app.schemas.boundary import BoundaryModel
from app.schemas.catalog import CatalogModel, LimitsModel
from app.schemas.data import DataModel
from app.schemas.diagnostics import ChainModel, GradcheckModel
from app.schemas.history import HistoryModel
from app.schemas.requests import ConfigModel
from app.schemas.rounding import FRAME_DIGITS
from app.schemas.session import DatasetUploadModel, PatchedSessionModel, SessionModel, StateModel
from app.schemas.stream import FrameModel, FrameReason
from app.schemas.trace import TraceModel
from app.schemas.update import UpdateRuleModel
from app.sessions import Session
from app.settings import Settings
from engine.boundary import feature_grids
from engine.config import (
    CSV_DATASET,
    Limits,
    NetworkConfig,
    merge_config,
    structural_fields_changed,
)
from engine.datasets import Dataset, load_csv
from engine.errors import ConfigError
from engine.trainer import Trainer

MAX_HISTORY_POINTS = 2000
Detail = Literal["summary", "full"]


def engine_limits(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_width=settings.max_width,
        max_samples=settings.max_samples,
        max_grid=settings.max_grid,
        max_steps=settings.max_steps,
        max_csv_rows=settings.max_csv_rows,
    )


# ----------------------------------------------------------------------------- sessions


def build_config(
    data: Mapping[str, Any], limits: Limits, loc: Loc = ("body",), dataset: Dataset | None = None
) -> NetworkConfig:
    """Config JSON → a validated ``NetworkConfig`` (422 naming the field on any problem)."""
    try:
        config = NetworkConfig.from_dict(data)
        config.validate(limits, dataset)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None
    return config


def new_trainer(
    config: NetworkConfig, limits: Limits, dataset: Dataset | None = None, loc: Loc = ("body",)
) -> Trainer:
    try:
        return Trainer(config, dataset, limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None


def default_config(limits: Limits) -> dict[str, Any]:
    """The engine's teaching defaults, shrunk to fit a server with tighter limits."""
    config = NetworkConfig().to_dict()
    config["dataset"]["n_samples"] = min(config["dataset"]["n_samples"], limits.max_samples)
    config["layers"] = [
        {**layer, "units": min(layer["units"], limits.max_width)}
        for layer in config["layers"][: limits.max_depth]
    ]
    return config


def create(patch: Mapping[str, Any], limits: Limits) -> Trainer:
    if patch.get("dataset", {}).get("name") == CSV_DATASET:
        raise InputError.at(
            ("body", "dataset", "name"),
            "csv data comes from POST /api/sessions/{id}/dataset; create the session with a "
            "built-in dataset first",
        )
    config = merge_config(default_config(limits), patch)
    return new_trainer(build_config(config, limits), limits)


def import_session(body: bytes, limits: Limits) -> Trainer:
    """A trainer restored from the bytes of an export (the engine checks all of it)."""
    return import_trainer(body, limits)


def session(s: Session) -> SessionModel:
    return SessionModel.from_engine(s.id, s.trainer.config, s.trainer.state())


def patch(s: Session, changes: Mapping[str, Any], limits: Limits) -> PatchedSessionModel:
    reset = apply_patch(s, changes, limits)
    return PatchedSessionModel.from_engine(s.id, s.trainer.config, s.trainer.state(), reset=reset)


def apply_patch(
    session: Session, patch: Mapping[str, Any], limits: Limits, loc: Loc = ("body",)
) -> bool:
    """Apply a partial config. Hyperparameters change in place; anything structural rebuilds
    the trainer (step 0). Returns True when it rebuilt."""
    trainer = session.trainer
    old = trainer.config
    merged = merge_config(old.to_dict(), patch)
    uses_csv = merged.get("dataset", {}).get("name") == CSV_DATASET
    if uses_csv and old.dataset.name != CSV_DATASET:
        raise InputError.at(
            (*loc, "dataset", "name"), "csv data comes from POST /api/sessions/{id}/dataset"
        )
    dataset = trainer.dataset if uses_csv else None
    config = build_config(merged, limits, loc, dataset)
    if structural_fields_changed(old, config):
        if uses_csv and session.csv_text is not None and _split_changed(old, config):
            dataset = parse_csv(session.csv_text, config, limits, loc)
        session.trainer = new_trainer(config, limits, dataset, loc)
        return True
    if config != old:
        try:
            trainer.set_hyperparameters(
                learning_rate=config.learning_rate,
                optimizer_name=config.optimizer.name,
                optimizer_params=dict(config.optimizer.params),
                batch_size=config.batch_size,
                l1=config.l1,
                l2=config.l2,
                grad_clip=config.grad_clip,
            )
        except ConfigError as exc:
            raise InputError.from_engine(exc, loc) from None
    return False


def _split_changed(old: NetworkConfig, new: NetworkConfig) -> bool:
    return (old.dataset.seed, old.dataset.train_fraction) != (
        new.dataset.seed,
        new.dataset.train_fraction,
    )


def parse_csv(text: str, config: NetworkConfig, limits: Limits, loc: Loc = ("body",)) -> Dataset:
    try:
        return load_csv(
            text,
            limits.max_csv_rows,
            seed=config.dataset.seed,
            train_fraction=config.dataset.train_fraction,
        )
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None


def upload_csv(s: Session, text: str, limits: Limits) -> DatasetUploadModel:
    """Rebuild the session on uploaded CSV data (``x1,x2,label`` rows)."""
    old = s.trainer.config
    dataset = parse_csv(text, old, limits)
    base = old.to_dict()
    base["dataset"]["name"] = CSV_DATASET
    rows = int(dataset.n_train + dataset.n_test)
    base["dataset"]["n_samples"] = min(rows, limits.max_samples)
    task_features = base["features"]
    if dataset.input_dim == 1:
        base["features"] = [f for f in task_features if f in ("x1", "x1_sq", "sin_x1")] or ["x1"]
    base["loss"] = None  # the data's task decides the default loss
    config = build_config(base, limits, ("body",), dataset)
    s.trainer = new_trainer(config, limits, dataset)
    s.csv_text = text
    return DatasetUploadModel.from_engine(
        s.id, s.trainer.config, s.trainer.state(), reset=True, rows=rows
    )


def reset(s: Session) -> SessionModel:
    s.trainer.reset()
    return session(s)


def export(s: Session) -> dict[str, Any]:
    """The engine's own export form (JSON-ready: NaN and ±Infinity already None)."""
    return s.trainer.export()


# ----------------------------------------------------------------------------- stepping


def state(trainer: Trainer) -> StateModel:
    return StateModel.from_engine(trainer.state())


def layer_count(value: int | Literal["all"], trainer: Trainer) -> int | None:
    """``"all"`` → None (the rest of the pass); a count must be 1..n_layers."""
    if value == "all":
        return None
    n = trainer.network.n_layers
    if not 1 <= value <= n:
        raise InputError.at(
            ("body", "layers"), f"must be an integer in 1..{n} or 'all', got {value}"
        )
    return value


def forward(s: Session, layers: int | Literal["all"]) -> StateModel:
    s.trainer.forward(layer_count(layers, s.trainer))
    return state(s.trainer)


def loss(s: Session) -> StateModel:
    s.trainer.compute_loss()
    return state(s.trainer)


def backward(s: Session, layers: int | Literal["all"]) -> StateModel:
    s.trainer.backward(layer_count(layers, s.trainer))
    return state(s.trainer)


def update(s: Session) -> StateModel:
    s.trainer.update()
    return state(s.trainer)


def train(s: Session, steps: int) -> StateModel:
    """``steps`` whole steps on the fast path (the route's bounds are the engine's)."""
    try:
        s.trainer.train(steps)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("body",)) from None
    return state(s.trainer)


# ----------------------------------------------------------------------------- reading


def diverged(trainer: Trainer) -> bool:
    return trainer.divergence is not None


def trace(s: Session, detail: Detail, sample: int, max_values: int) -> TraceModel:
    step_trace = s.trainer.trace(sample)
    batch = step_trace.batch_x.shape[0]
    if not 0 <= sample < batch:
        raise InputError.at(
            ("query", "sample"), in_range_message(0, batch - 1, sample) + " (batch row)"
        )
    return TraceModel.from_engine(step_trace, diverged(s.trainer), detail, max_values)


def history(s: Session, since: int) -> HistoryModel:
    return _history(s.trainer, since)


def _history(trainer: Trainer, since: int) -> HistoryModel:
    return HistoryModel.from_engine(trainer.history.since(since, MAX_HISTORY_POINTS), since)


def boundary(s: Session, grid: int, hidden_grid: int | None) -> BoundaryModel:
    return _boundary(s.trainer, grid, hidden_grid)


def _boundary(
    trainer: Trainer,
    grid: int,
    hidden_grid: int | None = None,
    inputs: bool = True,
    compact: bool = False,
) -> BoundaryModel:
    """The output at ``grid``, hidden neurons and input features at ``hidden_grid`` (default:
    ``grid``, at most ``grid``); ``compact`` (frames) rounds the hidden ranges."""
    small = grid if hidden_grid is None else hidden_grid
    if not 2 <= small <= grid:
        raise InputError.at(("query", "hidden_grid"), in_range_message(2, grid, small))
    try:
        output = trainer.boundary(grid)
        hidden = None if small == grid else trainer.boundary(small)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    features = None
    if inputs:
        with np.errstate(all="ignore"):
            features = feature_grids(trainer.dataset, trainer.config.features, small)
    digits = FRAME_DIGITS if compact else None
    return BoundaryModel.from_engine(output, diverged(trainer), hidden, features, digits)


def chain(s: Session, layer: int, i: int, j: int, sample: int) -> ChainModel:
    try:
        result = s.trainer.chain(layer, i, j, sample)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    return ChainModel.from_engine(result, diverged(s.trainer))


def gradcheck(s: Session) -> GradcheckModel:
    return GradcheckModel.from_engine(s.trainer.gradient_check(), diverged(s.trainer))


def data(s: Session) -> DataModel:
    return DataModel.from_engine(s.trainer.dataset)


def catalog(settings: Settings) -> CatalogModel:
    limits = LimitsModel(
        max_depth=settings.max_depth,
        max_width=settings.max_width,
        max_samples=settings.max_samples,
        max_grid=settings.max_grid,
        max_steps=settings.max_steps,
        max_csv_bytes=settings.max_csv_bytes,
        max_csv_rows=settings.max_csv_rows,
        max_request_bytes=settings.max_request_bytes,
        max_import_bytes=settings.max_import_bytes,
        max_steps_per_frame=settings.max_steps_per_frame,
        max_history_points=MAX_HISTORY_POINTS,
    )
    defaults = ConfigModel.model_validate(default_config(engine_limits(settings)))
    return CatalogModel.from_engine(limits, defaults)


# ----------------------------------------------------------------------------- the stream


def run_steps(trainer: Trainer, steps: int) -> None:
    """Train ``steps`` steps (already checked against the stream's bound)."""
    trainer.train(steps)


def restart(trainer: Trainer) -> None:
    """Back to step 0 with the same weights."""
    trainer.reset()


def frame(
    trainer: Trainer,
    since: int,
    reason: FrameReason,
    playing: bool,
    reset: bool,
    grid: int | None,
    hidden_grid: int,
    max_values: int,
    inputs: bool = True,
) -> FrameModel:
    """One stream frame: state, history since ``since``, compact trace summary (arrays to 4
    significant digits, no dW_update), and, if ``grid``, a boundary (hidden neurons at
    ``hidden_grid``; the input-feature grids only if ``inputs``)."""
    step_trace = trainer.trace(0)
    return FrameModel(
        type="frame",
        reason=reason,
        playing=playing,
        reset=reset,
        state=state(trainer),
        history=_history(trainer, since),
        trace=TraceModel.from_engine(
            step_trace, diverged(trainer), "summary", max_values, compact=True
        ),
        boundary=None
        if grid is None
        else _boundary(trainer, grid, min(hidden_grid, grid), inputs, compact=True),
    )


def update_rule(s: Session, layer: int, i: int, j: int) -> UpdateRuleModel:
    """How weight W[layer][i, j] changed at this step's update (null before it ran)."""
    trainer = s.trainer
    try:
        update = trainer.update_rule(layer, i, j)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    return UpdateRuleModel.from_engine(
        update, (layer, i, j), trainer.step, trainer.stage.kind, diverged(trainer)
    )
