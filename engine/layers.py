"""One dense layer as a forward/backward pair with a typed cache (the CS231n layout).

Both the fast training path and the staged (teaching) path call exactly these two functions,
so the arithmetic, and therefore every bit of the result, is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.activations import Activation

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DenseCache:
    """What the backward pass needs from the forward pass."""

    x: FloatArray  # (B, n_in)  input to the layer
    z: FloatArray  # (B, n_out) pre-activation z = x @ W + b
    a: FloatArray  # (B, n_out) activation a = f(z)


@dataclass(frozen=True, slots=True)
class DenseGrads:
    """Gradients of the (batch-mean) loss for one layer.

    ``dz = da ⊙ f′(z)`` already contains the 1/B of the batch-mean loss, so
    ``dW = xᵀ dz`` and ``db = Σ_n dz`` are batch averages of per-sample gradients.
    """

    fprime: FloatArray  # (B, n_out) f′(z)
    dz: FloatArray  # (B, n_out) ∂L/∂z
    dW: FloatArray  # noqa: N815 - (n_in, n_out) ∂L/∂W
    db: FloatArray  # (n_out,) ∂L/∂b
    da_prev: FloatArray | None  # (B, n_in) ∂L/∂x, None when not requested (first layer)


def dense_forward(
    x: FloatArray, W: FloatArray, b: FloatArray, act: Activation
) -> tuple[FloatArray, DenseCache]:
    """``z = x @ W + b``, ``a = f(z)``. Shapes: x (B, n_in), W (n_in, n_out), b (n_out,)."""
    z = x @ W
    z += b
    a = act.fn(z)
    return a, DenseCache(x, z, a)


def dense_backward(
    da: FloatArray,
    cache: DenseCache,
    W: FloatArray,
    act: Activation,
    *,
    need_da_prev: bool = True,
    out_dW: FloatArray | None = None,
    out_db: FloatArray | None = None,
) -> DenseGrads:
    """Backward through ``a = f(x @ W + b)`` given ``da = ∂L/∂a`` of shape (B, n_out).

    ``dz = da ⊙ f′(z)``, ``dW = xᵀ dz``, ``db = Σ_n dz``, ``da_prev = dz Wᵀ``.
    ``out_dW``/``out_db`` (optional) receive dW and db in place, e.g. views into a flat
    gradient vector.
    """
    fprime = act.grad(cache.z, cache.a)
    # The linear output layer's dz is da itself (the product by 1.0 would be exact anyway).
    dz = da if act.name == "linear" else da * fprime
    dW = np.matmul(cache.x.T, dz, out=out_dW)
    db = np.add.reduce(dz, axis=0, out=out_db)
    da_prev = dz @ W.T if need_da_prev else None
    return DenseGrads(fprime, dz, dW, db, da_prev)
