"""Validated, frozen configuration: the one config shape used by the engine, the API and the page.

``NetworkConfig`` holds everything that defines a run. ``validate(limits)`` raises
``ConfigError`` (a ValueError whose ``loc`` is the field path; its text reads
``"<dotted.field.path>: <what is allowed>, got <value>"``) at the first bad field,
e.g. ``"layers[2].units: must be an integer in 1..64, got 0"``. ``to_dict`` / ``from_dict``
convert to and from the JSON shape::

    {"dataset": {"name": "circle", "n_samples": 400, "noise": 0.1, "train_fraction": 0.5,
                 "seed": 1},
     "features": ["x1", "x2"],
     "layers": [{"units": 16, "activation": "relu"}, {"units": 16, "activation": "relu"},
                {"units": 16, "activation": "relu"}],
     "init": {"name": "xavier_uniform", "scale": null},
     "loss": null,
     "optimizer": {"name": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
     "learning_rate": 0.01, "batch_size": 16, "l1": 0.0, "l2": 0.0, "grad_clip": null,
     "seed": 0}

``from_dict`` checks the shape (unknown keys, objects vs lists); ranges are checked by
``validate``, because the server's limits decide some of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.activations import ACTIVATIONS, ALIASES
from engine.datasets import DATASETS, Dataset, Task, check_features
from engine.errors import ConfigError
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES, TASK_LOSSES, default_loss
from engine.optimizers import OPTIMIZERS
from engine.recurrent_cells import CELLS, RNN_ACTIVATIONS
from engine.sequences import SEQUENCE_TASKS

CSV_DATASET = "csv"  # dataset.name for user data loaded with engine.datasets.load_csv
SEED_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Interval:
    """A range of real numbers, for validation messages: ``[0, 1)``, ``> 0`` …"""

    lo: float
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, x: float) -> bool:
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open or self.hi == math.inf else x <= self.hi
        return above and below

    def __str__(self) -> str:
        if self.hi == math.inf:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"in {left}{self.lo:g}, {self.hi:g}{right}"


UNIT = Interval(0.0, 1.0)
FRACTION_BELOW_ONE = Interval(0.0, 1.0, hi_open=True)
POSITIVE = Interval(0.0, lo_open=True)
# Each optimiser hyperparameter's valid range (decay rates must stay below 1 or the average
# never forgets; ε must be positive or a zero second moment divides by zero).
HYPERPARAMETER_RANGES: dict[str, Interval] = {
    "momentum": FRACTION_BELOW_ONE,
    "rho": FRACTION_BELOW_ONE,
    "beta1": FRACTION_BELOW_ONE,
    "beta2": FRACTION_BELOW_ONE,
    "eps": Interval(0.0, 1.0, lo_open=True),
    "weight_decay": UNIT,
}
NONNEGATIVE = Interval(0.0)  # for a hyperparameter without an entry above


# --- checks -------------------------------------------------------------------------------------


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is an integer (bools are not), else None."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    return None


def _as_finite(value: object) -> float | None:
    """``value`` as a float if it is a finite real number (bools are not), else None."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        x = float(value)
        return x if math.isfinite(x) else None
    return None


def _check_int(value: object, path: str, lo: int, hi: int) -> None:
    x = _as_int(value)
    if x is None or not lo <= x <= hi:
        raise ConfigError(path, f"must be an integer in {lo}..{hi}, got {value!r}")


def _check_number(value: object, path: str, interval: Interval, *, optional: str = "") -> None:
    """``optional`` names what ``None`` means (e.g. "off"); empty = ``None`` is not allowed."""
    if optional and value is None:
        return
    x = _as_finite(value)
    if x is None or x not in interval:
        allowed = (
            f"null ({optional}) or a number {interval}" if optional else f"a number {interval}"
        )
        raise ConfigError(path, f"must be {allowed}, got {value!r}")


def _check_name(value: object, path: str, valid: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in valid:
        raise ConfigError(path, f"unknown {value!r}; valid: {', '.join(valid)}")


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


# --- dataclasses --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds the server may tighten or loosen; these are the engine's defaults."""

    max_depth: int = 16
    max_width: int = 64
    max_samples: int = 5000
    max_grid: int = 128
    max_steps: int = 10_000
    max_csv_rows: int = 5000
    # Recurrent runs: a step costs T timesteps, and the evaluation T passes over every
    # sequence, so their sizes have their own bounds.
    max_hidden: int = 64
    max_sequence_length: int = 100
    max_sequences: int = 1000


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """Which built-in dataset to generate (or ``"csv"`` for loaded data) and how."""

    name: str = "circle"  # key of engine.datasets.DATASETS, or "csv"
    n_samples: int = 400  # 10..limits.max_samples (for "csv": the rows loaded, 2..)
    noise: float = 0.1  # 0..1, a fraction of the dataset's scale (see engine.datasets)
    train_fraction: float = 0.5  # 0.1..0.9
    seed: int = 1  # data seed, 0..2**32-1

    def validate(self, limits: Limits = Limits(), path: str = "dataset") -> None:
        """Raise ConfigError naming the first invalid field and its allowed values."""
        _check_name(self.name, f"{path}.name", [*DATASETS, CSV_DATASET])
        # Loaded data counts its rows: a four-row XOR table is a fair teaching example.
        fewest = 2 if self.name == CSV_DATASET else 10
        _check_int(self.n_samples, f"{path}.n_samples", fewest, limits.max_samples)
        _check_number(self.noise, f"{path}.noise", UNIT)
        _check_number(self.train_fraction, f"{path}.train_fraction", Interval(0.1, 0.9))
        _check_int(self.seed, f"{path}.seed", 0, SEED_MAX)


@dataclass(frozen=True, slots=True)
class LayerConfig:
    """One hidden layer: ``units`` neurons with activation ``activation``."""

    units: int  # 1..limits.max_width
    activation: str  # key of engine.activations.ACTIVATIONS or an alias ("silu")

    def validate(self, limits: Limits = Limits(), path: str = "layer") -> None:
        _check_int(self.units, f"{path}.units", 1, limits.max_width)
        _check_name(self.activation, f"{path}.activation", [*ACTIVATIONS, *ALIASES])


@dataclass(frozen=True, slots=True)
class InitConfig:
    """Weight initialiser; ``scale`` (None = the initialiser's default) is its gain/σ/bound."""

    name: str = "xavier_uniform"  # key of engine.initializers.INITIALIZERS
    scale: float | None = None  # > 0

    def validate(self, path: str = "init") -> None:
        _check_name(self.name, f"{path}.name", list(INITIALIZERS))
        _check_number(self.scale, f"{path}.scale", POSITIVE, optional="the default")


@dataclass(frozen=True, slots=True)
class OptimizerConfig:
    """Optimiser name and hyperparameters. Missing keys are filled from the optimiser's
    defaults on construction, so ``params`` always holds the full set for a known name."""

    name: str = "adam"  # key of engine.optimizers.OPTIMIZERS
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = dict(self.params) if isinstance(self.params, Mapping) else self.params
        optimizer = OPTIMIZERS.get(self.name) if isinstance(self.name, str) else None
        if optimizer is not None and isinstance(params, dict):
            params = {**optimizer.defaults, **params}
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash((self.name, frozenset(self.params.items())))

    def validate(self, path: str = "optimizer") -> None:
        _check_name(self.name, f"{path}.name", list(OPTIMIZERS))
        if not isinstance(self.params, Mapping):
            raise ConfigError(path, f"hyperparameters must be a mapping, got {self.params!r}")
        _check_param_keys(self.name, self.params, path)
        for key, value in self.params.items():
            _check_number(value, f"{path}.{key}", HYPERPARAMETER_RANGES.get(key, NONNEGATIVE))


def _check_param_keys(name: str, params: Mapping[str, object], path: str) -> None:
    defaults = OPTIMIZERS[name].defaults
    unknown = [k for k in params if k not in defaults]
    if unknown:
        valid = ", ".join(defaults) or "none (it has no hyperparameters)"
        raise ConfigError(
            path, f"unknown hyperparameter(s) {_quoted(unknown)} for {name}; valid: {valid}"
        )


# Measured: with these defaults circle, xor, gauss, moons and spiral reach >= 98 % test accuracy
# and spiral3 96 % within 2000 steps (the contract's 2×8 tanh at lr 0.03 reaches 72 % on spiral).
DEFAULT_LAYERS = (LayerConfig(16, "relu"), LayerConfig(16, "relu"), LayerConfig(16, "relu"))


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Everything that defines a run. Lists given for ``features``/``layers`` become tuples."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    features: tuple[str, ...] = ("x1", "x2")  # FEATURES names, in input order, ≥ 1
    layers: tuple[LayerConfig, ...] = DEFAULT_LAYERS  # hidden layers only, 0..limits.max_depth
    init: InitConfig = field(default_factory=InitConfig)
    loss: str | None = None  # None → the task's default (see resolved_loss)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    learning_rate: float = 0.01  # (0, 100]: large values are allowed, to show divergence
    batch_size: int = 16  # 1..max(max_samples, max_csv_rows); above n_train → full batch
    l1: float = 0.0  # [0, 1]
    l2: float = 0.0  # [0, 1]
    grad_clip: float | None = None  # None = off, else max global gradient norm > 0
    seed: int = 0  # weight-init and minibatch-shuffle seed, 0..2**32-1

    def __post_init__(self) -> None:
        for name in ("features", "layers"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def validate(self, limits: Limits = Limits(), dataset: Dataset | None = None) -> None:
        """Raise ConfigError ``"<field.path>: <allowed range or names>, got <value>"`` for the
        first invalid field. ``dataset`` (e.g. a loaded CSV) lets the features and the loss be
        checked against data whose shape and task the config alone does not tell."""
        for path, sub, kind in (
            ("dataset", self.dataset, DatasetConfig),
            ("init", self.init, InitConfig),
            ("optimizer", self.optimizer, OptimizerConfig),
        ):
            if not isinstance(sub, kind):
                raise ConfigError(path, f"expected {kind.__name__}, got {sub!r}")
        self.dataset.validate(limits)
        spec = DATASETS.get(self.dataset.name)
        if dataset is not None:
            input_dim = dataset.input_dim
        else:  # "csv" without its data: check the names only
            input_dim = spec.input_dim if spec is not None else 2
        check_features(self.features, input_dim)
        if not isinstance(self.layers, tuple) or not 0 <= len(self.layers) <= limits.max_depth:
            count = len(self.layers) if isinstance(self.layers, Sequence) else self.layers
            raise ConfigError(
                "layers", f"must be a list of 0..{limits.max_depth} hidden layers, got {count!r}"
            )
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, LayerConfig):
                raise ConfigError(f"layers[{i}]", f"expected LayerConfig, got {layer!r}")
            layer.validate(limits, f"layers[{i}]")
        self.init.validate()
        if self.loss is not None:
            _check_name(self.loss, "loss", list(LOSSES))
        if dataset is not None or spec is not None:
            resolved_loss(self, dataset)
        self.optimizer.validate()
        _check_number(self.learning_rate, "learning_rate", Interval(0.0, 100.0, lo_open=True))
        _check_int(self.batch_size, "batch_size", 1, max(limits.max_samples, limits.max_csv_rows))
        _check_number(self.l1, "l1", UNIT)
        _check_number(self.l2, "l2", UNIT)
        _check_number(self.grad_clip, "grad_clip", POSITIVE, optional="off")
        _check_int(self.seed, "seed", 0, SEED_MAX)

    def replace(self, **changes: Any) -> NetworkConfig:
        """A copy with ``changes`` applied (``dataclasses.replace``); not validated."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (module docstring); optimiser defaults filled in, ``loss`` as given.
        NumPy scalars become Python numbers, so the result is ready for ``json.dumps``."""
        return _plain(
            {
                "dataset": dataclasses.asdict(self.dataset),
                "features": list(self.features),
                "layers": [{"units": la.units, "activation": la.activation} for la in self.layers],
                "init": {"name": self.init.name, "scale": self.init.scale},
                "loss": self.loss,
                "optimizer": {"name": self.optimizer.name, **self.optimizer.params},
                "learning_rate": self.learning_rate,
                "batch_size": self.batch_size,
                "l1": self.l1,
                "l2": self.l2,
                "grad_clip": self.grad_clip,
                "seed": self.seed,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkConfig:
        """Build from the JSON shape; every key is optional (defaults as in the class).

        Raises ConfigError for unknown keys (naming them and the valid ones), a non-object where
        an object belongs, a non-list for ``features``/``layers``, or a layer without ``units``
        or ``activation``. Does not check ranges: call ``validate(limits)``.
        """
        _reject_unknown(data, _field_names(cls), "config")
        changes: dict[str, Any] = {k: v for k, v in data.items() if k in _SCALAR_FIELDS}
        if "dataset" in data:
            d = _reject_unknown(data["dataset"], _field_names(DatasetConfig), "dataset")
            changes["dataset"] = DatasetConfig(**d)
        if "features" in data:
            changes["features"] = tuple(_sequence(data["features"], "features"))
        if "layers" in data:
            layers = []
            for i, item in enumerate(_sequence(data["layers"], "layers")):
                d = _reject_unknown(item, ("units", "activation"), f"layers[{i}]")
                missing = [k for k in ("units", "activation") if k not in d]
                if missing:
                    raise ConfigError(f"layers[{i}]", f"missing key(s) {_quoted(missing)}")
                layers.append(LayerConfig(d["units"], d["activation"]))
            changes["layers"] = tuple(layers)
        if "init" in data:
            changes["init"] = InitConfig(**_reject_unknown(data["init"], ("name", "scale"), "init"))
        if "optimizer" in data:
            d = _mapping(data["optimizer"], "optimizer")
            name = d.get("name", OptimizerConfig().name)
            params = {k: v for k, v in d.items() if k != "name"}
            if isinstance(name, str) and name in OPTIMIZERS:
                _check_param_keys(name, params, "optimizer")
            changes["optimizer"] = OptimizerConfig(name, params)
        return cls(**changes)


_SCALAR_FIELDS = ("loss", "learning_rate", "batch_size", "l1", "l2", "grad_clip", "seed")


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars (also inside dicts and lists) turned into Python ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be an object, got {value!r}")
    return value


def _reject_unknown(value: object, valid: Sequence[str], path: str) -> Mapping[str, Any]:
    data = _mapping(value, path)
    unknown = [str(k) for k in data if k not in valid]
    if unknown:
        raise ConfigError(path, f"unknown key(s) {_quoted(unknown)}; valid: {', '.join(valid)}")
    return data


def _sequence(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(path, f"must be a list, got {value!r}")
    return value


# --- helpers on a config ------------------------------------------------------------------------


def task_of(config: NetworkConfig, dataset: Dataset | None = None) -> Task:
    """The learning task: from ``dataset`` if given, else from the built-in dataset's spec.
    Raises ConfigError for ``"csv"`` without a dataset (only the data tells its task)."""
    if dataset is not None:
        return dataset.task
    spec = DATASETS.get(config.dataset.name)
    if spec is None:
        raise ConfigError(
            "dataset.name",
            f"the task of {config.dataset.name!r} data is known only from the "
            "loaded data; pass the dataset",
        )
    return spec.task


def resolved_loss(config: NetworkConfig, dataset: Dataset | None = None) -> str:
    """``config.loss``, or the task's default when None (binary → binary_cross_entropy,
    multiclass → softmax_cross_entropy, regression → mse). Raises ConfigError if the loss does
    not fit the task (the allowed pairs are ``engine.losses.TASK_LOSSES``)."""
    task = task_of(config, dataset)
    name = default_loss(task) if config.loss is None else config.loss
    valid = TASK_LOSSES[task]
    if name not in valid:
        source = dataset.name if dataset is not None else config.dataset.name
        raise ConfigError(
            "loss",
            f"{name!r} does not fit the {task} dataset {source!r}; valid: {', '.join(valid)}",
        )
    return name


# How a running trainer takes a change to each top-level field: *live* fields act at the
# update stage or on the next minibatch, so training goes on without a reset; *structural*
# fields need new data or new weights (a rebuild at step 0). The page asks the server which
# fields are live (``GET /api/catalog``) instead of keeping its own list.
LIVE_FIELDS = ("learning_rate", "optimizer", "batch_size", "l1", "l2", "grad_clip")
STRUCTURAL_FIELDS = ("dataset", "features", "layers", "init", "loss", "seed")


def merge_config(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial config (JSON shape) to a whole one: objects merge key by key, lists and
    scalars replace.

    Changing the optimiser's name drops the old optimiser's hyperparameters (another optimiser
    has other ones); hyperparameters sent with the new name are kept.
    """
    merged = dict(current)
    for key, value in patch.items():
        old = merged.get(key)
        if key == "optimizer" and isinstance(old, Mapping) and isinstance(value, Mapping):
            if "name" in value and value["name"] != old.get("name"):
                merged[key] = dict(value)
            else:
                merged[key] = {**old, **value}
        elif isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def structural_fields_changed(old: NetworkConfig, new: NetworkConfig) -> list[str]:
    """Dotted paths of changed fields that need a rebuild (new data or new weights): dataset.*,
    features, layers, init.*, loss, seed. Empty → only hyperparameters changed
    (learning_rate, optimizer name or params, batch_size, l1, l2, grad_clip), which a running
    trainer can take without a reset."""
    changed = _changed(old.dataset, new.dataset, "dataset")
    if old.features != new.features:
        changed.append("features")
    if len(old.layers) != len(new.layers):
        changed.append("layers")
    else:
        for i, (a, b) in enumerate(zip(old.layers, new.layers, strict=True)):
            changed += _changed(a, b, f"layers[{i}]")
    changed += _changed(old.init, new.init, "init")
    changed += [name for name in ("loss", "seed") if getattr(old, name) != getattr(new, name)]
    return changed


def _changed(a: object, b: object, path: str) -> list[str]:
    """``path.field`` for each dataclass field that differs between ``a`` and ``b``."""
    return [
        f"{path}.{name}" for name in _field_names(type(a)) if getattr(a, name) != getattr(b, name)
    ]


# --- recurrent models ---------------------------------------------------------------------------

# What ``"model"`` says in a config's JSON shape; a config without it is a dense network.
MODEL_KINDS = ("dense", "recurrent")
# Losses a sequence task's head may use (its first: the default). Softmax over two logits is
# left to the dense model: one logit is how the sequence tasks are read.
RECURRENT_LOSSES: dict[str, tuple[str, ...]] = {
    "binary": ("binary_cross_entropy", "mse"),
    "regression": ("mse",),
}
FORGET_BIAS = Interval(-5.0, 5.0)


@dataclass(frozen=True, slots=True)
class SequenceConfig:
    """Which sequence task to generate and how (see :mod:`engine.sequences`)."""

    name: str = "delay"  # key of engine.sequences.SEQUENCE_TASKS
    length: int = 20  # T, the task's min_length..limits.max_sequence_length
    n_samples: int = 400  # sequences, 10..limits.max_sequences
    noise: float = 0.1  # 0..1: delay, distractors ±10·noise; sine, U(−1, 1)·noise per value
    train_fraction: float = 0.5  # 0.1..0.9
    seed: int = 1  # data seed, 0..2**32-1

    def validate(self, limits: Limits = Limits(), path: str = "dataset") -> None:
        """Raise ConfigError naming the first invalid field and its allowed values."""
        _check_name(self.name, f"{path}.name", list(SEQUENCE_TASKS))
        shortest = SEQUENCE_TASKS[self.name].min_length
        _check_int(self.length, f"{path}.length", shortest, limits.max_sequence_length)
        _check_int(self.n_samples, f"{path}.n_samples", 10, limits.max_sequences)
        _check_number(self.noise, f"{path}.noise", UNIT)
        _check_number(self.train_fraction, f"{path}.train_fraction", Interval(0.1, 0.9))
        _check_int(self.seed, f"{path}.seed", 0, SEED_MAX)


@dataclass(frozen=True, slots=True)
class RecurrentConfig:
    """Everything that defines a recurrent run: one recurrent layer of ``hidden`` units
    (``cell`` rnn, gru or lstm) read by a linear output head on the last step or on every
    step, trained by backprop through time. The JSON shape (``to_dict``) carries
    ``"model": "recurrent"``::

        {"model": "recurrent",
         "dataset": {"name": "delay", "length": 20, "n_samples": 400, "noise": 0.1,
                     "train_fraction": 0.5, "seed": 1},
         "cell": "lstm", "activation": "tanh", "hidden": 16, "head": null,
         "init": {"name": "xavier_uniform", "scale": null},
         "recurrent_init": {"name": "orthogonal", "scale": null}, "forget_bias": 1.0,
         "loss": null, "optimizer": {"name": "adam", …}, "learning_rate": 0.01,
         "batch_size": 32, "l1": 0.0, "l2": 0.0, "grad_clip": null, "truncate": null,
         "seed": 0}
    """

    dataset: SequenceConfig = field(default_factory=SequenceConfig)
    cell: str = "lstm"  # key of engine.recurrent_cells.CELLS
    activation: str = "tanh"  # the rnn cell's f: tanh, relu or linear (gru and lstm: tanh)
    hidden: int = 16  # H, 1..limits.max_hidden
    head: str | None = None  # "last" | "every"; None → the task's default
    init: InitConfig = field(default_factory=InitConfig)  # W_xh and the head's W_hy
    recurrent_init: InitConfig = field(default_factory=lambda: InitConfig("orthogonal"))
    forget_bias: float = 1.0  # lstm: the forget gate's initial bias, [-5, 5]
    loss: str | None = None  # None → the task's default (binary_cross_entropy or mse)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    learning_rate: float = 0.01  # (0, 100]
    batch_size: int = 32  # 1..limits.max_sequences; above n_train → full batch
    l1: float = 0.0  # [0, 1]
    l2: float = 0.0  # [0, 1]
    grad_clip: float | None = None  # None = off, else max global gradient norm > 0
    truncate: int | None = None  # None = full BPTT, else k in 1..length (truncated BPTT)
    seed: int = 0  # weight-init and minibatch-shuffle seed, 0..2**32-1

    model = "recurrent"  # not a field: the discriminator of the JSON shape

    def validate(self, limits: Limits = Limits()) -> None:
        """Raise ConfigError ``"<field.path>: <allowed range or names>, got <value>"`` for the
        first invalid field."""
        for path, sub, kind in (
            ("dataset", self.dataset, SequenceConfig),
            ("init", self.init, InitConfig),
            ("recurrent_init", self.recurrent_init, InitConfig),
            ("optimizer", self.optimizer, OptimizerConfig),
        ):
            if not isinstance(sub, kind):
                raise ConfigError(path, f"expected {kind.__name__}, got {sub!r}")
        self.dataset.validate(limits)
        spec = SEQUENCE_TASKS[self.dataset.name]
        _check_name(self.cell, "cell", list(CELLS))
        if self.cell == "rnn":
            _check_name(self.activation, "activation", list(RNN_ACTIVATIONS))
        elif self.activation != "tanh":
            raise ConfigError(
                "activation",
                f"only the rnn cell takes an activation ({self.cell} uses σ and tanh); "
                f"valid: tanh, got {self.activation!r}",
            )
        _check_int(self.hidden, "hidden", 1, limits.max_hidden)
        if self.head is not None:
            _check_name(self.head, "head", ["last", "every"])
            if self.head not in spec.heads:
                raise ConfigError(
                    "head",
                    f"{self.head!r} does not fit the {spec.name} task; valid: "
                    f"{', '.join(spec.heads)}",
                )
        self.init.validate("init")
        self.recurrent_init.validate("recurrent_init")
        _check_number(self.forget_bias, "forget_bias", FORGET_BIAS)
        if self.loss is not None:
            valid = RECURRENT_LOSSES[spec.task]
            _check_name(self.loss, "loss", list(LOSSES))
            if self.loss not in valid:
                raise ConfigError(
                    "loss",
                    f"{self.loss!r} does not fit the {spec.task} task {spec.name!r}; "
                    f"valid: {', '.join(valid)}",
                )
        self.optimizer.validate()
        _check_number(self.learning_rate, "learning_rate", Interval(0.0, 100.0, lo_open=True))
        _check_int(self.batch_size, "batch_size", 1, limits.max_sequences)
        _check_number(self.l1, "l1", UNIT)
        _check_number(self.l2, "l2", UNIT)
        _check_number(self.grad_clip, "grad_clip", POSITIVE, optional="off")
        if self.truncate is not None:
            _check_int(self.truncate, "truncate", 1, self.dataset.length)
        _check_int(self.seed, "seed", 0, SEED_MAX)

    @property
    def resolved_head(self) -> str:
        """``head``, or the task's default when None."""
        return self.head or SEQUENCE_TASKS[self.dataset.name].heads[0]

    @property
    def resolved_loss(self) -> str:
        """``loss``, or the task's default when None."""
        return self.loss or RECURRENT_LOSSES[SEQUENCE_TASKS[self.dataset.name].task][0]

    def replace(self, **changes: Any) -> RecurrentConfig:
        """A copy with ``changes`` applied (``dataclasses.replace``); not validated."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (class docstring), ready for ``json.dumps``."""
        return _plain(
            {
                "model": "recurrent",
                "dataset": dataclasses.asdict(self.dataset),
                "cell": self.cell,
                "activation": self.activation,
                "hidden": self.hidden,
                "head": self.head,
                "init": {"name": self.init.name, "scale": self.init.scale},
                "recurrent_init": {
                    "name": self.recurrent_init.name,
                    "scale": self.recurrent_init.scale,
                },
                "forget_bias": self.forget_bias,
                "loss": self.loss,
                "optimizer": {"name": self.optimizer.name, **self.optimizer.params},
                "learning_rate": self.learning_rate,
                "batch_size": self.batch_size,
                "l1": self.l1,
                "l2": self.l2,
                "grad_clip": self.grad_clip,
                "truncate": self.truncate,
                "seed": self.seed,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecurrentConfig:
        """Build from the JSON shape; every key is optional (defaults as in the class), and
        ``model`` must be ``"recurrent"`` when given. Raises ConfigError for unknown keys or
        a non-object where an object belongs. Does not check ranges: call ``validate``."""
        _reject_unknown(data, ("model", *_field_names(cls)), "config")
        if data.get("model", "recurrent") != "recurrent":
            raise ConfigError("model", f"must be 'recurrent' here, got {data['model']!r}")
        changes: dict[str, Any] = {k: v for k, v in data.items() if k in _RECURRENT_SCALARS}
        if "dataset" in data:
            d = _reject_unknown(data["dataset"], _field_names(SequenceConfig), "dataset")
            changes["dataset"] = SequenceConfig(**d)
        for name in ("init", "recurrent_init"):
            if name in data:
                changes[name] = InitConfig(**_reject_unknown(data[name], ("name", "scale"), name))
        if "optimizer" in data:
            d = _mapping(data["optimizer"], "optimizer")
            name = d.get("name", OptimizerConfig().name)
            params = {k: v for k, v in d.items() if k != "name"}
            if isinstance(name, str) and name in OPTIMIZERS:
                _check_param_keys(name, params, "optimizer")
            changes["optimizer"] = OptimizerConfig(name, params)
        return cls(**changes)


_RECURRENT_SCALARS = (
    "cell",
    "activation",
    "hidden",
    "head",
    "forget_bias",
    "loss",
    "learning_rate",
    "batch_size",
    "l1",
    "l2",
    "grad_clip",
    "truncate",
    "seed",
)
# A running recurrent trainer takes these without a reset (truncation acts in the backward
# pass); every other field needs new data or new weights.
RECURRENT_LIVE_FIELDS = (*LIVE_FIELDS, "truncate")
RECURRENT_STRUCTURAL_FIELDS = tuple(
    f.name for f in dataclasses.fields(RecurrentConfig) if f.name not in RECURRENT_LIVE_FIELDS
)


def recurrent_structural_fields_changed(old: RecurrentConfig, new: RecurrentConfig) -> list[str]:
    """Dotted paths of changed fields that need a rebuild (as
    :func:`structural_fields_changed` for a dense config); empty → only fields of
    :data:`RECURRENT_LIVE_FIELDS` changed, which a running recurrent trainer takes as is."""
    changed = []
    for name in RECURRENT_STRUCTURAL_FIELDS:
        a, b = getattr(old, name), getattr(new, name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            changed += _changed(a, b, name)
        elif a != b:
            changed.append(name)
    return changed


def model_of(data: Mapping[str, Any]) -> str:
    """The model kind a config's JSON shape asks for: its ``model`` (default ``"dense"``).
    Raises ConfigError for an unknown kind."""
    kind = _mapping(data, "config").get("model", "dense")
    _check_name(kind, "model", list(MODEL_KINDS))
    return str(kind)


def config_from_dict(data: Mapping[str, Any]) -> NetworkConfig | RecurrentConfig:
    """A dense or a recurrent config from its JSON shape, by its ``model`` key (absent: dense).
    As each class's ``from_dict``: shape checked, ranges left to ``validate``."""
    if model_of(data) == "recurrent":
        return RecurrentConfig.from_dict(data)
    return NetworkConfig.from_dict({k: v for k, v in data.items() if k != "model"})
