"""The published contract holds, as a schema-driven client (schemathesis, say) would check it.

- Every real answer (successes, 404, 413, 422, 503) validates against the schema that
  ``/openapi.json`` publishes for its route and status, and every documented status of every
  route is one a real request gets.
- Every example in the schema validates against its own schema and is accepted by its route.
- The bounds in the schema are the server's: one past a bound is refused, naming the field;
  the bound itself is not refused for being out of range.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import DIVERGING, SMALL, create, make_client
from tests.api.contract import Contract, assert_valid

SESSION = "/api/sessions/{session_id}"
LESSON = "/api/lessons/{lesson_id}"
CHECKPOINTS = LESSON + "/checkpoints"
CSV = "x1,x2,label\n" + "".join(f"{i % 7 - 3},{(i * 5) % 11 - 5},{i % 2}\n" for i in range(40))
UNKNOWN = "no-such-session"
# Routes that take a body, and a body each accepts.
BODY_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/sessions", {}),
    ("POST", "/api/sessions/start", {}),
    ("PATCH", SESSION, {"learning_rate": 0.1}),
    ("POST", SESSION + "/reset", None),
    ("POST", SESSION + "/forward", {"layers": 1}),
    ("POST", SESSION + "/loss", None),
    ("POST", SESSION + "/backward", {"layers": 1}),
    ("POST", SESSION + "/update", None),
    ("POST", SESSION + "/step", {"steps": 1}),
]


def url(template: str, session: str = "", query: str = "") -> str:
    return template.replace("{session_id}", session) + (f"?{query}" if query else "")


def test_every_answer_validates_and_every_documented_status_happens() -> None:
    with make_client() as client:
        contract = Contract(client)
        _successes(client, contract)
        _recurrent(client, contract)
        _diverged(client, contract)
        _errors(client, contract)
    with make_client(max_request_bytes=1024, max_import_bytes=1024, max_csv_bytes=1024) as client:
        _too_large(client, contract)
    with make_client(max_sessions=1) as client:
        _busy(client, contract)
    with make_client() as client:
        _not_json(client, contract)
    with make_client(max_sessions_per_client=1) as client:
        _quota(client, contract)
    with make_client(memory_budget_mb=64, max_session_mb=60) as client:
        _memory_full(client, contract)
    # FastAPI documents a 422 for every route with a parameter, a path's session id included;
    # a route whose only parameter is the session id (any text) cannot give one.
    unreachable = {
        (path, method, "422")
        for path, item in contract.spec["paths"].items()
        for method, op in item.items()
        if "requestBody" not in op and not any(p["in"] == "query" for p in op.get("parameters", []))
    }
    assert contract.statuses() - unreachable - contract.seen == set()


def _successes(client: TestClient, c: Contract) -> None:
    c.check(client.get("/api/catalog"), "/api/catalog")
    c.check(client.get("/healthz"), "/healthz")
    c.check(client.post("/api/sessions", json={}), "/api/sessions")
    c.check(client.post("/api/sessions/start", json={}), "/api/sessions/start")
    c.check(client.post("/api/sessions/start", json=SMALL), "/api/sessions/start")
    s = c.check(client.post("/api/sessions", json=SMALL), "/api/sessions")["id"]
    reads = ["trace", "trace?detail=full&sample=3", "history", "boundary?grid=8", "data"]
    reads += ["chain?layer=1&i=2&j=3&sample=1", "update-rule?layer=2&i=3&j=0", "gradcheck"]
    reads += ["export"]
    stepping: list[tuple[str, Any]] = [
        ("forward", {"layers": 1}),
        ("forward", {"layers": "all"}),
        ("loss", None),
        ("backward", {"layers": 2}),
        ("backward", None),
        ("update", None),
        ("step", {"steps": 3}),
        ("reset", None),
        ("step", None),
    ]
    for route, body in stepping:  # every read at every stage: arrays appear stage by stage
        c.check(client.post(url(SESSION, s) + f"/{route}", json=body), f"{SESSION}/{route}")
        for read in reads:
            path, _, query = read.partition("?")
            c.check(client.get(url(f"{SESSION}/{path}", s, query)), f"{SESSION}/{path}")
    c.check(client.get(url(SESSION, s)), SESSION)
    c.check(client.patch(url(SESSION, s), json={"learning_rate": 0.1}), SESSION)
    c.check(
        client.patch(url(SESSION, s), json={"layers": [{"units": 3, "activation": "relu"}]}),
        SESSION,
    )
    export = c.check(client.get(url(SESSION, s) + "/export"), SESSION + "/export")
    c.check(client.post("/api/sessions/import", json=export), "/api/sessions/import")
    upload = client.post(
        url(SESSION, s) + "/dataset", content=CSV, headers={"content-type": "text/csv"}
    )
    c.check(upload, SESSION + "/dataset")
    c.check(client.post(url(SESSION, s) + "/step", json={"steps": 2}), SESSION + "/step")
    csv_export = c.check(client.get(url(SESSION, s) + "/export"), SESSION + "/export")
    c.check(client.post("/api/sessions/import", json=csv_export), "/api/sessions/import")
    for config in (
        {"dataset": {"name": "spiral3"}},
        {"dataset": {"name": "sine"}, "features": ["x1"]},
    ):
        other = c.check(client.post("/api/sessions", json=config), "/api/sessions")["id"]
        c.check(client.get(url(SESSION + "/boundary", other, "grid=6")), SESSION + "/boundary")
        c.check(client.get(url(SESSION + "/trace", other)), SESSION + "/trace")
    c.check(client.delete(url(SESSION, s)), SESSION)
    _lessons(client, c)


RECURRENT = {
    "model": "recurrent",
    "cell": "gru",
    "hidden": 4,
    "dataset": {"name": "delay", "length": 4, "n_samples": 40},
    "batch_size": 8,
}


def _recurrent(client: TestClient, c: Contract) -> None:
    """A recurrent session through every route: each answer of either kind validates."""
    c.check(client.post("/api/sessions/start", json=RECURRENT), "/api/sessions/start")
    s = c.check(client.post("/api/sessions", json=RECURRENT), "/api/sessions")["id"]
    reads = ["trace", "trace?sample=3", "timestep/1", "timestep/3?sample=2", "history"]
    reads += ["data", "gradcheck", "export", ""]
    stepping: list[tuple[str, Any]] = [
        ("forward", None),
        ("forward", {"timesteps": "all"}),
        ("loss", None),
        ("backward", {"timesteps": 2}),
        ("backward", None),
        ("update", None),
        ("step", {"steps": 2}),
    ]
    for route, body in stepping:
        c.check(client.post(url(SESSION, s) + f"/{route}", json=body), f"{SESSION}/{route}")
        for read in reads:
            path, _, query = read.partition("?")
            template = SESSION + ("/timestep/{t}" if path.startswith("timestep") else f"/{path}")
            c.check(client.get(url(f"{SESSION}/{path}", s, query)), template.rstrip("/"))
    client.post(url(SESSION, s) + "/backward", json={"timesteps": 1})
    for route in ("forward", "loss"):  # behind the step in progress: 409
        response = client.post(url(SESSION, s) + f"/{route}", json=None)
        assert response.status_code == 409, response.text
        c.check(response, f"{SESSION}/{route}")
    client.post(url(SESSION, s) + "/backward", json={"timesteps": "all"})
    response = client.post(url(SESSION, s) + "/backward", json=None)
    assert response.status_code == 409, response.text
    c.check(response, f"{SESSION}/backward")
    for path, query in [
        ("/boundary", ""),
        ("/chain", "layer=0&i=0&j=0"),
        ("/update-rule", "layer=0&i=0&j=0"),
    ]:
        response = client.get(url(SESSION + path, s, query))
        assert response.status_code == 409, response.text
        c.check(response, SESSION + path)
    dense = create(client)
    response = client.get(url(SESSION + "/timestep/0", dense))
    assert response.status_code == 409
    c.check(response, SESSION + "/timestep/{t}")
    c.check(client.patch(url(SESSION, s), json={"learning_rate": 0.2}), SESSION)
    c.check(client.patch(url(SESSION, s), json={"hidden": 3}), SESSION)
    export = c.check(client.get(url(SESSION, s) + "/export"), SESSION + "/export")
    c.check(client.post("/api/sessions/import", json=export), "/api/sessions/import")
    c.check(client.post(url(SESSION, s) + "/reset", json=None), SESSION + "/reset")
    for bad in ({**RECURRENT, "hidden": 0}, {"model": "cnn"}):
        response = client.post("/api/sessions", json=bad)
        assert response.status_code == 422
        c.check(response, "/api/sessions")
    c.check(client.get(url(SESSION + "/timestep/99", s)), SESSION + "/timestep/{t}")
    c.check(client.get(url(SESSION + "/timestep/0", UNKNOWN)), SESSION + "/timestep/{t}")
    c.check(client.delete(url(SESSION, s)), SESSION)


def _lessons(client: TestClient, c: Contract) -> None:
    """Every lesson, and its checkpoints before and after the step they belong to."""
    listed = c.check(client.get("/api/lessons"), "/api/lessons")["lessons"]
    for entry in listed:
        lesson = c.check(client.get(f"/api/lessons/{entry['id']}"), LESSON)
        sessions = {setup["name"]: create(client, setup["config"]) for setup in lesson["setups"]}
        first = next(k for k, step in enumerate(lesson["steps"]) if step["checkpoints"])
        query = {"step": first, **sessions}
        c.check(client.get(f"/api/lessons/{entry['id']}/checkpoints", params=query), CHECKPOINTS)
        client.post(url(SESSION + "/step", sessions["A"]), json={"steps": 2})
        c.check(client.get(f"/api/lessons/{entry['id']}/checkpoints", params=query), CHECKPOINTS)


def _diverged(client: TestClient, c: Contract) -> None:
    """After divergence the arrays hold nulls: still the published shapes."""
    s = create(client, DIVERGING)
    c.check(client.post(url(SESSION, s) + "/step", json={"steps": 50}), SESSION + "/step")
    c.check(client.post(url(SESSION, s) + "/backward", json={"layers": 1}), SESSION + "/backward")
    for read in (
        "trace?detail=full",
        "history",
        "boundary?grid=6",
        "chain?layer=0&i=0&j=0",
        "update-rule?layer=0&i=0&j=0",
    ):
        path, _, query = read.partition("?")
        c.check(client.get(url(f"{SESSION}/{path}", s, query)), f"{SESSION}/{path}")
    for path in ("gradcheck", "data", "export"):
        body = c.check(client.get(url(f"{SESSION}/{path}", s)), f"{SESSION}/{path}")
    c.check(client.post("/api/sessions/import", json=body), "/api/sessions/import")
    state = c.check(client.get(url(SESSION, s)), SESSION)["state"]
    assert state["diverged"] is True and state["train_loss"] is None


def _errors(client: TestClient, c: Contract) -> None:
    """422 and 404 on every route that can give them."""
    s = create(client)
    for method, template, body in BODY_ROUTES:
        if "{session_id}" in template:
            c.check(client.request(method, url(template, UNKNOWN), json=body), template)
    for path in ("", "/export", "/trace", "/history", "/boundary", "/gradcheck", "/data"):
        c.check(client.get(url(SESSION + path, UNKNOWN)), SESSION + path)
    for path in ("/chain", "/update-rule"):
        c.check(client.get(url(SESSION + path, UNKNOWN, "layer=0&i=0&j=0")), SESSION + path)
    c.check(client.delete(url(SESSION, UNKNOWN)), SESSION)
    upload = client.post(
        url(SESSION + "/dataset", UNKNOWN), content=CSV, headers={"content-type": "text/csv"}
    )
    c.check(upload, SESSION + "/dataset")
    invalid: list[tuple[str, str, Any]] = [
        ("POST", "/api/sessions", {"layers": [{"units": 0, "activation": "tanh"}]}),
        ("POST", "/api/sessions/start", {"seed": -1}),
        ("POST", "/api/sessions/import", {"format": "x"}),
        ("PATCH", SESSION, {"seed": False}),
        ("POST", SESSION + "/forward", {"layers": 99}),
        ("POST", SESSION + "/backward", {"layers": True}),
        ("POST", SESSION + "/step", {"steps": 0}),
        ("POST", SESSION + "/dataset", "x1,x2,label\n1,2\n"),
    ]
    for method, template, body in invalid:
        if isinstance(body, str):
            response = client.request(
                method, url(template, s), content=body, headers={"content-type": "text/csv"}
            )
        else:
            response = client.request(method, url(template, s), json=body)
        assert response.status_code == 422, (template, response.text)
        c.check(response, template)
    c.check(client.get("/api/lessons/no-such-lesson"), LESSON)
    c.check(client.get("/api/lessons/no-such-lesson/checkpoints?step=0"), CHECKPOINTS)
    c.check(client.get(f"/api/lessons/dead-relus/checkpoints?step=0&A={UNKNOWN}"), CHECKPOINTS)
    for query in ("step=99", "step=0&D=" + s, "A=" + s):
        response = client.get("/api/lessons/dead-relus/checkpoints?" + query)
        assert response.status_code == 422, (query, response.text)
        c.check(response, CHECKPOINTS)
    for path, query in [
        ("/trace", "sample=99"),
        ("/history", "since=-1"),
        ("/boundary", "grid=1"),
        ("/chain", "layer=0&i=0"),
        ("/update-rule", "layer=0&i=0&j=99"),
    ]:
        c.check(client.get(url(SESSION + path, s, query)), SESSION + path)


def _too_large(client: TestClient, c: Contract) -> None:
    s = create(client, {})
    big = {"features": ["x1"] * 300}
    for method, template, _ in BODY_ROUTES:
        response = client.request(method, url(template, s), json=big)
        assert response.status_code == 413, (template, response.text)
        c.check(response, template)
    c.check(client.post("/api/sessions/import", json=big), "/api/sessions/import")
    upload = client.post(
        url(SESSION + "/dataset", s), content=CSV * 5, headers={"content-type": "text/csv"}
    )
    assert upload.status_code == 413
    c.check(upload, SESSION + "/dataset")


def _busy(client: TestClient, c: Contract) -> None:
    s = create(client)
    with client.websocket_connect(url(SESSION + "/stream", s)) as ws:
        ws.send_json({"action": "frame"})
        ws.receive_json()  # the stream is attached: its session cannot be evicted
        for template in ("/api/sessions", "/api/sessions/start", "/api/sessions/import"):
            response = client.post(template, json={})
            assert response.status_code == 503 and response.headers["retry-after"]
            c.check(response, template)


def _not_json(client: TestClient, c: Contract) -> None:
    """Every POST that takes JSON refuses another content type (and none at all)."""
    s = create(client)
    for template in [t for m, t, _ in BODY_ROUTES if m == "POST"] + ["/api/sessions/import"]:
        response = client.post(
            url(template, s), content=b"{}", headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415, (template, response.text)
        c.check(response, template)


def _quota(client: TestClient, c: Contract) -> None:
    create(client)
    for template in ("/api/sessions", "/api/sessions/start", "/api/sessions/import"):
        response = client.post(template, json={})
        assert response.status_code == 429 and response.headers["retry-after"], response.text
        c.check(response, template)


def _memory_full(client: TestClient, c: Contract) -> None:
    """A staged step's arrays need room; when a recently used session holds the rest of the
    memory budget, the staged call is refused before it starts."""
    big = {
        "dataset": {"name": "circle", "n_samples": 5000},
        "layers": [{"units": 64, "activation": "tanh"}] * 6,
        "batch_size": 5000,
    }
    first, s = create(client, big), create(client, big)
    assert client.post(url(SESSION + "/backward", first), json={"layers": "all"}).status_code == 200
    for template, body in (
        (SESSION + "/forward", {"layers": 1}),
        (SESSION + "/loss", None),
        (SESSION + "/backward", None),
        (SESSION + "/update", None),
    ):
        response = client.post(url(template, s), json=body)
        assert response.status_code == 503, (template, response.text)
        c.check(response, template)


# ----------------------------------------------------------------------------- examples


def _examples(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, Any, dict[str, Any]]]:
    """(path, method, media type, example, schema) for every request example in the spec:
    the operation's own examples and those of the component it takes."""
    components = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                schema = content.get("schema", {})
                values = [e["value"] for e in content.get("examples", {}).values()]
                values += [content["example"]] if "example" in content else []
                refs = [schema, *schema.get("anyOf", [])]
                for ref in (r["$ref"].rsplit("/", 1)[-1] for r in refs if "$ref" in r):
                    values += components[ref].get("examples", [])
                for value in values:
                    yield path, method, media, value, schema


def test_every_example_in_the_schema_is_accepted_by_its_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    examples = list(_examples(spec))
    routes = {(path, method) for path, method, *_ in examples}
    assert len(routes) >= 5 and len(examples) >= 12  # create, patch, forward, backward, step, csv
    for path, method, media, value, schema in examples:
        if media == "application/json":
            assert_valid(value, schema, spec["components"])
        # An example of a recurrent session's body runs on a recurrent session.
        recurrent = isinstance(value, dict) and "timesteps" in value
        session = create(client, RECURRENT if recurrent else None)
        target = url(path, session)
        if media == "application/json":
            response = client.request(method, target, json=value)
        else:
            response = client.request(
                method, target, content=value, headers={"content-type": media}
            )
        assert response.status_code < 300, (method, path, value, response.text)
    for name, component in spec["components"]["schemas"].items():  # answers' examples too
        for value in component.get("examples", []):
            assert_valid(value, {"$ref": f"#/components/schemas/{name}"}, spec["components"])


# ----------------------------------------------------------------------------- bounds


def _query_bounds(spec: dict[str, Any]) -> Iterator[tuple[str, str, int, int | None]]:
    for path, item in spec["paths"].items():
        for param in item.get("get", {}).get("parameters", []):
            if param["in"] != "query":  # a path's bounds (timestep/{t}): see _recurrent
                continue
            schema = param["schema"]
            for branch in [schema, *schema.get("anyOf", [])]:
                if branch.get("type") == "integer" and "minimum" in branch:
                    yield path, param["name"], branch["minimum"], branch.get("maximum")


REQUIRED = {"chain": {"layer": 0, "i": 0, "j": 0}, "update-rule": {"layer": 0, "i": 0, "j": 0}}


def test_query_bounds_in_the_schema_are_the_servers() -> None:
    with make_client(max_grid=16, max_samples=200, max_depth=3, max_width=8) as client:
        spec = client.get("/openapi.json").json()
        bounds = list(_query_bounds(spec))
        names = {(path.rsplit("/", 1)[-1], name) for path, name, *_ in bounds}
        assert names >= {
            ("boundary", "grid"),
            ("boundary", "hidden_grid"),
            ("trace", "sample"),
            ("history", "since"),
            ("chain", "layer"),
            ("chain", "i"),
            ("chain", "j"),
            ("chain", "sample"),
            ("update-rule", "layer"),
            ("update-rule", "i"),
            ("update-rule", "j"),
        }
        session = create(client, {"layers": [{"units": 8, "activation": "tanh"}] * 3})
        client.post(f"/api/sessions/{session}/step", json={"steps": 1})
        for path, name, lo, hi in bounds:
            params = {**REQUIRED.get(path.rsplit("/", 1)[-1], {})}
            outside = [lo - 1] + ([] if hi is None else [hi + 1])
            for value in outside:
                response = client.get(url(path, session), params={**params, name: value})
                assert response.status_code == 422, (path, name, value)
                assert ["query", name] in [e["loc"] for e in response.json()["detail"]]
            for value in [lo] + ([] if hi is None else [hi]):
                response = client.get(url(path, session), params={**params, name: value})
                refused = response.status_code == 422 and any(
                    e["loc"] == ["query", name]
                    and "must be an integer in" in e["msg"]
                    and f"..{hi}" in e["msg"]
                    for e in response.json()["detail"]
                )
                assert not refused, (path, name, value, response.text)


def test_body_bounds_in_the_schema_are_the_servers() -> None:
    with make_client(max_steps=5, max_depth=2) as client:
        spec = client.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        assert schemas["StepsRequest"]["properties"]["steps"]["maximum"] == 5
        layers = schemas["LayersRequest"]["properties"]["layers"]["anyOf"]
        assert {"type": "integer", "minimum": 1, "maximum": 3} in layers
        session = create(client, {"layers": [{"units": 4, "activation": "tanh"}] * 2})
        for route, field, lo, hi in [("step", "steps", 1, 5), ("forward", "layers", 1, 3)]:
            for value in (lo, hi):
                assert (
                    client.post(f"/api/sessions/{session}/{route}", json={field: value}).status_code
                    == 200
                )
            refused: list[Any] = [lo - 1, hi + 1, True, 1.5, "2", None]
            for bad in refused:
                response = client.post(f"/api/sessions/{session}/{route}", json={field: bad})
                assert response.status_code == 422, (route, bad)
                [error] = response.json()["detail"]
                assert error["loc"] == ["body", field] and f"{lo}..{hi}" in error["msg"]


# ----------------------------------------------------------------------------- strict input


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"seed": False}, ["seed"]),
        ({"seed": True}, ["seed"]),
        ({"batch_size": True}, ["batch_size"]),
        ({"learning_rate": True}, ["learning_rate"]),
        ({"l2": False}, ["l2"]),
        ({"grad_clip": True}, ["grad_clip"]),
        ({"dataset": {"n_samples": True}}, ["dataset", "n_samples"]),
        ({"dataset": {"noise": False}}, ["dataset", "noise"]),
        ({"layers": [{"units": True, "activation": "tanh"}]}, ["layers", 0, "units"]),
        ({"init": {"scale": True}}, ["init", "scale"]),
        ({"optimizer": {"name": "sgd", "momentum": True}}, ["optimizer"]),
        ({"seed": "7"}, ["seed"]),
        ({"learning_rate": "0.1"}, ["learning_rate"]),
        ({"features": "x1"}, ["features"]),
    ],
)
def test_booleans_and_strings_are_not_numbers(
    client: TestClient, body: dict[str, Any], loc: list[Any]
) -> None:
    for method, path in (("POST", "/api/sessions"), ("PATCH", f"/api/sessions/{create(client)}")):
        response = client.request(method, path, json=body)
        assert response.status_code == 422, (method, body, response.text)
        error = response.json()["detail"][0]
        assert error["loc"][: len(loc) + 1] == ["body", *loc], error


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000, "depth"),
        (b'{"learning_rate": NaN}', "not valid JSON"),
        (b'{"learning_rate": 1e400}', "infinity"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_malformed_json_is_422_with_a_clear_message(
    client: TestClient, session: str, body: bytes, words: str
) -> None:
    for method, path in (
        ("POST", "/api/sessions"),
        ("PATCH", f"/api/sessions/{session}"),
        ("POST", f"/api/sessions/{session}/step"),
        ("POST", "/api/sessions/import"),
    ):
        response = client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["body"] and error["type"] == "json_invalid"
        assert words in error["msg"], (path, error)


def test_history_since_past_every_integer_is_422(client: TestClient, session: str) -> None:
    for since in ("18446744073709551616", "1" + "0" * 40):
        response = client.get(f"/api/sessions/{session}/history", params={"since": since})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", "since"] and "0..1000000000000" in error["msg"]


@pytest.fixture(scope="module")
def an_export() -> dict[str, Any]:
    with make_client() as client:
        session = create(client)
        client.post(f"/api/sessions/{session}/step", json={"steps": 3})
        client.post(f"/api/sessions/{session}/forward", json={"layers": 1})
        export: dict[str, Any] = client.get(f"/api/sessions/{session}/export").json()
        return export


@pytest.mark.parametrize("value", [1e308, -1e308, 1e-308, 2, True, "0.5"])
def test_an_import_with_an_absurd_train_fraction_is_422(
    client: TestClient, an_export: dict[str, Any], value: Any
) -> None:
    data = copy.deepcopy(an_export)
    data["config"]["dataset"]["train_fraction"] = value
    response = client.post("/api/sessions/import", json=data)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "config", "dataset", "train_fraction"]


def _keys(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _keys(item, (*prefix, key))


def test_an_import_missing_any_key_names_it_without_internal_errors(
    client: TestClient, an_export: dict[str, Any]
) -> None:
    paths = list(_keys(an_export))
    assert ("rng", "shuffle", "state", "state") in paths and len(paths) > 40
    for path in paths:
        data = copy.deepcopy(an_export)
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        response = client.post("/api/sessions/import", json=data)
        if path[0] in ("config", "optimizer_state") and response.status_code == 201:
            continue  # every config field is optional; a missing moment starts at zero

        assert response.status_code == 422, (path, response.text)
        for error in response.json()["detail"]:
            assert error["loc"][0] == "body", (path, error)
            for internal in ("KeyError", "TypeError", "Traceback", "Error("):
                assert internal not in error["msg"], (path, error)


def _config_bounds(spec: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(field path, schema) for every config field whose schema publishes a range."""
    schemas = spec["components"]["schemas"]
    nested = {"dataset": ("dataset",), "layers": ("layers", 0), "init": ("init",)}
    for name, prop in schemas["ConfigModel"]["properties"].items():
        if name in nested:
            ref = json_ref(prop.get("items", prop))
            for inner, inner_prop in schemas[ref]["properties"].items():
                yield (*nested[name], inner), inner_prop
        else:
            yield (name,), prop


def json_ref(prop: dict[str, Any]) -> str:
    refs = [
        p["$ref"] for p in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])] if "$ref" in p
    ]
    return str(refs[0]).rsplit("/", 1)[-1]


def _config_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    if path[0] == "layers":
        return {"layers": [{"units": 4, "activation": "tanh", path[2]: value}]}
    return {path[0]: value} if len(path) == 1 else {path[0]: {path[1]: value}}


def test_config_ranges_in_the_schema_are_the_engines(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    checked = []
    for path, prop in _config_bounds(spec):
        integer = prop.get("type") == "integer"
        step = 1 if integer else 1e-9
        # /openapi.json writes every bound as a float (FastAPI's schema model): 2 → 2.0
        prop = {k: int(v) if integer and k.endswith("imum") else v for k, v in prop.items()}
        outside, inside = [], []
        if "minimum" in prop:
            outside.append(prop["minimum"] - step)
            if path != ("dataset", "n_samples"):  # 2 is for uploaded data; built-in: 10
                inside.append(prop["minimum"])
        if "exclusiveMinimum" in prop:
            outside.append(prop["exclusiveMinimum"])
            inside.append(prop["exclusiveMinimum"] + 1e-6)
        if "maximum" in prop:
            outside.append(prop["maximum"] + step)
            inside.append(prop["maximum"])
        for value in outside:
            response = client.post("/api/sessions", json=_config_with(path, value))
            assert response.status_code == 422, (path, value)
            assert response.json()["detail"][0]["loc"] == ["body", *path], (path, value)
        for value in inside:
            response = client.post("/api/sessions", json=_config_with(path, value))
            assert response.status_code == 201, (path, value, response.text)
        checked.append(path)
    assert len(checked) >= 10, (
        checked
    )  # noise, fraction, seeds, units, scale, η, batch, l1, l2, clip


def test_config_names_in_the_schema_are_the_engines(client: TestClient) -> None:
    """Every name the schema lists for an activation, initialiser, optimiser or dataset makes a
    session; a name it does not list is refused at its field (the loss and the features must
    also fit the data, which the engine checks: their unlisted names are refused too)."""
    spec = client.get("/openapi.json").json()
    listed = 0
    for path, prop in _config_bounds(spec):
        names = prop.get("enum") or prop.get("items", {}).get("enum")
        if not names:
            continue
        value: Any = ["x9"] if path == ("features",) else "not-a-name"
        response = client.post("/api/sessions", json=_config_with(path, value))
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"][: len(path) + 1] == ["body", *path]
        if path in (("layers", 0, "activation"), ("init", "name"), ("dataset", "name")):
            for name in names:
                if name != "csv":
                    body = _config_with(path, name)
                    if path == ("dataset", "name"):
                        body["features"] = ["x1"]  # fits 1-D and 2-D data alike
                    response = client.post("/api/sessions", json=body)
                    assert response.status_code == 201, (path, name, response.text)
        listed += len(names)
    optimizers = spec["components"]["schemas"]["OptimizerModel"]["properties"]["name"]["enum"]
    for name in optimizers:
        assert client.post("/api/sessions", json={"optimizer": {"name": name}}).status_code == 201
    assert listed > 30
