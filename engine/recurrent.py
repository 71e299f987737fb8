"""A recurrent network's parameters and a fast, cache-free forward pass over whole sequences.

One recurrent layer of H units (a cell from :mod:`engine.recurrent_cells`) reads sequences of
F features; a linear output head maps h_t to K logits, on the last step or on every step
(the head nonlinearity belongs to the loss, as for the dense network). All parameters live in
one flat vector ``theta`` (P,), laid out as

    [W_xh (F, G), W_hh (H, G), b_h (G,), W_hy (H, K), b_y (K,)]   (matrices row-major)

so that ``W = [W_xh; W_hh]`` (F + H, G) is one contiguous view (the cells' ``W``), and the
gradient ``grad`` has the same layout. G = blocks · H (rnn 1, gru 3, lstm 4 blocks).
Modify parameters in place, never by rebinding the views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.activations import ACTIVATIONS, Activation
from engine.initializers import INITIALIZERS
from engine.layers import dense_forward
from engine.losses import OutputHead, apply_head
from engine.recurrent_cells import CELLS, Cell, cell_forward

FloatArray = NDArray[np.float64]
LINEAR = ACTIVATIONS["linear"]
# The parameter blocks in the order of ``theta``; weights are regularised, biases not.
BLOCKS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
WEIGHT_BLOCKS = ("W_xh", "W_hh", "W_hy")
_WEIGHT_INDEX = [BLOCKS.index(name) for name in WEIGHT_BLOCKS]


@dataclass(frozen=True, slots=True)
class RecurrentShape:
    """The sizes of a recurrent network: F inputs, H hidden units, K outputs, T timesteps."""

    cell: str
    n_inputs: int
    hidden: int
    n_outputs: int
    length: int
    head: str  # "last" | "every"

    @property
    def gates(self) -> int:
        """G = blocks · H, the columns of W_xh and W_hh."""
        return CELLS[self.cell].blocks * self.hidden

    def block_shapes(self) -> dict[str, tuple[int, ...]]:
        F, H, G, K = self.n_inputs, self.hidden, self.gates, self.n_outputs
        return {"W_xh": (F, G), "W_hh": (H, G), "b_h": (G,), "W_hy": (H, K), "b_y": (K,)}

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.block_shapes().values())


def block_views(flat: FloatArray, shape: RecurrentShape) -> dict[str, FloatArray]:
    """Views ``name → array`` into a flat (P,) vector laid out as ``theta``, plus ``"W"``:
    the stacked [W_xh; W_hh] (F + H, G)."""
    views, off = {}, 0
    for name, s in shape.block_shapes().items():
        size = int(np.prod(s))
        views[name] = flat[off : off + size].reshape(s)
        off += size
    F, H, G = shape.n_inputs, shape.hidden, shape.gates
    views["W"] = flat[: (F + H) * G].reshape(F + H, G)
    return views


def init_recurrent_weights(
    shape: RecurrentShape,
    rng: np.random.Generator,
    init: str,
    init_scale: float | None,
    recurrent_init: str,
    recurrent_scale: float | None,
    forget_bias: float,
) -> FloatArray:
    """θ (P,) for a new network. Each gate block is drawn on its own, as if it were a layer
    of H units: W_xh's blocks (F, H) and the head W_hy (H, K) from ``init``, W_hh's blocks
    (H, H) from ``recurrent_init`` (so ``orthogonal`` makes every recurrent block
    orthogonal). Biases start at zero, except the LSTM's forget gate: ``forget_bias`` (1 by
    default, so that the cell keeps its state at first; Jozefowicz et al. 2015)."""
    theta = np.zeros(shape.n_params)
    v = block_views(theta, shape)
    H, blocks = shape.hidden, CELLS[shape.cell].blocks
    draw_in, draw_rec = INITIALIZERS[init].fn, INITIALIZERS[recurrent_init].fn
    for k in range(blocks):
        v["W_xh"][:, k * H : (k + 1) * H] = draw_in(rng, shape.n_inputs, H, init_scale)
        v["W_hh"][:, k * H : (k + 1) * H] = draw_rec(rng, H, H, recurrent_scale)
    v["W_hy"][...] = draw_in(rng, H, shape.n_outputs, init_scale)
    if shape.cell == "lstm":
        v["b_h"][H : 2 * H] = forget_bias
    return theta


class RecurrentNetwork:
    """One recurrent layer and a linear head. See the module docstring for the layout.

    Views into ``theta``: ``W`` (F + H, G) = [W_xh; W_hh], ``W_xh``, ``W_hh``, ``b_h``,
    ``W_hy`` (H, K), ``b_y`` (K,); into ``grad``: ``grad_blocks[name]`` (same names).
    """

    def __init__(self, shape: RecurrentShape, activation: str, head: OutputHead) -> None:
        self.shape = shape
        self.cell: Cell = CELLS[shape.cell]
        self.act: Activation = ACTIVATIONS[activation]
        self.head = head
        self.n_params = shape.n_params
        self.theta = np.zeros(self.n_params)
        self.grad = np.zeros(self.n_params)
        self.theta_prev = np.zeros(self.n_params)  # parameters before the most recent update
        self.decay_mask = np.zeros(self.n_params)
        mask = block_views(self.decay_mask, shape)
        for name in WEIGHT_BLOCKS:
            mask[name][...] = 1.0
        starts, off = [], 0
        for s in shape.block_shapes().values():
            starts.append(off)
            off += int(np.prod(s))
        self._block_starts = np.array(starts, dtype=np.intp)  # where each block begins
        self._bind()

    def _bind(self) -> None:
        v = block_views(self.theta, self.shape)
        self.W, self.W_xh, self.W_hh, self.b_h = v["W"], v["W_xh"], v["W_hh"], v["b_h"]
        self.W_hy, self.b_y = v["W_hy"], v["b_y"]
        self.grad_blocks = block_views(self.grad, self.shape)

    @property
    def length(self) -> int:
        return self.shape.length

    @property
    def hidden(self) -> int:
        return self.shape.hidden

    @property
    def every_step(self) -> bool:
        """Whether the head reads every step (else only the last)."""
        return self.shape.head == "every"

    def head_at(self, t: int) -> bool:
        """Whether the output head reads h_t."""
        return self.every_step or t == self.shape.length - 1

    def shadow(self, theta: FloatArray) -> RecurrentNetwork:
        """A network of the same shape whose parameters are ``theta`` (P,) (a view, not a copy)
        and whose gradient buffer is its own: a pass through it leaves this one untouched."""
        twin = object.__new__(RecurrentNetwork)
        twin.shape, twin.cell, twin.act, twin.head = self.shape, self.cell, self.act, self.head
        twin.n_params, twin.decay_mask = self.n_params, self.decay_mask
        twin._block_starts = self._block_starts
        twin.theta, twin.grad = theta, np.zeros(self.n_params)
        twin.theta_prev = theta.copy()
        twin._bind()
        return twin

    def blocks(self, flat: FloatArray) -> dict[str, FloatArray]:
        """Views ``name → array`` into any flat (P,) vector of this layout (θ, a gradient, Δθ)."""
        return block_views(flat, self.shape)

    def weight_sq_norms(self, flat: FloatArray) -> FloatArray:
        """(3,) Σ of squares of the W_xh, W_hh and W_hy blocks of a flat (P,) vector."""
        return np.add.reduceat(flat * flat, self._block_starts)[_WEIGHT_INDEX]

    def forward_states(self, x: FloatArray) -> tuple[list[FloatArray], list[FloatArray | None]]:
        """Hidden states h_t (N, H) and cell states c_t (lstm, else None) for t = 0 … T−1, for
        time-major inputs x (T, N, F): the same cell function as training, caches dropped."""
        N = x.shape[1]
        h = np.zeros((N, self.hidden))
        c = np.zeros((N, self.hidden)) if self.cell.has_cell_state else None
        hs, cs = [], []
        for t in range(x.shape[0]):
            h, c, _ = cell_forward(self.cell, self.act, x[t], h, c, self.W, self.b_h)
            hs.append(h)
            cs.append(c)
        return hs, cs

    def forward(self, x: FloatArray) -> FloatArray:
        """Logits for time-major inputs x (T, N, F): (N, K) from the last step, or (T, N, K)
        from every step (by the head mode)."""
        N = x.shape[1]
        h = np.zeros((N, self.hidden))
        c = np.zeros((N, self.hidden)) if self.cell.has_cell_state else None
        out = []
        for t in range(x.shape[0]):
            h, c, _ = cell_forward(self.cell, self.act, x[t], h, c, self.W, self.b_h)
            if self.head_at(t):
                out.append(dense_forward(h, self.W_hy, self.b_y, LINEAR)[0])
        return np.stack(out) if self.every_step else out[-1]

    def predict(self, x: FloatArray) -> FloatArray:
        """head(logits): probabilities for binary tasks, values for regression."""
        logits = self.forward(x)
        flat = logits.reshape(-1, logits.shape[-1])
        return apply_head(flat, self.head.head).reshape(logits.shape)

    def regularization_loss(self, l1: float, l2: float) -> float:
        """λ₁·Σ|w| + ½·λ₂·Σw² over the weights W_xh, W_hh, W_hy (never biases)."""
        reg = 0.0
        if l2:
            w = self.theta * self.decay_mask
            reg += 0.5 * l2 * float(w @ w)
        if l1:
            reg += l1 * float(np.abs(self.theta) @ self.decay_mask)
        return reg
