"""Small builders shared by the recurrent engine tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine.config import InitConfig, OptimizerConfig, RecurrentConfig, SequenceConfig
from engine.losses import OutputHead
from engine.recurrent import RecurrentNetwork, RecurrentShape, init_recurrent_weights

FloatArray = NDArray[np.float64]

# Every cell and, for the rnn cell, every recurrence.
CELL_KINDS = {
    "rnn-tanh": ("rnn", "tanh"),
    "rnn-relu": ("rnn", "relu"),
    "rnn-linear": ("rnn", "linear"),
    "gru": ("gru", "tanh"),
    "lstm": ("lstm", "tanh"),
}


def small_net(
    cell: str,
    activation: str,
    head: OutputHead,
    head_mode: str = "last",
    n_inputs: int = 2,
    hidden: int = 4,
    length: int = 6,
    seed: int = 0,
) -> RecurrentNetwork:
    """A small recurrent network with normal(0.5) input and recurrent weights: gradients of
    every block stay within a few orders of magnitude over the sequence, so relative errors
    are meaningful."""
    shape = RecurrentShape(cell, n_inputs, hidden, head.units, length, head_mode)
    net = RecurrentNetwork(shape, activation, head)
    net.theta[...] = init_recurrent_weights(
        shape, np.random.default_rng([seed, 7]), "normal", 0.5, "normal", 0.5, 1.0
    )
    # Non-zero biases, so that their gradients are checked away from a special point.
    rng = np.random.default_rng([seed, 8])
    net.b_h[...] += rng.normal(0.0, 0.1, net.b_h.shape)
    net.b_y[...] = rng.normal(0.0, 0.1, net.b_y.shape)
    np.copyto(net.theta_prev, net.theta)
    return net


def recurrent_config(
    task: str = "delay",
    length: int = 6,
    cell: str = "lstm",
    n_samples: int = 50,
    **changes: object,
) -> RecurrentConfig:
    """A small recurrent config; other fields via ``changes``."""
    cfg = RecurrentConfig(
        dataset=SequenceConfig(name=task, length=length, n_samples=n_samples),
        cell=cell,
        hidden=5,
        batch_size=8,
        init=InitConfig("xavier_uniform"),
        optimizer=OptimizerConfig("adam"),
    )
    return cfg.replace(**changes)
