"""Activations, initialisers and losses: definitions, derivatives, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.activations import ACTIVATIONS, SATURATION_SHARE, get_activation, saturation_zone
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES, TASK_LOSSES, default_loss, output_head

Z = np.linspace(-4.0, 4.0, 81) + 0.013  # no point exactly at a kink


def test_activation_names_in_display_order() -> None:
    assert list(ACTIVATIONS) == [
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "gelu",
        "softplus",
        "swish",
        "sine",
    ]
    assert get_activation("silu") is ACTIVATIONS["swish"]
    with pytest.raises(KeyError, match="valid: linear, sigmoid"):
        get_activation("mish")


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_derivative_matches_central_difference(name: str) -> None:
    act = ACTIVATIONS[name]
    eps = 1e-6
    numeric = (act.fn(Z + eps) - act.fn(Z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.grad(Z), numeric, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(act.grad(Z, act.fn(Z)), act.grad(Z))
    assert act.formula.startswith("f(z) =") and act.derivative_formula.startswith("f′(z) =")


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_max_slope_is_the_supremum_of_the_derivative(name: str) -> None:
    act = ACTIVATIONS[name]
    z = np.linspace(-20.0, 20.0, 400_001)
    assert np.abs(act.grad(z)).max() == pytest.approx(act.max_slope, rel=1e-6)


def test_specific_definitions() -> None:
    z = np.array([-2.0, 3.0])
    np.testing.assert_allclose(ACTIVATIONS["leaky_relu"].fn(z), [-0.02, 3.0])
    np.testing.assert_allclose(ACTIVATIONS["elu"].fn(z), [math.exp(-2) - 1, 3.0])
    gelu = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    np.testing.assert_allclose(ACTIVATIONS["gelu"].fn(z), gelu, rtol=1e-15)
    assert "tanh approximation" in ACTIVATIONS["gelu"].formula
    np.testing.assert_allclose(ACTIVATIONS["swish"].fn(z), z / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(ACTIVATIONS["softplus"].fn(z), np.log1p(np.exp(z)), rtol=1e-15)
    assert "silu" in ACTIVATIONS["swish"].formula


def test_activations_do_not_overflow() -> None:
    z = np.array([-1e308, -800.0, 800.0, 1e308])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"):
            act = ACTIVATIONS[name]
            assert np.isfinite(act.fn(z[1:3])).all() and np.isfinite(act.grad(z[1:3])).all()
        assert ACTIVATIONS["sigmoid"].fn(z).tolist() == [0.0, 0.0, 1.0, 1.0]


# --- initialisers -----------------------------------------------------------------------------


def test_initializer_names() -> None:
    assert list(INITIALIZERS) == [
        "zeros",
        "constant",
        "uniform",
        "normal",
        "xavier_uniform",
        "xavier_normal",
        "he_uniform",
        "he_normal",
        "lecun_normal",
        "orthogonal",
    ]


@pytest.mark.parametrize(
    ("name", "scale", "expected_std"),
    [
        ("uniform", 0.3, 0.3 / math.sqrt(3)),
        ("normal", 0.2, 0.2),
        ("xavier_uniform", None, math.sqrt(2 / (200 + 100))),
        ("xavier_normal", None, math.sqrt(2 / (200 + 100))),
        ("he_uniform", None, math.sqrt(2 / 200)),
        ("he_normal", 2.0, 2.0 * math.sqrt(2 / 200)),
        ("lecun_normal", None, math.sqrt(1 / 200)),
    ],
)
def test_initializer_statistics(name: str, scale: float | None, expected_std: float) -> None:
    w = INITIALIZERS[name].fn(np.random.default_rng(0), 200, 100, scale)
    assert w.shape == (200, 100)
    assert w.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(w.mean()) < 0.05 * expected_std * 10


def test_constant_zeros_orthogonal() -> None:
    rng = np.random.default_rng(1)
    assert (INITIALIZERS["zeros"].fn(rng, 3, 4) == 0).all()
    assert (INITIALIZERS["constant"].fn(rng, 3, 4, 0.7) == 0.7).all()
    q = INITIALIZERS["orthogonal"].fn(rng, 6, 4, None)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    q = INITIALIZERS["orthogonal"].fn(rng, 3, 5, 2.0)
    np.testing.assert_allclose(q @ q.T, 4.0 * np.eye(3), atol=1e-12)
    assert not INITIALIZERS["zeros"].uses_scale and INITIALIZERS["normal"].uses_scale


# --- losses -----------------------------------------------------------------------------------


def test_loss_names_and_tasks() -> None:
    assert list(LOSSES) == ["mse", "binary_cross_entropy", "softmax_cross_entropy"]
    assert default_loss("binary") == "binary_cross_entropy"
    assert default_loss("multiclass") == "softmax_cross_entropy"
    assert default_loss("regression") == "mse"
    assert output_head("binary", 2, None).units == 1
    assert output_head("binary", 2, "softmax_cross_entropy").units == 2
    assert output_head("multiclass", 3, "mse").head == "softmax"
    assert output_head("regression", 1, None).head == "linear"
    with pytest.raises(ValueError, match=r"^loss: .*valid: mse"):
        output_head("regression", 1, "binary_cross_entropy")
    assert set(TASK_LOSSES) == {"binary", "multiclass", "regression"}


def test_mse_is_batch_mean_of_half_sum_of_squares() -> None:
    z = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 3.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0], [3.0, 0.0]])
    loss, g = LOSSES["mse"].fn(z, y)
    assert loss == pytest.approx((0.5 * 1 + 0.5 * (1 + 4) + 0.5 * 9) / 3)
    np.testing.assert_allclose(g, (z - y) / 3)


def test_cross_entropies_are_stable_and_averaged() -> None:
    z = np.array([[800.0], [-800.0], [0.0]])
    y = np.array([[0.0], [0.0], [1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, g = LOSSES["binary_cross_entropy"].fn(z, y)
    assert loss == pytest.approx((800.0 + 0.0 + math.log(2)) / 3)
    np.testing.assert_allclose(g, [[1 / 3], [0.0], [-0.5 / 3]])
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    onehot = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, g = LOSSES["softmax_cross_entropy"].fn(logits, onehot)
    p = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert loss == pytest.approx((1000.0 - math.log(p[2])) / 2)
    np.testing.assert_allclose(g[1], (p - [0, 0, 1]) / 2)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_saturation_zone_says_where_the_slope_is_below_five_percent(name: str) -> None:
    """Each bound in the description sits where |f′| crosses 5% of its largest slope."""
    act = ACTIVATIONS[name]
    text = saturation_zone(act).replace("−", "-")
    limit = SATURATION_SHARE * act.max_slope

    def flat(z: float) -> bool:
        return bool(abs(act.grad(np.array([z]))[0]) < limit)

    if text == "nowhere":
        assert not any(flat(z) for z in np.linspace(-10, 10, 2001))
        return
    for zone in text.split(" or "):
        if zone.startswith("|z| > "):
            c = float(zone[6:])
            assert flat(c + 0.02) and flat(-c - 0.02) and not flat(c - 0.02)
        elif zone.startswith("z < ") or zone == "z ≤ 0":
            c = 0.0 if zone == "z ≤ 0" else float(zone[4:])
            assert flat(c - 0.02) and not flat(c + 0.02)
        elif " < z < " in zone:
            lo, hi = (float(v) for v in zone.split(" < z < "))
            assert flat((lo + hi) / 2) and not flat(lo - 0.02) and not flat(hi + 0.02)
        else:
            assert name == "sine" and flat(np.pi / 2) and not flat(0.0)
