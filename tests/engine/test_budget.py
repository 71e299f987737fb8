"""Bounded work and memory: interruptible training, dropped step arrays, work estimates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import NetworkConfig
from engine.trainer import Trainer
from tests.engine.helpers import config
from tests.engine.test_stepping import assert_same_run

CFG = config(n_samples=60, batch_size=8, layers=((6, "tanh"), (5, "relu")))


def test_training_stops_between_steps_when_asked() -> None:
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 3

    t = Trainer(CFG)
    assert t.train(10, should_stop=stop) == 3  # asked before steps 2, 3 and 4
    assert t.step == 3 and t.stage.kind == "update" and len(t.history) == 3
    assert t.train(2) == 2
    reference = Trainer(CFG)
    reference.train(5)
    assert_same_run(reference, t)  # an interrupted run continues as if never interrupted


def test_an_interrupted_staged_step_is_finished_first() -> None:
    t = Trainer(CFG)
    t.forward(1)
    assert t.train(5, should_stop=lambda: True) == 1  # the step in progress, nothing more
    assert t.step == 1 and t.stage.kind == "update"


@pytest.mark.parametrize("sample", [0, 3])
def test_dropped_step_arrays_are_recomputed_bit_for_bit(sample: int) -> None:
    """A large finished step keeps only its batch; every read recomputes the same numbers."""
    kept, dropped = Trainer(CFG), Trainer(CFG)
    dropped.keep_layer_bytes = 0
    for t in (kept, dropped):
        t.train(4)
    assert dropped._record is not None and dropped._record.layers_dropped
    assert not kept._record.layers_dropped  # type: ignore[union-attr]
    a, b = kept.trace(sample), dropped.trace(sample)
    for la, lb in zip(a.layers, b.layers, strict=True):
        for name in ("W", "b", "z", "a", "da", "dz", "dW", "db", "dW_update"):
            assert np.array_equal(getattr(la, name), getattr(lb, name)), name
    assert a.loss == b.loss
    assert kept.chain(1, 2, 3, sample) == dropped.chain(1, 2, 3, sample)
    assert json.dumps(kept.export()) == json.dumps(dropped.export())
    assert dropped.memory_bytes() < kept.memory_bytes()
    for t in (kept, dropped):  # and both go on identically, staged and fast
        t.forward(None)
        t.backward(1)
        t.train(3)
    assert_same_run(kept, dropped)


def test_a_large_finished_step_holds_no_batch_sized_arrays() -> None:
    big = NetworkConfig.from_dict(
        {
            "dataset": {"name": "circle", "n_samples": 2000},
            "layers": [{"units": 64, "activation": "tanh"}] * 6,
            "batch_size": 2000,
        }
    )
    t = Trainer(big)
    fresh = t.memory_bytes()
    t.train(1)
    after_step = t.memory_bytes()
    t.forward(None)
    staged = t.memory_bytes()
    layer_values = 1000 * 64 * 6  # one batch of 1000 training rows through six layers
    assert after_step - fresh < 8 * layer_values  # less than one batch-sized array
    assert staged - fresh > 2 * 8 * layer_values  # a staged step keeps z and a: it must


def test_work_estimates_grow_with_the_work() -> None:
    small = Trainer(CFG).cost
    wide = Trainer(CFG.replace(layers=CFG.layers * 3)).cost
    batch = Trainer(CFG.replace(batch_size=30)).cost
    assert wide.step_seconds > small.step_seconds
    assert batch.step_seconds > small.step_seconds
    assert small.grid_seconds(64) > small.grid_seconds(16)
    assert small.gradcheck_seconds(100) > small.gradcheck_seconds(10)
    budget = 0.5
    n = small.steps_within(budget)
    assert small.steps_seconds(n) <= budget < small.steps_seconds(n + 1)
