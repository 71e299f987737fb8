"""Compact per-step training history: one row per completed update.

Row ``k`` describes update number ``step[k]`` (1, 2, …). Every row has the minibatch loss of
that step (``batch_loss``, the loss backprop differentiated, before the update) and the
per-layer columns describing the update itself: ‖dW‖ (data-loss gradient), mean |dz| over
the minibatch (dz = ∂L/∂z of the batch-mean loss, so it carries the 1/B), and the update
ratio ‖ΔW‖/‖W‖ with W the weights before the update.

The full-data evaluation — train/test loss and accuracy on the whole train and test sets
with the parameters *after* the update — costs more than a small step itself, so fast
training runs it every few steps and at the end of every call; ``evaluated`` marks the rows
that have it (the others hold NaN there). Accuracy is NaN for regression. Values may be
NaN/Inf after divergence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
SCALARS = ("batch_loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
EVALUATION = SCALARS[1:]  # the columns of the full-data evaluation
PER_LAYER = ("grad_norm", "mean_abs_dz", "update_ratio")
# A session may train for hours: past this many rows the older half is thinned to every other
# row, so memory and exports stay bounded while recent steps keep full resolution.
MAX_ROWS = 10_000


def json_list(arr: NDArray[Any]) -> list[Any]:
    """``arr.tolist()`` with NaN/±Inf as None, so that strict JSON can hold it. Finite floats
    stay exact (JSON writers use the shortest repr that round-trips); reading back with
    ``np.asarray(value, dtype=np.float64)`` turns None into NaN."""
    if arr.dtype.kind != "f" or bool(np.isfinite(arr).all()):
        out: list[Any] = arr.tolist()
        return out
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    out = obj.tolist()
    return out


@dataclass(frozen=True, slots=True)
class HistorySlice:
    """A read-only (possibly downsampled) view of the history.

    ``step`` (N,) int; scalar columns (N,); per-layer columns (N, L).
    """

    step: NDArray[np.int64]
    evaluated: NDArray[np.bool_]
    batch_loss: FloatArray
    train_loss: FloatArray
    test_loss: FloatArray
    train_accuracy: FloatArray
    test_accuracy: FloatArray
    grad_norm: FloatArray
    mean_abs_dz: FloatArray
    update_ratio: FloatArray
    total: int  # number of rows in the full history


class History:
    """Growable column store; appending a row costs a few array assignments."""

    def __init__(self, n_layers: int, capacity: int = 1024, max_rows: int = MAX_ROWS) -> None:
        self.n_layers = n_layers
        self.max_rows = max(max_rows, 4)
        self._n = 0
        self._alloc(max(capacity, 16))

    def _alloc(self, cap: int) -> None:
        old = None if not hasattr(self, "_step") else self._columns()
        self._cap = cap
        self._step = np.zeros(cap, dtype=np.int64)
        self._evaluated = np.zeros(cap, dtype=np.bool_)
        self._scalars = np.full((len(SCALARS), cap), np.nan)
        self._layers = np.full((len(PER_LAYER), cap, self.n_layers), np.nan)
        if old is not None:
            n = self._n
            self._step[:n] = old[0]
            self._evaluated[:n] = old[1]
            self._scalars[:, :n] = old[2]
            self._layers[:, :n] = old[3]

    def _columns(self) -> tuple[NDArray[np.int64], NDArray[np.bool_], FloatArray, FloatArray]:
        n = self._n
        return self._step[:n], self._evaluated[:n], self._scalars[:, :n], self._layers[:, :n]

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the columns (capacity, not only the rows in use)."""
        arrays = (self._step, self._evaluated, self._scalars, self._layers)
        return sum(a.nbytes for a in arrays)

    def append(
        self,
        step: int,
        batch_loss: float,
        evaluation: tuple[float, float, float, float] | None,
        grad_norm: FloatArray,
        mean_abs_dz: FloatArray,
        update_ratio: FloatArray,
    ) -> None:
        """Add one row. ``evaluation`` in the order of ``EVALUATION``, or None when this step
        was not evaluated; per-layer arrays (L,)."""
        if self._n >= self.max_rows:
            self._thin()
        if self._n == self._cap:
            self._alloc(2 * self._cap)
        n = self._n
        self._step[n] = step
        self._scalars[0, n] = batch_loss
        if evaluation is not None:
            self._scalars[1:, n] = evaluation
            self._evaluated[n] = True
        else:
            self._scalars[1:, n] = np.nan
            self._evaluated[n] = False
        self._layers[0, n] = grad_norm
        self._layers[1, n] = mean_abs_dz
        self._layers[2, n] = update_ratio
        self._n = n + 1

    def evaluate_last(self, evaluation: tuple[float, float, float, float]) -> None:
        """Fill in the full-data evaluation of the last row (taken after it was appended)."""
        n = self._n - 1
        self._scalars[1:, n] = evaluation
        self._evaluated[n] = True

    @property
    def last_evaluated(self) -> bool:
        return bool(self._n == 0 or self._evaluated[self._n - 1])

    def _thin(self) -> None:
        """Keep every other row of the older half (its first row included), all of the rest."""
        n, half = self._n, self._n // 2
        keep = np.concatenate([np.arange(0, half, 2), np.arange(half, n)])
        m = keep.size
        self._step[:m] = self._step[keep]
        self._evaluated[:m] = self._evaluated[keep]
        self._scalars[:, :m] = self._scalars[:, keep]
        self._layers[:, :m] = self._layers[:, keep]
        self._n = m

    def without_rows(self) -> History:
        """An empty history of the same layers and thinning threshold (for an export whose
        rows are stored apart, so that saving a session costs nothing per row)."""
        return History(self.n_layers, capacity=16, max_rows=self.max_rows)

    def copy(self) -> History:
        """An independent copy (same rows, same thinning threshold)."""
        other = History(self.n_layers, capacity=max(self._n, 16), max_rows=self.max_rows)
        step, evaluated, scalars, layers = self._columns()
        n = self._n
        other._step[:n], other._evaluated[:n] = step, evaluated
        other._scalars[:, :n], other._layers[:, :n] = scalars, layers
        other._n = n
        return other

    def column(self, name: str) -> NDArray[Any]:
        """A copy of one column: "step", "evaluated", a scalar name (N,) or a per-layer name
        (N, L)."""
        n = self._n
        if name == "step":
            return self._step[:n].copy()
        if name == "evaluated":
            return self._evaluated[:n].copy()
        if name in SCALARS:
            return self._scalars[SCALARS.index(name), :n].copy()
        return self._layers[PER_LAYER.index(name), :n].copy()

    def since(self, k: int = 0, max_points: int = 2000) -> HistorySlice:
        """Rows with ``step > k``, downsampled evenly to at most ``max_points`` rows.

        Downsampling picks evenly spaced rows and always keeps the last one.
        """
        steps = self._step[: self._n]
        first = int(np.searchsorted(steps, k, side="right"))
        idx = np.arange(first, self._n)
        if max_points >= 1 and idx.size > max_points:
            pick = np.unique(np.round(np.linspace(0, idx.size - 1, max_points)).astype(np.intp))
            idx = idx[pick]
        s = self._scalars[:, idx]
        lay = self._layers[:, idx]
        return HistorySlice(
            self._step[idx].copy(),
            self._evaluated[idx].copy(),
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            lay[0],
            lay[1],
            lay[2],
            self._n,
        )

    def row_bytes(self, row: int) -> bytes:
        """The raw bytes of every column's value in row ``row`` (``0 <= row < len(self)``):
        to tell cheaply whether a row has changed (a session store asks on every save)."""
        if not 0 <= row < self._n:
            raise IndexError(f"history row {row} of {self._n}")
        return b"".join(
            (
                self._step[row].tobytes(),
                self._evaluated[row].tobytes(),
                self._scalars[:, row].tobytes(),
                self._layers[:, row].tobytes(),
            )
        )

    def to_dict(
        self,
        floats: Callable[[FloatArray], Any] = json_list,
        ints: Callable[[NDArray[Any]], Any] = lambda a: a.tolist(),
    ) -> dict[str, Any]:
        """Plain JSON-able columns (exact floats via repr; NaN/Inf become None). ``floats``
        and ``ints`` convert the float and the step/flag columns (the binary export keeps
        them NumPy arrays)."""
        step, evaluated, sc, lay = self._columns()
        out: dict[str, Any] = {
            "n_layers": self.n_layers,
            "step": ints(step),
            "evaluated": ints(evaluated),
        }
        for i, name in enumerate(SCALARS):
            out[name] = floats(sc[i])
        for i, name in enumerate(PER_LAYER):
            out[name] = floats(lay[i])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        n_layers = int(data["n_layers"])
        steps = np.asarray(data["step"], dtype=np.int64)
        h = cls(n_layers, capacity=max(1024, 2 * steps.size))
        n = steps.size
        h._step[:n] = steps
        # Exports written before decoupled evaluation have neither column: every row of
        # theirs was evaluated, and their minibatch losses were not recorded.
        h._evaluated[:n] = np.asarray(data.get("evaluated", [True] * n), dtype=np.bool_)
        for i, name in enumerate(SCALARS):
            h._scalars[i, :n] = np.asarray(data.get(name, [None] * n), dtype=np.float64)
        for i, name in enumerate(PER_LAYER):
            h._layers[i, :n] = np.asarray(data[name], dtype=np.float64).reshape(n, n_layers)
        h._n = n
        while h._n > h.max_rows:
            h._thin()
        return h
