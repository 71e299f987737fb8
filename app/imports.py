"""Session import: the export's request shape (for ``/docs``) and the import itself.

An import is untrusted input; the engine checks all of it (shapes against the config, indices
against the data, ranges, finiteness) and names the first bad field, so a bad file answers 422
now, never a 500 on a later step. ``null`` stands for a non-finite number, which only a
diverged export may hold in its parameters.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from pydantic import Field

from app.errors import InputError
from app.kinds import AnyTrainer
from app.schemas.recurrent import RecurrentConfigModel
from app.schemas.requests import ConfigModel, StrictModel
from app.schemas.session import Stage
from engine.config import Limits
from engine.errors import ConfigError
from engine.export import MAX_COUNT, RecurrentExport, read_export
from engine.recurrent_trainer import RecurrentTrainer
from engine.trainer import Trainer

Num = float | None
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Index = Annotated[int, Field(ge=0)]
Digits = Annotated[str, Field(pattern=r"^[0-9]+$")]


class StageExport(StrictModel):
    kind: Stage
    layer: Index | None = Field(None, description="Weight layer for forward/backward.")


class DivergenceExport(StrictModel):
    step: Count
    stage: Literal["forward", "loss", "backward", "update"]
    layer: Index | None = None


class DatasetExport(StrictModel):
    """Uploaded (CSV) data travels inside the export; built-in data is regenerated."""

    name: str
    task: Literal["binary", "multiclass", "regression"]
    n_classes: Annotated[int, Field(ge=1)]
    input_dim: Annotated[int, Field(ge=1, le=2)]
    x_train: list[list[float]]
    y_train: list[float]
    x_test: list[list[float]]
    y_test: list[float]
    domain: list[float] = Field(min_length=4, max_length=4)
    classes: list[float] = Field(default_factory=list)


class HistoryExport(StrictModel):
    n_layers: Annotated[int, Field(ge=1)]
    step: list[Annotated[int, Field(ge=1)]] = Field(description="Strictly increasing.")
    evaluated: list[bool] | None = Field(
        None, description="Rows with the full-data evaluation (version 2; version 1: all)."
    )
    batch_loss: list[Num] | None = Field(
        None, description="Minibatch loss of each step (version 2; version 1 lacks it)."
    )
    train_loss: list[Num]
    test_loss: list[Num]
    train_accuracy: list[Num]
    test_accuracy: list[Num]
    grad_norm: list[list[Num]]
    mean_abs_dz: list[list[Num]]
    update_ratio: list[list[Num]]


class PCG64State(StrictModel):
    state: Digits
    inc: Digits


class GeneratorState(StrictModel):
    """NumPy's PCG64 state; its integers are decimal strings (JSON keeps only 53 bits)."""

    bit_generator: Literal["PCG64"]
    state: PCG64State
    has_uint32: Digits
    uinteger: Digits


class RngExport(StrictModel):
    shuffle: GeneratorState = Field(description="The minibatch order's generator.")


class ExportModel(StrictModel):
    """A whole session, as ``GET /api/sessions/{id}/export`` gives it.

    On import the engine also checks what a schema cannot say: every array's shape against
    the config (and the data), indices against the training set, the stage against the
    network, the history against the step; ``null`` (a non-finite number) only in a diverged
    export. Anything inconsistent is a 422 naming the field.
    """

    format: Literal["backprop-lab/trainer"] = Field(description="Always this value.")
    version: Literal[1, 2] = Field(description="2 writes; 1 is still read.")
    config: ConfigModel
    dataset: DatasetExport | None = Field(description="Uploaded data, or null (built-in).")
    weights: list[list[list[Num]]] = Field(description="Per layer (fan_in, fan_out).")
    biases: list[list[Num]] = Field(description="Per layer (fan_out,).")
    optimizer_state: dict[str, list[Num] | Count] = Field(
        description="The optimiser's flat (P,) arrays (e.g. m, v) and its step count t."
    )
    rng: RngExport
    permutation: list[Index] | None = Field(description="This epoch's order of the rows.")
    cursor: Count
    epoch: Count
    step: Count
    stage: StageExport
    batch_indices: list[Index] | None = Field(description="The current step's rows.")
    theta_before_update: list[Num]
    last_delta: list[Num] | None
    last_update_ratio: list[Num] | None
    history: HistoryExport
    divergence: DivergenceExport | None


class RecurrentHistoryExport(StrictModel):
    n_timesteps: Annotated[int, Field(ge=1)]
    step: list[Annotated[int, Field(ge=1)]] = Field(description="Strictly increasing.")
    evaluated: list[bool]
    batch_loss: list[Num]
    train_loss: list[Num]
    test_loss: list[Num]
    train_accuracy: list[Num]
    test_accuracy: list[Num]
    grad_norm: list[Num]
    clipped: list[Num] = Field(description="1.0 where clipping scaled the gradient, else 0.0.")
    weight_grad_norm: list[list[Num]] = Field(description="(rows, 3): W_xh, W_hh, W_hy.")
    update_ratio: list[list[Num]] = Field(description="(rows, 3): W_xh, W_hh, W_hy.")
    dh_norm: list[list[Num]] = Field(description="(rows, T) ‖∂L/∂h_t‖.")


class TimestepStageExport(StrictModel):
    kind: Stage
    timestep: Index | None = Field(None, description="Timestep for forward/backward.")


class RecurrentDivergenceExport(StrictModel):
    step: Count
    stage: Literal["forward", "loss", "backward", "update"]
    timestep: Index | None = None


class RecurrentExportModel(StrictModel):
    """A whole recurrent session, as ``GET /api/sessions/{id}/export`` gives it (the
    sequences are regenerated from the config). Checked on import as a dense export is."""

    format: Literal["backprop-lab/recurrent-trainer"] = Field(description="Always this value.")
    version: Literal[1]
    config: RecurrentConfigModel
    parameters: dict[str, list[list[Num]] | list[Num]] = Field(
        description="By block: W_xh (F, G), W_hh (H, G), b_h (G,), W_hy (H, K), b_y (K,)."
    )
    optimizer_state: dict[str, list[Num] | Count]
    rng: RngExport
    permutation: list[Index] | None
    cursor: Count
    epoch: Count
    step: Count
    stage: TimestepStageExport
    batch_indices: list[Index] | None
    theta_before_update: list[Num]
    last_delta: list[Num] | None
    last_update_ratio: list[Num] | None
    history: RecurrentHistoryExport
    divergence: RecurrentDivergenceExport | None


def import_trainer(body: bytes, limits: Limits) -> AnyTrainer:
    """A trainer restored from the bytes of an export (422 naming the field on any problem).

    Parsed here, in a worker thread, rather than by the framework on the event loop: a large
    export takes a while to read, and nobody else should wait for it. Every check is the
    engine's own (:meth:`engine.export.TrainerExport.from_dict`).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError.at(("body",), f"not valid JSON: {exc}", "json_invalid") from None
    try:
        snap = read_export(data, limits)
        if isinstance(snap, RecurrentExport):
            return RecurrentTrainer.restore(snap, limits)
        return Trainer.restore(snap, limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("body",)) from None
