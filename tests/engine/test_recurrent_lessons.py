"""Recurrent lessons: their format (timesteps instead of layers, their own measures) is checked
with the file and the field named, and their claims turn into failures when a setup changes."""

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
from engine.recurrent_trainer import RecurrentTrainer
from engine.stages import Stage
from tests.conftest import ROOT

HEAD = 'title = "T"\nsummary = "s"\ngoal = "g"\nwatch = "w"\n'
RECURRENT_SETUP = """
[[setups]]
label = "a"
config = { dataset = { name = "delay", length = 6, n_samples = 40 }, cell = "gru", hidden = 3 }
"""
DENSE_SETUP = (
    '\n[[setups]]\nlabel = "a"\nconfig = { layers = [{ units = 4, activation = "tanh" }] }\n'
)
STEP = '\n[[steps]]\ndo = "forward"\ntimesteps = 3\ntext = "t"\n'
CHECKPOINT = '[[steps.checkpoints]]\ntext = "x"\nexpect = [{{ setup = "A", {rest} }}]\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "21-recurrent.toml"
    path.write_text(text)
    return path


def test_a_recurrent_lesson_sets_up_recurrent_runs_and_counts_timesteps(tmp_path: Path) -> None:
    lesson = load_lesson(_write(tmp_path, HEAD + 'model = "recurrent"\n' + RECURRENT_SETUP + STEP))
    assert lesson.model == "recurrent" and lesson.steps[0].timesteps == 3
    trainer = start_setup(lesson.setups[0])
    assert isinstance(trainer, RecurrentTrainer) and trainer.config.cell == "gru"
    take_step(trainer, lesson.steps[0])
    assert trainer.stage == Stage("forward", timestep=2)


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        (HEAD + 'model = "quantum"\n' + RECURRENT_SETUP + STEP, ("model",)),
        (
            HEAD + 'model = "recurrent"\n' + RECURRENT_SETUP + STEP.replace("timesteps", "layers"),
            ("steps", 0, "layers"),
        ),
        (
            HEAD + 'model = "recurrent"\n' + RECURRENT_SETUP + STEP.replace("= 3", "= 0"),
            ("steps", 0, "timesteps"),
        ),
        (
            HEAD
            + 'model = "recurrent"\n'
            + RECURRENT_SETUP.replace("hidden = 3", "hidden = 65")
            + STEP,
            ("setups", 0, "config", "hidden"),
        ),
        (
            HEAD + 'model = "recurrent"\nweight = [0, 0, 0]\n' + RECURRENT_SETUP + STEP,
            ("weight",),
        ),
        (
            HEAD
            + 'model = "recurrent"\n'
            + RECURRENT_SETUP
            + STEP
            + CHECKPOINT.format(rest='measure = "grad_norm_ratio", above = 1'),
            ("steps", 0, "checkpoints", 0, "expect", 0),
        ),
        (HEAD + DENSE_SETUP + STEP, ("steps", 0, "timesteps")),
    ],
)
def test_a_broken_recurrent_lesson_names_the_file_and_the_field(
    tmp_path: Path, text: str, loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(LessonError) as caught:
        load_lesson(_write(tmp_path, text))
    assert caught.value.source == "21-recurrent.toml"
    assert caught.value.loc[: len(loc)] == loc, str(caught.value)


def test_a_recurrent_checkpoint_that_no_longer_holds_says_so() -> None:
    lesson = next(x for x in load_lessons([ROOT / "lessons"]) if x.id == "rnn-vs-lstm")
    # A teacher swapped setup A's RNN for the LSTM: the claim about A is no longer true.
    trainers = {"A": start_setup(lesson.setups[1]), "B": start_setup(lesson.setups[1])}
    step = next(s for s in lesson.steps if s.checkpoints)
    for trainer in trainers.values():
        trainer.backward(None)
    result = read_checkpoint(step.checkpoints[0], trainers, None)
    assert not result.holds
    assert any("A's first_step_ratio below 1e-06" in failure for failure in result.failures)


def test_a_measure_of_the_other_kind_reads_as_not_available() -> None:
    lesson = next(x for x in load_lessons([ROOT / "lessons"]) if x.id == "rnn-vs-lstm")
    dense = next(x for x in load_lessons([ROOT / "lessons"]) if x.id == "vanishing-gradients")
    trainers = {"A": start_setup(lesson.setups[0]), "B": start_setup(lesson.setups[1])}
    for trainer in trainers.values():
        trainer.backward(None)
    claim = next(s for s in dense.steps if s.checkpoints).checkpoints[0]
    result = read_checkpoint(claim, trainers, None)
    assert not result.holds and result.values["A.grad_norm_ratio"] is None
