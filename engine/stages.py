"""The step program: the stages of one training step, in order, and ``run_stage``.

One step of a dense network is ``forward 0, …, forward L−1, loss, backward L−1, …,
backward 0, update``. That order is written down once, in :func:`dense_program`. Staged
stepping, the fast path, the replay of an imported step and the search for where training
diverged all walk it with :func:`run_stage`, so they perform identical arithmetic and give
bit-identical parameters. A new model kind brings its own program (its own stage sequence and
its own layer pair) and reuses everything else here: a recurrent network steps through time
with :func:`recurrent_program` (``forward t = 0 … T−1, loss, backward t = T−1 … 0, update``),
its stages run by :func:`engine.recurrent_stages.run_recurrent_stage`, and its update is this
module's :func:`apply_update`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.layers import DenseCache, DenseGrads, dense_backward, dense_forward
from engine.losses import LOSSES
from engine.network import Network
from engine.optimizers import OPTIMIZERS, OptimizerState

FloatArray = NDArray[np.float64]
StageKind = Literal["idle", "forward", "loss", "backward", "update"]


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage of the step program: for forward/backward, ``layer`` (a dense network's weight
    layer) or ``timestep`` (a recurrent network's t); both None for the other kinds.

    As the trainer's position it names the last *completed* stage: ``idle`` = nothing
    computed yet (step 0, after reset). After ``update`` the step is complete and its arrays
    stay visible until the next stage starts a new step.
    """

    kind: StageKind
    layer: int | None = None
    timestep: int | None = None


IDLE = Stage("idle")


class StepProgram:
    """The stages of one step, in the order they run (``idle`` is never one of them)."""

    __slots__ = ("_position", "stages")

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self._position = {stage: k for k, stage in enumerate(stages)}

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def last(self) -> Stage:
        return self.stages[-1]

    def __contains__(self, stage: object) -> bool:
        return stage in self._position

    def after(self, stage: Stage) -> Stage:
        """The stage that runs next once ``stage`` is complete (after idle or the last
        stage: the first stage of a new step)."""
        if stage == IDLE or stage == self.last:
            return self.first
        return self.stages[self._position[stage] + 1]

    def through(self, stage: Stage) -> tuple[Stage, ...]:
        """The stages from the start of a step up to and including ``stage``."""
        return self.stages[: self._position[stage] + 1]


@lru_cache(maxsize=128)
def dense_program(n_layers: int) -> StepProgram:
    """``forward 0 … forward L−1, loss, backward L−1 … backward 0, update``."""
    return StepProgram(
        (
            *(Stage("forward", layer) for layer in range(n_layers)),
            Stage("loss"),
            *(Stage("backward", layer) for layer in range(n_layers - 1, -1, -1)),
            Stage("update"),
        )
    )


@lru_cache(maxsize=128)
def recurrent_program(n_timesteps: int) -> StepProgram:
    """``forward t = 0 … T−1, loss, backward t = T−1 … 0, update``: backprop through time,
    one timestep per stage (the output head runs inside the timesteps it reads)."""
    return StepProgram(
        (
            *(Stage("forward", timestep=t) for t in range(n_timesteps)),
            Stage("loss"),
            *(Stage("backward", timestep=t) for t in range(n_timesteps - 1, -1, -1)),
            Stage("update"),
        )
    )


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where the first non-finite number appeared.

    ``step`` is the 0-based index of the step in progress (= completed updates before it);
    ``layer`` is the weight layer (None for the loss). A non-finite value that first shows
    up when evaluating the full data after update k is reported as (k, "forward", layer).
    A recurrent run names the ``timestep`` instead (layer None; for the update, None too).
    """

    step: int
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None
    timestep: int | None = None


@dataclass(slots=True)
class StepRecord:
    """Everything computed so far in one step. Shapes: x (B, F), y (B,), targets (B, K)."""

    indices: NDArray[np.intp]
    x: FloatArray
    y: FloatArray
    targets: FloatArray
    caches: list[DenseCache | None]
    grads: list[DenseGrads | None]
    da: list[FloatArray | None]  # ∂L/∂a_l, the upstream gradient into each layer's output
    loss: float | None = None
    regularization_loss: float = 0.0
    dlogits: FloatArray | None = None
    delta: FloatArray | None = None  # Δθ of this step's update (P,)
    update_grad: FloatArray | None = None  # g the optimiser was given (regularised, clipped)
    state_before: OptimizerState | None = None  # the optimiser state before this update
    settings: UpdateSettings | None = None  # the hyperparameters this update used
    grad_norm_total: float | None = None  # global gradient norm (computed when clipping is on)
    clipped: bool = False  # whether that norm exceeded grad_clip and the gradient was scaled
    layers_dropped: bool = False  # per-layer arrays dropped to save memory (see below)

    @classmethod
    def start(
        cls, n_layers: int, indices: NDArray[np.intp], x: FloatArray, y: FloatArray, t: FloatArray
    ) -> StepRecord:
        return cls(indices, x, y, t, [None] * n_layers, [None] * n_layers, [None] * n_layers)

    def logits(self) -> FloatArray | None:
        last = self.caches[-1]
        return None if last is None else last.a

    @property
    def layer_bytes(self) -> int:
        """Bytes held by the per-layer arrays (z, a, f′, dz, da of every layer)."""
        total = 0
        for c, g, da in zip(self.caches, self.grads, self.da, strict=True):
            total += 0 if c is None else c.z.nbytes + c.a.nbytes
            total += 0 if g is None else g.fprime.nbytes + g.dz.nbytes
            total += 0 if da is None else da.nbytes
        return total

    def without_layer_arrays(self) -> StepRecord:
        """This record with its per-layer arrays dropped (the batch, the loss and the update
        kept): what a large finished step keeps in memory; :attr:`layers_dropped` tells
        readers to recompute the arrays by replaying the step."""
        n = len(self.caches)
        light = StepRecord(
            self.indices, self.x, self.y, self.targets, [None] * n, [None] * n, [None] * n
        )
        light.loss, light.regularization_loss = self.loss, self.regularization_loss
        light.update_grad, light.state_before = self.update_grad, self.state_before
        light.settings = self.settings
        light.delta, light.grad_norm_total, light.clipped = (
            self.delta,
            self.grad_norm_total,
            self.clipped,
        )
        light.layers_dropped = True
        return light


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """The hyperparameters that act at the update stage."""

    optimizer: str
    learning_rate: float
    params: Mapping[str, float]
    l1: float = 0.0
    l2: float = 0.0
    grad_clip: float | None = None


# --- the stages of a dense network --------------------------------------------------------------


def forward_layer(net: Network, rec: StepRecord, layer: int) -> None:
    """Forward through weight layer ``layer`` (its input: the batch or the previous a)."""
    prev = rec.caches[layer - 1] if layer > 0 else None
    x = rec.x if prev is None else prev.a
    _, cache = dense_forward(x, net.weights[layer], net.biases[layer], net.activations[layer])
    rec.caches[layer] = cache


def compute_loss(net: Network, rec: StepRecord, l1: float, l2: float) -> None:
    """Batch data loss and ∂L/∂logits (B, K); the regularisation loss separately."""
    logits = rec.logits()
    assert logits is not None, "forward pass incomplete"
    loss, dlogits = LOSSES[net.head.loss].fn(logits, rec.targets, net.head.head)
    rec.loss, rec.dlogits = loss, dlogits
    rec.da[-1] = dlogits
    rec.regularization_loss = net.regularization_loss(l1, l2)


def backward_layer(net: Network, rec: StepRecord, layer: int) -> None:
    """Backward through weight layer ``layer``; dW/db land in ``net.grad``."""
    da, cache = rec.da[layer], rec.caches[layer]
    assert da is not None and cache is not None, "stages out of order"
    grads = dense_backward(
        da,
        cache,
        net.weights[layer],
        net.activations[layer],
        need_da_prev=layer > 0,
        out_dW=net.grad_weights[layer],
        out_db=net.grad_biases[layer],
    )
    rec.grads[layer] = grads
    if layer > 0:
        rec.da[layer - 1] = grads.da_prev


class Parameters(Protocol):
    """What the update stage reads and writes of a model: the flat parameter vector, its
    gradient, the parameters before the update and the weight-decay mask, all (P,). A dense
    :class:`~engine.network.Network` and a recurrent network both have them."""

    theta: FloatArray
    grad: FloatArray
    theta_prev: FloatArray
    decay_mask: FloatArray


class UpdateRecord(Protocol):
    """The fields of a step record the update stage fills in."""

    delta: FloatArray | None
    update_grad: FloatArray | None
    state_before: OptimizerState | None
    settings: UpdateSettings | None
    grad_norm_total: float | None
    clipped: bool


def update_gradient(net: Parameters, settings: UpdateSettings) -> FloatArray:
    """g = dL/dθ + λ₂·w + λ₁·sign(w) (on weights only): the gradient the optimiser is given,
    before clipping."""
    g = net.grad
    if settings.l2 or settings.l1:
        g = g.copy()
        if settings.l2:
            g += settings.l2 * net.theta * net.decay_mask
        if settings.l1:
            g += settings.l1 * np.sign(net.theta) * net.decay_mask
    return g


def apply_update(
    net: Parameters, rec: UpdateRecord, state: OptimizerState, settings: UpdateSettings
) -> None:
    """g (see :func:`update_gradient`) clipped to global norm ≤ c, then the optimiser step.
    ``net.theta_prev`` keeps the parameters this step used."""
    np.copyto(net.theta_prev, net.theta)
    g = update_gradient(net, settings)
    if settings.grad_clip is not None:
        norm = float(np.sqrt(g @ g))
        rec.grad_norm_total = norm
        if norm > settings.grad_clip:
            g = g * (settings.grad_clip / norm)
            rec.clipped = True
    # Kept so the update of any one weight can be explained with its own numbers (P values
    # per state array: small next to the step's own work).
    rec.update_grad, rec.settings = g, settings
    rec.state_before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}
    opt = OPTIMIZERS[settings.optimizer]
    rec.delta = opt.step(
        net.theta, g, state, settings.learning_rate, settings.params, net.decay_mask
    )


def run_stage(
    net: Network,
    rec: StepRecord,
    stage: Stage,
    state: OptimizerState,
    settings: UpdateSettings,
) -> None:
    """Run one stage of the dense step program on ``rec``."""
    kind = stage.kind
    if kind == "forward":
        assert stage.layer is not None
        forward_layer(net, rec, stage.layer)
    elif kind == "backward":
        assert stage.layer is not None
        backward_layer(net, rec, stage.layer)
    elif kind == "loss":
        compute_loss(net, rec, settings.l1, settings.l2)
    elif kind == "update":
        apply_update(net, rec, state, settings)
    else:
        raise ValueError(f"stage: {stage!r} is not a stage of a step")


def run_step(
    net: Network,
    rec: StepRecord,
    state: OptimizerState,
    settings: UpdateSettings,
    program: StepProgram | None = None,
) -> None:
    """Every stage of one step, in program order (the fast path)."""
    for stage in (program or dense_program(net.n_layers)).stages:
        run_stage(net, rec, stage, state, settings)


# --- divergence ----------------------------------------------------------------------------------


def _finite(*arrays: FloatArray | None) -> bool:
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def nonfinite_at(net: Network, rec: StepRecord, stage: Stage) -> Divergence | None:
    """Where the outputs of ``stage`` (already run on ``rec``) first hold a NaN or Inf, as a
    divergence of step 0 (the caller knows the step); None when they are finite or not yet
    computed. For the update the location is the first layer with non-finite parameters."""
    kind, layer = stage.kind, stage.layer
    if kind == "forward":
        assert layer is not None
        c = rec.caches[layer]
        bad = c is not None and not _finite(c.z, c.a)
    elif kind == "loss":
        bad = rec.loss is not None and not (np.isfinite(rec.loss) and _finite(rec.dlogits))
    elif kind == "backward":
        assert layer is not None
        g = rec.grads[layer]
        bad = g is not None and not _finite(g.dz, g.dW, g.db, g.da_prev)
    elif kind == "update":
        if rec.delta is None:
            return None
        for k in range(net.n_layers):
            if not _finite(net.weights[k], net.biases[k]):
                return Divergence(0, "update", k)
        return None
    else:
        return None
    return Divergence(0, kind, layer) if bad else None


def locate_divergence(
    net: Network, rec: StepRecord, step: int, program: StepProgram | None = None
) -> Divergence | None:
    """Walk a step's stages in program order; the first with a non-finite output."""
    for stage in (program or dense_program(net.n_layers)).stages:
        found = nonfinite_at(net, rec, stage)
        if found is not None:
            return Divergence(step, found.stage, found.layer)
    return None


def locate_forward_divergence(net: Network, x: FloatArray, step: int) -> Divergence | None:
    """First layer whose forward pass on x (N, F) holds a non-finite value, if any."""
    for layer, a in enumerate(net.forward_layers(x)):
        if not _finite(a):
            return Divergence(step, "forward", layer)
    return None
