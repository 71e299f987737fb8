"""Diagnostics of a recurrent network: gradient check, state Jacobians, how far back the
gradient reaches.

Pure functions of a :class:`~engine.recurrent.RecurrentNetwork` and arrays; none of them
changes the network (the gradient check perturbs one parameter at a time and restores it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.diagnostics import GRADIENT_CHECK_TOLERANCE
from engine.layers import dense_forward
from engine.losses import LOSSES
from engine.recurrent import BLOCKS, LINEAR, RecurrentNetwork
from engine.recurrent_cells import CellCache, LSTMCache, cache_rows, cell_backward, cell_forward
from engine.recurrent_stages import (
    SequenceRecord,
    cuts_before,
    gradient_norms,
    run_recurrent_stage,
)
from engine.stages import Stage, UpdateSettings, recurrent_program

FloatArray = NDArray[np.float64]
REACH_THRESHOLD = 0.01  # "reaches" timestep t: ‖∂L/∂h_t‖ at least 1 % of its largest value


# --- a full pass without side effects -------------------------------------------------------


def full_sequence_pass(
    net: RecurrentNetwork,
    x: FloatArray,
    targets: FloatArray,
    theta: FloatArray | None = None,
    truncate: int | None = None,
) -> tuple[SequenceRecord, FloatArray]:
    """Every stage of a step but the update, on x (T, B, F) and targets ((B, K) or (T, B, K)),
    through a shadow of ``net`` with parameters ``theta`` (default: the current ones): the
    same program and cell functions as training, nothing written into ``net``. Returns the
    record and the data-loss gradient (P,)."""
    shadow = net.shadow(net.theta if theta is None else theta)
    B = x.shape[1]
    rows = np.arange(B, dtype=np.intp)
    rec = SequenceRecord.start(net.length, rows, x, np.zeros((B, net.length)), targets)
    settings = UpdateSettings("sgd", 0.0, {})
    for stage in recurrent_program(net.length).through(Stage("backward", timestep=0)):
        run_recurrent_stage(shadow, rec, stage, {}, settings, truncate)
    return rec, shadow.grad


def sequence_loss(
    net: RecurrentNetwork,
    x: FloatArray,
    targets: FloatArray,
    frozen: dict[int, tuple[FloatArray, FloatArray | None]] | None = None,
) -> float:
    """The batch data loss of ``net`` on x (T, B, F), forward only. ``frozen`` maps a timestep
    t to the state (h_{t−1}, c_{t−1}) to read instead of the one just computed: the loss whose
    exact gradient truncated BPTT computes (the state held fixed at every cut)."""
    B = x.shape[1]
    h = np.zeros((B, net.hidden))
    c = np.zeros((B, net.hidden)) if net.cell.has_cell_state else None
    outs = []
    for t in range(net.length):
        if frozen is not None and t in frozen:
            h, c = frozen[t]
        h, c, _ = cell_forward(net.cell, net.act, x[t], h, c, net.W, net.b_h)
        if net.head_at(t):
            outs.append(dense_forward(h, net.W_hy, net.b_y, LINEAR)[0])
    logits = np.stack(outs) if net.every_step else outs[0]
    K = logits.shape[-1]
    return LOSSES[net.head.loss].fn(logits.reshape(-1, K), targets.reshape(-1, K), net.head.head)[0]


def frozen_states(
    rec: SequenceRecord, truncate: int | None
) -> dict[int, tuple[FloatArray, FloatArray | None]]:
    """The states entering every timestep where truncated BPTT cuts (t > 0), from a pass."""
    T = len(rec.caches)
    out: dict[int, tuple[FloatArray, FloatArray | None]] = {}
    for t in range(1, T):
        if cuts_before(t, T, truncate):
            prev = rec.caches[t - 1]
            assert prev is not None
            out[t] = (prev.h.copy(), prev.c.copy() if isinstance(prev, LSTMCache) else None)
    return out


# --- gradient check -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockGradientCheck:
    """Relative error ‖g_num − g_bp‖ / (‖g_num‖ + ‖g_bp‖) over the checked entries of one
    parameter block (W_xh, W_hh, b_h, W_hy or b_y)."""

    block: str
    relative_error: float
    n_checked: int


@dataclass(frozen=True, slots=True)
class RecurrentGradientCheck:
    """Central differences (L(θ+ε) − L(θ−ε)) / 2ε of the total loss vs backprop through
    time, per parameter block."""

    blocks: list[BlockGradientCheck]
    max_relative_error: float
    passed: bool  # max_relative_error < tolerance
    eps: float
    tolerance: float
    batch_size: int
    truncate: int | None  # the check is of truncated BPTT against the loss with frozen cuts


def _rel_error(num: FloatArray, bp: FloatArray) -> float:
    denom = float(np.linalg.norm(num) + np.linalg.norm(bp))
    return 0.0 if denom == 0.0 else float(np.linalg.norm(num - bp)) / denom


def _pick(n: int, limit: int | None) -> NDArray[np.intp]:
    if limit is None or n <= limit:
        return np.arange(n, dtype=np.intp)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


def recurrent_gradient_check(
    net: RecurrentNetwork,
    x: FloatArray,
    targets: FloatArray,
    l1: float = 0.0,
    l2: float = 0.0,
    eps: float = 1e-5,
    max_entries: int | None = 64,
    tolerance: float = GRADIENT_CHECK_TOLERANCE,
    truncate: int | None = None,
) -> RecurrentGradientCheck:
    """Check backprop through time against central differences of L_data + L_reg at the
    current θ, on x (T, B, F). ``max_entries`` caps the entries checked per block (evenly
    spread; None = all). With ``truncate = k`` the truncated gradient is checked against the
    loss with the state held at its unperturbed value wherever the backward pass cuts."""
    rec, bp_all = full_sequence_pass(net, x, targets, truncate=truncate)
    frozen = frozen_states(rec, truncate) if truncate is not None else None
    theta = net.theta

    def total_loss() -> float:
        return sequence_loss(net, x, targets, frozen) + net.regularization_loss(l1, l2)

    blocks, worst = [], 0.0
    offset = 0
    views = net.blocks(theta)
    for name in BLOCKS:
        size = views[name].size
        flat = theta[offset : offset + size]
        bp = bp_all[offset : offset + size].copy()
        mask = net.decay_mask[offset : offset + size]
        bp += (l2 * flat + l1 * np.sign(flat)) * mask
        idx = _pick(size, max_entries)
        num = np.empty(idx.size)
        for n, k in enumerate(idx):
            old = flat[k]
            flat[k] = old + eps
            up = total_loss()
            flat[k] = old - eps
            down = total_loss()
            flat[k] = old
            num[n] = (up - down) / (2.0 * eps)
        err = _rel_error(num, bp[idx])
        blocks.append(BlockGradientCheck(name, err, int(idx.size)))
        worst = max(worst, err)
        offset += size
    return RecurrentGradientCheck(
        blocks, worst, bool(worst < tolerance), eps, tolerance, int(x.shape[1]), truncate
    )


# --- state Jacobians ------------------------------------------------------------------------


def state_jacobian(net: RecurrentNetwork, cache: CellCache, sample: int) -> FloatArray:
    """J_t = ∂s_t/∂s_{t−1} (S, S) for one batch sample, row i = ∂s_t[i]/∂s_{t−1}, where the
    state s is h (rnn, gru; S = H) or [h, c] (lstm; S = 2H). Computed by the cell's own
    backward function on S basis vectors, so it is exactly the map backprop applies."""
    H = net.hidden
    if isinstance(cache, LSTMCache):
        S = 2 * H
        eye = np.eye(S)
        g = cell_backward(net.act, eye[:, :H], eye[:, H:], cache_rows(cache, sample, S), net.W)
        assert g.dh_prev is not None and g.dc_prev is not None
        return np.concatenate((g.dh_prev, g.dc_prev), axis=1)
    g = cell_backward(net.act, np.eye(H), None, cache_rows(cache, sample, H), net.W)
    assert g.dh_prev is not None
    return g.dh_prev


@dataclass(frozen=True, slots=True)
class JacobianChain:
    """Per timestep t, for one batch sample (None where the forward pass has not run):

    - ``norm[t]`` = ‖J_t‖₂, the spectral norm (largest singular value) of the state Jacobian
      J_t = ∂s_t/∂s_{t−1} (s = h, or [h, c] for the lstm; J_0 is taken at h_{−1} = 0);
    - ``product[t]`` = Π_{s = t+1}^{T−1} ‖J_s‖₂ (1 at t = T−1): the running product, an upper
      bound on how much a gradient at the last step can grow on its way back to step t;
    - ``gain_to_last[t]`` = ‖∂s_{T−1}/∂s_t‖₂ = ‖J_{T−1} ⋯ J_{t+1}‖₂ (1 at t = T−1): that
      growth exactly (at most ``product[t]``).
    """

    sample: int
    norm: list[float | None]
    product: list[float | None]
    gain_to_last: list[float | None]


def jacobian_chain(
    net: RecurrentNetwork, caches: list[CellCache | None], sample: int
) -> JacobianChain:
    """The state Jacobians of one batch sample along the sequence (see JacobianChain)."""
    T = len(caches)
    jac = [None if c is None else state_jacobian(net, c, sample) for c in caches]
    norm: list[float | None] = [None if j is None else _spectral(j) for j in jac]
    product: list[float | None] = [None] * T
    gain: list[float | None] = [None] * T
    if all(j is not None for j in jac):
        running, chain = 1.0, None
        for t in range(T - 1, -1, -1):
            product[t] = running
            gain[t] = 1.0 if chain is None else _spectral(chain)
            j, n = jac[t], norm[t]
            assert j is not None and n is not None
            running *= n
            chain = j if chain is None else chain @ j
    return JacobianChain(sample, norm, product, gain)


def _spectral(m: FloatArray) -> float:
    if not np.isfinite(m).all():
        return float("nan")
    return float(np.linalg.svd(m, compute_uv=False)[0])


# --- how far back the gradient reaches ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GradientReach:
    """How far back the gradient of the last step's output reaches.

    ``profile[t]`` = ‖∂L_{T−1}/∂h_t‖ (Frobenius over the batch and the units), L_{T−1} the
    loss term of the last step's output (the whole loss when the head reads only the last
    step), as backprop (truncated, if so set) computes it. ``earliest`` is the first timestep
    t with ``profile[t] ≥ threshold · max(profile)``, and ``steps = T − earliest``: the
    gradient reaches back ``steps`` timesteps, the last one counted. None when the gradient
    is zero everywhere.
    """

    steps: int | None
    earliest: int | None
    threshold: float
    profile: FloatArray  # (T,)


def reach_of(profile: FloatArray, threshold: float = REACH_THRESHOLD) -> GradientReach:
    """:class:`GradientReach` of a profile (T,) of gradient norms."""
    top = float(np.max(profile)) if profile.size else 0.0
    if not top > 0.0 or not np.isfinite(top):
        return GradientReach(None, None, threshold, profile)
    earliest = int(np.flatnonzero(profile >= threshold * top)[0])
    return GradientReach(profile.size - earliest, earliest, threshold, profile)


def last_output_profile(
    net: RecurrentNetwork, rec: SequenceRecord, truncate: int | None
) -> FloatArray | None:
    """‖∂L_{T−1}/∂h_t‖ for t = 0 … T−1 (see GradientReach), once the loss stage has run:
    the last output's gradient sent back alone, through the same cell backward functions."""
    T = net.length
    if rec.dlogits is None or any(c is None for c in rec.caches):
        return None
    last = rec.dlogits[T - 1] if net.every_step else rec.dlogits
    dh: FloatArray | None = last @ net.W_hy.T  # as the head's backward computes it
    dc: FloatArray | None = None
    reached: list[FloatArray | None] = [None] * T
    for t in range(T - 1, -1, -1):
        cache = rec.caches[t]
        assert cache is not None and dh is not None
        reached[t] = dh
        if cuts_before(t, T, truncate):
            break
        g = cell_backward(net.act, dh, dc, cache, net.W)
        dh, dc = g.dh_prev, g.dc_prev
    return np.nan_to_num(gradient_norms(reached), nan=0.0)  # nothing reaches past a cut
