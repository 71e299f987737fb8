"""Each optimiser's first two updates against the textbook rule, worked out by hand here.

θ₀ and two gradients g₁, g₂ are fixed vectors; the expected θ₁, θ₂ are written out from the
formulas (not by calling the engine). Tolerance: relative 1e-14 (a different but equivalent
order of floating-point operations may differ in the last bit or two).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.optimizers import OPTIMIZERS, export_state, import_state, resolve_params

THETA0 = np.array([0.5, -1.0, 2.0, 0.0, 3.0])
G1 = np.array([0.1, -0.2, 0.3, -0.4, 0.0])
G2 = np.array([-0.05, 0.25, 0.1, 0.2, 1.0])
MASK = np.array([1.0, 1.0, 1.0, 0.0, 0.0])  # last two entries play the role of biases
LR = 0.1
RTOL = 1e-14


def run_two(name: str, hp: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    theta = THETA0.copy()
    state: dict[str, object] = {}
    step = OPTIMIZERS[name].step
    step(theta, G1, state, LR, hp, MASK)
    theta1 = theta.copy()
    step(theta, G2, state, LR, hp, MASK)
    return theta1, theta.copy()


def check(name: str, hp: dict[str, float], e1: np.ndarray, e2: np.ndarray) -> None:
    t1, t2 = run_two(name, hp)
    np.testing.assert_allclose(t1, e1, rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(t2, e2, rtol=RTOL, atol=1e-15)


def test_sgd() -> None:
    e1 = THETA0 - LR * G1
    check("sgd", {}, e1, e1 - LR * G2)


@pytest.mark.parametrize("mu", [0.9, 0.5])
def test_momentum(mu: float) -> None:
    v1 = G1  # v ← μ·0 + g₁
    e1 = THETA0 - LR * v1
    v2 = mu * v1 + G2
    check("momentum", {"momentum": mu}, e1, e1 - LR * v2)


def test_nesterov() -> None:
    mu = 0.9
    v1 = G1
    e1 = THETA0 - LR * (G1 + mu * v1)
    v2 = mu * v1 + G2
    check("nesterov", {"momentum": mu}, e1, e1 - LR * (G2 + mu * v2))


def test_rmsprop() -> None:
    rho, eps = 0.9, 1e-8
    s1 = (1 - rho) * G1**2
    e1 = THETA0 - LR * G1 / (np.sqrt(s1) + eps)
    s2 = rho * s1 + (1 - rho) * G2**2
    check("rmsprop", {}, e1, e1 - LR * G2 / (np.sqrt(s2) + eps))


def test_adagrad() -> None:
    eps = 1e-8
    s1 = G1**2
    e1 = THETA0 - LR * G1 / (np.sqrt(s1) + eps)
    s2 = s1 + G2**2
    check("adagrad", {}, e1, e1 - LR * G2 / (np.sqrt(s2) + eps))


def _adam_steps(b1: float, b2: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    m1, v1 = (1 - b1) * G1, (1 - b2) * G1**2
    d1 = (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    m2, v2 = b1 * m1 + (1 - b1) * G2, b2 * v1 + (1 - b2) * G2**2
    d2 = (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    return d1, d2


def test_adam() -> None:
    d1, d2 = _adam_steps(0.9, 0.999, 1e-8)
    # Step 1 of Adam moves every parameter with a nonzero gradient by ≈ η·sign(g).
    e1 = THETA0 - LR * d1
    np.testing.assert_allclose(np.abs(e1 - THETA0)[:4], LR, rtol=1e-6)
    check("adam", {}, e1, e1 - LR * d2)


def test_adam_custom_betas() -> None:
    d1, d2 = _adam_steps(0.8, 0.99, 1e-6)
    e1 = THETA0 - LR * d1
    check("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, e1, e1 - LR * d2)


def test_adamw_decays_weights_only() -> None:
    wd = 0.1
    d1, d2 = _adam_steps(0.9, 0.999, 1e-8)
    e1 = THETA0 - LR * (d1 + wd * THETA0 * MASK)
    e2 = e1 - LR * (d2 + wd * e1 * MASK)
    check("adamw", {"weight_decay": wd}, e1, e2)
    assert e2[4] == pytest.approx(THETA0[4] - LR * d2[4])  # the "bias" is not decayed


def test_all_optimisers_are_covered_and_documented() -> None:
    assert list(OPTIMIZERS) == [
        "sgd",
        "momentum",
        "nesterov",
        "rmsprop",
        "adagrad",
        "adam",
        "adamw",
    ]
    for opt in OPTIMIZERS.values():
        assert "θ ←" in opt.formula
        assert opt.step.__doc__ and "θ" in opt.step.__doc__
    assert OPTIMIZERS["adam"].defaults == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def test_returned_delta_is_the_change_applied() -> None:
    for name in OPTIMIZERS:
        theta = THETA0.copy()
        delta = OPTIMIZERS[name].step(theta, G1, {}, LR, {}, MASK)
        np.testing.assert_array_equal(theta, THETA0 + delta)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_export_import_continues_exactly(name: str) -> None:
    step = OPTIMIZERS[name].step
    theta = THETA0.copy()
    state: dict[str, object] = {}
    step(theta, G1, state, LR, {}, MASK)
    copy_theta = theta.copy()
    restored = import_state(json.loads(json.dumps(export_state(state))))
    step(theta, G2, state, LR, {}, MASK)
    step(copy_theta, G2, restored, LR, {}, MASK)
    assert np.array_equal(theta, copy_theta)
    assert restored["t"] == state["t"] == 2


def test_resolve_params_fills_defaults_and_rejects_unknown() -> None:
    assert resolve_params("momentum", {}) == {"momentum": 0.9}
    assert resolve_params("adam", {"beta1": 0.5})["beta1"] == 0.5
    with pytest.raises(ValueError, match="valid: beta1, beta2, eps"):
        resolve_params("adam", {"momentum": 0.9})


def test_nan_gradient_does_not_raise() -> None:
    theta = THETA0.copy()
    with np.errstate(all="ignore"):
        OPTIMIZERS["adam"].step(theta, np.full(5, math.nan), {}, LR, {}, MASK)
    assert np.isnan(theta).all()
