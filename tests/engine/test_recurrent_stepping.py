"""Stepping through time: the recurrent program's order, determinism, and staged stepping equal
to fast stepping bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import InitConfig, OptimizerConfig
from engine.recurrent_history import EVALUATION, PER_BLOCK, PER_TIMESTEP, STEP_SCALARS
from engine.recurrent_trainer import RecurrentTrainer
from engine.stages import Stage, recurrent_program
from tests.engine.recurrent_helpers import recurrent_config

# 50 sequences → 25 train; batch 8 → batches of 8, 8, 8, 1 per epoch (a short last batch).
CFG = recurrent_config(length=6)


def assert_same_run(a: RecurrentTrainer, b: RecurrentTrainer) -> None:
    """Parameters, optimiser state, history and counters identical, bit for bit (the full-data
    evaluation follows the calls: compared where both runs evaluated)."""
    assert np.array_equal(a.network.theta, b.network.theta)
    assert np.array_equal(a.network.theta_prev, b.network.theta_prev)
    if a.stage.kind in ("backward", "update"):  # earlier in a step the buffer holds no news
        assert np.array_equal(a.network.grad, b.network.grad)
    assert a.step == b.step and a.epoch == b.epoch
    assert a.optimizer_state.keys() == b.optimizer_state.keys()
    for key, value in a.optimizer_state.items():
        assert np.array_equal(value, b.optimizer_state[key]), key
    for name in ("step", "batch_loss", *STEP_SCALARS, *PER_BLOCK, *PER_TIMESTEP):
        assert np.array_equal(a.history.column(name), b.history.column(name), equal_nan=True)
    both = a.history.column("evaluated") & b.history.column("evaluated")
    assert len(both) == 0 or both[-1]
    for name in EVALUATION:
        assert np.array_equal(
            a.history.column(name)[both], b.history.column(name)[both], equal_nan=True
        )
    assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy


@pytest.mark.parametrize(
    "changes",
    [
        {"cell": "lstm"},
        {"cell": "gru"},
        {"cell": "rnn", "activation": "relu"},
        {"cell": "lstm", "truncate": 2, "grad_clip": 0.05, "l1": 0.001, "l2": 0.01},
        {"cell": "gru", "optimizer": OptimizerConfig("momentum")},
    ],
    ids=["lstm", "gru", "rnn-relu", "lstm-truncated-clipped", "gru-momentum"],
)
@pytest.mark.parametrize("task", ["delay", "sine"])
def test_staged_equals_fast_bit_for_bit(changes: dict[str, object], task: str) -> None:
    """Nine steps crossing two epoch boundaries (4 steps per epoch, last batch of 1 sequence),
    driven through every staged entry point, against ``train(9)``. The sine task's head reads
    every step, the delay task's only the last."""
    cfg = recurrent_config(task=task, length=6).replace(**changes)
    fast, staged = RecurrentTrainer(cfg), RecurrentTrainer(cfg)
    fast.train(9)
    T = staged.n_timesteps
    # step 1: one timestep per press
    staged.advance()
    while staged.stage.kind != "update":
        staged.advance()
    # step 2: a whole phase at a time
    staged.forward(None)
    staged.compute_loss()
    staged.backward(None)
    staged.update()
    # step 3: backward finishes forward and loss first, then goes back 2 timesteps
    staged.forward(2)
    staged.backward(2)
    assert staged.stage == Stage("backward", timestep=T - 2)
    staged.update()
    # step 4: update alone runs the whole step
    staged.update()
    # step 5 starts staged and is completed by train (counts as one), then four fast steps
    staged.forward(3)
    staged.train(5)
    assert staged.step == 9
    assert_same_run(fast, staged)
    assert fast.epoch == staged.epoch == 2


def test_stage_order_within_a_step() -> None:
    t = RecurrentTrainer(CFG)
    T = t.n_timesteps
    assert t.stage == Stage("idle") and t.next_stage == Stage("forward", timestep=0)
    seen = []
    for _ in range(2 * T + 2):
        t.advance()
        seen.append(t.stage)
    assert seen == [
        *(Stage("forward", timestep=k) for k in range(T)),
        Stage("loss"),
        *(Stage("backward", timestep=k) for k in reversed(range(T))),
        Stage("update"),
    ]
    assert list(recurrent_program(T).stages) == seen
    assert t.step == 1
    t.advance()
    assert t.stage == Stage("forward", timestep=0) and t.step == 1


def test_staged_methods_only_move_forward_in_time() -> None:
    t = RecurrentTrainer(CFG)
    T = t.n_timesteps
    t.forward(None)
    assert t.stage == Stage("forward", timestep=T - 1)
    t.backward(None)
    assert t.stage == Stage("backward", timestep=0)
    assert t.step == 0
    t.compute_loss()  # the next loss is the next step's: completes step 1 first
    assert t.step == 1 and t.stage == Stage("loss")
    t.forward(1)  # step 2 is past its forward pass: complete it, then forward 0 of step 3
    assert t.step == 2 and t.stage == Stage("forward", timestep=0)
    state = t.state()
    assert state.cursor_timestep == 0 and state.next_stage == Stage("forward", timestep=1)


def test_train_mid_step_counts_the_partial_step() -> None:
    t = RecurrentTrainer(CFG)
    t.backward(3)
    t.train(3)
    assert t.step == 3 and t.stage == Stage("update")
    assert len(t.history) == 3


def test_same_config_same_run_and_reset_gives_it_back() -> None:
    a, b = RecurrentTrainer(CFG), RecurrentTrainer(CFG)
    theta0 = a.network.theta.copy()
    a.train(7)
    b.train(7)
    assert_same_run(a, b)
    a.forward(2)
    a.reset()
    assert np.array_equal(a.network.theta, theta0)
    assert a.step == 0 and a.stage == Stage("idle") and len(a.history) == 0
    a.train(7)
    assert_same_run(a, b)


def test_different_seed_different_weights_same_data() -> None:
    a, b = RecurrentTrainer(CFG), RecurrentTrainer(CFG.replace(seed=1))
    assert not np.array_equal(a.network.theta, b.network.theta)
    assert np.array_equal(a.dataset.x_train, b.dataset.x_train)


def test_the_data_order_does_not_depend_on_hyperparameters() -> None:
    a = RecurrentTrainer(CFG)
    b = RecurrentTrainer(CFG.replace(learning_rate=0.5, hidden=3, cell="gru"))
    b.set_hyperparameters(l2=0.1, optimizer_name="sgd", truncate=2)
    for _ in range(6):
        a.train(1)
        b.train(1)
        assert np.array_equal(a.trace().batch_indices, b.trace().batch_indices)


def test_truncation_changes_only_the_gradient_from_the_next_backward_on() -> None:
    """A live change: the same weights and batch, a gradient cut after k timesteps."""
    full, cut = RecurrentTrainer(CFG), RecurrentTrainer(CFG)
    cut.set_hyperparameters(truncate=2)
    full.backward(None)
    cut.backward(None)
    T = full.n_timesteps
    # The last-step head's gradient reaches t = T−1 and T−2 only; earlier timesteps get none.
    dh_full, dh_cut = full.trace().dh_norms(), cut.trace().dh_norms()
    assert np.array_equal(dh_full[T - 2 :], dh_cut[T - 2 :])
    assert np.all(dh_cut[: T - 2] == 0.0) and np.all(dh_full[: T - 2] > 0.0)
    assert cut.trace().reach is not None and cut.trace().reach.steps == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"truncate": 0}, "truncate"),
        ({"truncate": 7}, "truncate"),
        ({"optimizer_name": "lbfgs"}, "optimizer.name"),
        ({"grad_clip": -2.0}, "grad_clip"),
    ],
)
def test_bad_hyperparameters_name_the_field(changes: dict[str, object], field: str) -> None:
    t = RecurrentTrainer(CFG)
    with pytest.raises(ValueError, match=f"^{field}"):
        t.set_hyperparameters(**changes)  # type: ignore[arg-type]
    assert t.config == CFG


def test_timestep_counts_must_be_positive() -> None:
    t = RecurrentTrainer(CFG)
    with pytest.raises(ValueError, match=r"^timesteps: must be a positive integer"):
        t.forward(0)
    assert t.stage == Stage("idle")


def test_divergence_names_the_first_timestep_with_a_non_finite_state() -> None:
    """ReLU recurrence with huge weights: the state overflows to Inf a few timesteps in. The
    evaluation at step 0 finds it; so do the staged path (stage by stage) and the fast path
    (searching the program after the step), at the same timestep."""
    cfg = CFG.replace(
        cell="rnn",
        activation="relu",
        recurrent_init=InitConfig("orthogonal", 1e90),
        init=InitConfig("normal", 1e90),
    )
    staged, fast = RecurrentTrainer(cfg), RecurrentTrainer(cfg)
    found = staged.divergence
    assert found is not None and found.step == 0 and found.stage == "forward"
    staged.divergence = fast.divergence = None  # look again, along the step program
    staged.update()
    fast.train(1)
    assert staged.divergence is not None
    assert staged.divergence == fast.divergence
    assert staged.divergence.stage == "forward" and staged.divergence.layer is None
    # a factor of about 1e90 per step: |h_t| ≈ 1e90^(t+1) passes float64's 1.8e308 at t = 3
    assert staged.divergence.timestep == found.timestep == 3
