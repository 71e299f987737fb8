"""Session lifecycle: create, read, patch (with and without reset), reset, delete, 404s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas.session import PatchedSessionModel, SessionModel
from app.settings import Settings
from engine.config import NetworkConfig
from tests.api.conftest import create

SESSION_ROUTES = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/reset"),
    ("POST", "/forward"),
    ("POST", "/loss"),
    ("POST", "/backward"),
    ("POST", "/update"),
    ("POST", "/step"),
    ("GET", "/trace"),
    ("GET", "/history"),
    ("GET", "/boundary"),
    ("GET", "/chain?layer=0&i=0&j=0"),
    ("GET", "/gradcheck"),
    ("GET", "/data"),
    ("GET", "/export"),
]


def test_create_with_defaults_answers_201_with_id_config_and_state(client: TestClient) -> None:
    response = client.post("/api/sessions", json={})
    assert response.status_code == 201
    body = SessionModel.model_validate(response.json())
    assert body.model_dump()["config"] == {"model": "dense", **NetworkConfig().to_dict()}
    assert body.state.step == 0 and body.state.stage == "idle" and not body.state.diverged
    assert client.post("/api/sessions").status_code == 201  # no body at all: defaults too


def test_session_ids_are_long_random_and_unique(client: TestClient) -> None:
    ids = {create(client) for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 32 for i in ids)  # token_urlsafe(24): 192 bits


def test_nothing_lists_sessions(client: TestClient) -> None:
    create(client)
    assert client.get("/api/sessions").status_code in (404, 405)


def test_config_fields_are_applied(client: TestClient) -> None:
    config = {
        "dataset": {"name": "xor", "n_samples": 200, "noise": 0.2},
        "features": ["x1", "x2", "x1x2"],
        "layers": [{"units": 3, "activation": "relu"}],
        "optimizer": {"name": "momentum", "momentum": 0.5},
        "learning_rate": 0.1,
        "batch_size": 10,
    }
    body = client.get(f"/api/sessions/{create(client, config)}").json()
    assert body["config"]["dataset"]["name"] == "xor"
    assert body["config"]["features"] == ["x1", "x2", "x1x2"]
    assert body["config"]["optimizer"] == {"name": "momentum", "momentum": 0.5}
    assert body["state"]["n_layers"] == 2 and body["state"]["batch_size"] == 10


def test_patch_hyperparameters_keeps_training_state(client: TestClient, session: str) -> None:
    client.post(f"/api/sessions/{session}/step", json={"steps": 5})
    response = client.patch(f"/api/sessions/{session}", json={"learning_rate": 0.5, "l2": 0.01})
    body = PatchedSessionModel.model_validate(response.json())
    assert body.reset is False and body.state.step == 5
    assert body.config.learning_rate == 0.5 and body.config.l2 == 0.01
    # the other fields are kept
    assert body.config.dataset.name == "circle"


def test_patch_optimizer_name_drops_old_hyperparameters(client: TestClient, session: str) -> None:
    client.post(f"/api/sessions/{session}/step", json={"steps": 2})
    body = client.patch(f"/api/sessions/{session}", json={"optimizer": {"name": "sgd"}}).json()
    assert body["config"]["optimizer"] == {"name": "sgd"} and body["reset"] is False
    body = client.patch(f"/api/sessions/{session}", json={"optimizer": {"name": "rmsprop"}}).json()
    assert body["config"]["optimizer"]["rho"] == 0.9
    assert body["state"]["step"] == 2


@pytest.mark.parametrize(
    "patch",
    [
        {"layers": [{"units": 4, "activation": "relu"}]},
        {"dataset": {"noise": 0.3}},
        {"features": ["x1"]},
        {"init": {"name": "he_normal"}},
        {"seed": 7},
        {"loss": "mse"},
    ],
)
def test_structural_patch_rebuilds(client: TestClient, session: str, patch: dict) -> None:
    client.post(f"/api/sessions/{session}/step", json={"steps": 3})
    body = client.patch(f"/api/sessions/{session}", json=patch).json()
    assert body["reset"] is True and body["state"]["step"] == 0
    key = next(iter(patch))
    if key == "dataset":
        assert body["config"]["dataset"]["noise"] == 0.3
        assert body["config"]["dataset"]["name"] == "circle"  # merged, not replaced
    else:
        assert body["config"][key] == patch[key] or key == "init"


def test_invalid_patch_leaves_session_unchanged(client: TestClient, session: str) -> None:
    client.post(f"/api/sessions/{session}/step", json={"steps": 3})
    response = client.patch(
        f"/api/sessions/{session}", json={"learning_rate": 0.2, "layers": [{"units": 0}]}
    )
    assert response.status_code == 422
    body = client.get(f"/api/sessions/{session}").json()
    assert body["state"]["step"] == 3 and body["config"]["learning_rate"] == 0.03


def test_reset_gives_back_the_initial_weights(client: TestClient, session: str) -> None:
    before = client.get(f"/api/sessions/{session}/trace").json()["layers"][0]["W"]
    client.post(f"/api/sessions/{session}/step", json={"steps": 10})
    body = client.post(f"/api/sessions/{session}/reset").json()
    assert body["state"]["step"] == 0
    assert client.get(f"/api/sessions/{session}/trace").json()["layers"][0]["W"] == before
    assert client.get(f"/api/sessions/{session}/history").json()["total"] == 0


def test_delete_then_404(client: TestClient, session: str) -> None:
    assert client.delete(f"/api/sessions/{session}").status_code == 204
    assert client.get(f"/api/sessions/{session}").status_code == 404
    assert client.delete(f"/api/sessions/{session}").status_code == 404


@pytest.mark.parametrize(("method", "suffix"), SESSION_ROUTES)
def test_unknown_session_is_404_on_every_route(
    client: TestClient, method: str, suffix: str
) -> None:
    body: dict[str, object] | None = {} if method in ("POST", "PATCH") else None
    for fake in ("nope", "A" * 32, "x" * 300):
        response = client.request(method, f"/api/sessions/{fake}{suffix}", json=body)
        assert response.status_code == 404, (fake, response.text)
        assert "unknown session" in response.json()["detail"]


def test_unknown_session_csv_upload_is_404(client: TestClient) -> None:
    response = client.post(
        "/api/sessions/nope/dataset",
        content="x1,x2,label\n1,2,0\n",
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 404


def test_security_headers_on_page_and_api(client: TestClient) -> None:
    for path in ("/", "/api/catalog"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'self'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert client.get("/api/sessions/nope").headers["x-content-type-options"] == "nosniff"


def test_openapi_documents_every_route_with_a_response_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/catalog",
        "/api/sessions",
        "/api/sessions/import",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/trace",
        "/api/sessions/{session_id}/boundary",
        "/api/sessions/{session_id}/dataset",
    ):
        assert path in paths
    for path, item in paths.items():
        for method, op in item.items():
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, (path, method)
            content = op["responses"][ok[0]].get("content")
            assert content or ok[0] == "204", (path, method)
    create_op = paths["/api/sessions"]["post"]
    assert create_op["requestBody"]["content"]["application/json"]["examples"]


def test_security_headers_on_errors_and_crashes() -> None:
    app = create_app(Settings(max_request_bytes=1024))

    @app.get("/api/crash")
    async def crash() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {
            500: client.get("/api/crash"),
            404: client.get("/api/sessions/nope"),
            405: client.put("/api/sessions/nope"),
            413: client.post(
                "/api/sessions", content=b"x" * 2000, headers={"content-type": "application/json"}
            ),
            415: client.post(
                "/api/sessions", content=b"{}", headers={"content-type": "text/plain"}
            ),
            422: client.post("/api/sessions", json={"seed": -1}),
        }
        for status, response in answers.items():
            assert response.status_code == status, (status, response.text)
            assert "default-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
        crash_body = answers[500].json()
        assert crash_body["detail"].startswith("internal server error")
        assert "a bug" not in answers[500].text  # nothing internal is shown


def test_options_head_and_405_say_which_methods_a_path_takes(
    client: TestClient, session: str
) -> None:
    path = f"/api/sessions/{session}"
    options = client.options(path)
    assert options.status_code == 204 and options.content == b""
    assert set(options.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }
    assert "access-control-allow-origin" not in options.headers  # no cross-origin use
    assert client.options("/api/sessions").headers["allow"] == "OPTIONS, POST"
    assert client.options("/api/no-such-path").status_code == 404
    wrong = client.put(path, json={})
    assert wrong.status_code == 405
    assert "PATCH" in wrong.headers["allow"] and "DELETE" in wrong.headers["allow"]
    get, head = client.get(path), client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"
    assert client.head("/api/sessions/nope").status_code == 404
    assert client.head(f"{path}/step").status_code == 405  # POST only: no HEAD


def test_start_answers_in_one_round_trip_what_the_separate_reads_answer(
    client: TestClient,
) -> None:
    """POST /api/sessions/start: the session and its first trace, history, boundary and data,
    the same as asking for each afterwards."""
    started = client.post("/api/sessions/start", json={"seed": 3})
    assert started.status_code == 201
    body = started.json()
    session = body["id"]
    assert body["state"] == client.get(f"/api/sessions/{session}").json()["state"]
    assert body["trace"] == client.get(f"/api/sessions/{session}/trace").json()
    assert body["history"] == client.get(f"/api/sessions/{session}/history").json()
    grid = client.get(f"/api/sessions/{session}/boundary?grid=64&hidden_grid=24").json()
    assert body["boundary"] == grid
    assert body["data"] == client.get(f"/api/sessions/{session}/data").json()
