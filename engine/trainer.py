"""``Trainer``: one learner's whole run — data, network, optimiser, stepping, history, traces.

Randomness: weights come from ``default_rng([seed, 0])`` and the minibatch shuffle from
``default_rng([seed, 1])`` (both from ``config.seed``), so changing a hyperparameter never
changes the data order, and the same config gives the same run, step for step.

Minibatches: each epoch draws a permutation of the training rows and walks through it in
slices of ``batch_size``; the last slice of an epoch may be shorter. With
``batch_size >= n_train`` every step uses the whole training set in its stored order (no
permutation is drawn).

Stepping (staged path): the stages of one step are ``forward 0 … forward L−1, loss,
backward L−1 … backward 0, update``. Every staged method moves forward in time only, to the
*next* occurrence of its stage, finishing whatever lies in between (it may complete the
current step and start the next one): ``forward`` → next forward stage, ``compute_loss`` →
next loss, ``backward`` → next backward stage, ``update`` → next update. The fast path
``train`` runs the same stage functions back to back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.config import Limits, NetworkConfig, OptimizerConfig
from engine.datasets import Dataset, make_dataset, transform
from engine.diagnostics import (
    ChainRule,
    GradientCheck,
    chain_rule,
    dead_fraction,
    full_pass,
    gradient_check,
    gradient_flow,
    saturated_fraction,
)
from engine.history import History, json_list
from engine.losses import apply_head, output_head, per_sample_loss
from engine.network import Network, param_views
from engine.optimizers import (
    OptimizerState,
    export_state,
    import_state,
    resolve_params,
)
from engine.stepper import (
    IDLE,
    Divergence,
    Stage,
    StepRecord,
    UpdateSettings,
    apply_update,
    backward_layer,
    compute_loss,
    first_nonfinite_in_stage,
    forward_layer,
    locate_divergence,
    locate_forward_divergence,
    run_step,
)
from engine.trace import LayerTrace, StepTrace, Summary, summarize_many

FloatArray = NDArray[np.float64]
EXPORT_FORMAT = "backprop-lab/trainer"
EXPORT_VERSION = 1
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class TrainerState:
    """A snapshot for the UI. Losses/accuracies are on the full train/test sets at the current
    parameters (accuracy None for regression); ``loss`` is the current step's batch data loss
    (None until its loss stage has run); ``regularization_loss`` is at the current parameters."""

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


@dataclass(frozen=True, slots=True)
class BoundaryGrid:
    """The network evaluated on a G×G grid over ``domain`` = (xmin, xmax, ymin, ymax).

    ``x`` (G,) ascending xmin..xmax, ``y`` (G,) ascending ymin..ymax; ``output[r, c]`` is the
    value at (x[c], y[r]) (row 0 = ymin). ``output``: binary (G, G) p(class 1); multiclass
    (G, G, K) class probabilities; regression (G, G) prediction. ``hidden[l]`` (units, G, G)
    activations of hidden layer l. 1-D data (``input_dim == 1``): the grid is over x only and
    ``output`` is (G,) (multiclass (G, K)), ``hidden[l]`` (units, G).
    """

    grid: int
    domain: tuple[float, float, float, float]
    x: FloatArray
    y: FloatArray
    output: FloatArray
    hidden: list[FloatArray]
    task: str


def _targets(task: str, head_units: int, y: NDArray[Any]) -> FloatArray:
    """Raw labels (n,) → the loss's target matrix (n, K)."""
    if task == "regression" or head_units == 1:
        return np.asarray(y, dtype=np.float64).reshape(-1, 1)
    return np.eye(head_units)[np.asarray(y, dtype=np.intp)]


def _rng_state_to_json(state: Mapping[str, Any]) -> dict[str, Any]:
    # 128-bit integers as decimal strings: JSON readers in browsers keep only 53 bits.
    return {
        k: (
            _rng_state_to_json(v)
            if isinstance(v, Mapping)
            else (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
        )
        for k, v in state.items()
    }


def _rng_state_from_json(state: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in state.items():
        if isinstance(v, Mapping):
            out[k] = _rng_state_from_json(v)
        elif isinstance(v, str) and k != "bit_generator":
            out[k] = int(v)
        else:
            out[k] = v
    return out


class Trainer:
    """One learner's run. See the module docstring for randomness and stepping rules."""

    def __init__(
        self, config: NetworkConfig, dataset: Dataset | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        config.validate(limits, dataset)
        self.limits = limits
        self.config = config
        self._dataset_given = dataset is not None
        self.dataset = make_dataset(config.dataset) if dataset is None else dataset
        ds = self.dataset
        self.head = output_head(ds.task, ds.n_classes, config.loss)
        self.x_train = transform(ds.x_train, config.features)
        self.x_test = transform(ds.x_test, config.features)
        self.y_train = np.asarray(ds.y_train)
        self.y_test = np.asarray(ds.y_test)
        self.t_train = _targets(ds.task, self.head.units, ds.y_train)
        self.t_test = _targets(ds.task, self.head.units, ds.y_test)
        self._x_eval = np.concatenate([self.x_train, self.x_test])
        self._n_train = int(self.x_train.shape[0])
        self._t_eval = np.concatenate([self.t_train, self.t_test])
        labels = self._labels(np.concatenate([self.y_train, self.y_test]))
        self._labels_eval = labels if labels is None or self.head.units > 1 else labels > 0
        self._settings = self._make_settings(config)
        self.reset()

    # --- construction helpers -----------------------------------------------------------------

    def _labels(self, y: NDArray[Any]) -> NDArray[np.intp] | None:
        if self.dataset.task == "regression":
            return None
        return np.asarray(y).astype(np.intp)

    @staticmethod
    def _make_settings(config: NetworkConfig) -> UpdateSettings:
        opt = config.optimizer
        return UpdateSettings(
            opt.name,
            float(config.learning_rate),
            resolve_params(opt.name, opt.params),
            float(config.l1),
            float(config.l2),
            None if config.grad_clip is None else float(config.grad_clip),
        )

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
        self._shuffle_rng = np.random.default_rng([cfg.seed, 1])
        self._perm: NDArray[np.intp] | None = None
        self._cursor = 0
        self.epoch = 0
        self.optimizer_state: OptimizerState = {}
        self.step = 0
        self.stage: Stage = IDLE
        self.history = History(self.network.n_layers)
        self.divergence: Divergence | None = None
        self._record: StepRecord | None = None
        self._last_delta: FloatArray | None = None
        self._last_update_ratio: FloatArray | None = None
        self._evaluate()

    # --- hyperparameters ------------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        """The effective batch size (config value clamped to n_train)."""
        return min(int(self.config.batch_size), self._n_train)

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
        """Change training hyperparameters without a reset (validated; ValueError names the
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
        settings = self._make_settings(new)
        if name != cfg.optimizer.name:
            self.optimizer_state = {}
        self.config = new
        self._settings = settings

    def with_hyperparameters(self, **changes: Any) -> Trainer:
        """:meth:`set_hyperparameters`, returning self for chaining."""
        self.set_hyperparameters(**changes)
        return self

    # --- batches --------------------------------------------------------------------------------

    def _batch_indices(self, consume: bool) -> NDArray[np.intp]:
        """Rows of the next step's minibatch; ``consume=False`` peeks without side effects."""
        n, B = self._n_train, self.batch_size
        if n <= B:
            if consume:
                self._perm, self._cursor = None, 0
                self.epoch += 1
            return np.arange(n, dtype=np.intp)
        perm, cursor = self._perm, self._cursor
        if perm is None or cursor >= n:
            rng = self._shuffle_rng
            if not consume:
                rng = np.random.Generator(type(rng.bit_generator)())
                rng.bit_generator.state = self._shuffle_rng.bit_generator.state
            perm, cursor = rng.permutation(n), 0
        idx = perm[cursor : cursor + B]
        if consume:
            cursor += idx.size
            if cursor >= n:
                self._perm, self._cursor = None, 0
                self.epoch += 1
            else:
                self._perm, self._cursor = perm, cursor
        return idx

    def _new_record(self, idx: NDArray[np.intp]) -> StepRecord:
        return StepRecord.start(
            self.network.n_layers, idx, self.x_train[idx], self.y_train[idx], self.t_train[idx]
        )

    # --- staged path ----------------------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return self.network.n_layers

    def _next_stage(self) -> Stage:
        s, L = self.stage, self.network.n_layers
        if s.kind in ("idle", "update"):
            return Stage("forward", 0)
        if s.kind == "forward":
            assert s.layer is not None
            return Stage("forward", s.layer + 1) if s.layer < L - 1 else Stage("loss")
        if s.kind == "loss":
            return Stage("backward", L - 1)
        assert s.layer is not None
        return Stage("backward", s.layer - 1) if s.layer > 0 else Stage("update")

    def advance(self) -> None:
        """Run exactly one next stage."""
        with np.errstate(all="ignore"):
            self._advance()

    def _advance(self) -> None:
        nxt = self._next_stage()
        net = self.network
        if nxt.kind == "forward" and nxt.layer == 0:
            self._record = self._new_record(self._batch_indices(consume=True))
        rec = self._record
        assert rec is not None
        if nxt.kind == "forward":
            assert nxt.layer is not None
            forward_layer(net, rec, nxt.layer)
        elif nxt.kind == "loss":
            compute_loss(net, rec, self._settings.l1, self._settings.l2)
        elif nxt.kind == "backward":
            assert nxt.layer is not None
            backward_layer(net, rec, nxt.layer)
        else:
            apply_update(net, rec, self.optimizer_state, self._settings)
        self.stage = nxt
        if self.divergence is None:
            if nxt.kind == "update":
                for layer in range(net.n_layers):
                    if first_nonfinite_in_stage(net, rec, Stage("update", layer)):
                        self.divergence = Divergence(self.step, "update", layer)
                        break
            elif first_nonfinite_in_stage(net, rec, nxt):
                self.divergence = Divergence(self.step, nxt.kind, nxt.layer)  # type: ignore[arg-type]
        if nxt.kind == "update":
            self._after_update(rec, check=False)

    def _advance_to(self, kind: str, count: int | None) -> None:
        """Move to the next stage of ``kind``, then up to ``count − 1`` more of that kind
        within the same phase (None = to the end of the phase)."""
        if count is not None and (isinstance(count, bool) or int(count) != count or count < 1):
            raise ValueError(f"layers: must be a positive integer or all, got {count!r}")
        with np.errstate(all="ignore"):
            self._advance()
            while self.stage.kind != kind:
                self._advance()
            done = 1
            while count is None or done < count:
                nxt = self._next_stage()
                if nxt.kind != kind:
                    break
                self._advance()
                done += 1

    def forward(self, layers: int | None = 1) -> None:
        """Forward through ``layers`` more layers (None = all remaining of this forward pass).
        Past the forward phase, this completes the current step and starts the next one."""
        self._advance_to("forward", layers)

    def compute_loss(self) -> None:
        """Compute the batch loss (finishing the forward pass first if needed)."""
        self._advance_to("loss", 1)

    def backward(self, layers: int | None = 1) -> None:
        """Backward through ``layers`` more layers (None = down to layer 0). Finishes the
        forward pass and the loss first if needed."""
        self._advance_to("backward", layers)

    def update(self) -> None:
        """Apply the update, finishing forward, loss and backward first if needed."""
        self._advance_to("update", 1)

    # --- fast path ------------------------------------------------------------------------------

    def train(self, steps: int) -> None:
        """Run ``steps`` full steps. Mid-step, the current staged step is completed first and
        counts as one. Never raises on NaN/Inf; see :attr:`divergence`."""
        steps = int(steps)
        if steps < 0 or steps > self.limits.max_steps:
            raise ValueError(
                f"steps: must be an integer in 0..{self.limits.max_steps}, got {steps}"
            )
        if steps == 0:
            return
        net, state, settings = self.network, self.optimizer_state, self._settings
        with np.errstate(all="ignore"):
            if self.stage.kind not in ("idle", "update"):
                self._advance_to("update", 1)
                steps -= 1
            for _ in range(steps):
                rec = self._new_record(self._batch_indices(consume=True))
                run_step(net, rec, state, settings)
                self._record = rec
                self.stage = Stage("update")
                self._after_update(rec, check=True)

    def _after_update(self, rec: StepRecord, check: bool) -> None:
        """Bookkeeping after an update: step count, evaluation, history, divergence."""
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
                self.divergence = locate_divergence(net, rec, self.step)
        self.step += 1
        self._evaluate()
        self.history.append(
            self.step,
            (
                self.train_loss,
                self.test_loss,
                math.nan if self.train_accuracy is None else self.train_accuracy,
                math.nan if self.test_accuracy is None else self.test_accuracy,
            ),
            np.sqrt(g_sq),
            mean_abs_dz,
            update_ratio,
        )

    def _evaluate(self) -> None:
        """Loss and accuracy on the full train and test sets (one forward pass for both)."""
        with np.errstate(all="ignore"):
            logits = self.network.forward(self._x_eval)
            n, m = self._n_train, self._x_eval.shape[0] - self._n_train
            per = per_sample_loss(self.head.loss, logits, self._t_eval, self.head.head)
            self.train_loss = float(np.add.reduce(per[:n])) / n
            self.test_loss = float(np.add.reduce(per[n:])) / m
            if self._labels_eval is None:
                self.train_accuracy = self.test_accuracy = None
            else:
                # one logit: σ(z) > ½ ⇔ z > 0; several: the most probable class
                one = logits.shape[1] == 1
                pred = logits[:, 0] > 0.0 if one else np.argmax(logits, axis=1)
                hits = pred == self._labels_eval
                self.train_accuracy = int(np.count_nonzero(hits[:n])) / n
                self.test_accuracy = int(np.count_nonzero(hits[n:])) / m
            if self.divergence is None and not (
                math.isfinite(self.train_loss) and math.isfinite(self.test_loss)
            ):
                self.divergence = locate_forward_divergence(self.network, self._x_eval, self.step)

    # --- state and inspection -------------------------------------------------------------------

    def state(self) -> TrainerState:
        rec = self._record
        loss = None
        if rec is not None and self.stage.kind in ("loss", "backward", "update"):
            loss = rec.loss
        with np.errstate(all="ignore"):
            reg = self.network.regularization_loss(self._settings.l1, self._settings.l2)
        return TrainerState(
            self.step,
            self.stage.kind,
            self.stage.layer,
            self.network.n_layers,
            self.epoch,
            self.batch_size,
            loss,
            self.train_loss,
            self.test_loss,
            self.train_accuracy,
            self.test_accuracy,
            reg,
            self.divergence is not None,
            self.divergence,
        )

    def _current_pass(self) -> tuple[StepRecord, list[FloatArray], list[FloatArray]]:
        """The current step's record with the weights/biases its forward pass used.
        At idle, a record for the next batch (peeked, nothing consumed, nothing computed)."""
        net = self.network
        if self._record is None or self.stage.kind == "idle":
            return self._new_record(self._batch_indices(consume=False)), net.weights, net.biases
        if self.stage.kind == "update":
            return self._record, net.weights_prev, net.biases_prev
        return self._record, net.weights, net.biases

    def trace(self, sample: int = 0) -> StepTrace:
        """The current (or last completed) step's per-layer trace. Arrays are copies."""
        with np.errstate(all="ignore"):
            return self._trace(sample)

    def _trace(self, sample: int) -> StepTrace:
        net = self.network
        rec, _, _ = self._current_pass()
        done_update = self.stage.kind == "update"
        B = rec.x.shape[0]
        sample = min(max(int(sample), 0), B - 1)
        # One copy of each flat buffer; per-layer arrays are views into the copies.
        theta = (net.theta_prev if done_update else net.theta).copy()
        grad = net.grad.copy()
        ws, bs = param_views(theta, net.sizes)
        gws, gbs = param_views(grad, net.sizes)
        delta = rec.delta if done_update else self._last_delta
        dws = None if delta is None else param_views(delta.copy(), net.sizes)[0]
        names: list[tuple[int, str]] = []
        arrays: list[FloatArray] = []
        fprimes: list[FloatArray | None] = []
        for layer in range(net.n_layers):
            c, g = rec.caches[layer], rec.grads[layer]
            names.append((layer, "W"))
            arrays.append(ws[layer])
            fp = None
            if c is not None:
                names += [(layer, "z"), (layer, "a")]
                arrays += [c.z, c.a]
                fp = g.fprime if g is not None else net.activations[layer].grad(c.z, c.a)
            if g is not None:
                names += [(layer, "dz"), (layer, "dW")]
                arrays += [g.dz, gws[layer]]
            fprimes.append(fp)
        summaries: list[dict[str, Summary]] = [{} for _ in range(net.n_layers)]
        for (layer, key), s in zip(names, summarize_many(arrays), strict=True):
            summaries[layer][key] = s
        layers = []
        for layer in range(net.n_layers):
            c, g, act, fp = (
                rec.caches[layer],
                rec.grads[layer],
                net.activations[layer],
                fprimes[layer],
            )
            ur = self._last_update_ratio
            layers.append(
                LayerTrace(
                    index=layer,
                    activation=act.name,
                    fan_in=net.sizes[layer],
                    fan_out=net.sizes[layer + 1],
                    W=ws[layer],
                    b=bs[layer],
                    z=None if c is None else c.z,
                    a=None if c is None else c.a,
                    da=rec.da[layer],
                    dz=None if g is None else g.dz,
                    dW=None if g is None else gws[layer],
                    db=None if g is None else gbs[layer],
                    dW_update=None if dws is None else dws[layer],
                    summaries=summaries[layer],
                    saturated_fraction=None if fp is None else saturated_fraction(fp, act),
                    dead_fraction=None if c is None else dead_fraction(c.a),
                    update_ratio=None if ur is None else float(ur[layer]),
                    mean_abs_dz=None if g is None else float(np.mean(np.abs(g.dz))),
                    grad_norm=None if g is None else summaries[layer]["dW"].l2_norm,
                    mean_abs_fprime=None if fp is None else float(np.mean(np.abs(fp))),
                )
            )
        flow = gradient_flow([None if g is None else g.dz for g in rec.grads], fprimes, ws)
        logits = rec.logits()
        return StepTrace(
            step=self.step,
            stage=self.stage.kind,
            stage_layer=self.stage.layer,
            sample=sample,
            batch_indices=rec.indices.copy(),
            batch_x=rec.x,
            batch_y=rec.y,
            targets=rec.targets,
            prediction=None if logits is None else apply_head(logits, self.head.head),
            loss=rec.loss,
            regularization_loss=rec.regularization_loss
            if rec.loss is not None
            else net.regularization_loss(self._settings.l1, self._settings.l2),
            head=self.head.head,
            layers=layers,
            gradient_flow=flow,
        )

    def chain(self, layer: int, i: int, j: int, sample: int) -> ChainRule:
        """Chain-rule breakdown of ∂L/∂W_layer[i, j] for one batch sample of the current step.
        If this step's backward pass has not reached ``layer`` yet, the numbers come from a
        complete side-effect-free pass on the same batch with the same weights."""
        net = self.network
        L = net.n_layers
        if not 0 <= layer < L:
            raise ValueError(f"layer: must be an integer in 0..{L - 1}, got {layer}")
        if not 0 <= i < net.sizes[layer]:
            raise ValueError(f"i: must be an integer in 0..{net.sizes[layer] - 1}, got {i}")
        if not 0 <= j < net.sizes[layer + 1]:
            raise ValueError(f"j: must be an integer in 0..{net.sizes[layer + 1] - 1}, got {j}")
        with np.errstate(all="ignore"):
            rec, weights, biases = self._current_pass()
            B = rec.x.shape[0]
            if not 0 <= sample < B:
                raise ValueError(f"sample: must be an integer in 0..{B - 1}, got {sample}")
            if rec.grads[layer] is not None and rec.dlogits is not None:
                caches = [c for c in rec.caches if c is not None]
                grads: list[Any] = list(rec.grads)
                dlogits = rec.dlogits
            else:
                p = full_pass(net, rec.x, rec.targets, weights, biases)
                caches, grads, dlogits = p.caches, list(p.grads), p.dlogits
            return chain_rule(
                net,
                caches,
                grads,
                dlogits,
                weights,
                layer,
                i,
                j,
                sample,
                self._settings.l1,
                self._settings.l2,
            )

    def gradient_check(self, eps: float = 1e-5, max_entries: int | None = 64) -> GradientCheck:
        """Backprop vs central differences of the total loss at the current parameters, on the
        current step's minibatch (the next one at idle); at most ``max_entries`` entries per
        W and per b are checked."""
        with np.errstate(all="ignore"):
            rec, _, _ = self._current_pass()
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
            raise ValueError(f"grid: must be an integer in 2..{self.limits.max_grid}, got {grid}")
        ds = self.dataset
        xmin, xmax, ymin, ymax = ds.domain
        xs, ys = np.linspace(xmin, xmax, G), np.linspace(ymin, ymax, G)
        if ds.input_dim == 1:
            raw = xs.reshape(-1, 1)
            shape: tuple[int, ...] = (G,)
        else:
            gx, gy = np.meshgrid(xs, ys)
            raw = np.column_stack([gx.ravel(), gy.ravel()])
            shape = (G, G)
        with np.errstate(all="ignore"):
            features_t = np.ascontiguousarray(transform(raw, self.config.features).T)
            outs = self.network.forward_columns(features_t)
            probs = apply_head(outs[-1].T, self.head.head)
        if ds.task == "multiclass":
            output = probs.reshape(*shape, -1)
        elif self.head.units == 2:
            output = probs[:, 1].reshape(shape)
        else:
            output = probs[:, 0].reshape(shape)
        hidden = [a.reshape(a.shape[0], *shape) for a in outs[:-1]]
        return BoundaryGrid(G, ds.domain, xs, ys, output, hidden, ds.task)

    # --- export / import ------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as plain JSON-able data (floats exact via
        repr; generator states with integers as strings)."""
        net = self.network
        rec = self._record
        data: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "config": self.config.to_dict(),
            "dataset": None,
            "weights": [json_list(w) for w in net.weights],
            "biases": [json_list(b) for b in net.biases],
            "optimizer_state": export_state(self.optimizer_state),
            "rng": {"shuffle": _rng_state_to_json(self._shuffle_rng.bit_generator.state)},
            "permutation": None if self._perm is None else self._perm.tolist(),
            "cursor": self._cursor,
            "epoch": self.epoch,
            "step": self.step,
            "stage": {"kind": self.stage.kind, "layer": self.stage.layer},
            "batch_indices": None if rec is None else rec.indices.tolist(),
            "theta_before_update": json_list(net.theta_prev),
            "last_delta": None if self._last_delta is None else json_list(self._last_delta),
            "last_update_ratio": None
            if self._last_update_ratio is None
            else json_list(self._last_update_ratio),
            "history": self.history.to_dict(),
            "divergence": None
            if self.divergence is None
            else {
                "step": self.divergence.step,
                "stage": self.divergence.stage,
                "layer": self.divergence.layer,
            },
        }
        if self._dataset_given:
            ds = self.dataset
            data["dataset"] = {
                "name": ds.name,
                "task": ds.task,
                "n_classes": ds.n_classes,
                "input_dim": ds.input_dim,
                "x_train": ds.x_train.tolist(),
                "y_train": np.asarray(ds.y_train).tolist(),
                "x_test": ds.x_test.tolist(),
                "y_test": np.asarray(ds.y_test).tolist(),
                "domain": list(ds.domain),
                "classes": list(ds.classes),
            }
        return data

    @classmethod
    def from_export(cls, data: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Trainer:
        """Rebuild a trainer from :meth:`export` output; training on gives identical numbers.
        Raises ValueError on malformed data."""
        try:
            return cls._from_export(data, limits)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"export: malformed data ({exc!r})") from None

    @classmethod
    def _from_export(cls, data: Mapping[str, Any], limits: Limits) -> Trainer:
        if data.get("format") != EXPORT_FORMAT:
            raise ValueError(f"export: not a trainer export (format must be {EXPORT_FORMAT!r})")
        config = NetworkConfig.from_dict(data["config"])
        dataset = None
        if data.get("dataset") is not None:
            d = data["dataset"]
            y_dtype = np.float64 if d["task"] != "multiclass" else np.int64
            dataset = Dataset(
                str(d["name"]),
                d["task"],
                int(d["n_classes"]),
                int(d["input_dim"]),
                np.asarray(d["x_train"], dtype=np.float64).reshape(-1, int(d["input_dim"])),
                np.asarray(d["y_train"], dtype=y_dtype),
                np.asarray(d["x_test"], dtype=np.float64).reshape(-1, int(d["input_dim"])),
                np.asarray(d["y_test"], dtype=y_dtype),
                tuple(float(v) for v in d["domain"]),  # type: ignore[arg-type]
                tuple(float(v) for v in d.get("classes", ())),
            )
        t = cls(config, dataset, limits)
        net = t.network

        def array(value: Any, shape: tuple[int, ...], name: str) -> FloatArray:
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"export: {name} has shape {arr.shape}, expected {shape}")
            return arr

        if len(data["weights"]) != net.n_layers or len(data["biases"]) != net.n_layers:
            raise ValueError(f"export: need weights and biases for {net.n_layers} layers")
        for k, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            w[...] = array(data["weights"][k], w.shape, f"weights[{k}]")
            b[...] = array(data["biases"][k], b.shape, f"biases[{k}]")
        P, L = (net.n_params,), net.n_layers
        net.theta_prev[...] = array(data["theta_before_update"], P, "theta_before_update")
        t.optimizer_state = import_state(data["optimizer_state"])
        t._shuffle_rng.bit_generator.state = _rng_state_from_json(data["rng"]["shuffle"])
        perm = data.get("permutation")
        t._perm = None if perm is None else np.asarray(perm, dtype=np.intp)
        t._cursor = int(data["cursor"])
        t.epoch = int(data["epoch"])
        t.step = int(data["step"])
        t.history = History.from_dict(data["history"])
        div = data.get("divergence")
        t.divergence = None if div is None else Divergence(div["step"], div["stage"], div["layer"])
        last = data.get("last_delta")
        t._last_delta = None if last is None else array(last, P, "last_delta")
        lur = data.get("last_update_ratio")
        t._last_update_ratio = None if lur is None else array(lur, (L,), "last_update_ratio")
        stage = Stage(data["stage"]["kind"], data["stage"]["layer"])
        valid_layer = (
            stage.layer is None
            if stage.kind in ("idle", "loss", "update")
            else (isinstance(stage.layer, int) and 0 <= stage.layer < L)
        )
        idx = data.get("batch_indices")
        if stage.kind not in ("idle", "forward", "loss", "backward", "update") or not valid_layer:
            raise ValueError(f"export: invalid stage {data['stage']!r}")
        if stage.kind != "idle":
            if idx is None:
                raise ValueError("export: batch_indices missing for a step in progress")
            rows = np.asarray(idx, dtype=np.intp)
            if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= t._n_train:
                raise ValueError("export: batch_indices out of range")
            t._replay(stage, rows)
        t.stage = stage
        t._evaluate()
        return t

    def _replay(self, stage: Stage, idx: NDArray[np.intp]) -> None:
        """Recompute the current step's arrays up to ``stage`` (no parameter changes, so the
        arrays are bit-identical to the originals)."""
        net = self.network
        rec = self._new_record(idx)
        with np.errstate(all="ignore"):
            if stage.kind == "update":
                current = net.theta.copy()
                net.theta[...] = net.theta_prev
                run_until = Stage("backward", 0)
            else:
                current = None
                run_until = stage
            self.stage = IDLE
            order: list[Stage] = [Stage("forward", k) for k in range(net.n_layers)]
            order += [Stage("loss")]
            order += [Stage("backward", k) for k in range(net.n_layers - 1, -1, -1)]
            for s in order:
                if s.kind == "forward":
                    assert s.layer is not None
                    forward_layer(net, rec, s.layer)
                elif s.kind == "loss":
                    compute_loss(net, rec, self._settings.l1, self._settings.l2)
                else:
                    assert s.layer is not None
                    backward_layer(net, rec, s.layer)
                if s == run_until:
                    break
            if current is not None:
                net.theta[...] = current
                rec.delta = self._last_delta
        self._record = rec
