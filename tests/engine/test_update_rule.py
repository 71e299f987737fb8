"""The update of one weight, explained term by term, adds up to what the optimiser applied."""

from __future__ import annotations

import pytest

from engine.config import OptimizerConfig
from engine.optimizers import OPTIMIZERS
from engine.trainer import Trainer
from tests.engine.helpers import config

WEIGHTS = [(0, 1, 2), (1, 3, 4), (2, 4, 0)]  # (layer, i, j): input, hidden and output layers


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    "extras", [{}, {"l1": 0.002, "l2": 0.01, "grad_clip": 0.05}], ids=["plain", "reg+clip"]
)
def test_the_explained_update_is_the_applied_update(name: str, extras: dict[str, float]) -> None:
    t = Trainer(config(optimizer=OptimizerConfig(name), batch_size=8, **extras))
    t.train(4)
    t.update()  # a staged step: forward, loss, backward, update
    for layer, i, j in WEIGHTS:
        u = t.update_rule(layer, i, j)
        assert u is not None and u.optimizer == name and u.t == 5
        assert u.w_before == t.network.weights_prev[layer][i, j]
        assert u.w_after == t.network.weights[layer][i, j] == u.w_before + u.delta
        assert u.grad_data == t.trace().layers[layer].dW[i, j]  # the dW on the edge
        reg = u.grad_data + u.l2_term + u.l1_term
        scale = 1.0 if u.clip_scale is None else u.clip_scale
        assert u.grad == pytest.approx(reg * scale, rel=1e-12, abs=1e-300)
        assert (u.clip_scale is None) == ("grad_clip" not in extras)
        assert u.terms[-1].symbol == "Δw"
        assert u.terms[-1].value == pytest.approx(u.delta, rel=1e-12, abs=1e-300)


def test_no_explanation_before_the_update_and_the_numbers_of_the_update_that_ran() -> None:
    t = Trainer(config(batch_size=8))
    assert t.update_rule(0, 0, 0) is None  # nothing updated yet
    t.train(2)
    t.forward(1)
    assert t.update_rule(0, 0, 0) is None  # mid-step: this step's update has not run
    t.update()
    before = t.update_rule(1, 2, 3)
    t.set_hyperparameters(learning_rate=0.5)  # a change after the update does not rewrite it
    after = t.update_rule(1, 2, 3)
    assert before == after and after is not None and after.learning_rate == 0.01


def test_a_large_step_explains_its_update_after_dropping_its_arrays() -> None:
    kept, dropped = Trainer(config(batch_size=8)), Trainer(config(batch_size=8))
    dropped.keep_layer_bytes = 0
    for t in (kept, dropped):
        t.train(3)
    assert kept.update_rule(1, 0, 1) == dropped.update_rule(1, 0, 1) is not None


# The optimiser quantity each state array holds, and the term that computes its new value.
STATE_TERMS = {"velocity": "v", "sq_avg": "s", "sq_sum": "s", "m": "m", "v": "v"}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_state_before_is_what_the_terms_start_from(name: str) -> None:
    """``state_before`` is the optimiser's state of this weight before the update, and each
    state term's value is that state after the update (so a reader can redo the arithmetic)."""
    t = Trainer(config(optimizer=OptimizerConfig(name), batch_size=8))
    t.train(3)
    net = t.network
    layer, i, j = 1, 3, 4
    k = net.weight_offset(layer) + i * net.sizes[layer + 1] + j
    before = {key: float(v[k]) for key, v in t.optimizer_state.items() if not isinstance(v, int)}
    t.update()
    u = t.update_rule(layer, i, j)
    assert u is not None
    assert dict(u.state_before) == before
    assert set(u.state_before) == set(OPTIMIZERS[name].state_keys)
    by_symbol = {term.symbol: term.value for term in u.terms}
    for key in u.state_before:
        assert by_symbol[STATE_TERMS[key]] == pytest.approx(
            float(t.optimizer_state[key][k]), rel=1e-12, abs=1e-300
        )
