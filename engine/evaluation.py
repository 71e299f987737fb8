"""Loss and accuracy on the full training and test sets (one forward pass for both)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.losses import OutputHead, per_sample_loss
from engine.network import Network

FloatArray = NDArray[np.float64]


def targets_for(task: str, head_units: int, y: NDArray[Any]) -> FloatArray:
    """Raw labels (n,) → the loss's target matrix (n, K)."""
    if task == "regression" or head_units == 1:
        return np.asarray(y, dtype=np.float64).reshape(-1, 1)
    return np.eye(head_units)[np.asarray(y, dtype=np.intp)]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Mean loss and accuracy (None for regression) on each part, at one set of parameters."""

    train_loss: float
    test_loss: float
    train_accuracy: float | None
    test_accuracy: float | None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.train_loss) and math.isfinite(self.test_loss)


class EvaluationSet:
    """The training rows followed by the test rows, stacked once so one forward pass serves
    both. ``x`` (N, F) after the feature transform, ``targets`` (N, K)."""

    def __init__(
        self,
        head: OutputHead,
        task: str,
        x_train: FloatArray,
        y_train: NDArray[Any],
        x_test: FloatArray,
        y_test: NDArray[Any],
    ) -> None:
        self.head = head
        self.n_train = int(x_train.shape[0])
        self.x = np.concatenate([x_train, x_test])
        self.targets = np.concatenate(
            [targets_for(task, head.units, y_train), targets_for(task, head.units, y_test)]
        )
        self.labels: NDArray[Any] | None = None
        if task != "regression":
            labels = np.concatenate([y_train, y_test]).astype(np.intp)
            # One logit: σ(z) > ½ ⇔ z > 0, compared with label > 0; several: the class index.
            self.labels = labels > 0 if head.units == 1 else labels

    def evaluate(self, net: Network) -> Evaluation:
        with np.errstate(all="ignore"):
            logits = net.forward(self.x)
            n, m = self.n_train, self.x.shape[0] - self.n_train
            per = per_sample_loss(self.head.loss, logits, self.targets, self.head.head)
            train_loss = float(np.add.reduce(per[:n])) / n
            test_loss = float(np.add.reduce(per[n:])) / m
            if self.labels is None:
                return Evaluation(train_loss, test_loss, None, None)
            one = logits.shape[1] == 1
            pred = logits[:, 0] > 0.0 if one else np.argmax(logits, axis=1)
            hits = pred == self.labels
            return Evaluation(
                train_loss,
                test_loss,
                int(np.count_nonzero(hits[:n])) / n,
                int(np.count_nonzero(hits[n:])) / m,
            )
