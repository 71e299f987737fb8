"""Forward/backward stepping, traces, history, boundary, chain rule, gradient check, data."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.schemas.boundary import BoundaryModel
from app.schemas.catalog import CatalogModel
from app.schemas.data import DataModel
from app.schemas.diagnostics import ChainModel, GradcheckModel
from app.schemas.history import HistoryModel
from app.schemas.session import StateModel
from app.schemas.trace import TraceModel
from tests.api.conftest import create, make_client


def post(client: TestClient, session: str, route: str, body: dict | None = None) -> dict:
    response = client.post(f"/api/sessions/{session}/{route}", json=body)
    assert response.status_code == 200, response.text
    return StateModel.model_validate(response.json()).model_dump()


def test_catalog_lists_everything_the_page_needs(client: TestClient) -> None:
    catalog = CatalogModel.model_validate(client.get("/api/catalog").json())
    assert {a.name for a in catalog.activations} >= {"sigmoid", "tanh", "relu", "linear"}
    assert all(len(a.curve.z) == len(a.curve.f) == 121 for a in catalog.activations)
    assert {o.name: o.defaults for o in catalog.optimizers}["adam"]["beta1"] == 0.9
    datasets = {d.name: d for d in catalog.datasets}
    assert datasets["spiral3"].task == "multiclass" and datasets["spiral3"].n_classes == 3
    assert datasets["sine"].input_dim == 1 and len(datasets["circle"].preview.x) == 100
    assert {f.name for f in catalog.features} >= {"x1", "x2", "x1_sq", "sin_x1"}
    assert catalog.limits.max_depth == 16 and catalog.defaults.learning_rate > 0
    assert catalog.task_losses["regression"] == ["mse"]


def test_staged_step_walks_every_stage_in_order(client: TestClient, session: str) -> None:
    assert post(client, session, "forward", {"layers": 1})["stage"] == "forward"
    state = post(client, session, "forward", {"layers": 1})
    assert (state["stage"], state["layer"]) == ("forward", 1)
    state = post(client, session, "forward", {"layers": "all"})
    assert (state["stage"], state["layer"], state["loss"]) == ("forward", 2, None)
    state = post(client, session, "loss")
    assert state["stage"] == "loss" and state["loss"] is not None
    state = post(client, session, "backward", {"layers": 1})
    assert (state["stage"], state["layer"]) == ("backward", 2)
    state = post(client, session, "backward", {"layers": "all"})
    assert (state["stage"], state["layer"], state["step"]) == ("backward", 0, 0)
    state = post(client, session, "update")
    assert (state["stage"], state["step"]) == ("update", 1)


def test_backward_before_forward_finishes_forward_and_loss_first(
    client: TestClient, session: str
) -> None:
    post(client, session, "forward", {"layers": 1})
    state = post(client, session, "backward")
    assert (state["stage"], state["layer"]) == ("backward", 2) and state["loss"] is not None
    trace = client.get(f"/api/sessions/{session}/trace").json()
    assert all(layer["a_mean"] is not None for layer in trace["layers"])


def test_forward_after_loss_completes_the_step(client: TestClient, session: str) -> None:
    post(client, session, "loss")
    state = post(client, session, "forward")
    assert (state["step"], state["stage"], state["layer"]) == (1, "forward", 0)


def test_staged_and_fast_paths_agree(client: TestClient) -> None:
    a, b = create(client), create(client)
    for _ in range(3):
        post(client, a, "forward", {"layers": "all"})
        post(client, a, "loss")
        post(client, a, "backward", {"layers": "all"})
        post(client, a, "update")
    post(client, b, "step", {"steps": 3})
    wa = client.get(f"/api/sessions/{a}/trace").json()["layers"]
    wb = client.get(f"/api/sessions/{b}/trace").json()["layers"]
    assert [layer["W"] for layer in wa] == [layer["W"] for layer in wb]


def test_trace_arrays_are_null_before_their_stage(client: TestClient, session: str) -> None:
    trace = TraceModel.model_validate(client.get(f"/api/sessions/{session}/trace").json())
    assert trace.stage == "idle" and trace.loss is None and trace.prediction is None
    assert all(layer.dW is None and layer.a_mean is None for layer in trace.layers)
    post(client, session, "forward", {"layers": 2})
    layers = client.get(f"/api/sessions/{session}/trace").json()["layers"]
    assert layers[0]["sample"]["a"] is not None and layers[2]["sample"]["a"] is None
    assert set(layers[0]["summaries"]) == {"W", "z", "a"}
    post(client, session, "backward", {"layers": 1})
    layers = client.get(f"/api/sessions/{session}/trace").json()["layers"]
    assert layers[2]["dW"] is not None and layers[1]["dW"] is None
    assert set(layers[2]["summaries"]) == {"W", "z", "a", "dz", "dW"}


def test_full_trace_has_batch_and_every_array(client: TestClient, session: str) -> None:
    post(client, session, "step", {"steps": 2})
    post(client, session, "update")
    response = client.get(f"/api/sessions/{session}/trace?detail=full&sample=3")
    trace = TraceModel.model_validate(response.json())
    assert trace.detail == "full" and trace.batch is not None and trace.rows == 16
    assert not trace.truncated and trace.sample == 3
    assert np.asarray(trace.batch.x).shape == (16, 2)
    widths = [8, 8, 1]
    for layer, width in zip(trace.layers, widths, strict=True):
        for name in ("z", "a", "da", "dz"):
            assert np.asarray(getattr(layer, name)).shape == (16, width)
        assert np.asarray(layer.dW).shape == (layer.fan_in, width)
        assert np.asarray(layer.dW_update).shape == (layer.fan_in, width)
        assert layer.a is not None and layer.sample.a == layer.a[3]
        hist = layer.summaries["a"].histogram
        assert hist.lo is not None and hist.hi is not None
        assert sum(hist.counts) == 16 * width and hist.lo <= hist.hi
    assert trace.input == trace.batch.x[3]


def test_full_trace_is_bounded() -> None:
    with make_client(max_trace_values=10_000) as client:
        config = {"batch_size": 200, "layers": [{"units": 64, "activation": "relu"}] * 3}
        session = create(client, config)
        post(client, session, "step")
        body = client.get(f"/api/sessions/{session}/trace?detail=full").json()
        assert body["truncated"] is True and 1 <= body["rows"] < 200
        assert len(body["layers"][0]["z"]) == body["rows"] == len(body["batch"]["x"])


def test_history_since_and_downsampling(client: TestClient, session: str) -> None:
    post(client, session, "step", {"steps": 2500})
    history = HistoryModel.model_validate(client.get(f"/api/sessions/{session}/history").json())
    assert history.total == 2500 and history.points == len(history.step) <= 2000
    assert history.step[-1] == 2500 and history.step == sorted(history.step)
    assert len(history.grad_norm) == 3 and len(history.grad_norm[0]) == history.points
    tail = client.get(f"/api/sessions/{session}/history?since=2490").json()
    assert tail["step"] == list(range(2491, 2501)) and tail["since"] == 2490
    assert client.get(f"/api/sessions/{session}/history?since=9999").json()["points"] == 0


def decode(grid: dict) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(grid["data"]), dtype=np.uint8)
    values = grid["min"] + raw / 255 * (grid["max"] - grid["min"])
    return values.reshape(grid["shape"])


def test_boundary_binary(client: TestClient, session: str) -> None:
    post(client, session, "step", {"steps": 200})
    body = BoundaryModel.model_validate(
        client.get(f"/api/sessions/{session}/boundary?grid=16").json()
    )
    assert body.kind == "probability" and body.output.shape == [16, 16]
    assert body.domain == [-6.0, 6.0, -6.0, 6.0]
    out = decode(body.output.model_dump())
    # circle: class 1 inside; the centre is more likely class 1 than a corner
    assert out[8, 8] > out[0, 0]
    assert [len(layer) for layer in body.hidden] == [8, 8]
    assert body.hidden[0][0].shape == [16, 16]
    assert body.inputs is not None and len(body.inputs) == 2
    x1 = decode(body.inputs[0].model_dump())
    assert x1[0, 0] == pytest.approx(-6, abs=0.05) and x1[0, -1] == pytest.approx(6, abs=0.05)
    x2 = decode(body.inputs[1].model_dump())
    assert x2[0, 0] == pytest.approx(-6, abs=0.05) and x2[-1, 0] == pytest.approx(6, abs=0.05)
    assert client.get(f"/api/sessions/{session}/boundary").json()["grid"] == 64
    small = client.get(f"/api/sessions/{session}/boundary?grid=32&hidden_grid=8").json()
    assert small["output"]["shape"] == [32, 32] and small["hidden_grid"] == 8
    assert small["hidden"][1][0]["shape"] == [8, 8] and small["inputs"][0]["shape"] == [8, 8]


def test_boundary_multiclass_and_regression(client: TestClient) -> None:
    session = create(client, {"dataset": {"name": "spiral3"}})
    body = client.get(f"/api/sessions/{session}/boundary?grid=8").json()
    assert body["kind"] == "probabilities" and body["output"]["shape"] == [3, 8, 8]
    probs = decode(body["output"])
    assert np.allclose(probs.sum(axis=0), 1.0, atol=3 * 3 / 255)
    session = create(client, {"dataset": {"name": "sine"}, "features": ["x1"]})
    body = client.get(f"/api/sessions/{session}/boundary?grid=8").json()
    assert body["kind"] == "value" and body["output"]["shape"] == [8]
    assert body["hidden"][0][0]["shape"] == [8]


def test_chain_rule_batch_average_equals_dw(client: TestClient, session: str) -> None:
    post(client, session, "step", {"steps": 3})
    post(client, session, "backward", {"layers": "all"})
    body = client.get(f"/api/sessions/{session}/chain?layer=1&i=2&j=3&sample=5").json()
    ChainModel.model_validate(body)
    chain = {k: v for k, v in body.items() if isinstance(v, float)}  # every number is finite
    assert set(chain) >= {"dW_ij", "delta_j", "fprime_z_j", "downstream", "a_i", "grad_sample"}
    dW = client.get(f"/api/sessions/{session}/trace").json()["layers"][1]["dW"][2][3]
    assert chain["dW_ij"] == dW
    assert chain["batch_average"] == pytest.approx(dW, rel=1e-9, abs=1e-15)
    assert chain["delta_j"] == pytest.approx(chain["fprime_z_j"] * chain["downstream"])
    assert chain["grad_sample"] == pytest.approx(chain["delta_j"] * chain["a_i"])
    assert len(body["terms"]) == 1  # the output layer has one unit
    downstream = sum(t["w_jk"] * t["delta_k"] for t in body["terms"])
    assert chain["downstream"] == pytest.approx(downstream)


def test_gradcheck_passes(client: TestClient, session: str) -> None:
    post(client, session, "step", {"steps": 2})
    check = GradcheckModel.model_validate(client.get(f"/api/sessions/{session}/gradcheck").json())
    assert check.max_relative_error is not None
    assert check.passed and check.max_relative_error < 1e-6 and len(check.layers) == 3


def test_data(client: TestClient, session: str) -> None:
    data = DataModel.model_validate(client.get(f"/api/sessions/{session}/data").json())
    assert len(data.train.x) == len(data.train.y) == 200 and len(data.test.x) == 200
    assert data.task == "binary" and set(data.train.y) <= {0.0, 1.0}
