"""The WebSocket protocol, in process: play, pause, step, patch, reset, ack, errors, 4404."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.routers import stream as stream_route
from app.schemas.stream import ErrorFrame, FrameModel
from app.store.base import StoreUnavailableError
from engine import NetworkConfig, Trainer
from tests.api.conftest import DIVERGING, SMALL, FakeClock, create, make_client, strict_json
from tests.api.contract import assert_valid

# The published shapes of what the server sends (serialisation schemas, with their $defs).
FRAME_SCHEMA = FrameModel.model_json_schema(mode="serialization")
ERROR_SCHEMA = ErrorFrame.model_json_schema(mode="serialization")


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next message, checked against its model's schema."""
    message: dict[str, Any] = strict_json(ws.receive_text())
    assert_valid(message, FRAME_SCHEMA if message["type"] == "frame" else ERROR_SCHEMA, {})
    return message


def until(ws: WebSocketTestSession, reason: str) -> dict[str, Any]:
    for _ in range(1000):
        message = receive(ws)
        if message.get("reason") == reason:
            return message
    raise AssertionError(f"no {reason} frame")


def connect(client: TestClient, session: str) -> Any:
    return client.websocket_connect(f"/api/sessions/{session}/stream")


def test_step_frame_has_state_history_trace_and_boundary(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "step"})
        frame = receive(ws)
        assert frame["reason"] == "step" and frame["playing"] is False
        assert frame["state"]["step"] == 1 and frame["history"]["step"] == [1]
        assert frame["trace"]["detail"] == "summary" and len(frame["trace"]["layers"]) == 3
        assert frame["boundary"]["grid"] == 32 and frame["boundary"]["hidden_grid"] == 10
        ws.send_json({"action": "step"})
        assert receive(ws)["history"]["step"] == [2]  # only the rows since the last frame


def test_play_then_pause_stops_frames(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 3, "max_fps": 60})
        frames = [receive(ws) for _ in range(6)]
        assert all(f["reason"] == "play" and f["playing"] for f in frames)
        steps = [f["state"]["step"] for f in frames]
        assert steps == list(range(3, 19, 3))
        assert frames[0]["boundary"] is not None  # first frame after play
        assert frames[0]["boundary"]["inputs"] is not None
        later = [f["boundary"] for f in frames[1:] if f["boundary"] is not None]
        assert later and all(b["inputs"] is None for b in later)
        assert sum(f["boundary"] is not None for f in frames) >= 2  # and every 5th
        assert frames[1]["history"]["step"] == [4, 5, 6]
        ws.send_json({"action": "pause"})
        paused = until(ws, "pause")
        assert paused["playing"] is False
        ws.send_json({"action": "frame"})
        after = receive(ws)  # nothing queued between the pause frame and this one
        assert after["reason"] == "frame" and after["state"]["step"] == paused["state"]["step"]
        assert after["history"]["points"] == 0


def test_a_pause_stops_playing_even_when_its_cancellation_is_lost(
    client: TestClient, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library may swallow the cancel that stops the frame loop (asyncio.wait_for did, on
    Python 3.11, inside the Redis client): the pause must still end playing and answer."""
    real = stream_route.run_work
    lost = []

    async def losing_cancels(*args: Any, **kwargs: Any) -> Any:
        try:
            await asyncio.sleep(0.05)  # a store round trip: where a frame spends its time
        except asyncio.CancelledError:
            lost.append(True)  # swallowed: the frame goes on as if nothing had come
        return await real(*args, **kwargs)

    monkeypatch.setattr(stream_route, "run_work", losing_cancels)
    with connect(client, session) as ws:
        for _ in range(3):  # (a cancel lands in the round trip almost always; three tries)
            ws.send_json({"action": "play", "steps_per_frame": 1, "max_fps": 60})
            receive(ws)
            ws.send_json({"action": "pause"})
            paused = until(ws, "pause")
            assert paused["playing"] is False
            ws.send_json({"action": "frame"})
            after = receive(ws)  # nothing played after the pause frame
            assert after["reason"] == "frame"
            assert after["state"]["step"] == paused["state"]["step"]
    assert lost, "no cancel reached the frame work: the test tested nothing"


@pytest.mark.timeout(60)  # a stream that fell silent would wait for ever: a hang guard
def test_a_store_that_fails_while_playing_closes_the_stream_with_1013(
    client: TestClient, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a request would answer 503, a playing stream whose store fails is closed with
    "try again later" and the store's message, rather than falling silent."""
    real = stream_route.run_work
    frames = [0]

    async def failing_at_the_third_frame(*args: Any, **kwargs: Any) -> Any:
        frames[0] += 1
        if frames[0] == 3:
            raise StoreUnavailableError("Redis at 127.0.0.1:1 did not answer within 2 s")
        return await real(*args, **kwargs)

    monkeypatch.setattr(stream_route, "run_work", failing_at_the_third_frame)
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 1, "max_fps": 60})
        assert [receive(ws)["state"]["step"] for _ in range(2)] == [1, 2]
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 1013
    assert "did not answer" in closed.value.reason


@pytest.mark.timeout(60)  # a hang guard, as above
def test_a_long_store_message_is_cut_to_what_a_close_frame_holds(
    client: TestClient, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A close frame's reason holds at most 123 bytes: a long message (a SQLite path in
    another script) is cut there, on a whole character, not refused by the WebSocket."""
    message = "the SQLite file /data/" + "сессии/" * 40 + "sessions.db failed"
    real = stream_route.run_work
    frames = [0]

    async def failing_at_the_second_frame(*args: Any, **kwargs: Any) -> Any:
        frames[0] += 1
        if frames[0] == 2:
            raise StoreUnavailableError(message)
        return await real(*args, **kwargs)

    monkeypatch.setattr(stream_route, "run_work", failing_at_the_second_frame)
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 1, "max_fps": 60})
        receive(ws)
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    reason = closed.value.reason
    assert closed.value.code == 1013
    assert 120 <= len(reason.encode()) <= 123  # as much as fits, and no more
    assert message.startswith(reason)


def test_play_again_retunes_and_step_pauses(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 1, "max_fps": 60})
        receive(ws)
        ws.send_json({"action": "play", "steps_per_frame": 10, "max_fps": 60})
        for _ in range(50):
            frame = receive(ws)
            if frame["history"]["points"] == 10:
                break
        else:
            raise AssertionError("speed change not applied")
        ws.send_json({"action": "step"})
        stepped = until(ws, "step")
        assert stepped["playing"] is False
        ws.send_json({"action": "frame"})
        assert receive(ws)["state"]["step"] == stepped["state"]["step"]


def test_ack_mode_waits_for_the_client(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "max_fps": 60, "ack": True})
        first = receive(ws)
        assert first["reason"] == "play"
        ws.send_json({"action": "frame"})
        second = receive(ws)  # no play frame without an ack
        assert second["reason"] == "frame" and second["state"]["step"] == first["state"]["step"]
        ws.send_json({"action": "ack"})
        third = receive(ws)
        assert third["reason"] == "play" and third["state"]["step"] == first["state"]["step"] + 1
        ws.send_json({"action": "pause"})
        until(ws, "pause")


def test_patch_and_reset_over_the_stream(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "step"})
        receive(ws)
        ws.send_json({"action": "patch", "config": {"learning_rate": 0.2}})
        frame = receive(ws)
        assert frame["reason"] == "patch" and frame["reset"] is False
        assert frame["state"]["step"] == 1
        ws.send_json(
            {"action": "patch", "config": {"layers": [{"units": 3, "activation": "relu"}]}}
        )
        frame = receive(ws)
        assert frame["reset"] is True and frame["state"]["step"] == 0
        assert frame["trace"]["layers"][0]["fan_out"] == 3
        ws.send_json({"action": "step"})
        assert receive(ws)["history"]["step"] == [1]
        ws.send_json({"action": "reset"})
        frame = receive(ws)
        assert frame["reason"] == "reset" and frame["reset"] is True
        assert frame["state"]["step"] == 0
    assert client.get(f"/api/sessions/{session}").json()["config"]["learning_rate"] == 0.2


BAD_MESSAGES: list[tuple[Any, list[Any]]] = [
    ("not json", []),
    ([1, 2], []),
    ({"type": "start"}, ["action"]),
    ({"action": "fly"}, ["action"]),
    ({"action": "play", "steps_per_frame": 0}, ["steps_per_frame"]),
    ({"action": "play", "steps_per_frame": 501}, ["steps_per_frame"]),
    ({"action": "play", "steps_per_frame": "3"}, ["steps_per_frame"]),
    ({"action": "play", "steps_per_frame": True}, ["steps_per_frame"]),
    ({"action": "play", "steps_per_frame": 2.5}, ["steps_per_frame"]),
    ({"action": "play", "max_fps": 0}, ["max_fps"]),
    ({"action": "play", "max_fps": 61}, ["max_fps"]),
    ({"action": "play", "ack": "yes"}, ["ack"]),
    ({"action": "play", "colour": 1}, ["colour"]),
    ({"action": "pause", "steps": 1}, ["steps"]),
    ({"action": "frame", "grid": 1}, ["grid"]),
    ({"action": "frame", "grid": 129}, ["grid"]),
    ({"action": "frame", "grid": False}, ["grid"]),
    ({"action": "patch"}, ["config"]),
    ({"action": "patch", "config": [1]}, ["config"]),
    ({"action": "patch", "config": {"layers": [{"units": 0}]}}, ["config", "layers", 0, "units"]),
    ({"action": "patch", "config": {"colour": 1}}, ["config", "colour"]),
    ({"action": "patch", "config": {"learning_rate": "fast"}}, ["config", "learning_rate"]),
    ({"action": "patch", "config": {"seed": False}}, ["config", "seed"]),
    # Texts no JSON encoder writes: each is refused as JSON, and the socket stays open.
    ('{"action": "play", "steps_per_frame": 1e400}', []),
    ('{"action": "play", "steps_per_frame": NaN}', []),
    ('{"action": "play", "max_fps": Infinity}', []),
    ('{"action": "frame", "grid": NaN}', []),
    ('{"action": "play", "steps_per_frame": 18446744073709551616}', ["steps_per_frame"]),
    ("[" * 100_000, []),
    ('{"action": "pause", "pad": "' + "x" * 100_000 + '"}', []),
]


@pytest.mark.parametrize(("message", "loc"), BAD_MESSAGES)
def test_bad_messages_get_an_error_and_the_socket_stays_open(
    client: TestClient, session: str, message: Any, loc: list[Any]
) -> None:
    with connect(client, session) as ws:
        if isinstance(message, str):
            ws.send_text(message)
        else:
            ws.send_json(message)
        error = receive(ws)
        assert error["type"] == "error" and error["detail"][0]["loc"] == loc, error
        assert all(item["msg"] for item in error["detail"])
        ws.send_bytes(b"\x00\x01")
        assert receive(ws)["type"] == "error"
        ws.send_json({"action": "step"})
        assert receive(ws)["reason"] == "step"


def test_a_refused_play_changes_nothing(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 501, "max_fps": 60})
        assert receive(ws)["type"] == "error"
        ws.send_json({"action": "frame"})
        frame = receive(ws)  # no play frame came first: the refused play never started
        assert frame["reason"] == "frame" and frame["playing"] is False
        assert frame["state"]["step"] == 0


def test_message_bounds_follow_the_settings() -> None:
    with make_client(max_steps_per_frame=4, max_grid=8) as client:
        session = create(client)
        with connect(client, session) as ws:
            ws.send_json({"action": "play", "steps_per_frame": 5})
            error = receive(ws)["detail"][0]
            assert error["loc"] == ["steps_per_frame"] and "1..4" in error["msg"]
            ws.send_json({"action": "frame", "grid": 9})
            error = receive(ws)["detail"][0]
            assert error["loc"] == ["grid"] and "2..8" in error["msg"]
            ws.send_json({"action": "frame", "grid": 8})
            assert receive(ws)["boundary"]["grid"] == 8


def test_unknown_session_closes_with_4404(client: TestClient) -> None:
    with connect(client, "nope") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 4404


def test_deleted_session_closes_the_stream(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "frame"})
        receive(ws)
        assert client.delete(f"/api/sessions/{session}").status_code == 204
        ws.send_json({"action": "step"})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4404


def test_divergence_stops_playing(client: TestClient) -> None:
    session = create(client, DIVERGING)
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": 5, "max_fps": 60})
        for _ in range(100):
            frame = receive(ws)
            if not frame["playing"]:
                break
        assert frame["state"]["diverged"] is True and frame["reason"] == "play"
        ws.send_json({"action": "frame"})
        assert receive(ws)["reason"] == "frame"  # the player stopped by itself


def test_an_idle_paused_stream_closes_with_4408() -> None:
    with make_client(session_ttl_seconds=0.3) as client:
        session = create(client)
        with connect(client, session) as ws:
            ws.send_json({"action": "frame"})
            receive(ws)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()  # nothing sent for longer than the TTL
            assert closed.value.code == 4408


# ----------------------------------------------------------------------------- live speed


def test_binary_frames_decode_to_the_numbers_of_the_get_routes(
    client: TestClient, session: str
) -> None:
    """A binary frame is the JSON frame with its arrays as float32 bytes: decoded, it gives
    the trace's numbers to the frame's documented precision (4 significant digits)."""
    from app.schemas.binary import decode

    with client.websocket_connect(f"/api/sessions/{session}/stream?encoding=binary") as ws:
        ws.send_json({"action": "step"})
        raw = ws.receive_bytes()
    frame = decode(raw)
    assert_valid(frame_with_base64_grids(frame), FRAME_SCHEMA, {})
    trace = client.get(f"/api/sessions/{session}/trace").json()
    for got, want in zip(frame["trace"]["layers"], trace["layers"], strict=True):
        for name in ("W", "dW", "b", "a_mean", "dz_mean_abs"):
            # Frames keep 4 significant digits of each array's largest entry (smaller entries
            # keep what that leaves), then float32: off by at most half a unit of that digit.
            scale = float(np.max(np.abs(want[name])))
            atol = 0.5 * 10 ** (np.floor(np.log10(scale)) - 3) * 1.001 if scale else 0.0
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=atol, err_msg=name)
        assert (
            got["summaries"]["W"]["histogram"]["counts"]
            == want["summaries"]["W"]["histogram"]["counts"]
        )
    assert frame["state"] == client.get(f"/api/sessions/{session}").json()["state"]
    grid = client.get(f"/api/sessions/{session}/boundary?grid=32&hidden_grid=10").json()
    import base64

    assert frame["boundary"]["output"]["data"] == base64.b64decode(grid["output"]["data"])
    assert len(raw) < len(client.get(f"/api/sessions/{session}/trace").content)


def frame_with_base64_grids(frame: dict[str, Any]) -> dict[str, Any]:
    """A decoded binary frame in the JSON frame's form (its grids' bytes as base64 again)."""
    import base64

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("encoding") == "u8":
                out = dict(value, encoding="u8-base64")
                out["data"] = base64.b64encode(value["data"]).decode()
                return out
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return fix(frame)


def test_a_window_of_two_lets_one_frame_be_computed_ahead_never_more(
    client: TestClient, session: str
) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "max_fps": 60, "ack": True, "window": 2})
        first, second = receive(ws), receive(ws)  # both sent before any ack
        assert (first["state"]["step"], second["state"]["step"]) == (1, 2)
        ws.send_json({"action": "frame"})  # a round trip: had a third frame been sent, it
        assert until(ws, "frame")["state"]["step"] == 2  # would arrive before this answer
        ws.send_json({"action": "ack"})
        assert receive(ws)["state"]["step"] == 3
        ws.send_json({"action": "pause"})
        frames_before_pause = 0
        while receive(ws)["reason"] != "pause":
            frames_before_pause += 1
        assert frames_before_pause <= 1  # pause is answered within one frame


def test_frames_leave_out_what_the_client_does_not_draw(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        view = {"edges": "dW", "layer": 1, "sample": False}
        ws.send_json({"action": "play", "max_fps": 60, "ack": True, "view": view})
        play = receive(ws)
        ws.send_json({"action": "pause"})
        pause = until(ws, "pause")
    for layer in play["trace"]["layers"]:
        assert layer["W"] is None and layer["dW"] is not None
        assert bool(layer["summaries"]) == (layer["index"] == 1)
        assert layer["sample"] == {"z": None, "a": None, "da": None, "dz": None}
    for layer in pause["trace"]["layers"]:  # frames outside play are whole
        assert layer["W"] is not None and layer["summaries"]


def test_auto_steps_and_a_frames_history_are_bounded(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": "auto", "max_fps": 10, "ack": True})
        steps = []
        for _ in range(4):
            frame = receive(ws)
            steps.append(frame["state"]["step"])
            history = frame["history"]
            assert 1 <= history["points"] <= 32
            assert history["step"][-1] == frame["state"]["step"]  # the last row is always there
            assert history["evaluated"][-1]  # and evaluated: the state is current
            assert sum(history["evaluated"]) <= 2  # once per frame (plus a row thinned in)
            ws.send_json({"action": "ack"})
        ws.send_json({"action": "pause"})
        until(ws, "pause")
    per_frame = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    assert all(1 <= n <= 500 for n in per_frame) and max(per_frame) > 1


def test_retuning_while_playing_keeps_the_window(client: TestClient, session: str) -> None:
    with connect(client, session) as ws:
        play = {"action": "play", "max_fps": 60, "ack": True, "window": 2}
        ws.send_json(play)
        receive(ws), receive(ws)  # two frames out, none acknowledged
        ws.send_json({**play, "view": {"edges": "W"}})  # retune: no new credit
        ws.send_json({"action": "frame"})
        assert until(ws, "frame")["state"]["step"] == 2  # no third play frame came first
        ws.send_json({"action": "pause"})
        until(ws, "pause")


# --- "auto" steps per frame: the client's pace --------------------------------------------


def test_pipelined_auto_trains_for_the_clients_time_per_frame() -> None:
    # A client taking 40 ms a frame at up to 60 frames/s, 3 ms to build a frame.
    assert stream_route.auto_seconds(60, 0.003, 0.040, pipelined=True) == pytest.approx(
        stream_route.PIPELINE_SHARE * 0.040 - 0.003, abs=1e-12
    )
    # A client faster than max_fps: the frame rate is capped, so is the time per frame.
    assert stream_route.auto_seconds(60, 0.003, 0.001, pipelined=True) == pytest.approx(
        stream_route.PIPELINE_SHARE / 60 - 0.003, abs=1e-12
    )
    # Lockstep, or no ack yet: a share of a frame at max_fps, whatever the client takes.
    lockstep = stream_route.AUTO_SHARE / 60 - 0.003
    assert stream_route.auto_seconds(60, 0.003, 0.040, pipelined=False) == pytest.approx(lockstep)
    assert stream_route.auto_seconds(60, 0.003, None, pipelined=True) == pytest.approx(lockstep)
    # Building slower than the frame: still a little training per frame.
    floor = stream_route.AUTO_MIN_SECONDS
    assert stream_route.auto_seconds(60, 1.0, 0.040, pipelined=True) == floor


def test_client_pace_times_each_frame_from_when_the_client_could_start_it() -> None:
    clock = FakeClock()
    pace = stream_route.ClientPace(clock)
    pace.frame_sent()  # frame 1 at t = 0, frame 2 at t = 5 ms (a window of two)
    clock.advance(0.005)
    pace.frame_sent()
    clock.advance(0.025)  # frame 1 drawn at t = 30 ms: 30 ms since it was sent
    pace.acked()
    assert pace.seconds == pytest.approx(0.030, abs=1e-9)
    clock.advance(0.030)  # frame 2 drawn at t = 60 ms: 30 ms since the client finished frame 1
    pace.acked()
    assert pace.seconds == pytest.approx(0.030, abs=1e-9)
    clock.advance(0.100)  # the client waits idle for frame 3, then draws it in 10 ms
    pace.frame_sent()
    clock.advance(0.010)
    pace.acked()
    expected = (1 - stream_route.NEWEST) * 0.030 + stream_route.NEWEST * 0.010
    assert pace.seconds == pytest.approx(expected, abs=1e-9)
    pace.acked()  # an ack with no frame out (from an earlier play) changes nothing
    assert pace.seconds == pytest.approx(expected, abs=1e-9)


def test_auto_frames_never_exceed_the_frame_budgets_step_clamp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that takes forever per frame asks for all the time in the world: each frame
    still trains no more steps than fit ``max_frame_seconds`` (by the engine's estimate)."""
    budget = 0.004
    fit = Trainer(NetworkConfig.from_dict(SMALL)).cost.steps_within(budget)
    assert 1 < fit < 500  # the clamp is what bounds these frames, not max_steps_per_frame
    asked: list[tuple[float | None, bool]] = []

    def endless(fps: float, build: float, client: float | None, pipelined: bool) -> float:
        asked.append((client, pipelined))
        return 1e6

    monkeypatch.setattr(stream_route, "auto_seconds", endless)
    with make_client(max_frame_seconds=budget) as client, connect(client, create(client)) as ws:
        ws.send_json({"action": "play", "steps_per_frame": "auto", "ack": True, "window": 2})
        steps = []
        for _ in range(6):
            steps.append(receive(ws)["state"]["step"])
            ws.send_json({"action": "ack"})
        ws.send_json({"action": "pause"})
        until(ws, "pause")
    per_frame = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    assert per_frame == [fit] * len(per_frame)
    assert all(pipelined for _, pipelined in asked)  # window 2 with acks: pipelined
    assert any(client is not None for client, _ in asked)  # and the acks were timed


def test_a_reader_that_stops_acknowledging_stops_auto_training(
    client: TestClient, session: str
) -> None:
    """However slow the client, at most two frames are out: training waits for its acks."""
    with connect(client, session) as ws:
        ws.send_json({"action": "play", "steps_per_frame": "auto", "ack": True, "window": 2})
        receive(ws)
        second = receive(ws)["state"]["step"]
        for _ in range(3):  # round trips: any further play frame would arrive before the answer
            ws.send_json({"action": "frame"})
            assert until(ws, "frame")["state"]["step"] == second
        ws.send_json({"action": "ack"})
        assert receive(ws)["state"]["step"] > second  # one ack, one more frame
        ws.send_json({"action": "pause"})
        until(ws, "pause")
