"""Lessons (``GET /api/lessons``, ``/api/lessons/{id}``) and their checkpoints read from live
sessions (``/api/lessons/{id}/checkpoints``).

A lesson's setups carry their full, validated config: the page creates its sessions from it,
so a lesson opens exactly the network its file describes. A checkpoint's sentence is only
ever filled in by the server, from the sessions' trainers (:func:`engine.lessons.read_checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import Field

from app.schemas.recurrent import RecurrentConfigModel
from app.schemas.requests import ConfigModel
from app.schemas.wire import Real, ResponseModel
from engine.config import RecurrentConfig
from engine.lessons import (
    MEASURES,
    RECURRENT_MEASURES,
    Checkpoint,
    CheckpointResult,
    Expectation,
    Lesson,
    LessonStep,
    Setup,
)

SetupName = Literal["A", "B", "C", "D"]
Action = Literal["forward", "loss", "backward", "update", "train", "look"]
Panel = Literal["network", "flow", "inspector", "loss", "boundary", "controls", "transport"]


def lesson_link(lesson_id: str) -> str:
    return f"/?lesson={lesson_id}"


class SetupLabelModel(ResponseModel):
    name: SetupName
    label: str


class LessonSummaryModel(ResponseModel):
    id: str = Field(description="The lesson's id: its file name without the ordering number.")
    title: str
    summary: str
    order: int = Field(description="Position in the list (lessons are listed by it).")
    link: str = Field(description="The page's link that opens this lesson.")
    model: Literal["dense", "recurrent"] = Field(
        description="The model kind of every setup of the lesson."
    )
    setups: list[SetupLabelModel]
    refused: str | None = Field(
        description="Why this server cannot run the lesson (a setup passes one of its limits, "
        "named), or null when it can."
    )

    @classmethod
    def from_engine(cls, lesson: Lesson, refused: str | None) -> LessonSummaryModel:
        return cls(
            id=lesson.id,
            title=lesson.title,
            summary=lesson.summary,
            order=lesson.order,
            link=lesson_link(lesson.id),
            model=cast(Literal["dense", "recurrent"], lesson.model),
            setups=[
                SetupLabelModel(name=cast(SetupName, s.name), label=s.label) for s in lesson.setups
            ],
            refused=refused,
        )


class LessonListModel(ResponseModel):
    lessons: list[LessonSummaryModel] = Field(description="In order.")


class SetupModel(ResponseModel):
    name: SetupName = Field(description="A to D, in the order of the file.")
    label: str
    changes: dict[str, Any] = Field(
        description="The partial config the lesson file gives (layers written out), merged "
        "onto the defaults to make `config`."
    )
    config: ConfigModel | RecurrentConfigModel = Field(
        description="The whole validated config: create the session from it (``model`` says "
        "its kind)."
    )

    @classmethod
    def from_engine(cls, setup: Setup) -> SetupModel:
        config = setup.config
        return cls(
            name=cast(SetupName, setup.name),
            label=setup.label,
            changes=dict(setup.patch),
            config=RecurrentConfigModel.from_engine(config)
            if isinstance(config, RecurrentConfig)
            else ConfigModel.from_engine(config),
        )


class ExpectationModel(ResponseModel):
    setup: SetupName
    measure: str = Field(description="A measure's name (see `measures`).")
    below: float | None
    above: float | None
    description: str = Field(description="The expectation in words.")

    @classmethod
    def from_engine(cls, e: Expectation) -> ExpectationModel:
        return cls(
            setup=cast(SetupName, e.setup),
            measure=e.measure,
            below=e.below,
            above=e.above,
            description=e.describe(),
        )


class CheckpointModel(ResponseModel):
    text: str = Field(
        description="The sentence as the file writes it: `{SETUP.measure:format}` fields are "
        "filled in by GET /api/lessons/{id}/checkpoints from the live sessions."
    )
    expect: list[ExpectationModel]

    @classmethod
    def from_engine(cls, checkpoint: Checkpoint) -> CheckpointModel:
        return cls(
            text=checkpoint.text,
            expect=[ExpectationModel.from_engine(e) for e in checkpoint.expect],
        )


class LessonStepModel(ResponseModel):
    index: int = Field(description="0-based position: the `step` of the checkpoints route.")
    do: Action = Field(description="What to do on every setup: look does nothing.")
    layers: int | None = Field(
        description="forward/backward: how many layers; null = the rest of the pass."
    )
    timesteps: int | None = Field(
        description="Recurrent forward/backward: how many timesteps; null = the rest."
    )
    steps: int = Field(description="train: how many whole training steps.")
    highlight: Panel | None = Field(description="The panel or control this step talks about.")
    text: str
    checkpoints: list[CheckpointModel] = Field(description="Read after this step.")

    @classmethod
    def from_engine(cls, index: int, step: LessonStep) -> LessonStepModel:
        return cls(
            index=index,
            do=step.do,
            layers=step.layers,
            timesteps=step.timesteps,
            steps=step.steps,
            highlight=cast(Panel | None, step.highlight),
            text=step.text,
            checkpoints=[CheckpointModel.from_engine(c) for c in step.checkpoints],
        )


class LessonModel(ResponseModel):
    id: str
    title: str
    summary: str
    goal: str
    watch: str = Field(description="What to look at, and for what.")
    order: int
    link: str = Field(description="The page's link that opens this lesson.")
    weight: list[int] | None = Field(
        description="[layer, i, j]: the weight W[layer][i, j] the lesson traces, or null."
    )
    model: Literal["dense", "recurrent"] = Field(
        description="The model kind of every setup (a recurrent lesson steps by timestep)."
    )
    setups: list[SetupModel] = Field(description="1 to 4: A, B, C, D.")
    steps: list[LessonStepModel]
    measures: dict[str, str] = Field(
        description="The measures this lesson's checkpoints read, with what each one is."
    )
    refused: str | None = Field(
        description="Why this server cannot run the lesson, or null when it can."
    )

    @classmethod
    def from_engine(cls, lesson: Lesson, refused: str | None) -> LessonModel:
        used = {e.measure for step in lesson.steps for c in step.checkpoints for e in c.expect}
        used |= {
            measure
            for step in lesson.steps
            for c in step.checkpoints
            for measure in _fields_in(c.text)
        }
        return cls(
            id=lesson.id,
            title=lesson.title,
            summary=lesson.summary,
            goal=lesson.goal,
            watch=lesson.watch,
            order=lesson.order,
            link=lesson_link(lesson.id),
            weight=None if lesson.weight is None else list(lesson.weight),
            model=cast(Literal["dense", "recurrent"], lesson.model),
            setups=[SetupModel.from_engine(s) for s in lesson.setups],
            steps=[LessonStepModel.from_engine(k, s) for k, s in enumerate(lesson.steps)],
            measures={name: m.description for name, m in _measures(lesson).items() if name in used},
            refused=refused,
        )


def _measures(lesson: Lesson) -> Mapping[str, Any]:
    """The measures a lesson of its model kind can read (name → measure)."""
    return RECURRENT_MEASURES if lesson.model == "recurrent" else MEASURES


def _fields_in(text: str) -> list[str]:
    """The measures a sentence names: ``{A.loss_drop:.0%}`` → ``loss_drop``."""
    names = {*MEASURES, *RECURRENT_MEASURES}
    return [name for name in names if f".{name}}}" in text or f".{name}:" in text]


class CheckpointReadingModel(ResponseModel):
    text: str = Field(
        description="The sentence with the live numbers filled in (— where one is not "
        "available yet)."
    )
    holds: bool = Field(description="Whether every expectation holds right now.")
    values: dict[str, Real] = Field(
        description="Every number read, by `SETUP.measure` (null: not available yet, or not "
        "finite)."
    )
    failures: list[str] = Field(
        description="For each expectation that does not hold: what was expected and found."
    )
    expect: list[ExpectationModel]

    @classmethod
    def from_engine(
        cls, result: CheckpointResult, checkpoint: Checkpoint
    ) -> CheckpointReadingModel:
        return cls(
            text=result.text,
            holds=result.holds,
            values=dict(result.values),
            failures=list(result.failures),
            expect=[ExpectationModel.from_engine(e) for e in checkpoint.expect],
        )


class CheckpointsModel(ResponseModel):
    lesson: str
    step: int = Field(description="The lesson step whose checkpoints these are (0-based).")
    sessions: dict[str, int] = Field(
        description="The training step each named setup's session was read at."
    )
    checkpoints: list[CheckpointReadingModel] = Field(
        description="In the order of the file; empty when this step has none."
    )

    @classmethod
    def from_engine(
        cls,
        lesson: Lesson,
        step: int,
        read: list[tuple[Checkpoint, CheckpointResult]],
        steps_by_setup: Mapping[str, int],
    ) -> CheckpointsModel:
        return cls(
            lesson=lesson.id,
            step=step,
            sessions=dict(steps_by_setup),
            checkpoints=[CheckpointReadingModel.from_engine(r, c) for c, r in read],
        )
