"""The API explains its own numbers: the output layer's δ by its head and loss, the flow ratio
by two exact gains, the update of one weight term by term, and what each data set can feed.

Each test compares the explanation with the numbers the rest of the API shows (the trace's
dz, dW, W and ΔW), so a wrong explanation fails here even if it looks plausible.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import SMALL, create

TIGHT = {"rel": 1e-12, "abs": 1e-15}


def post(client: TestClient, session: str, route: str, body: Any = None) -> dict[str, Any]:
    response = client.post(f"/api/sessions/{session}/{route}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def get(client: TestClient, session: str, route: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{session}/{route}", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# ----------------------------------------------------------------------------- item 1


@pytest.mark.parametrize(
    ("config", "head", "case"),
    [
        ({}, "sigmoid", "fused"),  # the default: binary data, sigmoid + cross-entropy
        ({"dataset": {"name": "spiral3"}}, "softmax", "fused"),
        ({"loss": "mse"}, "sigmoid", "through_head"),
        ({"dataset": {"name": "spiral3"}, "loss": "mse"}, "softmax", "through_head"),
        ({"dataset": {"name": "sine"}, "features": ["x1"]}, "linear", "identity"),
    ],
)
def test_the_output_layers_delta_is_explained_by_its_head_and_loss(
    client: TestClient, config: dict[str, Any], head: str, case: str
) -> None:
    session = create(client, {**SMALL, **config})
    post(client, session, "backward", {"layers": 1})  # forward, loss, then the output layer
    trace = get(client, session, "trace", sample=2)
    out = len(trace["layers"]) - 1
    batch = trace["batch_size"]
    for j in range(trace["layers"][out]["fan_out"]):
        chain = get(client, session, "chain", layer=out, i=1, j=j, sample=2)
        terms = chain["output"]
        assert terms["head"] == head and terms["case"] == case
        # No f′ and no downstream sum at the output: the layer is linear up to its head.
        assert chain["fprime_z_j"] is None and chain["downstream"] is None
        assert chain["terms"] == []
        # δ_j is the number backprop used: B times the trace's dz for this sample.
        dz = trace["layers"][out]["sample"]["dz"][j]
        assert chain["delta_j"] == pytest.approx(batch * dz, **TIGHT)
        assert terms["y_hat"] == pytest.approx(trace["prediction"][j], **TIGHT)
        diff = terms["y_hat"] - terms["target"]
        if case == "fused":
            assert terms["dloss_dyhat"] is None and terms["head_derivative"] is None
            assert chain["delta_j"] == pytest.approx(diff, rel=1e-9, abs=1e-12)
        elif case == "identity":
            assert terms["dloss_dyhat"] == pytest.approx(diff, **TIGHT)
            assert chain["delta_j"] == pytest.approx(diff, rel=1e-9, abs=1e-12)
        elif head == "sigmoid":
            assert terms["head_derivative"] == pytest.approx(
                terms["y_hat"] * (1 - terms["y_hat"]), **TIGHT
            )
            expected = terms["dloss_dyhat"] * terms["head_derivative"]
            assert chain["delta_j"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        else:
            expected = terms["y_hat"] * (terms["dloss_dyhat"] - terms["head_coupling"])
            assert chain["delta_j"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # A hidden layer has its f′ and downstream sum, and no output terms.
    hidden = get(client, session, "chain", layer=0, i=0, j=0, sample=2)
    assert hidden["output"] is None and hidden["fprime_z_j"] is not None


# ----------------------------------------------------------------------------- item 2


def test_flow_ratios_are_the_product_of_their_two_gains(client: TestClient) -> None:
    session = create(client, {"layers": [{"units": 16, "activation": "sigmoid"}] * 4})
    flow = get(client, session, "trace")["gradient_flow"]
    assert {f["status"] for f in flow} == {"not_computed"}
    assert all(f["ratio"] is None and f["weight_gain"] is None for f in flow)
    post(client, session, "backward", {"layers": "all"})
    flow = get(client, session, "trace")["gradient_flow"]
    assert [f["status"] for f in flow] == ["ok"] * 4
    for f in flow:
        assert f["ratio"] == pytest.approx(f["weight_gain"] * f["activation_gain"], rel=1e-12)
        assert f["activation_gain"] <= 0.25 + 1e-12  # sigmoid's slope is at most ¼


def test_a_layer_no_gradient_reaches_says_so_with_a_zero(client: TestClient) -> None:
    """Zero weights and ReLU: every hidden unit outputs 0, so no gradient reaches below the
    output. That is a result (0), not a missing value."""
    config = {"layers": [{"units": 4, "activation": "relu"}] * 2, "init": {"name": "zeros"}}
    session = create(client, config)
    post(client, session, "backward", {"layers": "all"})
    trace = get(client, session, "trace")
    assert [f["status"] for f in trace["gradient_flow"]] == ["no_gradient", "no_gradient"]
    assert [f["dz_norm"] for f in trace["gradient_flow"]] == [0.0, 0.0]
    assert [layer["grad_norm"] for layer in trace["layers"]] == [0.0, 0.0, 0.0]
    assert [layer["dead_fraction"] for layer in trace["layers"][:2]] == [1.0, 1.0]
    assert trace["layers"][0]["dead_units_train"] == [True] * 4
    assert trace["layers"][2]["dead_units_train"] is None  # the output layer has no such units


# ----------------------------------------------------------------------------- item 8


def test_per_sample_losses_average_to_the_batch_loss(client: TestClient) -> None:
    session = create(client, {**SMALL, "batch_size": 8})
    trace = get(client, session, "trace")
    assert trace["sample_losses"] is None and trace["batch_prediction"] is None
    post(client, session, "forward", {"layers": "all"})
    trace = get(client, session, "trace")
    assert trace["sample_losses"] is None and len(trace["batch_prediction"]) == 8
    state = post(client, session, "loss")
    trace = get(client, session, "trace", sample=5)
    losses = trace["sample_losses"]
    assert len(losses) == len(trace["batch_y"]) == 8
    assert sum(losses) / len(losses) == pytest.approx(state["loss"], rel=1e-12)
    assert trace["batch_prediction"][5] == trace["prediction"]
    assert trace["batch_y"][5] == trace["target"]


# ----------------------------------------------------------------------------- item 9


def update_rule(client: TestClient, session: str, layer: int, i: int, j: int) -> dict[str, Any]:
    return get(client, session, "update-rule", layer=layer, i=i, j=j)


@pytest.mark.parametrize(
    "config",
    [
        {"optimizer": {"name": "sgd"}},
        {"optimizer": {"name": "momentum", "momentum": 0.8}},
        {"optimizer": {"name": "adam"}, "l2": 0.01, "l1": 0.001, "grad_clip": 0.05},
    ],
    ids=["sgd", "momentum", "adam+reg+clip"],
)
def test_the_update_of_one_weight_adds_up_to_what_the_trace_shows(
    client: TestClient, config: dict[str, Any]
) -> None:
    session = create(client, {**SMALL, **config})
    layer, i, j = 1, 2, 3
    answer = update_rule(client, session, layer, i, j)
    assert answer["update"] is None and "not started" in answer["pending"]
    post(client, session, "step", {"steps": 2})
    post(client, session, "backward", {"layers": "all"})
    answer = update_rule(client, session, layer, i, j)
    assert answer["update"] is None and "has not run yet" in answer["pending"]
    before = update_rule(client, session, layer, i, j)
    post(client, session, "update")
    answer = update_rule(client, session, layer, i, j)
    u = answer["update"]
    assert answer["pending"] is None and answer["step"] == 3 and answer["stage"] == "update"
    trace = get(client, session, "trace")
    assert u["optimizer"] == config["optimizer"]["name"] and u["t"] == 3
    # w before is the weight the forward pass used, dW the edge's, Δw the trace's ΔW.
    assert u["w_before"] == trace["layers"][layer]["W"][i][j]
    assert u["grad_data"] == trace["layers"][layer]["dW"][i][j]
    assert u["delta"] == trace["layers"][layer]["dW_update"][i][j]
    assert u["w_after"] == pytest.approx(u["w_before"] + u["delta"], **TIGHT)
    scale = 1.0 if u["clip_scale"] is None else u["clip_scale"]
    reg = u["grad_data"] + u["l2_term"] + u["l1_term"]
    assert u["grad"] == pytest.approx(reg * scale, **TIGHT)
    assert u["terms"][-1]["symbol"] == "Δw"
    assert u["terms"][-1]["value"] == pytest.approx(u["delta"], **TIGHT)
    values = {term["symbol"]: term["value"] for term in u["terms"]}
    hp, g = u["hyperparameters"], u["grad"]
    if u["optimizer"] == "momentum":
        v = hp["momentum"] * u["state_before"]["velocity"] + g
        assert values["v"] == pytest.approx(v, **TIGHT)
    if u["optimizer"] == "adam":
        assert "grad_clip" in config and u["grad_norm"] is not None
        m = hp["beta1"] * u["state_before"]["m"] + (1 - hp["beta1"]) * g
        assert values["m"] == pytest.approx(m, **TIGHT)
        assert values["m̂"] == pytest.approx(m / (1 - hp["beta1"] ** 3), **TIGHT)
    # The next forward pass runs on w after.
    post(client, session, "forward", {"layers": 1})
    assert get(client, session, "trace")["layers"][layer]["W"][i][j] == u["w_after"]
    assert before["update"] is None


def test_the_state_before_an_update_is_the_state_the_last_update_left(client: TestClient) -> None:
    session = create(client, {**SMALL, "optimizer": {"name": "momentum"}})
    post(client, session, "step", {"steps": 1})
    first = update_rule(client, session, 0, 1, 2)["update"]
    post(client, session, "step", {"steps": 1})
    second = update_rule(client, session, 0, 1, 2)["update"]
    velocity = next(term["value"] for term in first["terms"] if term["symbol"] == "v")
    assert second["state_before"] == {"velocity": velocity}


def test_an_update_rule_for_a_weight_that_does_not_exist_is_422(client: TestClient) -> None:
    session = create(client)  # 2 → 8 → 8 → 1
    response = client.get(
        f"/api/sessions/{session}/update-rule", params={"layer": 2, "i": 0, "j": 1}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "j"] and "0..0" in error["msg"]


# ----------------------------------------------------------------------------- data, catalog


def test_data_names_the_features_it_can_feed_as_the_catalog_does(client: TestClient) -> None:
    catalog = client.get("/api/catalog").json()
    by_dim = {d["input_dim"]: d["features"] for d in catalog["datasets"]}
    session = create(client)
    assert get(client, session, "data")["features"] == by_dim[2]
    rows = "x1,y\n" + "".join(f"{x / 10},{x / 20}\n" for x in range(-20, 20))
    response = client.post(
        f"/api/sessions/{session}/dataset", content=rows, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    data = get(client, session, "data")
    assert data["input_dim"] == 1 and data["features"] == by_dim[1]
    assert "x2" not in data["features"]


def test_the_catalog_defines_every_metric_and_where_each_activation_saturates(
    client: TestClient,
) -> None:
    catalog = client.get("/api/catalog").json()
    keys = [term["key"] for term in catalog["glossary"]]
    assert len(keys) == len(set(keys))
    # The metrics the page labels, each with a formula.
    for key in ("loss", "delta", "mean_abs_dz", "grad_norm", "update_ratio", "flow_ratio"):
        assert key in keys
    for key in ("weight_gain", "activation_gain", "saturated_fraction", "dead_fraction"):
        assert key in keys
    assert all(term["formula"] and term["meaning"] for term in catalog["glossary"])
    zones = {a["name"]: a["saturation_zone"] for a in catalog["activations"]}
    # Read off each activation's own f′ on the catalog's curve: inside the zone f′ is below
    # the share, just outside it is not (tanh: |z| > 2.18; relu: z ≤ 0; linear: nowhere).
    share = catalog["saturation_share"]
    for act in catalog["activations"]:
        curve, slope = act["curve"], act["max_slope"]
        flat = [
            z for z, d in zip(curve["z"], curve["fprime"], strict=True) if abs(d) < share * slope
        ]
        if zones[act["name"]] == "nowhere":
            assert flat == [], act["name"]
        else:
            assert flat, act["name"]
