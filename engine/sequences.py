"""Sequence tasks for recurrent networks, generated from a seed, small enough to train live.

Every generator is ``generate(n, length, noise, rng) -> (X, Y)`` with an explicit
``np.random.Generator``: the same seed gives the same sequences.

- ``X``: ``(n, T, F)`` float64 inputs, batch first (T = ``length`` timesteps, F features).
- ``Y``: ``(n, T)`` float64, ``Y[:, t]`` the target after reading ``x_0 … x_t``; NaN where the
  task defines no target at that step (the delay and adding tasks only score the last step).
  Binary tasks use 0.0/1.0 (one logit, binary cross-entropy); regression tasks a value (MSE).

A head on the last step learns ``Y[:, −1]``; a head on every step learns all of ``Y`` (only for
tasks that define a target at every step, see :attr:`SequenceTask.heads`).

=========  =====================================================================================
task       what it is
=========  =====================================================================================
delay      remember a bit: x_0 = (±1, 1) holds the bit and a marker, x_t = (±A, 0) for t ≥ 1
           are random distractors of loudness A = 10·noise (0: silence, 0.1: as loud as the
           bit); the target at the end is the bit seen at t = 0 (0/1). The length sets how
           far back the gradient must travel; loud distractors must be shut out, which a
           gate can do and a plain RNN, adding every input into its state, cannot.
adding     the adding problem (Hochreiter & Schmidhuber 1997): x_t = (u_t, m_t), u_t ~ U(0, 1),
           m_t = 1 at one random step in the first half and one in the second; the target
           at the end is the sum of the two marked values (predicting 1 scores MSE ≈ 1/12).
sine       next-step prediction of a noisy sine: s_t = sin(2π t / P + φ) + U(−1, 1)·noise,
           period P ~ U(8, 24) steps and phase φ ~ U(0, 2π) per sequence; x_t = s_t,
           target s_{t+1}.
parity     parity of a bit string: x_t = ±1 for bit b_t; the target after step t is
           (b_0 + … + b_t) mod 2 (the last step: the parity of the whole string).
=========  =====================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.config import SequenceConfig

FloatArray = NDArray[np.float64]
SequenceKind = Literal["binary", "regression"]
HeadMode = Literal["last", "every"]
HEAD_MODES: tuple[HeadMode, ...] = ("last", "every")
DELAY_LOUDNESS = 10.0  # delay task: distractors are ±10·noise (the bit itself is ±1)
GenerateFn = Callable[[int, int, float, np.random.Generator], tuple[FloatArray, FloatArray]]


@dataclass(frozen=True, slots=True)
class SequenceTask:
    """A built-in sequence task. ``heads`` lists the head modes it defines targets for, its
    default first; ``min_length`` is the shortest sequence it makes sense for."""

    name: str
    task: SequenceKind
    n_inputs: int
    heads: tuple[HeadMode, ...]
    min_length: int
    uses_noise: bool
    description: str
    generate: GenerateFn

    @property
    def n_classes(self) -> int:
        """2 for a binary task (one logit), 1 for regression."""
        return 2 if self.task == "binary" else 1


@dataclass(frozen=True, slots=True, eq=False)
class SequenceDataset:
    """Sequences split into train and test parts. x (n, T, F), y (n, T) as the module
    docstring describes; ``task`` is ``binary`` or ``regression``."""

    name: str
    task: SequenceKind
    n_classes: int
    n_inputs: int
    length: int
    x_train: FloatArray
    y_train: FloatArray
    x_test: FloatArray
    y_test: FloatArray

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])


# --- generators -------------------------------------------------------------------------------


def _bits(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    return rng.integers(0, 2, size=shape).astype(np.float64)


def delay(
    n: int, length: int, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """The bit seen at t = 0, asked for at t = T − 1, random distractor bits in between."""
    bits = _bits(rng, (n, length))
    X = np.zeros((n, length, 2))
    X[:, :, 0] = (2.0 * bits - 1.0) * (DELAY_LOUDNESS * noise)
    X[:, 0, 0] = 2.0 * bits[:, 0] - 1.0
    X[:, 0, 1] = 1.0
    Y = np.full((n, length), np.nan)
    Y[:, -1] = bits[:, 0]
    return X, Y


def adding(
    n: int, length: int, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Sum of the two marked values, one marker in each half of the sequence."""
    values = rng.uniform(0.0, 1.0, size=(n, length))
    half = math.ceil(length / 2)
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    rows = np.arange(n)
    X = np.zeros((n, length, 2))
    X[:, :, 0] = values
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    Y = np.full((n, length), np.nan)
    Y[:, -1] = values[rows, first] + values[rows, second]
    return X, Y


def sine(
    n: int, length: int, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Noisy sines, each with its own period and phase; the target is the next value."""
    period = rng.uniform(8.0, 24.0, size=(n, 1))
    phase = rng.uniform(0.0, 2.0 * math.pi, size=(n, 1))
    t = np.arange(length + 1)
    s = np.sin(2.0 * math.pi * t / period + phase)
    s += rng.uniform(-1.0, 1.0, size=s.shape) * noise
    return s[:, :-1, None].copy(), s[:, 1:].copy()


def parity(
    n: int, length: int, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Running parity of random bits."""
    bits = _bits(rng, (n, length))
    X = (2.0 * bits - 1.0)[:, :, None]
    Y = np.cumsum(bits, axis=1) % 2.0
    return X, Y


SEQUENCE_TASKS: dict[str, SequenceTask] = {
    s.name: s
    for s in (
        SequenceTask(
            "delay",
            "binary",
            2,
            ("last",),
            1,
            True,
            "remember the bit seen at t = 0 (marked) through T − 1 distractors of ±10·noise",
            delay,
        ),
        SequenceTask(
            "adding",
            "regression",
            2,
            ("last",),
            2,
            False,
            "the adding problem: the sum of the two marked values (Hochreiter & Schmidhuber)",
            adding,
        ),
        SequenceTask(
            "sine",
            "regression",
            1,
            ("every", "last"),
            1,
            True,
            "predict the next value of a noisy sine with a random period and phase",
            sine,
        ),
        SequenceTask(
            "parity",
            "binary",
            1,
            ("last", "every"),
            1,
            False,
            "the parity (XOR) of the bits read so far",
            parity,
        ),
    )
}


def make_sequences(cfg: SequenceConfig) -> SequenceDataset:
    """Generate ``cfg.n_samples`` sequences of ``cfg.length`` steps with
    ``rng = default_rng(cfg.seed)`` and split them by ``cfg.train_fraction`` (the sequences are
    independent draws, so the first ones train and the rest test). Ranges are checked by
    ``SequenceConfig.validate``; here only what makes generation impossible raises."""
    spec = SEQUENCE_TASKS.get(cfg.name)
    if spec is None:
        raise ConfigError(
            "dataset.name", f"unknown {cfg.name!r}; valid: {', '.join(SEQUENCE_TASKS)}"
        )
    n = int(cfg.n_samples)
    if n < 2:
        raise ConfigError("dataset.n_samples", f"need at least 2 sequences, got {n}")
    X, Y = spec.generate(n, int(cfg.length), float(cfg.noise), np.random.default_rng(cfg.seed))
    n_train = n_train_of(n, cfg.train_fraction)
    return SequenceDataset(
        spec.name,
        spec.task,
        spec.n_classes,
        spec.n_inputs,
        int(cfg.length),
        X[:n_train],
        Y[:n_train],
        X[n_train:],
        Y[n_train:],
    )


def n_train_of(n: int, train_fraction: float) -> int:
    """Training sequences of ``n``: at least one for training and one for testing."""
    return min(max(round(n * train_fraction), 1), n - 1)


def head_targets(y: FloatArray, head: HeadMode) -> FloatArray:
    """Targets as the loss sees them: last (n, T) → (n, 1); every (n, T) → (T, n, 1),
    time first like the recurrent pass."""
    if head == "last":
        return y[:, -1:].copy()
    return np.ascontiguousarray(y.T[:, :, None])
