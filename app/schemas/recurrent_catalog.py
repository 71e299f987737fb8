"""The catalog's ``recurrent`` part: what the page builds a recurrent network's controls from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas.recurrent import RecurrentConfigModel
from app.schemas.wire import ResponseModel
from engine.config import RECURRENT_LIVE_FIELDS, RECURRENT_LOSSES, Limits, RecurrentConfig
from engine.recurrent_cells import CELLS, RNN_ACTIVATIONS
from engine.sequences import SEQUENCE_TASKS, SequenceTask

RECURRENT_INITS = ("orthogonal", "xavier_uniform", "xavier_normal", "he_normal", "normal")


class CellInfo(ResponseModel):
    name: str
    gates: list[str] = Field(description="Gate blocks, in column order of W.")
    state: list[str] = Field(description="What backward carries to the timestep before.")
    formula: str
    takes_activation: bool = Field(description="Only the rnn cell takes an activation.")


class SequenceTaskInfo(ResponseModel):
    name: str
    task: Literal["binary", "regression"]
    n_inputs: int
    default_head: Literal["last", "every"]
    heads: list[Literal["last", "every"]] = Field(description="Allowed heads, default first.")
    min_length: int
    max_length: int
    uses_noise: bool
    losses: list[str] = Field(description="Losses that fit the task; first = default.")
    description: str

    @classmethod
    def from_engine(cls, spec: SequenceTask, max_length: int) -> SequenceTaskInfo:
        return cls(
            name=spec.name,
            task=spec.task,
            n_inputs=spec.n_inputs,
            default_head=spec.heads[0],
            heads=list(spec.heads),
            min_length=spec.min_length,
            max_length=max_length,
            uses_noise=spec.uses_noise,
            losses=list(RECURRENT_LOSSES[spec.task]),
            description=spec.description,
        )


class RecurrentLimitsModel(ResponseModel):
    max_hidden: int
    max_sequence_length: int
    max_sequences: int = Field(description="Sequences per session (train + test), and batch.")
    truncate: list[int] = Field(description="[1, T]: truncated BPTT's k (null = full).")
    grad_clip: str = Field(description="Max global gradient norm: > 0, or null (off).")


class RecurrentCatalogModel(ResponseModel):
    cells: list[CellInfo]
    activations: list[str] = Field(description="The rnn cell's activations.")
    tasks: list[SequenceTaskInfo]
    recurrent_initializers: list[str] = Field(
        description="Initialisers suited to W_hh (orthogonal keeps ‖J‖ near 1 at the start); "
        "any initialiser of `initializers` is accepted."
    )
    limits: RecurrentLimitsModel
    defaults: RecurrentConfigModel
    live_fields: list[str] = Field(description="Fields a recurrent session takes without reset.")

    @classmethod
    def from_engine(cls, limits: Limits, defaults: RecurrentConfig) -> RecurrentCatalogModel:
        T = limits.max_sequence_length
        return cls(
            cells=[
                CellInfo(
                    name=cell.name,
                    gates=list(cell.gates),
                    state=list(cell.state),
                    formula=cell.formula,
                    takes_activation=cell.name == "rnn",
                )
                for cell in CELLS.values()
            ],
            activations=list(RNN_ACTIVATIONS),
            tasks=[SequenceTaskInfo.from_engine(spec, T) for spec in SEQUENCE_TASKS.values()],
            recurrent_initializers=list(RECURRENT_INITS),
            limits=RecurrentLimitsModel(
                max_hidden=limits.max_hidden,
                max_sequence_length=T,
                max_sequences=limits.max_sequences,
                truncate=[1, T],
                grad_clip="> 0 or null",
            ),
            defaults=RecurrentConfigModel.from_engine(defaults),
            live_fields=list(RECURRENT_LIVE_FIELDS),
        )
