"""Recurrent export/import: through JSON text and back, training on gives identical numbers."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from engine.config import InitConfig, OptimizerConfig
from engine.errors import ConfigError
from engine.export import RecurrentExport, TrainerExport, read_export
from engine.recurrent_trainer import RecurrentTrainer
from engine.trainer import Trainer
from tests.engine.helpers import config
from tests.engine.recurrent_helpers import recurrent_config
from tests.engine.test_recurrent_stepping import assert_same_run

CFG = recurrent_config(length=5, cell="gru", l2=0.001, truncate=3)


def roundtrip(t: RecurrentTrainer) -> RecurrentTrainer:
    text = json.dumps(t.export(), allow_nan=False)  # strict JSON, as a browser would store it
    return RecurrentTrainer.from_export(json.loads(text))


def _mid_forward(t: RecurrentTrainer) -> None:
    t.train(2)
    t.forward(2)


def _after_loss(t: RecurrentTrainer) -> None:
    t.train(5)
    t.compute_loss()


def _mid_backward(t: RecurrentTrainer) -> None:
    t.train(1)
    t.backward(2)


def _after_staged_update(t: RecurrentTrainer) -> None:
    t.train(1)
    t.update()


POSITIONS: dict[str, Callable[[RecurrentTrainer], None]] = {
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
    original = RecurrentTrainer(CFG)
    POSITIONS[position](original)
    copy = roundtrip(original)
    assert copy.stage == original.stage and copy.step == original.step
    assert_same_run(original, copy)
    assert copy.state() == original.state()
    # The step in progress has the same arrays after import (replayed bit for bit).
    ta, tb = original.trace(), copy.trace()
    assert np.array_equal(ta.batch_indices, tb.batch_indices) and ta.loss == tb.loss
    for sa, sb in zip(ta.timesteps, tb.timesteps, strict=True):
        for name in ("h", "dh", "dz", "logits"):
            x, y = getattr(sa, name), getattr(sb, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert np.array_equal(x, y), name
        assert sa.gates.keys() == sb.gates.keys()
    for t in (original, copy):
        t.backward(1)
        t.train(7)
    assert_same_run(original, copy)


def test_export_is_plain_json_with_exact_floats_and_named_blocks() -> None:
    t = RecurrentTrainer(CFG)
    t.train(6)
    data = json.loads(json.dumps(t.export(), allow_nan=False))
    assert data["format"] == "backprop-lab/recurrent-trainer"
    assert data["config"] == CFG.to_dict() and data["config"]["model"] == "recurrent"
    assert data["step"] == 6 and data["stage"] == {"kind": "update", "timestep": None}
    for name in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"):
        assert np.array_equal(np.asarray(data["parameters"][name]), getattr(t.network, name))
    assert len(data["history"]["dh_norm"]) == 6 and len(data["history"]["dh_norm"][0]) == 5


def test_read_export_tells_the_two_kinds_apart() -> None:
    r = RecurrentTrainer(CFG)
    r.train(1)
    d = Trainer(config(n_samples=30))
    d.train(1)
    assert isinstance(read_export(json.loads(json.dumps(r.export()))), RecurrentExport)
    assert isinstance(read_export(json.loads(json.dumps(d.export()))), TrainerExport)
    with pytest.raises(ConfigError) as caught:
        read_export({"format": "something"})
    assert caught.value.loc == ("format",)
    with pytest.raises(ConfigError) as caught:  # the dense reader refuses a recurrent export
        Trainer.from_export(json.loads(json.dumps(r.export())))
    assert caught.value.loc == ("format",)


def test_a_diverged_run_exports_as_strict_json_and_comes_back() -> None:
    cfg = CFG.replace(
        cell="rnn",
        activation="linear",
        recurrent_init=InitConfig("orthogonal", 3.0),
        optimizer=OptimizerConfig("sgd"),
        learning_rate=100.0,
        truncate=None,
    )
    t = RecurrentTrainer(cfg)
    t.train(30)
    assert t.divergence is not None
    back = RecurrentTrainer.from_export(json.loads(json.dumps(t.export(), allow_nan=False)))
    assert back.divergence == t.divergence and back.step == t.step
    assert np.array_equal(back.network.theta, t.network.theta, equal_nan=True)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda d: d.pop("parameters"), ("parameters",)),
        # read as a dense export, whose fields these are not
        (lambda d: d.update(format="backprop-lab/trainer"), ("parameters",)),
        (lambda d: d.update(version=2), ("version",)),
        (lambda d: d["config"].update(hidden=0), ("config", "hidden")),
        (lambda d: d["config"]["dataset"].update(length=500), ("config", "dataset", "length")),
        (lambda d: d["config"].update(model="dense"), ("config", "model")),
        (lambda d: d["parameters"].pop("W_hh"), ("parameters", "W_hh")),
        (lambda d: d["parameters"].update(W_zz=[]), ("parameters", "W_zz")),
        (lambda d: d["parameters"]["W_hh"].__setitem__(0, [1.0]), ("parameters", "W_hh", 0)),
        (lambda d: d["parameters"]["b_y"].__setitem__(0, None), ("parameters", "b_y")),
        (lambda d: d.update(stage={"kind": "loss", "timestep": 0}), ("stage", "timestep")),
        (lambda d: d.update(stage={"kind": "forward", "timestep": 5}), ("stage", "timestep")),
        (lambda d: d.update(stage={"kind": "forward", "layer": 0}), ("stage", "layer")),
        (lambda d: d.update(step=True), ("step",)),
        (lambda d: d.update(cursor=10**6), ("cursor",)),
        (lambda d: d.update(batch_indices=[10**9]), ("batch_indices",)),
        (lambda d: d["optimizer_state"].pop("v"), ("optimizer_state", "v")),
        (lambda d: d["history"].update(n_timesteps=9), ("history", "n_timesteps")),
        (lambda d: d["history"]["dh_norm"].__setitem__(0, [1.0]), ("history", "dh_norm", 0)),
        (lambda d: d.update(divergence={"step": 0, "stage": "up"}), ("divergence", "stage")),
        (lambda d: d.update(surprise=1), ("surprise",)),
    ],
)
def test_malformed_exports_name_the_field(
    mutate: Callable[[dict], object], loc: tuple[str | int, ...]
) -> None:
    trained = RecurrentTrainer(CFG)
    trained.train(2)  # Adam's state now has m, v and t
    data = json.loads(json.dumps(trained.export()))
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        read_export(data)
    assert caught.value.loc == loc, str(caught.value)
