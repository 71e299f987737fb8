"""Engine work behind the routes and the stream. Plain functions, run in worker threads while
the session's lock is held; they raise :class:`InputError` for anything the client got wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from app import schemas
from app.errors import InputError, Loc, in_range_message
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
from engine.datasets import load_csv
from engine.trainer import Trainer

MAX_HISTORY_POINTS = 2000


def engine_limits(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_width=settings.max_width,
        max_samples=settings.max_samples,
        max_grid=settings.max_grid,
        max_steps=settings.max_steps,
        max_csv_rows=settings.max_csv_rows,
    )


def build_config(
    data: Mapping[str, Any], limits: Limits, loc: Loc = ("body",), dataset: Any = None
) -> NetworkConfig:
    """Config JSON → a validated ``NetworkConfig`` (422 naming the field on any problem)."""
    try:
        config = NetworkConfig.from_dict(data)
        config.validate(limits, dataset)
    except (ValueError, TypeError) as exc:
        raise InputError.from_engine(exc, loc) from None
    return config


def new_trainer(
    config: NetworkConfig, limits: Limits, dataset: Any = None, loc: Loc = ("body",)
) -> Trainer:
    try:
        return Trainer(config, dataset, limits)
    except (ValueError, TypeError) as exc:
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
        except (ValueError, TypeError) as exc:
            raise InputError.from_engine(exc, loc) from None
    return False


def _split_changed(old: NetworkConfig, new: NetworkConfig) -> bool:
    return (old.dataset.seed, old.dataset.train_fraction) != (
        new.dataset.seed,
        new.dataset.train_fraction,
    )


def parse_csv(text: str, config: NetworkConfig, limits: Limits, loc: Loc = ("body",)) -> Any:
    try:
        return load_csv(
            text,
            limits.max_csv_rows,
            seed=config.dataset.seed,
            train_fraction=config.dataset.train_fraction,
        )
    except ValueError as exc:
        raise InputError.at(loc, str(exc), "csv_error") from None


def use_csv(session: Session, text: str, limits: Limits) -> int:
    """Rebuild the session on uploaded CSV data; returns the number of data rows."""
    old = session.trainer.config
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
    session.trainer = new_trainer(config, limits, dataset)
    session.csv_text = text
    return rows


def state(trainer: Trainer) -> dict[str, Any]:
    return schemas.state_json(trainer.state())


def session_json(session: Session, **extra: Any) -> dict[str, Any]:
    trainer = session.trainer
    return {
        "id": session.id,
        "config": trainer.config.to_dict(),
        "state": state(trainer),
        **extra,
    }


def layer_count(value: int | Literal["all"], trainer: Trainer) -> int | None:
    """``"all"`` → None (the rest of the pass); a count must be 1..n_layers."""
    if value == "all":
        return None
    n = trainer.network.n_layers
    if not 1 <= value <= n:
        raise InputError.at(("body", "layers"), in_range_message(1, n, value) + " or 'all'")
    return value


def diverged(trainer: Trainer) -> bool:
    return trainer.divergence is not None


def trace(
    trainer: Trainer, detail: Literal["summary", "full"], sample: int, max_values: int
) -> dict[str, Any]:
    step_trace = trainer.trace(0)
    batch = step_trace.batch_x.shape[0]
    if not 0 <= sample < batch:
        raise InputError.at(
            ("query", "sample"), in_range_message(0, batch - 1, sample) + " (batch row)"
        )
    if sample:
        step_trace = trainer.trace(sample)
    return schemas.trace_json(step_trace, diverged(trainer), detail, max_values)


def history(trainer: Trainer, since: int) -> dict[str, Any]:
    return schemas.history_json(trainer.history.since(since, MAX_HISTORY_POINTS), since)


def boundary(
    trainer: Trainer,
    grid: int,
    hidden_grid: int | None = None,
    inputs: bool = True,
    compact: bool = False,
) -> dict[str, Any]:
    """Boundary JSON: the output at ``grid``, hidden neurons and input features at
    ``hidden_grid`` (default: ``grid``); ``compact`` (frames) rounds the hidden ranges."""
    small = grid if hidden_grid is None else hidden_grid
    output = trainer.boundary(grid)
    hidden = None if small == grid else trainer.boundary(small)
    with np.errstate(all="ignore"):
        features = (
            feature_grids(trainer.dataset, trainer.config.features, small) if inputs else None
        )
    return schemas.boundary_json(
        output,
        trainer.dataset.task,
        diverged(trainer),
        hidden,
        schemas.FRAME_DIGITS if compact else None,
        features,
    )


def frame(
    trainer: Trainer,
    since: int,
    reason: str,
    playing: bool,
    reset: bool,
    grid: int | None,
    hidden_grid: int,
    max_values: int,
    inputs: bool = True,
) -> dict[str, Any]:
    """One stream frame: state, history since ``since``, compact trace summary (arrays to 4
    significant digits, no dW_update), and, if ``grid``, a boundary (hidden neurons at
    ``hidden_grid``; the input-feature grids only if ``inputs``)."""
    return {
        "type": "frame",
        "reason": reason,
        "playing": playing,
        "reset": reset,
        "state": state(trainer),
        "history": history(trainer, since),
        "trace": schemas.trace_json(
            trainer.trace(0), diverged(trainer), "summary", max_values, compact=True
        ),
        "boundary": None
        if grid is None
        else boundary(trainer, grid, min(hidden_grid, grid), inputs, compact=True),
    }
