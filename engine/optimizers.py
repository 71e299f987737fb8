"""Optimisers with textbook update rules and plain-data state.

Every optimiser is ``step(theta, grad, state, lr, hp, decay_mask=None) -> delta``:

- ``theta``: ``(P,)`` all parameters of the network in one flat vector (updated in place,
  ``theta += delta``, so views of it stay valid);
- ``grad``: ``(P,)`` the gradient (data + regularisation, after clipping);
- ``state``: a dict of ``(P,)`` arrays and ints, created lazily on the first step (an empty
  dict means "no step taken yet"). It is plain data: export it with ``.tolist()`` and import
  it with ``np.asarray`` and the trajectory continues bit for bit;
- ``lr``: the learning rate η; ``hp``: hyperparameters (missing keys take ``defaults``);
- ``decay_mask``: ``(P,)`` 1.0 on weights, 0.0 on biases (only adamw uses it).

Returns ``delta`` = Δθ, the change just applied. Notation: g = grad, t = step count (from 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.errors import ConfigError
from engine.history import json_list

FloatArray = NDArray[np.float64]
OptimizerState = dict[str, Any]  # values: (P,) float64 arrays or ints


class StepFn(Protocol):
    def __call__(
        self,
        theta: FloatArray,
        grad: FloatArray,
        state: OptimizerState,
        lr: float,
        hp: Mapping[str, float],
        decay_mask: FloatArray | None = None,
    ) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class Optimizer:
    """One optimiser: ``step`` (see module docstring), default hyperparameters, formula."""

    name: str
    step: StepFn
    defaults: Mapping[str, float]
    formula: str
    state_keys: tuple[str, ...] = ()  # the (P,) arrays its state holds, besides the count t


def _zeros_like(state: OptimizerState, key: str, theta: FloatArray) -> FloatArray:
    arr = state.get(key)
    if arr is None:
        arr = np.zeros_like(theta)
        state[key] = arr
    return arr


def _hp(hp: Mapping[str, float], name: str, opt: str) -> float:
    return float(hp.get(name, OPTIMIZERS[opt].defaults[name]))


def sgd(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """Plain gradient descent: θ ← θ − η·g."""
    delta = -lr * grad
    theta += delta
    state["t"] = int(state.get("t", 0)) + 1
    return delta


def momentum(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """Heavy-ball momentum (velocity v starts at 0, μ = ``momentum``):

    v ← μ·v + g;  θ ← θ − η·v
    """
    mu = _hp(hp, "momentum", "momentum")
    v = _zeros_like(state, "velocity", theta)
    v *= mu
    v += grad
    delta = -lr * v
    theta += delta
    state["t"] = int(state.get("t", 0)) + 1
    return delta


def nesterov(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """Nesterov momentum in the look-ahead-free form (Sutskever et al. 2013; as in PyTorch):

    v ← μ·v + g;  θ ← θ − η·(g + μ·v)
    """
    mu = _hp(hp, "momentum", "nesterov")
    v = _zeros_like(state, "velocity", theta)
    v *= mu
    v += grad
    delta = -lr * (grad + mu * v)
    theta += delta
    state["t"] = int(state.get("t", 0)) + 1
    return delta


def rmsprop(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """RMSProp (Hinton 2012), s starts at 0:

    s ← ρ·s + (1 − ρ)·g²;  θ ← θ − η·g / (√s + ε)
    """
    rho, eps = _hp(hp, "rho", "rmsprop"), _hp(hp, "eps", "rmsprop")
    s = _zeros_like(state, "sq_avg", theta)
    s *= rho
    s += (1.0 - rho) * (grad * grad)
    delta = -lr * grad / (np.sqrt(s) + eps)
    theta += delta
    state["t"] = int(state.get("t", 0)) + 1
    return delta


def adagrad(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """AdaGrad (Duchi et al. 2011), s starts at 0:

    s ← s + g²;  θ ← θ − η·g / (√s + ε)
    """
    eps = _hp(hp, "eps", "adagrad")
    s = _zeros_like(state, "sq_sum", theta)
    s += grad * grad
    delta = -lr * grad / (np.sqrt(s) + eps)
    theta += delta
    state["t"] = int(state.get("t", 0)) + 1
    return delta


def _adam_direction(
    grad: FloatArray, state: OptimizerState, hp: Mapping[str, float], opt: str
) -> FloatArray:
    b1, b2, eps = _hp(hp, "beta1", opt), _hp(hp, "beta2", opt), _hp(hp, "eps", opt)
    m = _zeros_like(state, "m", grad)
    v = _zeros_like(state, "v", grad)
    t = int(state.get("t", 0)) + 1
    state["t"] = t
    m *= b1
    m += (1.0 - b1) * grad
    v *= b2
    v += (1.0 - b2) * (grad * grad)
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    return m_hat / (np.sqrt(v_hat) + eps)


def adam(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """Adam (Kingma & Ba 2015), m and v start at 0, t counts steps from 1:

    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²
    m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  θ ← θ − η·m̂ / (√v̂ + ε)
    """
    delta = -lr * _adam_direction(grad, state, hp, "adam")
    theta += delta
    return delta


def adamw(
    theta: FloatArray,
    grad: FloatArray,
    state: OptimizerState,
    lr: float,
    hp: Mapping[str, float],
    decay_mask: FloatArray | None = None,
) -> FloatArray:
    """AdamW (Loshchilov & Hutter 2019): Adam plus decoupled weight decay λ on weights only:

    m, v, m̂, v̂ as in Adam;  θ ← θ − η·(m̂ / (√v̂ + ε) + λ·θ)   (λ·θ masked to weights)
    """
    wd = _hp(hp, "weight_decay", "adamw")
    direction = _adam_direction(grad, state, hp, "adamw")
    decay = wd * theta if decay_mask is None else wd * theta * decay_mask
    delta = -lr * (direction + decay)
    theta += delta
    return delta


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", sgd, {}, "θ ← θ − η·g"),
        Optimizer(
            "momentum", momentum, {"momentum": 0.9}, "v ← μ·v + g;  θ ← θ − η·v", ("velocity",)
        ),
        Optimizer(
            "nesterov",
            nesterov,
            {"momentum": 0.9},
            "v ← μ·v + g;  θ ← θ − η·(g + μ·v)",
            ("velocity",),
        ),
        Optimizer(
            "rmsprop",
            rmsprop,
            {"rho": 0.9, "eps": 1e-8},
            "s ← ρ·s + (1 − ρ)·g²;  θ ← θ − η·g / (√s + ε)",
            ("sq_avg",),
        ),
        Optimizer(
            "adagrad",
            adagrad,
            {"eps": 1e-8},
            "s ← s + g²;  θ ← θ − η·g / (√s + ε)",
            ("sq_sum",),
        ),
        Optimizer(
            "adam",
            adam,
            {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
            "m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  "
            "θ ← θ − η·m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)",
            ("m", "v"),
        ),
        Optimizer(
            "adamw",
            adamw,
            {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
            "Adam's m̂, v̂;  θ ← θ − η·(m̂ / (√v̂ + ε) + λ·θ)   (decay λ on weights only)",
            ("m", "v"),
        ),
    )
}


def resolve_params(name: str, params: Mapping[str, float]) -> dict[str, float]:
    """The optimiser's defaults overridden by ``params``. Raises ConfigError on unknown keys."""
    defaults = OPTIMIZERS[name].defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        valid = ", ".join(defaults) or "none"
        raise ConfigError("optimizer", f"unknown parameter(s) {unknown} for {name}; valid: {valid}")
    return {k: float(params.get(k, v)) for k, v in defaults.items()}


def export_state(state: OptimizerState) -> dict[str, Any]:
    """Plain JSON-able copy of a state (arrays → lists of floats, exact via float repr;
    NaN/Inf after divergence become None)."""
    return {k: (json_list(v) if isinstance(v, np.ndarray) else int(v)) for k, v in state.items()}


def import_state(data: Mapping[str, Any]) -> OptimizerState:
    """Inverse of :func:`export_state`."""
    return {
        k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else int(v))
        for k, v in data.items()
    }
