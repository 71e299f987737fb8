"""Divergence never breaks the API: valid JSON with nulls, `diverged` with where it began."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import DIVERGING, create, strict_json

READ_ROUTES = [
    "",
    "/trace",
    "/trace?detail=full",
    "/history",
    "/boundary?grid=16",
    "/chain?layer=0&i=0&j=0",
    "/chain?layer=2&i=3&j=0",
    "/gradcheck",
    "/data",
    "/export",
]


def test_learning_rate_100_diverges_without_errors(client: TestClient) -> None:
    session = create(client, DIVERGING)
    response = client.post(f"/api/sessions/{session}/step", json={"steps": 50})
    assert response.status_code == 200
    state = strict_json(response.text)
    assert state["diverged"] is True
    divergence = state["divergence"]
    assert divergence["stage"] in ("forward", "loss", "backward", "update")
    assert 0 <= divergence["step"] < 50
    assert divergence["layer"] is None or 0 <= divergence["layer"] < 3
    assert state["train_loss"] is None  # NaN became null
    for route in READ_ROUTES:
        response = client.get(f"/api/sessions/{session}{route}")
        assert response.status_code == 200, (route, response.text)
        body = strict_json(response.text)  # no NaN / Infinity anywhere
        if isinstance(body, dict) and "diverged" in body:
            assert body["diverged"] is True, route
    trace = strict_json(client.get(f"/api/sessions/{session}/trace").text)
    assert trace["loss"] is None
    # staged stepping on a diverged network keeps answering too
    for route in ("forward", "loss", "backward", "update"):
        response = client.post(f"/api/sessions/{session}/{route}", json=None)
        assert response.status_code == 200 and strict_json(response.text)["diverged"]


def test_divergence_is_reported_at_its_first_step(client: TestClient) -> None:
    a = create(client, DIVERGING)
    state = client.post(f"/api/sessions/{a}/step", json={"steps": 50}).json()
    first = state["divergence"]
    b = create(client, DIVERGING)
    client.post(f"/api/sessions/{b}/step", json={"steps": first["step"]})
    assert client.get(f"/api/sessions/{b}").json()["state"]["diverged"] is False
    client.post(f"/api/sessions/{b}/step", json={"steps": 1})
    assert client.get(f"/api/sessions/{b}").json()["state"]["divergence"] == first


def test_reset_recovers(client: TestClient) -> None:
    session = create(client, DIVERGING)
    client.post(f"/api/sessions/{session}/step", json={"steps": 50})
    state = client.post(f"/api/sessions/{session}/reset").json()["state"]
    assert state["diverged"] is False and state["divergence"] is None
    assert state["step"] == 0 and state["train_loss"] is not None
    # lowering the learning rate (no reset) keeps the diverged flag; a reset clears it
    body = client.patch(f"/api/sessions/{session}", json={"learning_rate": 0.001}).json()
    assert body["reset"] is False
    state = client.post(f"/api/sessions/{session}/step", json={"steps": 20}).json()
    assert state["diverged"] is False and state["train_loss"] is not None
