"""Recurrent cells: one timestep as a forward/backward pair with a typed cache.

The same layout as :mod:`engine.layers`, one timestep at a time. Row vectors throughout:
``x_t`` is (B, F), the hidden state ``h_t`` is (B, H), and one weight matrix ``W`` of shape
(F + H, G) holds the input weights ``W_xh = W[:F]`` above the recurrent weights
``W_hh = W[F:]``, so that ``[x_t, h_{t−1}] @ W`` is ``x_t @ W_xh + h_{t−1} @ W_hh``.
``G = blocks · H``: one block per gate, side by side in the order of :attr:`Cell.gates`.
The bias ``b`` is (G,). The initial state h_{−1} (and c_{−1}) is zero.

- ``rnn``:  h_t = f(x_t W_xh + h_{t−1} W_hh + b), f = tanh, relu or linear.
- ``gru`` (Cho et al. 2014, reset applied before the recurrent product):
  r = σ(·), u = σ(·) (the update gate, "z" in the paper), n = tanh(x_t W_xn + (r ⊙ h_{t−1}) W_hn
  + b_n), h_t = u ⊙ h_{t−1} + (1 − u) ⊙ n.
- ``lstm`` (with a forget gate, Gers et al. 2000): i, f, o = σ(·), g = tanh(·),
  c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t).

A backward function takes ∂L/∂h_t (and ∂L/∂c_t) — the *total* gradient at this timestep, from
the output head and from the later timesteps — and returns the gradient at the gate
pre-activations ``dz`` (B, G) and the gradient passed back to h_{t−1} (and c_{t−1}).
The parameter gradient of this timestep, its *contribution* to ∂L/∂W, is
:func:`weight_contribution`; backprop through time adds the contributions of every timestep.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from engine.activations import Activation

FloatArray = NDArray[np.float64]
CellName = Literal["rnn", "gru", "lstm"]
RNN_ACTIVATIONS = ("tanh", "relu", "linear")


def _sigmoid_in_place(a: FloatArray) -> None:
    """a ← σ(a) = ½(1 + tanh(a/2)), the registry's formula (no overflow), without copies."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1.0
    a *= 0.5


@dataclass(frozen=True, slots=True)
class RNNCache:
    """What the rnn cell's backward needs from its forward at one timestep."""

    xh: FloatArray  # (B, F + H) [x_t, h_{t−1}]
    z: FloatArray  # (B, H) pre-activation
    h: FloatArray  # (B, H) h_t = f(z)


@dataclass(frozen=True, slots=True)
class GRUCache:
    """What the GRU's backward needs from its forward at one timestep."""

    xh: FloatArray  # (B, F + H) [x_t, h_{t−1}]
    xrh: FloatArray  # (B, F + H) [x_t, r ⊙ h_{t−1}]
    gates: FloatArray  # (B, 3H) [r | u | n] after σ, σ, tanh
    h: FloatArray  # (B, H)


@dataclass(frozen=True, slots=True)
class LSTMCache:
    """What the LSTM's backward needs from its forward at one timestep."""

    xh: FloatArray  # (B, F + H) [x_t, h_{t−1}]
    gates: FloatArray  # (B, 4H) [i | f | o | g] after σ, σ, σ, tanh
    c_prev: FloatArray  # (B, H) c_{t−1}
    c: FloatArray  # (B, H) c_t
    tanh_c: FloatArray  # (B, H) tanh(c_t)
    h: FloatArray  # (B, H) h_t = o ⊙ tanh(c_t)


CellCache = RNNCache | GRUCache | LSTMCache


@dataclass(frozen=True, slots=True)
class CellGrads:
    """Gradients of the (batch-mean) loss at one timestep.

    ``dz`` already carries the 1/B of the batch-mean loss, like the dense layer's.
    """

    dz: FloatArray  # (B, G) ∂L/∂(gate pre-activations), blocks as in the cache's gates
    dh_prev: FloatArray | None  # (B, H) ∂L/∂h_{t−1} through this step; None if not requested
    dc_prev: FloatArray | None  # (B, H) ∂L/∂c_{t−1} (lstm; None otherwise or not requested)
    dc: FloatArray | None  # (B, H) ∂L/∂c_t, the total at this timestep (lstm only)


# --- rnn -------------------------------------------------------------------------------------


def rnn_forward(
    x: FloatArray, h_prev: FloatArray, W: FloatArray, b: FloatArray, act: Activation
) -> tuple[FloatArray, RNNCache]:
    """``h_t = f([x_t, h_{t−1}] @ W + b)``. x (B, F), h_prev (B, H), W (F + H, H), b (H,)."""
    xh = np.concatenate((x, h_prev), axis=1)
    z = xh @ W
    z += b
    h = act.fn(z)
    return h, RNNCache(xh, z, h)


def rnn_backward(
    dh: FloatArray, cache: RNNCache, W: FloatArray, act: Activation, *, need_dh_prev: bool = True
) -> CellGrads:
    """``dz = dh ⊙ f′(z)``, ``dh_prev = dz W_hhᵀ``; dh (B, H) is the total ∂L/∂h_t."""
    dz = dh if act.name == "linear" else dh * act.grad(cache.z, cache.h)
    H = dh.shape[1]
    dh_prev = dz @ W[-H:].T if need_dh_prev else None
    return CellGrads(dz, dh_prev, None, None)


# --- gru -------------------------------------------------------------------------------------


def gru_forward(
    x: FloatArray, h_prev: FloatArray, W: FloatArray, b: FloatArray
) -> tuple[FloatArray, GRUCache]:
    """One GRU step. x (B, F), h_prev (B, H), W (F + H, 3H) with blocks [r | u | n], b (3H,)."""
    H = h_prev.shape[1]
    xh = np.concatenate((x, h_prev), axis=1)
    ru = xh @ W[:, : 2 * H]
    ru += b[: 2 * H]
    _sigmoid_in_place(ru)
    r, u = ru[:, :H], ru[:, H:]
    xrh = np.concatenate((x, r * h_prev), axis=1)
    n = xrh @ W[:, 2 * H :]
    n += b[2 * H :]
    np.tanh(n, out=n)
    # h = u ⊙ h_prev + (1 − u) ⊙ n, written as n + u ⊙ (h_prev − n)
    h = h_prev - n
    h *= u
    h += n
    return h, GRUCache(xh, xrh, np.concatenate((ru, n), axis=1), h)


def gru_backward(
    dh: FloatArray, cache: GRUCache, W: FloatArray, *, need_dh_prev: bool = True
) -> CellGrads:
    """Backward through one GRU step; dh (B, H) is the total ∂L/∂h_t."""
    H = dh.shape[1]
    F = cache.xh.shape[1] - H
    gates, h_prev = cache.gates, cache.xh[:, F:]
    ru, n = gates[:, : 2 * H], gates[:, 2 * H :]
    r, u = gates[:, :H], gates[:, H : 2 * H]
    dz_n = dh * (1.0 - u)  # ∂L/∂n
    dz_n *= 1.0 - n * n  # through tanh
    d_rh = dz_n @ W[F:, 2 * H :].T  # ∂L/∂(r ⊙ h_prev)
    # [∂L/∂r | ∂L/∂u] = [d_rh ⊙ h_prev | dh ⊙ (h_prev − n)], then through σ
    dz_ru = np.concatenate((d_rh * h_prev, dh * (h_prev - n)), axis=1)
    dz_ru *= ru * (1.0 - ru)
    dh_prev = None
    if need_dh_prev:
        dh_prev = dz_ru @ W[F:, : 2 * H].T
        dh_prev += dh * u
        dh_prev += d_rh * r
    return CellGrads(np.concatenate((dz_ru, dz_n), axis=1), dh_prev, None, None)


# --- lstm ------------------------------------------------------------------------------------


def lstm_forward(
    x: FloatArray, h_prev: FloatArray, c_prev: FloatArray, W: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray, LSTMCache]:
    """One LSTM step. x (B, F), h_prev and c_prev (B, H), W (F + H, 4H) with blocks
    [i | f | o | g], b (4H,). Returns (h_t, c_t, cache)."""
    H = h_prev.shape[1]
    xh = np.concatenate((x, h_prev), axis=1)
    a = xh @ W
    a += b
    sig = a[:, : 3 * H] * 0.5  # σ(a) = ½(1 + tanh(a/2)), the registry's formula
    np.tanh(sig, out=sig)
    sig += 1.0
    sig *= 0.5
    g = np.tanh(a[:, 3 * H :])
    i, f, o = sig[:, :H], sig[:, H : 2 * H], sig[:, 2 * H :]
    c = f * c_prev
    c += i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, LSTMCache(xh, np.concatenate((sig, g), axis=1), c_prev, c, tanh_c, h)


def lstm_backward(
    dh: FloatArray,
    dc_next: FloatArray | None,
    cache: LSTMCache,
    W: FloatArray,
    *,
    need_dh_prev: bool = True,
) -> CellGrads:
    """Backward through one LSTM step. ``dh`` (B, H) is the total ∂L/∂h_t; ``dc_next``
    (B, H) is ∂L/∂c_t through c_{t+1} (None at the last step or where BPTT was cut)."""
    H = dh.shape[1]
    gates, tc = cache.gates, cache.tanh_c
    i, f, o, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    dc = 1.0 - tc * tc
    dc *= o
    dc *= dh
    if dc_next is not None:
        dc += dc_next
    # [∂L/∂i | ∂L/∂f | ∂L/∂o | ∂L/∂g], then through σ (the three gates) and tanh (g)
    dz = np.concatenate((dc * g, dc * cache.c_prev, dh * tc, dc * i), axis=1)
    slope = gates * (1.0 - gates)
    slope[:, 3 * H :] = 1.0 - g * g
    dz *= slope
    dh_prev = dc_prev = None
    if need_dh_prev:
        dh_prev = dz @ W[-H:].T
        dc_prev = dc * f
    return CellGrads(dz, dh_prev, dc_prev, dc)


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell kind: its gate blocks (in column order of W) and its formulas.

    ``gate_activations`` names the nonlinearity of each block (what saturates);
    ``state`` is what the backward pass carries from one timestep to the one before.
    """

    name: CellName
    gates: tuple[str, ...]
    gate_activations: tuple[str, ...]
    state: tuple[str, ...]
    formula: str

    @property
    def blocks(self) -> int:
        return len(self.gates)

    @property
    def has_cell_state(self) -> bool:
        return "c" in self.state


CELLS: dict[str, Cell] = {
    c.name: c
    for c in (
        Cell(
            "rnn",
            ("h",),
            ("",),  # the rnn cell's own activation (tanh, relu or linear)
            ("h",),
            "h_t = f(x_t·W_xh + h_{t−1}·W_hh + b)",
        ),
        Cell(
            "gru",
            ("reset", "update", "candidate"),
            ("sigmoid", "sigmoid", "tanh"),
            ("h",),
            "r = σ(x_t·W_xr + h_{t−1}·W_hr + b_r);  u = σ(x_t·W_xu + h_{t−1}·W_hu + b_u);  "
            "n = tanh(x_t·W_xn + (r ⊙ h_{t−1})·W_hn + b_n);  h_t = u ⊙ h_{t−1} + (1 − u) ⊙ n",
        ),
        Cell(
            "lstm",
            ("input", "forget", "output", "candidate"),
            ("sigmoid", "sigmoid", "sigmoid", "tanh"),
            ("h", "c"),
            "i, f, o = σ(x_t·W_x· + h_{t−1}·W_h· + b_·);  "
            "g = tanh(x_t·W_xg + h_{t−1}·W_hg + b_g);  "
            "c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)",
        ),
    )
}


def cell_forward(
    cell: Cell,
    act: Activation,
    x: FloatArray,
    h_prev: FloatArray,
    c_prev: FloatArray | None,
    W: FloatArray,
    b: FloatArray,
) -> tuple[FloatArray, FloatArray | None, CellCache]:
    """One step of any cell: (h_t, c_t or None, cache). ``act`` is the rnn cell's f."""
    if cell.name == "rnn":
        h, rc = rnn_forward(x, h_prev, W, b, act)
        return h, None, rc
    if cell.name == "gru":
        h, gc = gru_forward(x, h_prev, W, b)
        return h, None, gc
    assert c_prev is not None
    h, c, lc = lstm_forward(x, h_prev, c_prev, W, b)
    return h, c, lc


def cell_backward(
    act: Activation,
    dh: FloatArray,
    dc_next: FloatArray | None,
    cache: CellCache,
    W: FloatArray,
    *,
    need_dh_prev: bool = True,
) -> CellGrads:
    """Backward through one step of any cell (see the per-cell functions)."""
    if isinstance(cache, RNNCache):
        return rnn_backward(dh, cache, W, act, need_dh_prev=need_dh_prev)
    if isinstance(cache, GRUCache):
        return gru_backward(dh, cache, W, need_dh_prev=need_dh_prev)
    return lstm_backward(dh, dc_next, cache, W, need_dh_prev=need_dh_prev)


def weight_contribution(cache: CellCache, dz: FloatArray) -> FloatArray:
    """This timestep's term of ∂L/∂W, (F + H, G): ``[x_t, h_{t−1}]ᵀ dz`` (the GRU's candidate
    block: ``[x_t, r ⊙ h_{t−1}]ᵀ dz_n``). Rows :F are its term of ∂L/∂W_xh, rows F: of
    ∂L/∂W_hh. Backprop through time adds these (and ``Σ_n dz`` for the bias) over the
    timesteps, in the order t = T−1 … 0."""
    if isinstance(cache, GRUCache):
        H = cache.h.shape[1]
        out = np.empty((cache.xh.shape[1], 3 * H))
        out[:, : 2 * H] = cache.xh.T @ dz[:, : 2 * H]
        out[:, 2 * H :] = cache.xrh.T @ dz[:, 2 * H :]
        return out
    contribution: FloatArray = cache.xh.T @ dz
    return contribution


def gate_values(cell: Cell, cache: CellCache) -> dict[str, FloatArray]:
    """Each gate's values (B, H) after its nonlinearity, by name (empty for the rnn cell)."""
    if isinstance(cache, RNNCache):
        return {}
    H = cache.h.shape[1]
    return {name: cache.gates[:, k * H : (k + 1) * H] for k, name in enumerate(cell.gates)}


def gate_slopes(cell: Cell, cache: CellCache) -> dict[str, FloatArray]:
    """Each gate's local slope (B, H): σ′ = s(1 − s) or tanh′ = 1 − g² at its value."""
    out = {}
    for (name, values), kind in zip(
        gate_values(cell, cache).items(), cell.gate_activations, strict=True
    ):
        out[name] = values * (1.0 - values) if kind == "sigmoid" else 1.0 - values * values
    return out


def cache_rows(cache: CellCache, row: int, copies: int) -> CellCache:
    """The cache of batch row ``row`` repeated ``copies`` times: a backward pass on it with
    ``copies`` basis vectors as the upstream gradient gives that sample's state Jacobian."""
    rows = [np.repeat(getattr(cache, f.name)[row : row + 1], copies, axis=0) for f in fields(cache)]
    return type(cache)(*rows)
