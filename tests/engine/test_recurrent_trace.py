"""The per-timestep trace: the itemised gradient adds up to the gradient, the state Jacobians
are the cell's derivatives, and every figure is what its definition says."""

from __future__ import annotations

import numpy as np
import pytest

from engine.diagnostics import SATURATION_THRESHOLD
from engine.errors import ConfigError
from engine.losses import OutputHead
from engine.recurrent_cells import LSTMCache, cell_forward
from engine.recurrent_diagnostics import (
    REACH_THRESHOLD,
    full_sequence_pass,
    jacobian_chain,
    last_output_profile,
    reach_of,
    state_jacobian,
)
from engine.recurrent_trainer import RecurrentTrainer
from tests.engine.recurrent_helpers import CELL_KINDS, recurrent_config, small_net

CASES = [
    pytest.param({"cell": cell, "activation": act}, task, id=f"{kind}-{task}")
    for kind, (cell, act) in CELL_KINDS.items()
    for task in ("delay", "sine")
]


@pytest.mark.parametrize(("changes", "task"), CASES)
def test_the_itemised_gradient_adds_up_to_the_gradient_exactly(
    changes: dict[str, object], task: str
) -> None:
    """Each timestep's terms, added in backprop's order t = T−1 … 0, are the gradient bit for
    bit; in time order, to rounding (relative 1e-12)."""
    t = RecurrentTrainer(recurrent_config(task=task, length=7, **changes))  # type: ignore[arg-type]
    t.train(2)
    t.backward(None)
    trace = t.trace()
    assert trace.grads is not None
    T = t.n_timesteps
    parts = [t.contribution(k) for k in range(T)]
    for name in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"):
        terms = [getattr(p, "d" + name) for p in parts]
        present = [(k, term) for k, term in enumerate(terms) if term is not None]
        total = np.zeros_like(trace.grads[name])
        for _, term in reversed(present):
            total += term
        assert np.array_equal(total, trace.grads[name]), name
        forward_order = np.sum([term for _, term in present], axis=0)
        np.testing.assert_allclose(forward_order, trace.grads[name], rtol=1e-12, atol=1e-300)
    # The head reads every step of the sine task, only the last of the delay task.
    head_steps = [k for k, p in enumerate(parts) if p.dW_hy is not None]
    assert head_steps == (list(range(T)) if task == "sine" else [T - 1])


def test_mid_backward_the_gradient_is_the_sum_of_the_timesteps_reached() -> None:
    t = RecurrentTrainer(recurrent_config(length=6))
    t.backward(3)  # t = 5, 4, 3
    trace = t.trace()
    assert trace.grads is not None
    total = np.zeros_like(trace.grads["W_hh"])
    for k in (5, 4, 3):
        total += t.contribution(k).dW_hh
    assert np.array_equal(total, trace.grads["W_hh"])
    with pytest.raises(ConfigError, match=r"^timestep: the backward pass has not reached"):
        t.contribution(2)
    with pytest.raises(ConfigError, match=r"^timestep: must be an integer in 0\.\.5"):
        t.contribution(6)
    assert [s.dh is not None for s in trace.timesteps] == [False] * 3 + [True] * 3
    assert trace.contribution_share is None  # the backward pass is not complete


def test_arrays_appear_as_their_stages_run() -> None:
    t = RecurrentTrainer(recurrent_config(length=5, cell="lstm"))
    trace = t.trace()  # idle: the next batch, nothing computed
    assert all(s.h is None and s.dh is None for s in trace.timesteps)
    assert trace.grads is None and trace.loss is None and trace.reach is None
    t.forward(2)
    trace = t.trace()
    assert [s.h is not None for s in trace.timesteps] == [True, True, False, False, False]
    assert set(trace.timesteps[0].gates) == {"input", "forget", "output", "candidate"}
    assert trace.timesteps[4].gates == {} and trace.prediction is None
    assert trace.jacobians.norm[1] is not None and trace.jacobians.product[1] is None
    t.compute_loss()
    trace = t.trace()
    assert trace.loss is not None and trace.prediction is not None and trace.reach is not None
    assert all(s.dh is None for s in trace.timesteps)


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_norms_and_shares_are_what_their_definitions_say(kind: str) -> None:
    cell, act = CELL_KINDS[kind]
    t = RecurrentTrainer(recurrent_config(length=6, cell=cell, activation=act))
    t.train(3)
    t.backward(None)
    trace = t.trace()
    T, F = t.n_timesteps, t.shape.n_inputs
    hh = np.array([s.contribution_norm_hh for s in trace.timesteps], dtype=np.float64)
    for s in trace.timesteps:
        assert s.dh is not None and s.dh_norm == pytest.approx(np.linalg.norm(s.dh), rel=1e-14)
        c = t.contribution(s.t)
        assert s.contribution_norm_hh == pytest.approx(np.linalg.norm(c.dW_hh), rel=1e-14)
        assert s.contribution_norm_xh == pytest.approx(np.linalg.norm(c.dW_xh), rel=1e-14)
        assert s.x.shape == (trace.batch_indices.size, F)
    assert trace.contribution_share is not None
    np.testing.assert_allclose(trace.contribution_share, np.cumsum(hh) / hh.sum(), rtol=1e-14)
    assert trace.contribution_share[-1] == pytest.approx(1.0, abs=1e-15)
    assert trace.share_first(2) == trace.contribution_share[1]
    assert trace.share_first(0) == 0.0 and trace.share_first(T + 5) == trace.contribution_share[-1]
    # The history row of the step keeps the same ‖∂L/∂h_t‖ (after its update).
    t.update()
    np.testing.assert_array_equal(t.history.column("dh_norm")[-1], trace.dh_norms())


def test_gate_saturation_counts_entries_whose_slope_is_below_5_percent_of_the_largest() -> None:
    t = RecurrentTrainer(recurrent_config(length=4, cell="gru"))
    t.forward(None)
    step = t.trace().timesteps[2]
    for name, values in step.gates.items():
        if name == "candidate":  # tanh: slope 1 − n², largest 1
            slope, top = 1.0 - values**2, 1.0
        else:  # σ: slope s(1 − s), largest ¼
            slope, top = values * (1.0 - values), 0.25
            assert np.all((values > 0.0) & (values < 1.0))
        assert step.saturated[name] == np.mean(slope < SATURATION_THRESHOLD * top)
        assert step.gate_mean[name] == pytest.approx(float(np.mean(values)), rel=1e-14)


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_the_state_jacobian_is_the_cells_derivative(kind: str) -> None:
    """J_t = ∂s_t/∂s_{t−1} for one sample against central differences of one cell step."""
    cell, act = CELL_KINDS[kind]
    net = small_net(cell, act, OutputHead("mse", "linear", 1))
    rng = np.random.default_rng(4)
    H, B = net.hidden, 3
    x = rng.normal(size=(B, net.shape.n_inputs))
    h_prev = rng.normal(0.0, 0.5, (B, H))
    c_prev = rng.normal(0.0, 0.5, (B, H)) if net.cell.has_cell_state else None
    _, _, cache = cell_forward(net.cell, net.act, x, h_prev, c_prev, net.W, net.b_h)
    sample = 1
    jac = state_jacobian(net, cache, sample)

    def state(s_prev: np.ndarray) -> np.ndarray:
        hp = h_prev.copy()
        hp[sample] = s_prev[:H]
        cp = None
        if c_prev is not None:
            cp = c_prev.copy()
            cp[sample] = s_prev[H:]
        h, c, _ = cell_forward(net.cell, net.act, x, hp, cp, net.W, net.b_h)
        return h[sample] if c is None else np.concatenate((h[sample], c[sample]))

    s0 = h_prev[sample] if c_prev is None else np.concatenate((h_prev[sample], c_prev[sample]))
    numeric = np.empty_like(jac)
    eps = 1e-6
    for j in range(s0.size):
        e = np.zeros_like(s0)
        e[j] = eps
        numeric[:, j] = (state(s0 + e) - state(s0 - e)) / (2 * eps)
    np.testing.assert_allclose(jac, numeric, rtol=1e-7, atol=1e-9)
    assert jac.shape == ((2 * H, 2 * H) if isinstance(cache, LSTMCache) else (H, H))


@pytest.mark.parametrize("kind", ["rnn-tanh", "gru", "lstm"])
def test_the_gain_to_the_last_step_is_exact_and_below_the_running_product(kind: str) -> None:
    """gain_to_last[0] = ‖∂s_{T−1}/∂s_0‖₂ for one sample, against central differences of the
    forward pass from s_0; and ‖J_{T−1}⋯J_{t+1}‖₂ ≤ Π‖J_s‖₂ at every t."""
    cell, act = CELL_KINDS[kind]
    net = small_net(cell, act, OutputHead("mse", "linear", 1), length=6)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(net.length, 2, net.shape.n_inputs))
    targets = rng.normal(size=(2, 1))
    rec, _ = full_sequence_pass(net, x, targets)
    sample = 0
    chain = jacobian_chain(net, rec.caches, sample)
    T, H = net.length, net.hidden
    assert chain.gain_to_last[T - 1] == 1.0 and chain.product[T - 1] == 1.0
    for g, p in zip(chain.gain_to_last, chain.product, strict=True):
        assert g is not None and p is not None and g <= p * (1 + 1e-12)

    first = rec.caches[0]
    assert first is not None
    lstm = isinstance(first, LSTMCache)

    def last_state(s0: np.ndarray) -> np.ndarray:
        h = s0[None, :H]
        c = s0[None, H:] if lstm else None
        for t in range(1, T):
            h, c, _ = cell_forward(net.cell, net.act, x[t, :1], h, c, net.W, net.b_h)
        return h[0] if c is None else np.concatenate((h[0], c[0]))

    s0 = first.h[sample] if not lstm else np.concatenate((first.h[sample], first.c[sample]))
    numeric = np.empty((s0.size, s0.size))
    eps = 1e-6
    for j in range(s0.size):
        e = np.zeros_like(s0)
        e[j] = eps
        numeric[:, j] = (last_state(s0 + e) - last_state(s0 - e)) / (2 * eps)
    assert chain.gain_to_last[0] == pytest.approx(np.linalg.norm(numeric, 2), rel=1e-6)
    assert chain.norm[3] == pytest.approx(np.linalg.norm(state_jacobian(net, rec.caches[3], 0), 2))  # type: ignore[arg-type]


def test_reach_counts_back_to_the_first_timestep_at_one_percent_of_the_largest() -> None:
    profile = np.array([1e-6, 0.004, 0.02, 0.5, 3.0, 1.0])
    reach = reach_of(profile)
    assert REACH_THRESHOLD == 0.01
    # 1 % of the largest (3.0) is 0.03: t = 3 (0.5) is the first at or above it.
    assert reach.earliest == 3 and reach.steps == 3
    assert reach_of(np.zeros(4)).steps is None
    assert reach_of(np.array([5.0])).steps == 1


def test_with_a_last_step_head_the_reach_profile_is_the_gradient_at_h() -> None:
    t = RecurrentTrainer(recurrent_config(length=8, cell="rnn"))
    t.backward(None)
    trace = t.trace()
    assert trace.reach is not None
    np.testing.assert_array_equal(trace.reach.profile, trace.dh_norms())


def test_with_a_head_on_every_step_the_reach_follows_the_last_output_alone() -> None:
    """Every output adds its own gradient at its own timestep, so ‖∂L/∂h_0‖ is never small;
    the reach sends the last output's gradient back alone: the gradient at h there is what
    backprop gives when every other output is exactly on target."""
    net = small_net("gru", "tanh", OutputHead("mse", "linear", 1), "every", length=7)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(7, 4, 2))
    targets = rng.normal(size=(7, 4, 1))
    rec, _ = full_sequence_pass(net, x, targets)
    profile = last_output_profile(net, rec, None)
    assert profile is not None and rec.logits is not None
    on_target = rec.logits.copy()
    on_target[-1] = targets[-1]
    alone, _ = full_sequence_pass(net, x, on_target)
    norms = np.array([np.linalg.norm(d) for d in alone.dh])  # type: ignore[arg-type]
    np.testing.assert_allclose(profile, norms, rtol=1e-12)
    assert not np.allclose(profile, [np.linalg.norm(d) for d in rec.dh])  # type: ignore[arg-type]


def test_trace_sample_is_checked() -> None:
    t = RecurrentTrainer(recurrent_config(length=4))
    with pytest.raises(ConfigError, match=r"^sample: must be an integer in 0\.\.7"):
        t.trace(8)
