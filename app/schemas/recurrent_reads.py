"""What a recurrent session's read routes answer: the trace timestep by timestep, one
timestep's itemised gradient, the history with ‖∂L/∂h_t‖ per timestep, the sequences and the
gradient check. Per-unit arrays are the chosen batch ``sample``'s only (H values a timestep),
to keep the answers small; everything is ``null`` where its stage has not run yet.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, SkipValidation

from app.schemas.recurrent import Stage
from app.schemas.wire import Floats, Matrix, Real, ResponseModel, attributes, floats, ints
from engine.recurrent_diagnostics import GradientReach, JacobianChain, RecurrentGradientCheck
from engine.recurrent_history import RecurrentHistorySlice
from engine.recurrent_trace import RecurrentTrace, TimestepContribution, TimestepTrace
from engine.sequences import SequenceDataset

Block = Annotated[list[list[Real]] | list[Real], SkipValidation]
"""A parameter block: a (rows, columns) matrix (W_xh, W_hh, W_hy) or a vector (b_h, b_y)."""
Tensor3 = Annotated[list[list[list[Real]]], SkipValidation]
BLOCK_DOC = "By block: W_xh (F, G), W_hh (H, G), b_h (G,), W_hy (H, K), b_y (K,); G = gates × H."


def _row(a: np.ndarray | None, sample: int) -> Any:
    return None if a is None else floats(a[sample])


def _blocks(blocks: dict[str, np.ndarray] | None) -> dict[str, Any] | None:
    return None if blocks is None else {name: floats(v) for name, v in blocks.items()}


class TimestepModel(ResponseModel):
    """Timestep t of the current step, for the trace's sample (null until its stage ran)."""

    t: int
    x: Floats = Field(description="(F,) the sample's input at t.")
    h: Floats | None = Field(description="(H,) h_t; null before forward t.")
    c: Floats | None = Field(description="(H,) the lstm's cell state c_t; null otherwise.")
    gates: dict[str, Floats] = Field(
        description="Gate name → (H,) values after its nonlinearity (gru: reset, update, "
        "candidate; lstm: input, forget, output, candidate; rnn: none)."
    )
    dh: Floats | None = Field(description="(H,) ∂L/∂h_t; null before backward reaches t.")
    dh_norm: Real = Field(
        description="‖∂L/∂h_t‖ over the batch and the units; null before backward reaches t."
    )
    dc_norm: Real = Field(description="‖∂L/∂c_t‖ (lstm); null otherwise or before.")
    contribution_norm_xh: Real = Field(description="‖this timestep's term of ∂L/∂W_xh‖.")
    contribution_norm_hh: Real = Field(description="‖this timestep's term of ∂L/∂W_hh‖.")
    contribution_norm_hy: Real = Field(
        description="‖this timestep's term of ∂L/∂W_hy‖; null where the head does not read t."
    )
    jacobian_norm: Real = Field(description="‖∂s_t/∂s_{t−1}‖₂ (spectral) for the sample.")
    jacobian_product: Real = Field(
        description="Π_{s>t} ‖J_s‖₂: upper bound on the gain from the last step back to t."
    )
    gain_to_last: Real = Field(description="‖∂s_{T−1}/∂s_t‖₂ exactly (≤ jacobian_product).")
    saturated: dict[str, Real] = Field(
        description="Gate (rnn: 'h') → share of (sample, unit) entries with |f′| < 5 % of max."
    )
    gate_mean: dict[str, Real] = Field(description="Gate → mean value over batch and units.")
    cut: bool = Field(
        description="Backward t sends nothing back to t − 1 (t = 0, or truncated BPTT cuts)."
    )

    @classmethod
    def from_engine(cls, ts: TimestepTrace, sample: int) -> TimestepModel:
        return cls(
            **attributes(
                ts,
                cls,
                x=floats(ts.x[sample]),
                h=_row(ts.h, sample),
                c=_row(ts.c, sample),
                gates={name: floats(v[sample]) for name, v in ts.gates.items()},
                dh=_row(ts.dh, sample),
            )
        )


class JacobiansModel(ResponseModel):
    sample: int
    norm: Floats = Field(description="(T,) ‖J_t‖₂, J_t = ∂s_t/∂s_{t−1}; null before forward t.")
    product: Floats = Field(description="(T,) Π_{s=t+1}^{T−1} ‖J_s‖₂ (1 at T−1).")
    gain_to_last: Floats = Field(description="(T,) ‖∂s_{T−1}/∂s_t‖₂ (1 at T−1).")

    @classmethod
    def from_engine(cls, chain: JacobianChain) -> JacobiansModel:
        return cls(**attributes(chain, cls))


class ReachModel(ResponseModel):
    """How far back the last output's gradient reaches."""

    steps: int | None = Field(description="T − earliest: timesteps reached (null: no gradient).")
    earliest: int | None = Field(description="First t with profile[t] ≥ threshold · max.")
    threshold: float
    profile: Floats = Field(description="(T,) ‖∂L_{T−1}/∂h_t‖.")

    @classmethod
    def from_engine(cls, reach: GradientReach | None) -> ReachModel | None:
        return (
            None if reach is None else cls(**attributes(reach, cls, profile=floats(reach.profile)))
        )


class RecurrentTraceModel(ResponseModel):
    """``GET /trace`` of a recurrent session: the current (or last completed) step."""

    model: Literal["recurrent"]
    step: int
    stage: Stage
    stage_timestep: int | None = Field(description="Timestep of the last completed stage.")
    sample: int = Field(description="The batch sequence the per-unit arrays belong to.")
    cell: str
    activation: str
    head_mode: Literal["last", "every"]
    n_timesteps: int
    truncate: int | None
    loss: Real = Field(description="Batch data loss; null before the loss stage.")
    loss_name: str
    head: str
    regularization_loss: Real
    grad_norm_total: Real = Field(description="‖∂L/∂θ‖ before clipping; null before.")
    clipped: bool
    diverged: bool
    prediction: Matrix | None = Field(
        description="(head steps, K) the sample's head output (1 row: last step; T: every "
        "step); null until the forward pass is complete."
    )
    targets: Matrix = Field(description="(head steps, K) the sample's targets.")
    batch_x: Matrix = Field(description="(T, F) the sample's inputs.")
    reach: ReachModel | None
    contribution_share: Floats | None = Field(
        description="(T,) Σ_{s≤t}‖C_s‖ / Σ_s‖C_s‖ over the terms C_s of ∂L/∂W_hh; null until "
        "the backward pass is complete."
    )
    jacobians: JacobiansModel
    timesteps: list[TimestepModel]
    params: dict[str, Block] = Field(description="Parameters this step used. " + BLOCK_DOC)
    grads: dict[str, Block] | None = Field(
        description="∂L/∂θ so far (sum of the reached timesteps' terms); null before backward."
    )
    update_ratio: Floats | None = Field(
        description="(3,) ‖ΔW‖/‖W‖ for W_xh, W_hh, W_hy of the latest update."
    )

    @classmethod
    def from_engine(cls, trace: RecurrentTrace, diverged: bool) -> RecurrentTraceModel:
        s = trace.sample
        targets = trace.targets[s] if trace.head_mode == "last" else trace.targets[:, s]
        prediction = None
        if trace.prediction is not None:
            p = trace.prediction
            prediction = floats(p[s : s + 1] if trace.head_mode == "last" else p[:, s])
        return cls(
            **attributes(
                trace,
                cls,
                model="recurrent",
                diverged=diverged,
                prediction=prediction,
                targets=floats(np.reshape(targets, (-1, trace.targets.shape[-1]))),
                batch_x=floats(trace.batch_x[s]),
                reach=ReachModel.from_engine(trace.reach),
                contribution_share=floats(trace.contribution_share),
                jacobians=JacobiansModel.from_engine(trace.jacobians),
                timesteps=[TimestepModel.from_engine(ts, s) for ts in trace.timesteps],
                params=_blocks(trace.params),
                grads=_blocks(trace.grads),
                update_ratio=floats(trace.update_ratio),
            )
        )


class TimestepDetailModel(ResponseModel):
    """``GET /timestep/{t}``: timestep t in full, with its itemised gradient."""

    model: Literal["recurrent"]
    step: int
    stage: Stage
    stage_timestep: int | None
    n_timesteps: int
    timestep: TimestepModel
    contribution: dict[str, Block | None] | None = Field(
        description="This timestep's own term of each gradient (what backward t added). "
        + BLOCK_DOC
        + " W_hy and b_y are null where the head does not read t; the whole is null until "
        "the backward pass reaches t."
    )
    contribution_norms: dict[str, Real] | None = Field(
        description="Block → ‖this timestep's term‖ (Frobenius)."
    )
    grads: dict[str, Block] | None = Field(
        description="The gradient so far (the sum of the reached timesteps' terms)."
    )
    grad_norms: dict[str, Real] | None = Field(description="Block → ‖∂L/∂block‖ so far.")
    share: dict[str, Real] | None = Field(
        description="Block → ‖term‖ / Σ_s ‖term_s‖ over the reached timesteps: this "
        "timestep's share of the gradient's size (null where every term is 0)."
    )

    @classmethod
    def build(
        cls,
        trace: RecurrentTrace,
        t: int,
        contribution: TimestepContribution | None,
        totals: dict[str, float] | None,
    ) -> TimestepDetailModel:
        terms = norms = share = None
        if contribution is not None:
            arrays = {
                name: getattr(contribution, name)
                for name in ("dW_xh", "dW_hh", "db_h", "dW_hy", "db_y")
            }
            terms = {name[1:]: None if a is None else floats(a) for name, a in arrays.items()}
            norms = {
                name[1:]: None if a is None else float(np.sqrt(np.vdot(a, a)))
                for name, a in arrays.items()
            }
            if totals is not None:
                share = {
                    k: None if v is None or not totals.get(k) else v / totals[k]
                    for k, v in norms.items()
                }
        grads = trace.grads
        return cls(
            model="recurrent",
            step=trace.step,
            stage=trace.stage,
            stage_timestep=trace.stage_timestep,
            n_timesteps=trace.n_timesteps,
            timestep=TimestepModel.from_engine(trace.timesteps[t], trace.sample),
            contribution=terms,
            contribution_norms=norms,
            grads=_blocks(grads),
            grad_norms=None
            if grads is None
            else {k: float(np.sqrt(np.vdot(v, v))) for k, v in grads.items()},
            share=share,
        )


class RecurrentHistoryModel(ResponseModel):
    """``GET /history`` of a recurrent session: one row per completed update."""

    model: Literal["recurrent"]
    since: int
    total: int = Field(description="Rows in the full history.")
    points: int = Field(description="Rows returned (evenly downsampled, the last kept).")
    n_timesteps: int
    step: list[int]
    evaluated: list[bool] = Field(description="Rows with the full-data evaluation.")
    batch_loss: Floats
    train_loss: Floats = Field(description="null where the step was not evaluated.")
    test_loss: Floats
    train_accuracy: Floats = Field(description="null for regression tasks.")
    test_accuracy: Floats
    grad_norm: Floats = Field(description="‖∂L/∂θ‖ before clipping.")
    clipped: list[bool] = Field(description="Clipping scaled that step's gradient.")
    weight_grad_norm: Matrix = Field(description="(points, 3) ‖∂L/∂W‖: W_xh, W_hh, W_hy.")
    update_ratio: Matrix = Field(description="(points, 3) ‖ΔW‖/‖W‖: W_xh, W_hh, W_hy.")
    dh_norm: Matrix = Field(
        description="(points, T) ‖∂L/∂h_t‖ per timestep: the timesteps × steps heat strip."
    )

    @classmethod
    def from_engine(cls, hist: RecurrentHistorySlice, since: int, T: int) -> RecurrentHistoryModel:
        return cls(
            model="recurrent",
            since=since,
            total=hist.total,
            points=len(hist.step),
            n_timesteps=T,
            step=ints(hist.step),
            evaluated=[bool(v) for v in hist.evaluated],
            batch_loss=floats(hist.batch_loss),
            train_loss=floats(hist.train_loss),
            test_loss=floats(hist.test_loss),
            train_accuracy=floats(hist.train_accuracy),
            test_accuracy=floats(hist.test_accuracy),
            grad_norm=floats(hist.grad_norm),
            clipped=[bool(v) for v in hist.clipped],
            weight_grad_norm=floats(hist.weight_grad_norm),
            update_ratio=floats(hist.update_ratio),
            dh_norm=floats(hist.dh_norm),
        )


class SequencesModel(ResponseModel):
    x: Tensor3 = Field(description="(n, T, F) inputs.")
    y: Matrix = Field(description="(n, T) targets; null at steps without one.")


class SequenceDataModel(ResponseModel):
    """``GET /data`` of a recurrent session: the first sequences of each part."""

    model: Literal["recurrent"]
    name: str
    task: Literal["binary", "regression"]
    n_classes: int
    n_inputs: int
    length: int
    n_train: int = Field(description="Training sequences in the session (all of them).")
    n_test: int
    train: SequencesModel = Field(description="At most `shown` training sequences.")
    test: SequencesModel
    shown: int = Field(description="The most sequences of each part this answer carries.")

    @classmethod
    def from_engine(cls, ds: SequenceDataset, shown: int) -> SequenceDataModel:
        return cls(
            model="recurrent",
            name=ds.name,
            task=ds.task,
            n_classes=ds.n_classes,
            n_inputs=ds.n_inputs,
            length=ds.length,
            n_train=ds.n_train,
            n_test=ds.n_test,
            train=SequencesModel(x=floats(ds.x_train[:shown]), y=floats(ds.y_train[:shown])),
            test=SequencesModel(x=floats(ds.x_test[:shown]), y=floats(ds.y_test[:shown])),
            shown=shown,
        )


class BlockCheckModel(ResponseModel):
    block: str
    relative_error: Real
    n_checked: int


class RecurrentGradcheckModel(ResponseModel):
    """Backprop through time against central differences, per parameter block."""

    model: Literal["recurrent"]
    blocks: list[BlockCheckModel]
    max_relative_error: Real
    passed: bool
    eps: float
    tolerance: float
    batch_size: int
    truncate: int | None
    entries_per_block: int = Field(
        description="The most entries checked per block (fewer when the budget is short)."
    )
    diverged: bool

    @classmethod
    def from_engine(
        cls, check: RecurrentGradientCheck, entries: int, diverged: bool
    ) -> RecurrentGradcheckModel:
        blocks = [BlockCheckModel(**attributes(b, BlockCheckModel)) for b in check.blocks]
        return cls(
            **attributes(
                check,
                cls,
                model="recurrent",
                blocks=blocks,
                entries_per_block=entries,
                diverged=diverged,
            )
        )
