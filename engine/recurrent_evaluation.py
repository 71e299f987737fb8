"""Loss and accuracy of a recurrent network on the full training and test sequences."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine.evaluation import Evaluation
from engine.losses import OutputHead, per_sample_loss
from engine.recurrent import RecurrentNetwork
from engine.sequences import HeadMode, SequenceDataset, head_targets

FloatArray = NDArray[np.float64]


def time_major(x: FloatArray) -> FloatArray:
    """Batch-first sequences (N, T, …) as the recurrent pass reads them: (T, N, …)."""
    return np.ascontiguousarray(np.swapaxes(x, 0, 1))


class SequenceEvaluationSet:
    """The training sequences followed by the test sequences, stacked once so one forward pass
    serves both. ``x`` (T, N, F); ``targets`` (N, 1) for a head on the last step, (T, N, 1)
    for a head on every step. A head on every step is scored over every (timestep, sequence)
    pair: its loss is the mean over both, its accuracy the share of pairs right."""

    def __init__(self, head: OutputHead, head_mode: HeadMode, data: SequenceDataset) -> None:
        self.head = head
        self.n_train = data.n_train
        self.x = time_major(np.concatenate([data.x_train, data.x_test]))
        self.targets = head_targets(np.concatenate([data.y_train, data.y_test]), head_mode)
        self.binary = data.task == "binary"

    def evaluate(self, net: RecurrentNetwork) -> Evaluation:
        with np.errstate(all="ignore"):
            logits = net.forward(self.x)
            K = logits.shape[-1]
            per = per_sample_loss(
                self.head.loss, logits.reshape(-1, K), self.targets.reshape(-1, K), self.head.head
            ).reshape(logits.shape[:-1])  # (N,) or (T, N)
            n = self.n_train
            train, test = per[..., :n], per[..., n:]
            train_loss = float(np.add.reduce(train, axis=None)) / train.size
            test_loss = float(np.add.reduce(test, axis=None)) / test.size
            if not self.binary:
                return Evaluation(train_loss, test_loss, None, None)
            # One logit: σ(z) > ½ ⇔ z > 0, compared with the 0/1 target.
            hits = (logits[..., 0] > 0.0) == (self.targets[..., 0] > 0.5)
            train_hits, test_hits = hits[..., :n], hits[..., n:]
            return Evaluation(
                train_loss,
                test_loss,
                int(np.count_nonzero(train_hits)) / train_hits.size,
                int(np.count_nonzero(test_hits)) / test_hits.size,
            )
