"""Lessons as data: each classic backprop phenomenon as a small declarative file.

A lesson (one TOML file in ``lessons/``) has a title, a goal, what to watch, one to four
*setups* (partial engine configs, merged onto the engine's defaults and validated like any
config), the *steps* to take (forward, loss, backward, update, train — applied to every setup
in lockstep) and *checkpoints* attached to steps. A checkpoint's sentence is filled in from
live numbers — ``{A.grad_norm_ratio:.1e}`` is setup A's ‖dW_first‖/‖dW_last‖ at that moment —
and its expectations say what must hold (``below``, ``above``). When they do not hold (a
teacher changed a setting, say), the checkpoint says so instead of claiming it.

A lesson with ``model = "recurrent"`` sets up recurrent runs (partial
:class:`~engine.config.RecurrentConfig` setups, driven by
:class:`~engine.recurrent_trainer.RecurrentTrainer`): its forward and backward steps count
``timesteps`` instead of ``layers``, and its checkpoints read :data:`RECURRENT_MEASURES`.

Nothing in a lesson file is executed: measures are looked up by name in :data:`MEASURES` (or
:data:`RECURRENT_MEASURES`), and a sentence can only name a setup and a measure. The file
format is documented in ``lessons/README.md``; :func:`load_lesson` names the file and the
field of any problem.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np

from engine.config import Limits, NetworkConfig, RecurrentConfig, merge_config
from engine.datasets import DATASETS
from engine.errors import ConfigError, format_path
from engine.evaluation import Evaluation
from engine.losses import output_head
from engine.recurrent_trainer import RecurrentTrainer
from engine.stages import Divergence
from engine.trainer import Trainer

Action = Literal["forward", "loss", "backward", "update", "train", "look"]
ACTIONS: tuple[Action, ...] = ("forward", "loss", "backward", "update", "train", "look")
PANELS = ("network", "flow", "inspector", "loss", "boundary", "controls", "transport")
SETUP_NAMES = ("A", "B", "C", "D")
MODELS = ("dense", "recurrent")
MAX_TRAIN_STEPS = 5000  # per lesson step: lessons stay quick to replay


class LessonError(ValueError):
    """A lesson file that cannot be used: names the file and the field."""

    def __init__(self, source: str, loc: Sequence[str | int], message: str) -> None:
        where = format_path(tuple(loc))
        super().__init__(f"{source}: {where + ': ' if where else ''}{message}")
        self.source, self.loc, self.message = source, tuple(loc), message


# --- measures ------------------------------------------------------------------------------


Weight = tuple[int, int, int] | None
RunT = TypeVar("RunT", Trainer, RecurrentTrainer)


@dataclass(frozen=True, slots=True)
class Measure(Generic[RunT]):
    """A number a checkpoint can read off a trainer (None when it is not available yet)."""

    name: str
    description: str
    fn: Callable[[RunT, Weight], float | None]


class _Run(Protocol):
    """What the measures shared by both model kinds read."""

    @property
    def step(self) -> int: ...
    @property
    def evaluation(self) -> Evaluation: ...
    @property
    def initial_evaluation(self) -> Evaluation: ...
    @property
    def divergence(self) -> Divergence | None: ...


def _grad_norms(t: Trainer) -> tuple[float, float] | None:
    layers = t.trace().layers
    first, last = layers[0].grad_norm, layers[-1].grad_norm
    return None if first is None or last is None else (first, last)


def _grad_norm_ratio(t: Trainer, _: object) -> float | None:
    norms = _grad_norms(t)
    if norms is None or norms[1] == 0.0:
        return None
    return norms[0] / norms[1]


def _dz_norm_ratio(t: Trainer, _: object) -> float | None:
    """‖dz‖ of the first layer ÷ ‖dz‖ of the output layer: how much the gradient at the
    pre-activations grew (≫ 1, exploding) or shrank (≪ 1, vanishing) on its way down."""
    layers = t.trace().layers
    first, last = layers[0].summaries.get("dz"), layers[-1].summaries.get("dz")
    if first is None or last is None or last.l2_norm == 0.0:
        return None
    return first.l2_norm / last.l2_norm


def _dead_fraction(t: Trainer, _: object) -> float | None:
    dead = [d for lt in t.trace().layers if (d := lt.dead_units_train) is not None]
    if not dead:
        return None
    return float(np.mean(np.concatenate(dead)))


def _unit_spread(t: Trainer, _: object) -> float | None:
    """Largest difference between two units' incoming weights, over the hidden layers: 0 when
    every hidden unit of each layer is identical (symmetry not broken)."""
    spreads = [float(np.ptp(w, axis=1).max()) for w in t.network.weights[:-1] if w.shape[1] > 1]
    return max(spreads) if spreads else None


def _loss_noise(t: Trainer, _: object) -> float | None:
    """How much the minibatch loss jumps from step to step, relative to its size: the mean
    of |L_t − L_{t−1}| ÷ the mean of L_t, over the last 50 steps (a steady descent scores
    near 0, the noise of small batches far above)."""
    losses = t.history.column("batch_loss")[-51:]
    losses = losses[np.isfinite(losses)]
    if losses.size < 6 or float(np.mean(losses)) == 0.0:
        return None
    return float(np.mean(np.abs(np.diff(losses))) / np.mean(losses))


def _saturated(t: Trainer, _: object) -> float | None:
    """Mean saturated share over the hidden layers (see the glossary's definition)."""
    shares = [lt.saturated_fraction for lt in t.trace().layers[:-1]]
    known = [s for s in shares if s is not None]
    return float(np.mean(known)) if known else None


def _loss_drop(t: _Run, _: object) -> float | None:
    """How much of the initial training loss is gone: (L₀ − L) / L₀."""
    start, now = t.initial_evaluation.train_loss, t.evaluation.train_loss
    if not (math.isfinite(start) and math.isfinite(now)) or start == 0.0:
        return None
    return (start - now) / start


def _chain(t: Trainer, weight: tuple[int, int, int] | None) -> Any:
    if weight is None:
        return None
    return t.chain(*weight, 0)


def _chain_mismatch(t: Trainer, weight: tuple[int, int, int] | None) -> float | None:
    """|chain-rule batch average − backprop's dW| ÷ |dW| for the lesson's weight."""
    c = _chain(t, weight)
    if c is None or c.dW_ij == 0.0:
        return None
    return abs(c.batch_average - c.dW_ij) / abs(c.dW_ij)


def _evaluation(name: str) -> Callable[[_Run, object], float | None]:
    def read(t: _Run, _: object) -> float | None:
        value = getattr(t.evaluation, name)
        return None if value is None else float(value)

    return read


def _first(t: Trainer, _: object) -> float | None:
    norms = _grad_norms(t)
    return None if norms is None else norms[0]


def _last(t: Trainer, _: object) -> float | None:
    norms = _grad_norms(t)
    return None if norms is None else norms[1]


def _initial_train_loss(t: _Run, _: object) -> float | None:
    return t.initial_evaluation.train_loss


def _gap(t: _Run, _: object) -> float | None:
    return t.evaluation.test_loss - t.evaluation.train_loss


def _diverged(t: _Run, _: object) -> float | None:
    return float(t.divergence is not None)


def _step(t: _Run, _: object) -> float | None:
    return float(t.step)


def _chain_average(t: Trainer, weight: tuple[int, int, int] | None) -> float | None:
    c = _chain(t, weight)
    return None if c is None else float(c.batch_average)


def _chain_dw(t: Trainer, weight: tuple[int, int, int] | None) -> float | None:
    c = _chain(t, weight)
    return None if c is None else float(c.dW_ij)


_MEASURES: tuple[Measure[Trainer], ...] = (
    Measure("grad_norm_first", "‖dW‖ of the first layer", _first),
    Measure("grad_norm_last", "‖dW‖ of the output layer", _last),
    Measure("grad_norm_ratio", "‖dW_first‖ ÷ ‖dW_output‖", _grad_norm_ratio),
    Measure("dz_norm_ratio", "‖dz_first‖ ÷ ‖dz_output‖", _dz_norm_ratio),
    Measure("dead_fraction", "share of hidden units dead on the training set", _dead_fraction),
    Measure("unit_spread", "largest gap between two hidden units' weights", _unit_spread),
    Measure("loss_noise", "mean |ΔL| ÷ mean L of the last 50 minibatch losses", _loss_noise),
    Measure("saturated_fraction", "mean saturated share of the hidden layers", _saturated),
    Measure("loss_drop", "share of the initial training loss gone", _loss_drop),
    Measure("initial_train_loss", "loss on the whole training set at step 0", _initial_train_loss),
    Measure("train_loss", "loss on the whole training set", _evaluation("train_loss")),
    Measure("test_loss", "loss on the whole test set", _evaluation("test_loss")),
    Measure("train_accuracy", "accuracy on the training set", _evaluation("train_accuracy")),
    Measure("test_accuracy", "accuracy on the test set", _evaluation("test_accuracy")),
    Measure("generalization_gap", "test loss − training loss", _gap),
    Measure("diverged", "1 once training diverged, else 0", _diverged),
    Measure("step", "completed steps", _step),
    Measure("chain_batch_average", "(1/B)·Σ_n δ_j·a_i for the lesson's weight", _chain_average),
    Measure("chain_dw", "backprop's ∂L/∂w for the lesson's weight", _chain_dw),
    Measure("chain_mismatch", "relative difference of the two", _chain_mismatch),
)
MEASURES: dict[str, Measure[Trainer]] = {m.name: m for m in _MEASURES}


# --- measures of recurrent runs ---------------------------------------------------------------


def _dh_norms(t: RecurrentTrainer) -> Any:
    """(T,) ‖∂L/∂h_t‖ of the current step, or None before its backward pass is complete."""
    norms = t.trace().dh_norms()
    return None if not np.isfinite(norms).all() else norms


def _first_step_ratio(t: RecurrentTrainer, _: object) -> float | None:
    norms = _dh_norms(t)
    if norms is None or norms[-1] == 0.0:
        return None
    return float(norms[0] / norms[-1])


def _first_step_gradient(t: RecurrentTrainer, _: object) -> float | None:
    norms = _dh_norms(t)
    return None if norms is None else float(norms[0])


def _gradient_reach(t: RecurrentTrainer, _: object) -> float | None:
    reach = t.trace().reach
    return None if reach is None or reach.steps is None else float(reach.steps)


def _jacobian_norm_mean(t: RecurrentTrainer, _: object) -> float | None:
    norms = t.trace().jacobians.norm
    if any(n is None for n in norms):
        return None
    return float(np.mean(np.array(norms, dtype=np.float64)))


def _recurrent_condition(t: RecurrentTrainer, _: object) -> float | None:
    """σ_max ÷ σ_min of W_hh (1 for an orthogonal matrix)."""
    s = np.linalg.svd(t.network.W_hh, compute_uv=False)
    return None if s[-1] == 0.0 else float(s[0] / s[-1])


def _first_quarter_share(t: RecurrentTrainer, _: object) -> float | None:
    trace = t.trace()
    return trace.share_first(math.ceil(trace.n_timesteps / 4))


def _grad_norm_total(t: RecurrentTrainer, _: object) -> float | None:
    """‖∂L/∂θ‖ of the current step once its backward pass is complete."""
    if t.stage.kind not in ("backward", "update") or (
        t.stage.kind == "backward" and t.stage.timestep != 0
    ):
        return None
    g = t.network.grad
    return float(np.sqrt(g @ g))


def _clipped(t: RecurrentTrainer, _: object) -> float | None:
    """1 when the current step's update clipped the gradient, 0 when it did not."""
    if t.stage.kind != "update":
        return None
    return float(t.trace().clipped)


def _update_ratio_hh(t: RecurrentTrainer, _: object) -> float | None:
    ratio = t.trace().update_ratio
    return None if ratio is None else float(ratio[1])


def _unstable(t: RecurrentTrainer, _: object) -> float | None:
    """1 when training diverged or the training loss is over 10× its initial value, else 0."""
    start, now = t.initial_evaluation.train_loss, t.train_loss
    blown = not math.isfinite(now) or now > 10.0 * start
    return float(t.divergence is not None or blown)


_SHARED: tuple[Measure[Any], ...] = (
    Measure("loss_drop", "share of the initial training loss gone", _loss_drop),
    Measure("initial_train_loss", "loss on the whole training set at step 0", _initial_train_loss),
    Measure("train_loss", "loss on the whole training set", _evaluation("train_loss")),
    Measure("test_loss", "loss on the whole test set", _evaluation("test_loss")),
    Measure("train_accuracy", "accuracy on the training set", _evaluation("train_accuracy")),
    Measure("test_accuracy", "accuracy on the test set", _evaluation("test_accuracy")),
    Measure("generalization_gap", "test loss − training loss", _gap),
    Measure("diverged", "1 once training diverged, else 0", _diverged),
    Measure("step", "completed steps", _step),
)
_RECURRENT_MEASURES: tuple[Measure[RecurrentTrainer], ...] = (
    *_SHARED,
    Measure("first_step_ratio", "‖∂L/∂h_0‖ ÷ ‖∂L/∂h_{T−1}‖", _first_step_ratio),
    Measure("first_step_gradient", "‖∂L/∂h_0‖", _first_step_gradient),
    Measure(
        "gradient_reach",
        "timesteps back the last output's gradient reaches (≥ 1 % of its largest ‖∂L/∂h_t‖)",
        _gradient_reach,
    ),
    Measure(
        "jacobian_norm_mean",
        "mean over t of ‖∂s_t/∂s_{t−1}‖₂ for batch sequence 0",
        _jacobian_norm_mean,
    ),
    Measure("recurrent_condition", "σ_max ÷ σ_min of W_hh", _recurrent_condition),
    Measure(
        "first_quarter_share",
        "share of Σ_t ‖C_t‖ (C_t: timestep t's term of ∂L/∂W_hh) from the first ⌈T/4⌉ steps",
        _first_quarter_share,
    ),
    Measure("grad_norm_total", "‖∂L/∂θ‖ of the current step (before clipping)", _grad_norm_total),
    Measure("clipped", "1 when this step's update clipped the gradient, else 0", _clipped),
    Measure("update_ratio_hh", "‖ΔW_hh‖ ÷ ‖W_hh‖ of the most recent update", _update_ratio_hh),
    Measure(
        "unstable",
        "1 when training diverged or the training loss is over 10× its initial value, else 0",
        _unstable,
    ),
)
RECURRENT_MEASURES: dict[str, Measure[RecurrentTrainer]] = {m.name: m for m in _RECURRENT_MEASURES}


# --- the lesson format ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expectation:
    """``setup``'s ``measure`` must lie below ``below`` and/or above ``above``."""

    setup: str
    measure: str
    below: float | None
    above: float | None

    def holds(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        return (self.below is None or value < self.below) and (
            self.above is None or value > self.above
        )

    def describe(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f"above {self.above:g}")
        if self.below is not None:
            parts.append(f"below {self.below:g}")
        return f"{self.setup}'s {self.measure} {' and '.join(parts)}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    text: str  # a sentence with {SETUP.measure:format} fields
    expect: tuple[Expectation, ...]


@dataclass(frozen=True, slots=True)
class LessonStep:
    do: Action
    text: str
    layers: int | None = None  # dense forward/backward: how many (None = the rest of the pass)
    steps: int = 1  # train: how many steps
    highlight: str | None = None  # the panel this step talks about
    checkpoints: tuple[Checkpoint, ...] = ()
    timesteps: int | None = None  # recurrent forward/backward: how many (None = the rest)


@dataclass(frozen=True, slots=True)
class Setup:
    name: str  # A..D
    label: str
    patch: Mapping[str, Any]  # the partial config, as the file gives it (layers expanded)
    config: NetworkConfig | RecurrentConfig  # merged onto the engine defaults and validated


@dataclass(frozen=True, slots=True)
class Lesson:
    id: str
    title: str
    summary: str
    goal: str
    watch: str
    order: int
    setups: tuple[Setup, ...]
    steps: tuple[LessonStep, ...]
    weight: tuple[int, int, int] | None  # a weight the lesson traces (layer, i, j)
    source: str  # file name, for messages
    model: str = "dense"  # "dense" | "recurrent": what every setup of the lesson is


_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FIELD = re.compile(r"\{([A-D])\.([a-z_]+)(?::([^{}]*))?\}")


def load_lesson(path: Path, limits: Limits | None = None) -> Lesson:
    """Read and validate one lesson file; LessonError names the file and the field."""
    limits = limits or Limits()
    source = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(source, (), f"cannot read the file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(source, (), f"not valid TOML ({exc})") from None
    # "02-vanishing-gradients.toml" → "vanishing-gradients": the number only orders files.
    stem = re.sub(r"^\d+-", "", path.stem)
    return parse_lesson(data, source, stem, limits)


def parse_lesson(data: Mapping[str, Any], source: str, stem: str, limits: Limits) -> Lesson:
    r = _Reader(source)
    r.keys(
        data,
        (),
        required=("title", "summary", "goal", "watch", "setups", "steps"),
        optional=("id", "order", "weight", "model"),
    )
    model = data.get("model", "dense")
    if model not in MODELS:
        raise LessonError(source, ("model",), f"unknown {model!r}; valid: {', '.join(MODELS)}")
    r.model = model
    lesson_id = r.text(data.get("id", stem), ("id",))
    if not _ID.match(lesson_id):
        raise LessonError(
            source, ("id",), "must be lowercase words joined by '-', e.g. 'vanishing'"
        )
    setups = r.setups(data["setups"], limits)
    weight = None
    if "weight" in data and model != "dense":
        raise LessonError(source, ("weight",), "only a dense lesson traces a weight")
    if "weight" in data:
        w = data["weight"]
        if not (isinstance(w, list) and len(w) == 3 and all(_is_int(v) and v >= 0 for v in w)):
            raise LessonError(source, ("weight",), "must be [layer, i, j], three integers ≥ 0")
        weight = (w[0], w[1], w[2])
        for setup in setups:
            assert isinstance(setup.config, NetworkConfig)
            sizes = _layer_sizes(setup.config)
            layer, i, j = weight
            if layer >= len(sizes) - 1 or i >= sizes[layer] or j >= sizes[layer + 1]:
                raise LessonError(
                    source, ("weight",), f"not a weight of setup {setup.name}'s network"
                )
    names = {s.name for s in setups}
    steps = tuple(
        r.step(item, ("steps", k), names)
        for k, item in enumerate(r.list(data["steps"], ("steps",)))
    )
    if not steps:
        raise LessonError(source, ("steps",), "must hold at least one step")
    order = data.get("order", 1000)
    if not _is_int(order):
        raise LessonError(source, ("order",), "must be an integer")
    return Lesson(
        lesson_id,
        r.text(data["title"], ("title",)),
        r.text(data["summary"], ("summary",)),
        r.text(data["goal"], ("goal",)),
        r.text(data["watch"], ("watch",)),
        order,
        setups,
        steps,
        weight,
        source,
        model,
    )


def load_lessons(folders: Sequence[Path], limits: Limits | None = None) -> list[Lesson]:
    """Every ``*.toml`` lesson in ``folders`` (later folders may add lessons, not replace
    one), ordered by ``order`` then title. LessonError on the first bad file."""
    lessons: dict[str, Lesson] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            lesson = load_lesson(path, limits)
            if lesson.id in lessons:
                other = lessons[lesson.id].source
                raise LessonError(path.name, ("id",), f"{lesson.id!r} is also the id of {other}")
            lessons[lesson.id] = lesson
    return sorted(lessons.values(), key=lambda lesson: (lesson.order, lesson.title))


def _layer_sizes(config: NetworkConfig) -> list[int]:
    spec = DATASETS[config.dataset.name]
    head = output_head(spec.task, spec.n_classes, config.loss)
    return [len(config.features), *(layer.units for layer in config.layers), head.units]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Reader:
    """Checks on the parts of one file, raising LessonError with its name and the field."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.model = "dense"

    @property
    def measures(self) -> Mapping[str, Measure[Any]]:
        return RECURRENT_MEASURES if self.model == "recurrent" else MEASURES

    def fail(self, loc: Sequence[str | int], message: str) -> LessonError:
        return LessonError(self.source, loc, message)

    def keys(
        self,
        value: object,
        loc: Sequence[str | int],
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(loc, "must be a table")
        for key in value:
            if key not in (*required, *optional):
                valid = ", ".join((*required, *optional))
                raise self.fail((*loc, key), f"unknown field; valid: {valid}")
        for key in required:
            if key not in value:
                raise self.fail((*loc, key), "required")
        return value

    def text(self, value: object, loc: Sequence[str | int]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(loc, "must be non-empty text")
        return value.strip()

    def list(self, value: object, loc: Sequence[str | int]) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(loc, "must be a list (an array of tables: [[...]])")
        return value

    def setups(self, value: object, limits: Limits) -> tuple[Setup, ...]:
        items = self.list(value, ("setups",))
        if not 1 <= len(items) <= len(SETUP_NAMES):
            raise self.fail(("setups",), f"must hold 1..{len(SETUP_NAMES)} setups")
        out = []
        recurrent = self.model == "recurrent"
        defaults = RecurrentConfig().to_dict() if recurrent else NetworkConfig().to_dict()
        for k, item in enumerate(items):
            loc = ("setups", k)
            d = self.keys(item, loc, required=("label", "config"), optional=("name",))
            name = d.get("name", SETUP_NAMES[k])
            if name != SETUP_NAMES[k]:
                raise self.fail(
                    (*loc, "name"), f"setups are named in order: this one is {SETUP_NAMES[k]!r}"
                )
            patch = self._expand_layers(d["config"], (*loc, "config"))
            config: NetworkConfig | RecurrentConfig
            try:
                merged = merge_config(defaults, patch)
                if recurrent:
                    config = RecurrentConfig.from_dict(merged)
                else:
                    config = NetworkConfig.from_dict(merged)
                config.validate(limits)
            except ConfigError as exc:
                raise self.fail((*loc, "config", *exc.loc), exc.message) from None
            except (TypeError, ValueError) as exc:
                raise self.fail((*loc, "config"), str(exc)) from None
            out.append(Setup(name, self.text(d["label"], (*loc, "label")), patch, config))
        return tuple(out)

    def _expand_layers(self, value: object, loc: Sequence[str | int]) -> dict[str, Any]:
        """``layers = [{units = 16, activation = "sigmoid", repeat = 10}]`` → ten layers."""
        if not isinstance(value, Mapping):
            raise self.fail(loc, "must be a table (a partial config)")
        patch = dict(value)
        if isinstance(patch.get("layers"), list):
            layers = []
            for k, layer in enumerate(patch["layers"]):
                if isinstance(layer, Mapping) and "repeat" in layer:
                    times = layer["repeat"]
                    if not _is_int(times) or not 1 <= times <= 64:
                        raise self.fail(
                            (*loc, "layers", k, "repeat"), "must be an integer in 1..64"
                        )
                    layers += [{key: v for key, v in layer.items() if key != "repeat"}] * times
                else:
                    layers.append(layer)
            patch["layers"] = layers
        return patch

    def step(self, value: object, loc: tuple[str | int, ...], setups: set[str]) -> LessonStep:
        d = self.keys(
            value,
            loc,
            required=("do", "text"),
            optional=("layers", "timesteps", "steps", "highlight", "checkpoints"),
        )
        do = d["do"]
        if do not in ACTIONS:
            raise self.fail((*loc, "do"), f"unknown {do!r}; valid: {', '.join(ACTIONS)}")
        # A dense lesson's passes count layers, a recurrent one's timesteps.
        unit, other = (
            ("timesteps", "layers") if self.model == "recurrent" else ("layers", "timesteps")
        )
        if other in d:
            raise self.fail((*loc, other), f"a {self.model} lesson's passes count {unit}")
        count = d.get(unit, "all" if do in ("forward", "backward") else None)
        if count == "all":
            count = None
        elif count is not None and (not _is_int(count) or count < 1):
            raise self.fail((*loc, unit), "must be a positive integer or 'all'")
        if unit in d and do not in ("forward", "backward"):
            raise self.fail((*loc, unit), f"only forward and backward take {unit}")
        steps = d.get("steps", 1)
        if not _is_int(steps) or not 1 <= steps <= MAX_TRAIN_STEPS:
            raise self.fail((*loc, "steps"), f"must be an integer in 1..{MAX_TRAIN_STEPS}")
        if "steps" in d and do != "train":
            raise self.fail((*loc, "steps"), "only train takes steps")
        highlight = d.get("highlight")
        if highlight is not None and highlight not in PANELS:
            raise self.fail(
                (*loc, "highlight"), f"unknown panel {highlight!r}; valid: {', '.join(PANELS)}"
            )
        checkpoints = tuple(
            self.checkpoint(item, (*loc, "checkpoints", k), setups)
            for k, item in enumerate(self.list(d.get("checkpoints", []), (*loc, "checkpoints")))
        )
        layers, timesteps = (None, count) if unit == "timesteps" else (count, None)
        return LessonStep(
            do,
            self.text(d["text"], (*loc, "text")),
            layers,
            steps,
            highlight,
            checkpoints,
            timesteps,
        )

    def checkpoint(self, value: object, loc: tuple[str | int, ...], setups: set[str]) -> Checkpoint:
        d = self.keys(value, loc, required=("text", "expect"))
        text = self.text(d["text"], (*loc, "text"))
        for setup, measure, spec in _FIELD.findall(text):
            self._setup_and_measure(setup, measure, (*loc, "text"), setups)
            try:
                format(1.0, spec)
            except ValueError:
                raise self.fail((*loc, "text"), f"bad number format {spec!r}") from None
        if re.sub(_FIELD, "", text).count("{"):
            raise self.fail(
                (*loc, "text"), "a field must read {SETUP.measure} or {SETUP.measure:format}"
            )
        expect = []
        for k, item in enumerate(self.list(d["expect"], (*loc, "expect"))):
            eloc = (*loc, "expect", k)
            e = self.keys(item, eloc, required=("setup", "measure"), optional=("below", "above"))
            self._setup_and_measure(e["setup"], e["measure"], eloc, setups)
            bounds = []
            for key in ("below", "above"):
                v = e.get(key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                    raise self.fail((*eloc, key), "must be a number")
                bounds.append(None if v is None else float(v))
            if bounds == [None, None]:
                raise self.fail(eloc, "needs below, above or both")
            expect.append(Expectation(e["setup"], e["measure"], bounds[0], bounds[1]))
        if not expect:
            raise self.fail((*loc, "expect"), "must hold at least one expectation")
        return Checkpoint(text, tuple(expect))

    def _setup_and_measure(
        self, setup: str, measure: str, loc: Sequence[str | int], setups: set[str]
    ) -> None:
        if setup not in setups:
            raise self.fail(loc, f"no setup {setup!r}; this lesson has {', '.join(sorted(setups))}")
        measures = self.measures
        if measure not in measures:
            raise self.fail(loc, f"unknown measure {measure!r}; valid: {', '.join(measures)}")


# --- running a lesson ----------------------------------------------------------------------


def start_setup(setup: Setup, limits: Limits | None = None) -> Trainer | RecurrentTrainer:
    """A fresh run of one setup: a :class:`Trainer` or, in a recurrent lesson, a
    :class:`RecurrentTrainer`."""
    limits = limits or Limits()
    if isinstance(setup.config, RecurrentConfig):
        return RecurrentTrainer(setup.config, limits)
    return Trainer(setup.config, limits=limits)


def take_step(trainer: Trainer | RecurrentTrainer, step: LessonStep) -> None:
    """Do one lesson step on one setup's trainer (``look`` does nothing)."""
    count = step.timesteps if isinstance(trainer, RecurrentTrainer) else step.layers
    if step.do == "forward":
        trainer.forward(count)
    elif step.do == "loss":
        trainer.compute_loss()
    elif step.do == "backward":
        trainer.backward(count)
    elif step.do == "update":
        trainer.update()
    elif step.do == "train":
        trainer.train(step.steps)


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """A checkpoint read at one moment: the sentence with live numbers, whether every
    expectation holds, and for each one that does not, what it expected and found."""

    text: str
    holds: bool
    values: dict[str, float | None]  # "A.grad_norm_ratio" → value
    failures: list[str]


def read_checkpoint(
    checkpoint: Checkpoint,
    trainers: Mapping[str, Trainer | RecurrentTrainer],
    weight: tuple[int, int, int] | None,
) -> CheckpointResult:
    """Fill in ``checkpoint`` from the trainers of the lesson's setups (by name)."""
    values: dict[str, float | None] = {}

    def value(setup: str, measure: str) -> float | None:
        key = f"{setup}.{measure}"
        if key not in values:
            trainer = trainers.get(setup)
            values[key] = _measure(trainer, measure, weight)
        return values[key]

    def fill(match: re.Match[str]) -> str:
        v = value(match.group(1), match.group(2))
        if v is None:
            return "—"
        return format(v, match.group(3) or ".3g")

    with np.errstate(all="ignore"):
        text = _FIELD.sub(fill, checkpoint.text)
        failures = []
        for e in checkpoint.expect:
            v = value(e.setup, e.measure)
            if not e.holds(v):
                found = "not available yet" if v is None else f"{v:.3g}"
                failures.append(f"expected {e.describe()}, found {found}")
    return CheckpointResult(text, not failures, values, failures)


def _measure(
    trainer: Trainer | RecurrentTrainer | None, measure: str, weight: Weight
) -> float | None:
    """``measure`` read off ``trainer`` (None for no trainer, or a measure of the other model
    kind)."""
    if isinstance(trainer, RecurrentTrainer):
        recurrent = RECURRENT_MEASURES.get(measure)
        return None if recurrent is None else recurrent.fn(trainer, weight)
    if trainer is None or measure not in MEASURES:
        return None
    return MEASURES[measure].fn(trainer, weight)
