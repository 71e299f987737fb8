"""Every limit and bad-input class: 422 naming the field and the allowed range or names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import create, make_client

# (config, loc after "body", words the message must contain)
BAD_CONFIGS: list[tuple[dict[str, Any], list[Any], list[str]]] = [
    ({"layers": [{"units": 0, "activation": "tanh"}]}, ["layers", 0, "units"], ["1..64"]),
    ({"layers": [{"units": 65, "activation": "tanh"}]}, ["layers", 0, "units"], ["1..64"]),
    (
        {"layers": [{"units": 4, "activation": "foo"}]},
        ["layers", 0, "activation"],
        ["valid", "relu"],
    ),
    ({"layers": [{"units": 2, "activation": "tanh"}] * 17}, ["layers"], ["0..16"]),
    ({"dataset": {"n_samples": 5001}}, ["dataset", "n_samples"], ["10..5000"]),
    ({"dataset": {"n_samples": 3}}, ["dataset", "n_samples"], ["10..5000"]),
    ({"dataset": {"name": "mnist"}}, ["dataset", "name"], ["valid", "circle", "spiral"]),
    ({"dataset": {"noise": 1.5}}, ["dataset", "noise"], ["[0, 1]"]),
    ({"dataset": {"train_fraction": 0.95}}, ["dataset", "train_fraction"], ["0.9"]),
    ({"dataset": {"seed": -1}}, ["dataset", "seed"], ["0..4294967295"]),
    ({"features": ["x1", "x9"]}, ["features", 1], ["valid", "x1_sq"]),
    ({"features": []}, ["features"], ["at least one"]),
    ({"init": {"name": "magic"}}, ["init", "name"], ["valid", "he_normal"]),
    ({"init": {"scale": -1}}, ["init", "scale"], ["> 0"]),
    ({"loss": "hinge"}, ["loss"], ["valid", "mse"]),
    ({"loss": "softmax_cross_entropy", "dataset": {"name": "plane"}}, ["loss"], ["mse"]),
    ({"optimizer": {"name": "lbfgs"}}, ["optimizer", "name"], ["valid", "adam"]),
    ({"optimizer": {"name": "sgd", "beta1": 0.9}}, ["optimizer"], ["beta1", "valid"]),
    ({"optimizer": {"name": "adam", "beta1": 1.5}}, ["optimizer", "beta1"], ["[0, 1)"]),
    ({"learning_rate": 0}, ["learning_rate"], ["(0, 100]"]),
    ({"learning_rate": 101}, ["learning_rate"], ["(0, 100]"]),
    ({"batch_size": 0}, ["batch_size"], ["1.."]),
    ({"l1": 2}, ["l1"], ["[0, 1]"]),
    ({"l2": -0.1}, ["l2"], ["[0, 1]"]),
    ({"grad_clip": 0}, ["grad_clip"], ["> 0"]),
    ({"seed": 2**40}, ["seed"], ["0..4294967295"]),
    ({"dataset": {"name": "csv"}}, ["dataset", "name"], ["csv"]),
]


@pytest.mark.parametrize(("config", "loc", "words"), BAD_CONFIGS)
def test_bad_config_names_field_and_range(
    client: TestClient, config: dict[str, Any], loc: list[Any], words: list[str]
) -> None:
    response = client.post("/api/sessions", json=config)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *loc]
    for word in words:
        assert word in error["msg"], (word, error["msg"])


@pytest.mark.parametrize(
    ("config", "loc", "valid"),
    [
        ({"colour": 1}, ["colour"], "learning_rate"),
        ({"dataset": {"size": 1}}, ["dataset", "size"], "n_samples"),
        (
            {"layers": [{"units": 2, "activation": "tanh", "dropout": 0.5}]},
            ["layers", 0, "dropout"],
            "units",
        ),
        ({"init": {"gain": 2}}, ["init", "gain"], "scale"),
    ],
)
def test_unknown_keys_list_the_valid_ones(
    client: TestClient, config: dict[str, Any], loc: list[Any], valid: str
) -> None:
    response = client.post("/api/sessions", json=config)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *loc] and error["type"] == "unknown_field"
    assert valid in error["msg"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"learning_rate": NaN}',
        b'{"learning_rate": Infinity}',
        b'{"layers": "many"}',
        b'{"layers": [{"units": "eight", "activation": "tanh"}]}',
        b'{"layers": [{"units": 2.5, "activation": "tanh"}]}',
        b'{"dataset": []}',
        b"[1, 2, 3]",
        b'"a string"',
    ],
)
def test_malformed_bodies_are_422(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/api/sessions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    for error in response.json()["detail"]:
        assert set(error) == {"loc", "msg", "type"} and error["loc"][0] == "body"


def test_limits_come_from_settings() -> None:
    with make_client(max_width=4, max_depth=2, max_samples=100, max_steps=5) as client:
        cases = [
            ({"layers": [{"units": 5, "activation": "tanh"}]}, "1..4"),
            ({"layers": [{"units": 2, "activation": "tanh"}] * 3}, "0..2"),
            ({"dataset": {"n_samples": 101}}, "10..100"),
        ]
        for config, words in cases:
            response = client.post("/api/sessions", json=config)
            assert response.status_code == 422 and words in response.json()["detail"][0]["msg"]
        session = create(client, {"dataset": {"n_samples": 100}})
        response = client.post(f"/api/sessions/{session}/step", json={"steps": 6})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "steps"]
        assert "1..5" in response.json()["detail"][0]["msg"]
        catalog = client.get("/api/catalog").json()
        assert catalog["limits"]["max_width"] == 4 and catalog["limits"]["max_steps"] == 5
    with make_client(max_width=128) as client:  # loosened: wider layers become legal
        create(client, {"layers": [{"units": 100, "activation": "relu"}]})


@pytest.mark.parametrize("steps", [0, -1, 10_001, "many", 1.5, None])
def test_steps_out_of_range(client: TestClient, session: str, steps: Any) -> None:
    response = client.post(f"/api/sessions/{session}/step", json={"steps": steps})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "steps"]


@pytest.mark.parametrize("layers", [0, 4, -1, "some", None])
def test_layer_counts_out_of_range(client: TestClient, session: str, layers: Any) -> None:
    for route in ("forward", "backward"):
        response = client.post(f"/api/sessions/{session}/{route}", json={"layers": layers})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", "layers"]


@pytest.mark.parametrize(
    ("query", "loc", "words"),
    [
        ("boundary?grid=1", ["query", "grid"], "2..128"),
        ("boundary?grid=129", ["query", "grid"], "2..128"),
        ("boundary?grid=abc", ["query", "grid"], ""),
        ("boundary?grid=16&hidden_grid=17", ["query", "hidden_grid"], "2..16"),
        ("trace?sample=16", ["query", "sample"], "0..15"),
        ("trace?sample=-1", ["query", "sample"], "0..4999"),  # the bound in the schema
        ("trace?detail=everything", ["query", "detail"], "summary"),
        ("history?since=-1", ["query", "since"], "0"),
        ("chain?layer=3&i=0&j=0", ["query", "layer"], "0..2"),
        ("chain?layer=0&i=2&j=0", ["query", "i"], "0..1"),
        ("chain?layer=0&i=0&j=8", ["query", "j"], "0..7"),
        ("chain?layer=2&i=0&j=1", ["query", "j"], "0..0"),
        ("chain?layer=0&i=0&j=0&sample=99", ["query", "sample"], "0..15"),
        ("chain?layer=0&i=0", ["query", "j"], ""),
    ],
)
def test_query_bounds(
    client: TestClient, session: str, query: str, loc: list[str], words: str
) -> None:
    response = client.get(f"/api/sessions/{session}/{query}")
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and words in error["msg"]


def test_request_body_size_limit() -> None:
    with make_client(max_request_bytes=2048) as client:
        big = {"features": ["x1"] * 1000}
        response = client.post("/api/sessions", json=big)
        assert response.status_code == 413 and "2048" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"features": ['
            for _ in range(500):
                yield b'"x1", '
            yield b'"x2"]}'

        response = client.post(
            "/api/sessions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert client.post("/api/sessions", json={}).status_code == 201
