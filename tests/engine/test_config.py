"""Config: validation messages name the field and what is allowed; JSON round trips."""

import copy
import dataclasses
import json
import re
from typing import Any

import numpy as np
import pytest

from engine.config import (
    DatasetConfig,
    InitConfig,
    LayerConfig,
    Limits,
    NetworkConfig,
    OptimizerConfig,
    resolved_loss,
    structural_fields_changed,
    task_of,
)
from engine.datasets import DATASETS, load_csv
from engine.optimizers import OPTIMIZERS

ACTIVATION_NAMES = "linear, sigmoid, tanh, relu, leaky_relu, elu, gelu, softplus, swish, sine, silu"
OPTIMIZER_NAMES = "sgd, momentum, nesterov, rmsprop, adagrad, adam, adamw"
INIT_NAMES = (
    "zeros, constant, uniform, normal, xavier_uniform, xavier_normal, he_uniform, he_normal, "
    "lecun_normal, orthogonal"
)


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The default config JSON with dotted-path ``changes`` applied, e.g. ``dataset.noise``."""
    data = NetworkConfig().to_dict()
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value
    return data


def test_defaults_validate_and_have_the_contract_shape() -> None:
    config = NetworkConfig()
    config.validate()
    data = config.to_dict()
    assert list(data) == [
        "dataset",
        "features",
        "layers",
        "init",
        "loss",
        "optimizer",
        "learning_rate",
        "batch_size",
        "l1",
        "l2",
        "grad_clip",
        "seed",
    ]
    assert list(data["dataset"]) == ["name", "n_samples", "noise", "train_fraction", "seed"]
    assert data["init"].keys() == {"name", "scale"}
    assert data["loss"] is None and data["grad_clip"] is None
    # Hyperparameters sit flat beside the name, with the optimiser's defaults filled in.
    name = data["optimizer"]["name"]
    assert data["optimizer"] == {"name": name, **OPTIMIZERS[name].defaults}
    assert json.loads(json.dumps(data)) == data


def test_contract_example_round_trips() -> None:
    example = {
        "dataset": {
            "name": "circle",
            "n_samples": 400,
            "noise": 0.1,
            "train_fraction": 0.5,
            "seed": 1,
        },
        "features": ["x1", "x2"],
        "layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}],
        "init": {"name": "xavier_uniform", "scale": None},
        "loss": None,
        "optimizer": {"name": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "learning_rate": 0.03,
        "batch_size": 16,
        "l1": 0.0,
        "l2": 0.0,
        "grad_clip": None,
        "seed": 0,
    }
    config = NetworkConfig.from_dict(example)
    config.validate()
    assert config.to_dict() == example
    assert config.layers == (LayerConfig(8, "tanh"), LayerConfig(8, "tanh"))


CUSTOM = NetworkConfig(
    dataset=DatasetConfig("spiral3", 1000, 0.25, 0.7, 99),
    features=("x1", "x2", "x1_sq", "sin_x2"),
    layers=(LayerConfig(16, "relu"), LayerConfig(3, "silu"), LayerConfig(1, "linear")),
    init=InitConfig("he_normal", 2.5),
    loss="mse",
    optimizer=OptimizerConfig("adamw", {"weight_decay": 0.1}),
    learning_rate=1.5,
    batch_size=700,
    l1=0.001,
    l2=0.5,
    grad_clip=3.0,
    seed=2**32 - 1,
)


@pytest.mark.parametrize("config", [NetworkConfig(), CUSTOM, NetworkConfig(layers=())])
def test_to_dict_from_dict_round_trip(config: NetworkConfig) -> None:
    config.validate()
    data = config.to_dict()
    back = NetworkConfig.from_dict(json.loads(json.dumps(data)))
    assert back == config
    assert back.to_dict() == data
    assert hash(back) == hash(config)


def test_from_dict_every_key_optional() -> None:
    assert NetworkConfig.from_dict({}) == NetworkConfig()
    assert NetworkConfig.from_dict({"dataset": {}, "init": {}, "optimizer": {}}) == NetworkConfig()
    partial = NetworkConfig.from_dict({"learning_rate": 0.5, "dataset": {"noise": 0.3}})
    assert partial == NetworkConfig(learning_rate=0.5, dataset=DatasetConfig(noise=0.3))


def test_optimizer_defaults_are_filled_in() -> None:
    config = NetworkConfig.from_dict({"optimizer": {"name": "adam", "beta1": 0.8}})
    assert config.optimizer.params == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-8}
    assert OptimizerConfig("momentum") == OptimizerConfig("momentum", {"momentum": 0.9})
    assert NetworkConfig(optimizer=OptimizerConfig("sgd")).to_dict()["optimizer"] == {"name": "sgd"}


def test_configs_are_frozen_and_copied() -> None:
    params = {"momentum": 0.5}
    opt = OptimizerConfig("momentum", params)
    params["momentum"] = 0.99  # the caller's dict is not shared
    assert opt.params["momentum"] == 0.5
    config = NetworkConfig(features=["x1"], layers=[LayerConfig(2, "relu")])  # type: ignore[arg-type]
    assert config.features == ("x1",) and config.layers == (LayerConfig(2, "relu"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    changed = config.replace(seed=3)
    assert (changed.seed, config.seed) == (3, 0)
    assert copy.deepcopy(CUSTOM) == CUSTOM


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"foo": 1, "bar": 2},
            "config: unknown key(s) 'foo', 'bar'; valid: dataset, features, layers",
        ),
        (
            {"dataset": {"nosie": 0.1}},
            "dataset: unknown key(s) 'nosie'; valid: name, n_samples, noise",
        ),
        (
            {"layers": [{"units": 3, "activation": "relu", "bias": 1}]},
            "layers[0]: unknown key(s) 'bias'",
        ),
        ({"init": {"gain": 2}}, "init: unknown key(s) 'gain'; valid: name, scale"),
        (
            {"optimizer": {"name": "adam", "momentum": 0.9}},
            "optimizer: unknown hyperparameter(s) 'momentum' for adam; valid: beta1, beta2, eps",
        ),
        (
            {"optimizer": {"name": "sgd", "beta1": 0.9}},
            "optimizer: unknown hyperparameter(s) 'beta1' for sgd; valid: none",
        ),
        ({"dataset": "circle"}, "dataset: must be an object, got 'circle'"),
        ({"optimizer": None}, "optimizer: must be an object, got None"),
        ({"layers": "8,8"}, "layers: must be a list, got '8,8'"),
        ({"layers": [8, 8]}, "layers[0]: must be an object, got 8"),
        ({"layers": [{"units": 8}]}, "layers[0]: missing key(s) 'activation'"),
        ({"features": "x1"}, "features: must be a list, got 'x1'"),
    ],
)
def test_from_dict_rejects_bad_shapes_naming_the_keys(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        NetworkConfig.from_dict(data)


NAN, INF = float("nan"), float("inf")
SEED_RANGE = "must be an integer in 0..4294967295"
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"dataset.name": "foo"}, "dataset.name: unknown 'foo'; valid: circle, xor, gauss, spiral"),
    ({"dataset.name": 3}, "dataset.name: unknown 3; valid: circle"),
    *[
        ({"dataset.n_samples": v}, "dataset.n_samples: must be an integer in 10..5000")
        for v in (9, 5001, True, 400.0, "400")
    ],
    *[
        ({"dataset.noise": v}, "dataset.noise: must be a number in [0, 1]")
        for v in (-0.01, 1.01, NAN, "0.1", None, False)
    ],
    *[
        ({"dataset.train_fraction": v}, "dataset.train_fraction: must be a number in [0.1, 0.9]")
        for v in (0.05, 0.95)
    ],
    *[({"dataset.seed": v}, f"dataset.seed: {SEED_RANGE}") for v in (-1, 2**32, True, 1.0)],
    ({"features": []}, "features: must list at least one feature; valid: x1, x2, x1_sq"),
    (
        {"features": ["x1", "z"]},
        "features[1]: unknown 'z'; valid: x1, x2, x1_sq, x2_sq, x1x2, sin_x1, sin_x2",
    ),
    ({"features": ["x1", 2]}, "features[1]: unknown 2; valid: x1"),
    ({"features": ["x2", "x2"]}, "features[1]: duplicate 'x2'"),
    (
        {"dataset.name": "sine", "features": ["x1", "x1x2"]},
        "features[1]: 'x1x2' needs input x2, but the data is 1-D",
    ),
    (
        {"layers": [{"units": 2, "activation": "relu"}] * 17},
        "layers: must be a list of 0..16 hidden layers, got 17",
    ),
    (
        {"layers": [{"units": 2, "activation": "relu"}] * 2 + [{"units": 0, "activation": "relu"}]},
        "layers[2].units: must be an integer in 1..64, got 0",
    ),
    *[
        (
            {"layers": [{"units": v, "activation": "relu"}]},
            f"layers[0].units: must be an integer in 1..64, got {v!r}",
        )
        for v in (65, True, 8.0, None)
    ],
    (
        {"layers": [{"units": 4, "activation": "foo"}]},
        f"layers[0].activation: unknown 'foo'; valid: {ACTIVATION_NAMES}",
    ),
    ({"init.name": "glorot"}, f"init.name: unknown 'glorot'; valid: {INIT_NAMES}"),
    *[
        ({"init.scale": v}, "init.scale: must be null (the default) or a number > 0")
        for v in (0, -1.0, INF, NAN, "1")
    ],
    (
        {"loss": "hinge"},
        "loss: unknown 'hinge'; valid: mse, binary_cross_entropy, softmax_cross_entropy",
    ),
    (
        {"dataset.name": "plane", "loss": "binary_cross_entropy"},
        "loss: 'binary_cross_entropy' does not fit the regression dataset 'plane'; valid: mse",
    ),
    (
        {"dataset.name": "sine", "features": ["x1"], "loss": "softmax_cross_entropy"},
        "loss: 'softmax_cross_entropy' does not fit the regression dataset 'sine'; valid: mse",
    ),
    (
        {"dataset.name": "spiral3", "loss": "binary_cross_entropy"},
        "loss: 'binary_cross_entropy' does not fit the multiclass dataset 'spiral3'; "
        "valid: softmax_cross_entropy, mse",
    ),
    (
        {"optimizer": {"name": "lbfgs"}},
        f"optimizer.name: unknown 'lbfgs'; valid: {OPTIMIZER_NAMES}",
    ),
    (
        {"optimizer": {"name": "adam", "beta1": 1.5}},
        "optimizer.beta1: must be a number in [0, 1), got 1.5",
    ),
    (
        {"optimizer": {"name": "adam", "beta1": 1.0}},
        "optimizer.beta1: must be a number in [0, 1), got 1.0",
    ),
    (
        {"optimizer": {"name": "adam", "beta1": True}},
        "optimizer.beta1: must be a number in [0, 1), got True",
    ),
    (
        {"optimizer": {"name": "adamw", "beta2": -0.1}},
        "optimizer.beta2: must be a number in [0, 1), got -0.1",
    ),
    (
        {"optimizer": {"name": "adam", "eps": 0.0}},
        "optimizer.eps: must be a number in (0, 1], got 0.0",
    ),
    (
        {"optimizer": {"name": "rmsprop", "eps": NAN}},
        "optimizer.eps: must be a number in (0, 1], got nan",
    ),
    (
        {"optimizer": {"name": "rmsprop", "rho": 1}},
        "optimizer.rho: must be a number in [0, 1), got 1",
    ),
    (
        {"optimizer": {"name": "momentum", "momentum": -0.5}},
        "optimizer.momentum: must be a number in [0, 1), got -0.5",
    ),
    (
        {"optimizer": {"name": "nesterov", "momentum": "0.9"}},
        "optimizer.momentum: must be a number in [0, 1), got '0.9'",
    ),
    (
        {"optimizer": {"name": "adamw", "weight_decay": 2}},
        "optimizer.weight_decay: must be a number in [0, 1], got 2",
    ),
    *[
        ({"learning_rate": v}, f"learning_rate: must be a number in (0, 100], got {v!r}")
        for v in (0, -0.1, 100.5, NAN, INF, True, None)
    ],
    *[
        ({"batch_size": v}, f"batch_size: must be an integer in 1..5000, got {v!r}")
        for v in (0, 5001, 16.0, False)
    ],
    *[({"l1": v}, f"l1: must be a number in [0, 1], got {v!r}") for v in (-1e-9, 1.5, INF)],
    *[({"l2": v}, f"l2: must be a number in [0, 1], got {v!r}") for v in (-1e-9, 1.5, NAN)],
    *[
        ({"grad_clip": v}, f"grad_clip: must be null (off) or a number > 0, got {v!r}")
        for v in (0, -1.0, NAN, INF, True)
    ],
    *[({"seed": v}, f"seed: {SEED_RANGE}, got {v!r}") for v in (-1, 2**32, True, 0.5, "1")],
]


@pytest.mark.parametrize(("changes", "message"), INVALID)
def test_invalid_field_names_the_field_and_what_is_allowed(
    changes: dict[str, Any], message: str
) -> None:
    config = NetworkConfig.from_dict(with_changes(changes))
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        config.validate()


def test_unknown_hyperparameter_rejected_by_validate_too() -> None:
    config = NetworkConfig(optimizer=OptimizerConfig("rmsprop", {"beta1": 0.9, "zeta": 1.0}))
    with pytest.raises(
        ValueError,
        match=r"^optimizer: unknown hyperparameter\(s\) 'beta1', 'zeta' for rmsprop; "
        r"valid: rho, eps$",
    ):
        config.validate()


def test_wrong_sub_config_types_are_named() -> None:
    bad = NetworkConfig(layers=(LayerConfig(2, "relu"), {"units": 2}))  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^layers\[1\]: expected LayerConfig, got \{'units': 2\}$"
    ):
        bad.validate()
    with pytest.raises(ValueError, match=r"^init: expected InitConfig, got 'he_normal'$"):
        NetworkConfig(init="he_normal").validate()  # type: ignore[arg-type]


VALID_EDGES: list[dict[str, Any]] = [
    {"dataset.n_samples": 10},
    {"dataset.n_samples": 5000},
    {"dataset.noise": 0},
    {"dataset.noise": 1.0},
    {"dataset.train_fraction": 0.1},
    {"dataset.train_fraction": 0.9},
    {"dataset.seed": 2**32 - 1},
    {"dataset.name": "csv"},
    {"dataset.name": "sine", "features": ["x1", "x1_sq", "sin_x1"]},
    {"layers": []},
    {"layers": [{"units": 64, "activation": "silu"}] * 16},
    {"layers": [{"units": 1, "activation": a} for a in ("linear", "leaky_relu", "gelu", "sine")]},
    {"init.name": "normal", "init.scale": 5},
    {"loss": "mse"},
    {"dataset.name": "spiral3", "loss": "mse"},
    {"dataset.name": "gauss", "loss": "softmax_cross_entropy"},  # 2-logit softmax head
    {"optimizer": {"name": "adam", "beta1": 0, "beta2": 0.999999, "eps": 1.0}},
    {"optimizer": {"name": "sgd"}},
    {"learning_rate": 100},
    {"learning_rate": 1e-9},
    {"batch_size": 1},
    {"batch_size": 5000},
    {"l1": 1, "l2": 0.0},
    {"grad_clip": 1e-3},
    {"seed": 2**32 - 1},
]


@pytest.mark.parametrize("changes", VALID_EDGES)
def test_edge_values_are_accepted(changes: dict[str, Any]) -> None:
    NetworkConfig.from_dict(with_changes(changes)).validate()


def test_numpy_scalars_are_accepted() -> None:
    config = NetworkConfig(
        layers=(LayerConfig(np.int64(4), "relu"),),  # type: ignore[arg-type]
        learning_rate=np.float64(0.1),
        seed=np.uint32(7),  # type: ignore[arg-type]
    )
    config.validate()
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain Python numbers
    assert type(data["layers"][0]["units"]) is int and type(data["seed"]) is int


def test_limits_set_the_ranges() -> None:
    wide = NetworkConfig(layers=(LayerConfig(100, "relu"),))
    with pytest.raises(
        ValueError, match=r"^layers\[0\]\.units: must be an integer in 1\.\.64, got 100$"
    ):
        wide.validate()
    wide.validate(Limits(max_width=128))
    with pytest.raises(
        ValueError, match=r"^layers: must be a list of 0\.\.1 hidden layers, got 3$"
    ):
        NetworkConfig().validate(Limits(max_depth=1))
    big = NetworkConfig(dataset=DatasetConfig(n_samples=20_000), batch_size=9000)
    with pytest.raises(ValueError, match=r"^dataset\.n_samples: must be an integer in 10\.\.5000"):
        big.validate()
    big.validate(Limits(max_samples=20_000))
    with pytest.raises(ValueError, match=r"^batch_size: must be an integer in 1\.\.8000, got 9000"):
        NetworkConfig(batch_size=9000).validate(Limits(max_csv_rows=8000))  # a CSV may be larger


# --- task and loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_task_and_default_loss_follow_the_dataset(name: str) -> None:
    config = NetworkConfig(dataset=DatasetConfig(name=name))
    task = DATASETS[name].task
    assert task_of(config) == task
    expected = {"binary": "binary_cross_entropy", "multiclass": "softmax_cross_entropy"}
    assert resolved_loss(config) == expected.get(task, "mse")
    assert resolved_loss(config.replace(loss="mse")) == "mse"


CSV_1D = "x1,label\n0,0\n1,1\n2,0\n3,1\n"
CSV_REGRESSION = "x1,x2,y\n0,0,0.5\n1,1,0.25\n2,0,0.125\n"


def test_csv_config_needs_the_data_for_its_task() -> None:
    config = NetworkConfig(dataset=DatasetConfig(name="csv"))
    config.validate()  # features and loss cannot be checked without the data
    with pytest.raises(ValueError, match=r"^dataset\.name: the task of 'csv' data is known only"):
        task_of(config)
    regression = load_csv(CSV_REGRESSION, 10)
    assert task_of(config, regression) == "regression"
    assert resolved_loss(config, regression) == "mse"
    with pytest.raises(
        ValueError,
        match=r"^loss: 'binary_cross_entropy' does not fit the regression dataset 'csv'; "
        r"valid: mse$",
    ):
        config.replace(loss="binary_cross_entropy").validate(dataset=regression)
    one_d = load_csv(CSV_1D, 10)
    with pytest.raises(ValueError, match=r"^features\[1\]: 'x2' needs input x2"):
        config.validate(dataset=one_d)
    config.replace(features=("x1", "sin_x1")).validate(dataset=one_d)
    assert resolved_loss(config, one_d) == "binary_cross_entropy"


# --- structural vs hyperparameter changes -----------------------------------------------------


BASE = NetworkConfig()


@pytest.mark.parametrize(
    ("new", "changed"),
    [
        (BASE, []),
        (BASE.replace(learning_rate=0.5), []),
        (BASE.replace(optimizer=OptimizerConfig("sgd")), []),
        (BASE.replace(optimizer=OptimizerConfig("adam", {"beta1": 0.5})), []),
        (BASE.replace(batch_size=1, l1=0.1, l2=0.2, grad_clip=1.0), []),
        (BASE.replace(dataset=DatasetConfig(noise=0.3)), ["dataset.noise"]),
        (BASE.replace(dataset=DatasetConfig(name="xor", seed=5)), ["dataset.name", "dataset.seed"]),
        (
            BASE.replace(dataset=DatasetConfig(n_samples=100, train_fraction=0.8)),
            ["dataset.n_samples", "dataset.train_fraction"],
        ),
        (BASE.replace(features=("x1", "x2", "x1x2")), ["features"]),
        (BASE.replace(layers=BASE.layers[:1]), ["layers"]),
        (
            BASE.replace(layers=(*BASE.layers[:2], LayerConfig(4, "tanh"))),
            ["layers[2].units", "layers[2].activation"],
        ),
        (BASE.replace(init=InitConfig("he_normal")), ["init.name"]),
        (BASE.replace(init=InitConfig(scale=2.0)), ["init.scale"]),
        (BASE.replace(loss="mse"), ["loss"]),
        (BASE.replace(seed=1, learning_rate=1.0), ["seed"]),
    ],
)
def test_structural_fields_changed(new: NetworkConfig, changed: list[str]) -> None:
    assert structural_fields_changed(BASE, new) == changed


def test_every_config_field_is_either_live_or_structural() -> None:
    """The page asks which fields apply live; each field must have one answer."""
    import dataclasses

    from engine.config import LIVE_FIELDS, STRUCTURAL_FIELDS

    fields = {f.name for f in dataclasses.fields(NetworkConfig)}
    assert set(LIVE_FIELDS) | set(STRUCTURAL_FIELDS) == fields
    assert not set(LIVE_FIELDS) & set(STRUCTURAL_FIELDS)
    base = NetworkConfig()
    for name in LIVE_FIELDS:  # changing a live field never asks for a rebuild
        value = {"learning_rate": 0.5, "optimizer": OptimizerConfig("sgd"), "batch_size": 3}
        changed = base.replace(**{name: value.get(name, 0.25 if name != "grad_clip" else 1.0)})
        assert structural_fields_changed(base, changed) == [], name
