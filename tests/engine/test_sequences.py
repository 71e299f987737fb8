"""Sequence tasks: seeded, the shapes the recurrent pass reads, and targets that are what each
task says."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import SequenceConfig
from engine.sequences import DELAY_LOUDNESS, SEQUENCE_TASKS, head_targets, make_sequences


@pytest.mark.parametrize("name", list(SEQUENCE_TASKS))
def test_the_same_seed_gives_the_same_sequences(name: str) -> None:
    cfg = SequenceConfig(name=name, length=12, n_samples=40, seed=3)
    a, b = make_sequences(cfg), make_sequences(cfg)
    c = make_sequences(SequenceConfig(name=name, length=12, n_samples=40, seed=4))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test, True)
    assert not np.array_equal(a.x_train, c.x_train)
    spec = SEQUENCE_TASKS[name]
    assert a.x_train.shape == (20, 12, spec.n_inputs) and a.x_test.shape == (20, 12, spec.n_inputs)
    assert a.y_train.shape == (20, 12)
    # Every task scores the last step; only tasks with an "every" head define earlier targets.
    assert np.isfinite(a.y_train[:, -1]).all()
    assert np.isfinite(a.y_train[:, :-1]).all() == ("every" in spec.heads)


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.8])
def test_delay_asks_for_the_marked_bit_of_t0_through_distractors(noise: float) -> None:
    ds = make_sequences(SequenceConfig(name="delay", length=9, n_samples=200, noise=noise))
    x, y = ds.x_train, ds.y_train
    assert np.array_equal(y[:, -1], (x[:, 0, 0] > 0).astype(float))
    assert np.all(np.abs(x[:, 0, 0]) == 1.0) and np.all(x[:, 0, 1] == 1.0)
    assert np.all(x[:, 1:, 1] == 0.0)  # the marker only at t = 0
    assert np.all(np.abs(x[:, 1:, 0]) == DELAY_LOUDNESS * noise)
    if noise:  # both signs, independent of the bit
        assert 0.4 < np.mean(x[:, 1:, 0] > 0) < 0.6


def test_adding_marks_one_value_in_each_half_and_asks_for_their_sum() -> None:
    ds = make_sequences(SequenceConfig(name="adding", length=11, n_samples=100))
    x, y = ds.x_train, ds.y_train
    marks = x[:, :, 1]
    assert np.all(marks.sum(axis=1) == 2)
    assert np.all(marks[:, :6].sum(axis=1) == 1) and np.all(marks[:, 6:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, -1], (x[:, :, 0] * marks).sum(axis=1), rtol=1e-15)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))


def test_sine_asks_for_the_next_value() -> None:
    ds = make_sequences(SequenceConfig(name="sine", length=15, n_samples=30, noise=0.2))
    x, y = ds.x_train[:, :, 0], ds.y_train
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert np.all(np.abs(x) <= 1.2)


def test_parity_is_the_running_xor_of_the_bits() -> None:
    ds = make_sequences(SequenceConfig(name="parity", length=6, n_samples=64))
    bits = (ds.x_train[:, :, 0] > 0).astype(int)
    for t in range(6):
        assert np.array_equal(ds.y_train[:, t], bits[:, : t + 1].sum(axis=1) % 2)


def test_head_targets_are_time_first_for_every_step() -> None:
    y = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(head_targets(y, "last"), [[3.0], [7.0], [11.0]])
    every = head_targets(y, "every")
    assert every.shape == (4, 3, 1) and every[2, 1, 0] == y[1, 2]
