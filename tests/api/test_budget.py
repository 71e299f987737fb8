"""A server one student cannot break: work bounded by its estimated cost, frames bounded,
other sites kept out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import create, make_client

BIG: dict[str, Any] = {
    "dataset": {"name": "circle", "n_samples": 2000},
    "layers": [{"units": 64, "activation": "tanh"}] * 8,
    "batch_size": 2000,
}


def largest_in(message: str) -> int:
    return int(message.split("at most ")[1].split()[0])


def test_steps_past_the_budget_are_refused_naming_the_largest_that_fits() -> None:
    with make_client(max_request_seconds=0.5) as client:
        session = create(client, BIG)
        refused = client.post(f"/api/sessions/{session}/step", json={"steps": 10_000})
        assert refused.status_code == 422
        error = refused.json()["detail"][0]
        assert error["loc"] == ["body", "steps"] and error["type"] == "compute_budget"
        largest = largest_in(error["msg"])
        assert 1 <= largest < 10_000 and "0.5 s" in error["msg"]
        assert client.get(f"/api/sessions/{session}").json()["state"]["step"] == 0  # nothing ran
        done = client.post(f"/api/sessions/{session}/step", json={"steps": largest})
        assert done.status_code == 200 and done.json()["step"] == largest
        over = client.post(f"/api/sessions/{session}/step", json={"steps": largest + 1})
        assert over.status_code == 422


def test_a_grid_past_the_budget_is_refused_naming_the_largest_that_fits() -> None:
    with make_client(max_request_seconds=0.05) as client:
        session = create(client, BIG)
        refused = client.get(f"/api/sessions/{session}/boundary?grid=128")
        assert refused.status_code == 422
        error = refused.json()["detail"][0]
        assert error["loc"] == ["query", "grid"] and error["type"] == "compute_budget"
        largest = largest_in(error["msg"])
        assert 2 <= largest < 128
        fits = client.get(f"/api/sessions/{session}/boundary?grid={largest}&hidden_grid=8")
        assert fits.status_code == 200 and fits.json()["grid"] == largest


def test_gradcheck_checks_fewer_entries_on_a_large_network_and_says_so() -> None:
    with make_client(max_request_seconds=0.2) as client:
        small = client.get(f"/api/sessions/{create(client)}/gradcheck").json()
        large = client.get(f"/api/sessions/{create(client, BIG)}/gradcheck").json()
    assert small["passed"] and large["passed"]
    assert max(layer["n_weights_checked"] for layer in small["layers"]) == 64
    assert max(layer["n_weights_checked"] for layer in large["layers"]) < 64


def test_a_frame_trains_no_more_steps_than_fit_its_budget() -> None:
    with make_client(max_frame_seconds=0.02) as client:
        session = create(client, BIG)
        with client.websocket_connect(f"/api/sessions/{session}/stream") as ws:
            ws.send_json({"action": "play", "steps_per_frame": 500, "max_fps": 60, "ack": True})
            steps = []
            for _ in range(3):
                frame = ws.receive_json()
                steps.append(frame["state"]["step"])
                ws.send_json({"action": "ack"})
            ws.send_json({"action": "pause"})
            while ws.receive_json()["reason"] != "pause":
                pass
    per_frame = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    assert all(1 <= n < 500 for n in per_frame), per_frame


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser
        ("http://testserver", True),  # the server's own page
        ("https://lab.example.org", True),  # listed in allowed_origins
        ("https://evil.example.com", False),
        ("null", False),  # a sandboxed frame or a file
    ],
)
def test_streams_open_only_for_our_own_pages_and_listed_origins(
    origin: str | None, allowed: bool
) -> None:
    with make_client(allowed_origins="https://lab.example.org") as client:
        session = create(client)
        headers = {} if origin is None else {"origin": origin}
        if allowed:
            with client.websocket_connect(f"/api/sessions/{session}/stream", headers=headers) as ws:
                ws.send_json({"action": "frame"})
                assert ws.receive_json()["type"] == "frame"
        else:
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                client.websocket_connect(f"/api/sessions/{session}/stream", headers=headers),
            ):
                pass
            assert closed.value.code == 4403


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_posts_that_a_foreign_page_could_send_unasked_are_refused(
    content_type: str | None,
) -> None:
    """Cross-origin "simple" requests (no body, text or form bodies) get 415, so a hostile
    page cannot make visitors' browsers create sessions or step them."""
    with make_client(like_the_page=False) as client:
        headers = {} if content_type is None else {"content-type": content_type}
        response = client.post("/api/sessions", headers=headers)
        assert response.status_code == 415
        assert "application/json" in response.json()["detail"]
        assert len(client.app.state.store) == 0  # nothing was created
        ok = client.post("/api/sessions", headers={"content-type": "application/json"})
        assert ok.status_code == 201


def _lane_counts(client: TestClient) -> tuple[int, int, int]:
    stats = client.app.state.store.lanes.stats
    return stats.inline_jobs, stats.quick_jobs, stats.heavy_jobs


def _moved(before: tuple[int, int, int], client: TestClient) -> tuple[int, int, int]:
    after = _lane_counts(client)
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


def test_each_lane_serves_the_work_its_estimate_picks(client: TestClient) -> None:
    """(inline, quick, heavy) jobs: the default network's step and trace are estimated
    under ``inline_seconds`` (1 ms) and run on the event loop; one step of an 8×64 network on
    2,000 rows (about 12 ms) on the quick lane; twenty of them on the heavy lane."""
    small, big = create(client), create(client, BIG)
    before = _lane_counts(client)
    assert client.post(f"/api/sessions/{small}/step", json={"steps": 1}).status_code == 200
    assert client.get(f"/api/sessions/{small}/trace").status_code == 200
    assert _moved(before, client) == (2, 0, 0)
    before = _lane_counts(client)
    assert client.post(f"/api/sessions/{big}/step", json={"steps": 1}).status_code == 200
    assert _moved(before, client) == (0, 1, 0)
    before = _lane_counts(client)
    client.post(f"/api/sessions/{big}/step", json={"steps": 20})  # ~0.2 s of work
    assert _moved(before, client) == (0, 0, 1)


def test_a_small_session_is_made_on_the_event_loop(client: TestClient) -> None:
    """(inline, quick, heavy) jobs of a creation: building the default network (estimated
    under 1 ms) and its answer run on the event loop; building the 8×64 network on 2,000 rows
    (about 13 ms) on the quick lane."""
    before = _lane_counts(client)
    create(client)
    assert _moved(before, client) == (2, 0, 0)
    before = _lane_counts(client)
    create(client, BIG)
    assert _moved(before, client) == (1, 1, 0)


def test_inline_work_can_be_turned_off() -> None:
    with make_client(inline_seconds=0) as client:
        small = create(client)
        before = _lane_counts(client)
        assert client.post(f"/api/sessions/{small}/step", json={"steps": 1}).status_code == 200
        assert _moved(before, client) == (0, 1, 0)


def test_quick_requests_are_answered_while_long_work_holds_the_heavy_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long work of one session (held inside the engine until released) does not keep
    another session's quick requests waiting: all twenty are answered meanwhile."""
    import threading

    from app import operations as ops

    started, release = threading.Event(), threading.Event()
    real_train = ops.train
    held: list[str] = []

    def held_train(s: Any, steps: int, budget: float, cancel: Any) -> Any:
        if s.id in held:  # only the long request's session is held
            started.set()
            release.wait(30)
        return (yield from real_train(s, steps, budget, cancel))

    monkeypatch.setattr(ops, "train", held_train)
    with make_client() as client:
        busy, other = create(client, BIG), create(client)
        held.append(busy)
        answers: list[int] = []
        long = threading.Thread(
            target=lambda: answers.append(
                client.post(f"/api/sessions/{busy}/step", json={"steps": 20}).status_code
            )
        )
        long.start()
        assert started.wait(30)
        for _ in range(20):
            assert client.get(f"/api/sessions/{other}").status_code == 200
            assert client.post(f"/api/sessions/{other}/step", json={}).status_code == 200
        assert long.is_alive() and not answers  # the long request is still held
        release.set()
        long.join(30)
    assert answers == [200]


def test_a_boundary_with_too_many_hidden_cells_names_the_largest_hidden_grid() -> None:
    with make_client(max_grid_cells=50_000) as client:
        session = create(client, BIG)  # 8 hidden layers of 64: 512 neurons
        refused = client.get(f"/api/sessions/{session}/boundary?grid=64")
        assert refused.status_code == 422
        error = refused.json()["detail"][0]
        assert error["loc"] == ["query", "hidden_grid"] and error["type"] == "size_budget"
        largest = largest_in(error["msg"])
        assert largest == 9  # 512 × 9² = 41,472 ≤ 50,000 < 512 × 10²
        fits = client.get(f"/api/sessions/{session}/boundary?grid=64&hidden_grid={largest}")
        assert fits.status_code == 200 and fits.json()["hidden_grid"] == largest
