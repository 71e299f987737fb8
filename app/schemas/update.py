"""``GET /update-rule``: how one weight changed at this step's update, term by term."""

from __future__ import annotations

from pydantic import Field

from app.schemas.session import Stage
from app.schemas.wire import Real, ResponseModel, attributes
from engine.update_rule import ParameterUpdate, UpdateTerm


class UpdateTermModel(ResponseModel):
    """One line of the optimiser's rule: ``symbol = formula`` evaluates to ``value``."""

    symbol: str = Field(description="e.g. v, m, m̂, s, Δw")
    formula: str = Field(
        description="Right-hand side; a state symbol on it (v, m, s) is its value before the "
        "update (state_before), g is `grad`, η `learning_rate`, t the step count."
    )
    value: Real

    @classmethod
    def from_engine(cls, term: UpdateTerm) -> UpdateTermModel:
        return cls(**attributes(term, cls))


class ParameterUpdateModel(ResponseModel):
    """w_after = w_before + Δw, with g = (grad_data + l2_term + l1_term)·clip_scale."""

    layer: int
    i: int
    j: int
    optimizer: str
    learning_rate: float = Field(description="η this update used.")
    hyperparameters: dict[str, float] = Field(description="The optimiser's (μ, β₁, β₂, ε …).")
    t: int = Field(description="The optimiser's step count after this update (1 for the first).")
    w_before: Real = Field(description="The weight this step's forward pass used.")
    grad_data: Real = Field(description="∂L/∂w of the data loss: the dW on the edge.")
    l2_term: Real = Field(description="λ₂·w (0 when L2 is off).")
    l1_term: Real = Field(description="λ₁·sign(w) (0 when L1 is off).")
    clip_scale: Real = Field(
        description="c / ‖g‖ when the global gradient norm ‖g‖ exceeded the clip c, 1 when it "
        "did not; null when clipping is off."
    )
    grad_norm: Real = Field(description="Global ‖g‖ before clipping; null when clipping is off.")
    grad: Real = Field(description="g = (grad_data + l2_term + l1_term)·clip_scale.")
    terms: list[UpdateTermModel] = Field(description="The optimiser's rule; the last is Δw.")
    state_before: dict[str, Real] = Field(
        description="This weight's optimiser state before the update (velocity, m, v, sq_avg, "
        "sq_sum; empty for SGD)."
    )
    delta: Real = Field(description="Δw the optimiser applied.")
    w_after: Real = Field(description="w_before + delta.")

    @classmethod
    def from_engine(cls, update: ParameterUpdate) -> ParameterUpdateModel:
        return cls(
            **attributes(
                update,
                cls,
                hyperparameters=dict(update.hyperparameters),
                terms=[UpdateTermModel.from_engine(term) for term in update.terms],
                state_before=dict(update.state_before),
            )
        )


class UpdateRuleModel(ResponseModel):
    """The update of weight W[layer][i, j] at the current step, or why there is none yet.

    ``update`` is null until this step's update stage has run (mid-step, at step 0, or after
    an import, which does not keep the update's terms); ``pending`` then says so in words.
    """

    layer: int
    i: int
    j: int
    step: int = Field(description="Completed updates (as the session state counts them).")
    stage: Stage = Field(description="Last completed stage of the current step.")
    update: ParameterUpdateModel | None
    pending: str | None = Field(description="Why `update` is null; null when it is not.")
    diverged: bool

    @classmethod
    def from_engine(
        cls,
        update: ParameterUpdate | None,
        weight: tuple[int, int, int],
        step: int,
        stage: Stage,
        diverged: bool,
    ) -> UpdateRuleModel:
        layer, i, j = weight
        pending = None
        if update is None:
            if stage == "update":
                pending = (
                    "The terms of this update were not kept (the session was imported): "
                    "take a step to see the next update."
                )
            elif stage == "idle":
                pending = (
                    "This step has not started: its update runs after the forward pass, the "
                    "loss and the backward pass."
                )
            else:
                pending = (
                    f"This step's update has not run yet (the step is at its {stage} stage): "
                    "it runs after the backward pass."
                )
        return cls(
            layer=layer,
            i=i,
            j=j,
            step=step,
            stage=stage,
            update=None if update is None else ParameterUpdateModel.from_engine(update),
            pending=pending,
            diverged=diverged,
        )
