"""The network's parameters and a fast, cache-free forward pass.

All parameters live in one flat vector ``theta`` (P,), laid out layer by layer as
``[W_0 (row-major), b_0, W_1, b_1, …]``; ``weights[l]`` (n_in, n_out) and ``biases[l]``
(n_out,) are *views* into it, and the gradient ``grad`` has the same layout. One flat vector
makes the optimiser a handful of whole-vector operations, whatever the depth. Modify
parameters in place (``net.weights[0][...] = W``), never by rebinding list entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from engine.activations import ACTIVATIONS, Activation, get_activation
from engine.initializers import INITIALIZERS
from engine.layers import dense_forward
from engine.losses import OutputHead, apply_head

FloatArray = NDArray[np.float64]


def param_views(
    flat: FloatArray, sizes: Sequence[int]
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Per-layer views ``(weights, biases)`` into a flat (P,) vector laid out as ``theta``."""
    ws, bs, off = [], [], 0
    for n_in, n_out in itertools.pairwise(sizes):
        ws.append(flat[off : off + n_in * n_out].reshape(n_in, n_out))
        off += n_in * n_out
        bs.append(flat[off : off + n_out])
        off += n_out
    return ws, bs


class Network:
    """A fully connected network: ``sizes = [n_features, h_1, …, h_H, n_outputs]``.

    ``activations`` names the hidden layers' activations (length H); the output layer is
    linear (it produces logits; the head nonlinearity belongs to the loss, see
    :mod:`engine.losses`). Weights come from the initialiser with the given generator,
    layer by layer; biases start at zero.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str],
        head: OutputHead,
        init: str = "xavier_uniform",
        init_scale: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if len(activations) != len(sizes) - 2:
            raise ValueError("activations: need one per hidden layer")
        self.sizes = [int(s) for s in sizes]
        self.head = head
        self.activations: list[Activation] = [get_activation(a) for a in activations]
        self.activations.append(ACTIVATIONS["linear"])
        self.n_params = sum(i * o + o for i, o in itertools.pairwise(self.sizes))
        self.theta = np.zeros(self.n_params)
        self.grad = np.zeros(self.n_params)
        self.theta_prev = np.zeros(self.n_params)  # parameters before the most recent update
        self.weights, self.biases = param_views(self.theta, self.sizes)
        self.grad_weights, self.grad_biases = param_views(self.grad, self.sizes)
        self.weights_prev, self.biases_prev = param_views(self.theta_prev, self.sizes)
        # 1.0 on weights, 0.0 on biases: regularisation and weight decay act on weights only.
        self.decay_mask = np.zeros(self.n_params)
        for w in param_views(self.decay_mask, self.sizes)[0]:
            w[...] = 1.0
        starts, off = [], 0
        for n_in, n_out in itertools.pairwise(self.sizes):
            starts += [off, off + n_in * n_out]
            off += n_in * n_out + n_out
        self._segment_starts = np.array(starts, dtype=np.intp)
        rng = np.random.default_rng(0) if rng is None else rng
        initializer = INITIALIZERS[init]
        for w in self.weights:
            w[...] = initializer.fn(rng, w.shape[0], w.shape[1], init_scale)
        np.copyto(self.theta_prev, self.theta)

    @property
    def n_layers(self) -> int:
        """Number of weight layers L = hidden layers + 1."""
        return len(self.sizes) - 1

    def weight_offset(self, layer: int) -> int:
        """Index in ``theta`` of W_layer[0, 0] (the layout is ``[W_0, b_0, W_1, b_1, …]``)."""
        return int(self._segment_starts[2 * layer])

    def weight_sq_norms(self, flat: FloatArray) -> FloatArray:
        """(L,) Σ of squares of each layer's *weight* block of a flat (P,) vector."""
        return np.add.reduceat(flat * flat, self._segment_starts)[0::2]

    def forward_layers(self, x: FloatArray) -> list[FloatArray]:
        """Every layer's activation for inputs x (N, n_features): list of (N, n_l) arrays,
        the last one the logits. The same layer function as training, caches dropped."""
        out, a = [], x
        for W, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            a, _ = dense_forward(a, W, b, act)
            out.append(a)
        return out

    def forward(self, x: FloatArray) -> FloatArray:
        """Logits (N, K) for inputs x (N, n_features)."""
        a = x
        for W, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            a, _ = dense_forward(a, W, b, act)
        return a

    def shadow(self, theta: FloatArray) -> Network:
        """A network with this one's structure whose parameters are ``theta`` (P,) (a view,
        not a copy) and whose gradient buffer is its own: a pass through it leaves this
        network untouched (e.g. the pass a step's forward made, before its update)."""
        twin = object.__new__(Network)
        twin.sizes, twin.head, twin.activations = self.sizes, self.head, self.activations
        twin.n_params, twin.decay_mask = self.n_params, self.decay_mask
        twin._segment_starts = self._segment_starts
        twin.theta, twin.grad = theta, np.zeros(self.n_params)
        twin.theta_prev = theta.copy()
        twin.weights, twin.biases = param_views(twin.theta, self.sizes)
        twin.grad_weights, twin.grad_biases = param_views(twin.grad, self.sizes)
        twin.weights_prev, twin.biases_prev = param_views(twin.theta_prev, self.sizes)
        return twin

    def predict(self, x: FloatArray) -> FloatArray:
        """head(logits) (N, K): probabilities for classification, values for regression."""
        return apply_head(self.forward(x), self.head.head)

    def regularization_loss(self, l1: float, l2: float) -> float:
        """λ₁·Σ|w| + ½·λ₂·Σw² over all weights (never biases) at the current parameters."""
        reg = 0.0
        if l2:
            w = self.theta * self.decay_mask
            reg += 0.5 * l2 * float(w @ w)
        if l1:
            reg += l1 * float(np.abs(self.theta) @ self.decay_mask)
        return reg
