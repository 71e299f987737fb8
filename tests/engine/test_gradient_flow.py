"""Vanishing and exploding gradients, reproduced at step 0 (full batch of the 200 circle
training points; 10 hidden layers of 16 units; the backward pass of the first step).

Vanishing: sigmoid's slope is at most ¼, and Xavier keeps ‖W ᵀv‖ ≈ ‖v‖, so every layer shrinks
the gradient by roughly mean σ′ ≈ 0.2: over ten layers ≈ 1e-7. Required: ‖dW_first‖/‖dW_last‖
< 1e-3 for every one of 10 weight seeds (``last`` = the output layer).

ReLU + He keeps the gradient's scale (He's σ² = 2/n undoes relu's halving); the ratio is below 1
mainly because the first layer has 2×16 weights against the output layer's 16×1 and the inputs
are raw coordinates. Required: the median over 10 seeds lies within [0.1, 10] (single seeds
measured 0.05–0.65).

Exploding: with linear hidden layers, dz_l = dz_{l+1}·W_{l+1}ᵀ and for W with i.i.d. N(0, σ²)
entries E‖dz_l‖² = n·σ²·‖dz_{l+1}‖² (n = 16 units). With σ = 1 every layer multiplies the
gradient norm by about √n·σ = 4, so from the last hidden layer (9) back to the first (0) by
about 4⁹ ≈ 2.6e5. Required: ‖dz_0‖/‖dz_9‖ > 1e4 for every seed (measured ≥ 1e5), and the
geometric mean of the per-layer flow ratios within [2, 8]. With lecun_normal (σ = 1/√n) the
factor is 1: the same ratio stays within [0.1, 10].
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import ACTIVATIONS
from engine.config import DatasetConfig, InitConfig, LayerConfig, NetworkConfig
from engine.trace import StepTrace
from engine.trainer import Trainer

SEEDS = range(10)


def step0_trace(activation: str, init: str, scale: float | None, seed: int) -> StepTrace:
    cfg = NetworkConfig(
        dataset=DatasetConfig(name="circle", n_samples=400),
        layers=(LayerConfig(16, activation),) * 10,
        init=InitConfig(init, scale),
        batch_size=400,  # ≥ the 200 training rows: full batch
        seed=seed,
    )
    t = Trainer(cfg)
    t.backward(None)
    assert t.step == 0
    return t.trace()


def first_over_last_dw(tr: StepTrace) -> float:
    first, last = tr.layers[0].grad_norm, tr.layers[-1].grad_norm
    assert first is not None and last is not None
    return first / last


def test_sigmoid_with_xavier_vanishes() -> None:
    ratios = [first_over_last_dw(step0_trace("sigmoid", "xavier_uniform", None, s)) for s in SEEDS]
    assert max(ratios) < 1e-3
    tr = step0_trace("sigmoid", "xavier_uniform", None, 0)
    for factor in tr.gradient_flow:
        assert factor.mean_abs_fprime is not None and factor.mean_abs_fprime <= 0.25


def test_relu_with_he_keeps_the_scale() -> None:
    ratios = [first_over_last_dw(step0_trace("relu", "he_normal", None, s)) for s in SEEDS]
    assert 0.1 <= float(np.median(ratios)) <= 10.0


def _dz_ratio(tr: StepTrace) -> float:
    dz_first, dz_last_hidden = tr.layers[0].dz, tr.layers[-2].dz
    assert dz_first is not None and dz_last_hidden is not None
    return float(np.linalg.norm(dz_first) / np.linalg.norm(dz_last_hidden))


def test_large_normal_init_on_linear_layers_explodes() -> None:
    for seed in SEEDS:
        tr = step0_trace("linear", "normal", 1.0, seed)
        assert _dz_ratio(tr) > 1e4
        hidden_flow = [f.ratio for f in tr.gradient_flow[:-1] if f.ratio is not None]
        assert len(hidden_flow) == 9
        geometric_mean = float(np.exp(np.mean(np.log(hidden_flow))))
        assert 2.0 <= geometric_mean <= 8.0
        # For linear layers the flow ratio is explained by the weights alone: f′ ≡ 1.
        assert all(f.mean_abs_fprime == 1.0 for f in tr.gradient_flow)


def test_lecun_init_on_linear_layers_keeps_the_scale() -> None:
    for seed in SEEDS:
        assert 0.1 <= _dz_ratio(step0_trace("linear", "lecun_normal", None, seed)) <= 10.0


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_flow_ratio_is_exactly_the_product_of_its_two_gains(activation: str) -> None:
    """‖dz_l‖/‖dz_{l+1}‖ = (‖da_l‖/‖dz_{l+1}‖)·(‖dz_l‖/‖da_l‖) for every layer, to rounding
    (relative 1e-12), and each gain is the norm ratio it names."""
    t = Trainer(
        NetworkConfig(
            dataset=DatasetConfig(name="circle", n_samples=100),
            layers=(LayerConfig(8, activation),) * 4,
            init=InitConfig("normal", 0.7),
            batch_size=16,
        )
    )
    t.train(2)
    t.backward(None)
    tr = t.trace()
    assert len(tr.gradient_flow) == 4
    for f in tr.gradient_flow:
        lo, hi = tr.layers[f.layer], tr.layers[f.layer + 1]
        assert lo.da is not None and lo.dz is not None and hi.dz is not None
        if f.status == "no_gradient":  # e.g. every relu unit above is dead
            assert np.linalg.norm(hi.dz) == 0.0 or np.linalg.norm(lo.da) == 0.0
            continue
        assert f.status == "ok"
        assert f.ratio is not None and f.weight_gain is not None and f.activation_gain is not None
        assert f.weight_gain * f.activation_gain == pytest.approx(f.ratio, rel=1e-12)
        assert f.weight_gain == pytest.approx(
            np.linalg.norm(lo.da) / np.linalg.norm(hi.dz), rel=1e-12
        )
        assert f.activation_gain == pytest.approx(
            np.linalg.norm(lo.dz) / np.linalg.norm(lo.da), rel=1e-12
        )


def test_flow_before_the_backward_pass_says_not_computed_and_dead_layers_say_no_gradient() -> None:
    def fresh() -> Trainer:
        return Trainer(
            NetworkConfig(
                dataset=DatasetConfig(name="circle", n_samples=100),
                layers=(LayerConfig(8, "relu"),) * 3,
                batch_size=16,
            )
        )

    t = fresh()
    t.backward(1)  # only the output layer's dz exists
    assert {f.status for f in t.trace().gradient_flow} == {"not_computed"}
    # Every unit of the last hidden layer dead: no gradient reaches below it. That is a
    # result — zeros, and "no gradient" where a ratio has no value — not a missing number.
    t = fresh()
    t.network.biases[2][...] = -1e6
    t.backward(None)
    tr = t.trace()
    assert tr.layers[2].dead_fraction == 1.0
    assert tr.layers[1].grad_norm == 0.0 and tr.layers[0].grad_norm == 0.0
    top = tr.gradient_flow[2]
    assert top.status == "ok" and top.ratio == 0.0 and top.activation_gain == 0.0
    assert [f.status for f in tr.gradient_flow[:2]] == ["no_gradient", "no_gradient"]
