"""Trace, chain rule, history, boundary and state: shapes and values.

Values are recomputed independently with NumPy from the traced inputs. Tolerances: rtol 1e-12
where the engine and the test may order floating-point operations differently; exact equality
where the arithmetic is the same (θ_new = θ_old + Δθ).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import ACTIVATIONS
from engine.config import DatasetConfig, NetworkConfig
from engine.stages import Stage
from engine.trace import HIST_BINS, summarize
from engine.trainer import Trainer
from tests.engine.helpers import config

RTOL = 1e-12
CFG = config(
    n_samples=60, batch_size=10, layers=((6, "tanh"), (5, "relu"), (4, "sigmoid")), l2=0.01
)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def stepped() -> Trainer:
    t = Trainer(CFG)
    t.train(3)
    return t


def test_idle_trace_shows_the_next_batch_without_consuming_it() -> None:
    t = Trainer(CFG)
    tr = t.trace()
    assert tr.stage == "idle" and tr.loss is None and tr.prediction is None
    assert tr.batch_x.shape == (10, 2) and tr.targets.shape == (10, 1)
    for layer in tr.layers:
        assert layer.W is not None and layer.z is None and layer.dz is None
        assert layer.dW_update is None and set(layer.summaries) == {"W"}
    t.train(1)
    assert np.array_equal(t.trace().batch_indices, tr.batch_indices)


def test_partial_forward_trace() -> None:
    t = Trainer(CFG)
    t.forward(2)
    tr = t.trace()
    assert tr.stage == "forward" and tr.stage_layer == 1
    assert [layer.z is not None for layer in tr.layers] == [True, True, False, False]
    assert set(tr.layers[1].summaries) == {"W", "z", "a"}
    assert tr.layers[0].saturated_fraction is not None and tr.layers[2].dead_fraction is None
    t.compute_loss()
    tr = t.trace()
    assert tr.loss is not None and tr.layers[-1].da is not None and tr.layers[-1].dz is None
    assert t.state().loss == tr.loss


def test_forward_values(stepped: Trainer) -> None:
    tr = stepped.trace()
    assert tr.stage == "update"
    ds_rows = stepped.x_train[tr.batch_indices]
    np.testing.assert_array_equal(tr.batch_x, ds_rows)
    np.testing.assert_array_equal(tr.batch_y, stepped.y_train[tr.batch_indices])
    x = tr.batch_x
    for layer in tr.layers:
        act = ACTIVATIONS[layer.activation]
        assert layer.z is not None and layer.a is not None
        np.testing.assert_allclose(layer.z, x @ layer.W + layer.b, rtol=RTOL)
        np.testing.assert_allclose(layer.a, act.fn(layer.z), rtol=RTOL)
        assert layer.z.shape == (10, layer.fan_out) and layer.W.shape == (
            layer.fan_in,
            layer.fan_out,
        )
        x = layer.a
    assert tr.layers[-1].activation == "linear"  # logits; the sigmoid sits in the loss
    assert tr.prediction is not None
    np.testing.assert_allclose(tr.prediction, sigmoid(tr.layers[-1].z), rtol=RTOL)


def test_backward_values(stepped: Trainer) -> None:
    tr = stepped.trace()
    B = 10
    logits = tr.layers[-1].z
    assert logits is not None
    # binary cross-entropy from logits: dL/dz = (σ(z) − y)/B
    np.testing.assert_allclose(tr.layers[-1].dz, (sigmoid(logits) - tr.targets) / B, rtol=1e-10)
    inputs = [tr.batch_x, *(layer.a for layer in tr.layers[:-1])]
    for k, layer in enumerate(tr.layers):
        act = ACTIVATIONS[layer.activation]
        assert layer.dz is not None and layer.da is not None and layer.z is not None
        np.testing.assert_allclose(layer.dz, layer.da * act.grad(layer.z), rtol=RTOL)
        np.testing.assert_allclose(layer.dW, inputs[k].T @ layer.dz, rtol=RTOL, atol=1e-300)
        np.testing.assert_allclose(layer.db, layer.dz.sum(axis=0), rtol=RTOL, atol=1e-300)
        if k > 0:
            np.testing.assert_allclose(tr.layers[k - 1].da, layer.dz @ layer.W.T, rtol=RTOL)


def test_update_values(stepped: Trainer) -> None:
    tr = stepped.trace()
    net = stepped.network
    for layer, w_now in zip(tr.layers, net.weights, strict=True):
        assert layer.dW_update is not None
        # The traced W is the one this step's forward pass used; the update added ΔW to it.
        assert np.array_equal(w_now, layer.W + layer.dW_update)
        ratio = np.linalg.norm(layer.dW_update) / np.linalg.norm(layer.W)
        assert layer.update_ratio == pytest.approx(ratio, rel=1e-12)
    last = stepped.history.since(2)
    np.testing.assert_allclose(last.update_ratio[0], [x.update_ratio for x in tr.layers], RTOL)
    np.testing.assert_allclose(last.grad_norm[0], [x.grad_norm for x in tr.layers], RTOL)
    np.testing.assert_allclose(last.mean_abs_dz[0], [x.mean_abs_dz for x in tr.layers], RTOL)


def test_summaries_and_fractions(stepped: Trainer) -> None:
    tr = stepped.trace()
    for layer in tr.layers:
        for name in ("W", "z", "a", "dz", "dW"):
            arr = getattr(layer, name)
            s = layer.summaries[name]
            assert s.mean == pytest.approx(arr.mean(), rel=1e-9, abs=1e-15)
            assert s.std == pytest.approx(arr.std(), rel=1e-6, abs=1e-15)
            assert (s.min, s.max) == (arr.min(), arr.max())
            assert s.l2_norm == pytest.approx(np.linalg.norm(arr), rel=1e-12)
            counts, edges = s.histogram
            assert counts.shape == (HIST_BINS,) and edges.shape == (HIST_BINS + 1,)
            assert counts.sum() == arr.size
            if s.min < s.max:
                np.testing.assert_array_equal(edges, np.linspace(s.min, s.max, 31))
                assert np.array_equal(counts, np.histogram(arr, bins=edges)[0])
        act = ACTIVATIONS[layer.activation]
        fprime = act.grad(layer.z)
        assert layer.saturated_fraction == np.mean(np.abs(fprime) < 0.05 * act.max_slope)
        assert layer.mean_abs_fprime == pytest.approx(np.abs(fprime).mean(), rel=1e-12)
        assert layer.mean_abs_dz == pytest.approx(np.abs(layer.dz).mean(), rel=1e-12)
        assert layer.grad_norm == pytest.approx(np.linalg.norm(layer.dW), rel=1e-12)
        assert layer.dead_fraction == np.mean(np.all(layer.a == 0, axis=0))


def test_dead_units_are_counted() -> None:
    t = Trainer(CFG)
    t.network.biases[1][[0, 3]] = -1e3  # relu layer: two of five units never fire
    t.train(1)
    assert t.trace().layers[1].dead_fraction == pytest.approx(0.4)


def test_dead_on_the_training_set_is_dead_for_every_training_row() -> None:
    t = Trainer(CFG)
    t.network.biases[1][[0, 3]] = -1e3  # relu layer: two units never fire on any input
    t.train(2)
    tr = t.trace()
    dead = tr.layers[1].dead_units_train
    assert dead is not None and dead.tolist() == [True, False, False, True, False]
    # Independently: the relu layer's outputs over every training row, at the trace's weights.
    x = t.x_train
    h0 = np.tanh(x @ tr.layers[0].W + tr.layers[0].b)
    h1 = np.maximum(h0 @ tr.layers[1].W + tr.layers[1].b, 0.0)
    assert dead.tolist() == np.all(h1 == 0.0, axis=0).tolist()
    assert tr.layers[-1].dead_units_train is None  # the output layer is linear


def test_loss_stage_gives_each_sample_its_loss() -> None:
    t = Trainer(CFG)
    t.forward(None)
    assert t.trace().sample_losses is None  # not before the loss stage
    t.compute_loss()
    tr = t.trace()
    assert tr.sample_losses is not None and tr.prediction is not None and tr.loss is not None
    assert tr.sample_losses.shape == (10,)
    p, y = tr.prediction[:, 0], tr.targets[:, 0]
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(tr.sample_losses, bce, rtol=1e-9)
    assert float(np.mean(tr.sample_losses)) == pytest.approx(tr.loss, rel=1e-12)


def test_saturation_definition_per_activation() -> None:
    z = np.array([[-10.0, -0.5, 0.0, 0.5, 10.0]])
    lin, relu, tanh = ACTIVATIONS["linear"], ACTIVATIONS["relu"], ACTIVATIONS["tanh"]
    from engine.diagnostics import saturated_fraction

    assert saturated_fraction(lin.grad(z), lin) == 0.0  # linear never saturates
    assert saturated_fraction(relu.grad(z), relu) == 0.6  # z ≤ 0 counts
    assert saturated_fraction(tanh.grad(z), tanh) == 0.4  # |z| = 10


def test_gradient_flow_factors(stepped: Trainer) -> None:
    tr = stepped.trace()
    assert [f.layer for f in tr.gradient_flow] == [0, 1, 2]
    for f in tr.gradient_flow:
        lo, hi = tr.layers[f.layer], tr.layers[f.layer + 1]
        assert f.ratio == pytest.approx(np.linalg.norm(lo.dz) / np.linalg.norm(hi.dz), rel=1e-12)
        assert f.mean_abs_fprime == lo.mean_abs_fprime
        assert f.next_weight_norm == pytest.approx(np.linalg.norm(hi.W), rel=1e-12)


def test_trace_arrays_are_copies(stepped: Trainer) -> None:
    tr = stepped.trace()
    theta = stepped.network.theta.copy()
    tr.layers[0].W[...] = 123.0
    assert tr.layers[0].dW is not None
    tr.layers[0].dW[...] = 7.0
    assert np.array_equal(stepped.network.theta, theta)
    assert not np.array_equal(stepped.trace().layers[0].dW, tr.layers[0].dW)


# --- chain rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "i", "j", "sample"), [(0, 1, 2, 3), (2, 4, 1, 0), (3, 2, 0, 9)])
def test_chain_rule(stepped: Trainer, layer: int, i: int, j: int, sample: int) -> None:
    tr = stepped.trace()
    c = stepped.chain(layer, i, j, sample)
    B = 10
    lt = tr.layers[layer]
    a_in = tr.batch_x if layer == 0 else tr.layers[layer - 1].a
    assert c.batch_size == B
    assert c.w_ij == lt.W[i, j]
    assert c.a_i == a_in[sample, i] and c.z_j == lt.z[sample, j]
    if layer < len(tr.layers) - 1:
        fprime = ACTIVATIONS[lt.activation].grad(lt.z)[sample, j]
        assert c.fprime_z_j == pytest.approx(fprime, rel=RTOL) and c.output is None
        nxt = tr.layers[layer + 1]
        assert [k for k, _, _ in c.terms] == list(range(nxt.fan_out))
        assert c.downstream == pytest.approx(sum(w * d for _, w, d in c.terms), rel=1e-12)
        for k, w, d in c.terms:
            assert w == nxt.W[j, k] and d == pytest.approx(B * nxt.dz[sample, k], rel=RTOL)
    else:  # sigmoid + binary cross-entropy: fused, δ = ŷ − y
        assert c.terms == [] and c.fprime_z_j is None and c.downstream is None
        assert c.output is not None and c.output.case == "fused"
        assert c.delta_j == pytest.approx(c.output.y_hat - c.output.target, rel=1e-10)
    # δ_j is the per-sample gradient (no 1/B): B·dz; the batch average of δ·a is dW.
    assert c.delta_j == pytest.approx(B * lt.dz[sample, j], rel=1e-10, abs=1e-300)
    assert c.grad_sample == c.delta_j * c.a_i
    assert c.batch_average == pytest.approx(lt.dW[i, j], rel=1e-10, abs=1e-300)
    assert c.dW_ij == lt.dW[i, j]
    assert c.regularization_grad == pytest.approx(0.01 * c.w_ij, rel=RTOL)
    assert c.total_grad == c.dW_ij + c.regularization_grad


@pytest.mark.parametrize(
    ("dataset", "loss", "case"),
    [
        ("circle", "binary_cross_entropy", "fused"),
        ("circle", "softmax_cross_entropy", "fused"),
        ("spiral3", "softmax_cross_entropy", "fused"),
        ("plane", "mse", "identity"),
        ("circle", "mse", "through_head"),
        ("spiral3", "mse", "through_head"),
    ],
)
def test_output_delta_is_what_the_head_and_loss_say(dataset: str, loss: str, case: str) -> None:
    """δ_j at the output, as backprop computed it (B·dz), equals the formula ``case`` names,
    evaluated with the terms /chain sends."""
    t = Trainer(config(dataset=dataset, loss=loss, batch_size=8))
    t.train(3)
    t.backward(1)
    last = t.n_layers - 1
    for j in range(t.network.sizes[-1]):
        for sample in (0, 5):
            c = t.chain(last, 1, j, sample)
            out = c.output
            assert out is not None and out.case == case and out.loss == loss
            if case == "fused":
                expected = out.y_hat - out.target
                assert out.dloss_dyhat is None
            elif case == "identity":
                assert out.dloss_dyhat is not None and out.y_hat == c.z_j
                expected = out.dloss_dyhat
            elif out.head == "sigmoid":
                assert out.dloss_dyhat is not None and out.head_derivative is not None
                expected = out.dloss_dyhat * out.head_derivative
            else:  # softmax through the head
                assert out.dloss_dyhat is not None and out.head_coupling is not None
                expected = out.y_hat * (out.dloss_dyhat - out.head_coupling)
            assert c.delta_j == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_chain_rule_before_backward_matches_after() -> None:
    t = Trainer(CFG)
    early = t.chain(1, 2, 3, 4)  # at idle: computed on the next batch without side effects
    t.forward(1)
    mid = t.chain(1, 2, 3, 4)
    t.backward(None)
    late = t.chain(1, 2, 3, 4)
    assert early == mid == late
    assert t.stage == Stage("backward", 0) and t.step == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [((4, 0, 0, 0), "layer"), ((0, 2, 0, 0), "i"), ((0, 0, 6, 0), "j"), ((0, 0, 0, 10), "sample")],
)
def test_chain_rule_rejects_bad_indices(args: tuple[int, int, int, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: must be an integer in 0\\.\\."):
        Trainer(CFG).chain(*args)


def test_trainer_gradient_check() -> None:
    t = Trainer(config(layers=((6, "tanh"), (5, "softplus")), l1=0.001, l2=0.01))
    t.train(1)
    check = t.gradient_check()
    assert check.passed and check.max_relative_error < 1e-6
    assert len(check.layers) == 3 and check.batch_size == 16


# --- history ----------------------------------------------------------------------------------


def test_history_rows_and_since(stepped: Trainer) -> None:
    stepped.train(7)
    h = stepped.history
    assert len(h) == 10
    full = h.since(0)
    assert full.step.tolist() == list(range(1, 11)) and full.total == 10
    assert full.grad_norm.shape == (10, 4) and full.update_ratio.shape == (10, 4)
    assert full.train_loss[-1] == stepped.train_loss
    assert full.test_accuracy[-1] == stepped.test_accuracy
    assert h.since(7).step.tolist() == [8, 9, 10]
    assert h.since(10).step.tolist() == []


def test_a_rows_bytes_tell_whether_it_changed(stepped: Trainer) -> None:
    """A session store compares a saved row's bytes with the row now: equal for an unchanged
    row (and its copy), different once the row's evaluation is filled in again."""
    h = stepped.history
    last = len(h) - 1
    before = h.row_bytes(last)
    assert h.copy().row_bytes(last) == before and h.row_bytes(last - 1) != before
    h.evaluate_last((9.0, 0.5, 9.0, 0.5))
    assert h.row_bytes(last) != before
    with pytest.raises(IndexError):
        h.row_bytes(len(h))
    with pytest.raises(IndexError):
        h.row_bytes(-1)


def test_evaluation_every_k_steps_and_a_minibatch_loss_every_step() -> None:
    every, sparse = Trainer(CFG), Trainer(CFG)
    every.train(12, evaluate_every=1)
    sparse.train(12, evaluate_every=5)
    evaluated = sparse.history.column("evaluated")
    assert np.flatnonzero(evaluated).tolist() == [4, 9, 11]  # steps 5, 10 and the last, 12
    for name in ("train_loss", "test_accuracy"):
        dense_col, sparse_col = every.history.column(name), sparse.history.column(name)
        assert np.array_equal(dense_col[evaluated], sparse_col[evaluated])  # same parameters
        assert np.isnan(sparse_col[~evaluated]).all()  # never a stale number in between
    # The minibatch loss is the loss each step's backward pass started from.
    staged = Trainer(CFG)
    for _ in range(12):
        staged.compute_loss()
        loss = staged.state().loss
        staged.update()
        assert loss == staged.history.column("batch_loss")[-1]
    assert np.array_equal(staged.history.column("batch_loss"), sparse.history.column("batch_loss"))


def test_evaluation_interval_keeps_evaluation_a_small_share_of_training() -> None:
    small_batch_big_data = Trainer(config(n_samples=2000, batch_size=8))
    k = small_batch_big_data.evaluation_interval
    assert k > 1  # evaluating 2000 points after every 8-point step would dominate
    cost = small_batch_big_data.cost
    train, evaluation = cost.train_seconds, cost.evaluation_seconds
    assert evaluation / (k * train) <= 0.25 < evaluation / ((k - 1) * train)


def test_history_downsampling_keeps_the_last_point() -> None:
    t = Trainer(CFG)
    t.train(1001)
    s = t.history.since(0, max_points=100)
    assert len(s.step) <= 100 and s.step[0] == 1 and s.step[-1] == 1001
    steps = np.diff(s.step)
    assert steps.min() >= 9 and steps.max() <= 11  # evenly spread


def test_history_grows_past_its_initial_capacity() -> None:
    t = Trainer(CFG)
    t.train(1500)
    assert len(t.history) == 1500
    assert np.array_equal(t.history.column("step"), np.arange(1, 1501))


# --- boundary ---------------------------------------------------------------------------------


def _check_grid(t: Trainer, G: int) -> None:
    b = t.boundary(G)
    xmin, xmax, ymin, ymax = t.dataset.domain
    assert b.x[0] == xmin and b.x[-1] == xmax and b.y[0] == ymin and b.y[-1] == ymax
    r, c = 2, G - 3
    from engine.datasets import transform

    point = transform(np.array([[b.x[c], b.y[r]]]), t.config.features)
    pred = t.network.predict(point)[0]
    if t.dataset.task == "multiclass":
        assert b.output.shape == (G, G, 3)
        np.testing.assert_allclose(b.output.sum(axis=2), 1.0, rtol=1e-12)
        np.testing.assert_allclose(b.output[r, c], pred, rtol=1e-12)
    else:
        assert b.output.shape == (G, G)
        assert b.output[r, c] == pytest.approx(pred[0], rel=1e-12)
    assert [h.shape for h in b.hidden] == [(u.units, G, G) for u in t.config.layers]
    hidden0 = t.network.forward_layers(point)[0][0]
    np.testing.assert_allclose(b.hidden[0][:, r, c], hidden0, rtol=1e-12)


@pytest.mark.parametrize("dataset", ["circle", "spiral3", "plane"])
def test_boundary_grid(dataset: str) -> None:
    t = Trainer(config(dataset=dataset, features=("x1", "x2", "x1x2")))
    t.train(5)
    _check_grid(t, 9)
    if dataset == "circle":
        b = t.boundary(9)
        assert b.output.min() >= 0.0 and b.output.max() <= 1.0


def test_boundary_one_dimensional() -> None:
    t = Trainer(NetworkConfig(dataset=DatasetConfig(name="sine"), features=("x1", "sin_x1")))
    b = t.boundary(50)
    assert b.output.shape == (50,) and [h.shape for h in b.hidden] == [(16, 50)] * 3
    raw = b.x.reshape(-1, 1)
    from engine.datasets import transform

    np.testing.assert_allclose(
        b.output, t.network.predict(transform(raw, ("x1", "sin_x1")))[:, 0], rtol=1e-12
    )


def test_boundary_rejects_bad_grid() -> None:
    t = Trainer(CFG)
    with pytest.raises(ValueError, match=r"^grid: must be an integer in 2\.\.128"):
        t.boundary(129)


# --- state ------------------------------------------------------------------------------------


def test_state_fields() -> None:
    t = Trainer(CFG.replace(l2=0.1))
    s = t.state()
    assert (s.step, s.stage, s.cursor_layer, s.n_layers, s.epoch) == (0, "idle", None, 4, 0)
    assert s.loss is None and not s.diverged and s.divergence is None
    assert 0.0 <= s.train_accuracy <= 1.0 and s.batch_size == 10
    w = t.network.theta * t.network.decay_mask
    assert s.regularization_loss == pytest.approx(0.5 * 0.1 * float(w @ w), rel=1e-12)
    t.backward(2)
    s = t.state()
    assert (s.stage, s.cursor_layer) == ("backward", 2) and s.loss is not None
    assert t.trace().regularization_loss == pytest.approx(s.regularization_loss, rel=1e-12)


def test_summarize_single_array() -> None:
    s = summarize(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (s.mean, s.min, s.max) == (2.5, 1.0, 4.0)
    assert s.std == pytest.approx(np.std([1, 2, 3, 4])) and s.histogram[0].sum() == 4
    flat = summarize(np.zeros(3))
    assert flat.histogram[1][0] == -0.5 and flat.histogram[1][-1] == 0.5


def test_summaries_survive_finite_values_whose_range_overflows() -> None:
    """A diverging run reaches ±1e308: finite ends whose difference is inf must still bin."""
    from engine.trace import summarize, summarize_many

    huge = np.array([-1.5e308, -1.0, 0.0, 2.0, 1.7e308])
    for summary in [
        summarize(huge),
        *summarize_many([huge, np.ones(3)]),
        summarize(np.tile(huge, 20_000)),
    ]:
        counts, edges = summary.histogram
        assert int(counts.sum()) in {5, 3, 100_000}
        assert np.all(np.isfinite(edges))
        assert np.all(np.diff(edges) > 0)
    counts, _ = summarize(huge).histogram
    assert counts[0] == 1  # -1.5e308 in the first bin
    assert counts[-1] == 1  # 1.7e308 in the last (closed) bin


@pytest.mark.parametrize(
    "values",
    [
        np.full(7, 3e17),  # a constant too large for ±0.5 padding
        np.array([1e-320, 2e-320, 3e-320]),  # a subnormal range: 30 / range overflows
        np.array([-np.inf, 1.0, np.nan, 2.0]),
    ],
    ids=["huge-constant", "subnormal-range", "non-finite"],
)
def test_summaries_of_degenerate_arrays_do_not_raise(values: np.ndarray) -> None:
    from engine.trace import summarize

    counts, edges = summarize(values).histogram
    assert int(counts.sum()) == int(np.isfinite(values).sum())
    assert np.all(np.diff(edges) >= 0)


def test_history_stays_bounded_and_keeps_recent_steps_at_full_resolution() -> None:
    from engine.history import History

    history = History(n_layers=2, max_rows=100)
    for step in range(1, 1001):
        history.append(step, 1.0 / step, (1.0 / step, 0.0, 0.5, 0.5), *[np.ones(2)] * 3)
    steps = history.column("step")
    assert len(history) <= 100
    assert steps[0] == 1  # the first step survives thinning
    assert steps[-1] == 1000
    assert np.all(np.diff(steps) > 0)
    assert np.array_equal(steps[-25:], np.arange(976, 1001))  # recent rows are all there
    assert history.since(990).step.tolist() == list(range(991, 1001))
    restored = History.from_dict(history.to_dict())
    assert np.array_equal(restored.column("step"), steps)
