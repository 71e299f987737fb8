"""Per-layer trace of one training step: arrays plus summary statistics.

Summaries (:class:`Summary`) give mean, std (population, ddof = 0), min, max, L2 norm
(Frobenius for matrices) and a 30-bin histogram over **[min, max] of the array itself**
(a degenerate range min == max is widened to [min − 0.5, max + 0.5]; the last bin is closed
on the right, as in ``np.histogram``). Non-finite entries are left out of the histogram; when
an array holds any, its mean/std/min/max/l2_norm are NaN or ±Inf as NumPy computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from engine.diagnostics import FlowFactor, dead_fraction, gradient_flow, saturated_fraction
from engine.losses import apply_head, per_sample_loss
from engine.network import Network, param_views
from engine.stages import Stage, StepRecord

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
HIST_BINS = 30


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics of one array; ``histogram = (counts (30,), edges (31,))`` over [min, max]."""

    mean: float
    std: float
    min: float
    max: float
    l2_norm: float
    histogram: tuple[IntArray, FloatArray]


@dataclass(frozen=True, slots=True)
class LayerTrace:
    """One weight layer ``l`` in the current step. Arrays are None until their stage has run.

    ``W``/``b`` are the parameters this step's forward pass used (before its update);
    ``dW_update`` is ΔW of the most recent update (this step's once its update has run).
    ``dW``/``db`` are gradients of the data loss only (regularisation is added at the update).
    Shapes: W (n_in, n_out), b (n_out,), z/a/da/dz (B, n_out), dW/dW_update (n_in, n_out).
    """

    index: int
    activation: str
    fan_in: int
    fan_out: int
    W: FloatArray
    b: FloatArray
    z: FloatArray | None
    a: FloatArray | None
    da: FloatArray | None
    dz: FloatArray | None
    dW: FloatArray | None  # noqa: N815 - the maths' name
    db: FloatArray | None
    dW_update: FloatArray | None  # noqa: N815
    summaries: dict[str, Summary]  # keys among "W", "z", "a", "dz", "dW" (present arrays only)
    saturated_fraction: float | None  # share of (sample, unit) entries with |f′(z)| < 5% max
    dead_fraction: float | None  # share of units whose output is 0 for every batch sample
    dead_units_train: NDArray[np.bool_] | None  # (n_out,) output 0 on every training row
    update_ratio: float | None  # ‖ΔW‖ / ‖W before that update‖ of the most recent update
    mean_abs_dz: float | None
    grad_norm: float | None  # ‖dW‖ (Frobenius)
    mean_abs_fprime: float | None  # mean |f′(z)| over the batch and the units


@dataclass(frozen=True, slots=True)
class StepTrace:
    """Everything about the current step (or the last completed one).

    ``batch_x`` (B, n_features) after the feature transform; ``batch_y`` (B,) raw targets
    (class index or value); ``targets`` (B, K) as the loss sees them; ``prediction`` (B, K)
    = head(logits) once the forward pass is complete. ``loss`` is the batch data loss.
    """

    step: int
    stage: Literal["idle", "forward", "loss", "backward", "update"]
    stage_layer: int | None
    sample: int
    batch_indices: NDArray[np.intp]
    batch_x: FloatArray
    batch_y: FloatArray
    targets: FloatArray
    prediction: FloatArray | None
    loss: float | None
    regularization_loss: float
    head: str
    layers: list[LayerTrace]
    sample_losses: FloatArray | None  # (B,) per-sample data loss once the loss stage ran
    gradient_flow: list[FlowFactor] = field(default_factory=list)


_FMAX = float(np.finfo(np.float64).max)


def _edges(lo: float, hi: float) -> FloatArray:
    if not (lo < hi):
        # A constant array: ±0.5 around it, or relatively wider where 0.5 is below its ulp.
        pad = max(0.5, abs(lo) * 1e-9)
        lo, hi = max(lo - pad, -_FMAX), min(hi + pad, _FMAX)
    if np.isfinite(hi - lo):
        return np.linspace(lo, hi, HIST_BINS + 1)
    # A diverging run can reach values whose range overflows float64 (hi − lo = inf) while
    # both ends are finite: interpolate so that no intermediate overflows.
    t = np.arange(HIST_BINS + 1) / HIST_BINS
    edges = lo * (1.0 - t) + hi * t
    return np.asarray(edges, dtype=np.float64)


def summarize(x: FloatArray) -> Summary:
    """Summary of one array (see the module docstring for the histogram range)."""
    return summarize_many([x])[0]


# Arrays this large are summarised one by one (they stay in cache through the ~10 passes);
# smaller ones together, in groups of up to _GROUP elements (fewer NumPy calls per array).
_LARGE = 2048
_GROUP = 32768
_BIN_INDEX = np.arange(HIST_BINS + 1)


def summarize_many(arrays: list[FloatArray]) -> list[Summary]:
    """Summaries of many arrays, with a small fixed number of NumPy calls per group of small
    arrays (segment reductions with ``reduceat``, one ``bincount`` for all histograms)."""
    out: list[Summary | None] = [None] * len(arrays)
    with np.errstate(all="ignore"):
        group: list[int] = []
        size = 0
        for i, a in enumerate(arrays):
            if a.size >= _LARGE:
                out[i] = _summarize_large(np.ravel(a))
                continue
            if group and size + a.size > _GROUP:
                for k, s in zip(group, _summarize_many([arrays[k] for k in group]), strict=True):
                    out[k] = s
                group, size = [], 0
            group.append(i)
            size += a.size
        if group:
            for k, s in zip(group, _summarize_many([arrays[k] for k in group]), strict=True):
                out[k] = s
    return [s for s in out if s is not None]


def _summarize_large(x: FloatArray) -> Summary:
    n = x.size
    total, sq = float(np.add.reduce(x)), float(np.dot(x, x))
    mn, mx = float(np.minimum.reduce(x)), float(np.maximum.reduce(x))
    lo, hi = (mn, mx) if mn < mx else (mn - 0.5, mx + 0.5)
    if not (hi > lo and np.isfinite(hi - lo) and np.isfinite(HIST_BINS / (hi - lo))):
        return _summarize_many([x])[0]
    pos = np.subtract(x, lo)  # ≥ 0 exactly
    pos *= HIST_BINS / (hi - lo)
    idx = pos.astype(np.intp)
    np.minimum(idx, HIST_BINS - 1, out=idx)
    # as np.linspace(lo, hi, 31) computes them
    edges = np.asarray(_BIN_INDEX * ((hi - lo) / HIST_BINS) + lo, dtype=np.float64)
    edges[-1] = hi
    counts: IntArray = np.bincount(idx, minlength=HIST_BINS).astype(np.int64, copy=False)
    mean = total / n
    var = sq / n - mean * mean
    if not var > 1e-8 * mean * mean:  # one-pass variance lost its digits: recompute
        var = float(np.var(x))
    return Summary(
        mean,
        math.sqrt(max(var, 0.0)),
        mn,
        mx,
        math.sqrt(sq),
        (counts, edges),
    )


def _summarize_many(arrays: list[FloatArray]) -> list[Summary]:
    """All arrays at once: concatenated, segment reductions, one bincount."""
    flats = [np.ravel(a) for a in arrays]
    k = len(flats)
    sizes = np.array([f.size for f in flats], dtype=np.intp)
    starts = np.zeros(k, dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    allv = np.concatenate(flats)
    sums = np.add.reduceat(allv, starts)
    sq = allv * allv
    sqs = np.add.reduceat(sq, starts)
    mins = np.minimum.reduceat(allv, starts)
    maxs = np.maximum.reduceat(allv, starts)
    means = sums / sizes
    var = np.maximum(sqs / sizes - means * means, 0.0)
    # The one-pass variance loses digits when |mean| >> std: redo those exactly (rare, cheap).
    for idx in np.flatnonzero(~(var > 1e-8 * means * means) & np.isfinite(means)):
        var[idx] = np.var(flats[idx])
    stds = np.sqrt(var)
    norms = np.sqrt(sqs)
    lo, hi = mins.copy(), maxs.copy()
    flat_range = ~(lo < hi)
    lo[flat_range] -= 0.5
    hi[flat_range] += 0.5
    # Binning by arithmetic needs hi > lo with a finite range and scale; diverging runs break
    # that (non-finite values, ±1e308 ends whose range overflows, constants too large for the
    # ±0.5 padding): those arrays take the per-array path below.
    finite = (hi > lo) & np.isfinite(hi - lo) & np.isfinite(HIST_BINS / (hi - lo))
    # As np.linspace(lo, hi, 31) computes them, row by row.
    edges = np.arange(HIST_BINS + 1) * ((hi - lo) / HIST_BINS)[:, None] + lo[:, None]
    edges[:, -1] = hi
    counts = np.zeros((k, HIST_BINS), dtype=np.int64)
    if finite.all():
        # x − min ≥ 0 exactly in floating point, so every bin index lands in 0..30 and the
        # clamp puts the maximum into the last (closed) bin; then offset by 30 per array.
        pos = allv - np.repeat(lo, sizes)
        pos *= np.repeat(HIST_BINS / (hi - lo), sizes)
        idx = pos.astype(np.intp)
        np.minimum(idx, HIST_BINS - 1, out=idx)
        idx += np.repeat(HIST_BINS * np.arange(k), sizes)
        counts = np.bincount(idx, minlength=k * HIST_BINS).reshape(k, HIST_BINS)
    else:  # divergence: per array, histogram of the finite entries only
        for i in range(k):
            fin = flats[i][np.isfinite(flats[i])]
            e = _edges(float(fin.min()), float(fin.max())) if fin.size else _edges(0.0, 0.0)
            edges[i] = e
            counts[i] = np.histogram(fin, bins=e)[0]
    return [
        Summary(
            float(means[i]),
            float(stds[i]),
            float(mins[i]),
            float(maxs[i]),
            float(norms[i]),
            (counts[i], edges[i]),
        )
        for i in range(k)
    ]


# --- building a trace from a step record ----------------------------------------------------


def build_trace(
    net: Network,
    rec: StepRecord,
    stage: Stage,
    step: int,
    sample: int,
    last_delta: FloatArray | None,
    last_update_ratio: FloatArray | None,
    regularization_loss: float,
    dead_train: Sequence[NDArray[np.bool_]] = (),
) -> StepTrace:
    """The trace of the step in ``rec`` whose last completed stage is ``stage``.

    Parameters are those the step's forward pass used (before its update, once that ran);
    ``last_delta`` is the most recent update's Δθ (this step's, once its update ran). Arrays
    are copies: the trace stays valid while training goes on.
    """
    done_update = stage.kind == "update"
    B = rec.x.shape[0]
    sample = min(max(int(sample), 0), B - 1)
    # One copy of each flat buffer; per-layer arrays are views into the copies.
    theta = (net.theta_prev if done_update else net.theta).copy()
    ws, bs = param_views(theta, net.sizes)
    gws, gbs = param_views(net.grad.copy(), net.sizes)
    delta = rec.delta if done_update else last_delta
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
        c, g, act, fp = rec.caches[layer], rec.grads[layer], net.activations[layer], fprimes[layer]
        ur = last_update_ratio
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
                dead_units_train=dead_train[layer] if layer < len(dead_train) else None,
                update_ratio=None if ur is None else float(ur[layer]),
                mean_abs_dz=None if g is None else float(np.mean(np.abs(g.dz))),
                grad_norm=None if g is None else summaries[layer]["dW"].l2_norm,
                mean_abs_fprime=None if fp is None else float(np.mean(np.abs(fp))),
            )
        )
    dzs = [None if g is None else g.dz for g in rec.grads]
    flow = gradient_flow(dzs, rec.da, fprimes, ws)
    logits = rec.logits()
    return StepTrace(
        step=step,
        stage=stage.kind,
        stage_layer=stage.layer,
        sample=sample,
        batch_indices=rec.indices.copy(),
        batch_x=rec.x,
        batch_y=rec.y,
        targets=rec.targets,
        prediction=None if logits is None else apply_head(logits, net.head.head),
        loss=rec.loss,
        regularization_loss=regularization_loss,
        head=net.head.head,
        layers=layers,
        sample_losses=None
        if rec.loss is None or logits is None
        else per_sample_loss(net.head.loss, logits, rec.targets, net.head.head),
        gradient_flow=flow,
    )
