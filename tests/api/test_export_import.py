"""Export/import: an exact round trip, and every inconsistency in an import → 422."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import DIVERGING, create, make_client

CSV = "x1,x2,label\n" + "".join(f"{i % 7 - 3},{(i * 5) % 11 - 5},{i % 2}\n" for i in range(40))


def export(client: TestClient, session: str) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{session}/export")
    assert response.status_code == 200
    body: dict[str, Any] = json.loads(response.text)
    return body


def import_(client: TestClient, data: Any) -> str:
    response = client.post("/api/sessions/import", json=data)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


STAGED: list[tuple[str, list[tuple[str, dict[str, Any] | None]]]] = [
    ("idle", []),
    ("after_steps", [("step", {"steps": 7})]),
    ("mid_forward", [("step", {"steps": 7}), ("forward", {"layers": 2})]),
    ("after_loss", [("step", {"steps": 5}), ("loss", None)]),
    ("mid_backward", [("step", {"steps": 5}), ("backward", {"layers": 2})]),
    ("after_update", [("step", {"steps": 5}), ("update", None)]),
]


@pytest.mark.parametrize(("name", "actions"), STAGED, ids=[s[0] for s in STAGED])
def test_round_trip_is_bit_for_bit(
    client: TestClient, name: str, actions: list[tuple[str, dict[str, Any] | None]]
) -> None:
    original = create(client, {"optimizer": {"name": "adam"}, "batch_size": 24})
    for route, body in actions:
        client.post(f"/api/sessions/{original}/{route}", json=body)
    copy_id = import_(client, export(client, original))
    assert export(client, copy_id) == export(client, original)
    for session in (original, copy_id):  # train on: a staged stage, then the fast path
        client.post(f"/api/sessions/{session}/backward", json={"layers": 1})
        client.post(f"/api/sessions/{session}/step", json={"steps": 30})
    a, b = export(client, original), export(client, copy_id)
    assert a == b  # weights, optimiser state, generator, history: identical floats
    assert a["step"] >= 30
    ta = client.get(f"/api/sessions/{original}/trace?detail=full").json()
    tb = client.get(f"/api/sessions/{copy_id}/trace?detail=full").json()
    assert ta == tb


def test_round_trip_of_csv_data_and_diverged_sessions(client: TestClient) -> None:
    session = create(client)
    response = client.post(
        f"/api/sessions/{session}/dataset", content=CSV, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200
    client.post(f"/api/sessions/{session}/step", json={"steps": 4})
    data = export(client, session)
    assert data["dataset"] is not None and data["config"]["dataset"]["name"] == "csv"
    copy_id = import_(client, data)
    for s in (session, copy_id):
        client.post(f"/api/sessions/{s}/step", json={"steps": 5})
    assert export(client, session) == export(client, copy_id)

    diverged = create(client, DIVERGING)
    client.post(f"/api/sessions/{diverged}/step", json={"steps": 50})
    data = export(client, diverged)
    copy_id = import_(client, data)  # nulls stand for the non-finite values
    state = client.get(f"/api/sessions/{copy_id}").json()["state"]
    assert state["diverged"] is True and state["divergence"] == data["divergence"]


Mutation = Callable[[dict[str, Any]], None]


def _set(path: list[Any], value: Any) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


def _drop(key: str) -> Mutation:
    return lambda data: data.pop(key)


BAD_IMPORTS: list[tuple[str, Mutation, list[Any]]] = [
    ("format", _set(["format"], "something-else"), ["format"]),
    ("version", _set(["version"], 99), ["version"]),
    ("missing weights", _drop("weights"), ["weights"]),
    ("unknown key", _set(["extra"], 1), ["extra"]),
    ("weights rows", _set(["weights", 0], [[0.1] * 8]), ["weights", 0]),
    ("weights cols", _set(["weights", 1, 0], [0.1] * 7), ["weights", 1]),
    ("weights layers", lambda d: d["weights"].pop(), ["weights"]),
    ("weight not a number", _set(["weights", 0, 0, 0], "x"), ["weights", 0, 0, 0]),
    ("weight null", _set(["weights", 0, 0, 0], None), ["weights", 0]),
    ("bias length", _set(["biases", 2], [0.0, 0.0]), ["biases", 2]),
    ("theta length", lambda d: d["theta_before_update"].pop(), ["theta_before_update"]),
    ("optimizer state length", lambda d: d["optimizer_state"]["m"].pop(), ["optimizer_state", "m"]),
    ("optimizer t", _set(["optimizer_state", "t"], -5), ["optimizer_state", "t"]),
    ("permutation", _set(["permutation"], [0] * 200), ["permutation"]),
    ("cursor", _set(["cursor"], 999), ["cursor"]),
    ("batch indices", _set(["batch_indices"], [0, 1, 5000]), ["batch_indices"]),
    ("stage", _set(["stage"], {"kind": "sideways", "layer": None}), ["stage", "kind"]),
    ("stage layer", _set(["stage"], {"kind": "forward", "layer": 9}), ["stage", "layer"]),
    ("step negative", _set(["step"], -1), ["step"]),
    ("history length", lambda d: d["history"]["train_loss"].pop(), ["history", "train_loss"]),
    ("history layers", _set(["history", "n_layers"], 5), ["history", "n_layers"]),
    ("history steps", _set(["history", "step"], [3, 2, 1, 4, 5]), ["history", "step"]),
    ("config width", _set(["config", "layers", 0, "units"], 99), ["config", "layers", 0, "units"]),
    ("config shape", _set(["config", "layers", 0, "units"], 4), ["weights", 0]),
    ("config name", _set(["config", "dataset", "name"], "csv"), ["config", "dataset", "name"]),
    ("rng", _set(["rng"], {"shuffle": {"bit_generator": "PCG64", "state": 5}}), []),
    (
        "divergence layer",
        _set(["divergence"], {"step": 1, "stage": "loss", "layer": 7}),
        ["divergence", "layer"],
    ),
]


@pytest.fixture(scope="module")
def good_export() -> dict[str, Any]:
    with make_client() as client:
        session = create(client)
        client.post(f"/api/sessions/{session}/step", json={"steps": 5})
        client.post(f"/api/sessions/{session}/forward", json={"layers": 1})
        return export(client, session)


@pytest.mark.parametrize(("name", "mutate", "loc"), BAD_IMPORTS, ids=[b[0] for b in BAD_IMPORTS])
def test_inconsistent_imports_are_422(
    client: TestClient, good_export: dict[str, Any], name: str, mutate: Mutation, loc: list[Any]
) -> None:
    data = copy.deepcopy(good_export)
    mutate(data)
    response = client.post("/api/sessions/import", json=data)
    assert response.status_code == 422, (name, response.text)
    error = response.json()["detail"][0]
    assert error["loc"][: len(loc) + 1] == ["body", *loc], (name, error)


@pytest.mark.parametrize("body", [b"[]", b"null", b"{}", b'"x"', b"{bad json"])
def test_non_export_bodies_are_422(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/api/sessions/import", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_import_size_is_limited(good_export: dict[str, Any]) -> None:
    with make_client(max_import_bytes=4096) as client:
        response = client.post("/api/sessions/import", json=good_export)
        assert response.status_code == 413 and "4096" in response.json()["detail"]
