"""Bounded work and memory for recurrent runs: history thinning, dropped step arrays, work and
memory estimates that cover what a run really holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import RecurrentConfig, SequenceConfig
from engine.cost import recurrent_run_bytes
from engine.recurrent_history import RecurrentHistory
from engine.recurrent_trainer import RecurrentTrainer
from tests.engine.recurrent_helpers import recurrent_config
from tests.engine.test_recurrent_stepping import assert_same_run

CFG = recurrent_config(length=6, cell="lstm")


def test_history_thinning_keeps_every_column_aligned() -> None:
    h = RecurrentHistory(3, capacity=4, max_rows=8)
    for k in range(1, 30):
        h.append(
            k, float(k), None, 10.0 * k, k % 2 == 0, np.full(3, k), np.full(3, -k), np.full(3, k)
        )
    steps = h.column("step")
    assert len(h) <= 8 and steps[-1] == 29 and np.all(np.diff(steps) > 0)
    for name in ("batch_loss", "dh_norm", "weight_grad_norm"):
        column = h.column(name)
        assert np.array_equal(column.reshape(len(h), -1)[:, 0], steps), name
    assert np.array_equal(h.column("grad_norm"), 10.0 * steps)
    assert np.array_equal(h.column("clipped"), (steps % 2 == 0).astype(float))
    back = RecurrentHistory.from_dict(json.loads(json.dumps(h.to_dict())))
    assert np.array_equal(back.column("dh_norm"), h.column("dh_norm"))
    view = h.since(20, max_points=3)
    assert view.step[-1] == 29 and view.step.size == 3 and view.dh_norm.shape == (3, 3)


@pytest.mark.parametrize("sample", [0, 3])
def test_dropped_step_arrays_are_recomputed_bit_for_bit(sample: int) -> None:
    kept, dropped = RecurrentTrainer(CFG), RecurrentTrainer(CFG)
    dropped.keep_array_bytes = 0
    for t in (kept, dropped):
        t.train(3)
    assert dropped._record is not None and dropped._record.arrays_dropped
    a, b = kept.trace(sample), dropped.trace(sample)
    for sa, sb in zip(a.timesteps, b.timesteps, strict=True):
        for name in ("h", "c", "dh", "dz"):
            assert np.array_equal(getattr(sa, name), getattr(sb, name)), name
        assert sa.jacobian_norm == sb.jacobian_norm
    assert a.grads is not None and b.grads is not None
    assert all(np.array_equal(a.grads[k], b.grads[k]) for k in a.grads)
    assert np.array_equal(kept.contribution(2).dW_hh, dropped.contribution(2).dW_hh)
    assert json.dumps(kept.export()) == json.dumps(dropped.export())
    assert dropped.memory_bytes() < kept.memory_bytes()
    for t in (kept, dropped):
        t.forward(None)
        t.backward(1)
        t.train(3)
    assert_same_run(kept, dropped)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("task", ["delay", "sine"])
def test_the_step_record_estimate_covers_a_whole_staged_step(cell: str, task: str) -> None:
    t = RecurrentTrainer(recurrent_config(task=task, length=9, cell=cell, batch_size=16))
    t.backward(None)
    estimate = t.cost.shape.bytes_per_step_record(t.batch_size)
    assert 0 < t.step_array_bytes <= estimate < 1.25 * t.step_array_bytes


def test_the_run_estimate_covers_a_run_with_a_full_history() -> None:
    cfg = RecurrentConfig(
        dataset=SequenceConfig(name="sine", length=30, n_samples=300), hidden=32, batch_size=64
    )
    t = RecurrentTrainer(cfg)
    t.history = RecurrentHistory(30, capacity=10_000)  # as large as a history may grow
    t.train(1)
    t.forward(None)
    t.backward(None)
    shape = t.cost.shape
    assert t.memory_bytes() <= recurrent_run_bytes(shape, 300, t.batch_size)


def test_work_estimates_grow_with_the_work() -> None:
    base = RecurrentTrainer(CFG).cost
    longer = RecurrentTrainer(CFG.replace(dataset=SequenceConfig(length=30, n_samples=50))).cost
    wider = RecurrentTrainer(CFG.replace(hidden=40)).cost
    rnn = RecurrentTrainer(CFG.replace(cell="rnn")).cost
    for bigger in (longer, wider):
        assert bigger.step_seconds > base.step_seconds
        assert bigger.evaluation_seconds > base.evaluation_seconds
        assert bigger.shape.trace_seconds(8) > base.shape.trace_seconds(8)
    assert rnn.train_seconds < base.train_seconds  # one gate block instead of four
    assert base.gradcheck_seconds(100) > base.gradcheck_seconds(10)
    n = base.steps_within(0.5)
    assert base.steps_seconds(n) <= 0.5 < base.steps_seconds(n + 1)
    with pytest.raises(ValueError, match=r"^grid"):
        base.grid_seconds(16)


def test_training_stops_between_steps_when_asked() -> None:
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 3

    t = RecurrentTrainer(CFG)
    assert t.train(10, should_stop=stop) == 3
    assert t.train(2) == 2
    reference = RecurrentTrainer(CFG)
    reference.train(5)
    assert_same_run(reference, t)
