"""Determinism and the staged state machine: staged stepping equals fast stepping bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import OptimizerConfig
from engine.history import EVALUATION, PER_LAYER
from engine.stages import Stage
from engine.trainer import Trainer
from tests.engine.helpers import config

# 50 samples → 25 train rows; batch 8 → batches of 8, 8, 8, 1 per epoch (a short last batch).
CFG = config(n_samples=50, batch_size=8, layers=((6, "tanh"), (5, "relu"), (4, "sigmoid")))


def assert_same_run(a: Trainer, b: Trainer) -> None:
    """Parameters, optimiser state, history and counters identical, bit for bit. The full-data
    evaluation may have run after different steps (it follows the calls, not the run): its
    columns must agree wherever both runs evaluated, and both must have evaluated the last."""
    assert np.array_equal(a.network.theta, b.network.theta)
    assert np.array_equal(a.network.theta_prev, b.network.theta_prev)
    assert a.step == b.step and a.epoch == b.epoch
    assert a.optimizer_state.keys() == b.optimizer_state.keys()
    for key, value in a.optimizer_state.items():
        assert np.array_equal(value, b.optimizer_state[key]), key
    for name in ("step", "batch_loss", *PER_LAYER):
        assert np.array_equal(a.history.column(name), b.history.column(name), equal_nan=True)
    both = a.history.column("evaluated") & b.history.column("evaluated")
    assert len(both) == 0 or both[-1]
    for name in EVALUATION:
        assert np.array_equal(
            a.history.column(name)[both], b.history.column(name)[both], equal_nan=True
        )
    assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy


def test_same_config_same_run() -> None:
    a, b = Trainer(CFG), Trainer(CFG)
    assert np.array_equal(a.network.theta, b.network.theta)
    a.train(13)
    b.train(13)
    assert_same_run(a, b)
    assert len(a.history) == 13


def test_different_seed_different_run() -> None:
    a, b = Trainer(CFG), Trainer(CFG.replace(seed=1))
    assert not np.array_equal(a.network.theta, b.network.theta)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"optimizer": OptimizerConfig("momentum")},
        {"l1": 0.001, "l2": 0.01, "grad_clip": 0.05},
        {"optimizer": OptimizerConfig("adamw")},
    ],
)
def test_staged_equals_fast_bit_for_bit(changes: dict[str, object]) -> None:
    """Nine steps crossing two epoch boundaries (4 steps per epoch, last batch of 1 row),
    driven through every staged entry point, against ``train(9)``."""
    cfg = CFG.replace(**changes)
    fast, staged = Trainer(cfg), Trainer(cfg)
    fast.train(9)
    # step 1: one stage at a time
    staged.advance()
    while staged.stage.kind != "update":
        staged.advance()
    # step 2: a whole phase at a time
    staged.forward(None)
    staged.compute_loss()
    staged.backward(None)
    staged.update()
    # step 3: backward finishes forward and loss first
    staged.forward(2)
    staged.backward(1)
    assert staged.stage == Stage("backward", staged.n_layers - 1)
    staged.update()
    # step 4: update alone runs the whole step
    staged.update()
    # step 5 starts staged and is completed by train (counts as one), then four fast steps
    staged.forward(1)
    staged.train(5)
    assert staged.step == 9
    assert_same_run(fast, staged)
    assert fast.epoch == staged.epoch == 2


def test_stage_order_within_a_step() -> None:
    t = Trainer(CFG)
    L = t.n_layers
    assert t.stage == Stage("idle")
    seen = []
    for _ in range(2 * L + 2):
        t.advance()
        seen.append(t.stage)
    assert seen == [
        *(Stage("forward", k) for k in range(L)),
        Stage("loss"),
        *(Stage("backward", k) for k in reversed(range(L))),
        Stage("update"),
    ]
    assert t.step == 1
    t.advance()
    assert t.stage == Stage("forward", 0) and t.step == 1


def test_staged_methods_only_move_forward_in_time() -> None:
    t = Trainer(CFG)
    L = t.n_layers
    t.forward(None)
    assert t.stage == Stage("forward", L - 1)
    t.backward(None)
    assert t.stage == Stage("backward", 0)
    assert t.step == 0
    t.compute_loss()  # the next loss is the next step's: completes step 1 first
    assert t.step == 1 and t.stage == Stage("loss")
    t.forward(1)  # step 2 is past its forward pass: complete it, then forward 0 of step 3
    assert t.step == 2 and t.stage == Stage("forward", 0)


def test_train_mid_step_counts_the_partial_step() -> None:
    t = Trainer(CFG)
    t.forward(2)
    t.train(3)
    assert t.step == 3 and t.stage == Stage("update")
    assert len(t.history) == 3


def test_data_order_does_not_depend_on_hyperparameters() -> None:
    a = Trainer(CFG)
    b = Trainer(CFG.replace(learning_rate=0.5, layers=CFG.layers[:1], init=CFG.init))
    b.set_hyperparameters(l2=0.1, optimizer_name="sgd")
    for _ in range(6):
        a.train(1)
        b.train(1)
        assert np.array_equal(a.trace().batch_indices, b.trace().batch_indices)


def test_minibatches_cover_each_epoch_exactly_once() -> None:
    t = Trainer(CFG)
    seen = []
    for _ in range(4):
        t.train(1)
        seen.append(t.trace().batch_indices)
    assert [len(s) for s in seen] == [8, 8, 8, 1]
    assert sorted(np.concatenate(seen).tolist()) == list(range(25))
    assert t.epoch == 1


def test_batch_larger_than_train_set_means_full_batch() -> None:
    t = Trainer(CFG.replace(batch_size=1000))
    assert t.batch_size == 25
    t.train(2)
    assert np.array_equal(t.trace().batch_indices, np.arange(25))
    assert t.epoch == 2


def test_changing_the_optimiser_resets_only_its_state() -> None:
    t = Trainer(CFG)
    t.train(3)
    theta = t.network.theta.copy()
    assert t.optimizer_state["t"] == 3
    t.set_hyperparameters(learning_rate=0.001)
    assert t.optimizer_state["t"] == 3
    t.set_hyperparameters(optimizer_name="momentum")
    assert t.optimizer_state == {}
    assert t.config.optimizer.params == {"momentum": 0.9}
    assert np.array_equal(t.network.theta, theta) and t.step == 3
    t.set_hyperparameters(optimizer_params={"momentum": 0.5})
    assert t.config.optimizer.params == {"momentum": 0.5}
    t.set_hyperparameters(optimizer_name="adam", optimizer_params={"beta1": 0.8})
    t.set_hyperparameters(optimizer_params={"eps": 1e-6})  # merged, beta1 stays
    assert t.config.optimizer.params == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-6}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer_name": "lbfgs"}, "optimizer.name"),
        ({"optimizer_params": {"beta9": 1.0}}, "optimizer"),
        ({"grad_clip": -2.0}, "grad_clip"),
    ],
)
def test_bad_hyperparameters_name_the_field(changes: dict[str, object], field: str) -> None:
    t = Trainer(CFG)
    with pytest.raises(ValueError, match=f"^{field}"):
        t.set_hyperparameters(**changes)  # type: ignore[arg-type]
    assert t.config == CFG


def test_reset_gives_the_initial_weights_back() -> None:
    t = Trainer(CFG)
    theta0 = t.network.theta.copy()
    t.train(5)
    t.forward(1)
    t.reset()
    assert np.array_equal(t.network.theta, theta0)
    assert t.step == 0 and t.stage == Stage("idle") and len(t.history) == 0
    t.train(5)
    u = Trainer(CFG)
    u.train(5)
    assert_same_run(t, u)


def test_layer_counts_must_be_positive() -> None:
    t = Trainer(CFG)
    with pytest.raises(ValueError, match=r"^layers: must be a positive integer"):
        t.forward(0)
    assert t.stage == Stage("idle")


def test_train_rejects_too_many_steps() -> None:
    t = Trainer(CFG)
    with pytest.raises(ValueError, match=r"^steps: must be an integer in 0\.\.10000"):
        t.train(10_001)
