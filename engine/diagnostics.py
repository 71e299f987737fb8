"""Diagnostics: gradient check, chain rule for one weight, gradient flow, dead/saturated units.

Pure functions of a :class:`~engine.network.Network` and arrays; none of them changes the
network (the gradient check perturbs one parameter at a time and restores it exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.activations import Activation
from engine.losses import LOSSES
from engine.network import Network
from engine.stages import Stage, StepRecord, UpdateSettings, dense_program, run_stage

FloatArray = NDArray[np.float64]
SATURATION_THRESHOLD = 0.05  # |f′(z)| below 5% of the activation's largest slope
GRADIENT_CHECK_TOLERANCE = 1e-6


def saturated_fraction(fprime: FloatArray, act: Activation) -> float:
    """Share of (sample, unit) entries with |f′(z)| < 5% of max |f′|. fprime: (B, n_out).

    By this definition linear never saturates, and relu / leaky_relu count z ≤ 0 as saturated.
    """
    return float(np.mean(np.abs(fprime) < SATURATION_THRESHOLD * act.max_slope))


def dead_fraction(a: FloatArray) -> float:
    """Share of units (columns of a (B, n_out)) whose output is exactly 0 for every sample."""
    return float(np.mean(np.all(a == 0.0, axis=0)))


@dataclass(frozen=True, slots=True)
class FlowFactor:
    """Why ‖dz‖ shrinks or grows from layer l+1 down to layer l (since dz_l = (dz_{l+1} W_{l+1}ᵀ)
    ⊙ f′(z_l)): ``ratio = ‖dz_l‖/‖dz_{l+1}‖`` and its two factors."""

    layer: int
    ratio: float | None
    mean_abs_fprime: float | None  # mean |f′(z_l)|
    next_weight_norm: float  # ‖W_{l+1}‖ (Frobenius)


def gradient_flow(
    dz: Sequence[FloatArray | None],
    fprime: Sequence[FloatArray | None],
    weights: Sequence[FloatArray],
) -> list[FlowFactor]:
    """Flow factors for layers 0..L−2: ‖dz_l‖/‖dz_{l+1}‖, mean|f′(z_l)|, ‖W_{l+1}‖.

    Since dz_l = (dz_{l+1} W_{l+1}ᵀ) ⊙ f′(z_l), the ratio is roughly the product of how much
    W_{l+1}ᵀ stretches the gradient and how much f′ shrinks it.
    """
    out = []
    for layer in range(len(weights) - 1):
        lo, hi, fp = dz[layer], dz[layer + 1], fprime[layer]
        ratio = None
        if lo is not None and hi is not None:
            ratio = float(np.linalg.norm(lo) / np.linalg.norm(hi))
        out.append(
            FlowFactor(
                layer,
                ratio,
                None if fp is None else float(np.mean(np.abs(fp))),
                float(np.linalg.norm(weights[layer + 1])),
            )
        )
    return out


# --- full forward/backward without side effects ------------------------------------------------


def full_pass(
    net: Network, x: FloatArray, targets: FloatArray, theta: FloatArray | None = None
) -> StepRecord:
    """Every stage of a step but the update, on x (B, F) and targets (B, K), through a shadow
    of ``net`` whose parameters are ``theta`` (default: the current ones): the same stage
    program and layer functions as training, and nothing written into ``net``."""
    shadow = net.shadow(net.theta if theta is None else theta)
    rows = np.arange(x.shape[0], dtype=np.intp)
    rec = StepRecord.start(net.n_layers, rows, x, np.zeros(x.shape[0]), targets)
    program = dense_program(net.n_layers)
    settings = UpdateSettings("sgd", 0.0, {})
    for stage in program.through(Stage("backward", 0)):
        run_stage(shadow, rec, stage, {}, settings)
    return rec


# --- gradient check ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerGradientCheck:
    """Relative error ‖g_num − g_bp‖ / (‖g_num‖ + ‖g_bp‖) over the checked entries."""

    layer: int
    weight_error: float
    bias_error: float
    n_weights_checked: int
    n_biases_checked: int


@dataclass(frozen=True, slots=True)
class GradientCheck:
    """Central differences (L(θ+ε) − L(θ−ε)) / 2ε of the total loss vs backprop, per layer."""

    layers: list[LayerGradientCheck]
    max_relative_error: float
    passed: bool  # max_relative_error < tolerance
    eps: float
    tolerance: float
    batch_size: int


def _rel_error(num: FloatArray, bp: FloatArray) -> float:
    denom = float(np.linalg.norm(num) + np.linalg.norm(bp))
    if denom == 0.0:
        return 0.0
    return float(np.linalg.norm(num - bp)) / denom


def _pick(n: int, limit: int | None) -> NDArray[np.intp]:
    if limit is None or n <= limit:
        return np.arange(n, dtype=np.intp)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


def gradient_check(
    net: Network,
    x: FloatArray,
    targets: FloatArray,
    l1: float = 0.0,
    l2: float = 0.0,
    eps: float = 1e-5,
    max_entries: int | None = 64,
    tolerance: float = GRADIENT_CHECK_TOLERANCE,
) -> GradientCheck:
    """Check backprop against central differences of L_data + L_reg at the current θ.

    ``max_entries`` caps the entries checked per W and per b (evenly spread; None = all).
    """
    rec = full_pass(net, x, targets)
    grads = [g for g in rec.grads if g is not None]

    def total_loss() -> float:
        logits = net.forward(x)
        return LOSSES[net.head.loss].fn(logits, targets, net.head.head)[0] + (
            net.regularization_loss(l1, l2)
        )

    layers, worst = [], 0.0
    for layer in range(net.n_layers):
        errs, counts = [], []
        W = net.weights[layer]
        for param, bp_full, is_w in (
            (W, grads[layer].dW, True),
            (net.biases[layer], grads[layer].db, False),
        ):
            flat = param.reshape(-1)
            bp = bp_full.reshape(-1)
            if is_w:
                bp = bp + l2 * flat + l1 * np.sign(flat)
            idx = _pick(flat.size, max_entries)
            num = np.empty(idx.size)
            for n, k in enumerate(idx):
                old = flat[k]
                flat[k] = old + eps
                up = total_loss()
                flat[k] = old - eps
                down = total_loss()
                flat[k] = old
                num[n] = (up - down) / (2.0 * eps)
            errs.append(_rel_error(num, bp[idx]))
            counts.append(idx.size)
        layers.append(LayerGradientCheck(layer, errs[0], errs[1], counts[0], counts[1]))
        worst = max(worst, errs[0], errs[1])
    return GradientCheck(layers, worst, bool(worst < tolerance), eps, tolerance, x.shape[0])


# --- chain rule for one weight ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainRule:
    """∂L_n/∂w_ij = δ_j · a_i for one weight w_ij of ``layer`` and one batch ``sample`` n.

    δ_j = f′(z_j) · downstream, with downstream = Σ_k w_jk δ_k (w from the next layer, δ_k
    the next layer's per-sample deltas) or, at the output layer, ∂L_n/∂a_j. Per-sample values
    carry no 1/B; ``batch_average`` = (1/B) Σ_n δ_j(n)·a_i(n), which equals ``dW_ij``
    (backprop's dW[i, j]) up to rounding. ``regularization_grad`` (λ₂·w_ij + λ₁·sign(w_ij))
    is added at the update: ``total_grad = dW_ij + regularization_grad``.
    """

    layer: int
    i: int
    j: int
    sample: int
    batch_size: int
    w_ij: float
    a_i: float
    z_j: float
    fprime_z_j: float
    downstream: float
    delta_j: float
    grad_sample: float
    batch_average: float
    dW_ij: float  # noqa: N815 - the maths' name
    regularization_grad: float
    total_grad: float
    terms: list[tuple[int, float, float]]  # (k, w_jk, δ_k) of the downstream sum


def chain_rule(
    rec: StepRecord,
    weights: Sequence[FloatArray],
    layer: int,
    i: int,
    j: int,
    sample: int,
    l1: float = 0.0,
    l2: float = 0.0,
) -> ChainRule:
    """Break ∂L/∂W_layer[i, j] down for one sample from a step record whose backward pass has
    reached ``layer``; ``weights`` are the weights that pass used.

    Per-sample values are B times the batch-mean loss's (dz carries the 1/B). The downstream
    sum Σ_k w_jk δ_k is read from the pass itself (B·∂L/∂a_j); its terms are listed so a reader
    can add them up.
    """
    c, g, da = rec.caches[layer], rec.grads[layer], rec.da[layer]
    assert c is not None and g is not None and da is not None, "backward pass incomplete"
    B = c.x.shape[0]
    w_ij = float(weights[layer][i, j])
    a_i = float(c.x[sample, i])
    z_j = float(c.z[sample, j])
    fprime = float(g.fprime[sample, j])
    downstream = float(B * da[sample, j])
    terms: list[tuple[int, float, float]] = []
    next_grads = rec.grads[layer + 1] if layer + 1 < len(rec.grads) else None
    if next_grads is not None:
        w_next = weights[layer + 1][j]
        delta_next = B * next_grads.dz[sample]
        terms = [(k, float(w_next[k]), float(delta_next[k])) for k in range(w_next.size)]
    # The output layer is linear: f′ = 1 and δ_j = ∂L_n/∂z_j.
    delta_j = fprime * downstream
    batch_average = float(np.mean(B * g.dz[:, j] * c.x[:, i]))
    reg = l2 * w_ij + l1 * float(np.sign(w_ij))
    dW_ij = float(g.dW[i, j])
    return ChainRule(
        layer,
        i,
        j,
        sample,
        B,
        w_ij,
        a_i,
        z_j,
        fprime,
        downstream,
        delta_j,
        delta_j * a_i,
        batch_average,
        dW_ij,
        reg,
        dW_ij + reg,
        terms,
    )
