"""What every number on the page means: one definition per metric, with its formula.

The page shows these on hover and focus; the catalog serves them, so the definitions a
learner reads are the ones the engine computes by. Notation: B rows in the minibatch, layer
l with pre-activation z = a_prev·W + b and activation a = f(z), L the batch-mean loss.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    """One metric: how the page labels it, its formula, and what it tells a learner."""

    key: str
    label: str
    formula: str
    meaning: str


TERMS: tuple[Term, ...] = (
    Term(
        "loss",
        "minibatch loss",
        "L = (1/B)·Σ_n ℓ(ŷ_n, y_n)",
        "The data loss of this step's minibatch, the number backprop differentiates.",
    ),
    Term(
        "train_loss",
        "train loss",
        "(1/N)·Σ_n ℓ(ŷ_n, y_n) over all N training points",
        "The data loss on the whole training set at the current weights.",
    ),
    Term(
        "sample_loss",
        "ℓ_n",
        "ℓ(ŷ_n, y_n): the loss function on batch row n alone",
        "One sample's share of the loss; the minibatch loss is the mean of these.",
    ),
    Term(
        "test_loss",
        "test loss",
        "(1/M)·Σ_n ℓ(ŷ_n, y_n) over all M held-out test points",
        "The data loss on points training never sees: it rising while the train loss falls "
        "means overfitting.",
    ),
    Term(
        "accuracy",
        "accuracy",
        "share of points whose predicted class (ŷ > ½, or the largest ŷ_k) is the label",
        "Classification only, on the whole training or test set at the current weights.",
    ),
    Term(
        "regularization_loss",
        "regularisation",
        "λ₁·Σ|w| + ½·λ₂·Σw²  (weights only)",
        "Added to the loss when L1/L2 is on; its gradient joins at the update.",
    ),
    Term(
        "delta",
        "δ_j",
        "δ_j = ∂L_n/∂z_j = f′(z_j)·Σ_k w_jk·δ_k",
        "How much sample n's loss changes per unit change of unit j's pre-activation.",
    ),
    Term(
        "dz",
        "∂L/∂z",
        "dz = da ⊙ f′(z)",
        "The batch-mean loss's gradient at a layer's pre-activations (δ/B per sample).",
    ),
    Term(
        "mean_abs_dz",
        "mean |dz|",
        "(1/(B·n))·Σ_n Σ_j |∂L/∂z_nj|",
        "The typical size of the gradient arriving at a layer; it fades when gradients vanish.",
    ),
    Term(
        "grad_norm",
        "‖dW‖",
        "‖∂L/∂W‖ = √(Σ_ij (∂L/∂W_ij)²)",
        "The size of a layer's weight gradient (Frobenius norm), before regularisation.",
    ),
    Term(
        "dW",
        "∂L/∂W",
        "∂L/∂W_ij = (1/B)·Σ_n δ_j(n)·a_i(n)",
        "How the loss changes per unit change of one weight, averaged over the batch.",
    ),
    Term(
        "update_ratio",
        "update ratio",
        "‖ΔW‖ / ‖W‖  (W before the update)",
        "How far one update moves a layer's weights (rule of thumb: around 1e-3 is healthy).",
    ),
    Term(
        "flow_ratio",
        "flow ratio",
        "‖dz_l‖ / ‖dz_{l+1}‖ = (‖da_l‖/‖dz_{l+1}‖)·(‖dz_l‖/‖da_l‖)",
        "How the gradient grows or shrinks from one layer down to the next: the gain "
        "through the next layer's weights times the gain through f′.",
    ),
    Term(
        "weight_gain",
        "gain through Wᵀ",
        "‖da_l‖ / ‖dz_{l+1}‖,  da_l = dz_{l+1}·W_{l+1}ᵀ",
        "How much the next layer's weights stretch or shrink the gradient on its way down.",
    ),
    Term(
        "activation_gain",
        "gain through f′",
        "‖dz_l‖ / ‖da_l‖,  dz_l = da_l ⊙ f′(z_l)",
        "How much the activation's slope shrinks the gradient (sigmoid: at most ¼).",
    ),
    Term(
        "mean_abs_fprime",
        "mean |f′(z)|",
        "(1/(B·n))·Σ_n Σ_j |f′(z_nj)|",
        "The activation's typical slope on this batch: a rule of thumb for how much f′ lets "
        "through (the exact gain through f′ is in the gradient-flow panel).",
    ),
    Term(
        "saturated_fraction",
        "saturated",
        "share of (sample, unit) entries with |f′(z)| < 5% of f′'s largest value",
        "Entries where the activation is flat, so almost no gradient passes (relu: z ≤ 0).",
    ),
    Term(
        "dead_fraction",
        "dead (batch)",
        "share of units with a = 0 for every sample of the minibatch",
        "Units that pass no gradient for this minibatch.",
    ),
    Term(
        "dead_units_train",
        "dead (training set)",
        "units with a = 0 for every point of the training set",
        "Units no minibatch can revive by gradient: their weights never change again.",
    ),
)

TERMS_BY_KEY = {term.key: term for term in TERMS}
