"""A recurrent session's config, state and session answers (``"model": "recurrent"``).

The dense models (:mod:`app.schemas.requests`, :mod:`app.schemas.session`) carry
``"model": "dense"``; a request body or answer that may be either is the union of the two,
told apart by ``model`` (a config without it is dense).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag

from app.schemas.requests import (
    SEEDS,
    ConfigModel,
    InitModel,
    OptimizerModel,
    StrictModel,
    one_of,
    published,
)
from app.schemas.wire import Real, ResponseModel, attributes
from engine.config import FORGET_BIAS, POSITIVE, UNIT, Interval, RecurrentConfig
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES
from engine.recurrent_cells import CELLS, RNN_ACTIVATIONS
from engine.recurrent_trainer import RecurrentTrainerState
from engine.sequences import SEQUENCE_TASKS
from engine.stages import Divergence as EngineDivergence
from engine.stages import Stage as EngineStage

_DEFAULT = RecurrentConfig().to_dict()
Stage = Literal["idle", "forward", "loss", "backward", "update"]


class SequenceModel(StrictModel):
    name: str = Field(
        _DEFAULT["dataset"]["name"],
        description="Sequence task key (see the catalog's recurrent part).",
        **one_of(SEQUENCE_TASKS),
    )
    length: int = Field(
        _DEFAULT["dataset"]["length"],
        description="T, timesteps per sequence: the task's min_length..max_sequence_length.",
        **published(Interval(1)),
    )
    n_samples: int = Field(
        _DEFAULT["dataset"]["n_samples"],
        description="Sequences (train + test), 10..max_sequences.",
        **published(Interval(10)),
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


class RecurrentInitModel(InitModel):
    name: str = Field(
        _DEFAULT["recurrent_init"]["name"],
        description="Initialiser key for W_hh (orthogonal keeps ‖J‖ near 1 at the start).",
        **one_of(INITIALIZERS),
    )


class RecurrentConfigModel(StrictModel):
    """A recurrent network: one recurrent layer (``cell`` rnn, gru or lstm) of ``hidden``
    units, read by a linear head on the last step or every step, trained by backprop through
    time. Every field but ``model`` is optional (teaching defaults)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DEFAULT]})

    model: Literal["recurrent"] = Field(description="The model kind: always 'recurrent' here.")
    dataset: SequenceModel = Field(default_factory=SequenceModel)
    cell: str = Field(_DEFAULT["cell"], description="Cell key.", **one_of(CELLS))
    activation: str = Field(
        _DEFAULT["activation"],
        description="The rnn cell's activation (gru and lstm: tanh only).",
        **one_of(RNN_ACTIVATIONS),
    )
    hidden: int = Field(
        _DEFAULT["hidden"], description="H, hidden units: 1..max_hidden.", **published(Interval(1))
    )
    head: Literal["last", "every"] | None = Field(
        _DEFAULT["head"], description="Output on the last step or every step; null = the task's."
    )
    init: InitModel = Field(
        default_factory=InitModel, description="Initialiser of W_xh and the head's W_hy."
    )
    recurrent_init: RecurrentInitModel = Field(default_factory=RecurrentInitModel)
    forget_bias: float = Field(
        _DEFAULT["forget_bias"],
        description="lstm: the forget gate's initial bias.",
        **published(FORGET_BIAS),
    )
    loss: str | None = Field(
        _DEFAULT["loss"],
        description="Loss key (it must fit the task); null = the task's default.",
        json_schema_extra={"enum": [*LOSSES, None]},
    )
    optimizer: OptimizerModel = Field(default_factory=OptimizerModel)
    learning_rate: float = Field(
        _DEFAULT["learning_rate"],
        description="η.",
        **published(Interval(0.0, 100.0, lo_open=True)),
    )
    batch_size: int = Field(
        _DEFAULT["batch_size"],
        description="Sequences per step, 1..max_sequences (above the training set: full batch).",
        **published(Interval(1)),
    )
    l1: float = Field(_DEFAULT["l1"], description="L1 penalty.", **published(UNIT))
    l2: float = Field(_DEFAULT["l2"], description="L2 penalty.", **published(UNIT))
    grad_clip: float | None = Field(
        _DEFAULT["grad_clip"],
        description="Max global gradient norm; null = off.",
        **published(POSITIVE),
    )
    truncate: int | None = Field(
        _DEFAULT["truncate"],
        description="Truncated BPTT: k in 1..length; null = full backprop through time.",
        **published(Interval(1)),
    )
    seed: int = Field(_DEFAULT["seed"], description="Weight and shuffle seed.", **SEEDS)

    @classmethod
    def from_engine(cls, config: RecurrentConfig) -> RecurrentConfigModel:
        return cls.model_validate(config.to_dict())


class RecurrentPatchModel(RecurrentConfigModel):
    """A change to a recurrent session's config: ``model`` may be left out."""

    model: Literal["recurrent"] = Field(
        "recurrent", description="Optional here: the session's kind."
    )


def recurrent_patch(model: RecurrentConfigModel) -> dict[str, Any]:
    """The fields a client sent, as config JSON (without ``model``)."""
    patch = model.model_dump(exclude_unset=True)
    patch.pop("model", None)
    return patch


class RecurrentDivergence(ResponseModel):
    step: int = Field(description="Step in progress (= updates completed before it).")
    stage: Literal["forward", "loss", "backward", "update"]
    timestep: int | None = Field(description="Timestep t, or null for the loss and the update.")

    @classmethod
    def from_engine(cls, div: EngineDivergence | None) -> RecurrentDivergence | None:
        return None if div is None else cls(**attributes(div, cls))


class NextTimestep(ResponseModel):
    stage: Literal["forward", "loss", "backward", "update"]
    timestep: int | None = Field(
        description="The timestep the next forward/backward call runs, else null."
    )

    @classmethod
    def from_engine(cls, stage: EngineStage) -> NextTimestep:
        return cls(stage=stage.kind, timestep=stage.timestep)


class RecurrentStateModel(ResponseModel):
    """A recurrent session's state: every stepping answer of a recurrent session."""

    model: Literal["recurrent"]
    step: int = Field(description="Completed updates.")
    stage: Stage = Field(description="Last completed stage of the current step.")
    stage_timestep: int | None = Field(
        description="Timestep of that stage (forward/backward), else null."
    )
    n_timesteps: int = Field(description="T, timesteps per sequence.")
    epoch: int = Field(description="Completed passes over the training sequences.")
    batch_size: int = Field(description="Effective batch size (clamped to the training set).")
    loss: Real = Field(description="Data loss of the current batch, null before loss.")
    train_loss: Real
    test_loss: Real
    train_accuracy: Real = Field(description="null for regression tasks.")
    test_accuracy: Real
    regularization_loss: Real
    diverged: bool
    divergence: RecurrentDivergence | None
    next: NextTimestep = Field(description="The stage (and timestep) the next call runs.")

    @classmethod
    def from_engine(cls, state: RecurrentTrainerState) -> RecurrentStateModel:
        return cls(
            **attributes(
                state,
                cls,
                model="recurrent",
                stage_timestep=state.cursor_timestep,
                diverged=state.divergence is not None,
                divergence=RecurrentDivergence.from_engine(state.divergence),
                next=NextTimestep.from_engine(state.next_stage),
            )
        )


# ----------------------------------------------------------------------------- either kind

# Fields only a recurrent config has: a PATCH without ``model`` that names one of them is a
# recurrent change (one that names none reads the same as either kind).
RECURRENT_ONLY = frozenset(
    {"cell", "activation", "hidden", "head", "recurrent_init", "forget_bias", "truncate"}
)


def _creation_kind(value: Any) -> str | None:
    """A creation body's kind: its ``model`` (absent: dense)."""
    if isinstance(value, dict):
        kind = value.get("model", "dense")
        return kind if isinstance(kind, str) else None
    return getattr(value, "model", None)


def _patch_kind(value: Any) -> str | None:
    """A PATCH body's kind: its ``model``, else recurrent when it names a recurrent-only
    field (a sequence length included), else dense."""
    if isinstance(value, dict) and "model" not in value:
        data = value.get("dataset")
        if RECURRENT_ONLY & value.keys() or (isinstance(data, dict) and "length" in data):
            return "recurrent"
        return "dense"
    return _creation_kind(value)


AnyConfigModel = Annotated[
    Annotated[ConfigModel, Tag("dense")] | Annotated[RecurrentConfigModel, Tag("recurrent")],
    Discriminator(
        _creation_kind,
        custom_error_type="model_kind",
        custom_error_message="model must be 'dense' (the default) or 'recurrent'",
    ),
]
"""A creation body: a dense config (``model`` absent or ``"dense"``) or a recurrent one."""

AnyPatchModel = Annotated[
    Annotated[ConfigModel, Tag("dense")] | Annotated[RecurrentPatchModel, Tag("recurrent")],
    Discriminator(
        _patch_kind,
        custom_error_type="model_kind",
        custom_error_message="model must be 'dense' or 'recurrent'",
    ),
]
"""A PATCH body: read as the session's kind; a recurrent-only field makes it recurrent."""
