"""Request and response models: the only place engine results become JSON.

Every float that leaves the server goes through :func:`finite` or :func:`array_json`, so JSON
never carries NaN or Infinity: a non-finite number becomes ``null``, and ``diverged`` says so
with the step, stage and layer where the first one appeared.

Responses are built as plain dicts and rendered with :func:`json_bytes` in a worker thread (large
traces and exports would otherwise hold up the event loop); the pydantic models below
document each shape in ``/docs`` and the tests validate real responses against them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from engine.config import NetworkConfig

Stage = Literal["idle", "forward", "loss", "backward", "update"]
Nested = list[Any]

# ----------------------------------------------------------------------------- finite-safe


def finite(x: Any) -> float | None:
    """A JSON-safe float: ``None`` for None, NaN and ±Infinity."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def round_significant(
    arr: NDArray[np.float64], digits: int, how: Any = np.round
) -> NDArray[np.float64]:
    """Round to ``digits`` significant digits (so the JSON text stays short); ``how`` may be
    ``np.floor`` or ``np.ceil`` to round down or up instead of to the nearest."""
    with np.errstate(all="ignore"):
        magnitude = np.floor(np.log10(np.abs(arr)))
    magnitude[~np.isfinite(magnitude)] = 0.0
    exponent = (digits - 1 - magnitude).astype(np.int64)
    # Scale by an exact power of ten in the direction that keeps the power ≥ 1.
    up = np.power(10.0, np.maximum(exponent, 0))
    down = np.power(10.0, np.maximum(-exponent, 0))
    with np.errstate(all="ignore"):
        rounded = np.where(exponent >= 0, how(arr * up) / up, how(arr / down) * down)
    return np.where(np.isfinite(rounded), rounded, arr)


def array_json(a: Any) -> Nested | None:
    """A NumPy array (any shape) as nested lists of floats, non-finite entries → ``None``."""
    if a is None:
        return None
    arr = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(arr)
    if ok.all():
        out: Nested = arr.tolist()
        return out
    obj = arr.astype(object)
    obj[~ok] = None
    result: Nested = obj.tolist()
    return result


def int_list(a: Any) -> list[int]:
    return [int(v) for v in np.asarray(a).ravel().tolist()]


def json_safe(value: Any) -> Any:
    """Plain data (dicts, lists, numbers, NumPy values) with every non-finite float → None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return array_json(value) if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, np.floating):
        return finite(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON; every float is written as its shortest exact round-trip form.

    Not the standard library's encoder: that one formats a float in ~0.4 µs while holding the
    interpreter lock, and never lets go of it inside one call, so a 50 KB trace held every
    other thread (the event loop included) off the lock for a millisecond at a time; bursts
    of trace fetches then stalled every one-step request queued behind them. This renders
    the same document about 15× faster. Non-finite floats have been mapped to ``None``
    before this point; were one to slip through, it would still become ``null``, never
    invalid JSON.
    """
    return orjson.dumps(content, option=_JSON_OPTIONS)


def dumps(content: Any) -> str:
    """:func:`json_bytes` as text (WebSocket text frames)."""
    return json_bytes(content).decode()


# ----------------------------------------------------------------------------- config

_DEFAULT = NetworkConfig().to_dict()
_DEFAULT_LAYER: dict[str, Any] = (
    _DEFAULT["layers"][0] if _DEFAULT["layers"] else {"units": 8, "activation": "tanh"}
)


def _unknown_field_check(model: type[BaseModel], data: Any) -> Any:
    if isinstance(data, Mapping):
        unknown = [str(k) for k in data if k not in model.model_fields]
        if unknown:
            raise PydanticCustomError(
                "unknown_field",
                "unknown field '{field}'; valid: {valid}",
                {"field": unknown[0], "valid": ", ".join(model.model_fields)},
            )
    return data


class StrictModel(BaseModel):
    """Unknown keys are refused with the list of valid ones; NaN/Infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        return _unknown_field_check(cls, data)


class DatasetModel(StrictModel):
    name: str = Field(
        _DEFAULT["dataset"]["name"], description="Dataset key (see /api/catalog) or 'csv'."
    )
    n_samples: int = Field(
        _DEFAULT["dataset"]["n_samples"], description="Points, 10..max_samples (train + test)."
    )
    noise: float = Field(_DEFAULT["dataset"]["noise"], description="Noise level, 0..1.")
    train_fraction: float = Field(
        _DEFAULT["dataset"]["train_fraction"], description="Share used for training, 0.1..0.9."
    )
    seed: int = Field(_DEFAULT["dataset"]["seed"], description="Data seed, 0..2³²−1.")


class LayerModel(StrictModel):
    units: int = Field(_DEFAULT_LAYER["units"], description="Neurons, 1..max_width.")
    activation: str = Field(_DEFAULT_LAYER["activation"], description="Activation key.")


class InitModel(StrictModel):
    name: str = Field(_DEFAULT["init"]["name"], description="Initialiser key.")
    scale: float | None = Field(
        _DEFAULT["init"]["scale"], description="Gain / σ / bound (> 0); null = its default."
    )


class OptimizerModel(BaseModel):
    """``name`` plus the optimiser's hyperparameters, flat (e.g. ``beta1``, ``momentum``)."""

    model_config = ConfigDict(
        extra="allow",
        allow_inf_nan=False,
        json_schema_extra={"additionalProperties": {"type": "number"}},
    )
    __pydantic_extra__: dict[str, float] = Field(init=False)

    name: str = Field(_DEFAULT["optimizer"]["name"], description="Optimiser key.")


class ConfigModel(StrictModel):
    """A network configuration: every field optional; the defaults are the teaching defaults."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [_DEFAULT]},
    )

    dataset: DatasetModel = Field(default_factory=DatasetModel)
    features: list[str] = Field(
        list(_DEFAULT["features"]), description="Input features (see catalog), at least one."
    )
    layers: list[LayerModel] = Field(
        default_factory=lambda: [LayerModel(**layer) for layer in _DEFAULT["layers"]],
        description="Hidden layers only, 0..max_depth of them.",
    )
    init: InitModel = Field(default_factory=InitModel)
    loss: str | None = Field(_DEFAULT["loss"], description="Loss key; null = the task's default.")
    optimizer: OptimizerModel = Field(default_factory=OptimizerModel)
    learning_rate: float = Field(_DEFAULT["learning_rate"], description="0 < η ≤ 100.")
    batch_size: int = Field(
        _DEFAULT["batch_size"], description="≥ 1; above the training set size = full batch."
    )
    l1: float = Field(_DEFAULT["l1"], description="L1 penalty, 0..1.")
    l2: float = Field(_DEFAULT["l2"], description="L2 penalty, 0..1.")
    grad_clip: float | None = Field(
        _DEFAULT["grad_clip"], description="Max global gradient norm (> 0); null = off."
    )
    seed: int = Field(_DEFAULT["seed"], description="Weight and shuffle seed, 0..2³²−1.")


def config_patch(model: ConfigModel) -> dict[str, Any]:
    """The fields a client actually sent, as config JSON (layers are always whole objects)."""
    patch = model.model_dump(exclude_unset=True)
    if "layers" in model.model_fields_set:
        patch["layers"] = [layer.model_dump() for layer in model.layers]
    return patch


# ----------------------------------------------------------------------------- errors


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ErrorItem]


class MessageBody(BaseModel):
    detail: str


# ----------------------------------------------------------------------------- state


class Divergence(BaseModel):
    step: int = Field(description="Step in progress (= updates completed before it).")
    stage: Stage
    layer: int | None = Field(description="Weight layer, or null for the loss stage.")


class NextStage(BaseModel):
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None = Field(description="Weight layer for forward/backward, else null.")


class StateModel(BaseModel):
    step: int = Field(description="Completed updates.")
    stage: Stage = Field(description="Last completed stage of the current step.")
    layer: int | None = Field(description="Layer of that stage (forward/backward), else null.")
    n_layers: int = Field(description="Weight layers (hidden + output).")
    epoch: int = Field(description="Completed passes over the training set.")
    batch_size: int = Field(description="Effective batch size (clamped to the training set).")
    loss: float | None = Field(description="Data loss of the current batch, null before loss.")
    train_loss: float | None
    test_loss: float | None
    train_accuracy: float | None = Field(description="null for regression.")
    test_accuracy: float | None
    regularization_loss: float | None
    diverged: bool
    divergence: Divergence | None
    next: NextStage = Field(description="The stage the next stepping call runs.")


def divergence_json(div: Any) -> dict[str, Any] | None:
    if div is None:
        return None
    layer = getattr(div, "layer", None)
    return {
        "step": int(div.step),
        "stage": str(div.stage),
        "layer": None if layer is None else int(layer),
    }


def state_json(state: Any) -> dict[str, Any]:
    """The engine's ``TrainerState`` as state JSON."""
    divergence = divergence_json(state.divergence)
    return {
        "step": int(state.step),
        "stage": str(state.stage),
        "layer": _opt_int(state.cursor_layer),
        "n_layers": int(state.n_layers),
        "epoch": int(state.epoch),
        "batch_size": int(state.batch_size),
        "loss": finite(state.loss),
        "train_loss": finite(state.train_loss),
        "test_loss": finite(state.test_loss),
        "train_accuracy": finite(state.train_accuracy),
        "test_accuracy": finite(state.test_accuracy),
        "regularization_loss": finite(state.regularization_loss),
        "diverged": divergence is not None,
        "divergence": divergence,
        "next": {"stage": str(state.next_stage.kind), "layer": _opt_int(state.next_stage.layer)},
    }


def _opt_int(x: Any) -> int | None:
    return None if x is None else int(x)


class SessionModel(BaseModel):
    id: str = Field(description="Session id (192 random bits, URL-safe).")
    config: ConfigModel
    state: StateModel


class PatchedSessionModel(SessionModel):
    reset: bool = Field(description="True when the change rebuilt the network (step 0).")


class DatasetUploadModel(PatchedSessionModel):
    rows: int = Field(description="Rows read from the CSV.")


# ----------------------------------------------------------------------------- requests


class LayersRequest(StrictModel):
    """How many layers to advance: a positive count or ``"all"`` (the rest of the pass)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"layers": 1}, {"layers": "all"}]},
    )
    layers: int | Literal["all"] = Field(1, description="1..n_layers or 'all'.")


class StepsRequest(StrictModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"steps": 1}, {"steps": 100}]}
    )
    steps: int = Field(1, description="Full training steps, 1..max_steps.")


# ----------------------------------------------------------------------------- catalog


class CurveModel(BaseModel):
    z: list[float]
    f: list[float | None]
    fprime: list[float | None]


class ActivationInfo(BaseModel):
    name: str
    formula: str
    derivative_formula: str
    max_slope: float
    curve: CurveModel = Field(description="f and f′ sampled on z ∈ [−6, 6] (121 points).")


class InitializerInfo(BaseModel):
    name: str
    description: str
    uses_scale: bool
    default_scale: float | None


class LossInfo(BaseModel):
    name: str
    formula: str


class OptimizerInfo(BaseModel):
    name: str
    defaults: dict[str, float]
    formula: str


class PointsModel(BaseModel):
    x: list[list[float]] = Field(description="(n, input_dim) raw coordinates.")
    y: list[float] = Field(description="(n,) class index (0..K−1) or regression target.")


class DatasetInfo(BaseModel):
    name: str
    task: Literal["binary", "multiclass", "regression"]
    n_classes: int
    input_dim: int
    description: str
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    preview: PointsModel = Field(description="A small fixed sample for thumbnails.")
    features: list[str] = Field(description="Input features this data can feed (1-D: x1 only).")


class FeatureInfo(BaseModel):
    name: str
    label: str
    inputs: list[str]


class LimitsModel(BaseModel):
    max_depth: int
    max_width: int
    max_samples: int
    max_grid: int
    max_steps: int
    max_csv_bytes: int
    max_csv_rows: int
    max_request_bytes: int
    max_import_bytes: int
    max_steps_per_frame: int
    max_history_points: int


class CatalogModel(BaseModel):
    activations: list[ActivationInfo]
    activation_aliases: dict[str, str]
    initializers: list[InitializerInfo]
    losses: list[LossInfo]
    task_losses: dict[str, list[str]] = Field(description="Losses per task; first = default.")
    optimizers: list[OptimizerInfo]
    datasets: list[DatasetInfo]
    features: list[FeatureInfo]
    limits: LimitsModel
    defaults: ConfigModel
    live_fields: list[str] = Field(
        description="Config fields a session takes without a rebuild (the rest reset it)."
    )


def catalog_json(limits: Mapping[str, int], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the page builds its controls from (computed once per server)."""
    from engine.activations import ACTIVATIONS, ALIASES
    from engine.config import LIVE_FIELDS, DatasetConfig
    from engine.datasets import DATASETS, FEATURES, features_for, make_dataset
    from engine.initializers import INITIALIZERS
    from engine.losses import LOSSES, TASK_LOSSES
    from engine.optimizers import OPTIMIZERS

    z = np.linspace(-6.0, 6.0, 121)
    activations = []
    for act in ACTIVATIONS.values():
        with np.errstate(all="ignore"):
            f = act.fn(z.copy())
            fprime = act.grad(z.copy())
        activations.append(
            {
                "name": act.name,
                "formula": act.formula,
                "derivative_formula": act.derivative_formula,
                "max_slope": finite(act.max_slope),
                "curve": {"z": array_json(z), "f": array_json(f), "fprime": array_json(fprime)},
            }
        )
    datasets = []
    for spec in DATASETS.values():
        data = make_dataset(DatasetConfig(name=spec.name, n_samples=100, seed=1))
        datasets.append(
            {
                "name": spec.name,
                "task": spec.task,
                "n_classes": spec.n_classes,
                "input_dim": spec.input_dim,
                "description": spec.description,
                "domain": [float(v) for v in spec.domain],
                "features": features_for(spec.input_dim),
                "preview": {
                    "x": array_json(np.concatenate([data.x_train, data.x_test])),
                    "y": array_json(np.concatenate([data.y_train, data.y_test])),
                },
            }
        )
    return {
        "activations": activations,
        "activation_aliases": dict(ALIASES),
        "initializers": [
            {
                "name": i.name,
                "description": i.description,
                "uses_scale": i.uses_scale,
                "default_scale": finite(i.default_scale),
            }
            for i in INITIALIZERS.values()
        ],
        "losses": [{"name": loss.name, "formula": loss.formula} for loss in LOSSES.values()],
        "task_losses": {task: list(names) for task, names in TASK_LOSSES.items()},
        "optimizers": [
            {"name": o.name, "defaults": dict(o.defaults), "formula": o.formula}
            for o in OPTIMIZERS.values()
        ],
        "datasets": datasets,
        "features": [
            {"name": f.name, "label": f.label, "inputs": list(f.inputs)} for f in FEATURES.values()
        ],
        "limits": dict(limits),
        "defaults": dict(defaults),
        "live_fields": list(LIVE_FIELDS),
    }


# ----------------------------------------------------------------------------- data


class DataModel(BaseModel):
    name: str
    task: Literal["binary", "multiclass", "regression"]
    n_classes: int
    input_dim: int
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    classes: list[float] = Field(description="Original label value of each class index.")
    train: PointsModel
    test: PointsModel


def data_json(dataset: Any) -> dict[str, Any]:
    """A session's dataset (raw coordinates, before the feature transform)."""
    return {
        "name": str(dataset.name),
        "task": str(dataset.task),
        "n_classes": int(dataset.n_classes),
        "input_dim": int(dataset.input_dim),
        "domain": [finite(v) for v in dataset.domain],
        "classes": [finite(v) for v in getattr(dataset, "classes", ())],
        "train": {"x": array_json(dataset.x_train), "y": array_json(dataset.y_train)},
        "test": {"x": array_json(dataset.x_test), "y": array_json(dataset.y_test)},
    }


# ----------------------------------------------------------------------------- trace


class HistogramModel(BaseModel):
    """30 equal bins from ``lo`` to ``hi``: edge k = lo + k·(hi − lo)/30 (k = 0..30)."""

    counts: list[int] = Field(description="30 bin counts (finite entries only).")
    lo: float | None = Field(description="Left edge (the array's min; min − 0.5 if flat).")
    hi: float | None = Field(description="Right edge (the array's max; max + 0.5 if flat).")


class SummaryModel(BaseModel):
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    l2_norm: float | None
    histogram: HistogramModel


class SampleValues(BaseModel):
    z: list[float | None] | None
    a: list[float | None] | None
    da: list[float | None] | None
    dz: list[float | None] | None


class LayerTraceModel(BaseModel):
    index: int
    activation: str
    fan_in: int
    fan_out: int
    W: Nested = Field(description="(fan_in, fan_out) weights this step's forward pass used.")
    b: list[float | None]
    dW: Nested | None = Field(  # noqa: N815 - named as in the maths
        description="(fan_in, fan_out) ∂L/∂W; null before backward."
    )
    db: list[float | None] | None
    dW_update: Nested | None = Field(  # noqa: N815
        None, description="ΔW of the most recent update; left out of stream frames."
    )
    a_mean: list[float | None] | None = Field(description="(fan_out,) mean activation.")
    dz_mean_abs: list[float | None] | None = Field(description="(fan_out,) mean |dz|.")
    sample: SampleValues = Field(description="This layer's values for the chosen sample.")
    summaries: dict[str, SummaryModel] = Field(description="Keys among W, z, a, dz, dW.")
    saturated_fraction: float | None
    dead_fraction: float | None
    update_ratio: float | None
    mean_abs_dz: float | None
    grad_norm: float | None
    mean_abs_fprime: float | None
    z: Nested | None = Field(None, description="(rows, fan_out); detail=full only.")
    a: Nested | None = Field(None, description="(rows, fan_out); detail=full only.")
    da: Nested | None = Field(None, description="(rows, fan_out); detail=full only.")
    dz: Nested | None = Field(None, description="(rows, fan_out); detail=full only.")


class FlowFactorModel(BaseModel):
    layer: int
    ratio: float | None = Field(description="‖dz_l‖ / ‖dz_{l+1}‖")
    mean_abs_fprime: float | None
    next_weight_norm: float | None


class BatchModel(BaseModel):
    indices: list[int] = Field(description="(rows,) indices into the training set.")
    x: Nested = Field(description="(rows, n_features) after the feature transform.")
    y: list[float | None] = Field(description="(rows,) class index or target.")
    targets: Nested = Field(description="(rows, K) as the loss sees them.")
    prediction: Nested | None = Field(description="(rows, K) head(logits); null before.")


class TraceModel(BaseModel):
    detail: Literal["summary", "full"]
    step: int
    stage: Stage
    layer: int | None = Field(description="Layer of the last completed stage, if any.")
    sample: int
    batch_size: int
    head: str = Field(description="Output head: linear, sigmoid or softmax.")
    loss: float | None
    regularization_loss: float | None
    input: list[float | None] = Field(description="The sample's features (n_features,).")
    target: float | None = Field(description="The sample's label or target.")
    prediction: list[float | None] | None = Field(description="(K,) head output, or null.")
    layers: list[LayerTraceModel]
    gradient_flow: list[FlowFactorModel]
    diverged: bool
    batch: BatchModel | None = Field(None, description="detail=full only.")
    rows: int | None = Field(None, description="detail=full: batch rows included.")
    truncated: bool | None = Field(None, description="detail=full: rows < batch_size.")


FRAME_DIGITS = 4  # significant digits of the arrays in stream frames


SUMMARY_STATS = ("mean", "std", "min", "max", "l2_norm")


def summary_json(summary: Any, stats: Sequence[float | None] | None = None) -> dict[str, Any]:
    """``stats`` replaces mean, std, min, max, l2_norm, lo, hi (rounded values for frames)."""
    counts, edges = summary.histogram
    if stats is None:
        stats = [*(getattr(summary, name) for name in SUMMARY_STATS), edges[0], edges[-1]]
    return {
        **{name: finite(v) for name, v in zip(SUMMARY_STATS, stats, strict=False)},
        "histogram": {"counts": int_list(counts), "lo": finite(stats[5]), "hi": finite(stats[6])},
    }


def summaries_json(summaries: Mapping[str, Any], rounded: Any = None) -> dict[str, Any]:
    """A layer's summaries; ``rounded`` (frames) holds each summary's 7 rounded numbers."""
    if rounded is None:
        return {key: summary_json(s) for key, s in summaries.items()}
    return {
        key: summary_json(s, row) for (key, s), row in zip(summaries.items(), rounded, strict=True)
    }


def round_summaries(layers: Sequence[Mapping[str, Any]]) -> list[list[list[float]]]:
    """Every layer's summary statistics rounded for frames, in one pass: per layer, per
    summary, [mean, std, min, max, l2_norm, lo (rounded down), hi (rounded up)]."""
    rows = [
        [*(getattr(s, n) for n in SUMMARY_STATS), s.histogram[1][0], s.histogram[1][-1]]
        for summaries in layers
        for s in summaries.values()
    ]
    if not rows:
        return [[] for _ in layers]
    raw = np.array(rows, dtype=np.float64)
    table = np.column_stack(
        [
            round_significant(raw[:, :5], FRAME_DIGITS) + 0.0,
            round_significant(raw[:, 5:6], FRAME_DIGITS, np.floor),  # the range only grows
            round_significant(raw[:, 6:7], FRAME_DIGITS, np.ceil),
        ]
    ).tolist()
    out = []
    start = 0
    for summaries in layers:
        out.append(table[start : start + len(summaries)])
        start += len(summaries)
    return out


def _row(a: NDArray[Any] | None, sample: int) -> Nested | None:
    return None if a is None else array_json(a[sample])


def round_many(arrays: Sequence[NDArray[Any] | None], digits: int) -> list[NDArray[Any] | None]:
    """Round each array to ``digits`` significant digits *of its largest entry* (block
    floating point): entries far smaller than the largest become short or 0, which is all a
    picture of the array can show anyway. A few NumPy calls for the whole list."""
    present = [np.asarray(a, dtype=np.float64) for a in arrays if a is not None]
    if not present:
        return list(arrays)
    sizes = np.array([a.size for a in present], dtype=np.intp)
    flat = np.concatenate([a.ravel() for a in present])
    starts = np.zeros(len(present), dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    magnitudes = np.where(np.isfinite(flat), np.abs(flat), 0.0)
    largest = np.maximum.reduceat(magnitudes, starts) if flat.size else np.zeros(0)
    with np.errstate(all="ignore"):
        top = np.floor(np.log10(largest))
    top[~np.isfinite(top)] = 0.0
    exponent = np.repeat((digits - 1 - top).astype(np.int64), sizes)
    up = np.power(10.0, np.maximum(exponent, 0))
    down = np.power(10.0, np.maximum(-exponent, 0))
    with np.errstate(all="ignore"):
        rounded = np.where(exponent >= 0, np.round(flat * up) / up, np.round(flat / down) * down)
    flat = np.where(np.isfinite(rounded), rounded + 0.0, flat)  # + 0.0 turns −0.0 into 0.0
    out: list[NDArray[Any] | None] = []
    start = 0
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        size = int(np.size(a))
        out.append(flat[start : start + size].reshape(np.shape(a)))
        start += size
    return out


def trace_json(
    trace: Any,
    diverged: bool,
    detail: Literal["summary", "full"],
    max_values: int,
    compact: bool = False,
) -> dict[str, Any]:
    """A ``StepTrace`` as trace JSON. ``detail=full`` adds the batch and every (B, n) array,
    keeping only as many batch rows as fit in ``max_values`` numbers. ``compact`` (stream
    frames) rounds arrays to 4 significant digits and leaves out ``dW_update``."""
    sample = int(trace.sample)
    names = ("W", "b", "dW", "db", "a_mean", "dz_mean_abs", "z", "a", "da", "dz")
    arrays: list[NDArray[Any] | None] = []
    with np.errstate(all="ignore"):
        for lt in trace.layers:
            arrays += [lt.W, lt.b, lt.dW, lt.db]
            arrays += [None if lt.a is None else np.mean(lt.a, axis=0)]
            arrays += [None if lt.dz is None else np.mean(np.abs(lt.dz), axis=0)]
            arrays += [None if a is None else a[sample] for a in (lt.z, lt.a, lt.da, lt.dz)]
    rounded_stats: list[Any] = [None] * len(trace.layers)
    if compact:
        arrays = round_many(arrays, FRAME_DIGITS)
        rounded_stats = round_summaries([lt.summaries for lt in trace.layers])
    converted = [array_json(a) for a in arrays]
    layers = []
    for k, lt in enumerate(trace.layers):
        values = dict(zip(names, converted[k * len(names) : (k + 1) * len(names)], strict=True))
        layer: dict[str, Any] = {
            "index": int(lt.index),
            "activation": str(lt.activation),
            "fan_in": int(lt.fan_in),
            "fan_out": int(lt.fan_out),
            **{name: values[name] for name in ("W", "b", "dW", "db")},
        }
        if not compact:
            layer["dW_update"] = array_json(lt.dW_update)
        layers.append(
            {
                **layer,
                "a_mean": values["a_mean"],
                "dz_mean_abs": values["dz_mean_abs"],
                "sample": {name: values[name] for name in ("z", "a", "da", "dz")},
                "summaries": summaries_json(lt.summaries, rounded_stats[k]),
                "saturated_fraction": finite(lt.saturated_fraction),
                "dead_fraction": finite(lt.dead_fraction),
                "update_ratio": finite(lt.update_ratio),
                "mean_abs_dz": finite(lt.mean_abs_dz),
                "grad_norm": finite(lt.grad_norm),
                "mean_abs_fprime": finite(lt.mean_abs_fprime),
            }
        )
    prediction = trace.prediction
    out: dict[str, Any] = {
        "detail": detail,
        "step": int(trace.step),
        "stage": str(trace.stage),
        "layer": _opt_int(trace.stage_layer),
        "sample": sample,
        "batch_size": int(trace.batch_x.shape[0]),
        "head": str(trace.head),
        "loss": finite(trace.loss),
        "regularization_loss": finite(trace.regularization_loss),
        "input": array_json(trace.batch_x[sample]),
        "target": finite(trace.batch_y[sample]),
        "prediction": _row(prediction, sample),
        "layers": layers,
        "gradient_flow": [
            {
                "layer": int(f.layer),
                "ratio": finite(f.ratio),
                "mean_abs_fprime": finite(f.mean_abs_fprime),
                "next_weight_norm": finite(f.next_weight_norm),
            }
            for f in trace.gradient_flow
        ],
        "diverged": diverged,
    }
    if detail == "full":
        batch = int(trace.batch_x.shape[0])
        per_row = trace.batch_x.shape[1] + 2 + 2 * trace.targets.shape[1]
        per_row += sum(4 * int(lt.fan_out) for lt in trace.layers)
        rows = max(1, min(batch, max_values // max(per_row, 1)))
        out["rows"] = rows
        out["truncated"] = rows < batch
        out["batch"] = {
            "indices": int_list(trace.batch_indices[:rows]),
            "x": array_json(trace.batch_x[:rows]),
            "y": array_json(trace.batch_y[:rows]),
            "targets": array_json(trace.targets[:rows]),
            "prediction": None if prediction is None else array_json(prediction[:rows]),
        }
        for lt, lj in zip(trace.layers, layers, strict=True):
            for name in ("z", "a", "da", "dz"):
                arr = getattr(lt, name)
                lj[name] = None if arr is None else array_json(arr[:rows])
    return out


# ----------------------------------------------------------------------------- history


class HistoryModel(BaseModel):
    since: int
    total: int = Field(description="Rows in the full history (one per completed update).")
    points: int = Field(description="Rows returned (≤ 2000, evenly downsampled, last kept).")
    step: list[int]
    train_loss: list[float | None]
    test_loss: list[float | None]
    train_accuracy: list[float | None]
    test_accuracy: list[float | None]
    grad_norm: list[list[float | None]] = Field(description="(n_layers, points), layer-major.")
    mean_abs_dz: list[list[float | None]] = Field(description="(n_layers, points)")
    update_ratio: list[list[float | None]] = Field(description="(n_layers, points)")


def history_json(hist: Any, since: int) -> dict[str, Any]:
    """A ``HistorySlice``; per-layer columns layer-major: ``grad_norm[layer][point]``."""
    return {
        "since": since,
        "total": int(hist.total),
        "points": len(hist.step),
        "step": int_list(hist.step),
        "train_loss": array_json(hist.train_loss),
        "test_loss": array_json(hist.test_loss),
        "train_accuracy": array_json(hist.train_accuracy),
        "test_accuracy": array_json(hist.test_accuracy),
        "grad_norm": array_json(np.asarray(hist.grad_norm).T),
        "mean_abs_dz": array_json(np.asarray(hist.mean_abs_dz).T),
        "update_ratio": array_json(np.asarray(hist.update_ratio).T),
    }


# ----------------------------------------------------------------------------- boundary


class EncodedGrid(BaseModel):
    """Values quantised to bytes: ``value = min + byte / 255 · (max − min)``."""

    encoding: Literal["u8-base64"]
    min: float
    max: float
    shape: list[int]
    finite: bool = Field(description="False if some cells were NaN/Inf (sent as byte 0).")
    data: str = Field(description="base64 of prod(shape) bytes, row-major (C order).")


class BoundaryModel(BaseModel):
    grid: int = Field(description="Side of the output grid.")
    hidden_grid: int = Field(description="Side of the hidden grids (= grid except in frames).")
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    task: Literal["binary", "multiclass", "regression"]
    kind: Literal["probability", "probabilities", "value"] = Field(
        description="probability: p(class 1), shape [G, G]; probabilities: per class, "
        "shape [K, G, G]; value: regression output ([G, G], or [G] for 1-D data)."
    )
    output: EncodedGrid
    hidden: list[list[EncodedGrid]] = Field(description="[hidden layer][neuron] grids.")
    inputs: list[EncodedGrid] | None = Field(
        description="Each input feature (in config order) on the hidden grid; in stream "
        "frames only on the first boundary after play and on non-play frames (they never "
        "change while playing)."
    )
    diverged: bool


def _round(x: float, digits: int | None) -> float:
    return x if digits is None else float(round_significant(np.array([x]), digits)[0])


def encode_grids(
    values: Any, lo: float | None = None, hi: float | None = None, digits: int | None = None
) -> list[dict[str, Any]]:
    """Quantise each ``values[k]`` to 8 bits over [lo, hi] (default: its own finite range)
    and base64 it. Bytes map back as ``min + byte / 255 · (max − min)``."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    flat = v.reshape(n, -1)
    ok = np.isfinite(flat)
    if lo is None or hi is None:
        any_ok = ok.any(axis=1)
        los = np.where(any_ok, np.min(np.where(ok, flat, np.inf), axis=1), 0.0)
        his = np.where(any_ok, np.max(np.where(ok, flat, -np.inf), axis=1), 0.0)
        if digits is not None:  # round the range outwards: every value stays inside it
            los = round_significant(los, digits, np.floor)
            his = round_significant(his, digits, np.ceil)
    else:
        los, his = np.full(n, float(lo)), np.full(n, float(hi))
    span = his - los
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
    q = np.rint((np.where(ok, flat, los[:, None]) - los[:, None]) * scale[:, None])
    data = np.clip(np.where(ok, q, 0.0), 0, 255).astype(np.uint8)
    shape = list(v.shape[1:])
    return [
        {
            "encoding": "u8-base64",
            "min": float(los[k]),
            "max": float(his[k]),
            "shape": shape,
            "finite": bool(ok[k].all()),
            "data": base64.b64encode(data[k].tobytes()).decode("ascii"),
        }
        for k in range(n)
    ]


def encode_grid(values: Any, lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """One array quantised as by :func:`encode_grids`."""
    return encode_grids(np.asarray(values, dtype=np.float64)[None], lo, hi)[0]


def boundary_json(
    boundary: Any,
    task: str,
    diverged: bool,
    hidden: Any = None,
    digits: int | None = None,
    inputs: Any = None,
) -> dict[str, Any]:
    """A ``BoundaryGrid``: rows run over y (row 0 = ymin), columns over x (col 0 = xmin).

    ``hidden`` (another ``BoundaryGrid``, usually coarser) supplies the hidden-neuron grids;
    by default they come from ``boundary`` itself. ``digits`` rounds the hidden ranges.
    ``inputs`` (n_features, ...) are the input features on the hidden grid, or None."""
    output = np.asarray(boundary.output, dtype=np.float64)
    if task == "multiclass":
        kind = "probabilities"
        encoded = encode_grid(np.moveaxis(output, -1, 0), 0.0, 1.0)
    elif task == "binary":
        kind = "probability"
        encoded = encode_grid(output, 0.0, 1.0)
    else:
        kind = "value"
        encoded = encode_grid(output)
    source = boundary if hidden is None else hidden
    return {
        "grid": int(boundary.grid),
        "hidden_grid": int(source.grid),
        "domain": [finite(v) for v in boundary.domain],
        "task": task,
        "kind": kind,
        "output": encoded,
        "hidden": [encode_grids(layer, digits=digits) for layer in source.hidden],
        "inputs": None if inputs is None else encode_grids(inputs, digits=digits),
        "diverged": diverged,
    }


# ----------------------------------------------------------------------------- chain, check


class ChainTerm(BaseModel):
    k: int
    w_jk: float | None
    delta_k: float | None


class ChainModel(BaseModel):
    layer: int
    i: int
    j: int
    sample: int
    batch_size: int
    w_ij: float | None
    a_i: float | None
    z_j: float | None
    fprime_z_j: float | None
    downstream: float | None = Field(description="Σ_k w_jk δ_k, or ∂L_n/∂a_j at the output.")
    delta_j: float | None = Field(description="f′(z_j) · downstream")
    grad_sample: float | None = Field(description="∂L_n/∂w_ij = δ_j · a_i")
    batch_average: float | None = Field(description="mean over the batch; equals dW_ij")
    dW_ij: float | None  # noqa: N815
    regularization_grad: float | None
    total_grad: float | None
    terms: list[ChainTerm]
    diverged: bool


def chain_json(chain: Any, diverged: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: int(getattr(chain, name)) for name in ("layer", "i", "j", "sample", "batch_size")
    }
    for name in (
        "w_ij",
        "a_i",
        "z_j",
        "fprime_z_j",
        "downstream",
        "delta_j",
        "grad_sample",
        "batch_average",
        "dW_ij",
        "regularization_grad",
        "total_grad",
    ):
        out[name] = finite(getattr(chain, name))
    out["terms"] = [
        {"k": int(k), "w_jk": finite(w), "delta_k": finite(d)} for k, w, d in chain.terms
    ]
    out["diverged"] = diverged
    return out


class LayerCheckModel(BaseModel):
    layer: int
    weight_error: float | None
    bias_error: float | None
    n_weights_checked: int
    n_biases_checked: int


class GradcheckModel(BaseModel):
    layers: list[LayerCheckModel]
    max_relative_error: float | None
    passed: bool
    eps: float
    tolerance: float
    batch_size: int
    diverged: bool


def gradcheck_json(check: Any, diverged: bool) -> dict[str, Any]:
    return {
        "layers": [
            {
                "layer": int(lc.layer),
                "weight_error": finite(lc.weight_error),
                "bias_error": finite(lc.bias_error),
                "n_weights_checked": int(lc.n_weights_checked),
                "n_biases_checked": int(lc.n_biases_checked),
            }
            for lc in check.layers
        ],
        "max_relative_error": finite(check.max_relative_error),
        "passed": bool(check.passed),
        "eps": float(check.eps),
        "tolerance": float(check.tolerance),
        "batch_size": int(check.batch_size),
        "diverged": diverged,
    }


# ----------------------------------------------------------------------------- stream


class FrameModel(BaseModel):
    """One WebSocket frame (``type: "frame"``)."""

    type: Literal["frame"]
    reason: Literal["play", "pause", "step", "patch", "frame", "reset"]
    playing: bool
    reset: bool = Field(description="True when this frame follows a rebuild (step 0).")
    state: StateModel
    history: HistoryModel = Field(description="Rows since the previous frame.")
    trace: TraceModel = Field(description="detail=summary, sample 0.")
    boundary: BoundaryModel | None = Field(description="Every N frames and on request.")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
