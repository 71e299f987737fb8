"""The recurrent binary export: bit for bit, for every cell, mid-step and after divergence;
a damaged blob is refused naming the problem."""

from __future__ import annotations

import pytest

from engine.config import OptimizerConfig, RecurrentConfig, SequenceConfig
from engine.errors import ConfigError
from engine.export_binary_recurrent import history_bytes, read_any, to_bytes
from engine.recurrent_trainer import RecurrentTrainer


def small(cell: str, **changes: object) -> RecurrentTrainer:
    config = RecurrentConfig(
        cell=cell, hidden=4, dataset=SequenceConfig(length=5, n_samples=40), batch_size=8
    )
    return RecurrentTrainer(config.replace(**changes))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_round_trip_mid_step_then_training_on_is_identical(cell: str) -> None:
    trainer = small(cell)
    trainer.train(3)
    trainer.forward(2)
    back = RecurrentTrainer.restore(read_any(to_bytes(trainer.snapshot())))
    assert back.export() == trainer.export()
    for t in (trainer, back):
        t.backward(None)
        t.train(2)
    assert back.export() == trainer.export()


def test_history_pieces_join_to_the_same_run() -> None:
    trainer = small("gru")
    trainer.train(5)
    blob = to_bytes(trainer.snapshot(), history=False)
    # The store's snapshot copies no rows, and writes the same bytes.
    assert to_bytes(trainer.snapshot(rows=False), history=False) == blob
    pieces = [history_bytes(trainer.history, 0, 2), history_bytes(trainer.history, 2)]
    back = RecurrentTrainer.restore(read_any(blob, None, pieces))
    assert back.export() == trainer.export()


def test_non_finite_values_after_divergence_keep_their_bits() -> None:
    # A linear RNN on a regression task with plain SGD at η = 100 diverges within steps.
    data = SequenceConfig(name="adding", length=5, n_samples=40)
    sgd = OptimizerConfig("sgd")
    trainer = small("rnn", activation="linear", dataset=data, learning_rate=100.0, optimizer=sgd)
    trainer.train(20)
    assert trainer.divergence is not None
    theta = trainer.network.theta
    back = RecurrentTrainer.restore(read_any(to_bytes(trainer.snapshot())))
    assert back.network.theta.tobytes() == theta.tobytes()  # NaN payloads included


def test_a_damaged_blob_is_refused_naming_the_problem() -> None:
    blob = to_bytes(small("lstm").snapshot())
    with pytest.raises(ConfigError, match="bytes follow"):
        read_any(blob + b"\0" * 8)
    with pytest.raises(ConfigError, match="cut short"):
        read_any(blob[:-8])
    with pytest.raises(ConfigError, match="wrong leading bytes"):
        read_any(b"XXXX" + blob[4:])
