"""Lessons over HTTP: the list and each lesson as the page gets them, checkpoints read from live
sessions (the same numbers the engine reads), and lesson files checked when the app is made:
a broken one stops it, naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.main import create_app
from app.settings import Settings
from engine.config import RecurrentConfig
from engine.lessons import LessonError, load_lessons, read_checkpoint, take_step
from engine.recurrent_trainer import RecurrentTrainer
from engine.trainer import Trainer
from tests.api.conftest import GENEROUS_QUOTAS, create, make_client, strict_json
from tests.conftest import ROOT

# Every shipped lesson, dense and recurrent.
SHIPPED = load_lessons([ROOT / "lessons"])  # dense and recurrent lessons alike
BY_ID = {lesson.id: lesson for lesson in SHIPPED}


def do_step(client: TestClient, session: str, step: dict[str, Any], model: str = "dense") -> None:
    """What the page does for a lesson step on one setup's session (a recurrent lesson
    counts timesteps where a dense one counts layers)."""
    if step["do"] == "look":
        return
    if step["do"] == "train":
        route, body = "step", {"steps": step["steps"]}
    else:
        route, body = step["do"], None
        if step["do"] in ("forward", "backward"):
            key = "timesteps" if model == "recurrent" else "layers"
            body = {key: "all" if step[key] is None else step[key]}
    response = client.post(f"/api/sessions/{session}/{route}", json=body)
    assert response.status_code == 200, response.text


def open_lesson(client: TestClient, lesson_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The lesson's answer and a session per setup, created from the setup's config."""
    lesson = client.get(f"/api/lessons/{lesson_id}").json()
    sessions = {setup["name"]: create(client, setup["config"]) for setup in lesson["setups"]}
    return lesson, sessions


def read(client: TestClient, lesson_id: str, step: int, sessions: dict[str, str]) -> Any:
    response = client.get(
        f"/api/lessons/{lesson_id}/checkpoints", params={"step": step, **sessions}
    )
    assert response.status_code == 200, response.text
    return strict_json(response.text)


def test_the_list_has_every_lesson_in_order_with_its_link_and_setups(client: TestClient) -> None:
    listed = client.get("/api/lessons").json()["lessons"]
    assert [entry["id"] for entry in listed] == [lesson.id for lesson in SHIPPED]
    for entry, lesson in zip(listed, SHIPPED, strict=True):
        assert entry["title"] == lesson.title and entry["summary"] == lesson.summary
        assert entry["link"] == f"/?lesson={lesson.id}"
        assert [s["label"] for s in entry["setups"]] == [s.label for s in lesson.setups]
        assert entry["refused"] is None  # the default limits run every shipped lesson


def test_a_setup_config_makes_exactly_the_lesson_network(client: TestClient) -> None:
    for lesson in SHIPPED:
        answer = client.get(f"/api/lessons/{lesson.id}").json()
        assert [step["do"] for step in answer["steps"]] == [step.do for step in lesson.steps]
        for setup, expected in zip(answer["setups"], lesson.setups, strict=True):
            want = {"model": "dense", **expected.config.to_dict()}  # a recurrent one says so
            assert setup["config"] == want, (lesson.id, setup["name"])
            created = client.post("/api/sessions", json=setup["config"]).json()
            assert created["config"] == setup["config"], (lesson.id, setup["name"])


def test_a_lesson_says_what_each_step_does_shows_and_checks(client: TestClient) -> None:
    answer = client.get("/api/lessons/vanishing-gradients").json()
    backward = answer["steps"][1]
    assert backward["do"] == "backward" and backward["layers"] is None
    assert backward["highlight"] == "flow"
    [checkpoint] = backward["checkpoints"]
    assert "{A.grad_norm_ratio:.1e}" in checkpoint["text"]  # the file's sentence, unfilled
    assert {e["setup"]: e["below"] for e in checkpoint["expect"]} == {"A": 1e-4, "B": 10}
    assert set(answer["measures"]) == {"grad_norm_first", "grad_norm_ratio"}
    chain = client.get("/api/lessons/chain-rule").json()
    assert chain["weight"] == [1, 2, 3] and len(chain["setups"]) == 1


@pytest.mark.parametrize("lesson", SHIPPED, ids=[lesson.id for lesson in SHIPPED])
def test_checkpoints_read_through_the_api_are_the_engines_and_hold(lesson: Any) -> None:
    """The page's way through a lesson (sessions made from the answer, steps sent as requests)
    reaches the very numbers the engine reads on its own trainers: to 1e-12, relative."""
    with make_client() as client:
        answer, sessions = open_lesson(client, lesson.id)
        trainers = {
            setup.name: RecurrentTrainer(setup.config)
            if isinstance(setup.config, RecurrentConfig)
            else Trainer(setup.config)
            for setup in lesson.setups
        }
        read_any = False
        for k, (step, engine_step) in enumerate(zip(answer["steps"], lesson.steps, strict=True)):
            for name, session in sessions.items():
                do_step(client, session, step, answer["model"])
                take_step(trainers[name], engine_step)
            result = read(client, lesson.id, k, sessions)
            assert result["sessions"] == {name: t.step for name, t in trainers.items()}
            assert len(result["checkpoints"]) == len(engine_step.checkpoints)
            for reading, checkpoint in zip(
                result["checkpoints"], engine_step.checkpoints, strict=True
            ):
                expected = read_checkpoint(checkpoint, trainers, lesson.weight)
                assert reading["holds"] is True, reading["failures"]
                assert reading["failures"] == []
                assert reading["text"] == expected.text
                assert set(reading["values"]) == set(expected.values)
                for key, value in expected.values.items():
                    assert value is not None
                    assert reading["values"][key] == pytest.approx(value, rel=1e-12), key
                read_any = True
        assert read_any


def test_a_checkpoint_that_no_longer_holds_says_what_it_expected_and_found(
    client: TestClient,
) -> None:
    answer, sessions = open_lesson(client, "vanishing-gradients")
    # A learner swaps A's sigmoid layers for ReLU with He: A no longer vanishes.
    relu = answer["setups"][1]["config"]
    patch = {"layers": relu["layers"], "init": relu["init"]}
    assert client.patch(f"/api/sessions/{sessions['A']}", json=patch).status_code == 200
    for session in sessions.values():
        do_step(client, session, answer["steps"][1])
    [reading] = read(client, "vanishing-gradients", 1, sessions)["checkpoints"]
    assert reading["holds"] is False
    [failure] = reading["failures"]
    found = reading["values"]["A.grad_norm_ratio"]
    assert found > 1e-4
    assert failure == f"expected A's grad_norm_ratio below 0.0001, found {found:.3g}"


def test_a_setup_without_a_session_reads_as_not_available(client: TestClient) -> None:
    _, sessions = open_lesson(client, "vanishing-gradients")
    [reading] = read(client, "vanishing-gradients", 1, {"A": sessions["A"]})["checkpoints"]
    assert reading["holds"] is False
    assert reading["values"]["B.grad_norm_ratio"] is None
    assert "—" in reading["text"]
    assert any("B's grad_norm_ratio" in f and "not available yet" in f for f in reading["failures"])


def test_one_session_named_for_two_setups_is_read_once_without_waiting_on_itself(
    client: TestClient,
) -> None:
    _, sessions = open_lesson(client, "exploding-gradients")
    both = {"A": sessions["B"], "B": sessions["B"]}
    client.post(f"/api/sessions/{sessions['B']}/backward", json={"layers": "all"})
    [reading] = read(client, "exploding-gradients", 0, both)["checkpoints"]
    assert reading["values"]["A.dz_norm_ratio"] == reading["values"]["B.dz_norm_ratio"]


def test_a_diverged_number_is_null_in_the_answer(tmp_path: Path) -> None:
    diverging = 'dataset = { name = "plane" }, optimizer = { name = "sgd" }, learning_rate = 100.0'
    text = LESSON.replace("CONFIG", diverging).replace('"tanh"', '"linear"')
    (tmp_path / "blow-up.toml").write_text(
        text.replace("MEASURE", "train_loss").replace("STEPS", "60")
    )
    with make_client(lessons_dir=tmp_path) as client:
        answer, sessions = open_lesson(client, "blow-up")
        do_step(client, sessions["A"], answer["steps"][0])
        response = client.get("/api/lessons/blow-up/checkpoints", params={"step": 0, **sessions})
        assert "NaN" not in response.text and "Infinity" not in response.text
        [reading] = strict_json(response.text)["checkpoints"]
        assert reading["values"] == {"A.train_loss": None}
        assert reading["holds"] is False


def test_unknown_lessons_sessions_steps_and_setups_are_refused_by_name(
    client: TestClient,
) -> None:
    _, sessions = open_lesson(client, "dead-relus")
    assert client.get("/api/lessons/no-such-lesson").status_code == 404
    unknown = client.get("/api/lessons/no-such-lesson/checkpoints", params={"step": 0})
    assert unknown.status_code == 404 and "no-such-lesson" in unknown.json()["detail"]
    gone = client.get(
        "/api/lessons/dead-relus/checkpoints", params={"step": 0, "A": "expired-session"}
    )
    assert gone.status_code == 404 and "session" in gone.json()["detail"]
    last = len(BY_ID["dead-relus"].steps) - 1
    for params, loc, words in [
        ({"step": last + 1}, ["query", "step"], f"0..{last}"),
        ({"step": -1}, ["query", "step"], "0.."),
        ({"step": "one"}, ["query", "step"], "0.."),
        ({"step": 0, "C": sessions["A"]}, ["query", "C"], "its setups are A, B"),
    ]:
        response = client.get("/api/lessons/dead-relus/checkpoints", params=params)
        assert response.status_code == 422, params
        [error] = response.json()["detail"]
        assert error["loc"] == loc and words in error["msg"], error


# ----------------------------------------------------------------------------- lesson files

LESSON = """
title = "A teacher's lesson"
summary = "s"
goal = "g"
watch = "w"
order = 15

[[setups]]
label = "a"
config = { layers = [{ units = 4, activation = "tanh" }], CONFIG }

[[steps]]
do = "train"
steps = STEPS
text = "t"

[[steps.checkpoints]]
text = "It reads {A.MEASURE:.3g}."
expect = [{ setup = "A", measure = "MEASURE", above = 0 }]
"""
GOOD = LESSON.replace("CONFIG", "seed = 3").replace("MEASURE", "loss_drop").replace("STEPS", "20")


def test_an_extra_folder_of_lessons_joins_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "05-my-lesson.toml").write_text(GOOD)
    with make_client(lessons_dir=tmp_path) as client:
        listed = [entry["id"] for entry in client.get("/api/lessons").json()["lessons"]]
        assert set(listed) == {lesson.id for lesson in SHIPPED} | {"my-lesson"}
        assert listed.index("my-lesson") == 1  # order 15: after the chain rule (10)
        answer, sessions = open_lesson(client, "my-lesson")
        assert answer["setups"][0]["config"]["seed"] == 3
        do_step(client, sessions["A"], answer["steps"][0])
        [reading] = read(client, "my-lesson", 0, sessions)["checkpoints"]
        assert reading["holds"] is True and reading["values"]["A.loss_drop"] > 0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GOOD.replace('do = "train"', 'do = "dance"'), "steps[0].do"),
        (GOOD.replace("units = 4", "units = 0"), "setups[0].config.layers[0].units"),
        (GOOD.replace("order = 15", "order = 15\ncolour = 1"), "colour: unknown field"),
        (GOOD.replace('measure = "loss_drop"', 'measure = "wisdom"'), "steps[0].checkpoints"),
        (GOOD.replace("seed = 3", 'init = { name = "golden" }'), "setups[0].config.init.name"),
        (GOOD.replace("title =", "title"), "not valid TOML"),
    ],
)
def test_a_broken_lesson_file_stops_the_app_naming_the_file_and_the_field(
    tmp_path: Path, text: str, where: str
) -> None:
    (tmp_path / "09-broken.toml").write_text(text)
    settings = Settings(lessons_dir=tmp_path, **GENEROUS_QUOTAS)
    with pytest.raises(LessonError) as refused:
        create_app(settings)
    assert str(refused.value).startswith("09-broken.toml: ")
    assert where in str(refused.value)


def test_the_server_command_refuses_a_broken_lesson_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "09-broken.toml").write_text(GOOD.replace("steps = 20", "steps = 0"))
    monkeypatch.setenv("BACKPROP_LAB_LESSONS_DIR", str(tmp_path))
    started: list[object] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: started.append(args))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve"])
    assert exit_info.value.code == 2 and started == []
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("backprop-lab serve: error: lesson 09-broken.toml: steps[0].steps: ")


def test_a_lesson_may_not_take_the_id_of_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "dead-relus.toml").write_text(GOOD)
    with pytest.raises(LessonError, match=r"dead-relus\.toml: id: 'dead-relus' is also the id"):
        create_app(Settings(lessons_dir=tmp_path, **GENEROUS_QUOTAS))


def test_a_server_with_tighter_limits_starts_and_names_the_lessons_it_cannot_run() -> None:
    with make_client(max_depth=4) as client:
        listed = {entry["id"]: entry for entry in client.get("/api/lessons").json()["lessons"]}
        refused = {key for key, entry in listed.items() if entry["refused"]}
        # Vanishing (10 layers) and exploding (8) gradients need more than 4 hidden layers.
        assert refused == {"vanishing-gradients", "exploding-gradients"}
        assert "setup A" in listed["vanishing-gradients"]["refused"]
        assert "layers" in listed["vanishing-gradients"]["refused"]
        config = client.get("/api/lessons/vanishing-gradients").json()["setups"][0]["config"]
        response = client.post("/api/sessions", json=config)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", "layers"]
