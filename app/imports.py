"""Session import: the export's request shape (for ``/docs``) and the import itself.

An import is untrusted input; the engine checks all of it (shapes against the config, indices
against the data, ranges, finiteness) and names the first bad field, so a bad file answers 422
now, never a 500 on a later step. ``null`` stands for a non-finite number, which only a
diverged export may hold in its parameters.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field

from app.errors import InputError
from app.schemas.requests import ConfigModel, StrictModel
from app.schemas.session import Stage
from engine.config import Limits
from engine.errors import ConfigError
from engine.trainer import Trainer

Num = float | None


class StageExport(StrictModel):
    kind: Stage
    layer: int | None = None


class DivergenceExport(StrictModel):
    step: int
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None = None


class DatasetExport(StrictModel):
    """Uploaded (CSV) data travels inside the export; built-in data is regenerated."""

    name: str
    task: Literal["binary", "multiclass", "regression"]
    n_classes: int
    input_dim: int
    x_train: list[list[float]]
    y_train: list[float]
    x_test: list[list[float]]
    y_test: list[float]
    domain: list[float]
    classes: list[float] = Field(default_factory=list)


class HistoryExport(StrictModel):
    n_layers: int
    step: list[int]
    train_loss: list[Num]
    test_loss: list[Num]
    train_accuracy: list[Num]
    test_accuracy: list[Num]
    grad_norm: list[list[Num]]
    mean_abs_dz: list[list[Num]]
    update_ratio: list[list[Num]]


class ExportModel(StrictModel):
    """A whole session, as ``GET /api/sessions/{id}/export`` gives it."""

    format: Literal["backprop-lab/trainer"] = Field(description="Always this value.")
    version: Literal[1]
    config: ConfigModel
    dataset: DatasetExport | None = Field(description="Uploaded data, or null (built-in).")
    weights: list[list[list[Num]]] = Field(description="Per layer (fan_in, fan_out).")
    biases: list[list[Num]]
    optimizer_state: dict[str, list[Num] | int] = Field(description="Flat (P,) arrays, t.")
    rng: dict[str, Any] = Field(description="Minibatch generator state (integers as strings).")
    permutation: list[int] | None
    cursor: int
    epoch: int
    step: int
    stage: StageExport
    batch_indices: list[int] | None
    theta_before_update: list[Num]
    last_delta: list[Num] | None
    last_update_ratio: list[Num] | None
    history: HistoryExport
    divergence: DivergenceExport | None


def import_trainer(body: bytes, limits: Limits) -> Trainer:
    """A trainer restored from the bytes of an export (422 naming the field on any problem).

    Parsed here, in a worker thread, rather than by the framework on the event loop: a large
    export takes a while to read, and nobody else should wait for it. Every check is the
    engine's own (:meth:`engine.export.TrainerExport.from_dict`).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError.at(("body",), f"not valid JSON: {exc}", "json_invalid") from None
    try:
        return Trainer.from_export(data, limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("body",)) from None
