"""What the routes do with a recurrent session (``"model": "recurrent"``), as plain functions.

As :mod:`app.operations` (which calls these for recurrent sessions): they run in worker
threads while the session's lock is held, return the response model of their route and raise
:class:`InputError` (422 naming the field) for anything the client got wrong.

Stepping goes one way: a recurrent step is ``forward t = 0 … T−1, loss, backward
t = T−1 … 0, update``. A call whose stage lies ahead runs what lies between first (as for a
dense session); a call whose stage lies behind the current position of a step in progress
answers 409 naming the stage and timestep that come next (``/step`` completes the step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from fastapi import HTTPException

from app.errors import InputError, Loc, in_range_message
from app.schemas.recurrent import RecurrentConfigModel, RecurrentStateModel, recurrent_patch
from app.schemas.recurrent_reads import (
    RecurrentFrameTraceModel,
    RecurrentGradcheckModel,
    RecurrentHistoryModel,
    RecurrentTraceModel,
    SequenceDataModel,
    TimestepDetailModel,
)
from app.schemas.stream import FrameModel
from app.sessions import Session
from engine.config import (
    Limits,
    RecurrentConfig,
    merge_config,
    recurrent_structural_fields_changed,
)
from engine.cost import RecurrentCostShape, recurrent_run_bytes
from engine.errors import ConfigError
from engine.losses import output_head
from engine.recurrent_trace import TimestepContribution
from engine.recurrent_trainer import RecurrentTrainer
from engine.sequences import SEQUENCE_TASKS, n_train_of
from engine.stages import Stage

MAX_SHOWN_SEQUENCES = 64  # sequences of each part GET /data carries: the page draws a few


def default_config(limits: Limits) -> dict[str, Any]:
    """The engine's recurrent teaching defaults, shrunk to fit a server with tighter limits."""
    config = RecurrentConfig().to_dict()
    data = config["dataset"]
    data["length"] = min(data["length"], limits.max_sequence_length)
    data["n_samples"] = min(data["n_samples"], limits.max_sequences)
    config["hidden"] = min(config["hidden"], limits.max_hidden)
    return config


def build_config(data: Mapping[str, Any], limits: Limits, loc: Loc = ("body",)) -> RecurrentConfig:
    try:
        config = RecurrentConfig.from_dict(data)
        config.validate(limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None
    except (TypeError, ValueError):  # a value of the wrong type the request model let through
        raise InputError.at(loc, "malformed recurrent config: see GET /api/catalog") from None
    return config


def creation_config(model: RecurrentConfigModel, limits: Limits) -> RecurrentConfig:
    """The validated config a new recurrent session would get (defaults + what was sent)."""
    return build_config(merge_config(default_config(limits), recurrent_patch(model)), limits)


def cost_shape(config: RecurrentConfig) -> RecurrentCostShape:
    spec = SEQUENCE_TASKS[config.dataset.name]
    head = output_head(spec.task, spec.n_classes, config.resolved_loss)
    return RecurrentCostShape(
        config.cell,
        spec.n_inputs,
        int(config.hidden),
        head.units,
        int(config.dataset.length),
        config.resolved_head == "every",
    )


def estimated_bytes(config: RecurrentConfig) -> int:
    """Memory a recurrent session of ``config`` holds at most: known before it is built."""
    data = config.dataset
    n_train = n_train_of(data.n_samples, data.train_fraction)
    batch = min(int(config.batch_size), n_train)
    return recurrent_run_bytes(cost_shape(config), int(data.n_samples), batch)


def new_trainer(config: RecurrentConfig, limits: Limits, loc: Loc = ("body",)) -> RecurrentTrainer:
    try:
        return RecurrentTrainer(config, limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None


# ----------------------------------------------------------------------------- patch


def apply_patch(session: Session, changes: Mapping[str, Any], limits: Limits, most: int) -> bool:
    """Hyperparameters (learning_rate, optimizer, batch_size, l1, l2, grad_clip, truncate)
    apply in place; anything else rebuilds the network at step 0. True when it rebuilt."""
    trainer = session.trainer
    assert isinstance(trainer, RecurrentTrainer)
    old = trainer.config
    known = old.to_dict()
    for key in changes:
        if key not in known:  # a dense network's field (layers, features) sent to this one
            raise InputError.at(
                ("body", key),
                f"not a field of a recurrent network's config; valid: {', '.join(known)}",
                "unknown_field",
            )
    config = build_config(merge_config(known, changes), limits)
    needed = estimated_bytes(config)
    if needed > most:
        from app.errors import too_large_error
        from app.sessions import SessionTooLargeError

        raise InputError([too_large_error(SessionTooLargeError(needed, most))])
    if recurrent_structural_fields_changed(old, config):
        session.trainer = new_trainer(config, limits)
        return True
    if config != old:
        try:
            trainer.set_hyperparameters(
                learning_rate=config.learning_rate,
                optimizer_name=config.optimizer.name,
                optimizer_params=dict(config.optimizer.params),
                batch_size=config.batch_size,
                l1=config.l1,
                l2=config.l2,
                grad_clip=config.grad_clip,
                truncate=config.truncate,
            )
        except ConfigError as exc:
            raise InputError.from_engine(exc, ("body",)) from None
    return False


# ----------------------------------------------------------------------------- stepping


def describe(stage: Stage) -> str:
    return stage.kind if stage.timestep is None else f"{stage.kind} at t = {stage.timestep}"


ORDER = {"forward": 0, "loss": 1, "backward": 2, "update": 3}


def expect(trainer: RecurrentTrainer, kind: str) -> None:
    """409 when a stage of ``kind`` lies behind the next stage of a step in progress: running
    it would first finish this step, update included, without being asked to. A stage
    ahead runs what lies between first, as for a dense session (``backward`` right after the
    forward pass computes the loss first)."""
    nxt = trainer.next_stage
    in_progress = trainer.stage.kind not in ("idle", "update")
    if in_progress and ORDER[kind] < ORDER[nxt.kind]:
        T = trainer.n_timesteps
        raise HTTPException(
            409,
            f"wrong order: a recurrent step runs forward t = 0 … {T - 1}, loss, backward "
            f"t = {T - 1} … 0, update; this step is at {describe(trainer.stage)} and the next "
            f"stage is {describe(nxt)}: POST /{nxt.kind} runs it (POST /step completes "
            "the step)",
        )


def timestep_count(value: int | Literal["all"], trainer: RecurrentTrainer) -> int | None:
    """``"all"`` → None (to the end of the phase); a count must be 1..T."""
    if value == "all":
        return None
    T = trainer.n_timesteps
    if not 1 <= value <= T:
        raise InputError.at(
            ("body", "timesteps"), f"must be an integer in 1..{T} or 'all', got {value}"
        )
    return value


def forward(trainer: RecurrentTrainer, timesteps: int | Literal["all"]) -> None:
    count = timestep_count(timesteps, trainer)
    expect(trainer, "forward")
    trainer.forward(count)


def backward(trainer: RecurrentTrainer, timesteps: int | Literal["all"]) -> None:
    count = timestep_count(timesteps, trainer)
    expect(trainer, "backward")
    trainer.backward(count)


def loss(trainer: RecurrentTrainer) -> None:
    expect(trainer, "loss")
    trainer.compute_loss()


def update(trainer: RecurrentTrainer) -> None:
    expect(trainer, "update")
    trainer.update()


# ----------------------------------------------------------------------------- reading


def check_sample(trainer: RecurrentTrainer, sample: int) -> None:
    batch = trainer.batch_size
    if not 0 <= sample < batch:
        raise InputError.at(
            ("query", "sample"), in_range_message(0, batch - 1, sample) + " (batch sequence)"
        )


def trace(trainer: RecurrentTrainer, sample: int) -> RecurrentTraceModel:
    check_sample(trainer, sample)
    return RecurrentTraceModel.from_engine(trainer.trace(sample), trainer.divergence is not None)


def trace_cost(trainer: RecurrentTrainer) -> float:
    return trainer.cost.shape.trace_seconds(trainer.batch_size)


def timestep(trainer: RecurrentTrainer, t: int, sample: int) -> TimestepDetailModel:
    """Timestep ``t`` in full: its values for ``sample`` and its itemised gradient (null
    until the backward pass reaches t)."""
    T = trainer.n_timesteps
    if not 0 <= t < T:
        raise InputError.at(("path", "t"), in_range_message(0, T - 1, t) + " (timestep)")
    check_sample(trainer, sample)
    tr = trainer.trace(sample)
    contribution = _contribution(trainer, t)
    totals = None if contribution is None else _term_totals(trainer)
    return TimestepDetailModel.build(tr, t, contribution, totals)


def _contribution(trainer: RecurrentTrainer, t: int) -> TimestepContribution | None:
    """Timestep t's terms, or None while the backward pass has not reached t."""
    try:
        return trainer.contribution(t)
    except ConfigError:
        return None


def _term_totals(trainer: RecurrentTrainer) -> dict[str, float]:
    """Block → Σ over the reached timesteps of ‖that timestep's term‖."""
    totals: dict[str, float] = {}
    for s in range(trainer.n_timesteps):
        c = _contribution(trainer, s)
        if c is None:
            continue
        for name in ("dW_xh", "dW_hh", "db_h", "dW_hy", "db_y"):
            a = getattr(c, name)
            if a is not None:
                totals[name[1:]] = totals.get(name[1:], 0.0) + float(np.sqrt(np.vdot(a, a)))
    return totals


def history(trainer: RecurrentTrainer, since: int, most: int) -> RecurrentHistoryModel:
    return RecurrentHistoryModel.from_engine(
        trainer.history.since(since, most), since, trainer.n_timesteps
    )


def data(trainer: RecurrentTrainer) -> SequenceDataModel:
    return SequenceDataModel.from_engine(trainer.dataset, MAX_SHOWN_SEQUENCES)


def gradcheck_entries(trainer: RecurrentTrainer, budget: float, most: int = 64) -> int:
    """Entries per block the gradient check can afford within ``budget`` (≥ 1)."""
    cost = trainer.cost
    sizes = cost.shape.block_sizes.values()
    for k in range(most, 0, -1):
        if cost.gradcheck_seconds(sum(min(n, k) for n in sizes)) <= budget:
            return k
    return 1


def gradcheck_seconds(trainer: RecurrentTrainer, budget: float) -> float:
    k = gradcheck_entries(trainer, budget)
    sizes = trainer.cost.shape.block_sizes.values()
    return trainer.cost.gradcheck_seconds(sum(min(n, k) for n in sizes))


def gradcheck(trainer: RecurrentTrainer, budget: float) -> RecurrentGradcheckModel:
    """Central differences against BPTT on as many entries per block (at most 64, evenly
    spread) as the compute budget affords."""
    entries = gradcheck_entries(trainer, budget)
    check = trainer.gradient_check(max_entries=entries)
    return RecurrentGradcheckModel.from_engine(check, entries, trainer.divergence is not None)


# ----------------------------------------------------------------------------- the stream


def frame(
    trainer: RecurrentTrainer, since: int, reason: Any, playing: bool, reset: bool, rows: int
) -> FrameModel:
    """One stream frame of a recurrent session: its state, the history rows since ``since``
    (at most ``rows``, evenly spaced, the last kept) and the per-timestep trace summary."""
    trace = RecurrentFrameTraceModel.from_engine(trainer.trace(0), trainer.divergence is not None)
    return FrameModel(
        type="frame",
        reason=reason,
        playing=playing,
        reset=reset,
        state=RecurrentStateModel.from_engine(trainer.state()),
        history=history(trainer, since, rows),
        trace=trace,
        boundary=None,
    )
