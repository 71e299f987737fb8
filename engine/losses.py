"""Losses on the output logits: ``fn(logits, y, head) -> (loss, dlogits)``.

Shapes: ``logits`` and ``y`` are ``(B, K)``; ``y`` holds the encoded targets (binary:
``(B, 1)`` of 0/1; multiclass: one-hot ``(B, K)``; regression: ``(B, 1)`` values).
Every loss is the **mean over the batch** of a per-sample loss, so ``dlogits`` already carries
the factor ``1/B``. ``loss`` is a Python float (NaN/Inf propagate, nothing raises).

``head`` is the output nonlinearity applied to the logits before the loss:

- ``binary_cross_entropy``: always ``sigmoid`` (computed stably from the logit).
- ``softmax_cross_entropy``: always ``softmax`` (log-sum-exp, shifted by the row max).
- ``mse``: ``linear`` (regression), ``sigmoid`` (binary with MSE: ŷ = σ(z), loss on the
  probability) or ``softmax`` (multiclass with MSE: ŷ = softmax(z), loss on the probabilities
  against the one-hot targets). The gradient goes back through the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.errors import ConfigError

FloatArray = NDArray[np.float64]
Head = Literal["linear", "sigmoid", "softmax"]
Task = Literal["binary", "multiclass", "regression"]


class LossFn(Protocol):
    def __call__(
        self, logits: FloatArray, y: FloatArray, head: Head | None = None
    ) -> tuple[float, FloatArray]: ...


@dataclass(frozen=True, slots=True)
class Loss:
    """One loss: ``fn(logits (B,K), y (B,K), head) -> (batch-mean loss, dlogits (B,K))``."""

    name: str
    fn: LossFn
    formula: str
    natural_head: Head


def sigmoid(z: FloatArray) -> FloatArray:
    """σ(z) = ½(1 + tanh(z/2)), overflow-free."""
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def softmax(z: FloatArray) -> FloatArray:
    """Row-wise softmax of ``(B, K)`` logits, shifted by the row max for stability."""
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    out: FloatArray = e / np.sum(e, axis=1, keepdims=True)
    return out


def apply_head(logits: FloatArray, head: Head) -> FloatArray:
    """ŷ = head(logits); ``(B, K)`` → ``(B, K)``."""
    if head == "sigmoid":
        return sigmoid(logits)
    if head == "softmax":
        return softmax(logits)
    return logits


def mse(logits: FloatArray, y: FloatArray, head: Head | None = None) -> tuple[float, FloatArray]:
    """L = (1/B) Σ_n ½ Σ_k (ŷ_nk − y_nk)², ŷ = head(z).

    dL/dŷ = (ŷ − y)/B, then back through the head: linear → identity; sigmoid → ·ŷ(1 − ŷ);
    softmax → Jᵀ·g = ŷ ⊙ (g − Σ_k ŷ_k g_k).
    """
    h: Head = "linear" if head is None else head
    b = logits.shape[0]
    y_hat = apply_head(logits, h)
    diff = y_hat - y
    loss = 0.5 * float(np.sum(diff * diff)) / b
    g = diff / b
    if h == "sigmoid":
        g = g * y_hat * (1.0 - y_hat)
    elif h == "softmax":
        g = y_hat * (g - np.sum(g * y_hat, axis=1, keepdims=True))
    return loss, g


def binary_cross_entropy(
    logits: FloatArray, y: FloatArray, head: Head | None = None
) -> tuple[float, FloatArray]:
    """L = (1/B) Σ_n Σ_k [max(z,0) − z·y + ln(1 + e^(−|z|))]  (= −y ln σ(z) − (1−y) ln(1−σ(z))).

    dL/dz = (σ(z) − y)/B.
    """
    b = logits.shape[0]
    z = logits
    per = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(np.sum(per)) / b, (sigmoid(z) - y) / b


def softmax_cross_entropy(
    logits: FloatArray, y: FloatArray, head: Head | None = None
) -> tuple[float, FloatArray]:
    """L = (1/B) Σ_n −Σ_k y_nk · log softmax(z_n)_k, log-softmax via the shifted log-sum-exp.

    dL/dz = (softmax(z) − y)/B.
    """
    b = logits.shape[0]
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(shifted)
    s = np.sum(e, axis=1, keepdims=True)
    log_p = shifted - np.log(s)
    loss = -float(np.sum(y * log_p)) / b
    return loss, (e / s - y) / b


def per_sample_loss(name: str, logits: FloatArray, y: FloatArray, head: Head) -> FloatArray:
    """Per-sample losses (B,) without gradients (for evaluating whole data sets); the batch
    loss of ``LOSSES[name]`` is their mean."""
    if name == "binary_cross_entropy":
        per = np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    elif name == "softmax_cross_entropy":
        shifted = logits - np.max(logits, axis=1, keepdims=True)
        per = -y * (shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True)))
    else:
        diff = apply_head(logits, head) - y
        per = 0.5 * diff * diff
    return per[:, 0] if per.shape[1] == 1 else np.add.reduce(per, axis=1)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "mse",
            mse,
            "L = (1/B)·Σ_n ½·Σ_k (ŷ_nk − y_nk)²   (ŷ = z for regression, σ(z) for binary, "
            "softmax(z) for multiclass)",
            "linear",
        ),
        Loss(
            "binary_cross_entropy",
            binary_cross_entropy,
            "L = −(1/B)·Σ_n [y_n·ln σ(z_n) + (1 − y_n)·ln(1 − σ(z_n))]"
            "   (computed stably from the logit z)",
            "sigmoid",
        ),
        Loss(
            "softmax_cross_entropy",
            softmax_cross_entropy,
            "L = −(1/B)·Σ_n Σ_k y_nk·ln softmax(z_n)_k",
            "softmax",
        ),
    )
}

# Which losses make sense for which task; the first entry is the task's default.
TASK_LOSSES: dict[str, tuple[str, ...]] = {
    "binary": ("binary_cross_entropy", "mse", "softmax_cross_entropy"),
    "multiclass": ("softmax_cross_entropy", "mse"),
    "regression": ("mse",),
}


def default_loss(task: str) -> str:
    """The task's default loss name."""
    return TASK_LOSSES[task][0]


@dataclass(frozen=True, slots=True)
class OutputHead:
    """How the output layer is read: ``units`` logits, ``head`` nonlinearity, ``loss`` name."""

    loss: str
    head: Head
    units: int


def output_head(task: str, n_classes: int, loss: str | None) -> OutputHead:
    """Resolve the output layer from the task and the (optional) loss choice.

    binary + binary_cross_entropy → 1 logit, sigmoid; binary + mse → 1 logit, MSE on σ(z);
    binary + softmax_cross_entropy → 2 logits, softmax; multiclass → K logits, softmax (with
    softmax_cross_entropy or MSE on the probabilities); regression → 1 linear output, MSE.
    """
    name = default_loss(task) if loss is None else loss
    if name not in TASK_LOSSES[task]:
        valid = ", ".join(TASK_LOSSES[task])
        raise ConfigError("loss", f"{name!r} does not fit a {task} task; valid: {valid}")
    if task == "regression":
        return OutputHead(name, "linear", 1)
    if task == "binary":
        if name == "softmax_cross_entropy":
            return OutputHead(name, "softmax", 2)
        return OutputHead(name, "sigmoid", 1)
    return OutputHead(name, "softmax", n_classes)
