"""The stages of a recurrent network's step: backprop through time, one timestep per stage.

The program is :func:`engine.stages.recurrent_program`: ``forward t = 0 … T−1, loss,
backward t = T−1 … 0, update``. Staged stepping, the fast path, the replay of an imported step
and the search for where training diverged all walk it with :func:`run_recurrent_stage`, so
they perform identical arithmetic and give bit-identical parameters. The update stage is the
dense network's own :func:`engine.stages.apply_update` (gradient, clipping, optimiser step).

``forward t`` runs the cell on x_t and h_{t−1} (and the head on h_t, if the head reads step t).
``backward t`` takes ∂L/∂h_t — from the head at t plus what step t+1 sent back — runs the
cell's backward, *adds* this timestep's contribution to ∂L/∂W and ∂L/∂b, and sends ∂L/∂h_{t−1}
(and ∂L/∂c_{t−1}) on to step t − 1. The gradient buffer is zeroed at ``backward T−1``, so
after ``backward 0`` it holds the sum of the contributions of every timestep, added in the
order t = T−1 … 0.

Truncated BPTT (``truncate = k``): the hidden state is detached every k steps counted back
from the last step — ``backward t`` sends nothing on to t − 1 when T − t is a multiple of k.
A head on the last step then sends its gradient back exactly k timesteps (t = T−k … T−1);
a head on every step sends each output's gradient back to the start of its chunk of k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.layers import DenseCache, DenseGrads, dense_backward, dense_forward
from engine.losses import LOSSES
from engine.optimizers import OptimizerState
from engine.recurrent import LINEAR, RecurrentNetwork
from engine.recurrent_cells import (
    CellCache,
    CellGrads,
    LSTMCache,
    cell_backward,
    cell_forward,
    weight_contribution,
)
from engine.stages import Divergence, Stage, StepProgram, UpdateSettings, apply_update

FloatArray = NDArray[np.float64]


@dataclass(slots=True)
class SequenceRecord:
    """Everything computed so far in one step. Time first: x (T, B, F); ``targets`` (B, K)
    for a head on the last step, (T, B, K) for a head on every step; ``y`` (B, T) the
    task's raw targets of the batch (NaN where it defines none). Lists hold one entry per
    timestep, None until that timestep's stage has run."""

    indices: NDArray[np.intp]
    x: FloatArray
    y: FloatArray
    targets: FloatArray
    caches: list[CellCache | None]
    head_caches: list[DenseCache | None]
    cell_grads: list[CellGrads | None]
    head_grads: list[DenseGrads | None]
    dh: list[FloatArray | None]  # ∂L/∂h_t (B, H), the total at t, once backward t has run
    carry_h: FloatArray | None = None  # ∂L/∂h_{t−1} sent back by the last backward stage
    carry_c: FloatArray | None = None  # ∂L/∂c_{t−1} likewise (lstm)
    loss: float | None = None
    regularization_loss: float = 0.0
    logits: FloatArray | None = None  # (B, K) or (T, B, K), gathered by the loss stage
    dlogits: FloatArray | None = None  # same shape as logits
    delta: FloatArray | None = None  # Δθ of this step's update (P,)
    update_grad: FloatArray | None = None  # g the optimiser was given (regularised, clipped)
    state_before: OptimizerState | None = None  # the optimiser state before this update
    settings: UpdateSettings | None = None  # the hyperparameters this update used
    grad_norm_total: float | None = None  # ‖g‖ before clipping (computed when clipping is on)
    clipped: bool = False  # whether that norm exceeded grad_clip and g was scaled
    arrays_dropped: bool = False  # per-timestep arrays dropped to save memory

    @classmethod
    def start(
        cls,
        n_timesteps: int,
        indices: NDArray[np.intp],
        x: FloatArray,
        y: FloatArray,
        t: FloatArray,
    ) -> SequenceRecord:
        T = n_timesteps
        return cls(indices, x, y, t, [None] * T, [None] * T, [None] * T, [None] * T, [None] * T)

    @property
    def array_bytes(self) -> int:
        """Bytes held by the per-timestep arrays (the cells' and the head's caches and
        gradients; an array two of them share, such as c_{t−1}, counted once)."""
        arrays: dict[int, FloatArray] = {}
        for c in self.caches:
            if c is not None:
                arrays.update((id(a), a) for a in _arrays(c))
        for g in self.cell_grads:
            if g is not None:
                arrays.update(
                    (id(a), a) for a in (g.dz, g.dh_prev, g.dc_prev, g.dc) if a is not None
                )
        for hc in self.head_caches:
            if hc is not None:
                arrays.update((id(a), a) for a in (hc.z, hc.a))
        for hg in self.head_grads:
            if hg is not None:
                parts = (hg.fprime, hg.dz, hg.dW, hg.db, hg.da_prev)
                arrays.update((id(a), a) for a in parts if a is not None)
        for d in self.dh:
            if d is not None:
                arrays[id(d)] = d
        return sum(a.nbytes for a in arrays.values())

    def without_arrays(self) -> SequenceRecord:
        """This record with its per-timestep arrays dropped (the batch, the loss and the
        update kept); :attr:`arrays_dropped` tells readers to replay the step for them."""
        T = len(self.caches)
        light = SequenceRecord.start(T, self.indices, self.x, self.y, self.targets)
        light.loss, light.regularization_loss = self.loss, self.regularization_loss
        light.update_grad, light.state_before = self.update_grad, self.state_before
        light.settings, light.delta = self.settings, self.delta
        light.grad_norm_total, light.clipped = self.grad_norm_total, self.clipped
        light.arrays_dropped = True
        return light


def _arrays(cache: CellCache) -> list[FloatArray]:
    return [getattr(cache, name) for name in cache.__slots__]


# --- the stages ----------------------------------------------------------------------------


def forward_timestep(net: RecurrentNetwork, rec: SequenceRecord, t: int) -> None:
    """The cell at timestep t (and the head, if it reads h_t)."""
    prev = rec.caches[t - 1] if t > 0 else None
    if prev is None:
        B = rec.x.shape[1]
        h_prev = np.zeros((B, net.hidden))
        c_prev = np.zeros((B, net.hidden)) if net.cell.has_cell_state else None
    else:
        h_prev = prev.h
        c_prev = prev.c if isinstance(prev, LSTMCache) else None
    h, _, cache = cell_forward(net.cell, net.act, rec.x[t], h_prev, c_prev, net.W, net.b_h)
    rec.caches[t] = cache
    if net.head_at(t):
        rec.head_caches[t] = dense_forward(h, net.W_hy, net.b_y, LINEAR)[1]


def compute_loss(net: RecurrentNetwork, rec: SequenceRecord, l1: float, l2: float) -> None:
    """The batch data loss and ∂L/∂logits. A head on every step: the mean over the batch *and*
    the timesteps (the loss functions average over the rows of (T·B, K))."""
    outs = [c.a for c in rec.head_caches if c is not None]
    assert len(outs) == (net.length if net.every_step else 1), "forward pass incomplete"
    logits = np.stack(outs) if net.every_step else outs[0]
    K = logits.shape[-1]
    loss, dlogits = LOSSES[net.head.loss].fn(
        logits.reshape(-1, K), rec.targets.reshape(-1, K), net.head.head
    )
    rec.logits, rec.loss, rec.dlogits = logits, loss, dlogits.reshape(logits.shape)
    rec.regularization_loss = net.regularization_loss(l1, l2)


def cuts_before(t: int, n_timesteps: int, truncate: int | None) -> bool:
    """Whether ``backward t`` sends nothing back to t − 1: at t = 0 (the initial state is not
    learned) and, with truncated BPTT at k, where T − t is a multiple of k."""
    return t == 0 or (truncate is not None and (n_timesteps - t) % truncate == 0)


def backward_timestep(
    net: RecurrentNetwork, rec: SequenceRecord, t: int, truncate: int | None
) -> None:
    """Backward through timestep t; its contributions are added into ``net.grad``."""
    T = net.length
    cache = rec.caches[t]
    assert cache is not None and rec.dlogits is not None, "stages out of order"
    if t == T - 1:
        net.grad[...] = 0.0
    g = net.grad_blocks
    dh = rec.carry_h
    if net.head_at(t):
        head_cache = rec.head_caches[t]
        assert head_cache is not None
        dlogits = rec.dlogits[t] if net.every_step else rec.dlogits
        hg = dense_backward(dlogits, head_cache, net.W_hy, LINEAR)
        g["W_hy"] += hg.dW
        g["b_y"] += hg.db
        rec.head_grads[t] = hg
        assert hg.da_prev is not None
        dh = hg.da_prev if dh is None else dh + hg.da_prev
    if dh is None:  # nothing reaches this timestep (cut off, and no head here)
        dh = np.zeros_like(cache.h)
    rec.dh[t] = dh
    cut = cuts_before(t, T, truncate)
    cg = cell_backward(net.act, dh, rec.carry_c, cache, net.W, need_dh_prev=not cut)
    g["W"] += weight_contribution(cache, cg.dz)
    g["b_h"] += np.add.reduce(cg.dz, axis=0)
    rec.cell_grads[t] = cg
    rec.carry_h, rec.carry_c = cg.dh_prev, cg.dc_prev


def run_recurrent_stage(
    net: RecurrentNetwork,
    rec: SequenceRecord,
    stage: Stage,
    state: OptimizerState,
    settings: UpdateSettings,
    truncate: int | None = None,
) -> None:
    """Run one stage of the recurrent step program on ``rec``."""
    kind = stage.kind
    if kind == "forward":
        assert stage.timestep is not None
        forward_timestep(net, rec, stage.timestep)
    elif kind == "backward":
        assert stage.timestep is not None
        backward_timestep(net, rec, stage.timestep, truncate)
    elif kind == "loss":
        compute_loss(net, rec, settings.l1, settings.l2)
    elif kind == "update":
        apply_update(net, rec, state, settings)
    else:
        raise ValueError(f"stage: {stage!r} is not a stage of a step")


def gradient_norms(grads: list[FloatArray | None]) -> FloatArray:
    """(T,) Frobenius norms of per-timestep (B, H) gradients, NaN where one is None. One
    computation for the history and the trace, so both show the same bits."""
    norms = np.full(len(grads), np.nan)
    present = [k for k, g in enumerate(grads) if g is not None]
    if present:
        stacked = np.stack([grads[k] for k in present])  # type: ignore[misc]
        norms[present] = np.sqrt(np.einsum("tbh,tbh->t", stacked, stacked))
    return norms


# --- divergence ----------------------------------------------------------------------------


def _finite(*arrays: FloatArray | None) -> bool:
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def recurrent_nonfinite_at(
    net: RecurrentNetwork, rec: SequenceRecord, stage: Stage
) -> Divergence | None:
    """Where the outputs of ``stage`` (already run on ``rec``) first hold a NaN or Inf, as a
    divergence of step 0 (the caller knows the step); None when finite or not yet computed."""
    kind, t = stage.kind, stage.timestep
    if kind == "forward":
        assert t is not None
        c, hc = rec.caches[t], rec.head_caches[t]
        bad = (c is not None and not _finite(*_arrays(c))) or (hc is not None and not _finite(hc.z))
    elif kind == "loss":
        bad = rec.loss is not None and not (np.isfinite(rec.loss) and _finite(rec.dlogits))
    elif kind == "backward":
        assert t is not None
        g, hg = rec.cell_grads[t], rec.head_grads[t]
        bad = (g is not None and not _finite(g.dz, g.dh_prev, g.dc_prev)) or (
            hg is not None and not _finite(hg.dW, hg.da_prev)
        )
    elif kind == "update":
        if rec.delta is None or _finite(net.theta):
            return None
        return Divergence(0, "update", None)
    else:
        return None
    return Divergence(0, kind, None, t) if bad else None


def locate_recurrent_divergence(
    net: RecurrentNetwork, rec: SequenceRecord, step: int, program: StepProgram
) -> Divergence | None:
    """Walk a step's stages in program order; the first with a non-finite output."""
    for stage in program.stages:
        found = recurrent_nonfinite_at(net, rec, stage)
        if found is not None:
            return Divergence(step, found.stage, None, found.timestep)
    return None


def locate_forward_divergence(net: RecurrentNetwork, x: FloatArray, step: int) -> Divergence | None:
    """The first timestep whose state holds a non-finite value on the inputs x (T, N, F)."""
    hs, cs = net.forward_states(x)
    for t, (h, c) in enumerate(zip(hs, cs, strict=True)):
        if not _finite(h, c):
            return Divergence(step, "forward", None, t)
    return None
