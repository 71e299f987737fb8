"""``GET /data``: a session's points, and the points model the catalog's previews share."""

from __future__ import annotations

from typing import Literal

from numpy.typing import ArrayLike
from pydantic import Field

from app.schemas.wire import Floats, Matrix, ResponseModel, floats
from engine.datasets import Dataset, features_for

Task = Literal["binary", "multiclass", "regression"]


class PointsModel(ResponseModel):
    x: Matrix = Field(description="(n, input_dim) raw coordinates.")
    y: Floats = Field(description="(n,) class index (0..K−1) or regression target.")

    @classmethod
    def from_engine(cls, x: ArrayLike, y: ArrayLike) -> PointsModel:
        return cls(x=floats(x), y=floats(y))


class DataModel(ResponseModel):
    name: str
    task: Task
    n_classes: int
    input_dim: int
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    classes: list[float] = Field(description="Original label value of each class index.")
    train: PointsModel
    test: PointsModel
    features: list[str] = Field(
        description="Input features this data can feed (1-D data: those of x1 only)."
    )

    @classmethod
    def from_engine(cls, dataset: Dataset) -> DataModel:
        """Raw coordinates, before the feature transform."""
        return cls(
            name=dataset.name,
            task=dataset.task,
            n_classes=dataset.n_classes,
            input_dim=dataset.input_dim,
            domain=list(dataset.domain),
            classes=list(dataset.classes),
            train=PointsModel.from_engine(dataset.x_train, dataset.y_train),
            test=PointsModel.from_engine(dataset.x_test, dataset.y_test),
            features=features_for(dataset.input_dim),
        )
