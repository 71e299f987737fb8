"""Session import: the export's shape (pydantic) and every consistency check the engine needs.

An import is untrusted input. Everything is checked before the engine sees it — shapes against
the config, indices against the data, ranges, finiteness — so a bad file answers 422 naming the
field, never a 500 now or on a later step. ``null`` stands for a non-finite number, which only
a diverged export may hold in its parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from app.errors import InputError, Loc
from app.operations import build_config
from app.schemas import ConfigModel, Stage, StrictModel
from engine.config import CSV_DATASET, Limits
from engine.datasets import DATASETS, Dataset
from engine.losses import output_head
from engine.trainer import EXPORT_FORMAT, EXPORT_VERSION, Trainer

Num = float | None
MAX_COUNT = 10**12  # steps and epochs: far beyond any real run, small enough for every reader


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


def _fail(loc: Loc, msg: str) -> InputError:
    return InputError.at(("body", *loc), msg)


def _check_count(value: int, loc: Loc) -> None:
    if not 0 <= value <= MAX_COUNT:
        raise _fail(loc, f"must be an integer in 0..{MAX_COUNT}, got {value}")


def _check_length(values: Sequence[Any] | None, n: int, loc: Loc) -> None:
    if values is not None and len(values) != n:
        raise _fail(loc, f"must hold {n} values, got {len(values)}")


def _check_finite(values: Any, allow_null: bool, loc: Loc) -> None:
    """Parameters must be numbers; ``null`` (non-finite) only in a diverged export."""
    if allow_null:
        return
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise _fail(loc, "null (a non-finite number) is allowed only when 'divergence' is set")


def _check_dataset(d: DatasetExport, limits: Limits) -> None:
    loc: tuple[str, ...] = ("dataset",)
    if d.input_dim not in (1, 2):
        raise _fail((*loc, "input_dim"), f"must be 1 or 2, got {d.input_dim}")
    n_train, n_test = len(d.x_train), len(d.x_test)
    if n_train < 1 or n_test < 1:
        raise _fail(loc, "needs at least one training and one test row")
    cap = max(limits.max_csv_rows, limits.max_samples)
    if n_train + n_test > cap:
        raise _fail(loc, f"holds {n_train + n_test} rows; the limit is {cap}")
    for part, xs, ys in (("train", d.x_train, d.y_train), ("test", d.x_test, d.y_test)):
        if any(len(row) != d.input_dim for row in xs):
            raise _fail((*loc, f"x_{part}"), f"every row must hold input_dim = {d.input_dim}")
        _check_length(ys, len(xs), (*loc, f"y_{part}"))
    labels = np.asarray(d.y_train + d.y_test)
    if d.task == "regression":
        if d.n_classes != 1:
            raise _fail((*loc, "n_classes"), "must be 1 for regression")
    else:
        lo = 2 if d.task == "binary" else 3
        hi = 2 if d.task == "binary" else 10
        if not lo <= d.n_classes <= hi:
            raise _fail((*loc, "n_classes"), f"must be in {lo}..{hi} for {d.task} data")
        if not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < d.n_classes)):
            raise _fail(loc, f"labels must be class indices 0..{d.n_classes - 1}")
    if len(d.domain) != 4 or not (d.domain[0] < d.domain[1] and d.domain[2] < d.domain[3]):
        raise _fail((*loc, "domain"), "must be [xmin, xmax, ymin, ymax] with min < max")


def _check_structure(e: ExportModel, limits: Limits) -> None:
    """Everything the engine trusts about an export, checked against its config."""
    dataset_obj: Dataset | None = None
    if e.dataset is not None:
        _check_dataset(e.dataset, limits)
        if e.config.dataset.name != CSV_DATASET:
            raise _fail(("config", "dataset", "name"), "must be 'csv' when the export has data")
        task, n_classes, input_dim = e.dataset.task, e.dataset.n_classes, e.dataset.input_dim
        n_train = len(e.dataset.x_train)
    else:
        spec = DATASETS.get(e.config.dataset.name)
        if spec is None:
            raise _fail(
                ("config", "dataset", "name"),
                f"unknown {e.config.dataset.name!r} without data; valid: {', '.join(DATASETS)}",
            )
        task, n_classes, input_dim = spec.task, spec.n_classes, spec.input_dim
        n = e.config.dataset.n_samples
        n_train = min(max(round(n * e.config.dataset.train_fraction), 1), n - 1)
    config_json = e.config.model_dump()
    if e.dataset is not None:
        d = e.dataset
        dataset_obj = Dataset(
            d.name,
            d.task,
            d.n_classes,
            d.input_dim,
            np.asarray(d.x_train, dtype=np.float64),
            np.asarray(d.y_train),
            np.asarray(d.x_test, dtype=np.float64),
            np.asarray(d.y_test),
            (d.domain[0], d.domain[1], d.domain[2], d.domain[3]),
            tuple(d.classes),
        )
    config = build_config(config_json, limits, ("body", "config"), dataset_obj)
    try:
        head = output_head(task, n_classes, config.loss)
    except ValueError as exc:
        raise InputError.from_engine(exc, ("body", "config")) from None
    del input_dim  # checked by the config's features against the data
    sizes = [len(config.features), *(layer.units for layer in config.layers), head.units]
    L = len(sizes) - 1
    P = sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(L))
    diverged = e.divergence is not None

    _check_length(e.weights, L, ("weights",))
    _check_length(e.biases, L, ("biases",))
    for layer in range(L):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = e.weights[layer]
        if len(w) != n_in or any(len(row) != n_out for row in w):
            raise _fail(("weights", layer), f"must be a {n_in}×{n_out} matrix (fan_in×fan_out)")
        _check_finite(w, diverged, ("weights", layer))
        _check_length(e.biases[layer], n_out, ("biases", layer))
        _check_finite(e.biases[layer], diverged, ("biases", layer))
    _check_length(e.theta_before_update, P, ("theta_before_update",))
    _check_finite(e.theta_before_update, diverged, ("theta_before_update",))
    _check_length(e.last_delta, P, ("last_delta",))
    _check_length(e.last_update_ratio, L, ("last_update_ratio",))
    for key, value in e.optimizer_state.items():
        if isinstance(value, int):
            _check_count(value, ("optimizer_state", key))
        else:
            _check_length(value, P, ("optimizer_state", key))
            _check_finite(value, diverged, ("optimizer_state", key))

    for name in ("cursor", "epoch", "step"):
        _check_count(getattr(e, name), (name,))
    if e.permutation is not None:
        if sorted(e.permutation) != list(range(n_train)):
            raise _fail(("permutation",), f"must be a permutation of 0..{n_train - 1}")
        if not 0 <= e.cursor <= n_train:
            raise _fail(("cursor",), f"must be an integer in 0..{n_train}, got {e.cursor}")
    indices = e.batch_indices
    if indices is not None and not (
        1 <= len(indices) <= n_train and all(0 <= i < n_train for i in indices)
    ):
        raise _fail(("batch_indices",), f"must be 1..{n_train} row indices in 0..{n_train - 1}")
    stage = e.stage
    if stage.kind in ("forward", "backward"):
        if stage.layer is None or not 0 <= stage.layer < L:
            raise _fail(("stage", "layer"), f"must be an integer in 0..{L - 1} for {stage.kind}")
    elif stage.layer is not None:
        raise _fail(("stage", "layer"), f"must be null for stage {stage.kind!r}")
    if stage.kind != "idle" and e.batch_indices is None:
        raise _fail(("batch_indices",), "required when the stage is not 'idle'")
    if stage.kind == "idle" and e.step != 0 and e.batch_indices is not None:
        raise _fail(("stage", "kind"), "'idle' only at step 0")
    if e.divergence is not None:
        _check_count(e.divergence.step, ("divergence", "step"))
        div_layer = e.divergence.layer
        if div_layer is not None and not 0 <= div_layer < L:
            raise _fail(("divergence", "layer"), f"must be null or an integer in 0..{L - 1}")

    h = e.history
    if h.n_layers != L:
        raise _fail(("history", "n_layers"), f"must be {L} (the network's weight layers)")
    n = len(h.step)
    if n > e.step:
        raise _fail(("history", "step"), f"holds {n} rows but only {e.step} steps were taken")
    if any(b <= a for a, b in zip(h.step, h.step[1:], strict=False)) or any(
        not 1 <= s <= e.step for s in h.step
    ):
        raise _fail(("history", "step"), f"must increase strictly, within 1..{e.step}")
    for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        _check_length(getattr(h, name), n, ("history", name))
    for name in ("grad_norm", "mean_abs_dz", "update_ratio"):
        rows = getattr(h, name)
        if len(rows) != n or any(len(row) != L for row in rows):
            raise _fail(("history", name), f"must be {n} rows of {L} values")


def import_trainer(export: ExportModel, limits: Limits) -> Trainer:
    """A trainer restored from an export (422 on any inconsistency)."""
    _check_structure(export, limits)
    data = export.model_dump()
    data["format"], data["version"] = EXPORT_FORMAT, EXPORT_VERSION
    try:
        trainer = Trainer.from_export(data, limits)
        # Dry run on a second copy: whatever a later request would trip over, trips here.
        probe = Trainer.from_export(data, limits)
        probe.trace(0)
        probe.train(1)
        probe.state()
    except InputError:
        raise
    except Exception as exc:  # an inconsistency the checks above did not name
        raise InputError.at(("body",), f"inconsistent export: {exc}") from None
    return trainer
