"""Seeded minibatch order: which training rows each step uses.

Each epoch draws a permutation of the training rows from the shuffle generator and walks
through it in slices of ``batch_size``; the last slice of an epoch may be shorter. With
``batch_size >= n_train`` every step uses the whole training set in its stored order (no
permutation is drawn). The generator is seeded from the config's seed alone, so changing a
hyperparameter never changes the data order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.intp]


class MinibatchOrder:
    """The position in the shuffled training set: generator, permutation, cursor, epoch."""

    def __init__(self, n_train: int, rng: np.random.Generator) -> None:
        self.n_train = n_train
        self.rng = rng
        self.permutation: IntArray | None = None
        self.cursor = 0
        self.epoch = 0

    def next(self, batch_size: int, consume: bool = True) -> IntArray:
        """Rows of the next step's minibatch; ``consume=False`` peeks without side effects."""
        n = self.n_train
        if n <= batch_size:
            if consume:
                self.permutation, self.cursor = None, 0
                self.epoch += 1
            return np.arange(n, dtype=np.intp)
        perm, cursor = self.permutation, self.cursor
        if perm is None or cursor >= n:
            rng = self.rng
            if not consume:  # draw from a copy of the generator: the real one stays put
                rng = np.random.Generator(type(rng.bit_generator)())
                rng.bit_generator.state = self.rng.bit_generator.state
            perm, cursor = rng.permutation(n), 0
        idx = perm[cursor : cursor + batch_size]
        if consume:
            cursor += idx.size
            if cursor >= n:
                self.permutation, self.cursor = None, 0
                self.epoch += 1
            else:
                self.permutation, self.cursor = perm, cursor
        return idx

    # --- plain data, for exports ------------------------------------------------------------

    def rng_state(self) -> dict[str, Any]:
        """The generator state as JSON-able data (128-bit integers as decimal strings:
        JSON readers in browsers keep only 53 bits)."""
        return _ints_to_strings(self.rng.bit_generator.state)

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`rng_state`; raises ValueError/TypeError/KeyError if malformed."""
        self.rng.bit_generator.state = _strings_to_ints(state)


def _ints_to_strings(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (
            _ints_to_strings(v)
            if isinstance(v, Mapping)
            else (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
        )
        for k, v in state.items()
    }


def _strings_to_ints(state: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in state.items():
        if isinstance(v, Mapping):
            out[k] = _strings_to_ints(v)
        elif isinstance(v, str) and k != "bit_generator":
            out[k] = int(v)
        else:
            out[k] = v
    return out
