"""Backprop through time against central finite differences: every cell, every head.

Nets: 2 inputs → one recurrent layer of 4 units → K outputs, 6 timesteps, a batch of 3
sequences, float64, normal(σ = 0.5) weights. Tolerance: relative error
‖g_num − g_bp‖ / (‖g_num‖ + ‖g_bp‖) < 1e-6 per parameter block, every entry checked, with
ε = 1e-5 (truncation error O(ε²) ≈ 1e-10, rounding ≈ 1e-11).

Kinks: relu is not differentiable at z = 0. Its inputs are redrawn (seeded) until every
pre-activation of every timestep is at least 1e-3 away from 0; a ±1e-5 change of one
parameter moves any z by far less than that, so no difference quotient straddles a kink.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine.recurrent_cells as cells
from engine.diagnostics import GRADIENT_CHECK_TOLERANCE
from engine.losses import OutputHead
from engine.recurrent import RecurrentNetwork
from engine.recurrent_cells import (
    CELLS,
    LSTMCache,
    RNNCache,
    cell_backward,
    cell_forward,
    weight_contribution,
)
from engine.recurrent_diagnostics import full_sequence_pass, recurrent_gradient_check
from tests.engine.recurrent_helpers import CELL_KINDS, small_net

BATCH = 3
KINK_MARGIN = 1e-3

HEADS = {
    "bce": OutputHead("binary_cross_entropy", "sigmoid", 1),
    "mse-linear": OutputHead("mse", "linear", 2),
    "mse-sigmoid": OutputHead("mse", "sigmoid", 1),
}


def _targets(head: OutputHead, head_mode: str, T: int, rng: np.random.Generator) -> np.ndarray:
    shape = (BATCH, head.units) if head_mode == "last" else (T, BATCH, head.units)
    if head.head == "sigmoid":
        return rng.integers(0, 2, shape).astype(np.float64)
    return rng.normal(size=shape)


def _min_abs_z(net: RecurrentNetwork, x: np.ndarray) -> float:
    h = np.zeros((x.shape[1], net.hidden))
    smallest = np.inf
    for t in range(x.shape[0]):
        h, _, cache = cell_forward(net.cell, net.act, x[t], h, None, net.W, net.b_h)
        assert isinstance(cache, RNNCache)
        smallest = min(smallest, float(np.abs(cache.z).min()))
    return smallest


def _inputs(net: RecurrentNetwork, rng: np.random.Generator) -> np.ndarray:
    for _ in range(1000):
        x = rng.normal(size=(net.length, BATCH, net.shape.n_inputs))
        if net.act.name != "relu" or _min_abs_z(net, x) >= KINK_MARGIN:
            return x
    raise AssertionError("no inputs away from the kinks")  # pragma: no cover


@pytest.mark.parametrize("head_mode", ["last", "every"])
@pytest.mark.parametrize("head_name", list(HEADS))
@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_bptt_matches_finite_differences(kind: str, head_name: str, head_mode: str) -> None:
    cell, activation = CELL_KINDS[kind]
    head = HEADS[head_name]
    net = small_net(cell, activation, head, head_mode)
    rng = np.random.default_rng([1, len(kind), len(head_name)])
    x = _inputs(net, rng)
    targets = _targets(head, head_mode, net.length, rng)
    theta = net.theta.copy()
    check = recurrent_gradient_check(net, x, targets, max_entries=None)
    assert check.passed, check.blocks
    assert check.max_relative_error < GRADIENT_CHECK_TOLERANCE
    assert [b.block for b in check.blocks] == ["W_xh", "W_hh", "b_h", "W_hy", "b_y"]
    assert all(b.n_checked == v.size for b, v in zip(check.blocks, _sizes(net), strict=True))
    assert np.array_equal(net.theta, theta)  # every perturbed entry was restored exactly


def _sizes(net: RecurrentNetwork) -> list[np.ndarray]:
    return [net.W_xh, net.W_hh, net.b_h, net.W_hy, net.b_y]


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_regularised_gradient_matches_finite_differences(kind: str) -> None:
    """λ₁·sign(w) + λ₂·w on the weights W_xh, W_hh, W_hy; biases unregularised."""
    cell, activation = CELL_KINDS[kind]
    net = small_net(cell, activation, HEADS["bce"])
    rng = np.random.default_rng(3)
    x = _inputs(net, rng)
    check = recurrent_gradient_check(
        net, x, _targets(HEADS["bce"], "last", net.length, rng), l1=0.01, l2=0.1, max_entries=None
    )
    assert check.passed, check.blocks


@pytest.mark.parametrize("head_mode", ["last", "every"])
@pytest.mark.parametrize("kind", ["rnn-tanh", "gru", "lstm"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_truncated_bptt_is_the_exact_gradient_with_the_state_held_at_the_cuts(
    kind: str, head_mode: str, k: int
) -> None:
    """Truncated BPTT at k is the exact gradient of the loss in which the state entering a cut
    (every k steps back from the last) is a constant: central differences of that loss."""
    cell, activation = CELL_KINDS[kind]
    head = HEADS["mse-linear"]
    net = small_net(cell, activation, head, head_mode, length=7)
    rng = np.random.default_rng(5)
    x = _inputs(net, rng)
    targets = _targets(head, head_mode, net.length, rng)
    check = recurrent_gradient_check(net, x, targets, max_entries=None, truncate=k)
    assert check.passed, check.blocks
    # ... and it is not the full gradient.
    full = full_sequence_pass(net, x, targets)[1]
    truncated = full_sequence_pass(net, x, targets, truncate=k)[1]
    assert not np.allclose(full, truncated, rtol=1e-3)


def test_truncation_at_the_full_length_is_full_bptt_bit_for_bit() -> None:
    net = small_net("lstm", "tanh", HEADS["bce"], "every", length=5)
    rng = np.random.default_rng(6)
    x = _inputs(net, rng)
    targets = _targets(HEADS["bce"], "every", 5, rng)
    full = full_sequence_pass(net, x, targets)[1]
    assert np.array_equal(full, full_sequence_pass(net, x, targets, truncate=5)[1])
    assert np.array_equal(full, full_sequence_pass(net, x, targets, truncate=100)[1])


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_one_cell_step_matches_finite_differences(kind: str) -> None:
    """A single timestep, alone: ∂/∂h_{t−1}, ∂/∂c_{t−1}, ∂/∂W and ∂/∂b of
    ⟨dh, h_t⟩ + ⟨dc, c_t⟩ for random upstream gradients (dh, dc), entry by entry."""
    cell_name, activation = CELL_KINDS[kind]
    net = small_net(cell_name, activation, HEADS["mse-linear"])
    cell, act = CELLS[cell_name], net.act
    rng = np.random.default_rng(11)
    H, F = net.hidden, net.shape.n_inputs
    x = rng.normal(size=(BATCH, F))
    h_prev = rng.normal(0.0, 0.5, size=(BATCH, H))
    c_prev = rng.normal(0.0, 0.5, size=(BATCH, H)) if cell.has_cell_state else None
    dh = rng.normal(size=(BATCH, H))
    dc = rng.normal(size=(BATCH, H)) if cell.has_cell_state else None
    if activation == "relu":
        z = np.concatenate((x, h_prev), axis=1) @ net.W + net.b_h
        assert np.abs(z).min() > KINK_MARGIN  # this seed stays away from the kink

    def objective() -> float:
        h, c, _ = cell_forward(cell, act, x, h_prev, c_prev, net.W, net.b_h)
        value = float(np.sum(dh * h))
        return value + (0.0 if c is None or dc is None else float(np.sum(dc * c)))

    _, _, cache = cell_forward(cell, act, x, h_prev, c_prev, net.W, net.b_h)
    grads = cell_backward(act, dh, dc, cache, net.W)
    backprop = {
        "h_prev": grads.dh_prev,
        "W": weight_contribution(cache, grads.dz),
        "b": np.add.reduce(grads.dz, axis=0),
    }
    arrays = {"h_prev": h_prev, "W": net.W, "b": net.b_h}
    if c_prev is not None:
        assert isinstance(cache, LSTMCache)
        backprop["c_prev"], arrays["c_prev"] = grads.dc_prev, c_prev
    eps = 1e-5
    for name, arr in arrays.items():
        flat = arr.reshape(-1)
        num = np.empty(flat.size)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            up = objective()
            flat[k] = old - eps
            down = objective()
            flat[k] = old
            num[k] = (up - down) / (2 * eps)
        bp = np.asarray(backprop[name]).reshape(-1)
        err = np.linalg.norm(num - bp) / (np.linalg.norm(num) + np.linalg.norm(bp))
        assert err < 1e-8, (name, err)


def test_a_wrong_backward_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: an LSTM backward that forgets the forget gate on ∂L/∂c_{t−1}
    (passing dc back unscaled) is caught."""
    original = cells.lstm_backward

    def forgetful(*args: object, **kwargs: object) -> cells.CellGrads:
        g = original(*args, **kwargs)  # type: ignore[arg-type]
        return cells.CellGrads(g.dz, g.dh_prev, g.dc, g.dc)

    net = small_net("lstm", "tanh", HEADS["bce"])
    rng = np.random.default_rng(2)
    x = _inputs(net, rng)
    targets = _targets(HEADS["bce"], "last", net.length, rng)
    assert recurrent_gradient_check(net, x, targets).passed
    monkeypatch.setattr(cells, "lstm_backward", forgetful)
    check = recurrent_gradient_check(net, x, targets)
    assert not check.passed
    assert {b.block for b in check.blocks if b.relative_error > 1e-3} >= {"W_xh", "W_hh"}
