"""``RecurrentTrainer``: one learner's recurrent run, stepped through time.

The recurrent counterpart of :class:`engine.trainer.Trainer`, with the same shape of API. It
owns the state of a run (config, sequences, network, optimiser state, minibatch order, the
current step's record, history, divergence) and moves it through the step program
:func:`engine.stages.recurrent_program` — ``forward t = 0 … T−1, loss, backward t = T−1 … 0,
update`` — one stage at a time (:meth:`advance`, :meth:`forward`, :meth:`backward` …) or a whole
step at a time (:meth:`train`). Both run :func:`engine.recurrent_stages.run_recurrent_stage`,
so staged and fast training give the same numbers bit for bit.

Randomness: weights come from ``default_rng([seed, 0])`` and the minibatch shuffle from
``default_rng([seed, 1])`` (both from ``config.seed``); the sequences from the dataset's own
seed. The same config gives the same run, step for step.

Stepping: every staged method moves forward in time only, to the *next* occurrence of its
stage, finishing whatever lies in between (it may complete the current step and start the
next one). ``next_stage`` says which stage comes next.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.batches import MinibatchOrder
from engine.config import Limits, OptimizerConfig, RecurrentConfig
from engine.cost import RecurrentCostShape, TrainingCost, training_cost
from engine.errors import ConfigError
from engine.evaluation import Evaluation
from engine.export import RecurrentExport
from engine.losses import output_head
from engine.optimizers import OptimizerState, resolve_params
from engine.recurrent import RecurrentNetwork, RecurrentShape, init_recurrent_weights
from engine.recurrent_diagnostics import RecurrentGradientCheck, recurrent_gradient_check
from engine.recurrent_evaluation import SequenceEvaluationSet, time_major
from engine.recurrent_history import RecurrentHistory
from engine.recurrent_stages import (
    SequenceRecord,
    gradient_norms,
    locate_forward_divergence,
    locate_recurrent_divergence,
    recurrent_nonfinite_at,
    run_recurrent_stage,
)
from engine.recurrent_trace import (
    RecurrentTrace,
    TimestepContribution,
    build_recurrent_trace,
    timestep_contribution,
)
from engine.sequences import HeadMode, make_sequences
from engine.staged_run import StagedRun
from engine.stages import IDLE, Divergence, Stage, UpdateSettings, recurrent_program

FloatArray = NDArray[np.float64]
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RecurrentTrainerState:
    """A snapshot for the UI, as :class:`engine.trainer.TrainerState`: losses and accuracies
    on the full train/test sequences at the current parameters (accuracy None for regression
    tasks); ``loss`` the current step's batch data loss (None until its loss stage ran);
    ``cursor_timestep`` the timestep of the last completed forward/backward stage;
    ``next_stage`` the stage the next staged call runs."""

    step: int
    stage: str
    cursor_timestep: int | None
    n_timesteps: int
    epoch: int
    batch_size: int
    loss: float | None
    train_loss: float
    test_loss: float
    train_accuracy: float | None
    test_accuracy: float | None
    regularization_loss: float
    diverged: bool
    divergence: Divergence | None
    next_stage: Stage


def recurrent_update_settings(config: RecurrentConfig) -> UpdateSettings:
    """The hyperparameters of a config that act at the update stage."""
    opt = config.optimizer
    return UpdateSettings(
        opt.name,
        float(config.learning_rate),
        resolve_params(opt.name, opt.params),
        float(config.l1),
        float(config.l2),
        None if config.grad_clip is None else float(config.grad_clip),
    )


class RecurrentTrainer(StagedRun[SequenceRecord]):
    """One learner's recurrent run. See the module docstring for randomness and stepping."""

    count_field = "timesteps"
    history: RecurrentHistory

    # A finished fast step whose per-timestep arrays take more than this keeps only its batch,
    # loss and update; a trace recomputes the arrays (bit-identical) when asked.
    keep_array_bytes = 4 * 2**20

    def __init__(self, config: RecurrentConfig, limits: Limits = DEFAULT_LIMITS) -> None:
        config.validate(limits)
        self.limits = limits
        self.config = config
        self.dataset = ds = make_sequences(config.dataset)
        self.head = output_head(ds.task, ds.n_classes, config.resolved_loss)
        self.head_mode: HeadMode = "every" if config.resolved_head == "every" else "last"
        self.shape = RecurrentShape(
            config.cell, ds.n_inputs, int(config.hidden), self.head.units, ds.length, self.head_mode
        )
        self.eval_set = SequenceEvaluationSet(self.head, self.head_mode, ds)
        self._settings = recurrent_update_settings(config)
        self.truncate: int | None = None if config.truncate is None else int(config.truncate)
        self.reset()

    def reset(self) -> None:
        """Back to step 0: weights from the seed, fresh optimiser state and shuffle, no history."""
        cfg = self.config
        self.network = RecurrentNetwork(self.shape, cfg.activation, self.head)
        self.network.theta[...] = init_recurrent_weights(
            self.shape,
            np.random.default_rng([cfg.seed, 0]),
            cfg.init.name,
            cfg.init.scale,
            cfg.recurrent_init.name,
            cfg.recurrent_init.scale,
            float(cfg.forget_bias),
        )
        np.copyto(self.network.theta_prev, self.network.theta)
        self.program = recurrent_program(self.shape.length)
        self.batches = MinibatchOrder(self.dataset.n_train, np.random.default_rng([cfg.seed, 1]))
        self.optimizer_state: OptimizerState = {}
        self.step = 0
        self.stage: Stage = IDLE
        self.history = RecurrentHistory(self.shape.length)
        self.divergence: Divergence | None = None
        self._record: SequenceRecord | None = None
        self._last_delta: FloatArray | None = None
        self._last_update_ratio: FloatArray | None = None
        self._evaluate()
        self.initial_evaluation = self.evaluation  # at step 0, before any update

    # --- what the run looks like now -----------------------------------------------------------

    @property
    def n_timesteps(self) -> int:
        return self.shape.length

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    @property
    def batch_size(self) -> int:
        """The effective batch size (config value clamped to the training sequences)."""
        return min(int(self.config.batch_size), self.dataset.n_train)

    @property
    def train_loss(self) -> float:
        return self.evaluation.train_loss

    @property
    def test_loss(self) -> float:
        return self.evaluation.test_loss

    @property
    def train_accuracy(self) -> float | None:
        return self.evaluation.train_accuracy

    @property
    def test_accuracy(self) -> float | None:
        return self.evaluation.test_accuracy

    def state(self) -> RecurrentTrainerState:
        rec = self._record
        loss = None
        if rec is not None and self.stage.kind in ("loss", "backward", "update"):
            loss = rec.loss
        with np.errstate(all="ignore"):
            reg = self.network.regularization_loss(self._settings.l1, self._settings.l2)
        ev = self.evaluation
        return RecurrentTrainerState(
            self.step,
            self.stage.kind,
            self.stage.timestep,
            self.n_timesteps,
            self.epoch,
            self.batch_size,
            loss,
            ev.train_loss,
            ev.test_loss,
            ev.train_accuracy,
            ev.test_accuracy,
            reg,
            self.divergence is not None,
            self.divergence,
            self.next_stage,
        )

    # --- hyperparameters ------------------------------------------------------------------------

    def set_hyperparameters(
        self,
        *,
        learning_rate: float | None = None,
        optimizer_params: Mapping[str, float] | None = None,
        optimizer_name: str | None = None,
        batch_size: int | None = None,
        l1: float | None = None,
        l2: float | None = None,
        grad_clip: float | str | None = "keep",
        truncate: int | str | None = "keep",
    ) -> None:
        """Change training hyperparameters without a reset, as
        :meth:`engine.trainer.Trainer.set_hyperparameters`; also ``truncate`` (None = full
        BPTT; the default ``"keep"`` leaves it unchanged). It acts from the next backward
        stage on."""
        cfg = self.config
        changes: dict[str, Any] = {}
        if learning_rate is not None:
            changes["learning_rate"] = float(learning_rate)
        if batch_size is not None:
            changes["batch_size"] = int(batch_size)
        if l1 is not None:
            changes["l1"] = float(l1)
        if l2 is not None:
            changes["l2"] = float(l2)
        if grad_clip != "keep":
            changes["grad_clip"] = None if grad_clip is None else float(grad_clip)
        if truncate != "keep":
            changes["truncate"] = truncate
        name = cfg.optimizer.name if optimizer_name is None else optimizer_name
        if optimizer_name is not None or optimizer_params is not None:
            base = dict(cfg.optimizer.params) if name == cfg.optimizer.name else {}
            changes["optimizer"] = OptimizerConfig(
                name=name, params={**base, **(optimizer_params or {})}
            )
        new = cfg.replace(**changes)
        new.validate(self.limits)
        settings = recurrent_update_settings(new)
        if name != cfg.optimizer.name:
            self.optimizer_state = {}
        self.config = new
        self._settings = settings
        self.truncate = None if new.truncate is None else int(new.truncate)

    # --- the staged path ------------------------------------------------------------------------

    def forward(self, timesteps: int | None = 1) -> None:
        """Forward through ``timesteps`` more timesteps (None = to t = T−1). Past the forward
        phase, this completes the current step and starts the next one."""
        self._advance_to("forward", timesteps)

    def backward(self, timesteps: int | None = 1) -> None:
        """Backward through ``timesteps`` more timesteps (None = down to t = 0). Finishes
        the forward pass and the loss first if needed."""
        self._advance_to("backward", timesteps)

    # --- the fast path --------------------------------------------------------------------------

    @property
    def cost(self) -> TrainingCost[RecurrentCostShape]:
        """Estimates of this run's work (see :mod:`engine.cost`)."""
        s = self.shape
        shape = RecurrentCostShape(
            s.cell, s.n_inputs, s.hidden, s.n_outputs, s.length, s.head == "every"
        )
        return training_cost(shape, self.batch_size, int(self.eval_set.x.shape[1]))

    @property
    def evaluation_interval(self) -> int:
        """Steps between full-data evaluations in fast training (see
        :attr:`engine.cost.TrainingCost.evaluation_interval`)."""
        return self.cost.evaluation_interval

    def memory_bytes(self) -> int:
        """Bytes held by this run's arrays: parameters and their buffers, sequences, evaluation
        set, optimiser state, history and the current step's record."""
        net, ds, ev = self.network, self.dataset, self.eval_set
        arrays = [
            net.theta, net.grad, net.theta_prev, net.decay_mask,
            ds.x_train, ds.y_train, ds.x_test, ds.y_test, ev.x, ev.targets,
            *(v for v in self.optimizer_state.values() if isinstance(v, np.ndarray)),
        ]  # fmt: skip
        total = sum(a.nbytes for a in arrays) + self.history.nbytes
        rec = self._record
        if rec is not None:
            total += rec.array_bytes + rec.x.nbytes + rec.targets.nbytes
        return total

    @property
    def step_array_bytes(self) -> int:
        """Bytes of the per-timestep arrays the current step holds (0 once dropped)."""
        return 0 if self._record is None else self._record.array_bytes

    def _new_record(self, idx: NDArray[np.intp]) -> SequenceRecord:
        ds = self.dataset
        y = ds.y_train[idx]
        targets = y[:, -1:].copy() if self.head_mode == "last" else time_major(y[:, :, None])
        return SequenceRecord.start(self.n_timesteps, idx, time_major(ds.x_train[idx]), y, targets)

    def _stage_runner(self) -> Callable[[SequenceRecord, Stage], None]:
        net, state, settings, k = self.network, self.optimizer_state, self._settings, self.truncate

        def run(rec: SequenceRecord, stage: Stage) -> None:
            run_recurrent_stage(net, rec, stage, state, settings, k)

        return run

    def _nonfinite(self, rec: SequenceRecord, stage: Stage) -> Divergence | None:
        found = recurrent_nonfinite_at(self.network, rec, stage)
        return None if found is None else Divergence(self.step, found.stage, None, found.timestep)

    def _keeps_arrays(self) -> Callable[[SequenceRecord], bool]:
        # The estimate bounds a step's arrays from above (tested), so one look decides.
        keep = self.cost.shape.bytes_per_step_record(self.batch_size) <= self.keep_array_bytes
        return lambda rec: keep

    def _lightened(self, rec: SequenceRecord) -> SequenceRecord:
        return rec.without_arrays()

    def _after_update(self, rec: SequenceRecord, check: bool, evaluate: bool = True) -> None:
        """Bookkeeping after an update: step count, history, divergence and (if ``evaluate``)
        the full-data evaluation."""
        net = self.network
        assert rec.delta is not None
        w_sq = net.weight_sq_norms(net.theta_prev)
        d_sq = net.weight_sq_norms(rec.delta)
        g_sq = net.weight_sq_norms(net.grad)
        update_ratio = np.sqrt(d_sq) / np.sqrt(w_sq)
        grad_norm = float(np.sqrt(net.grad @ net.grad))
        dh_norm = gradient_norms(rec.dh)
        self._last_delta = rec.delta
        self._last_update_ratio = update_ratio
        if check and self.divergence is None:
            loss = rec.loss if rec.loss is not None else math.nan
            cheap = math.isfinite(loss + grad_norm) and bool(np.isfinite(d_sq.sum()))
            if not cheap or not np.isfinite(net.theta).all():
                self.divergence = locate_recurrent_divergence(net, rec, self.step, self.program)
        self.step += 1
        if evaluate:
            self._evaluate()
        self.history.append(
            self.step,
            math.nan if rec.loss is None else rec.loss,
            self._evaluation_row() if evaluate else None,
            grad_norm,
            rec.clipped,
            np.sqrt(g_sq),
            update_ratio,
            dh_norm,
        )

    def _evaluate(self) -> None:
        self.evaluation: Evaluation = self.eval_set.evaluate(self.network)
        if self.divergence is None and not self.evaluation.finite:
            with np.errstate(all="ignore"):
                self.divergence = locate_forward_divergence(
                    self.network, self.eval_set.x, self.step
                )

    # --- inspection -----------------------------------------------------------------------------

    def _current_pass(self) -> tuple[SequenceRecord, FloatArray]:
        """The current step's record with the parameters its forward pass used. At idle, a
        record for the next batch (peeked, nothing consumed, nothing computed)."""
        net = self.network
        if self._record is None or self.stage == IDLE:
            rows = self.batches.next(self.batch_size, consume=False)
            return self._new_record(rows), net.theta
        rec = self._record
        if rec.arrays_dropped:  # a large finished step: recompute its arrays, keep none
            light, rec = rec, self._replayed(self.stage, rec.indices)[0]
            rec.update_grad, rec.state_before = light.update_grad, light.state_before
            rec.settings = light.settings
            rec.grad_norm_total, rec.clipped = light.grad_norm_total, light.clipped
        if self.stage == self.program.last:
            return rec, net.theta_prev
        return rec, net.theta

    def trace(self, sample: int = 0) -> RecurrentTrace:
        """The current (or last completed) step, timestep by timestep (see
        :class:`engine.recurrent_trace.RecurrentTrace`). ``sample`` picks the batch sequence
        whose state Jacobians are computed."""
        rec, theta = self._current_pass()
        B = rec.x.shape[1]
        if not 0 <= int(sample) < B:
            raise ConfigError("sample", f"must be an integer in 0..{B - 1}, got {sample}")
        with np.errstate(all="ignore"):
            return build_recurrent_trace(
                self.network.shadow(theta),
                rec,
                self.stage,
                self.step,
                int(sample),
                self.truncate,
                self._last_delta,
                self._last_update_ratio,
                self.network.grad,
            )

    def contribution(self, t: int) -> TimestepContribution:
        """Timestep ``t``'s own term of every gradient (∂L/∂W_xh, ∂L/∂W_hh, ∂L/∂b_h, ∂L/∂W_hy,
        ∂L/∂b_y) in the current step; its backward stage must have run."""
        T = self.n_timesteps
        if isinstance(t, bool) or not 0 <= int(t) < T:
            raise ConfigError("timestep", f"must be an integer in 0..{T - 1}, got {t!r}")
        rec, _ = self._current_pass()
        if rec.cell_grads[int(t)] is None:
            raise ConfigError(
                "timestep", f"the backward pass has not reached t = {t} in this step yet"
            )
        return timestep_contribution(self.network, rec, int(t))

    def gradient_check(
        self, eps: float = 1e-5, max_entries: int | None = 64
    ) -> RecurrentGradientCheck:
        """Backprop through time vs central differences of the total loss at the current
        parameters, on the current step's minibatch (the next one at idle); at most
        ``max_entries`` entries per parameter block. With truncated BPTT the check is of the
        truncated gradient against the loss with the state held fixed at every cut."""
        with np.errstate(all="ignore"):
            rec, _ = self._current_pass()
            return recurrent_gradient_check(
                self.network,
                rec.x,
                rec.targets,
                self._settings.l1,
                self._settings.l2,
                eps,
                max_entries,
                truncate=self.truncate,
            )

    # --- export / import ------------------------------------------------------------------------

    def snapshot(self, rows: bool = True) -> RecurrentExport:
        """Everything needed to continue bit for bit (see :mod:`engine.export`); without
        ``rows``, its history has none (a session store keeps them apart)."""
        net, rec, order = self.network, self._record, self.batches
        return RecurrentExport(
            config=self.config,
            theta=net.theta.copy(),
            theta_before_update=net.theta_prev.copy(),
            optimizer_state={
                k: v.copy() if isinstance(v, np.ndarray) else v
                for k, v in self.optimizer_state.items()
            },
            shuffle_state=order.rng_state(),
            permutation=None if order.permutation is None else order.permutation.copy(),
            cursor=order.cursor,
            epoch=order.epoch,
            step=self.step,
            stage=self.stage,
            batch_indices=None if rec is None else rec.indices.copy(),
            last_delta=None if self._last_delta is None else self._last_delta.copy(),
            last_update_ratio=None
            if self._last_update_ratio is None
            else self._last_update_ratio.copy(),
            history=self.history.copy() if rows else self.history.without_rows(),
            divergence=self.divergence,
        )

    def export(self) -> dict[str, Any]:
        """:meth:`snapshot` as plain JSON-able data (floats exact; NaN/Inf as None)."""
        return self.snapshot().to_dict()

    @classmethod
    def from_export(cls, data: object, limits: Limits = DEFAULT_LIMITS) -> RecurrentTrainer:
        """Rebuild a trainer from :meth:`export` output; training on gives identical numbers.
        Raises ConfigError naming the first bad field of a malformed export."""
        return cls.restore(RecurrentExport.from_dict(data, limits), limits)

    @classmethod
    def restore(cls, snap: RecurrentExport, limits: Limits = DEFAULT_LIMITS) -> RecurrentTrainer:
        """A trainer continuing exactly where the run in ``snap`` stopped."""
        t = cls(snap.config, limits)
        net = t.network
        net.theta[...] = snap.theta
        net.theta_prev[...] = snap.theta_before_update
        t.optimizer_state = {
            k: v.copy() if isinstance(v, np.ndarray) else v for k, v in snap.optimizer_state.items()
        }
        order = t.batches
        order.set_rng_state(snap.shuffle_state)
        order.permutation = None if snap.permutation is None else snap.permutation.copy()
        order.cursor, order.epoch = snap.cursor, snap.epoch
        t.step = snap.step
        t.history = snap.history.copy()
        t.divergence = snap.divergence
        t._last_delta = None if snap.last_delta is None else snap.last_delta.copy()
        t._last_update_ratio = snap.last_update_ratio
        if snap.stage != IDLE:
            assert snap.batch_indices is not None  # RecurrentExport.from_dict checked it
            t._record, shadow = t._replayed(snap.stage, snap.batch_indices)
            np.copyto(net.grad, shadow.grad)  # the gradient the rest of the step continues from
        t.stage = snap.stage
        t._evaluate()
        return t

    def _replayed(
        self, stage: Stage, idx: NDArray[np.intp]
    ) -> tuple[SequenceRecord, RecurrentNetwork]:
        """The current step's record recomputed up to ``stage`` on the batch ``idx``, through a
        shadow of the network holding the parameters the step's forward pass used: the
        arrays come out bit-identical to the originals, and the network is not touched."""
        net = self.network
        after_update = stage == self.program.last
        shadow = net.shadow(net.theta_prev if after_update else net.theta)
        rec = self._new_record(idx)
        stop = self.program.stages[-2] if after_update else stage
        with np.errstate(all="ignore"):
            for s in self.program.through(stop):
                run_recurrent_stage(shadow, rec, s, {}, self._settings, self.truncate)
        if after_update:
            rec.delta = self._last_delta
        return rec, shadow
