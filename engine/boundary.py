"""The network over a grid of the input plane: the decision boundary and every neuron's map.

One function lays out the grid points (:func:`grid_points`) and every grid the page draws —
the output, the hidden neurons and the input features — is evaluated on exactly those points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.datasets import Dataset, transform
from engine.losses import OutputHead, apply_head
from engine.network import Network

FloatArray = NDArray[np.float64]


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


@dataclass(frozen=True, slots=True)
class GridPoints:
    """Raw input points of a grid, row-major over (y, x): ``raw`` (G·G, 2) or (G, 1) for 1-D
    data; ``shape`` is how one value per point folds back into a grid."""

    x: FloatArray
    y: FloatArray
    raw: FloatArray
    shape: tuple[int, ...]


def grid_points(dataset: Dataset, grid: int) -> GridPoints:
    """The G×G points over the dataset's domain (G points over x for 1-D data)."""
    xmin, xmax, ymin, ymax = dataset.domain
    xs, ys = np.linspace(xmin, xmax, grid), np.linspace(ymin, ymax, grid)
    if dataset.input_dim == 1:
        return GridPoints(xs, ys, xs.reshape(-1, 1), (grid,))
    gx, gy = np.meshgrid(xs, ys)
    return GridPoints(xs, ys, np.column_stack([gx.ravel(), gy.ravel()]), (grid, grid))


def feature_grids(dataset: Dataset, features: Sequence[str], grid: int) -> FloatArray:
    """Each input feature over the grid: (n_features, G, G), or (n_features, G) for 1-D data."""
    points = grid_points(dataset, grid)
    values = transform(points.raw, features)
    return np.ascontiguousarray(values.T).reshape(len(features), *points.shape)


def evaluate_boundary(
    net: Network, dataset: Dataset, features: Sequence[str], head: OutputHead, grid: int
) -> BoundaryGrid:
    """The output and every hidden unit on a G×G grid over the data domain."""
    points = grid_points(dataset, grid)
    with np.errstate(all="ignore"):
        outs = net.forward_layers(transform(points.raw, features))
        probs = apply_head(outs[-1], head.head)
    shape = points.shape
    if dataset.task == "multiclass":
        output = probs.reshape(*shape, -1)
    else:  # one probability (of class 1) or one value per point
        output = probs[:, -1].reshape(shape)
    # One unit's values over the grid as one contiguous block: a heatmap per unit.
    hidden = [np.ascontiguousarray(a.T).reshape(a.shape[1], *shape) for a in outs[:-1]]
    return BoundaryGrid(grid, dataset.domain, points.x, points.y, output, hidden, dataset.task)
