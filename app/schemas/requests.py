"""What clients send: strict request models, integer ranges, and the network config.

Requests are strict: a boolean is not a number (``"seed": false`` and ``"steps": true`` are
refused), a string is not a number, NaN and Infinity are refused, and an unknown key is
refused with the list of valid ones. The engine checks every config value against the
server's limits (``ConfigError`` names the field); the models here check the JSON shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from engine.activations import ACTIVATIONS, ALIASES
from engine.config import CSV_DATASET, POSITIVE, SEED_MAX, UNIT, Interval, NetworkConfig
from engine.datasets import DATASETS, FEATURES
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES
from engine.optimizers import OPTIMIZERS

_DEFAULT = NetworkConfig().to_dict()
_DEFAULT_LAYER: dict[str, Any] = (
    _DEFAULT["layers"][0] if _DEFAULT["layers"] else {"units": 8, "activation": "tanh"}
)


@dataclass(frozen=True, slots=True)
class IntRange:
    """``Annotated`` metadata: an integer in ``lo..hi`` (or one of ``words``, e.g. ``"all"``).

    The bounds are published in the schema (``minimum``/``maximum``), and every refusal,
    whatever was sent, is one error naming the whole range: ``must be an integer in 2..128,
    got 500``. ``hi`` may be the name of a limit read from the validation context instead
    (WebSocket messages: the server's settings are known only when one arrives).
    """

    lo: int
    hi: int | str
    words: tuple[str, ...] = ()

    def bounds(self, context: Any) -> tuple[int, int]:
        hi = context[self.hi] if isinstance(self.hi, str) else self.hi
        return self.lo, int(hi)

    def message(self, lo: int, hi: int) -> str:
        words = "".join(f" or {word!r}" for word in self.words)
        return f"must be an integer in {lo}..{hi}{words}, got {{got}}"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        inner = handler(source)

        def check(value: Any, validate: Any, info: core_schema.ValidationInfo) -> Any:
            lo, hi = self.bounds(info.context)
            try:
                checked = validate(value)
            except ValidationError:
                checked = None
            if checked in self.words:
                return checked
            if isinstance(checked, int) and not isinstance(checked, bool):
                if lo <= checked <= hi:
                    return checked
                value = checked  # parsed (from a query string, say): show it as a number
            raise PydanticCustomError("int_range", self.message(lo, hi), {"got": _shown(value)})

        return core_schema.with_info_wrap_validator_function(check, inner)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        numbers = [out, *out.get("anyOf", [])]
        for branch in numbers:
            if branch.get("type") == "integer":
                branch["minimum"] = self.lo
                if isinstance(self.hi, int):
                    branch["maximum"] = self.hi
        return out


def _shown(value: Any, most: int = 40) -> str:
    """``repr(value)``, cut short: an error names what was sent, it does not echo it back."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 1] + "…"


class StrictModel(BaseModel):
    """Strict types; unknown keys are refused with the list of valid ones; no NaN/Infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field '{field}'; valid: {valid}",
                    {"field": unknown[0], "valid": ", ".join(cls.model_fields)},
                )
        return data


# ----------------------------------------------------------------------------- the config
# The engine checks every value and names the field (its messages say the allowed range).
# Fixed ranges are published in the schema too (tests check they are the engine's); ranges
# set by the server's limits are in the descriptions (GET /api/catalog lists the limits).


def published(interval: Interval) -> dict[str, Any]:
    """An engine range as JSON Schema keywords, for the schema only (the engine checks it)."""
    out: dict[str, Any] = {"exclusiveMinimum" if interval.lo_open else "minimum": interval.lo}
    if math.isfinite(interval.hi):
        out["exclusiveMaximum" if interval.hi_open else "maximum"] = interval.hi
    return {"json_schema_extra": out}


SEEDS = published(Interval(0, SEED_MAX))


def one_of(names: Iterable[str]) -> dict[str, Any]:
    """A registry's names as a JSON Schema enum (schema only: the engine checks the name and
    answers with the valid ones)."""
    return {"json_schema_extra": {"enum": list(names)}}


class DatasetModel(StrictModel):
    name: str = Field(
        _DEFAULT["dataset"]["name"],
        description="Dataset key (see /api/catalog), or 'csv' for data uploaded to the session.",
        **one_of([*DATASETS, CSV_DATASET]),
    )
    n_samples: int = Field(
        _DEFAULT["dataset"]["n_samples"],
        description="Points (train + test), 10..max_samples; uploaded data: its row count.",
        **published(Interval(2)),
    )
    noise: float = Field(
        _DEFAULT["dataset"]["noise"], description="Noise level.", **published(UNIT)
    )
    train_fraction: float = Field(
        _DEFAULT["dataset"]["train_fraction"],
        description="Share used for training.",
        **published(Interval(0.1, 0.9)),
    )
    seed: int = Field(_DEFAULT["dataset"]["seed"], description="Data seed.", **SEEDS)


class LayerModel(StrictModel):
    units: int = Field(
        _DEFAULT_LAYER["units"], description="Neurons, 1..max_width.", **published(Interval(1))
    )
    activation: str = Field(
        _DEFAULT_LAYER["activation"],
        description="Activation key.",
        **one_of([*ACTIVATIONS, *ALIASES]),
    )


class InitModel(StrictModel):
    name: str = Field(
        _DEFAULT["init"]["name"], description="Initialiser key.", **one_of(INITIALIZERS)
    )
    scale: float | None = Field(
        _DEFAULT["init"]["scale"],
        description="Gain / σ / bound; null = the initialiser's default.",
        **published(POSITIVE),
    )


class OptimizerModel(BaseModel):
    """``name`` plus the optimiser's hyperparameters, flat (e.g. ``beta1``, ``momentum``)."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={"additionalProperties": {"type": "number"}},
    )
    __pydantic_extra__: dict[str, float] = Field(init=False)

    name: str = Field(
        _DEFAULT["optimizer"]["name"], description="Optimiser key.", **one_of(OPTIMIZERS)
    )


class ConfigModel(StrictModel):
    """A network configuration: every field optional; the defaults are the teaching defaults."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DEFAULT]})

    model: Literal["dense"] = Field(
        "dense", description="The model kind: 'dense' (the default when left out)."
    )
    dataset: DatasetModel = Field(default_factory=DatasetModel)
    features: list[str] = Field(
        list(_DEFAULT["features"]),
        description="Input features (see the catalog; 1-D data feeds x1 only), at least one.",
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(FEATURES)}},
    )
    layers: list[LayerModel] = Field(
        default_factory=lambda: [LayerModel(**layer) for layer in _DEFAULT["layers"]],
        description="Hidden layers only, 0..max_depth of them.",
    )
    init: InitModel = Field(default_factory=InitModel)
    loss: str | None = Field(
        _DEFAULT["loss"],
        description="Loss key (it must fit the data's task); null = the task's default.",
        json_schema_extra={"enum": [*LOSSES, None]},
    )
    optimizer: OptimizerModel = Field(default_factory=OptimizerModel)
    learning_rate: float = Field(
        _DEFAULT["learning_rate"],
        description="η (up to 100: large values show divergence).",
        **published(Interval(0.0, 100.0, lo_open=True)),
    )
    batch_size: int = Field(
        _DEFAULT["batch_size"],
        description="Above the training set size = full batch.",
        **published(Interval(1)),
    )
    l1: float = Field(_DEFAULT["l1"], description="L1 penalty.", **published(UNIT))
    l2: float = Field(_DEFAULT["l2"], description="L2 penalty.", **published(UNIT))
    grad_clip: float | None = Field(
        _DEFAULT["grad_clip"],
        description="Max global gradient norm; null = off.",
        **published(POSITIVE),
    )
    seed: int = Field(_DEFAULT["seed"], description="Weight and shuffle seed.", **SEEDS)

    @classmethod
    def from_engine(cls, config: NetworkConfig) -> ConfigModel:
        """A session's (valid) config as the model answers carry."""
        return cls.model_validate({"model": "dense", **config.to_dict()})


def config_patch(model: ConfigModel) -> dict[str, Any]:
    """The fields a client actually sent, as config JSON (layers are always whole objects)."""
    patch = model.model_dump(exclude_unset=True)
    patch.pop("model", None)
    if "layers" in model.model_fields_set:
        patch["layers"] = [layer.model_dump() for layer in model.layers]
    return patch
