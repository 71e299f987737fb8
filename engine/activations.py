"""Activation functions: a registry of ``{name, fn, grad, formula}`` objects.

Every activation maps a pre-activation array ``z`` of any shape (usually ``(B, n_out)``)
elementwise to ``a = f(z)`` of the same shape. ``grad(z, a)`` returns ``f'(z)``; the second
argument is the already computed ``a = f(z)`` so that sigmoid and tanh can reuse it
(``σ' = a(1 - a)``, ``tanh' = 1 - a²``). It may be omitted, in which case it is recomputed.

``max_slope`` is ``sup_z |f'(z)|``. It defines saturation: an entry is *saturated* when
``|f'(z)| < 5% · max_slope``. By that definition linear never saturates, and relu (and
leaky_relu, whose negative slope 0.01 is below 5%) count every entry with ``z <= 0`` as
saturated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_K = 0.044715


class ActivationFn(Protocol):
    def __call__(self, z: FloatArray) -> FloatArray: ...


class ActivationGrad(Protocol):
    def __call__(self, z: FloatArray, a: FloatArray | None = None) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class Activation:
    """One activation: ``fn(z) -> a``, ``grad(z, a=None) -> f'(z)``, display formulas."""

    name: str
    fn: ActivationFn
    grad: ActivationGrad
    formula: str
    derivative_formula: str
    max_slope: float


def _sigmoid(z: FloatArray) -> FloatArray:
    # σ(z) = ½(1 + tanh(z/2)): no overflow for any z, unlike 1/(1 + e^{-z}).
    out: FloatArray = np.tanh(0.5 * z)
    out += 1.0
    out *= 0.5
    return out


def _linear(z: FloatArray) -> FloatArray:
    return z


def _linear_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    return np.ones(z.shape)


def _sigmoid_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    s = _sigmoid(z) if a is None else a
    return s * (1.0 - s)


def _tanh(z: FloatArray) -> FloatArray:
    return np.tanh(z)


def _tanh_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    t = np.tanh(z) if a is None else a
    return 1.0 - t * t


def _relu(z: FloatArray) -> FloatArray:
    return np.maximum(z, 0.0)


def _relu_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    # f'(0) := 0 (the subgradient most frameworks use).
    return (z > 0.0).astype(np.float64)


def _leaky_relu(z: FloatArray) -> FloatArray:
    return np.where(z > 0.0, z, LEAKY_SLOPE * z)


def _leaky_relu_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    return np.where(z > 0.0, 1.0, LEAKY_SLOPE)


def _elu(z: FloatArray) -> FloatArray:
    # min(z, 0) keeps expm1 from overflowing on the branch that np.where discards.
    return np.where(z > 0.0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0.0)))


def _elu_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    return np.where(z > 0.0, 1.0, ELU_ALPHA * np.exp(np.minimum(z, 0.0)))


def _gelu(z: FloatArray) -> FloatArray:
    t = np.tanh(_GELU_C * (z + _GELU_K * z * z * z))
    return 0.5 * z * (1.0 + t)


def _gelu_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    z2 = z * z
    t = np.tanh(_GELU_C * (z + _GELU_K * z2 * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * z2)


def _softplus(z: FloatArray) -> FloatArray:
    return np.logaddexp(0.0, z)


def _softplus_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    return _sigmoid(z)


def _swish(z: FloatArray) -> FloatArray:
    return z * _sigmoid(z)


def _swish_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    s = _sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def _sine(z: FloatArray) -> FloatArray:
    return np.sin(z)


def _sine_grad(z: FloatArray, a: FloatArray | None = None) -> FloatArray:
    return np.cos(z)


def _sup_abs_slope(grad: ActivationGrad) -> float:
    """``max |f'(z)|`` on a fine grid over [-10, 10] (the sup for every function here)."""
    z = np.linspace(-10.0, 10.0, 200_001)
    return float(np.max(np.abs(grad(z))))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", _linear, _linear_grad, "f(z) = z", "f′(z) = 1", 1.0),
        Activation(
            "sigmoid",
            _sigmoid,
            _sigmoid_grad,
            "f(z) = σ(z) = 1 / (1 + e^(−z))",
            "f′(z) = σ(z)·(1 − σ(z))",
            0.25,
        ),
        Activation("tanh", _tanh, _tanh_grad, "f(z) = tanh(z)", "f′(z) = 1 − tanh²(z)", 1.0),
        Activation("relu", _relu, _relu_grad, "f(z) = max(0, z)", "f′(z) = 1 if z > 0 else 0", 1.0),
        Activation(
            "leaky_relu",
            _leaky_relu,
            _leaky_relu_grad,
            "f(z) = z if z > 0 else 0.01·z",
            "f′(z) = 1 if z > 0 else 0.01",
            1.0,
        ),
        Activation(
            "elu",
            _elu,
            _elu_grad,
            "f(z) = z if z > 0 else e^z − 1   (α = 1)",
            "f′(z) = 1 if z > 0 else e^z",
            1.0,
        ),
        Activation(
            "gelu",
            _gelu,
            _gelu_grad,
            "f(z) = ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))   (tanh approximation)",
            "f′(z) = ½(1 + t) + ½·z·(1 − t²)·√(2/π)·(1 + 3·0.044715·z²),"
            "  t = tanh(√(2/π)·(z + 0.044715·z³))",
            _sup_abs_slope(_gelu_grad),
        ),
        Activation(
            "softplus",
            _softplus,
            _softplus_grad,
            "f(z) = ln(1 + e^z)",
            "f′(z) = σ(z)",
            1.0,
        ),
        Activation(
            "swish",
            _swish,
            _swish_grad,
            "f(z) = z·σ(z)   (also called silu)",
            "f′(z) = σ(z)·(1 + z·(1 − σ(z)))",
            _sup_abs_slope(_swish_grad),
        ),
        Activation("sine", _sine, _sine_grad, "f(z) = sin(z)", "f′(z) = cos(z)", 1.0),
    )
}

ALIASES: dict[str, str] = {"silu": "swish"}


def get_activation(name: str) -> Activation:
    """Look up an activation by registry key or alias (``silu`` → ``swish``).

    Raises ``KeyError`` naming the valid keys.
    """
    key = ALIASES.get(name, name)
    try:
        return ACTIVATIONS[key]
    except KeyError:
        valid = ", ".join([*ACTIVATIONS, *ALIASES])
        raise KeyError(f"unknown activation {name!r}; valid: {valid}") from None


SATURATION_SHARE = 0.05  # saturated: |f′(z)| below this share of the activation's max slope


def saturation_zone(act: Activation) -> str:
    """Where ``act`` saturates (|f′(z)| < 5% of its largest slope), in words, read off f′ on
    a fine grid over [−10, 10]: ``"|z| > 2.18"`` for tanh, ``"z ≤ 0"`` for relu."""
    z = np.linspace(-10.0, 10.0, 200_001)
    flat = np.abs(act.grad(z)) < SATURATION_SHARE * act.max_slope
    if not flat.any():
        return "nowhere"
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = [0, *changes.tolist(), z.size]
    zones = [(float(z[a]), float(z[b - 1])) for a, b in itertools.pairwise(bounds) if flat[a]]
    if len(zones) > 4:  # periodic (sine): describe by where f′ vanishes
        return "near every zero of f′ (sine: z ≈ ±1.57, ±4.71, …)"
    words = []
    for lo, hi in zones:
        if lo <= -10.0 and hi >= 10.0:
            words.append("everywhere")
        elif lo <= -10.0:
            words.append("z ≤ 0" if abs(hi) < 1e-9 else f"z < {hi:.2f}")
        elif hi >= 10.0:
            words.append(f"z > {lo:.2f}")
        else:
            words.append(f"{lo:.2f} < z < {hi:.2f}")
    if len(words) == 2 and words[0].startswith("z <") and words[1].startswith("z >"):
        lo, hi = zones[0][1], zones[1][0]
        if abs(lo + hi) < 1e-3:
            return f"|z| > {hi:.2f}"  # the two flat tails of sigmoid and tanh
    return " or ".join(words).replace("-", "−")
