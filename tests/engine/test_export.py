"""Export/import: through JSON text and back, training on gives identical numbers."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from engine.config import DatasetConfig, NetworkConfig, OptimizerConfig
from engine.datasets import load_csv
from engine.errors import ConfigError
from engine.trainer import Trainer
from tests.engine.helpers import config
from tests.engine.test_stepping import assert_same_run

CFG = config(n_samples=50, batch_size=8, layers=((6, "tanh"), (5, "relu")), l2=0.001)


def roundtrip(t: Trainer) -> Trainer:
    text = json.dumps(t.export())  # strict JSON text, as a browser would store it
    return Trainer.from_export(json.loads(text))


def _at(actions: Callable[[Trainer], None]) -> Trainer:
    t = Trainer(CFG)
    actions(t)
    return t


def _mid_forward(t: Trainer) -> None:
    t.train(2)
    t.forward(2)


def _after_loss(t: Trainer) -> None:
    t.train(5)
    t.compute_loss()


def _mid_backward(t: Trainer) -> None:
    t.train(1)
    t.backward(2)


def _after_staged_update(t: Trainer) -> None:
    t.train(1)
    t.update()


POSITIONS: dict[str, Callable[[Trainer], None]] = {
    "fresh": lambda t: None,
    "mid-epoch": lambda t: t.train(6),
    "epoch-boundary": lambda t: t.train(4),
    "mid-forward": _mid_forward,
    "after-loss": _after_loss,
    "mid-backward": _mid_backward,
    "after-staged-update": _after_staged_update,
}


@pytest.mark.parametrize("position", list(POSITIONS))
def test_roundtrip_continues_identically(position: str) -> None:
    original = _at(POSITIONS[position])
    copy = roundtrip(original)
    assert copy.stage == original.stage and copy.step == original.step
    assert_same_run(original, copy)
    assert copy.state() == original.state()
    # The in-progress step's arrays are the same after import.
    ta, tb = original.trace(), copy.trace()
    assert np.array_equal(ta.batch_indices, tb.batch_indices) and ta.loss == tb.loss
    for la, lb in zip(ta.layers, tb.layers, strict=True):
        for name in ("W", "b", "z", "a", "da", "dz", "dW", "db", "dW_update"):
            x, y = getattr(la, name), getattr(lb, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert np.array_equal(x, y), name
    for t in (original, copy):
        t.backward(1)
        t.train(7)
    assert_same_run(original, copy)


def test_export_is_plain_json_with_exact_floats() -> None:
    t = _at(POSITIONS["mid-epoch"])
    data = t.export()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["config"] == CFG.to_dict()
    assert back["step"] == 6 and back["stage"] == {"kind": "update", "layer": None}
    flat = np.concatenate([np.ravel(w) for w in back["weights"]])
    assert np.array_equal(flat, np.concatenate([np.ravel(w) for w in t.network.weights]))
    # Generator integers are strings: browsers' JSON keeps only 53 bits of an integer.
    state = back["rng"]["shuffle"]["state"]
    assert isinstance(state["state"], str) and int(state["state"]) > 2**53
    assert back["dataset"] is None  # regenerated from the config's seed


def test_csv_dataset_travels_with_the_export() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(40, 2))
    rows = "\n".join(f"{a!r},{b!r},{int(a * b > 0)}" for a, b in x.tolist())
    ds = load_csv("x1,x2,label\n" + rows, max_rows=100)
    cfg = NetworkConfig(dataset=DatasetConfig(name="csv"), batch_size=8)
    t = Trainer(cfg, dataset=ds)
    t.train(3)
    copy = roundtrip(t)
    assert np.array_equal(copy.dataset.x_train, ds.x_train)
    assert np.array_equal(copy.dataset.y_test, ds.y_test)
    assert copy.dataset.classes == ds.classes and copy.dataset.domain == ds.domain
    for tr in (t, copy):
        tr.train(5)
    assert_same_run(t, copy)


def test_regression_and_diverged_exports_are_strict_json() -> None:
    t = Trainer(config(dataset="plane", learning_rate=100.0, optimizer=OptimizerConfig("sgd")))
    t.train(5)
    copy = Trainer.from_export(json.loads(json.dumps(t.export(), allow_nan=False)))
    assert_same_run(t, copy)  # NaN accuracy columns (regression) come back as NaN
    t.train(200)
    assert t.divergence is not None
    back = Trainer.from_export(json.loads(json.dumps(t.export(), allow_nan=False)))
    assert back.divergence == t.divergence and back.step == t.step


def test_multiclass_roundtrip() -> None:
    t = Trainer(config(dataset="spiral3", batch_size=8))
    t.train(3)
    copy = roundtrip(t)
    for tr in (t, copy):
        tr.train(4)
    assert_same_run(t, copy)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda d: d.pop("weights"), ("weights",)),
        (lambda d: d.update(format="something else"), ("format",)),
        (lambda d: d["config"].update(learning_rate=-1), ("config", "learning_rate")),
        (lambda d: d["config"]["layers"][1].update(units=0), ("config", "layers", 1, "units")),
        (lambda d: d.update(weights=[[1.0]]), ("weights",)),
        (lambda d: d["weights"][1].__setitem__(0, [1.0]), ("weights", 1, 0)),
        (lambda d: d["biases"].__setitem__(0, [1.0]), ("biases", 0)),
        (lambda d: d["biases"][0].__setitem__(0, None), ("biases", 0)),  # null: not diverged
        (lambda d: d.update(stage={"kind": "loss", "layer": 0}), ("stage", "layer")),
        (lambda d: d.update(stage={"kind": "forward", "layer": 9}), ("stage", "layer")),
        (lambda d: d.update(step=True), ("step",)),
        (lambda d: d.update(cursor=10**6), ("cursor",)),
        (lambda d: d.update(permutation=[0, 0, 1]), ("permutation",)),
        (lambda d: d.update(batch_indices=[10**9]), ("batch_indices",)),
        (lambda d: d["optimizer_state"].update(velocity=[0.0]), ("optimizer_state", "velocity")),
        (lambda d: d["optimizer_state"].pop("m"), ("optimizer_state", "m")),
        (lambda d: d["rng"].update(shuffle={"bit_generator": "PCG64"}), ("rng", "shuffle")),
        (lambda d: d["history"].update(n_layers=7), ("history", "n_layers")),
        (lambda d: d.update(divergence={"step": 0, "stage": "sideways"}), ("divergence", "stage")),
        (lambda d: d.update(surprise=1), ("surprise",)),
    ],
)
def test_malformed_exports_name_the_field(
    mutate: Callable[[dict], object], loc: tuple[str | int, ...]
) -> None:
    trained = Trainer(CFG)
    trained.train(2)  # Adam's state now has m, v and t
    data = json.loads(json.dumps(trained.export()))
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        Trainer.from_export(data)
    assert caught.value.loc == loc, str(caught.value)
