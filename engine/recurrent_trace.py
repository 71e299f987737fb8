"""A recurrent step's trace, timestep by timestep: states, gates, gradients, and why the
gradient vanished or exploded on its way back through time.

Norms: ‖·‖ of an array is its Frobenius norm (for a (B, H) gradient: over the batch and the
units); ‖·‖₂ of a matrix is its spectral norm. L is the batch-mean loss of the step.

The itemised gradient: backprop through time computes ∂L/∂W_hh as a sum over the timesteps of
one term each, C_t = (rows F: of) [x_t, h_{t−1}]ᵀ dz_t (the GRU's candidate block reads
r ⊙ h_{t−1}); likewise for W_xh (rows :F), b_h and the head's W_hy. :func:`timestep_contribution`
gives one timestep's terms; added in backprop's order t = T−1 … 0 they give the gradient
exactly, bit for bit (in another order, to rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.activations import ACTIVATIONS
from engine.diagnostics import SATURATION_THRESHOLD, saturated_fraction
from engine.losses import apply_head
from engine.recurrent import RecurrentNetwork
from engine.recurrent_cells import (
    LSTMCache,
    RNNCache,
    gate_slopes,
    gate_values,
    weight_contribution,
)
from engine.recurrent_diagnostics import (
    GradientReach,
    JacobianChain,
    jacobian_chain,
    last_output_profile,
    reach_of,
)
from engine.recurrent_stages import SequenceRecord, cuts_before, gradient_norms
from engine.stages import Stage, StageKind

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TimestepContribution:
    """Timestep t's own term of each gradient (what backprop adds at ``backward t``).
    Shapes: dW_xh (F, G), dW_hh (H, G), db_h (G,), dW_hy (H, K), db_y (K,); the head's terms
    are None where the head does not read step t."""

    t: int
    dW_xh: FloatArray  # noqa: N815 - the maths' names
    dW_hh: FloatArray  # noqa: N815
    db_h: FloatArray
    dW_hy: FloatArray | None  # noqa: N815
    db_y: FloatArray | None


def timestep_contribution(
    net: RecurrentNetwork, rec: SequenceRecord, t: int
) -> TimestepContribution:
    """Recompute timestep t's terms from its cache and gradients, with the same functions the
    backward stage used (so they are the very numbers it added)."""
    cache, g, hg = rec.caches[t], rec.cell_grads[t], rec.head_grads[t]
    assert cache is not None and g is not None, "backward t has not run"
    C = weight_contribution(cache, g.dz)
    F = net.shape.n_inputs
    return TimestepContribution(
        t,
        C[:F],
        C[F:],
        np.add.reduce(g.dz, axis=0),
        None if hg is None else hg.dW.copy(),
        None if hg is None else hg.db.copy(),
    )


@dataclass(frozen=True, slots=True)
class TimestepTrace:
    """Timestep t of the current step. Arrays are None until their stage has run.

    Shapes: x (B, F); h, c, dh, dc (B, H); z (B, H) (rnn only); gates name → (B, H) after
    the gate's nonlinearity (gru: reset, update, candidate; lstm: input, forget, output,
    candidate; rnn: none); logits (B, K) where the head reads step t; dz (B, G).

    - ``dh_norm`` = ‖∂L/∂h_t‖, the total gradient at h_t (from the head at t and from the
      later timesteps); ``dc_norm`` = ‖∂L/∂c_t‖ (lstm).
    - ``contribution_norm_xh`` / ``_hh`` / ``_hy`` = ‖this timestep's term of ∂L/∂W_xh‖,
      ‖… of ∂L/∂W_hh‖ and ‖… of ∂L/∂W_hy‖ (None for W_hy where the head does not read t).
    - ``jacobian_norm``, ``jacobian_product``, ``gain_to_last``: of the trace's ``sample``,
      see :class:`engine.recurrent_diagnostics.JacobianChain`.
    - ``saturated`` name → share of (sample, unit) entries with |f′| < 5 % of f's largest
      slope, per gate (for the rnn cell: its activation, under the name "h");
      ``gate_mean`` name → mean gate value over the batch and the units.
    - ``cut``: backward t sends nothing back to t − 1 (t = 0, or truncated BPTT cuts here).
    """

    t: int
    x: FloatArray
    h: FloatArray | None
    c: FloatArray | None
    z: FloatArray | None
    gates: dict[str, FloatArray]
    logits: FloatArray | None
    dh: FloatArray | None
    dc: FloatArray | None
    dz: FloatArray | None
    dh_norm: float | None
    dc_norm: float | None
    contribution_norm_xh: float | None
    contribution_norm_hh: float | None
    contribution_norm_hy: float | None
    jacobian_norm: float | None
    jacobian_product: float | None
    gain_to_last: float | None
    saturated: dict[str, float]
    gate_mean: dict[str, float]
    cut: bool


@dataclass(frozen=True, slots=True)
class RecurrentTrace:
    """Everything about the current step (or the last completed one), timestep by timestep.

    ``params`` are the parameters this step's forward pass used (before its update, once it
    ran), by block name (W_xh (F, G), W_hh (H, G), b_h (G,), W_hy (H, K), b_y (K,));
    ``grads`` the data-loss gradient by block: the sum of the contributions of the timesteps
    the backward pass has reached so far (None before the first backward stage);
    ``update`` Δθ by block of the most recent update (this step's once it ran) and
    ``update_ratio`` (3,) its ‖ΔW‖/‖W‖ for W_xh, W_hh, W_hy.

    ``batch_x`` (B, T, F), ``batch_y`` (B, T) the task's targets (NaN where none);
    ``targets`` as the loss sees them ((B, K) last step, (T, B, K) every step);
    ``prediction`` = head(logits), same shape, once the forward pass is complete.

    ``reach``: how far back the last output's gradient reaches (None before the loss stage);
    ``contribution_share[t]`` = Σ_{s ≤ t} ‖C_s‖ ÷ Σ_s ‖C_s‖ over the terms C_s of ∂L/∂W_hh:
    the share of the gradient's size that comes from the first t + 1 timesteps (None until
    the backward pass is complete, or when every term is 0); see :meth:`share_first`.
    """

    step: int
    stage: StageKind
    stage_timestep: int | None
    sample: int
    cell: str
    activation: str
    head_mode: str
    n_timesteps: int
    truncate: int | None
    batch_indices: NDArray[np.intp]
    batch_x: FloatArray
    batch_y: FloatArray
    targets: FloatArray
    prediction: FloatArray | None
    loss: float | None
    regularization_loss: float
    loss_name: str
    head: str
    params: dict[str, FloatArray]
    grads: dict[str, FloatArray] | None
    update: dict[str, FloatArray] | None
    update_ratio: FloatArray | None
    grad_norm_total: float | None
    clipped: bool
    timesteps: list[TimestepTrace]
    jacobians: JacobianChain
    reach: GradientReach | None
    contribution_share: FloatArray | None

    def share_first(self, k: int) -> float | None:
        """The share of ∂L/∂W_hh's size from the first k timesteps (t < k), as
        ``contribution_share`` defines it; None when that is not available."""
        if self.contribution_share is None or k < 1:
            return None if self.contribution_share is None else 0.0
        return float(self.contribution_share[min(k, self.n_timesteps) - 1])

    def dh_norms(self) -> FloatArray:
        """(T,) ‖∂L/∂h_t‖ per timestep (NaN where the backward pass has not reached t)."""
        return np.array([np.nan if s.dh_norm is None else s.dh_norm for s in self.timesteps])


def _norm(a: FloatArray | None) -> float | None:
    return None if a is None else float(np.sqrt(np.vdot(a, a)))


def build_recurrent_trace(
    net: RecurrentNetwork,
    rec: SequenceRecord,
    stage: Stage,
    step: int,
    sample: int,
    truncate: int | None,
    last_delta: FloatArray | None,
    last_update_ratio: FloatArray | None,
    grad: FloatArray,
) -> RecurrentTrace:
    """The trace of the step in ``rec`` whose last completed stage is ``stage``. ``net`` holds
    the parameters the step's forward pass used (a shadow, for a finished step); ``grad``
    (P,) the gradient the backward pass has added up so far. Arrays are copies or arrays no
    stage writes again: the trace stays valid while training goes on."""
    T, F = net.length, net.shape.n_inputs
    done_update = stage.kind == "update"
    backward_started = any(g is not None for g in rec.cell_grads)
    chain = jacobian_chain(net, rec.caches, sample)
    dh_norms = gradient_norms(rec.dh)
    dc_norms = gradient_norms([None if g is None else g.dc for g in rec.cell_grads])
    steps = []
    for t in range(T):
        cache, g, hc = rec.caches[t], rec.cell_grads[t], rec.head_caches[t]
        gates = {} if cache is None else gate_values(net.cell, cache)
        saturated: dict[str, float] = {}
        if isinstance(cache, RNNCache):
            fp = net.act.grad(cache.z, cache.h)
            saturated["h"] = saturated_fraction(fp, net.act)
        elif cache is not None:
            for (name, slope), kind in zip(
                gate_slopes(net.cell, cache).items(), net.cell.gate_activations, strict=True
            ):
                top = ACTIVATIONS[kind].max_slope
                saturated[name] = float(np.mean(np.abs(slope) < SATURATION_THRESHOLD * top))
        c_xh = c_hh = None
        if cache is not None and g is not None:
            C = weight_contribution(cache, g.dz)
            c_xh, c_hh = _norm(C[:F]), _norm(C[F:])
        hg = rec.head_grads[t]
        steps.append(
            TimestepTrace(
                t=t,
                x=rec.x[t],
                h=None if cache is None else cache.h,
                c=cache.c if isinstance(cache, LSTMCache) else None,
                z=cache.z if isinstance(cache, RNNCache) else None,
                gates=gates,
                logits=None if hc is None else hc.a,
                dh=rec.dh[t],
                dc=None if g is None else g.dc,
                dz=None if g is None else g.dz,
                dh_norm=None if rec.dh[t] is None else float(dh_norms[t]),
                dc_norm=None if g is None or g.dc is None else float(dc_norms[t]),
                contribution_norm_xh=c_xh,
                contribution_norm_hh=c_hh,
                contribution_norm_hy=None if hg is None else _norm(hg.dW),
                jacobian_norm=chain.norm[t],
                jacobian_product=chain.product[t],
                gain_to_last=chain.gain_to_last[t],
                saturated=saturated,
                gate_mean={k: float(np.mean(v)) for k, v in gates.items()},
                cut=cuts_before(t, T, truncate),
            )
        )
    share = None
    norms = [s.contribution_norm_hh for s in steps]
    if all(n is not None for n in norms):
        total = np.array(norms, dtype=np.float64)
        if total.sum() > 0.0:
            share = np.cumsum(total) / total.sum()
    profile = last_output_profile(net, rec, truncate)
    head_outputs = [c.a for c in rec.head_caches if c is not None]
    complete = len(head_outputs) == (T if net.every_step else 1)
    prediction = None
    if complete:
        logits = np.stack(head_outputs) if net.every_step else head_outputs[0]
        K = logits.shape[-1]
        prediction = apply_head(logits.reshape(-1, K), net.head.head).reshape(logits.shape)
    delta = rec.delta if done_update else last_delta
    return RecurrentTrace(
        step=step,
        stage=stage.kind,
        stage_timestep=stage.timestep,
        sample=sample,
        cell=net.cell.name,
        activation=net.act.name,
        head_mode=net.shape.head,
        n_timesteps=T,
        truncate=truncate,
        batch_indices=rec.indices.copy(),
        batch_x=np.swapaxes(rec.x, 0, 1).copy(),
        batch_y=rec.y.copy(),
        targets=rec.targets,
        prediction=prediction,
        loss=rec.loss,
        regularization_loss=rec.regularization_loss,
        loss_name=net.head.loss,
        head=net.head.head,
        params=_blocks(net, net.theta.copy()),
        grads=_blocks(net, grad.copy()) if backward_started else None,
        update=None if delta is None else _blocks(net, delta.copy()),
        update_ratio=None if last_update_ratio is None else last_update_ratio.copy(),
        grad_norm_total=rec.grad_norm_total,
        clipped=rec.clipped,
        timesteps=steps,
        jacobians=chain,
        reach=None if profile is None else reach_of(profile),
        contribution_share=share,
    )


def _blocks(net: RecurrentNetwork, flat: FloatArray) -> dict[str, FloatArray]:
    views = net.blocks(flat)
    return {name: views[name] for name in ("W_xh", "W_hh", "b_h", "W_hy", "b_y")}
