"""Backprop against central finite differences, for every activation × every loss.

Net: 3 inputs → 6 hidden layers of 5 units → output, float64, normal(σ = 0.6) init, a batch
of 4 samples. Tolerance: relative error ‖g_num − g_bp‖ / (‖g_num‖ + ‖g_bp‖) < 1e-6 per layer,
for W and b separately, with ε = 1e-5 (truncation error O(ε²) ≈ 1e-10, rounding ≈ 1e-11).

Kinks: relu and leaky_relu are not differentiable at z = 0. The inputs are redrawn (from a
seeded generator) until every hidden pre-activation is at least 1e-3 away from 0; a ±1e-5
change of one parameter moves any z by far less than that, so no difference quotient
straddles a kink.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import ACTIVATIONS
from engine.diagnostics import GRADIENT_CHECK_TOLERANCE, gradient_check
from engine.layers import dense_forward
from engine.losses import LOSSES, OutputHead
from engine.network import Network
from tests.engine.helpers import deep_net

KINK_MARGIN = 1e-3
BATCH = 4

# Every loss, and MSE with each head it can sit on (regression, binary, multiclass).
HEADS = {
    "mse-linear": OutputHead("mse", "linear", 2),
    "mse-sigmoid": OutputHead("mse", "sigmoid", 1),
    "mse-softmax": OutputHead("mse", "softmax", 3),
    "binary_cross_entropy": OutputHead("binary_cross_entropy", "sigmoid", 1),
    "softmax_cross_entropy": OutputHead("softmax_cross_entropy", "softmax", 3),
}


def _targets(head: OutputHead, rng: np.random.Generator) -> np.ndarray:
    if head.head == "softmax":
        return np.eye(head.units)[rng.integers(0, head.units, BATCH)]
    if head.head == "sigmoid":
        return rng.integers(0, 2, (BATCH, 1)).astype(np.float64)
    return rng.normal(size=(BATCH, head.units))


def _min_abs_hidden_z(net: Network, x: np.ndarray) -> float:
    a, smallest = x, np.inf
    for W, b, act in zip(net.weights[:-1], net.biases[:-1], net.activations[:-1], strict=True):
        a, cache = dense_forward(a, W, b, act)
        smallest = min(smallest, float(np.abs(cache.z).min()))
    return smallest


def _inputs_away_from_kinks(net: Network, rng: np.random.Generator) -> np.ndarray:
    for _ in range(1000):
        x = rng.normal(size=(BATCH, net.sizes[0]))
        if _min_abs_hidden_z(net, x) >= KINK_MARGIN:
            return x
    raise AssertionError("no inputs away from the kinks")  # pragma: no cover


def test_every_loss_is_covered() -> None:
    assert {h.loss for h in HEADS.values()} == set(LOSSES)


@pytest.mark.parametrize("head_name", list(HEADS))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_backprop_matches_finite_differences(activation: str, head_name: str) -> None:
    head = HEADS[head_name]
    net = deep_net(activation, head)
    assert net.n_layers == 7
    rng = np.random.default_rng(11)
    x = _inputs_away_from_kinks(net, rng)
    check = gradient_check(net, x, _targets(head, rng), eps=1e-5, max_entries=None)
    assert GRADIENT_CHECK_TOLERANCE == 1e-6
    assert check.passed, check
    assert check.max_relative_error < 1e-6
    assert all(layer.n_weights_checked == net.weights[layer.layer].size for layer in check.layers)


def test_gradient_check_restores_the_parameters() -> None:
    net = deep_net("tanh", HEADS["mse-linear"])
    theta_before = net.theta.copy()
    rng = np.random.default_rng(2)
    gradient_check(net, rng.normal(size=(BATCH, 3)), rng.normal(size=(BATCH, 2)))
    assert np.array_equal(net.theta, theta_before)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_regularisation_gradient_is_checked_too(activation: str) -> None:
    head = HEADS["binary_cross_entropy"]
    net = deep_net(activation, head)
    rng = np.random.default_rng(3)
    x = _inputs_away_from_kinks(net, rng)
    y = _targets(head, rng)
    check = gradient_check(net, x, y, l1=0.01, l2=0.05, eps=1e-5, max_entries=None)
    assert check.passed, check


def test_a_wrong_gradient_fails_the_check() -> None:
    """The check can fail: the numeric side sees doubled logits, backprop does not."""
    head = HEADS["binary_cross_entropy"]
    net = deep_net("tanh", head)
    rng = np.random.default_rng(5)
    x = _inputs_away_from_kinks(net, rng)
    y = _targets(head, rng)
    assert gradient_check(net, x, y, max_entries=None).passed
    broken = _BrokenNet(net)
    assert not gradient_check(broken, x, y, max_entries=None).passed


class _BrokenNet(Network):
    """The same network whose forward pass for the numeric side doubles the logits."""

    def __init__(self, net: Network) -> None:  # share everything with ``net``
        self.__dict__.update(net.__dict__)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * super().forward(x)
