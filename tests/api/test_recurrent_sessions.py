"""Recurrent sessions through the API: creation, stepping through time, the trace, the
itemised gradient, history, export/import, and the routes that are for dense networks only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import create, make_client, strict_json

T = 6
RNN: dict[str, Any] = {
    "model": "recurrent",
    "cell": "lstm",
    "hidden": 5,
    "dataset": {"name": "delay", "length": T, "n_samples": 60},
    "batch_size": 8,
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c


def post(client: TestClient, session: str, route: str, body: Any = None) -> Any:
    response = client.post(f"/api/sessions/{session}/{route}", json=body)
    assert response.status_code == 200, response.text
    return strict_json(response.text)


def get(client: TestClient, session: str, route: str = "") -> Any:
    response = client.get(f"/api/sessions/{session}" + (f"/{route}" if route else ""))
    assert response.status_code == 200, response.text
    return strict_json(response.text)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_each_cell_kind_creates_a_recurrent_session(client: TestClient, cell: str) -> None:
    response = client.post("/api/sessions", json={**RNN, "cell": cell})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["config"]["model"] == "recurrent" and body["config"]["cell"] == cell
    state = body["state"]
    assert state["model"] == "recurrent" and state["n_timesteps"] == T
    assert state["next"] == {"stage": "forward", "timestep": 0}
    trace = get(client, body["id"], "trace")
    gates = {"rnn": set(), "gru": {"reset", "update", "candidate"}}
    expected = gates.get(cell, {"input", "forget", "output", "candidate"})
    post(client, body["id"], "forward")
    trace = get(client, body["id"], "trace")
    assert trace["cell"] == cell and set(trace["timesteps"][0]["gates"]) == expected
    assert len(trace["timesteps"][0]["h"]) == 5 and trace["timesteps"][1]["h"] is None


def test_one_timestep_per_call_then_loss_backward_update_equals_one_step(
    client: TestClient,
) -> None:
    staged, fast = create(client, RNN), create(client, RNN)
    for t in range(T):
        state = post(client, staged, "forward")
        assert (state["stage"], state["stage_timestep"]) == ("forward", t)
    assert post(client, staged, "loss")["next"] == {"stage": "backward", "timestep": T - 1}
    for t in reversed(range(T)):
        assert post(client, staged, "backward")["stage_timestep"] == t
    post(client, staged, "update")
    post(client, fast, "step", {"steps": 1})
    a, b = get(client, staged, "export"), get(client, fast, "export")
    assert a["parameters"] == b["parameters"]  # exact floats: bit for bit
    assert a["optimizer_state"] == b["optimizer_state"]


def test_timesteps_all_runs_the_rest_of_the_pass(client: TestClient) -> None:
    s = create(client, RNN)
    post(client, s, "forward", {"timesteps": 2})
    state = post(client, s, "forward", {"timesteps": "all"})
    assert state["stage_timestep"] == T - 1 and state["next"]["stage"] == "loss"


def test_a_stage_behind_the_step_in_progress_is_a_409_naming_the_next(
    client: TestClient,
) -> None:
    s = create(client, RNN)
    post(client, s, "backward", {"timesteps": 2})  # ahead: the forward pass and loss first
    for route in ("forward", "loss"):
        response = client.post(f"/api/sessions/{s}/{route}", json=None)
        assert response.status_code == 409, response.text
        assert f"backward at t = {T - 3}" in response.json()["detail"]
    assert get(client, s)["state"]["stage_timestep"] == T - 2  # nothing ran


def test_the_other_kinds_count_is_a_422_naming_it(client: TestClient) -> None:
    s = create(client, RNN)
    response = client.post(f"/api/sessions/{s}/forward", json={"layers": 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "layers"]
    response = client.post(f"/api/sessions/{s}/forward", json={"timesteps": T + 1})
    assert response.status_code == 422
    assert f"1..{T}" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("change", "loc", "text"),
    [
        ({"hidden": 500}, ["body", "hidden"], "1..64"),
        ({"dataset": {"name": "delay", "length": 1000}}, ["body", "dataset", "length"], "100"),
        ({"dataset": {"name": "delay", "n_samples": 5}}, ["body", "dataset", "n_samples"], "10"),
        ({"truncate": 99}, ["body", "truncate"], f"1..{T}"),
        ({"cell": "tcn"}, ["body", "cell"], "lstm"),
    ],
)
def test_sizes_out_of_range_are_422s_naming_field_and_range(
    client: TestClient, change: dict[str, Any], loc: list[str], text: str
) -> None:
    config = {**RNN, **change}
    if "dataset" in change:
        config["dataset"] = {**RNN["dataset"], **change["dataset"]}
    response = client.post("/api/sessions", json=config)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and text in error["msg"]


def test_itemised_contributions_sum_to_the_gradient_and_dh_appears_as_backward_reaches_t(
    client: TestClient,
) -> None:
    s = create(client, RNN)
    post(client, s, "forward", {"timesteps": "all"})
    post(client, s, "loss")
    post(client, s, "backward", {"timesteps": 2})
    trace = get(client, s, "trace")
    reached = [ts["dh_norm"] is not None for ts in trace["timesteps"]]
    assert reached == [t >= T - 2 for t in range(T)]
    early = get(client, s, "timestep/0")
    assert early["contribution"] is None and early["timestep"]["dh"] is None
    post(client, s, "backward", {"timesteps": "all"})
    total = np.zeros_like(np.array(get(client, s, "trace")["grads"]["W_hh"]))
    for t in range(T):
        detail = get(client, s, f"timestep/{t}")
        total += np.array(detail["contribution"]["W_hh"])
    grads = np.array(detail["grads"]["W_hh"])
    np.testing.assert_allclose(total, grads, rtol=0, atol=1e-12)
    shares = [get(client, s, f"timestep/{t}")["share"]["W_hh"] for t in range(T)]
    assert sum(shares) == pytest.approx(1.0, abs=1e-12)
    trace = get(client, s, "trace")
    assert trace["contribution_share"][-1] == pytest.approx(1.0, abs=1e-12)


def test_history_has_dh_norm_per_timestep_matching_the_trace(client: TestClient) -> None:
    s = create(client, RNN)
    post(client, s, "step", {"steps": 3})
    history = get(client, s, "history")
    assert history["model"] == "recurrent" and history["step"] == [1, 2, 3]
    assert [len(row) for row in history["dh_norm"]] == [T] * 3
    trace = get(client, s, "trace")  # the last completed step's trace
    np.testing.assert_allclose(
        history["dh_norm"][-1], [ts["dh_norm"] for ts in trace["timesteps"]], rtol=1e-12
    )


def test_export_import_continue_is_bit_identical(client: TestClient) -> None:
    s = create(client, RNN)
    post(client, s, "step", {"steps": 2})
    post(client, s, "forward", {"timesteps": 3})
    response = client.post("/api/sessions/import", json=get(client, s, "export"))
    assert response.status_code == 201, response.text
    copy = response.json()["id"]
    assert response.json()["state"] == get(client, s)["state"]
    for session in (s, copy):
        post(client, session, "step", {"steps": 2})
    assert get(client, s, "export") == get(client, copy, "export")


def test_a_damaged_recurrent_export_is_refused_naming_the_field(client: TestClient) -> None:
    s = create(client, RNN)
    export = get(client, s, "export")
    export["parameters"]["W_hh"] = [[0.0]]
    response = client.post("/api/sessions/import", json=export)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "parameters", "W_hh"]


def test_patch_hyperparameters_in_place_and_structure_rebuilds(client: TestClient) -> None:
    s = create(client, RNN)
    post(client, s, "step", {"steps": 2})
    answer = client.patch(f"/api/sessions/{s}", json={"learning_rate": 0.1, "truncate": 3})
    assert answer.status_code == 200 and answer.json()["reset"] is False
    assert answer.json()["state"]["step"] == 2 and answer.json()["config"]["truncate"] == 3
    answer = client.patch(f"/api/sessions/{s}", json={"hidden": 3})
    assert answer.status_code == 200 and answer.json()["reset"] is True
    assert answer.json()["state"]["step"] == 0
    answer = client.patch(f"/api/sessions/{s}", json={"layers": []})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][:2] == ["body", "layers"]


def test_reset_and_delete(client: TestClient) -> None:
    s = create(client, RNN)
    before = get(client, s, "export")["parameters"]
    post(client, s, "step", {"steps": 2})
    assert post(client, s, "reset")["state"]["step"] == 0
    assert get(client, s, "export")["parameters"] == before
    assert client.delete(f"/api/sessions/{s}").status_code == 204
    assert client.get(f"/api/sessions/{s}").status_code == 404


@pytest.mark.parametrize(
    "route", ["boundary", "chain?layer=0&i=0&j=0", "update-rule?layer=0&i=0&j=0"]
)
def test_dense_only_routes_refuse_a_recurrent_session_clearly(
    client: TestClient, route: str
) -> None:
    s = create(client, RNN)
    response = client.get(f"/api/sessions/{s}/{route}")
    assert response.status_code == 409
    assert "recurrent" in response.json()["detail"]
    dense = create(client)
    response = client.get(f"/api/sessions/{dense}/timestep/0")
    assert response.status_code == 409 and "dense" in response.json()["detail"]


def test_gradcheck_and_data(client: TestClient) -> None:
    s = create(client, {**RNN, "cell": "gru"})
    check = get(client, s, "gradcheck")
    assert check["passed"] is True and check["max_relative_error"] < 1e-6
    assert {b["block"] for b in check["blocks"]} == {"W_xh", "W_hh", "b_h", "W_hy", "b_y"}
    data = get(client, s, "data")
    shown = min(data["shown"], data["n_train"])
    assert np.array(data["train"]["x"]).shape == (shown, T, data["n_inputs"])


def test_start_answers_everything_a_recurrent_page_draws_first(client: TestClient) -> None:
    response = client.post("/api/sessions/start", json=RNN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["boundary"] is None and body["trace"]["model"] == "recurrent"
    assert body["history"]["points"] == 0 and body["data"]["length"] == T


def test_catalog_and_lessons_include_recurrent(client: TestClient) -> None:
    catalog = client.get("/api/catalog").json()["recurrent"]
    assert {c["name"] for c in catalog["cells"]} == {"rnn", "gru", "lstm"}
    assert [c["takes_activation"] for c in catalog["cells"]] == [True, False, False]
    assert "delay" in {task["name"] for task in catalog["tasks"]}
    lessons = client.get("/api/lessons").json()["lessons"]
    recurrent = [lesson for lesson in lessons if lesson["model"] == "recurrent"]
    assert recurrent
    one = client.get(f"/api/lessons/{recurrent[0]['id']}").json()
    session = create(client, one["setups"][0]["config"])
    assert get(client, session)["config"]["model"] == "recurrent"


def test_stream_frames_json_and_binary_match_the_get_routes(client: TestClient) -> None:
    from app.schemas.binary import decode

    s = create(client, RNN)
    with client.websocket_connect(f"/api/sessions/{s}/stream") as ws:
        ws.send_json({"action": "step"})
        frame = strict_json(ws.receive_text())
    trace = get(client, s, "trace")
    assert frame["state"] == get(client, s)["state"]
    assert frame["boundary"] is None and frame["trace"]["model"] == "recurrent"
    assert frame["trace"]["dh_norm"] == [ts["dh_norm"] for ts in trace["timesteps"]]
    assert frame["history"]["dh_norm"] == get(client, s, "history")["dh_norm"]
    with client.websocket_connect(f"/api/sessions/{s}/stream?encoding=binary") as ws:
        ws.send_json({"action": "step"})
        binary = decode(ws.receive_bytes())
    trace = get(client, s, "trace")
    assert binary["state"] == get(client, s)["state"]
    # Binary frames carry arrays as float32: equal to 1e-6, relative.
    want = [ts["dh_norm"] for ts in trace["timesteps"]]
    np.testing.assert_allclose(binary["trace"]["dh_norm"], want, rtol=1e-6)
    np.testing.assert_allclose(
        binary["history"]["dh_norm"][-1], get(client, s, "history")["dh_norm"][-1], rtol=1e-6
    )
