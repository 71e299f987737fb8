"""``GET /chain`` (the chain rule for one weight) and ``GET /gradcheck``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas.wire import Real, ResponseModel, attributes
from engine.diagnostics import ChainRule, GradientCheck, OutputTerms


class ChainTerm(ResponseModel):
    k: int
    w_jk: Real
    delta_k: Real


class OutputTermsModel(ResponseModel):
    """Where δ_j of an output unit comes from, for one sample (no 1/B). ``case``:

    - ``fused`` (sigmoid + binary cross-entropy, softmax + softmax cross-entropy): the head's
      derivative cancels against the loss's, so δ_j = ∂L_n/∂z_j = ŷ_j − y_j exactly.
    - ``identity`` (linear head, MSE): ŷ = z, so δ_j = ∂L_n/∂ŷ_j = ŷ_j − y_j.
    - ``through_head`` (MSE on a sigmoid or softmax output): ∂L_n/∂ŷ_j = ŷ_j − y_j, then the
      head's derivative: sigmoid δ_j = (ŷ_j − y_j)·ŷ_j(1 − ŷ_j); softmax
      δ_j = ŷ_j·((ŷ_j − y_j) − Σ_k ŷ_k(ŷ_k − y_k)).
    """

    head: Literal["linear", "sigmoid", "softmax"]
    loss: str
    case: Literal["fused", "identity", "through_head"]
    y_hat: Real = Field(description="ŷ_j = head(z)_j")
    target: Real = Field(description="y_j as the loss sees it (0/1, one-hot entry or value).")
    dloss_dyhat: Real = Field(description="∂L_n/∂ŷ_j = ŷ_j − y_j; null when fused.")
    head_derivative: Real = Field(description="sigmoid through_head: ŷ_j(1 − ŷ_j); else null.")
    head_coupling: Real = Field(description="softmax through_head: Σ_k ŷ_k(ŷ_k − y_k); else null.")

    @classmethod
    def from_engine(cls, terms: OutputTerms | None) -> OutputTermsModel | None:
        return None if terms is None else cls(**attributes(terms, cls))


class ChainModel(ResponseModel):
    layer: int
    i: int
    j: int
    sample: int
    batch_size: int
    w_ij: Real
    a_i: Real
    z_j: Real
    fprime_z_j: Real = Field(description="f′(z_j) of a hidden layer; null at the output.")
    downstream: Real = Field(
        description="Σ_k w_jk δ_k from the next layer; null at the output layer."
    )
    delta_j: Real = Field(
        description="δ_j = ∂L_n/∂z_j, the number backprop used (B·dz): f′(z_j) · downstream in "
        "a hidden layer; at the output layer as `output` explains."
    )
    grad_sample: Real = Field(description="∂L_n/∂w_ij = δ_j · a_i")
    batch_average: Real = Field(description="mean over the batch; equals dW_ij")
    dW_ij: Real  # noqa: N815 - the maths' name
    regularization_grad: Real
    total_grad: Real
    terms: list[ChainTerm]
    output: OutputTermsModel | None = Field(
        description="At the output layer: the head and loss terms δ_j comes from; else null."
    )
    diverged: bool

    @classmethod
    def from_engine(cls, chain: ChainRule, diverged: bool) -> ChainModel:
        terms = [ChainTerm(k=k, w_jk=w, delta_k=d) for k, w, d in chain.terms]
        output = OutputTermsModel.from_engine(chain.output)
        return cls(**attributes(chain, cls, terms=terms, output=output, diverged=diverged))


class LayerCheckModel(ResponseModel):
    layer: int
    weight_error: Real
    bias_error: Real
    n_weights_checked: int
    n_biases_checked: int


class GradcheckModel(ResponseModel):
    layers: list[LayerCheckModel]
    max_relative_error: Real
    passed: bool
    eps: float
    tolerance: float
    batch_size: int
    diverged: bool

    @classmethod
    def from_engine(cls, check: GradientCheck, diverged: bool) -> GradcheckModel:
        layers = [LayerCheckModel(**attributes(lc, LayerCheckModel)) for lc in check.layers]
        return cls(**attributes(check, cls, layers=layers, diverged=diverged))
