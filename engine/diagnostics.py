"""Diagnostics: gradient check, chain rule for one weight, gradient flow, dead/saturated units.

Pure functions of a :class:`~engine.network.Network` and arrays; none of them changes the
network (the gradient check perturbs one parameter at a time and restores it exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from engine.activations import Activation
from engine.losses import LOSSES, OutputHead, apply_head
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


def dead_units(net: Network, x: FloatArray) -> list[NDArray[np.bool_]]:
    """Per hidden layer, which units output exactly 0 for every row of x (N, F) — a unit
    that is dead on the whole training set gets no gradient from any minibatch."""
    return [np.all(a == 0.0, axis=0) for a in net.forward_layers(x)[:-1]]


FlowStatus = Literal["ok", "not_computed", "no_gradient"]


@dataclass(frozen=True, slots=True)
class FlowFactor:
    """How the gradient changes from layer l+1 down to layer l, exactly.

    Backprop computes da_l = dz_{l+1} W_{l+1}ᵀ, then dz_l = da_l ⊙ f′(z_l). So

        ‖dz_l‖/‖dz_{l+1}‖ = (‖da_l‖/‖dz_{l+1}‖) · (‖dz_l‖/‖da_l‖)
        ratio             =  weight_gain         ·  activation_gain

    (Frobenius norms over the batch): the gain through the next layer's weights and the gain
    through f′. The product equals the ratio to rounding. ``mean_abs_fprime`` and
    ``next_weight_norm`` are rules of thumb for *why* (a small mean |f′| or small weights),
    not factors of the ratio. ``status``: ``ok``; ``not_computed`` (the backward pass has not
    reached layer l yet); ``no_gradient`` (a norm is exactly 0: no gradient reaches, e.g.
    every unit above is dead, so the ratio has no value).
    """

    layer: int
    status: FlowStatus
    ratio: float | None  # ‖dz_l‖ / ‖dz_{l+1}‖
    weight_gain: float | None  # ‖da_l‖ / ‖dz_{l+1}‖
    activation_gain: float | None  # ‖dz_l‖ / ‖da_l‖
    dz_norm: float | None  # ‖dz_l‖
    mean_abs_fprime: float | None  # rule of thumb: mean |f′(z_l)|
    next_weight_norm: float  # rule of thumb: ‖W_{l+1}‖ (Frobenius)


def gradient_flow(
    dz: Sequence[FloatArray | None],
    da: Sequence[FloatArray | None],
    fprime: Sequence[FloatArray | None],
    weights: Sequence[FloatArray],
) -> list[FlowFactor]:
    """Flow factors for layers 0..L−2 (see :class:`FlowFactor`)."""
    out = []
    for layer in range(len(weights) - 1):
        lo, hi, up, fp = dz[layer], dz[layer + 1], da[layer], fprime[layer]
        rule_fprime = None if fp is None else float(np.mean(np.abs(fp)))
        w_norm = float(np.linalg.norm(weights[layer + 1]))
        if lo is None or hi is None or up is None:
            out.append(
                FlowFactor(layer, "not_computed", None, None, None, None, rule_fprime, w_norm)
            )
            continue
        n_lo, n_hi, n_up = (float(np.linalg.norm(x)) for x in (lo, hi, up))
        if n_hi == 0.0 or n_up == 0.0:
            out.append(
                FlowFactor(layer, "no_gradient", None, None, None, n_lo, rule_fprime, w_norm)
            )
            continue
        out.append(
            FlowFactor(
                layer, "ok", n_lo / n_hi, n_up / n_hi, n_lo / n_up, n_lo, rule_fprime, w_norm
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


HeadCase = Literal["fused", "identity", "through_head"]


@dataclass(frozen=True, slots=True)
class OutputTerms:
    """Where δ_j of an output unit comes from, for one sample (no 1/B).

    ``case`` says which statement is true for this head and loss:

    - ``fused``: sigmoid + binary cross-entropy, or softmax + softmax cross-entropy. The head's
      derivative cancels against the loss's, so δ_j = ∂L/∂z_j = ŷ_j − y_j exactly.
    - ``identity``: a linear head with MSE: ŷ = z, so δ_j = ∂L/∂ŷ_j = ŷ_j − y_j.
    - ``through_head``: MSE on a sigmoid or softmax output. ∂L/∂ŷ_j = ŷ_j − y_j, then the
      head's derivative: sigmoid δ_j = (ŷ_j − y_j)·ŷ_j(1 − ŷ_j); softmax
      δ_j = ŷ_j·((ŷ_j − y_j) − Σ_k ŷ_k(ŷ_k − y_k)) (``head_coupling`` is that Σ_k).
    """

    head: str  # linear, sigmoid or softmax
    loss: str
    case: HeadCase
    y_hat: float  # ŷ_j = head(z)_j
    target: float  # y_j as the loss sees it (0/1, one-hot entry, or the regression value)
    dloss_dyhat: float | None  # ∂L_n/∂ŷ_j = ŷ_j − y_j; None when fused (not computed apart)
    head_derivative: float | None  # sigmoid: ŷ_j(1 − ŷ_j); else None
    head_coupling: float | None  # softmax through the head: Σ_k ŷ_k(ŷ_k − y_k); else None


@dataclass(frozen=True, slots=True)
class ChainRule:
    """∂L_n/∂w_ij = δ_j · a_i for one weight w_ij of ``layer`` and one batch ``sample`` n.

    Hidden layer: δ_j = f′(z_j) · downstream, downstream = Σ_k w_jk δ_k (w from the next
    layer, δ_k the next layer's per-sample deltas; ``terms`` lists them). Output layer: the
    layer itself is linear (it produces the logits z), and δ_j = ∂L_n/∂z_j comes from the loss
    and the head as ``output`` explains; ``fprime_z_j`` and ``downstream`` are then None.
    Per-sample values carry no 1/B; ``batch_average`` = (1/B) Σ_n δ_j(n)·a_i(n), which equals
    ``dW_ij`` (backprop's dW[i, j]) up to rounding. ``regularization_grad`` (λ₂·w_ij +
    λ₁·sign(w_ij)) is added at the update: ``total_grad = dW_ij + regularization_grad``.
    """

    layer: int
    i: int
    j: int
    sample: int
    batch_size: int
    w_ij: float
    a_i: float
    z_j: float
    fprime_z_j: float | None
    downstream: float | None
    delta_j: float
    grad_sample: float
    batch_average: float
    dW_ij: float  # noqa: N815 - the maths' name
    regularization_grad: float
    total_grad: float
    terms: list[tuple[int, float, float]]  # (k, w_jk, δ_k) of the downstream sum
    output: OutputTerms | None  # at the output layer only


FUSED = {("sigmoid", "binary_cross_entropy"), ("softmax", "softmax_cross_entropy")}


def output_terms(head: OutputHead, logits: FloatArray, targets: FloatArray, j: int) -> OutputTerms:
    """The head and loss terms of output unit ``j`` for one sample's logits (K,), targets (K,)."""
    y_hat_all = apply_head(logits[None, :], head.head)[0]
    y_hat, target = float(y_hat_all[j]), float(targets[j])
    if (head.head, head.loss) in FUSED:
        return OutputTerms(head.head, head.loss, "fused", y_hat, target, None, None, None)
    diff = y_hat - target
    if head.head == "linear":
        return OutputTerms(head.head, head.loss, "identity", y_hat, target, diff, None, None)
    if head.head == "sigmoid":
        derivative = y_hat * (1.0 - y_hat)
        return OutputTerms(
            head.head, head.loss, "through_head", y_hat, target, diff, derivative, None
        )
    coupling = float(np.sum(y_hat_all * (y_hat_all - targets)))
    return OutputTerms(head.head, head.loss, "through_head", y_hat, target, diff, None, coupling)


def chain_rule(
    rec: StepRecord,
    weights: Sequence[FloatArray],
    head: OutputHead,
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
    can add them up. δ_j is B·dz — the number backprop used, whatever the layer.
    """
    c, g, da = rec.caches[layer], rec.grads[layer], rec.da[layer]
    assert c is not None and g is not None and da is not None, "backward pass incomplete"
    B = c.x.shape[0]
    w_ij = float(weights[layer][i, j])
    a_i = float(c.x[sample, i])
    z_j = float(c.z[sample, j])
    delta_j = float(B * g.dz[sample, j])
    next_grads = rec.grads[layer + 1] if layer + 1 < len(rec.grads) else None
    terms: list[tuple[int, float, float]] = []
    fprime: float | None = None
    downstream: float | None = None
    output = None
    if layer == len(rec.grads) - 1:
        output = output_terms(head, c.z[sample], rec.targets[sample], j)
    else:
        fprime = float(g.fprime[sample, j])
        downstream = float(B * da[sample, j])
        if next_grads is not None:
            w_next = weights[layer + 1][j]
            delta_next = B * next_grads.dz[sample]
            terms = [(k, float(w_next[k]), float(delta_next[k])) for k in range(w_next.size)]
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
        output,
    )
