"""``GET /history`` and the history in stream frames: per-step metrics, downsampled."""

from __future__ import annotations

from pydantic import Field

from app.schemas.wire import Floats, Matrix, ResponseModel, floats, ints
from engine.history import HistorySlice


class HistoryModel(ResponseModel):
    since: int
    total: int = Field(description="Rows in the full history (one per completed update).")
    points: int = Field(description="Rows returned (≤ 2000, evenly downsampled, last kept).")
    step: list[int]
    batch_loss: Floats = Field(description="Minibatch loss of each step (before its update).")
    evaluated: list[bool] = Field(
        description="Whether the full-data evaluation ran after this step; the train/test "
        "columns are null where it did not (fast training evaluates every few steps)."
    )
    train_loss: Floats
    test_loss: Floats
    train_accuracy: Floats = Field(description="null for regression.")
    test_accuracy: Floats
    grad_norm: Matrix = Field(description="(n_layers, points), layer-major.")
    mean_abs_dz: Matrix = Field(description="(n_layers, points)")
    update_ratio: Matrix = Field(description="(n_layers, points)")

    @classmethod
    def from_engine(cls, hist: HistorySlice, since: int) -> HistoryModel:
        """Per-layer columns go layer-major: ``grad_norm[layer][point]``."""
        return cls(
            since=since,
            total=hist.total,
            points=len(hist.step),
            step=ints(hist.step),
            batch_loss=floats(hist.batch_loss),
            evaluated=[bool(v) for v in hist.evaluated],
            train_loss=floats(hist.train_loss),
            test_loss=floats(hist.test_loss),
            train_accuracy=floats(hist.train_accuracy),
            test_accuracy=floats(hist.test_accuracy),
            grad_norm=floats(hist.grad_norm.T),
            mean_abs_dz=floats(hist.mean_abs_dz.T),
            update_ratio=floats(hist.update_ratio.T),
        )
