"""Divergence never raises: the first non-finite value is recorded, and reset recovers.

Setup: the ``plane`` regression data (MSE), plain SGD with learning rate 100 — every step
overshoots and the weights grow geometrically until the squared error overflows.
"""

from __future__ import annotations

import math

import numpy as np

from engine.config import DatasetConfig, NetworkConfig, OptimizerConfig
from engine.stages import Stage
from engine.trainer import Trainer

CFG = NetworkConfig(
    dataset=DatasetConfig(name="plane"), learning_rate=100.0, optimizer=OptimizerConfig("sgd")
)


def test_divergence_is_recorded_not_raised() -> None:
    t = Trainer(CFG)
    t.train(200)  # pytest turns warnings into errors: no RuntimeWarning may escape either
    div = t.divergence
    assert div is not None
    assert div.stage in ("forward", "loss", "backward", "update")
    assert 0 <= div.step < 200
    assert t.state().diverged and t.state().divergence == div
    assert not math.isfinite(t.history.column("train_loss")[-1])
    # Everything stays usable after divergence.
    t.trace()
    t.boundary(8)
    t.chain(0, 0, 0, 0)
    t.gradient_check(max_entries=2)
    t.export()
    t.advance()
    t.train(3)
    assert t.divergence == div  # the FIRST non-finite value is kept


def test_staged_and_fast_paths_report_the_same_place() -> None:
    fast = Trainer(CFG)
    fast.train(200)
    staged = Trainer(CFG)
    while staged.divergence is None and staged.step < 200:
        staged.advance()
    assert staged.divergence == fast.divergence
    assert fast.divergence is not None
    d = fast.divergence
    stage = Stage(d.stage, d.layer) if d.stage != "loss" else Stage("loss")
    assert staged.stage == stage and staged.step == d.step


def test_reset_recovers() -> None:
    t = Trainer(CFG)
    theta0 = t.network.theta.copy()
    t.train(200)
    assert t.divergence is not None
    t.reset()
    assert t.divergence is None and not t.state().diverged
    assert np.array_equal(t.network.theta, theta0)
    assert math.isfinite(t.train_loss)
    t.set_hyperparameters(learning_rate=0.01)
    t.train(50)
    assert t.divergence is None and math.isfinite(t.train_loss)
