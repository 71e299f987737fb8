"""Rounding for stream frames: fewer digits, shorter JSON, the same picture.

A frame's arrays only feed pictures (heatmaps, bars, histograms), so they travel with 4
significant digits instead of 17; HTTP answers keep every digit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FRAME_DIGITS = 4  # significant digits of the arrays in stream frames
Rounder = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def round_significant(
    arr: NDArray[np.float64], digits: int, how: Rounder = np.round
) -> NDArray[np.float64]:
    """Round to ``digits`` significant digits; ``how`` may be ``np.floor`` or ``np.ceil`` to
    round down or up instead of to the nearest."""
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


def round_stats(rows: list[list[float]], digits: int = FRAME_DIGITS) -> list[list[float]]:
    """Summary rows ``[mean, std, min, max, l2_norm, lo, hi]`` rounded for frames, in one
    pass: the histogram range is rounded outwards (lo down, hi up), so it only grows."""
    if not rows:
        return []
    raw = np.array(rows, dtype=np.float64)
    table: list[list[float]] = np.column_stack(
        [
            round_significant(raw[:, :5], digits) + 0.0,
            round_significant(raw[:, 5:6], digits, np.floor),
            round_significant(raw[:, 6:7], digits, np.ceil),
        ]
    ).tolist()
    return table
