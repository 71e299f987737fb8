"""``GET /boundary`` and the boundary in stream frames: grids quantised to bytes."""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field, TypeAdapter

from app.schemas.data import Task
from app.schemas.rounding import round_significant
from app.schemas.wire import ResponseModel
from engine.boundary import BoundaryGrid


class EncodedGrid(ResponseModel):
    """Values quantised to bytes: ``value = min + byte / 255 · (max − min)``."""

    encoding: Literal["u8-base64"]
    min: float
    max: float
    shape: list[int]
    finite: bool = Field(description="False if some cells were NaN/Inf (sent as byte 0).")
    data: str = Field(description="base64 of prod(shape) bytes, row-major (C order).")


_GRIDS = TypeAdapter(list[EncodedGrid])


def encode_grids(
    values: ArrayLike, lo: float | None = None, hi: float | None = None, digits: int | None = None
) -> list[EncodedGrid]:
    """Quantise each ``values[k]`` to 8 bits over [lo, hi] (default: its own finite range,
    rounded outwards to ``digits`` significant digits if given) and base64 it."""
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
    all_finite = np.asarray(ok.all(axis=1)).tolist()
    # Validated as one list: a 16×64 network has a thousand hidden grids, and one call for
    # all of them costs a third less than a thousand.
    return _GRIDS.validate_python(
        [
            {
                "encoding": "u8-base64",
                "min": low,
                "max": high,
                "shape": shape,
                "finite": whole,
                "data": base64.b64encode(data[k].tobytes()).decode("ascii"),
            }
            for k, (low, high, whole) in enumerate(
                zip(los.tolist(), his.tolist(), all_finite, strict=True)
            )
        ]
    )


class BoundaryModel(ResponseModel):
    grid: int = Field(description="Side of the output grid.")
    hidden_grid: int = Field(description="Side of the hidden grids (= grid except in frames).")
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    task: Task
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

    @classmethod
    def from_engine(
        cls,
        boundary: BoundaryGrid,
        diverged: bool,
        hidden: BoundaryGrid | None = None,
        inputs: ArrayLike | None = None,
        digits: int | None = None,
    ) -> BoundaryModel:
        """Rows run over y (row 0 = ymin), columns over x (col 0 = xmin). ``hidden`` (another,
        usually coarser grid) supplies the hidden-neuron grids (default: ``boundary``'s own);
        ``inputs`` (n_features, ...) are the input features on that grid; ``digits`` rounds
        the hidden and input ranges."""
        output = np.asarray(boundary.output, dtype=np.float64)
        kind: Literal["probability", "probabilities", "value"]
        if boundary.task == "multiclass":
            kind, encoded = "probabilities", encode_grids(np.moveaxis(output, -1, 0)[None], 0, 1)
        elif boundary.task == "binary":
            kind, encoded = "probability", encode_grids(output[None], 0.0, 1.0)
        else:
            kind, encoded = "value", encode_grids(output[None])
        source = boundary if hidden is None else hidden
        return cls(
            grid=boundary.grid,
            hidden_grid=source.grid,
            domain=list(boundary.domain),
            task=boundary.task,
            kind=kind,
            output=encoded[0],
            hidden=[encode_grids(layer, digits=digits) for layer in source.hidden],
            inputs=None if inputs is None else encode_grids(inputs, digits=digits),
            diverged=diverged,
        )
