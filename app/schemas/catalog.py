"""``GET /api/catalog``: everything the page builds its controls from, from the registries."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.schemas.data import PointsModel, Task
from app.schemas.recurrent_catalog import RecurrentCatalogModel
from app.schemas.requests import ConfigModel
from app.schemas.wire import Floats, Real, ResponseModel, attributes, floats
from engine.activations import (
    ACTIVATIONS,
    ALIASES,
    SATURATION_SHARE,
    Activation,
    saturation_zone,
)
from engine.config import LIVE_FIELDS, DatasetConfig
from engine.datasets import DATASETS, FEATURES, DatasetSpec, features_for, make_dataset
from engine.glossary import TERMS
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES, TASK_LOSSES
from engine.optimizers import OPTIMIZERS

CURVE_Z = np.linspace(-6.0, 6.0, 121)
PREVIEW_POINTS = 100


class CurveModel(ResponseModel):
    z: Floats
    f: Floats
    fprime: Floats


class ActivationInfo(ResponseModel):
    name: str
    formula: str
    derivative_formula: str
    max_slope: Real
    saturation_zone: str = Field(
        description="Where this activation counts as saturated (|f′(z)| below "
        "saturation_share of max_slope), in words: e.g. '|z| > 2.18', 'z ≤ 0', 'nowhere'."
    )
    curve: CurveModel = Field(description="f and f′ sampled on z ∈ [−6, 6] (121 points).")

    @classmethod
    def from_engine(cls, act: Activation) -> ActivationInfo:
        with np.errstate(all="ignore"):
            f, fprime = act.fn(CURVE_Z.copy()), act.grad(CURVE_Z.copy())
        curve = CurveModel(z=floats(CURVE_Z), f=floats(f), fprime=floats(fprime))
        return cls(**attributes(act, cls, curve=curve, saturation_zone=saturation_zone(act)))


class InitializerInfo(ResponseModel):
    name: str
    description: str
    uses_scale: bool
    default_scale: Real


class LossInfo(ResponseModel):
    name: str
    formula: str


class OptimizerInfo(ResponseModel):
    name: str
    defaults: dict[str, float]
    formula: str


class DatasetInfo(ResponseModel):
    name: str
    task: Task
    n_classes: int
    input_dim: int
    description: str
    domain: list[float] = Field(description="[xmin, xmax, ymin, ymax]")
    preview: PointsModel = Field(description="A small fixed sample for thumbnails.")
    features: list[str] = Field(description="Input features this data can feed (1-D: x1 only).")

    @classmethod
    def from_engine(cls, spec: DatasetSpec) -> DatasetInfo:
        data = make_dataset(DatasetConfig(name=spec.name, n_samples=PREVIEW_POINTS, seed=1))
        return cls(
            name=spec.name,
            task=spec.task,
            n_classes=spec.n_classes,
            input_dim=spec.input_dim,
            description=spec.description,
            domain=list(spec.domain),
            preview=PointsModel.from_engine(
                np.concatenate([data.x_train, data.x_test]),
                np.concatenate([data.y_train, data.y_test]),
            ),
            features=features_for(spec.input_dim),
        )


class FeatureInfo(ResponseModel):
    name: str
    label: str
    inputs: list[str]


class TermInfo(ResponseModel):
    """One metric the page shows: its label, formula and what it tells a learner."""

    key: str
    label: str
    formula: str
    meaning: str


class LimitsModel(ResponseModel):
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


class CatalogModel(ResponseModel):
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
    glossary: list[TermInfo] = Field(description="Every metric's definition, with its formula.")
    saturation_share: float = Field(
        description="Saturated: |f′(z)| below this share of the activation's largest slope."
    )
    recurrent: RecurrentCatalogModel = Field(
        description="Recurrent networks (model 'recurrent'): cells, sequence tasks, limits."
    )

    @classmethod
    def from_engine(
        cls, limits: LimitsModel, defaults: ConfigModel, recurrent: RecurrentCatalogModel
    ) -> CatalogModel:
        """The engine's registries, this server's limits and its default config."""
        return cls(
            activations=[ActivationInfo.from_engine(act) for act in ACTIVATIONS.values()],
            activation_aliases=dict(ALIASES),
            initializers=[
                InitializerInfo(**attributes(i, InitializerInfo)) for i in INITIALIZERS.values()
            ],
            losses=[LossInfo(**attributes(loss, LossInfo)) for loss in LOSSES.values()],
            task_losses={task: list(names) for task, names in TASK_LOSSES.items()},
            optimizers=[OptimizerInfo(**attributes(o, OptimizerInfo)) for o in OPTIMIZERS.values()],
            datasets=[DatasetInfo.from_engine(spec) for spec in DATASETS.values()],
            features=[FeatureInfo(**attributes(f, FeatureInfo)) for f in FEATURES.values()],
            limits=limits,
            defaults=defaults,
            live_fields=list(LIVE_FIELDS),
            glossary=[TermInfo(**attributes(term, TermInfo)) for term in TERMS],
            saturation_share=SATURATION_SHARE,
            recurrent=recurrent,
        )
