"""``GET /chain`` (the chain rule for one weight) and ``GET /gradcheck``."""

from __future__ import annotations

from pydantic import Field

from app.schemas.wire import Real, ResponseModel, attributes
from engine.diagnostics import ChainRule, GradientCheck


class ChainTerm(ResponseModel):
    k: int
    w_jk: Real
    delta_k: Real


class ChainModel(ResponseModel):
    layer: int
    i: int
    j: int
    sample: int
    batch_size: int
    w_ij: Real
    a_i: Real
    z_j: Real
    fprime_z_j: Real
    downstream: Real = Field(description="Σ_k w_jk δ_k, or ∂L_n/∂a_j at the output.")
    delta_j: Real = Field(description="f′(z_j) · downstream")
    grad_sample: Real = Field(description="∂L_n/∂w_ij = δ_j · a_i")
    batch_average: Real = Field(description="mean over the batch; equals dW_ij")
    dW_ij: Real  # noqa: N815 - the maths' name
    regularization_grad: Real
    total_grad: Real
    terms: list[ChainTerm]
    diverged: bool

    @classmethod
    def from_engine(cls, chain: ChainRule, diverged: bool) -> ChainModel:
        terms = [ChainTerm(k=k, w_jk=w, delta_k=d) for k, w, d in chain.terms]
        return cls(**attributes(chain, cls, terms=terms, diverged=diverged))


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
