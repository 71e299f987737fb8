"""A whole run as plain data: the export type, its one validation, and its JSON form.

``TrainerExport`` holds everything needed to continue a run bit for bit: the config, uploaded
data (built-in data is regenerated from the config), the parameters, the optimiser state, the
minibatch generator's state and position, the stage reached in the current step (its arrays
are recomputed by replaying the step), the history and the divergence, if any.

A recurrent run's export (:class:`RecurrentExport`, its own ``format``) holds the same parts,
its parameters by block name; :func:`read_export` reads either kind.

An export read back is untrusted input. :meth:`TrainerExport.from_dict` is the only place it
is checked — every shape against the config, every index against the data, every count and
range, finiteness — and it raises :class:`~engine.errors.ConfigError` with the path of the
first bad field (``("weights", 2)``, ``("config", "layers", 0, "units")``), so a bad file is
refused with a clear message now instead of failing on a later step. ``null`` stands for a
non-finite number, which only a diverged export may hold in its parameters and state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
from numpy.typing import NDArray

from engine.batches import MinibatchOrder
from engine.config import CSV_DATASET, Limits, NetworkConfig, RecurrentConfig, resolved_loss
from engine.datasets import DATASETS, MAX_CLASSES, Dataset, Task
from engine.errors import ConfigError, Loc
from engine.history import PER_LAYER, SCALARS, History, json_list
from engine.losses import output_head
from engine.optimizers import OPTIMIZERS, OptimizerState
from engine.recurrent import BLOCKS, RecurrentShape, block_views
from engine.recurrent_history import (
    N_BLOCKS,
    PER_BLOCK,
    PER_TIMESTEP,
    STEP_SCALARS,
    RecurrentHistory,
)
from engine.recurrent_history import SCALARS as HISTORY_SCALARS
from engine.sequences import SEQUENCE_TASKS, n_train_of
from engine.stages import Divergence, Stage, StageKind

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

EXPORT_FORMAT = "backprop-lab/trainer"
EXPORT_VERSION = 2  # 2: the history has minibatch losses and marks the evaluated rows
READABLE_VERSIONS = (1, 2)
MAX_COUNT = 10**12  # steps and epochs: far beyond any real run, small enough for every reader
_STAGE_KINDS: tuple[str, ...] = get_args(StageKind)
_DIVERGENCE_STAGES = ("forward", "loss", "backward", "update")


@dataclass(frozen=True, slots=True)
class TrainerExport:
    """A checked export. Parameters are flat (P,) vectors in the network's layout
    (``[W_0 row-major, b_0, W_1, b_1, …]``)."""

    config: NetworkConfig
    dataset: Dataset | None  # uploaded data; None = regenerate the built-in data
    theta: FloatArray
    theta_before_update: FloatArray
    optimizer_state: OptimizerState
    shuffle_state: dict[str, Any]  # the minibatch generator, as MinibatchOrder.rng_state gives
    permutation: IntArray | None
    cursor: int
    epoch: int
    step: int
    stage: Stage
    batch_indices: IntArray | None
    last_delta: FloatArray | None
    last_update_ratio: FloatArray | None
    history: History
    divergence: Divergence | None

    # --- to plain data ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data: floats exact (shortest round-trip repr), NaN/Inf as None, generator
        integers as decimal strings."""
        return self._data(json_list, lambda a: a.tolist())

    def to_data(self, config: bool = True) -> dict[str, Any]:
        """:meth:`to_dict`'s structure with every array left a NumPy array (NaN and ±Inf
        kept as they are): what :mod:`engine.export_binary` writes as raw bytes. Without
        ``config`` the config is left out (the binary form writes it by itself)."""
        return self._data(np.ascontiguousarray, np.ascontiguousarray, config)

    def _data(
        self,
        floats: Callable[[NDArray[Any]], Any],
        ints: Callable[[NDArray[Any]], Any],
        config: bool = True,
    ) -> dict[str, Any]:
        """The export as plain data, each float array through ``floats``, each index array
        through ``ints``."""
        sizes = _sizes(self.config, self.dataset)
        weights, biases = [], []
        offset = 0
        for n_in, n_out in itertools.pairwise(sizes):
            weights.append(floats(self.theta[offset : offset + n_in * n_out].reshape(n_in, -1)))
            offset += n_in * n_out
            biases.append(floats(self.theta[offset : offset + n_out]))
            offset += n_out
        div = self.divergence
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "config": self.config.to_dict() if config else None,
            "dataset": None if self.dataset is None else _dataset_to_dict(self.dataset, floats),
            "weights": weights,
            "biases": biases,
            "optimizer_state": {
                k: floats(v) if isinstance(v, np.ndarray) else int(v)
                for k, v in self.optimizer_state.items()
            },
            "rng": {"shuffle": self.shuffle_state},
            "permutation": None if self.permutation is None else ints(self.permutation),
            "cursor": self.cursor,
            "epoch": self.epoch,
            "step": self.step,
            "stage": {"kind": self.stage.kind, "layer": self.stage.layer},
            "batch_indices": None if self.batch_indices is None else ints(self.batch_indices),
            "theta_before_update": floats(self.theta_before_update),
            "last_delta": None if self.last_delta is None else floats(self.last_delta),
            "last_update_ratio": None
            if self.last_update_ratio is None
            else floats(self.last_update_ratio),
            "history": self.history.to_dict(floats, ints),
            "divergence": None
            if div is None
            else {"step": div.step, "stage": div.stage, "layer": div.layer},
        }

    # --- from plain data: the one validation --------------------------------------------------

    @classmethod
    def from_dict(cls, data: object, limits: Limits | None = None) -> TrainerExport:
        """Check ``data`` (as :meth:`to_dict` writes it) against itself and ``limits``.
        Raises ConfigError naming the first bad field."""
        limits = limits or Limits()
        d = _object(data, ())
        if d.get("format") != EXPORT_FORMAT:
            raise ConfigError("format", f"must be {EXPORT_FORMAT!r} (not a Backprop Lab export)")
        version = d.get("version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            valid = " or ".join(str(v) for v in READABLE_VERSIONS)
            raise ConfigError("version", f"must be {valid}, got {version!r}")
        known = {*_FIELDS, "format", "version"}
        unknown = [str(k) for k in d if k not in known]
        if unknown:
            raise ConfigError((unknown[0],), f"unknown field; valid: {', '.join(sorted(known))}")
        missing = [k for k in _FIELDS if k not in d]
        if missing:
            raise ConfigError((missing[0],), "required")

        dataset = None if d["dataset"] is None else _dataset_from(d["dataset"], limits)
        config = _config_from(d["config"], dataset, limits)
        divergence = _divergence_from(d["divergence"])
        diverged = divergence is not None
        sizes = _sizes(config, dataset)
        L, P = len(sizes) - 1, sum(i * o + o for i, o in itertools.pairwise(sizes))
        n_train = dataset.n_train if dataset is not None else _builtin_n_train(config)

        theta = _parameters(d["weights"], d["biases"], sizes, diverged)
        theta_before = _floats(d["theta_before_update"], (P,), ("theta_before_update",), diverged)
        last_delta = _optional(d["last_delta"], (P,), ("last_delta",))
        last_ratio = _optional(d["last_update_ratio"], (L,), ("last_update_ratio",))
        state = _optimizer_state(d["optimizer_state"], config.optimizer.name, P, diverged)
        shuffle = _shuffle_state(d["rng"])

        step = _count(d["step"], ("step",))
        epoch = _count(d["epoch"], ("epoch",))
        permutation, cursor = _minibatch_order(d, n_train)
        stage = _stage_from(d["stage"], L)
        batch = _step_batch(d, n_train, stage, step)
        if divergence is not None and divergence.layer is not None and divergence.layer >= L:
            raise ConfigError("divergence.layer", f"must be null or an integer in 0..{L - 1}")
        history = _history_from(d["history"], L, step, version == 1)
        return cls(
            config,
            dataset,
            theta,
            theta_before,
            state,
            shuffle,
            permutation,
            cursor,
            epoch,
            step,
            stage,
            batch,
            last_delta,
            last_ratio,
            history,
            divergence,
        )


# The keys of an export besides format and version, in the order to_dict writes them.
_FIELDS = (
    "config",
    "dataset",
    "weights",
    "biases",
    "optimizer_state",
    "rng",
    "permutation",
    "cursor",
    "epoch",
    "step",
    "stage",
    "batch_indices",
    "theta_before_update",
    "last_delta",
    "last_update_ratio",
    "history",
    "divergence",
)


# --- checks -----------------------------------------------------------------------------------


def _object(value: object, loc: Loc) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(loc, f"must be an object, got {type(value).__name__}")
    return value


def _count(value: object, loc: Loc, hi: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise ConfigError(loc, f"must be an integer in 0..{hi}, got {value!r}")
    return value


def _floats(value: object, shape: tuple[int, ...], loc: Loc, allow_null: bool) -> FloatArray:
    """A float array of exactly ``shape``; ``null`` (non-finite) only if ``allow_null``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.shape != shape:
        what = "×".join(str(n) for n in shape)
        raise ConfigError(_first_bad(value, shape, loc), f"{what} numbers needed (null for NaN)")
    if not allow_null and not np.isfinite(arr).all():
        raise ConfigError(
            loc, "null (a non-finite number) is allowed only when 'divergence' is set"
        )
    return arr


def _first_bad(value: object, shape: tuple[int, ...], loc: Loc) -> Loc:
    """The path of the first entry of nested lists that is not a number or breaks ``shape``
    (``loc`` itself when the outer shape is wrong)."""
    if not shape:
        number = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        return () if number else loc
    if not isinstance(value, list) or len(value) != shape[0]:
        return loc
    for k, item in enumerate(value):
        inner = _first_bad(item, shape[1:], (*loc, k))
        if inner:
            return inner
    return loc


def _optional(value: object, shape: tuple[int, ...], loc: Loc) -> FloatArray | None:
    return None if value is None else _floats(value, shape, loc, allow_null=True)


def _indices(value: object, loc: Loc, n: int) -> IntArray:
    """A 1-D list (or integer array) of integers in 0..n−1."""
    if isinstance(value, np.ndarray):  # the binary form: checked as a whole
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise ConfigError(loc, "must be a list of integers")
        if value.size and not (int(value.min()) >= 0 and int(value.max()) < n):
            raise ConfigError(loc, f"must hold row indices in 0..{n - 1}")
        return value.astype(np.intp)
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(loc, "must be a list of integers")
    arr = np.asarray(value, dtype=object)
    if arr.size and not all(0 <= v < n for v in value):
        raise ConfigError(loc, f"must hold row indices in 0..{n - 1}")
    return arr.astype(np.intp)


def _config_from(value: object, dataset: Dataset | None, limits: Limits) -> NetworkConfig:
    try:
        config = NetworkConfig.from_dict(_object(value, ("config",)))
        config.validate(limits, dataset)
        resolved_loss(config, dataset)
    except ConfigError as exc:
        raise exc.within("config") from None
    except (TypeError, ValueError):  # a value of the wrong type in a config field
        raise ConfigError(
            "config", "malformed config: see GET /api/catalog for its shape"
        ) from None
    if dataset is not None and config.dataset.name != CSV_DATASET:
        raise ConfigError("config.dataset.name", "must be 'csv' when the export carries data")
    if dataset is None and config.dataset.name not in DATASETS:
        raise ConfigError(
            "config.dataset.name",
            f"{config.dataset.name!r} needs its data in 'dataset'; built-in: {', '.join(DATASETS)}",
        )
    return config


def _sizes(config: NetworkConfig, dataset: Dataset | None) -> list[int]:
    if dataset is not None:
        task, n_classes = dataset.task, dataset.n_classes
    else:
        spec = DATASETS[config.dataset.name]
        task, n_classes = spec.task, spec.n_classes
    head = output_head(task, n_classes, config.loss)
    return [len(config.features), *(layer.units for layer in config.layers), head.units]


def _builtin_n_train(config: NetworkConfig) -> int:
    """Training rows of a built-in dataset, as ``make_dataset`` splits it."""
    n = config.dataset.n_samples
    return min(max(round(n * config.dataset.train_fraction), 1), n - 1)


def _parameters(
    weights: object, biases: object, sizes: Sequence[int], diverged: bool
) -> FloatArray:
    L = len(sizes) - 1
    if not isinstance(weights, list) or len(weights) != L:
        raise ConfigError("weights", f"must hold {L} matrices, one per weight layer")
    if not isinstance(biases, list) or len(biases) != L:
        raise ConfigError("biases", f"must hold {L} vectors, one per weight layer")
    parts = []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        parts.append(_floats(weights[layer], (n_in, n_out), ("weights", layer), diverged).ravel())
        parts.append(_floats(biases[layer], (n_out,), ("biases", layer), diverged))
    return np.concatenate(parts)


def _optimizer_state(value: object, name: str, P: int, diverged: bool) -> OptimizerState:
    data = _object(value, ("optimizer_state",))
    arrays = OPTIMIZERS[name].state_keys
    state: OptimizerState = {}
    for key, item in data.items():
        loc = ("optimizer_state", str(key))
        if key == "t":
            state["t"] = _count(item, loc)
        elif key in arrays:
            state[key] = _floats(item, (P,), loc, diverged)
        else:
            valid = ", ".join(("t", *arrays))
            raise ConfigError(loc, f"not part of {name}'s state; valid: {valid}")
    # After its first step an optimiser has every array of its state: one left out would
    # restart from zero, and training on would no longer be the same run.
    missing = [k for k in arrays if k not in state] if state.get("t", 0) else []
    if missing:
        raise ConfigError(("optimizer_state", missing[0]), f"required once t > 0 ({name})")
    return state


def _shuffle_state(value: object) -> dict[str, Any]:
    rng = _object(value, ("rng",))
    state = _object(rng.get("shuffle"), ("rng", "shuffle"))
    order = MinibatchOrder(1, np.random.default_rng(0))
    try:
        order.set_rng_state(state)
    except (TypeError, ValueError, KeyError, OverflowError):
        raise ConfigError(
            ("rng", "shuffle"), "must be a PCG64 generator state as an export writes it"
        ) from None
    return order.rng_state()


def _stage_from(value: object, L: int) -> Stage:
    d = _object(value, ("stage",))
    kind, layer = d.get("kind"), d.get("layer")
    if kind not in _STAGE_KINDS:
        raise ConfigError("stage.kind", f"unknown {kind!r}; valid: {', '.join(_STAGE_KINDS)}")
    if kind in ("forward", "backward"):
        _count(layer, ("stage", "layer"), L - 1)
    elif layer is not None:
        raise ConfigError("stage.layer", f"must be null for stage {kind!r}")
    return Stage(kind, layer)


def _divergence_from(value: object) -> Divergence | None:
    if value is None:
        return None
    d = _object(value, ("divergence",))
    step = _count(d.get("step"), ("divergence", "step"))
    stage = d.get("stage")
    if stage not in _DIVERGENCE_STAGES:
        valid = ", ".join(_DIVERGENCE_STAGES)
        raise ConfigError("divergence.stage", f"unknown {stage!r}; valid: {valid}")
    layer = d.get("layer")
    if layer is not None:
        _count(layer, ("divergence", "layer"), MAX_COUNT)
    return Divergence(step, stage, layer)


def _history_from(value: object, L: int, step: int, before_v2: bool) -> History:
    d = _object(value, ("history",))
    known = {"n_layers", "step", "evaluated", *SCALARS, *PER_LAYER}
    unknown = [str(k) for k in d if k not in known]
    if unknown:
        raise ConfigError(("history", unknown[0]), f"unknown column; valid: {', '.join(known)}")
    if d.get("n_layers") != L or isinstance(d.get("n_layers"), bool):
        raise ConfigError("history.n_layers", f"must be {L} (the network's weight layers)")
    steps = _step_column(d.get("step"), step)
    n = len(steps)
    columns: dict[str, Any] = {"n_layers": L, "step": steps}
    if not before_v2 or "evaluated" in d:
        columns["evaluated"] = _flag_column(d.get("evaluated"), n)
    for name in SCALARS:
        if before_v2 and name == "batch_loss" and name not in d:
            continue  # version 1 did not record it: the history reads it as unknown (NaN)
        columns[name] = _floats(d.get(name), (n,), ("history", name), allow_null=True)
    for name in PER_LAYER:
        rows = d.get(name)
        columns[name] = _floats(rows, (n, L), ("history", name), allow_null=True) if n else []
        # (The binary form's columns are arrays.)
        empty = rows.shape in ((0,), (0, L)) if isinstance(rows, np.ndarray) else rows == []
        if not n and not empty:
            raise ConfigError(("history", name), "must be empty when 'step' is")
    return History.from_dict(columns)


def _step_column(value: object, step: int) -> Any:
    """History step numbers: strictly increasing integers in 1..step (a list, or an integer
    array in the binary form)."""
    message = f"must be a list of step numbers in 1..{step}"
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise ConfigError("history.step", message)
        if value.size and not (int(value.min()) >= 1 and int(value.max()) <= step):
            raise ConfigError("history.step", message)
        if value.size > 1 and not bool(np.all(np.diff(value) > 0)):
            raise ConfigError("history.step", f"must increase strictly, within 1..{step}")
        return value
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= step for s in value
    ):
        raise ConfigError("history.step", message)
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise ConfigError("history.step", f"must increase strictly, within 1..{step}")
    return value


def _flag_column(value: object, n: int) -> Any:
    """The history's ``evaluated`` flags: n booleans (a list, or a boolean array)."""
    if isinstance(value, np.ndarray):
        if value.shape != (n,) or value.dtype.kind != "b":
            raise ConfigError("history.evaluated", f"must be a list of {n} true/false values")
        return value
    if not isinstance(value, list) or len(value) != n:
        raise ConfigError("history.evaluated", f"must be a list of {n} true/false values")
    if not all(isinstance(v, bool) for v in value):
        raise ConfigError("history.evaluated", "must hold only true or false")
    return value


_TASKS: tuple[str, ...] = get_args(Task)


def _dataset_from(value: object, limits: Limits) -> Dataset:
    """Uploaded data, checked as ``load_csv`` would have produced it."""
    d = _object(value, ("dataset",))
    name, task, n_classes, input_dim = (
        d.get(k) for k in ("name", "task", "n_classes", "input_dim")
    )
    if not isinstance(name, str) or len(name) > 100:
        raise ConfigError("dataset.name", "must be a short text")
    if task not in _TASKS:
        raise ConfigError("dataset.task", f"unknown {task!r}; valid: {', '.join(_TASKS)}")
    if not isinstance(input_dim, int) or isinstance(input_dim, bool) or input_dim not in (1, 2):
        raise ConfigError("dataset.input_dim", f"must be 1 or 2, got {input_dim!r}")
    lo, hi = {"regression": (1, 1), "binary": (2, 2), "multiclass": (3, MAX_CLASSES)}[task]
    k = _count(n_classes, ("dataset", "n_classes"), hi)
    if k < lo:
        raise ConfigError("dataset.n_classes", f"must be in {lo}..{hi} for {task} data")
    cap = max(limits.max_csv_rows, limits.max_samples)
    parts: dict[str, Any] = {}
    for part in ("train", "test"):
        xs, ys = d.get(f"x_{part}"), d.get(f"y_{part}")
        n = len(xs) if isinstance(xs, list | np.ndarray) and np.ndim(xs) > 0 else -1
        if not 1 <= n <= cap:
            raise ConfigError(("dataset", f"x_{part}"), f"must be a list of 1..{cap} rows")
        parts[f"x_{part}"] = _floats(xs, (n, input_dim), ("dataset", f"x_{part}"), False)
        parts[f"y_{part}"] = _floats(ys, (n,), ("dataset", f"y_{part}"), False)
    if parts["x_train"].shape[0] + parts["x_test"].shape[0] > cap:
        raise ConfigError("dataset", f"must hold at most {cap} rows in all")
    if task != "regression":
        for part in ("train", "test"):
            labels = parts[f"y_{part}"]
            if not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < k)):
                raise ConfigError(("dataset", f"y_{part}"), f"must be class indices 0..{k - 1}")
            if task == "multiclass":
                parts[f"y_{part}"] = labels.astype(np.int64)
    domain = _floats(d.get("domain"), (4,), ("dataset", "domain"), False)
    if not (domain[0] < domain[1] and domain[2] < domain[3]):
        raise ConfigError("dataset.domain", "must be [xmin, xmax, ymin, ymax] with min < max")
    classes = d.get("classes", [])
    count = len(classes) if isinstance(classes, list) else -1
    classes_arr = _floats(classes, (count,), ("dataset", "classes"), False)
    return Dataset(
        name,
        task,
        k,
        input_dim,
        parts["x_train"],
        parts["y_train"],
        parts["x_test"],
        parts["y_test"],
        (float(domain[0]), float(domain[1]), float(domain[2]), float(domain[3])),
        tuple(float(c) for c in classes_arr),
    )


def _dataset_to_dict(ds: Dataset, floats: Callable[[NDArray[Any]], Any]) -> dict[str, Any]:
    return {
        "name": ds.name,
        "task": ds.task,
        "n_classes": ds.n_classes,
        "input_dim": ds.input_dim,
        "x_train": floats(ds.x_train),
        "y_train": floats(np.asarray(ds.y_train)),
        "x_test": floats(ds.x_test),
        "y_test": floats(np.asarray(ds.y_test)),
        "domain": list(ds.domain),
        "classes": list(ds.classes),
    }


# --- recurrent runs ------------------------------------------------------------------------

RECURRENT_EXPORT_FORMAT = "backprop-lab/recurrent-trainer"
RECURRENT_EXPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RecurrentExport:
    """A checked export of a recurrent run: the same parts as :class:`TrainerExport` (the
    sequences are regenerated from the config), parameters as flat (P,) vectors in the
    recurrent layout ``[W_xh, W_hh, b_h, W_hy, b_y]`` (see :mod:`engine.recurrent`) and
    written by block name; the stage names a timestep instead of a layer."""

    config: RecurrentConfig
    theta: FloatArray
    theta_before_update: FloatArray
    optimizer_state: OptimizerState
    shuffle_state: dict[str, Any]
    permutation: IntArray | None
    cursor: int
    epoch: int
    step: int
    stage: Stage
    batch_indices: IntArray | None
    last_delta: FloatArray | None
    last_update_ratio: FloatArray | None  # (3,) W_xh, W_hh, W_hy
    history: RecurrentHistory
    divergence: Divergence | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data: floats exact (shortest round-trip repr), NaN/Inf as None, generator
        integers as decimal strings."""
        views = block_views(self.theta, _recurrent_shape(self.config))
        div = self.divergence
        return {
            "format": RECURRENT_EXPORT_FORMAT,
            "version": RECURRENT_EXPORT_VERSION,
            "config": self.config.to_dict(),
            "parameters": {name: json_list(views[name]) for name in BLOCKS},
            "optimizer_state": {
                k: json_list(v) if isinstance(v, np.ndarray) else int(v)
                for k, v in self.optimizer_state.items()
            },
            "rng": {"shuffle": self.shuffle_state},
            "permutation": None if self.permutation is None else self.permutation.tolist(),
            "cursor": self.cursor,
            "epoch": self.epoch,
            "step": self.step,
            "stage": {"kind": self.stage.kind, "timestep": self.stage.timestep},
            "batch_indices": None if self.batch_indices is None else self.batch_indices.tolist(),
            "theta_before_update": json_list(self.theta_before_update),
            "last_delta": None if self.last_delta is None else json_list(self.last_delta),
            "last_update_ratio": None
            if self.last_update_ratio is None
            else json_list(self.last_update_ratio),
            "history": self.history.to_dict(),
            "divergence": None
            if div is None
            else {"step": div.step, "stage": div.stage, "timestep": div.timestep},
        }

    @classmethod
    def from_dict(cls, data: object, limits: Limits | None = None) -> RecurrentExport:
        """Check ``data`` (as :meth:`to_dict` writes it) against itself and ``limits``.
        Raises ConfigError naming the first bad field."""
        limits = limits or Limits()
        d = _object(data, ())
        if d.get("format") != RECURRENT_EXPORT_FORMAT:
            raise ConfigError(
                "format", f"must be {RECURRENT_EXPORT_FORMAT!r} (not a recurrent run's export)"
            )
        version = d.get("version")
        if version != RECURRENT_EXPORT_VERSION or isinstance(version, bool):
            raise ConfigError("version", f"must be {RECURRENT_EXPORT_VERSION}, got {version!r}")
        known = {*_RECURRENT_FIELDS, "format", "version"}
        unknown = [str(k) for k in d if k not in known]
        if unknown:
            raise ConfigError((unknown[0],), f"unknown field; valid: {', '.join(sorted(known))}")
        missing = [k for k in _RECURRENT_FIELDS if k not in d]
        if missing:
            raise ConfigError((missing[0],), "required")

        config = _recurrent_config_from(d["config"], limits)
        divergence = _recurrent_divergence_from(d["divergence"])
        diverged = divergence is not None
        shape = _recurrent_shape(config)
        P, T = shape.n_params, shape.length
        n_train = n_train_of(config.dataset.n_samples, config.dataset.train_fraction)

        theta = _blocks_from(d["parameters"], shape, diverged)
        theta_before = _floats(d["theta_before_update"], (P,), ("theta_before_update",), diverged)
        last_delta = _optional(d["last_delta"], (P,), ("last_delta",))
        last_ratio = _optional(d["last_update_ratio"], (N_BLOCKS,), ("last_update_ratio",))
        state = _optimizer_state(d["optimizer_state"], config.optimizer.name, P, diverged)
        shuffle = _shuffle_state(d["rng"])
        step = _count(d["step"], ("step",))
        epoch = _count(d["epoch"], ("epoch",))
        permutation, cursor = _minibatch_order(d, n_train)
        stage = _timestep_stage_from(d["stage"], T)
        batch = _step_batch(d, n_train, stage, step)
        if divergence is not None and divergence.timestep is not None and divergence.timestep >= T:
            raise ConfigError("divergence.timestep", f"must be null or an integer in 0..{T - 1}")
        history = _recurrent_history_from(d["history"], T, step)
        return cls(
            config,
            theta,
            theta_before,
            state,
            shuffle,
            permutation,
            cursor,
            epoch,
            step,
            stage,
            batch,
            last_delta,
            last_ratio,
            history,
            divergence,
        )


_RECURRENT_FIELDS = (
    "config",
    "parameters",
    "optimizer_state",
    "rng",
    "permutation",
    "cursor",
    "epoch",
    "step",
    "stage",
    "batch_indices",
    "theta_before_update",
    "last_delta",
    "last_update_ratio",
    "history",
    "divergence",
)


def read_export(data: object, limits: Limits | None = None) -> TrainerExport | RecurrentExport:
    """Any export, checked: a dense run's (:class:`TrainerExport`) or a recurrent run's
    (:class:`RecurrentExport`), told apart by its ``format``. ConfigError names the first bad
    field."""
    d = _object(data, ())
    if d.get("format") == RECURRENT_EXPORT_FORMAT:
        return RecurrentExport.from_dict(d, limits)
    if d.get("format") != EXPORT_FORMAT:
        raise ConfigError(
            "format",
            f"must be {EXPORT_FORMAT!r} or {RECURRENT_EXPORT_FORMAT!r} (not a Backprop Lab export)",
        )
    return TrainerExport.from_dict(d, limits)


def _recurrent_shape(config: RecurrentConfig) -> RecurrentShape:
    spec = SEQUENCE_TASKS[config.dataset.name]
    head = output_head(spec.task, spec.n_classes, config.resolved_loss)
    return RecurrentShape(
        config.cell,
        spec.n_inputs,
        int(config.hidden),
        head.units,
        int(config.dataset.length),
        config.resolved_head,
    )


def _recurrent_config_from(value: object, limits: Limits) -> RecurrentConfig:
    try:
        config = RecurrentConfig.from_dict(_object(value, ("config",)))
        config.validate(limits)
    except ConfigError as exc:
        raise exc.within("config") from None
    except (TypeError, ValueError):  # a value of the wrong type in a config field
        raise ConfigError(
            "config", "malformed config: see GET /api/catalog for its shape"
        ) from None
    return config


def _blocks_from(value: object, shape: RecurrentShape, diverged: bool) -> FloatArray:
    d = _object(value, ("parameters",))
    unknown = [str(k) for k in d if k not in BLOCKS]
    if unknown:
        raise ConfigError(("parameters", unknown[0]), f"unknown block; valid: {', '.join(BLOCKS)}")
    parts = []
    for name, block_shape in shape.block_shapes().items():
        if name not in d:
            raise ConfigError(("parameters", name), "required")
        parts.append(_floats(d[name], block_shape, ("parameters", name), diverged).ravel())
    return np.concatenate(parts)


def _timestep_stage_from(value: object, T: int) -> Stage:
    d = _object(value, ("stage",))
    unknown = [str(k) for k in d if k not in ("kind", "timestep")]
    if unknown:
        raise ConfigError(("stage", unknown[0]), "unknown field; valid: kind, timestep")
    kind, timestep = d.get("kind"), d.get("timestep")
    if kind not in _STAGE_KINDS:
        raise ConfigError("stage.kind", f"unknown {kind!r}; valid: {', '.join(_STAGE_KINDS)}")
    if kind in ("forward", "backward"):
        _count(timestep, ("stage", "timestep"), T - 1)
    elif timestep is not None:
        raise ConfigError("stage.timestep", f"must be null for stage {kind!r}")
    return Stage(kind, timestep=timestep)


def _recurrent_divergence_from(value: object) -> Divergence | None:
    if value is None:
        return None
    d = _object(value, ("divergence",))
    step = _count(d.get("step"), ("divergence", "step"))
    stage = d.get("stage")
    if stage not in _DIVERGENCE_STAGES:
        valid = ", ".join(_DIVERGENCE_STAGES)
        raise ConfigError("divergence.stage", f"unknown {stage!r}; valid: {valid}")
    timestep = d.get("timestep")
    if timestep is not None:
        _count(timestep, ("divergence", "timestep"), MAX_COUNT)
    return Divergence(step, stage, None, timestep)


def _recurrent_history_from(value: object, T: int, step: int) -> RecurrentHistory:
    d = _object(value, ("history",))
    known = {"n_timesteps", *RecurrentHistory.columns()}
    unknown = [str(k) for k in d if k not in known]
    if unknown:
        raise ConfigError(("history", unknown[0]), f"unknown column; valid: {', '.join(known)}")
    if d.get("n_timesteps") != T or isinstance(d.get("n_timesteps"), bool):
        raise ConfigError("history.n_timesteps", f"must be {T} (the sequence length)")
    steps = d.get("step")
    if not isinstance(steps, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= step for s in steps
    ):
        raise ConfigError("history.step", f"must be a list of step numbers in 1..{step}")
    n = len(steps)
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ConfigError("history.step", f"must increase strictly, within 1..{step}")
    evaluated = d.get("evaluated")
    if not isinstance(evaluated, list) or len(evaluated) != n:
        raise ConfigError("history.evaluated", f"must be a list of {n} true/false values")
    if not all(isinstance(v, bool) for v in evaluated):
        raise ConfigError("history.evaluated", "must hold only true or false")
    columns: dict[str, Any] = {"n_timesteps": T, "step": steps, "evaluated": evaluated}
    widths: dict[str, tuple[int, ...]] = dict.fromkeys((*HISTORY_SCALARS, *STEP_SCALARS), ())
    widths.update(dict.fromkeys(PER_BLOCK, (N_BLOCKS,)))
    widths.update(dict.fromkeys(PER_TIMESTEP, (T,)))
    for name, trailing in widths.items():
        rows = d.get(name)
        if n:
            columns[name] = _floats(rows, (n, *trailing), ("history", name), allow_null=True)
        elif rows != []:
            raise ConfigError(("history", name), "must be empty when 'step' is")
    return RecurrentHistory.from_dict(columns)


def _minibatch_order(d: Mapping[str, Any], n_train: int) -> tuple[IntArray | None, int]:
    """The shuffle's ``permutation`` of the training rows (None before the first epoch) and
    its ``cursor``, checked against ``n_train``."""
    permutation = None
    if d["permutation"] is not None:
        permutation = _indices(d["permutation"], ("permutation",), n_train)
        if permutation.size != n_train or not np.array_equal(
            np.sort(permutation), np.arange(n_train)
        ):
            raise ConfigError("permutation", f"must be a permutation of 0..{n_train - 1}")
    cursor = _count(d["cursor"], ("cursor",))
    if cursor > n_train:
        raise ConfigError("cursor", f"must be an integer in 0..{n_train}, got {cursor}")
    return permutation, cursor


def _step_batch(d: Mapping[str, Any], n_train: int, stage: Stage, step: int) -> IntArray | None:
    """The current step's ``batch_indices``: required mid-step (any stage but idle); an idle
    run holds a batch only at step 0 (the peeked first batch)."""
    batch = None
    if d["batch_indices"] is not None:
        batch = _indices(d["batch_indices"], ("batch_indices",), n_train)
        if not 1 <= batch.size <= n_train:
            raise ConfigError("batch_indices", f"must hold 1..{n_train} row indices")
    if stage.kind != "idle" and batch is None:
        raise ConfigError("batch_indices", "required when the stage is not 'idle'")
    if stage.kind == "idle" and step != 0 and batch is not None:
        raise ConfigError("stage.kind", "'idle' only at step 0")
    return batch
