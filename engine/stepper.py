"""The staged state machine of one training step.

One step is the sequence of stages ``forward 0, …, forward L−1, loss, backward L−1, …,
backward 0, update``. Each stage is one function below operating on a :class:`StepRecord`;
the fast path calls the very same functions back to back, so staged and fast stepping
perform identical arithmetic and give bit-identical parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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
    """The last completed stage; ``layer`` for forward/backward, else None.

    ``idle`` = nothing computed yet (step 0, after reset). After ``update`` the step is
    complete and its arrays stay visible until the next stage starts a new step.
    """

    kind: StageKind
    layer: int | None = None


IDLE = Stage("idle")


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where the first non-finite number appeared.

    ``step`` is the 0-based index of the step in progress (= completed updates before it);
    ``layer`` is the weight layer (None for the loss). A non-finite value that first shows
    up when evaluating the full data after update k is reported as (k, "forward", layer).
    """

    step: int
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None


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
    grad_norm_total: float | None = None  # global gradient norm (computed when clipping is on)
    clipped: bool = False  # whether that norm exceeded grad_clip and the gradient was scaled

    @classmethod
    def start(
        cls, n_layers: int, indices: NDArray[np.intp], x: FloatArray, y: FloatArray, t: FloatArray
    ) -> StepRecord:
        return cls(indices, x, y, t, [None] * n_layers, [None] * n_layers, [None] * n_layers)

    def logits(self) -> FloatArray | None:
        last = self.caches[-1]
        return None if last is None else last.a


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """The hyperparameters that act at the update stage."""

    optimizer: str
    learning_rate: float
    params: Mapping[str, float]
    l1: float = 0.0
    l2: float = 0.0
    grad_clip: float | None = None


# --- the stages ------------------------------------------------------------------------------


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


def apply_update(
    net: Network, rec: StepRecord, state: OptimizerState, settings: UpdateSettings
) -> None:
    """g = dL/dθ (+ λ₂·w + λ₁·sign(w) on weights), clipped to global norm ≤ c, then the
    optimiser step. ``net.theta_prev`` keeps the parameters this step used."""
    np.copyto(net.theta_prev, net.theta)
    g = net.grad
    if settings.l2 or settings.l1:
        g = g.copy()
        if settings.l2:
            g += settings.l2 * net.theta * net.decay_mask
        if settings.l1:
            g += settings.l1 * np.sign(net.theta) * net.decay_mask
    if settings.grad_clip is not None:
        norm = float(np.sqrt(g @ g))
        rec.grad_norm_total = norm
        if norm > settings.grad_clip:
            g = g * (settings.grad_clip / norm)
            rec.clipped = True
    opt = OPTIMIZERS[settings.optimizer]
    rec.delta = opt.step(
        net.theta, g, state, settings.learning_rate, settings.params, net.decay_mask
    )


def run_step(
    net: Network, rec: StepRecord, state: OptimizerState, settings: UpdateSettings
) -> None:
    """All stages of one step in order (the fast path)."""
    for layer in range(net.n_layers):
        forward_layer(net, rec, layer)
    compute_loss(net, rec, settings.l1, settings.l2)
    for layer in range(net.n_layers - 1, -1, -1):
        backward_layer(net, rec, layer)
    apply_update(net, rec, state, settings)


# --- divergence ------------------------------------------------------------------------------


def _finite(*arrays: FloatArray | None) -> bool:
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def first_nonfinite_in_stage(net: Network, rec: StepRecord, stage: Stage) -> bool:
    """True if the outputs of ``stage`` (already run on ``rec``) hold a NaN or Inf."""
    if stage.kind == "forward":
        assert stage.layer is not None
        c = rec.caches[stage.layer]
        return c is not None and not _finite(c.z, c.a)
    if stage.kind == "loss":
        return rec.loss is not None and not (np.isfinite(rec.loss) and _finite(rec.dlogits))
    if stage.kind == "backward":
        assert stage.layer is not None
        g = rec.grads[stage.layer]
        return g is not None and not _finite(g.dz, g.dW, g.db, g.da_prev)
    if stage.kind == "update":
        return stage.layer is not None and not _finite(
            net.weights[stage.layer], net.biases[stage.layer]
        )
    return False


def locate_divergence(net: Network, rec: StepRecord, step: int) -> Divergence | None:
    """Scan a step's stages in order and return the first with a non-finite output."""
    L = net.n_layers
    for layer in range(L):
        if first_nonfinite_in_stage(net, rec, Stage("forward", layer)):
            return Divergence(step, "forward", layer)
    if first_nonfinite_in_stage(net, rec, Stage("loss")):
        return Divergence(step, "loss", None)
    for layer in range(L - 1, -1, -1):
        if first_nonfinite_in_stage(net, rec, Stage("backward", layer)):
            return Divergence(step, "backward", layer)
    if rec.delta is not None:
        for layer in range(L):
            if first_nonfinite_in_stage(net, rec, Stage("update", layer)):
                return Divergence(step, "update", layer)
    return None


def locate_forward_divergence(net: Network, x: FloatArray, step: int) -> Divergence | None:
    """First layer whose forward pass on x (N, F) holds a non-finite value, if any."""
    for layer, a in enumerate(net.forward_layers(x)):
        if not _finite(a):
            return Divergence(step, "forward", layer)
    return None
