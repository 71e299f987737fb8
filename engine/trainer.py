"""``Trainer``: one learner's run — the orchestrator a reader opens first.

It owns the state of a run (config, data, network, optimiser state, minibatch order, the
current step's record, history, divergence) and moves it through the step program of
:mod:`engine.stages`. The work itself lives in sibling modules named for what they do:
:mod:`~engine.batches` (seeded minibatch order), :mod:`~engine.evaluation` (full-data loss
and accuracy), :mod:`~engine.trace` (``build_trace``), :mod:`~engine.boundary` (grids),
:mod:`~engine.diagnostics` (chain rule, gradient check) and :mod:`~engine.export`.

Randomness: weights come from ``default_rng([seed, 0])`` and the minibatch shuffle from
``default_rng([seed, 1])`` (both from ``config.seed``), so changing a hyperparameter never
changes the data order, and the same config gives the same run, step for step.

Stepping: every staged method moves forward in time only, to the *next* occurrence of its
stage, finishing whatever lies in between (it may complete the current step and start the
next one): ``forward`` → next forward stage, ``compute_loss`` → next loss, ``backward`` → next
backward stage, ``update`` → next update. ``next_stage`` says which stage comes next. The fast
path ``train`` runs the very same stages back to back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.batches import MinibatchOrder
from engine.boundary import BoundaryGrid, evaluate_boundary
from engine.config import Limits, NetworkConfig, OptimizerConfig
from engine.cost import NetworkShape, TrainingCost, training_cost
from engine.datasets import Dataset, make_dataset, transform
from engine.diagnostics import (
    ChainRule,
    GradientCheck,
    chain_rule,
    dead_units,
    full_pass,
    gradient_check,
)
from engine.errors import ConfigError
from engine.evaluation import Evaluation, EvaluationSet, targets_for
from engine.export import TrainerExport
from engine.history import History
from engine.losses import output_head
from engine.network import Network, param_views
from engine.optimizers import OptimizerState, resolve_params
from engine.staged_run import StagedRun
from engine.stages import (
    IDLE,
    Divergence,
    Stage,
    StepRecord,
    UpdateSettings,
    dense_program,
    locate_divergence,
    locate_forward_divergence,
    nonfinite_at,
    run_stage,
)
from engine.trace import StepTrace, build_trace
from engine.update_rule import ParameterUpdate, explain_update

FloatArray = NDArray[np.float64]
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class TrainerState:
    """A snapshot for the UI. Losses/accuracies are on the full train/test sets at the current
    parameters (accuracy None for regression); ``loss`` is the current step's batch data loss
    (None until its loss stage has run); ``regularization_loss`` is at the current parameters.
    ``next_stage`` is the stage the next staged call runs."""

    step: int
    stage: str
    cursor_layer: int | None
    n_layers: int
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


def update_settings(config: NetworkConfig) -> UpdateSettings:
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


class Trainer(StagedRun[StepRecord]):
    """One learner's run. See the module docstring for randomness and stepping rules."""

    count_field = "layers"
    history: History

    def __init__(
        self, config: NetworkConfig, dataset: Dataset | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        config.validate(limits, dataset)
        self.limits = limits
        self.config = config
        self.uploaded = dataset is not None  # uploaded data travels with an export
        self.dataset = make_dataset(config.dataset) if dataset is None else dataset
        ds = self.dataset
        self.head = output_head(ds.task, ds.n_classes, config.loss)
        self.x_train = transform(ds.x_train, config.features)
        self.y_train = np.asarray(ds.y_train)
        self.t_train = targets_for(ds.task, self.head.units, ds.y_train)
        x_test = transform(ds.x_test, config.features)
        self.eval_set = EvaluationSet(
            self.head, ds.task, self.x_train, ds.y_train, x_test, ds.y_test
        )
        self._settings = update_settings(config)
        self.reset()

    def reset(self) -> None:
        """Back to step 0: weights from the seed, fresh optimiser state and shuffle, no history."""
        cfg = self.config
        sizes = [len(cfg.features), *(layer.units for layer in cfg.layers), self.head.units]
        self.network = Network(
            sizes,
            [layer.activation for layer in cfg.layers],
            self.head,
            cfg.init.name,
            cfg.init.scale,
            np.random.default_rng([cfg.seed, 0]),
        )
        self.program = dense_program(self.network.n_layers)
        self.batches = MinibatchOrder(self.dataset.n_train, np.random.default_rng([cfg.seed, 1]))
        self.optimizer_state: OptimizerState = {}
        self.step = 0
        self.stage: Stage = IDLE
        self.history = History(self.network.n_layers)
        self.divergence: Divergence | None = None
        self._record: StepRecord | None = None
        self._last_delta: FloatArray | None = None
        self._last_update_ratio: FloatArray | None = None
        self._evaluate()
        self.initial_evaluation = self.evaluation  # at step 0, before any update

    # A finished fast step whose per-layer arrays take more than this keeps only its batch,
    # loss and update; a trace recomputes the arrays (bit-identical) when asked. A class's
    # worth of idle sessions then holds parameters and data, not batch-sized activations.
    keep_layer_bytes = 4 * 2**20

    # --- what the run looks like now -----------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return self.network.n_layers

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    @property
    def batch_size(self) -> int:
        """The effective batch size (config value clamped to n_train)."""
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

    def state(self) -> TrainerState:
        rec = self._record
        loss = None
        if rec is not None and self.stage.kind in ("loss", "backward", "update"):
            loss = rec.loss
        with np.errstate(all="ignore"):
            reg = self.network.regularization_loss(self._settings.l1, self._settings.l2)
        ev = self.evaluation
        return TrainerState(
            self.step,
            self.stage.kind,
            self.stage.layer,
            self.network.n_layers,
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
    ) -> None:
        """Change training hyperparameters without a reset (validated; ConfigError names the
        field). ``optimizer_params`` are merged into the current optimiser's parameters; a new
        optimiser name starts that optimiser's state afresh, from its default parameters plus
        ``optimizer_params``. ``grad_clip=None`` turns clipping off (the default ``"keep"``
        leaves it unchanged)."""
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
        name = cfg.optimizer.name if optimizer_name is None else optimizer_name
        if optimizer_name is not None or optimizer_params is not None:
            # Same optimiser: merge into its current parameters; a new one starts from defaults.
            base = dict(cfg.optimizer.params) if name == cfg.optimizer.name else {}
            changes["optimizer"] = OptimizerConfig(
                name=name, params={**base, **(optimizer_params or {})}
            )
        new = cfg.replace(**changes)
        new.validate(self.limits, self.dataset)
        settings = update_settings(new)
        if name != cfg.optimizer.name:
            self.optimizer_state = {}
        self.config = new
        self._settings = settings

    # --- the staged path ------------------------------------------------------------------------

    def forward(self, layers: int | None = 1) -> None:
        """Forward through ``layers`` more layers (None = all remaining of this forward pass).
        Past the forward phase, this completes the current step and starts the next one."""
        self._advance_to("forward", layers)

    def backward(self, layers: int | None = 1) -> None:
        """Backward through ``layers`` more layers (None = down to layer 0). Finishes the
        forward pass and the loss first if needed."""
        self._advance_to("backward", layers)

    # --- the fast path --------------------------------------------------------------------------

    @property
    def evaluation_interval(self) -> int:
        """Steps between full-data evaluations in fast training (see
        :attr:`engine.cost.TrainingCost.evaluation_interval`)."""
        return self.cost.evaluation_interval

    def memory_bytes(self) -> int:
        """Bytes held by this run's arrays: parameters and their buffers, data, evaluation
        set, optimiser state, history and the current step's record."""
        net, ds, ev = self.network, self.dataset, self.eval_set
        arrays = [
            net.theta, net.grad, net.theta_prev, net.decay_mask,
            ds.x_train, np.asarray(ds.y_train), ds.x_test, np.asarray(ds.y_test),
            self.x_train, self.y_train, self.t_train, ev.x, ev.targets,
            *(v for v in self.optimizer_state.values() if isinstance(v, np.ndarray)),
        ]  # fmt: skip
        total = sum(a.nbytes for a in arrays) + self.history.nbytes
        rec = self._record
        if rec is not None:
            total += rec.layer_bytes + rec.x.nbytes + rec.targets.nbytes
        return total

    @property
    def step_array_bytes(self) -> int:
        """Bytes of the per-layer arrays the current step holds (0 once dropped)."""
        return 0 if self._record is None else self._record.layer_bytes

    @property
    def cost(self) -> TrainingCost:
        """Estimates of this run's work (see :mod:`engine.cost`)."""
        net = self.network
        shape = NetworkShape(tuple(net.sizes), tuple(act.name for act in net.activations))
        return training_cost(shape, self.batch_size, int(self.eval_set.x.shape[0]))

    def _new_record(self, idx: NDArray[np.intp]) -> StepRecord:
        return StepRecord.start(
            self.network.n_layers, idx, self.x_train[idx], self.y_train[idx], self.t_train[idx]
        )

    def _stage_runner(self) -> Callable[[StepRecord, Stage], None]:
        net, state, settings = self.network, self.optimizer_state, self._settings

        def run(rec: StepRecord, stage: Stage) -> None:
            run_stage(net, rec, stage, state, settings)

        return run

    def _nonfinite(self, rec: StepRecord, stage: Stage) -> Divergence | None:
        found = nonfinite_at(self.network, rec, stage)
        return None if found is None else Divergence(self.step, found.stage, found.layer)

    def _keeps_arrays(self) -> Callable[[StepRecord], bool]:
        limit = self.keep_layer_bytes
        return lambda rec: rec.layer_bytes <= limit

    def _lightened(self, rec: StepRecord) -> StepRecord:
        return rec.without_layer_arrays()

    def _after_update(self, rec: StepRecord, check: bool, evaluate: bool = True) -> None:
        """Bookkeeping after an update: step count, history, divergence and (if ``evaluate``)
        the full-data evaluation."""
        net = self.network
        assert rec.delta is not None
        w_sq = net.weight_sq_norms(net.theta_prev)
        d_sq = net.weight_sq_norms(rec.delta)
        g_sq = net.weight_sq_norms(net.grad)
        update_ratio = np.sqrt(d_sq) / np.sqrt(w_sq)
        mean_abs_dz = np.array(
            [np.add.reduce(np.abs(g.dz), axis=None) / g.dz.size for g in rec.grads if g]
        )
        self._last_delta = rec.delta
        self._last_update_ratio = update_ratio
        if check and self.divergence is None:
            cheap = math.isfinite(rec.loss if rec.loss is not None else math.nan) and bool(
                np.isfinite(g_sq.sum() + d_sq.sum() + mean_abs_dz.sum())
            )
            if not cheap or not np.isfinite(net.theta).all():
                self.divergence = locate_divergence(net, rec, self.step, self.program)
        self.step += 1
        if evaluate:
            self._evaluate()
        self.history.append(
            self.step,
            math.nan if rec.loss is None else rec.loss,
            self._evaluation_row() if evaluate else None,
            np.sqrt(g_sq),
            mean_abs_dz,
            update_ratio,
        )

    def _evaluate(self) -> None:
        self.evaluation: Evaluation = self.eval_set.evaluate(self.network)
        if self.divergence is None and not self.evaluation.finite:
            with np.errstate(all="ignore"):
                self.divergence = locate_forward_divergence(
                    self.network, self.eval_set.x, self.step
                )

    # --- inspection -----------------------------------------------------------------------------

    def _current_pass(self) -> tuple[StepRecord, FloatArray]:
        """The current step's record with the parameters its forward pass used. At idle, a
        record for the next batch (peeked, nothing consumed, nothing computed)."""
        net = self.network
        if self._record is None or self.stage == IDLE:
            rows = self.batches.next(self.batch_size, consume=False)
            return self._new_record(rows), net.theta
        rec = self._record
        if rec.layers_dropped:  # a large finished step: recompute its arrays, keep none
            light, rec = rec, self._replayed(self.stage, rec.indices)[0]
            rec.update_grad, rec.state_before = light.update_grad, light.state_before
            rec.settings = light.settings
            rec.grad_norm_total, rec.clipped = light.grad_norm_total, light.clipped
        if self.stage == self.program.last:
            return rec, net.theta_prev
        return rec, net.theta

    def trace(self, sample: int = 0) -> StepTrace:
        """The current (or last completed) step's per-layer trace. Arrays are copies."""
        rec, theta = self._current_pass()
        settings = self._settings
        with np.errstate(all="ignore"):
            dead = dead_units(self.network.shadow(theta), self.x_train)
            reg = (
                rec.regularization_loss
                if rec.loss is not None
                else self.network.regularization_loss(settings.l1, settings.l2)
            )
            return build_trace(
                self.network,
                rec,
                self.stage,
                self.step,
                sample,
                self._last_delta,
                self._last_update_ratio,
                reg,
                dead,
            )

    def chain(self, layer: int, i: int, j: int, sample: int) -> ChainRule:
        """Chain-rule breakdown of ∂L/∂W_layer[i, j] for one batch sample of the current step.
        If this step's backward pass has not reached ``layer`` yet, the numbers come from a
        complete side-effect-free pass on the same batch with the same weights."""
        net = self.network
        self._check_weight_index(layer, i, j)
        with np.errstate(all="ignore"):
            rec, theta = self._current_pass()
            B = rec.x.shape[0]
            if not 0 <= sample < B:
                raise ConfigError("sample", f"must be an integer in 0..{B - 1}, got {sample}")
            if rec.grads[layer] is None:
                rec = full_pass(net, rec.x, rec.targets, theta)
            weights = param_views(theta, net.sizes)[0]
            return chain_rule(
                rec, weights, self.head, layer, i, j, sample, self._settings.l1, self._settings.l2
            )

    def update_rule(self, layer: int, i: int, j: int) -> ParameterUpdate | None:
        """How weight W_layer[i, j] changed at this step's update, term by term; None before
        this step's update has run (mid-step, or after a reset or an import)."""
        self._check_weight_index(layer, i, j)
        if self.stage != self.program.last or self._record is None:
            return None
        return explain_update(self.network, self._record, layer, i, j)

    def _check_weight_index(self, layer: int, i: int, j: int) -> None:
        net = self.network
        L = net.n_layers
        for name, value, hi in (
            ("layer", layer, L - 1),
            ("i", i, net.sizes[min(max(layer, 0), L - 1)] - 1),
            ("j", j, net.sizes[min(max(layer, 0), L - 1) + 1] - 1),
        ):
            if not 0 <= value <= hi:
                raise ConfigError(name, f"must be an integer in 0..{hi}, got {value}")

    def gradient_check(self, eps: float = 1e-5, max_entries: int | None = 64) -> GradientCheck:
        """Backprop vs central differences of the total loss at the current parameters, on the
        current step's minibatch (the next one at idle); at most ``max_entries`` entries per
        W and per b are checked."""
        with np.errstate(all="ignore"):
            rec, _ = self._current_pass()
            return gradient_check(
                self.network,
                rec.x,
                rec.targets,
                self._settings.l1,
                self._settings.l2,
                eps,
                max_entries,
            )

    def boundary(self, grid: int) -> BoundaryGrid:
        """The output and every hidden unit on a grid over the data domain (see BoundaryGrid)."""
        G = int(grid)
        if not 2 <= G <= self.limits.max_grid:
            raise ConfigError(
                "grid", f"must be an integer in 2..{self.limits.max_grid}, got {grid}"
            )
        return evaluate_boundary(self.network, self.dataset, self.config.features, self.head, G)

    # --- export / import ------------------------------------------------------------------------

    def snapshot(self, rows: bool = True) -> TrainerExport:
        """Everything needed to continue bit for bit (see :mod:`engine.export`); without
        ``rows``, its history has none (a session store keeps them apart)."""
        net, rec, order = self.network, self._record, self.batches
        return TrainerExport(
            config=self.config,
            dataset=self.dataset if self.uploaded else None,
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
    def from_export(cls, data: object, limits: Limits = DEFAULT_LIMITS) -> Trainer:
        """Rebuild a trainer from :meth:`export` output; training on gives identical numbers.
        Raises ConfigError naming the first bad field of a malformed export."""
        return cls.restore(TrainerExport.from_dict(data, limits), limits)

    @classmethod
    def restore(cls, snap: TrainerExport, limits: Limits = DEFAULT_LIMITS) -> Trainer:
        """A trainer continuing exactly where the run in ``snap`` stopped."""
        t = cls(snap.config, snap.dataset, limits)
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
            assert snap.batch_indices is not None  # TrainerExport.from_dict checked it
            t._record, shadow = t._replayed(snap.stage, snap.batch_indices)
            np.copyto(net.grad, shadow.grad)  # the gradient the rest of the step continues from
        t.stage = snap.stage
        t._evaluate()
        return t

    def _replayed(self, stage: Stage, idx: NDArray[np.intp]) -> tuple[StepRecord, Network]:
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
                run_stage(shadow, rec, s, {}, self._settings)
        if after_update:
            rec.delta = self._last_delta
        return rec, shadow
