"""A session's state (every stepping answer) and the session answers that carry it."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field

from app.schemas.recurrent import RecurrentConfigModel, RecurrentStateModel
from app.schemas.requests import ConfigModel
from app.schemas.wire import Real, ResponseModel, attributes
from engine.config import NetworkConfig, RecurrentConfig
from engine.recurrent_trainer import RecurrentTrainerState
from engine.stages import Divergence as EngineDivergence
from engine.stages import Stage as EngineStage
from engine.trainer import TrainerState

Stage = Literal["idle", "forward", "loss", "backward", "update"]


class Divergence(ResponseModel):
    step: int = Field(description="Step in progress (= updates completed before it).")
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None = Field(description="Weight layer, or null for the loss stage.")

    @classmethod
    def from_engine(cls, div: EngineDivergence | None) -> Divergence | None:
        return None if div is None else cls(**attributes(div, cls))


class NextStage(ResponseModel):
    stage: Literal["forward", "loss", "backward", "update"]
    layer: int | None = Field(description="Weight layer for forward/backward, else null.")

    @classmethod
    def from_engine(cls, stage: EngineStage) -> NextStage:
        return cls(stage=stage.kind, layer=stage.layer)


class StateModel(ResponseModel):
    model: Literal["dense"] = Field(description="The model kind: a dense network.")
    step: int = Field(description="Completed updates.")
    stage: Stage = Field(description="Last completed stage of the current step.")
    layer: int | None = Field(description="Layer of that stage (forward/backward), else null.")
    n_layers: int = Field(description="Weight layers (hidden + output).")
    epoch: int = Field(description="Completed passes over the training set.")
    batch_size: int = Field(description="Effective batch size (clamped to the training set).")
    loss: Real = Field(description="Data loss of the current batch, null before loss.")
    train_loss: Real
    test_loss: Real
    train_accuracy: Real = Field(description="null for regression.")
    test_accuracy: Real
    regularization_loss: Real
    diverged: bool
    divergence: Divergence | None
    next: NextStage = Field(description="The stage the next stepping call runs.")

    @classmethod
    def from_engine(cls, state: TrainerState) -> StateModel:
        return cls(
            **attributes(
                state,
                cls,
                model="dense",
                layer=state.cursor_layer,
                diverged=state.divergence is not None,
                divergence=Divergence.from_engine(state.divergence),
                next=NextStage.from_engine(state.next_stage),
            )
        )


AnyState = StateModel | RecurrentStateModel
"""A stepping answer: a dense or a recurrent session's state (``model`` tells which)."""


def state_model(state: TrainerState | RecurrentTrainerState) -> StateModel | RecurrentStateModel:
    if isinstance(state, RecurrentTrainerState):
        return RecurrentStateModel.from_engine(state)
    return StateModel.from_engine(state)


class SessionModel(ResponseModel):
    id: str = Field(description="Session id (192 random bits, URL-safe).")
    config: ConfigModel | RecurrentConfigModel = Field(
        description="The whole config; ``model`` says the kind (dense or recurrent)."
    )
    state: StateModel | RecurrentStateModel

    @classmethod
    def from_engine(
        cls,
        session_id: str,
        config: NetworkConfig | RecurrentConfig,
        state: TrainerState | RecurrentTrainerState,
        **extra: Any,
    ) -> Self:
        """``extra``: the fields a subclass adds (``reset``, ``rows``)."""
        return cls(
            id=session_id,
            config=RecurrentConfigModel.from_engine(config)
            if isinstance(config, RecurrentConfig)
            else ConfigModel.from_engine(config),
            state=state_model(state),
            **extra,
        )


class PatchedSessionModel(SessionModel):
    reset: bool = Field(description="True when the change rebuilt the network (step 0).")


class DatasetUploadModel(PatchedSessionModel):
    rows: int = Field(description="Rows read from the CSV.")
