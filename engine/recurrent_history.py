"""A recurrent run's training history: one row per completed update.

Row ``k`` describes update number ``step[k]`` (1, 2, …):

- ``batch_loss``: the minibatch loss backprop differentiated (before the update);
- ``grad_norm``: ‖∂L/∂θ‖, the global L2 norm of the data-loss gradient over every parameter,
  before regularisation and clipping; ``clipped``: 1.0 when clipping scaled that step's
  gradient, else 0.0;
- per weight block (columns in the order W_xh, W_hh, W_hy): ``weight_grad_norm`` ‖∂L/∂W‖
  (Frobenius) and ``update_ratio`` ‖ΔW‖/‖W‖ with W the weights before the update;
- per timestep (columns t = 0 … T−1): ``dh_norm`` ‖∂L/∂h_t‖ (Frobenius over the batch and
  the hidden units; L the batch-mean loss): the timesteps × training-steps heat strip;
- the full-data evaluation ``train_loss``, ``test_loss``, ``train_accuracy``,
  ``test_accuracy`` (after the update) on the rows ``evaluated`` marks, NaN on the others
  (fast training evaluates every few steps). Accuracy is NaN for regression tasks.

Past ``max_rows`` rows the older half is thinned to every other row (as the dense history),
so memory and exports stay bounded while recent steps keep full resolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.history import MAX_ROWS, json_list

FloatArray = NDArray[np.float64]
SCALARS = ("batch_loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
EVALUATION = SCALARS[1:]
STEP_SCALARS = ("grad_norm", "clipped")
PER_BLOCK = ("weight_grad_norm", "update_ratio")
PER_TIMESTEP = ("dh_norm",)
N_BLOCKS = 3  # W_xh, W_hh, W_hy


@dataclass(frozen=True, slots=True)
class RecurrentHistorySlice:
    """A read-only (possibly downsampled) view: ``step`` (N,), scalar columns (N,),
    per-block columns (N, 3), ``dh_norm`` (N, T)."""

    step: NDArray[np.int64]
    evaluated: NDArray[np.bool_]
    batch_loss: FloatArray
    train_loss: FloatArray
    test_loss: FloatArray
    train_accuracy: FloatArray
    test_accuracy: FloatArray
    grad_norm: FloatArray
    clipped: FloatArray
    weight_grad_norm: FloatArray
    update_ratio: FloatArray
    dh_norm: FloatArray
    total: int  # rows in the full history


class RecurrentHistory:
    """Growable column store; appending a row costs a few array assignments."""

    def __init__(self, n_timesteps: int, capacity: int = 256, max_rows: int = MAX_ROWS) -> None:
        self.n_timesteps = n_timesteps
        self.max_rows = max(max_rows, 4)
        self._n = 0
        self._cols: dict[str, NDArray[Any]] = {}
        self._alloc(max(capacity, 16))

    def _widths(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        widths: dict[str, tuple[tuple[int, ...], Any]] = {
            "step": ((), np.int64),
            "evaluated": ((), np.bool_),
        }
        for name in (*SCALARS, *STEP_SCALARS):
            widths[name] = ((), np.float64)
        for name in PER_BLOCK:
            widths[name] = ((N_BLOCKS,), np.float64)
        for name in PER_TIMESTEP:
            widths[name] = ((self.n_timesteps,), np.float64)
        return widths

    def _alloc(self, cap: int) -> None:
        n, old = self._n, self._cols
        self._cap = cap
        cols: dict[str, NDArray[Any]] = {}
        for name, (trailing, dtype) in self._widths().items():
            fill = np.nan if dtype == np.float64 else 0
            cols[name] = np.full((cap, *trailing), fill, dtype=dtype)
            if name in old:
                cols[name][:n] = old[name][:n]
        self._cols = cols

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the columns (capacity, not only the rows in use)."""
        return sum(a.nbytes for a in self._cols.values())

    def append(
        self,
        step: int,
        batch_loss: float,
        evaluation: tuple[float, float, float, float] | None,
        grad_norm: float,
        clipped: bool,
        weight_grad_norm: FloatArray,
        update_ratio: FloatArray,
        dh_norm: FloatArray,
    ) -> None:
        """Add one row. ``evaluation`` in the order of ``EVALUATION``, or None when this step
        was not evaluated; ``weight_grad_norm``/``update_ratio`` (3,); ``dh_norm`` (T,)."""
        if self._n >= self.max_rows:
            self._thin()
        if self._n == self._cap:
            self._alloc(2 * self._cap)
        n, c = self._n, self._cols
        c["step"][n] = step
        c["batch_loss"][n] = batch_loss
        c["evaluated"][n] = evaluation is not None
        for name, value in zip(EVALUATION, evaluation or (np.nan,) * 4, strict=True):
            c[name][n] = value
        c["grad_norm"][n] = grad_norm
        c["clipped"][n] = float(clipped)
        c["weight_grad_norm"][n] = weight_grad_norm
        c["update_ratio"][n] = update_ratio
        c["dh_norm"][n] = dh_norm
        self._n = n + 1

    def evaluate_last(self, evaluation: tuple[float, float, float, float]) -> None:
        """Fill in the full-data evaluation of the last row (taken after it was appended)."""
        n = self._n - 1
        for name, value in zip(EVALUATION, evaluation, strict=True):
            self._cols[name][n] = value
        self._cols["evaluated"][n] = True

    @property
    def last_evaluated(self) -> bool:
        return bool(self._n == 0 or self._cols["evaluated"][self._n - 1])

    def _thin(self) -> None:
        """Keep every other row of the older half (its first row included), all of the rest."""
        n, half = self._n, self._n // 2
        keep = np.concatenate([np.arange(0, half, 2), np.arange(half, n)])
        for col in self._cols.values():
            col[: keep.size] = col[keep]
        self._n = keep.size

    def without_rows(self) -> RecurrentHistory:
        """An empty history of the same timesteps and thinning threshold (for an export
        whose rows are stored apart, so that saving a session costs nothing per row)."""
        return RecurrentHistory(self.n_timesteps, 16, self.max_rows)

    def copy(self) -> RecurrentHistory:
        """An independent copy (same rows, same thinning threshold)."""
        other = RecurrentHistory(self.n_timesteps, max(self._n, 16), self.max_rows)
        for name, col in self._cols.items():
            other._cols[name][: self._n] = col[: self._n]
        other._n = self._n
        return other

    def column(self, name: str) -> NDArray[Any]:
        """A copy of one column (see the module docstring for the names and shapes)."""
        if name not in self._cols:
            raise KeyError(f"no column {name!r}; valid: {', '.join(self._cols)}")
        return self._cols[name][: self._n].copy()

    def since(self, k: int = 0, max_points: int = 2000) -> RecurrentHistorySlice:
        """Rows with ``step > k``, downsampled evenly to at most ``max_points`` rows (the last
        one always kept)."""
        steps = self._cols["step"][: self._n]
        first = int(np.searchsorted(steps, k, side="right"))
        idx = np.arange(first, self._n)
        if max_points >= 1 and idx.size > max_points:
            pick = np.unique(np.round(np.linspace(0, idx.size - 1, max_points)).astype(np.intp))
            idx = idx[pick]
        c = {name: col[idx].copy() for name, col in self._cols.items()}
        return RecurrentHistorySlice(
            c["step"],
            c["evaluated"],
            c["batch_loss"],
            c["train_loss"],
            c["test_loss"],
            c["train_accuracy"],
            c["test_accuracy"],
            c["grad_norm"],
            c["clipped"],
            c["weight_grad_norm"],
            c["update_ratio"],
            c["dh_norm"],
            self._n,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able columns (exact floats; NaN/Inf become None)."""
        n = self._n
        out: dict[str, Any] = {"n_timesteps": self.n_timesteps}
        for name, col in self._cols.items():
            out[name] = json_list(col[:n])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecurrentHistory:
        """Inverse of :meth:`to_dict` for data already checked (``engine.export`` checks it)."""
        T = int(data["n_timesteps"])
        steps = np.asarray(data["step"], dtype=np.int64)
        h = cls(T, capacity=max(256, 2 * steps.size))
        n = steps.size
        for name, (_, dtype) in h._widths().items():
            if n:
                h._cols[name][:n] = np.asarray(data[name], dtype=dtype)
        h._n = n
        while h._n > h.max_rows:
            h._thin()
        return h

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """Every column name, in the order of :meth:`to_dict`."""
        return ("step", "evaluated", *SCALARS, *STEP_SCALARS, *PER_BLOCK, *PER_TIMESTEP)
