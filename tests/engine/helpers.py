"""Small builders shared by the engine tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine.config import DatasetConfig, LayerConfig, NetworkConfig
from engine.losses import OutputHead
from engine.network import Network

FloatArray = NDArray[np.float64]


def config(
    dataset: str = "circle",
    layers: tuple[tuple[int, str], ...] = ((6, "tanh"), (5, "tanh")),
    n_samples: int = 60,
    **changes: object,
) -> NetworkConfig:
    """A small config: ``layers`` as (units, activation) pairs, other fields via ``changes``."""
    cfg = NetworkConfig(
        dataset=DatasetConfig(name=dataset, n_samples=n_samples),
        layers=tuple(LayerConfig(u, a) for u, a in layers),
    )
    return cfg.replace(**changes)


def deep_net(
    activation: str, head: OutputHead, n_in: int = 3, width: int = 5, depth: int = 6, seed: int = 0
) -> Network:
    """``depth`` hidden layers of ``width`` units, normal(0.6) init (keeps gradients of all
    layers within a few orders of magnitude, so relative errors are meaningful)."""
    sizes = [n_in, *([width] * depth), head.units]
    return Network(
        sizes, [activation] * depth, head, "normal", 0.6, np.random.default_rng([seed, 7])
    )
