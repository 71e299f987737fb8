"""Lessons: every shipped lesson reproduces its phenomenon, and broken lesson files are
refused with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.lessons import (
    LessonError,
    load_lesson,
    load_lessons,
    read_checkpoint,
    start_setup,
    take_step,
)
from engine.trainer import Trainer
from tests.conftest import ROOT

LESSONS = load_lessons([ROOT / "lessons"])


def test_the_shipped_lessons_cover_the_classic_phenomena() -> None:
    ids = {lesson.id for lesson in LESSONS}
    assert len(LESSONS) >= 12
    for needed in ("chain-rule", "vanishing-gradients", "exploding-gradients", "dead-relus"):
        assert needed in ids


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_every_checkpoint_of_every_lesson_holds(lesson: object) -> None:
    """Each lesson's claims, read from live numbers at the step they belong to."""
    from engine.lessons import Lesson

    assert isinstance(lesson, Lesson)
    trainers = {setup.name: start_setup(setup) for setup in lesson.setups}
    checked = 0
    for step in lesson.steps:
        for trainer in trainers.values():
            take_step(trainer, step)
        for checkpoint in step.checkpoints:
            result = read_checkpoint(checkpoint, trainers, lesson.weight)
            assert result.holds, (lesson.source, result.failures)
            assert "—" not in result.text  # every number in the sentence was available
            checked += 1
    assert checked >= 1


def test_a_checkpoint_that_no_longer_holds_says_so() -> None:
    lesson = next(lesson for lesson in LESSONS if lesson.id == "vanishing-gradients")
    # A teacher swapped setup A's sigmoid for relu + He: the claim about A is no longer true.
    trainers = {
        "A": Trainer(lesson.setups[1].config),
        "B": Trainer(lesson.setups[1].config),
    }
    step = next(s for s in lesson.steps if s.checkpoints)
    for trainer in trainers.values():
        trainer.backward(None)
    result = read_checkpoint(step.checkpoints[0], trainers, lesson.weight)
    assert not result.holds
    assert any("A's grad_norm_ratio below 0.0001" in failure for failure in result.failures)


def _lesson_text(**changes: str) -> str:
    fields = {
        "title": '"A title"',
        "summary": '"s"',
        "goal": '"g"',
        "watch": '"w"',
    }
    fields.update(changes)
    head = "\n".join(f"{k} = {v}" for k, v in fields.items())
    return (
        head
        + """

[[setups]]
label = "a"
config = { layers = [{ units = 4, activation = "tanh" }] }

[[steps]]
do = "train"
steps = 5
text = "t"
"""
    )


UNITS = ("setups", 0, "config", "layers", 0, "units")
ACTIVATION = ("setups", 0, "config", "layers", 0, "activation")
CHECKPOINT = '[[steps.checkpoints]]\ntext = "{text}"\nexpect = [{{ setup = "{setup}", {rest} }}]\n'
IN_RANGE = 'measure = "step", above = 1'


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        (_lesson_text(title='""'), ("title",)),
        (_lesson_text(surprise="1"), ("surprise",)),
        (
            _lesson_text().replace("units = 4", "units = 0"),
            ("setups", 0, "config", "layers", 0, "units"),
        ),
        (
            _lesson_text().replace('"tanh"', '"tanhh"'),
            ("setups", 0, "config", "layers", 0, "activation"),
        ),
        (_lesson_text().replace("config = {", "config = { colour = 1,"), ("setups", 0, "config")),
        (_lesson_text().replace('do = "train"', 'do = "dance"'), ("steps", 0, "do")),
        (_lesson_text().replace("steps = 5", "steps = 0"), ("steps", 0, "steps")),
        (
            _lesson_text() + CHECKPOINT.format(text="{A.nonsense}", setup="A", rest=IN_RANGE),
            ("steps", 0, "checkpoints", 0, "text"),
        ),
        (
            _lesson_text() + CHECKPOINT.format(text="x", setup="B", rest=IN_RANGE),
            ("steps", 0, "checkpoints", 0, "expect", 0),
        ),
        (
            _lesson_text() + CHECKPOINT.format(text="x", setup="A", rest='measure = "step"'),
            ("steps", 0, "checkpoints", 0, "expect", 0),
        ),
    ],
)
def test_a_broken_lesson_names_the_file_and_the_field(
    tmp_path: Path, text: str, loc: tuple[str | int, ...]
) -> None:
    path = tmp_path / "07-broken.toml"
    path.write_text(text)
    with pytest.raises(LessonError) as caught:
        load_lesson(path)
    assert caught.value.source == "07-broken.toml"
    assert caught.value.loc[: len(loc)] == loc, str(caught.value)
    assert str(caught.value).startswith("07-broken.toml: ")


def test_lessons_from_another_folder_join_and_may_not_reuse_an_id(tmp_path: Path) -> None:
    (tmp_path / "extra.toml").write_text(_lesson_text(title='"Extra"'))
    both = load_lessons([ROOT / "lessons", tmp_path])
    assert len(both) == len(LESSONS) + 1 and any(lesson.id == "extra" for lesson in both)
    (tmp_path / "vanishing-gradients.toml").write_text(_lesson_text())
    with pytest.raises(LessonError, match="also the id of"):
        load_lessons([ROOT / "lessons", tmp_path])
