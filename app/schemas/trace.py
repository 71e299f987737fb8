"""``GET /trace`` and the trace in stream frames: one step's per-layer arrays and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from app.schemas.rounding import FRAME_DIGITS, round_many, round_stats
from app.schemas.session import Stage
from app.schemas.wire import Floats, Matrix, Real, ResponseModel, attributes, floats, ints
from engine.trace import LayerTrace, StepTrace, Summary

SUMMARY_STATS = ("mean", "std", "min", "max", "l2_norm")
SAMPLE_ARRAYS = ("z", "a", "da", "dz")


class HistogramModel(ResponseModel):
    """30 equal bins from ``lo`` to ``hi``: edge k = lo + k·(hi − lo)/30 (k = 0..30)."""

    counts: list[int] = Field(description="30 bin counts (finite entries only).")
    lo: Real = Field(description="Left edge (the array's min; min − 0.5 if flat).")
    hi: Real = Field(description="Right edge (the array's max; max + 0.5 if flat).")


class SummaryModel(ResponseModel):
    mean: Real
    std: Real
    min: Real
    max: Real
    l2_norm: Real
    histogram: HistogramModel

    @classmethod
    def from_row(cls, row: Sequence[float], counts: NDArray[np.int64]) -> SummaryModel:
        """``row``: mean, std, min, max, l2_norm, then the histogram's lo and hi."""
        mean, std, lo_value, hi_value, l2_norm, lo, hi = row
        histogram = HistogramModel(counts=ints(counts), lo=lo, hi=hi)
        return cls(
            mean=mean, std=std, min=lo_value, max=hi_value, l2_norm=l2_norm, histogram=histogram
        )


def stat_row(summary: Summary) -> list[float]:
    """A summary's numbers in :meth:`SummaryModel.from_row` order."""
    edges = summary.histogram[1]
    return [*(getattr(summary, name) for name in SUMMARY_STATS), float(edges[0]), float(edges[-1])]


class SampleValues(ResponseModel):
    z: Floats | None
    a: Floats | None
    da: Floats | None
    dz: Floats | None


class LayerTraceModel(ResponseModel):
    index: int
    activation: str
    fan_in: int
    fan_out: int
    W: Matrix | None = Field(
        description="(fan_in, fan_out) weights this step's forward pass used (null only in a "
        "stream frame whose view draws dW alone)."
    )
    b: Floats
    dW: Matrix | None = Field(  # noqa: N815 - named as in the maths
        description="(fan_in, fan_out) ∂L/∂W; null before backward."
    )
    db: Floats | None
    dW_update: Matrix | None = Field(  # noqa: N815
        None, description="ΔW of the most recent update; left out of stream frames."
    )
    a_mean: Floats | None = Field(description="(fan_out,) mean activation.")
    dz_mean_abs: Floats | None = Field(description="(fan_out,) mean |dz|.")
    sample: SampleValues = Field(description="This layer's values for the chosen sample.")
    summaries: dict[str, SummaryModel] = Field(description="Keys among W, z, a, dz, dW.")
    saturated_fraction: Real = Field(
        description="Share of (sample, unit) entries with |f′(z)| < 5% of f′'s largest value "
        "(where: the catalog's activations[].saturation_zone)."
    )
    dead_fraction: Real = Field(description="Share of units with a = 0 for every batch row.")
    dead_units_train: list[bool] | None = Field(
        description="(fan_out,) per unit: a = 0 on every training point (dead on the whole "
        "training set); null for the output layer."
    )
    update_ratio: Real
    mean_abs_dz: Real
    grad_norm: Real
    mean_abs_fprime: Real
    z: Matrix | None = Field(None, description="(rows, fan_out); detail=full only.")
    a: Matrix | None = Field(None, description="(rows, fan_out); detail=full only.")
    da: Matrix | None = Field(None, description="(rows, fan_out); detail=full only.")
    dz: Matrix | None = Field(None, description="(rows, fan_out); detail=full only.")


class FlowFactorModel(ResponseModel):
    """How the gradient changes from layer l+1 down to layer l, exactly:
    ``ratio = weight_gain · activation_gain`` (Frobenius norms over the batch)."""

    layer: int
    status: Literal["ok", "not_computed", "no_gradient"] = Field(
        description="ok; not_computed: the backward pass has not reached layer l yet; "
        "no_gradient: ‖dz_{l+1}‖ or ‖da_l‖ is exactly 0 (no gradient reaches layer l), so the "
        "ratio and gains have no value."
    )
    ratio: Real = Field(description="‖dz_l‖ / ‖dz_{l+1}‖; null unless status is ok.")
    weight_gain: Real = Field(
        description="‖da_l‖ / ‖dz_{l+1}‖, da_l = dz_{l+1}·W_{l+1}ᵀ: the gain through the next "
        "layer's weights."
    )
    activation_gain: Real = Field(
        description="‖dz_l‖ / ‖da_l‖, dz_l = da_l ⊙ f′(z_l): the gain through f′."
    )
    dz_norm: Real = Field(description="‖dz_l‖; 0 when no gradient reaches, null before.")
    mean_abs_fprime: Real = Field(
        description="Rule of thumb, not a factor of the ratio: mean |f′(z_l)|."
    )
    next_weight_norm: Real = Field(
        description="Rule of thumb, not a factor of the ratio: ‖W_{l+1}‖ (Frobenius)."
    )


class BatchModel(ResponseModel):
    indices: list[int] = Field(description="(rows,) indices into the training set.")
    x: Matrix = Field(description="(rows, n_features) after the feature transform.")
    y: Floats = Field(description="(rows,) class index or target.")
    targets: Matrix = Field(description="(rows, K) as the loss sees them.")
    prediction: Matrix | None = Field(description="(rows, K) head(logits); null before.")


class TraceModel(ResponseModel):
    detail: Literal["summary", "full"]
    step: int
    stage: Stage
    layer: int | None = Field(description="Layer of the last completed stage, if any.")
    sample: int
    batch_size: int
    head: str = Field(description="Output head: linear, sigmoid or softmax.")
    loss: Real
    regularization_loss: Real
    input: Floats = Field(description="The sample's features (n_features,).")
    target: Real = Field(description="The sample's label or target.")
    prediction: Floats | None = Field(description="(K,) head output, or null.")
    layers: list[LayerTraceModel]
    gradient_flow: list[FlowFactorModel]
    diverged: bool
    sample_losses: Floats | None = Field(
        None,
        description="(batch_size,) each batch row's data loss once the loss stage ran, else "
        "null; their mean is `loss`. Left out of stream frames.",
    )
    batch_y: Floats | None = Field(
        None, description="(batch_size,) each row's label or target. Left out of stream frames."
    )
    batch_prediction: Matrix | None = Field(
        None,
        description="(batch_size, K) head(logits) per row once the forward pass is complete, "
        "else null. Left out of stream frames.",
    )
    batch: BatchModel | None = Field(None, description="detail=full only.")
    rows: int | None = Field(None, description="detail=full: batch rows included.")
    truncated: bool | None = Field(None, description="detail=full: rows < batch_size.")

    @classmethod
    def from_engine(
        cls,
        trace: StepTrace,
        diverged: bool,
        detail: Literal["summary", "full"],
        max_values: int,
        compact: bool = False,
    ) -> TraceModel:
        """``detail=full`` adds the batch and every (B, n) array, keeping only as many batch
        rows as fit in ``max_values`` numbers. ``compact`` (stream frames) rounds arrays and
        statistics to 4 significant digits and leaves out ``dW_update``."""
        rows = _rows_that_fit(trace, max_values) if detail == "full" else 0
        layers = _layers(trace, compact, rows)
        sample = trace.sample
        prediction = trace.prediction
        extra: dict[str, Any] = {}
        if not compact:  # the loss stage's rows: too many numbers for every frame
            extra = {
                "sample_losses": floats(trace.sample_losses),
                "batch_y": floats(trace.batch_y),
                "batch_prediction": floats(prediction),
            }
        if detail == "full":
            extra |= {
                "rows": rows,
                "truncated": rows < trace.batch_x.shape[0],
                "batch": BatchModel(
                    indices=ints(trace.batch_indices[:rows]),
                    x=floats(trace.batch_x[:rows]),
                    y=floats(trace.batch_y[:rows]),
                    targets=floats(trace.targets[:rows]),
                    prediction=None if prediction is None else floats(prediction[:rows]),
                ),
            }
        return cls(
            detail=detail,
            step=trace.step,
            stage=trace.stage,
            layer=trace.stage_layer,
            sample=sample,
            batch_size=trace.batch_x.shape[0],
            head=trace.head,
            loss=trace.loss,
            regularization_loss=trace.regularization_loss,
            input=floats(trace.batch_x[sample]),
            target=float(trace.batch_y[sample]),
            prediction=None if prediction is None else floats(prediction[sample]),
            layers=layers,
            gradient_flow=[
                FlowFactorModel(**attributes(f, FlowFactorModel)) for f in trace.gradient_flow
            ],
            diverged=diverged,
            **extra,
        )


def _rows_that_fit(trace: StepTrace, max_values: int) -> int:
    """Batch rows of a full trace that fit in ``max_values`` numbers (at least one)."""
    per_row = trace.batch_x.shape[1] + 2 + 2 * trace.targets.shape[1]
    per_row += sum(4 * lt.fan_out for lt in trace.layers)
    return max(1, min(trace.batch_x.shape[0], max_values // max(per_row, 1)))


# Per layer, the numbers a trace copies as they are from the engine's LayerTrace.
_LAYER_SCALARS = (
    "index",
    "activation",
    "fan_in",
    "fan_out",
    "saturated_fraction",
    "dead_fraction",
    "update_ratio",
    "mean_abs_dz",
    "grad_norm",
    "mean_abs_fprime",
)
# Per layer, the arrays a trace carries, in this order (rounded together in frames).
_ARRAYS = ("W", "b", "dW", "db", "a_mean", "dz_mean_abs", *(f"sample_{n}" for n in SAMPLE_ARRAYS))


def _arrays(lt: LayerTrace, sample: int) -> list[NDArray[Any] | None]:
    with np.errstate(all="ignore"):
        a_mean = None if lt.a is None else np.mean(lt.a, axis=0)
        dz_mean_abs = None if lt.dz is None else np.mean(np.abs(lt.dz), axis=0)
    rows = [None if a is None else a[sample] for a in (lt.z, lt.a, lt.da, lt.dz)]
    return [lt.W, lt.b, lt.dW, lt.db, a_mean, dz_mean_abs, *rows]


def _layers(trace: StepTrace, compact: bool, rows: int) -> list[LayerTraceModel]:
    """Every layer's model; ``rows`` > 0 adds the (rows, fan_out) arrays of a full trace."""
    arrays = [a for lt in trace.layers for a in _arrays(lt, trace.sample)]
    stats = [stat_row(s) for lt in trace.layers for s in lt.summaries.values()]
    if compact:
        arrays = round_many(arrays, FRAME_DIGITS)
        stats = round_stats(stats)
    converted = [floats(a) for a in arrays]
    rounded = iter(stats)
    out = []
    for k, lt in enumerate(trace.layers):
        v = dict(zip(_ARRAYS, converted[k * len(_ARRAYS) : (k + 1) * len(_ARRAYS)], strict=True))
        summaries = {
            key: SummaryModel.from_row(next(rounded), s.histogram[0])
            for key, s in lt.summaries.items()
        }
        extra: dict[str, Any] = {} if compact else {"dW_update": floats(lt.dW_update)}
        if rows:
            extra.update({name: floats(_head(getattr(lt, name), rows)) for name in SAMPLE_ARRAYS})
        sample = SampleValues(**{n: v.pop(f"sample_{n}") for n in SAMPLE_ARRAYS})
        scalars = {name: getattr(lt, name) for name in _LAYER_SCALARS}
        dead = None if lt.dead_units_train is None else lt.dead_units_train.tolist()
        out.append(
            LayerTraceModel(
                **scalars, **v, dead_units_train=dead, sample=sample, summaries=summaries, **extra
            )
        )
    return out


def _head(a: NDArray[Any] | None, rows: int) -> NDArray[Any] | None:
    return None if a is None else a[:rows]
