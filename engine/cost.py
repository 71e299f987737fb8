"""Work estimates: how long engine work will take, known before it starts.

A server shared by a class must refuse or split work that would hold a core for minutes, and
it must know that *before* the work runs. These estimates count what the work does — the
multiply-adds of the matrix products, the values each activation function touches, a fixed
interpreter overhead per stage — and turn the counts into seconds with constants measured on
the reference machine (one core of the 2-core class of machine our benchmarks run on;
``python -m benchmarks.cost_bench`` prints estimate against measurement). They are estimates:
good to a factor of about two, which is what a budget needs, never shown as a measurement.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

# Seconds per unit of work on the reference machine.
STEP_OVERHEAD = 40e-6  # a step's bookkeeping: batch, history row, update of the flat vector
STAGE_OVERHEAD = 6e-6  # one stage (forward or backward through one layer): calls, small arrays
MULTIPLY_ADD = 0.04e-9  # one multiply-add inside a matrix product (BLAS, one thread)
ELEMENT = 0.5e-9  # one elementwise operation on one value (adds, products, copies)
GRID_OVERHEAD = 300e-6  # laying out a grid, its features, the per-neuron copies' setup
BUILD_OVERHEAD = 150e-6  # making a run: its data, network, optimiser state, batches
# f(z) and f′(z) together, per value, by activation (transcendental ones cost more).
ACTIVATION = {
    "linear": 0.3e-9,
    "relu": 1.5e-9,
    "tanh": 3e-9,
    "sigmoid": 4e-9,
    "swish": 6e-9,
    "leaky_relu": 10e-9,
    "elu": 14e-9,
    "gelu": 18e-9,
    "sine": 20e-9,
    "softplus": 22e-9,
}
SLOWEST_ACTIVATION = max(ACTIVATION.values())


@dataclass(frozen=True, slots=True)
class NetworkShape:
    """What the cost of a network depends on: layer sizes ``[F, h_1, …, K]`` and the
    activation of each weight layer (the output layer's is ``linear``)."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of one row through every layer (Σ n_in·n_out)."""
        return sum(a * b for a, b in itertools.pairwise(self.sizes))

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in itertools.pairwise(self.sizes))

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _activation_seconds(self, rows: int, share: float = 1.0) -> float:
        """f and f′ over ``rows`` rows (``share`` 0.5: f alone, as a forward pass needs)."""
        per_row = sum(
            n * ACTIVATION.get(act, SLOWEST_ACTIVATION)
            for n, act in zip(self.sizes[1:], self.activations, strict=True)
        )
        return rows * per_row * share

    def forward_seconds(self, rows: int) -> float:
        """One forward pass over ``rows`` rows (caches dropped): evaluation, grids."""
        units = sum(self.sizes[1:])
        return (
            self.n_layers * STAGE_OVERHEAD
            + rows * self.multiply_adds * MULTIPLY_ADD
            + rows * units * 2 * ELEMENT
            + self._activation_seconds(rows, 0.5)
        )

    def step_seconds(self, batch: int) -> float:
        """Forward, loss, backward and update on a minibatch of ``batch`` rows: three matrix
        products per layer (z, dW, da_prev) and a few elementwise passes per value."""
        units = sum(self.sizes[1:])
        return (
            STEP_OVERHEAD
            + (2 * self.n_layers + 1) * STAGE_OVERHEAD
            + 3 * batch * self.multiply_adds * MULTIPLY_ADD
            + 6 * batch * units * ELEMENT
            + self._activation_seconds(batch)
            + 8 * self.n_params * ELEMENT
        )

    def bytes_per_step_record(self, batch: int) -> int:
        """Bytes the arrays of one step in progress hold: z, a, f′, dz and da per layer."""
        return 8 * 5 * batch * sum(self.sizes[1:]) + 8 * batch * self.sizes[0]


class CostShape(Protocol):
    """What a model's shape must answer for :class:`TrainingCost` to budget its work."""

    def step_seconds(self, batch: int) -> float: ...
    def forward_seconds(self, rows: int) -> float: ...
    def bytes_per_step_record(self, batch: int) -> int: ...


ShapeT = TypeVar("ShapeT", bound=CostShape)


@dataclass(frozen=True, slots=True)
class TrainingCost(Generic[ShapeT]):
    """The cost of the work a trainer does, per unit.

    Fast training evaluates the full data every :attr:`evaluation_interval` steps and after
    the last step of every call (see ``Trainer.train``); the costs of training below count
    those evaluations. The per-step figures are worked out once, when the object is made
    (a request asks for them several times; see :func:`training_cost`).
    """

    shape: ShapeT  # a NetworkShape or a RecurrentCostShape
    batch: int  # effective batch size
    n_eval: int  # rows of the full-data evaluation (train + test)
    # One training step without the evaluation.
    train_seconds: float = field(init=False)
    # Loss and accuracy on the full training and test sets.
    evaluation_seconds: float = field(init=False)
    # Steps between full-data evaluations: the fewest that keep the evaluation at most a
    # quarter of training (so at most a fifth of the total), 1 when it is cheap.
    evaluation_interval: int = field(init=False)
    # One step of fast training, its share of the evaluations included.
    step_seconds: float = field(init=False)

    def __post_init__(self) -> None:
        train = self.shape.step_seconds(self.batch)
        evaluation = self.shape.forward_seconds(self.n_eval)
        interval = max(1, math.ceil(evaluation / (0.25 * train)))
        object.__setattr__(self, "train_seconds", train)
        object.__setattr__(self, "evaluation_seconds", evaluation)
        object.__setattr__(self, "evaluation_interval", interval)
        object.__setattr__(self, "step_seconds", train + evaluation / interval)

    def steps_seconds(self, steps: int) -> float:
        """``steps`` steps in one call: every interval's evaluation and the one at the end."""
        evaluations = steps // self.evaluation_interval + 1
        return steps * self.train_seconds + evaluations * self.evaluation_seconds

    def steps_within(self, seconds: float) -> int:
        """How many whole steps one call can run in ``seconds`` (at least 0)."""
        n = max(int((seconds - self.evaluation_seconds) / self.step_seconds), 0)
        while n > 0 and self.steps_seconds(n) > seconds:
            n -= 1
        return n

    @property
    def build_seconds(self) -> float:
        """Making the run (data, network, optimiser state) and its first evaluation: about
        one step's work besides the setup (measured 1.0–1.5 steps, default to largest)."""
        return BUILD_OVERHEAD + self.steps_seconds(1)

    def gradcheck_seconds(self, entries: int) -> float:
        """Central differences: two forward passes of the batch per checked entry."""
        return self.shape.step_seconds(self.batch) + 2 * entries * self.shape.forward_seconds(
            self.batch
        )

    def grid_seconds(self, grid: int, one_dimensional: bool = False) -> float:
        """The network over a G×G grid (G points for 1-D data), every neuron's map copied out."""
        if not isinstance(self.shape, NetworkShape):
            raise ValueError("grid: only a dense network draws a grid")
        points = grid if one_dimensional else grid * grid
        hidden = sum(self.shape.sizes[1:-1])
        return GRID_OVERHEAD + self.shape.forward_seconds(points) + points * hidden * 4 * ELEMENT


@functools.lru_cache(maxsize=1024)
def training_cost(shape: ShapeT, batch: int, n_eval: int) -> TrainingCost[ShapeT]:
    """The :class:`TrainingCost` of ``shape`` at ``batch`` over ``n_eval`` rows, remembered:
    every request asks for it (to pick a lane, to size chunks), and a run keeps its shape."""
    return TrainingCost(shape, batch, n_eval)


def shape_of(n_features: int, hidden: Sequence[tuple[int, str]], outputs: int) -> NetworkShape:
    """A shape from the input width, the hidden layers (units, activation) and the outputs."""
    sizes = (n_features, *(units for units, _ in hidden), outputs)
    return NetworkShape(sizes, (*(act for _, act in hidden), "linear"))


def run_bytes(shape: NetworkShape, n_samples: int, batch: int, optimizer_arrays: int = 2) -> int:
    """Bytes a run of this shape holds at most: parameters and their buffers (θ, gradient,
    previous θ, decay mask, Δθ, optimiser arrays), the data in its forms (raw, features,
    targets; train and test), a full history and a staged step in progress at ``batch``."""
    params = 8 * shape.n_params * (5 + optimizer_arrays)
    row = shape.sizes[0] + shape.sizes[-1] + 4  # features, targets, raw x/y, label
    data = 8 * n_samples * row * 3
    history = 8 * 10_000 * (6 + 3 * shape.n_layers)
    return params + data + history + shape.bytes_per_step_record(batch)


# --- recurrent networks ---------------------------------------------------------------------------

# Per timestep and cell kind, measured like the constants above (``python -m
# benchmarks.rnn_bench --cost`` prints estimate against measurement): the interpreter's share
# of one timestep forward and backward (and of the forward alone), and the elementwise passes
# over the (B, H) values that the cell's formulas make (gates, their slopes, the states).
TIMESTEP_OVERHEAD = {"rnn": 18e-6, "gru": 55e-6, "lstm": 55e-6}
FORWARD_TIMESTEP_OVERHEAD = {"rnn": 8e-6, "gru": 10e-6, "lstm": 8e-6}
CELL_ELEMENTS = {"rnn": 18, "gru": 80, "lstm": 120}
FORWARD_CELL_ELEMENTS = {"rnn": 6, "gru": 18, "lstm": 40}
CELL_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}
# A trace's state Jacobians, per timestep: calls and small arrays, and per S³ for an S×S
# state (the basis backward pass, one matrix product and two singular-value computations).
JACOBIAN_OVERHEAD = {"rnn": 60e-6, "gru": 150e-6, "lstm": 200e-6}
JACOBIAN_CUBE = 1.5e-9
# A step record's values per sequence and timestep: (rows of F + H, values of H), counted from
# the caches and gradients of engine.recurrent_cells (rnn: [x, h], z, h, dz, ∂h_{t−1}, ∂h_t).
CELL_RECORD_VALUES = {"rnn": (1, 5), "gru": (2, 9), "lstm": (1, 15)}


@dataclass(frozen=True, slots=True)
class RecurrentCostShape:
    """What the cost of a recurrent network depends on: its cell, F inputs, H hidden units,
    K outputs, T timesteps and whether the head reads every step. It answers the same
    questions as :class:`NetworkShape`, so :class:`TrainingCost` budgets both."""

    cell: str
    n_inputs: int
    hidden: int
    n_outputs: int
    length: int
    every_step: bool

    @property
    def gates(self) -> int:
        return CELL_BLOCKS[self.cell] * self.hidden

    @property
    def n_params(self) -> int:
        F, H, G, K = self.n_inputs, self.hidden, self.gates, self.n_outputs
        return (F + H) * G + G + H * K + K

    @property
    def block_sizes(self) -> dict[str, int]:
        """Entries of each parameter block (what a gradient check may check)."""
        F, H, G, K = self.n_inputs, self.hidden, self.gates, self.n_outputs
        return {"W_xh": F * G, "W_hh": H * G, "b_h": G, "W_hy": H * K, "b_y": K}

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of one sequence through the cell at every step (the head apart)."""
        return self.length * (self.n_inputs + self.hidden) * self.gates

    @property
    def head_steps(self) -> int:
        return self.length if self.every_step else 1

    def forward_seconds(self, rows: int) -> float:
        """One forward pass over ``rows`` sequences (caches dropped): the evaluation."""
        T, H = self.length, self.hidden
        return (
            T * FORWARD_TIMESTEP_OVERHEAD[self.cell]
            + rows * self.multiply_adds * MULTIPLY_ADD
            + rows * T * H * (FORWARD_CELL_ELEMENTS[self.cell] + 2) * ELEMENT
            + self.head_steps * (STAGE_OVERHEAD + rows * H * self.n_outputs * MULTIPLY_ADD)
        )

    def step_seconds(self, batch: int) -> float:
        """Forward through T timesteps, the loss, backward through T timesteps and the update
        on ``batch`` sequences: three matrix products per timestep (the gates, the weights'
        term, the gradient sent back) and the cell's elementwise passes."""
        T, H = self.length, self.hidden
        return (
            STEP_OVERHEAD
            + T * TIMESTEP_OVERHEAD[self.cell]
            + 3 * batch * self.multiply_adds * MULTIPLY_ADD
            + batch * T * H * (CELL_ELEMENTS[self.cell] + 4) * ELEMENT
            + self.head_steps * (3 * STAGE_OVERHEAD + 3 * batch * H * self.n_outputs * MULTIPLY_ADD)
            + 8 * self.n_params * ELEMENT
        )

    def trace_seconds(self, batch: int) -> float:
        """A full trace of a step (``RecurrentTrainer.trace``): at most a replay of the step,
        and per timestep one sequence's state Jacobian (a backward pass on S basis vectors,
        S = H or 2H for an LSTM), a product of two S×S matrices and two spectral norms."""
        S = 2 * self.hidden if self.cell == "lstm" else self.hidden
        per_timestep = JACOBIAN_OVERHEAD[self.cell] + S**3 * JACOBIAN_CUBE
        return self.step_seconds(batch) + self.length * per_timestep

    def bytes_per_step_record(self, batch: int) -> int:
        """Bytes the arrays of one step in progress hold: per timestep the cell's cache (its
        [x, h] rows, gates and states) and gradients (dz, ∂L/∂h, ∂L/∂c), per head step the
        head's logits and gradients."""
        F, H, K = self.n_inputs, self.hidden, self.n_outputs
        rows, values = CELL_RECORD_VALUES[self.cell]
        per_step = batch * (rows * (F + H) + values * H)
        per_head = batch * (3 * K + H) + H * K + K
        return 8 * (self.length * per_step + self.head_steps * per_head)


def recurrent_run_bytes(
    shape: RecurrentCostShape, n_sequences: int, batch: int, optimizer_arrays: int = 2
) -> int:
    """Bytes a recurrent run of this shape holds at most: parameters and their buffers, the
    sequences (inputs and targets, train and test, and the stacked evaluation copy), a full
    history (with its per-timestep column) and a staged step in progress at ``batch``."""
    params = 8 * shape.n_params * (5 + optimizer_arrays)
    data = 8 * n_sequences * shape.length * (shape.n_inputs + 1) * 2
    history = 8 * 10_000 * (14 + shape.length)  # 13 values a row, a step flag, ‖∂L/∂h_t‖ × T
    batch_arrays = 8 * batch * shape.length * (shape.n_inputs + shape.n_outputs + 1)
    return params + data + history + batch_arrays + shape.bytes_per_step_record(batch)
