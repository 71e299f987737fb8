"""Lessons: the list, one lesson with everything the page needs, and its checkpoints read from
the learner's live sessions.

The lessons are loaded and validated once, when the app is created (a broken file stops the
server there, naming the file and the field). A checkpoint is always computed here, from the
trainers of the sessions the page names for the lesson's setups (``?A=<id>&B=<id>``), each
held under its lock while it is read: the page never computes a checkpoint's number itself.
"""

# No ``from __future__ import annotations``: the query bounds are built inside build_router,
# and FastAPI must see them as objects, not names.

import contextlib
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from app import operations as ops
from app.deps import StoreDep
from app.errors import InputError, in_range_message
from app.kinds import AnyTrainer
from app.lanes import Cancel, Job
from app.routers.common import INVALID, Responses
from app.schemas.errors import MessageBody
from app.schemas.lessons import CheckpointsModel, LessonListModel, LessonModel
from app.schemas.requests import IntRange
from app.schemas.wire import render
from app.sessions import Session, SessionStore
from app.settings import Settings
from engine.lessons import SETUP_NAMES, Lesson

UNKNOWN_LESSON: Responses = {
    404: {"model": MessageBody, "description": "Unknown lesson."},
}
UNKNOWN_LESSON_OR_SESSION: Responses = {
    404: {
        "model": MessageBody,
        "description": "Unknown lesson, or a session that was never created or has expired.",
    },
}
LessonId = Annotated[str, Path(description="The lesson's id, as GET /api/lessons lists it.")]


def build_router(settings: Settings, lessons: Mapping[str, Lesson]) -> APIRouter:
    """The lesson routes over ``lessons`` (id → lesson, in order)."""
    router = APIRouter(prefix="/api/lessons", tags=["lessons"])
    most_steps = max((len(lesson.steps) for lesson in lessons.values()), default=1)
    # The same for every request: rendered once per server.
    listing = render(ops.lesson_list(lessons, settings))
    details = {key: render(ops.lesson_details(lesson, settings)) for key, lesson in lessons.items()}

    def find(lesson_id: str) -> Lesson:
        lesson = lessons.get(lesson_id)
        if lesson is None:
            shown = lesson_id if len(lesson_id) <= 40 else lesson_id[:39] + "…"
            raise HTTPException(404, f"unknown lesson {shown!r}: GET /api/lessons lists them")
        return lesson

    @router.get("", response_model=LessonListModel)
    async def list_lessons() -> Response:
        """Every lesson (the shipped ones and those of ``lessons_dir``) by its ``order``: id,
        title, summary, its setups' labels and its link (``/?lesson=<id>``)."""
        return Response(listing, media_type="application/json")

    @router.get("/{lesson_id}", response_model=LessonModel, responses=UNKNOWN_LESSON)
    async def get_lesson(lesson_id: LessonId) -> Response:
        """One lesson: its goal and what to watch, every setup with its whole validated config
        (create a session from it), the steps with what to do, the panel each one talks
        about and its checkpoints (sentences with ``{SETUP.measure:format}`` fields and the
        expectations that must hold)."""
        find(lesson_id)
        return Response(details[lesson_id], media_type="application/json")

    def session_query(name: str) -> object:
        return Query(
            alias=name,
            description=f"Session id of setup {name} (leave out a setup the page has not "
            "created: its numbers read as not available).",
        )

    @router.get(
        "/{lesson_id}/checkpoints",
        response_model=CheckpointsModel,
        responses={**INVALID, **UNKNOWN_LESSON_OR_SESSION},
    )
    async def checkpoints(
        lesson_id: LessonId,
        store: StoreDep,
        step: Annotated[
            int,
            Query(description="The lesson step (0-based) whose checkpoints to read."),
            IntRange(0, most_steps - 1),
        ],
        a: Annotated[str | None, session_query("A")] = None,
        b: Annotated[str | None, session_query("B")] = None,
        c: Annotated[str | None, session_query("C")] = None,
        d: Annotated[str | None, session_query("D")] = None,
    ) -> Response:
        """Lesson step ``step``'s checkpoints read from the named sessions as they are now:
        each sentence with its live numbers, whether it holds, every value read and, for each
        expectation that does not hold, what was expected and what was found. Sessions are
        read under their locks (requests to them wait, and vice versa)."""
        lesson = find(lesson_id)
        if step >= len(lesson.steps):
            raise InputError.at(
                ("query", "step"),
                in_range_message(0, len(lesson.steps) - 1, step) + f" ({lesson.id} has "
                f"{len(lesson.steps)} steps)",
            )
        given = dict(zip(SETUP_NAMES, (a, b, c, d), strict=True))
        names = {setup.name for setup in lesson.setups}
        for name, session_id in given.items():
            if session_id is not None and name not in names:
                raise InputError.at(
                    ("query", name),
                    f"{lesson.id} has no setup {name}; its setups are {', '.join(sorted(names))}",
                )
        ids = {name: session_id for name, session_id in given.items() if session_id is not None}
        body = await read_checkpoints(
            store, ids, lambda trainers: ops.checkpoints(lesson, step, trainers)
        )
        return Response(body, media_type="application/json")

    return router


async def read_checkpoints(
    store: SessionStore,
    ids: Mapping[str, str],
    read: Callable[[Mapping[str, AnyTrainer]], CheckpointsModel],
) -> bytes:
    """Hold every named session's lock (each once, in one order, so two readers never wait on
    each other), then ``read`` their trainers on the lane the estimated cost picks."""
    sessions: dict[str, Session] = {
        name: await store.get(session_id) for name, session_id in ids.items()
    }
    distinct = sorted({s.id: s for s in sessions.values()}.values(), key=lambda s: s.id)
    async with contextlib.AsyncExitStack() as stack:
        for session in distinct:
            await stack.enter_async_context(store.hold(session))
        trainers = {name: session.trainer for name, session in sessions.items()}

        def work() -> bytes:
            return render(read(trainers))

        lanes = store.lanes
        if ops.checkpoint_cost([s.trainer for s in distinct]) <= lanes.quick_seconds:
            return await lanes.quick(work)

        def job(cancel: Cancel) -> Job[bytes]:
            return work()
            yield  # unreachable: makes this function a generator (one chunk)

        key = "checkpoints:" + ",".join(s.id for s in distinct)
        return await lanes.heavy(key, job)
