"""Property-based: generated JSON bodies, query values and stream messages never get a 5xx.

The in-process client re-raises any server exception, so a crash fails the test with its
traceback even before the status code is checked. Limits are small so that every request the
server accepts stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.schemas.requests import ConfigModel
from tests.api.conftest import SMALL, create, make_client

LIMITS = {
    "max_depth": 3,
    "max_width": 8,
    "max_samples": 200,
    "max_grid": 16,
    "max_steps": 20,
    "max_steps_per_frame": 5,
    "stream_boundary_grid": 8,
}
FIELDS = list(ConfigModel.model_fields)
NAMES = ["circle", "spiral3", "sine", "plane", "csv", "relu", "tanh", "sgd", "adam", "x1", "x1_sq"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(NAMES)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
small_ints = st.integers(min_value=-3, max_value=300)
layer = st.fixed_dictionaries(
    {},
    optional={
        "units": small_ints | json_values,
        "activation": st.sampled_from(NAMES) | json_values,
    },
)
config_like = st.fixed_dictionaries(
    {},
    optional={
        "dataset": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(NAMES) | json_values,
                "n_samples": small_ints | json_values,
                "noise": st.floats(-1, 2) | json_values,
                "train_fraction": st.floats(0, 1) | json_values,
                "seed": small_ints | json_values,
            },
        )
        | json_values,
        "features": st.lists(st.sampled_from(NAMES), max_size=4) | json_values,
        "layers": st.lists(layer, max_size=4) | json_values,
        "init": st.fixed_dictionaries(
            {}, optional={"name": st.sampled_from(NAMES) | json_values, "scale": json_values}
        ),
        "loss": st.sampled_from(["mse", "binary_cross_entropy", "softmax_cross_entropy"])
        | json_values,
        "optimizer": st.dictionaries(
            st.sampled_from(["name", "beta1", "momentum", "eps", "rho", "weight_decay", "zz"]),
            st.sampled_from(NAMES) | st.floats(-1, 2) | json_values,
            max_size=3,
        ),
        "learning_rate": st.floats(-1, 200) | json_values,
        "batch_size": small_ints | json_values,
        "l1": st.floats(-1, 2) | json_values,
        "l2": st.floats(-1, 2) | json_values,
        "grad_clip": st.floats(-1, 10) | json_values,
        "seed": small_ints | json_values,
    },
)
bodies = config_like | json_values
query_values = st.integers(min_value=-5, max_value=200).map(str) | st.text(max_size=6)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[TestClient]:
    with make_client(None, **LIMITS) as client:
        yield client


def send(client: TestClient, method: str, path: str, body: Any) -> int:
    content = json.dumps(body, allow_nan=True).encode()  # NaN/Infinity literals included
    response = client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (method, path, body, response.text)
    json.loads(response.text or "null", parse_constant=_reject)
    return response.status_code


def _reject(constant: str) -> None:
    raise AssertionError(f"server sent {constant}")


@FUZZ
@given(body=bodies)
def test_create_and_patch_never_5xx(fuzz_client: TestClient, body: Any) -> None:
    if send(fuzz_client, "POST", "/api/sessions", body) == 201:
        pass
    session = create(fuzz_client, SMALL)
    send(fuzz_client, "PATCH", f"/api/sessions/{session}", body)
    send(fuzz_client, "POST", f"/api/sessions/{session}/step", {"steps": 2})
    fuzz_client.delete(f"/api/sessions/{session}")


@FUZZ
@given(
    route=st.sampled_from(["forward", "backward", "loss", "update", "step", "reset"]),
    body=json_values
    | st.fixed_dictionaries({}, optional={"layers": json_values, "steps": json_values}),
)
def test_stepping_bodies_never_5xx(fuzz_client: TestClient, route: str, body: Any) -> None:
    session = create(fuzz_client, SMALL)
    send(fuzz_client, "POST", f"/api/sessions/{session}/{route}", body)
    fuzz_client.delete(f"/api/sessions/{session}")


@FUZZ
@given(
    route=st.sampled_from(["trace", "history", "boundary", "chain", "gradcheck", "data", "export"]),
    params=st.dictionaries(
        st.sampled_from(["detail", "sample", "since", "grid", "hidden_grid", "layer", "i", "j"]),
        query_values | st.sampled_from(["summary", "full"]),
        max_size=5,
    ),
    steps=st.integers(0, 3),
)
def test_queries_never_5xx(
    fuzz_client: TestClient, route: str, params: dict[str, str], steps: int
) -> None:
    session = create(fuzz_client, SMALL)
    if steps:
        fuzz_client.post(f"/api/sessions/{session}/step", json={"steps": steps})
        fuzz_client.post(f"/api/sessions/{session}/forward", json={"layers": 1})
    response = fuzz_client.get(f"/api/sessions/{session}/{route}", params=params)
    assert response.status_code < 500, (route, params, response.text)
    json.loads(response.text, parse_constant=_reject)
    fuzz_client.delete(f"/api/sessions/{session}")


@pytest.fixture(scope="module")
def an_export(fuzz_client: TestClient) -> dict[str, Any]:
    session = create(fuzz_client, SMALL)
    fuzz_client.post(f"/api/sessions/{session}/step", json={"steps": 3})
    fuzz_client.post(f"/api/sessions/{session}/backward", json={"layers": 1})
    data: dict[str, Any] = fuzz_client.get(f"/api/sessions/{session}/export").json()
    return data


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index in sorted({0, len(value) - 1} & set(range(len(value)))):
            out += _paths(value[index], (*prefix, index))
    return out


@FUZZ
@given(data=st.data())
def test_imports_never_5xx(
    fuzz_client: TestClient, an_export: dict[str, Any], data: st.DataObject
) -> None:
    export = json.loads(json.dumps(an_export))
    paths = [p for p in _paths(export) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = export
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = data.draw(json_values | small_ints)
        except (KeyError, IndexError, TypeError):
            continue
    status = send(fuzz_client, "POST", "/api/sessions/import", export)
    if status == 201:
        session = json.loads(fuzz_client.post("/api/sessions/import", json=export).text)["id"]
        for route in ("step", "forward", "backward", "update"):
            send(fuzz_client, "POST", f"/api/sessions/{session}/{route}", None)
        for route in ("trace?detail=full", "boundary?grid=4", "chain?layer=0&i=0&j=0"):
            response = fuzz_client.get(f"/api/sessions/{session}/{route}")
            assert response.status_code < 500
        fuzz_client.delete(f"/api/sessions/{session}")


@FUZZ
@given(
    text=st.text(max_size=300)
    | st.lists(
        st.lists(
            st.sampled_from(["1", "-2.5", "0", "x", "", "nan", "1e400", "label", "x1", "x2", "y"]),
            min_size=1,
            max_size=4,
        ),
        max_size=12,
    ).map(lambda rows: "\n".join(",".join(r) for r in rows))
)
def test_csv_uploads_never_5xx(fuzz_client: TestClient, text: str) -> None:
    session = create(fuzz_client, SMALL)
    for payload in (f"x1,x2,label\n{text}", text):
        response = fuzz_client.post(
            f"/api/sessions/{session}/dataset",
            content=payload.encode("utf-8", "surrogatepass"),
            headers={"content-type": "text/csv"},
        )
        assert response.status_code < 500, (payload, response.text)
        if response.status_code == 200:
            send(fuzz_client, "POST", f"/api/sessions/{session}/step", {"steps": 3})
            assert fuzz_client.get(f"/api/sessions/{session}/boundary?grid=4").status_code == 200
    fuzz_client.delete(f"/api/sessions/{session}")


messages = json_values | st.fixed_dictionaries(
    {"action": st.sampled_from(["play", "pause", "step", "patch", "reset", "frame", "ack", "x"])},
    optional={
        "steps_per_frame": small_ints | json_values,
        "max_fps": st.floats(-5, 100) | json_values,
        "ack": st.booleans() | json_values,
        "grid": small_ints | json_values,
        "config": config_like | json_values,
    },
)


@settings(FUZZ, max_examples=40)
@given(batch=st.lists(messages, min_size=1, max_size=4))
def test_stream_messages_never_break_the_socket(fuzz_client: TestClient, batch: list[Any]) -> None:
    session = create(fuzz_client, SMALL)
    with fuzz_client.websocket_connect(f"/api/sessions/{session}/stream") as ws:
        for message in batch:
            ws.send_text(json.dumps(message, allow_nan=True))
        ws.send_text(json.dumps({"action": "pause"}))
        # Every reply is a frame or an error, and the socket still answers afterwards.
        while True:
            reply = json.loads(ws.receive_text(), parse_constant=_reject)
            assert reply["type"] in ("frame", "error"), reply
            if reply["type"] == "frame" and reply["reason"] == "pause":
                break
        ws.send_text(json.dumps({"action": "frame"}))
        while (reply := json.loads(ws.receive_text()))["type"] != "frame" or reply[
            "reason"
        ] != "frame":
            assert reply["type"] in ("frame", "error")
    fuzz_client.delete(f"/api/sessions/{session}")
