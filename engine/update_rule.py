"""The update of one weight, explained with its own numbers.

At the update stage the optimiser changes every parameter at once. For the one weight a
learner selected, :func:`explain_update` recomputes that change step by step — the gradient
the optimiser was given (data gradient, regularisation terms, clipping), each optimiser
quantity (velocity, moments, bias corrections) from its value *before* the update, and the
change Δw — in plain scalar arithmetic, so every line on screen is a number the learner can
check by hand. The last term equals the update the engine applied (a test holds them to
rounding for every optimiser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.network import Network
from engine.optimizers import OptimizerState
from engine.stages import StepRecord


@dataclass(frozen=True, slots=True)
class UpdateTerm:
    """One line of the update: ``symbol = formula`` evaluates to ``value``."""

    symbol: str
    formula: str
    value: float


@dataclass(frozen=True, slots=True)
class ParameterUpdate:
    """How one weight W_layer[i, j] changed at this step's update.

    ``grad_data`` is ∂L/∂w of the data loss (the dW on the edge); ``l2_term`` = λ₂·w and
    ``l1_term`` = λ₁·sign(w) (0 when off); ``clip_scale`` multiplies the whole gradient when
    its global norm exceeded ``grad_clip`` (1 when it did not; None when clipping is off);
    ``grad`` = (grad_data + l2_term + l1_term)·clip_scale is what the optimiser received.
    ``terms`` walk through the optimiser's rule; the last one is Δw. ``state_before`` holds
    this weight's optimiser quantities before the update (``velocity``, ``m``, ``v``, ``sq_avg``,
    ``sq_sum``; empty for SGD; an absent key started at 0), the values the terms' formulas read
    on their right-hand side. ``delta`` is the change the engine applied,
    ``w_after = w_before + delta``.
    """

    layer: int
    i: int
    j: int
    optimizer: str
    learning_rate: float
    hyperparameters: Mapping[str, float]
    t: int  # the optimiser's step count after this update (1 for the first)
    w_before: float
    grad_data: float
    l2_term: float
    l1_term: float
    clip_scale: float | None
    grad_norm: float | None  # global norm of the gradient before clipping (clipping on)
    grad: float
    terms: list[UpdateTerm]
    state_before: Mapping[str, float]
    delta: float
    w_after: float


def optimizer_terms(
    name: str,
    hp: Mapping[str, float],
    lr: float,
    g: float,
    w: float,
    before: Mapping[str, float],
    t: int,
    decays: bool,
) -> list[UpdateTerm]:
    """The optimiser's rule for one parameter, from its state ``before`` (missing = 0, the
    start value) and its gradient ``g``; ``t`` counts steps including this one; ``decays``:
    whether weight decay applies to this parameter (AdamW: weights, not biases)."""
    terms: list[UpdateTerm] = []

    def term(symbol: str, formula: str, value: float) -> float:
        terms.append(UpdateTerm(symbol, formula, value))
        return value

    if name == "sgd":
        term("Δw", "−η·g", -lr * g)
    elif name in ("momentum", "nesterov"):
        mu = hp["momentum"]
        v = term("v", "μ·v + g", mu * before.get("velocity", 0.0) + g)
        if name == "momentum":
            term("Δw", "−η·v", -lr * v)
        else:
            term("Δw", "−η·(g + μ·v)", -lr * (g + mu * v))
    elif name == "rmsprop":
        rho, eps = hp["rho"], hp["eps"]
        s = term("s", "ρ·s + (1 − ρ)·g²", rho * before.get("sq_avg", 0.0) + (1.0 - rho) * (g * g))
        term("Δw", "−η·g / (√s + ε)", -lr * g / (math.sqrt(s) + eps))
    elif name == "adagrad":
        s = term("s", "s + g²", before.get("sq_sum", 0.0) + g * g)
        term("Δw", "−η·g / (√s + ε)", -lr * g / (math.sqrt(s) + hp["eps"]))
    else:  # adam, adamw
        b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
        m = term("m", "β₁·m + (1 − β₁)·g", b1 * before.get("m", 0.0) + (1.0 - b1) * g)
        v = term("v", "β₂·v + (1 − β₂)·g²", b2 * before.get("v", 0.0) + (1.0 - b2) * (g * g))
        m_hat = term("m̂", "m / (1 − β₁ᵗ)", m / (1.0 - b1**t))
        v_hat = term("v̂", "v / (1 − β₂ᵗ)", v / (1.0 - b2**t))
        step = m_hat / (math.sqrt(v_hat) + eps)
        if name == "adam":
            term("Δw", "−η·m̂ / (√v̂ + ε)", -lr * step)
        else:
            decay = hp["weight_decay"] * w if decays else 0.0
            term("Δw", "−η·(m̂ / (√v̂ + ε) + λ·w)", -lr * (step + decay))
    return terms


def explain_update(
    net: Network, rec: StepRecord, layer: int, i: int, j: int
) -> ParameterUpdate | None:
    """Weight W_layer[i, j]'s update in the step of ``rec``, from the gradient, state and
    hyperparameters that update used (kept on the record); None if it has not run."""
    settings, before_state = rec.settings, rec.state_before
    if rec.delta is None or rec.update_grad is None or before_state is None or settings is None:
        return None
    k = net.weight_offset(layer) + i * net.sizes[layer + 1] + j
    w = float(net.theta_prev[k])
    clip_scale = None
    if settings.grad_clip is not None and rec.grad_norm_total is not None:
        clip_scale = settings.grad_clip / rec.grad_norm_total if rec.clipped else 1.0
    t_after = int(before_state.get("t", 0)) + 1
    before = state_values(before_state, k)
    g = float(rec.update_grad[k])
    terms = optimizer_terms(
        settings.optimizer, settings.params, settings.learning_rate, g, w, before, t_after, True
    )
    return ParameterUpdate(
        layer,
        i,
        j,
        settings.optimizer,
        settings.learning_rate,
        dict(settings.params),
        t_after,
        w,
        float(net.grad[k]),
        settings.l2 * w,
        settings.l1 * float(np.sign(w)),
        clip_scale,
        rec.grad_norm_total,
        g,
        terms,
        before,
        float(rec.delta[k]),
        float(net.theta[k]),
    )


def state_values(state: OptimizerState, k: int) -> dict[str, float]:
    """Entry ``k`` of every per-parameter array of an optimiser state."""
    return {key: float(v[k]) for key, v in state.items() if not isinstance(v, int)}
