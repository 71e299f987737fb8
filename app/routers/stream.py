"""``WebSocket /api/sessions/{id}/stream``: live training, one frame per batch of steps.

Client → server (JSON text, one object per message, key ``action``):

- ``{"action": "play", "steps_per_frame": k, "max_fps": f, "ack": false}`` start (or retune)
  playing: k steps per frame (1..max_steps_per_frame, default 1), at most f frames per second
  (1..60, default 30). With ``"ack": true`` the server also waits for ``{"action": "ack"}``
  after each frame before it computes the next.
- ``{"action": "pause"}`` stop; answered by one last frame with ``"playing": false``.
- ``{"action": "step"}`` one training step (pauses first if playing) → a frame.
- ``{"action": "patch", "config": {...}}`` a partial config as for PATCH → a frame
  (``"reset": true`` if it rebuilt the network); playing goes on.
- ``{"action": "reset"}`` back to step 0 → a frame.
- ``{"action": "frame", "grid": G}`` send a frame now, with a boundary of side G (optional).
- ``{"action": "ack"}`` the client has drawn the previous frame (only with ``"ack": true``).

Each message is checked in full against one model per action (``ClientMessage`` in
:mod:`app.schemas.stream`): unknown keys, booleans for numbers, NaN, Infinity, numbers out of
range and anything that is not JSON are refused.

Server → client: ``{"type": "frame", ...}`` (see :class:`app.schemas.stream.FrameModel`) and
``{"type": "error", "detail": [{"loc", "msg", "type"}]}`` for a bad message (the socket stays
open). An unknown session closes the socket with code 4404 right after the handshake; a paused
stream idle for the session TTL closes with 4408. A browser page from another origin (one not
listed in ``allowed_origins``) is refused at the handshake (close code 4403).

Work per frame is bounded: a frame trains at most the steps that fit ``max_frame_seconds``
(estimated from the network, batch and data), however many were asked for. A pause stops the
training between two steps and is answered only once the engine has stopped.

``"steps_per_frame": "auto"`` trains as many steps as fill the time the server has per frame,
counted with the seconds a step has actually taken (an average over the frames so far):

- pipelined (``"ack": true`` with a window of 2 or more): the server trains frame n+1 while
  the client draws frame n, so it may train for the whole time the client takes per frame —
  :data:`PIPELINE_SHARE` of it, less the time building a frame takes. The client's time per
  frame is measured from the acks: from the moment a frame was sent, or the previous frame
  was acknowledged if that came later (the client was still busy), to its ack. It is never
  taken as less than a frame at ``max_fps``. When the page is slower than the engine, the
  steps shown per second then approach the engine's own rate instead of a fixed slot's worth;
- otherwise (lockstep or no acks): :data:`AUTO_SHARE` of a frame at ``max_fps``, less the
  frame's build time (the client's drawing does not overlap training there).

Either way at least :data:`AUTO_MIN_SECONDS`, at most ``max_steps_per_frame`` steps and the
frame budget above, and never more than ``window`` frames unacknowledged: a client that draws
slowly gets more steps per frame, one that stops acknowledging stops the training.

Backpressure: a frame is computed only after the previous one was handed to the network
(``send`` awaits the transport), and the stream's socket buffers are kept small
(:mod:`app.transport`), so frames never queue up in the server: a slow reader slows playing
down instead of growing a buffer. A browser reads its socket eagerly whatever the page does,
so the page should play with ``"ack": true`` and ack each frame once it is drawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app import operations as ops
from app import recurrent_ops as rops
from app.errors import InputError
from app.kinds import AnyTrainer
from app.lanes import Cancel
from app.routers.common import Cost, Job, one_chunk, run_work
from app.schemas.binary import encode as binary_frame
from app.schemas.requests import config_patch
from app.schemas.stream import (
    DEFAULT_FPS,
    AckMessage,
    BadMessageError,
    ClientMessage,
    ErrorFrame,
    FrameReason,
    FrameRequest,
    FrameView,
    PatchMessage,
    PauseMessage,
    PlayMessage,
    ResetMessage,
    StepMessage,
    parse_message,
)
from app.schemas.wire import render
from app.sessions import Session, SessionNotFoundError, SessionStore, StoreError
from app.settings import Settings
from engine.recurrent_trainer import RecurrentTrainer

router = APIRouter(prefix="/api/sessions", tags=["stream"])

CLOSE_UNKNOWN_SESSION = 4404
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes
CLOSE_IDLE = 4408
MAX_MESSAGE_CHARS = 100_000
CLOSE_FORBIDDEN_ORIGIN = 4403


# "auto" steps per frame: train for this share of a frame's time at max_fps (the rest is for
# building and sending the frame), and at least this long.
AUTO_SHARE = 0.6
AUTO_MIN_SECONDS = 0.002
# Pipelined "auto": train for this share of the client's measured time per frame (the margin
# keeps the server a little ahead, so the client never waits for a frame because of jitter).
PIPELINE_SHARE = 0.9
# Weight of the newest sample in the running averages of step, build and client time.
NEWEST = 0.3


def auto_seconds(
    max_fps: float, build_seconds: float, client_seconds: float | None, pipelined: bool
) -> float:
    """Seconds of training per ``"auto"`` frame (the rule in the module docstring).

    ``client_seconds``: the client's measured time per frame (None before the first ack).
    """
    slot = 1.0 / max_fps
    if pipelined and client_seconds is not None:
        period = max(slot, client_seconds)
        return max(AUTO_MIN_SECONDS, PIPELINE_SHARE * period - build_seconds)
    return max(AUTO_MIN_SECONDS, AUTO_SHARE * slot - build_seconds)


class ClientPace:
    """The client's time per play frame, from ack timing: each ack ends the time the client
    spent on the oldest unacknowledged frame, which began when that frame was sent or when the
    client acknowledged the one before, whichever came later (it was still busy until then)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.sent: deque[float] = deque()  # send times of the frames not yet acknowledged
        self.last_ack: float | None = None
        self.seconds: float | None = None  # running average

    def restart(self) -> None:
        """Playing starts again: frames from before do not pair with new acks."""
        self.sent.clear()
        self.last_ack = None

    def frame_sent(self) -> None:
        self.sent.append(self.clock())

    def acked(self) -> None:
        if not self.sent:
            return  # an ack for a frame of an earlier play: nothing to time
        now = self.clock()
        sent = self.sent.popleft()
        began = sent if self.last_ack is None else max(sent, self.last_ack)
        self.last_ack = now
        sample = now - began
        self.seconds = sample if self.seconds is None else mix(self.seconds, sample)


def mix(average: float, sample: float) -> float:
    return (1 - NEWEST) * average + NEWEST * sample


class Credits:
    """Frames the client may still receive unacknowledged (``window`` of them at most): each
    frame takes one, each ack gives one back. Window 1 is strict lockstep; window 2 lets the
    server compute frame n+1 while the client draws frame n — never more in flight."""

    def __init__(self) -> None:
        self.window = 1
        self.available = 1
        self.changed = asyncio.Event()

    def reset(self, window: int) -> None:
        """A (new) window: the frames already out keep counting against it, so retuning
        while playing never lets more than ``window`` frames be unacknowledged."""
        out = self.window - self.available
        self.window = window
        self.available = max(0, window - out)
        self.changed.set()

    def give(self) -> None:
        self.available = min(self.window, self.available + 1)
        self.changed.set()

    async def take(self) -> None:
        while self.available <= 0:
            self.changed.clear()
            await self.changed.wait()
        self.available -= 1


class Stream:
    """One connected client: a receive loop plus, while playing, a frame loop."""

    def __init__(
        self,
        ws: WebSocket,
        store: SessionStore,
        session: Session,
        settings: Settings,
        binary: bool = False,
    ):
        self.ws = ws
        self.binary = binary
        self.store = store
        self.session = session
        self.settings = settings
        self.limits = ops.engine_limits(settings)
        # The bounds client messages are checked against (see app.schemas.stream).
        self.message_limits = {
            "max_steps_per_frame": settings.max_steps_per_frame,
            "max_grid": settings.max_grid,
            "max_depth": settings.max_depth,
        }
        self.steps_per_frame: int | str = 1
        self.max_fps: float = DEFAULT_FPS
        self.ack_mode = False
        self.window = 1
        self.credits = Credits()
        self.view = FrameView()
        # "auto" steps: seconds per step as training has actually taken (an average).
        self.step_time: float | None = None
        self.build_time = 0.0
        self.pace = ClientPace()
        self.player: asyncio.Task[None] | None = None
        # Set by a pause: the frame loop ends at its next frame even if the cancellation
        # that also stops it is lost (a library that swallows one must not keep playing).
        self.stopping = False
        self.send_lock = asyncio.Lock()
        # Frame bookkeeping, read and written only under the session lock.
        self.since = 0
        self.trainer_seen: Any = session.trainer
        self.frames_without_boundary = 0
        self.boundary_due = True

    # --- frames ---------------------------------------------------------------------------

    def _frame(
        self,
        s: Session,
        reason: FrameReason,
        playing: bool,
        grid: int | None = None,
        reset: bool = False,
    ) -> str | bytes:
        """Build one frame's text or bytes (in a worker thread, under the session lock)."""
        trainer = s.trainer
        if trainer is not self.trainer_seen or trainer.step < self.since:
            self.trainer_seen, self.since, reset = trainer, 0, True
        every = self.settings.stream_boundary_every
        due = self.boundary_due or self.frames_without_boundary + 1 >= every
        if grid is None and (reason != "play" or due):
            grid = self.settings.stream_boundary_grid
        inputs = reason != "play" or self.boundary_due  # the features never change in play
        frame = ops.frame(
            trainer,
            self.since,
            reason,
            playing,
            reset,
            grid,
            self.settings.stream_hidden_grid,
            self.settings.max_trace_values,
            inputs,
            self.view if reason == "play" else None,
        )
        self.since = trainer.step
        self.boundary_due = False
        self.frames_without_boundary = 0 if grid is not None else self.frames_without_boundary + 1
        return binary_frame(frame) if self.binary else render(frame).decode()

    async def _send(self, message: str | bytes) -> None:
        async with self.send_lock:
            if isinstance(message, bytes):
                await self.ws.send_bytes(message)
            else:
                await self.ws.send_text(message)

    async def _send_error(self, errors: list[dict[str, Any]]) -> None:
        frame = ErrorFrame.model_validate({"type": "error", "detail": errors})
        await self._send(render(frame).decode())

    async def _locked_frame(self, work: Any, cost: Cost | None = None) -> None:
        text = await run_work(
            self.store, self.session, one_chunk(work), cost=cost or self._frame_cost
        )
        await self._send(text)

    def _frame_cost(self, trainer: AnyTrainer) -> float:
        """Building a frame: a trace and, now and then, a boundary (dense only)."""
        if isinstance(trainer, RecurrentTrainer):
            return ops.read_cost(trainer)
        grid = self.settings.stream_boundary_grid
        return ops.read_cost(trainer) + ops.grid_cost(grid, None)(trainer)

    # --- playing --------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self.player is not None and not self.player.done()

    async def _play(self) -> None:
        try:
            async with self.store.playing(self.session):  # keeps the session between frames
                await self._play_frames()
        except SessionNotFoundError:
            with contextlib.suppress(RuntimeError):
                await self.ws.close(CLOSE_UNKNOWN_SESSION, "unknown session")
        except StoreError as exc:  # as for a request (a 503): the client may connect again
            await close_for_store_error(self.ws, exc)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away; the receive loop sees the disconnect

    async def _play_frames(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.stopping:
            if self.ack_mode:
                await self.credits.take()  # at most `window` frames unacknowledged
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due = max(due + 1.0 / self.max_fps, loop.time())
            text, diverged = await run_work(
                self.store, self.session, self._play_job, cost=self._play_cost, durable=False
            )
            await self._send(text)
            if self.ack_mode:
                self.pace.frame_sent()
            if diverged:
                return

    def _frame_steps(self, trainer: AnyTrainer) -> int:
        """The steps of the next frame: as asked, but no more than fit the frame budget
        (``max_frame_seconds``): on a large network a frame trains fewer steps instead of
        holding the lane for minutes. ``"auto"``: as many as fill :func:`auto_seconds` (the
        time steps have actually taken; see the module docstring)."""
        fit = trainer.cost.steps_within(self.settings.max_frame_seconds)
        asked = self.steps_per_frame
        if asked == "auto":
            per_step = self.step_time or trainer.cost.step_seconds
            pipelined = self.ack_mode and self.credits.window >= 2
            seconds = auto_seconds(self.max_fps, self.build_time, self.pace.seconds, pipelined)
            asked = min(self.settings.max_steps_per_frame, int(seconds / per_step))
        assert isinstance(asked, int)
        return max(1, min(asked, fit))

    def _play_cost(self, trainer: AnyTrainer) -> float:
        return trainer.cost.steps_seconds(self._frame_steps(trainer)) + self._frame_cost(trainer)

    def _play_job(self, s: Session, cancel: Cancel) -> Job[tuple[str | bytes, bool]]:
        """One frame of play: its steps in chunks (stopping between steps once paused), then
        the frame. A pause waits for this job to end before anything else touches the session."""
        steps = self._frame_steps(s.trainer)
        started = time.perf_counter()
        done = yield from ops.run_steps(s.trainer, steps, cancel)
        trained = time.perf_counter()
        diverged = ops.diverged(s.trainer)
        # Diverged: nothing left to learn; the frame says playing: false.
        frame = self._frame(s, "play", playing=not diverged)
        if done:  # what "auto" steps learn from: the measured cost of a step and of a frame
            per_step = (trained - started) / done
            self.step_time = per_step if self.step_time is None else mix(self.step_time, per_step)
            self.build_time = mix(self.build_time, time.perf_counter() - trained)
        return frame, diverged

    async def _pause(self) -> bool:
        """Stop the frame loop; True if it was playing. Returns only once the engine has
        stopped: cancelling the frame loop asks its training to stop between two steps and
        waits for that (see :mod:`app.lanes`), so nothing trains the session afterwards."""
        player, self.player = self.player, None
        if player is None:
            return False
        was_running = not player.done()
        self.stopping = True
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player  # _play itself swallows every other ending
        return was_running

    # --- messages -------------------------------------------------------------------------

    async def handle(self, message: ClientMessage) -> None:
        if isinstance(message, PlayMessage):
            self.steps_per_frame = message.steps_per_frame
            self.max_fps = message.max_fps
            self.ack_mode = message.ack
            self.view = message.view
            self.credits.reset(message.window)
            if not self.playing:
                self.boundary_due = True
                self.pace.restart()
                self.stopping = False
                self.player = asyncio.create_task(self._play())
        elif isinstance(message, PauseMessage):
            await self._pause()
            await self._locked_frame(lambda s: self._frame(s, "pause", playing=False))
        elif isinstance(message, StepMessage):
            await self._pause()

            def work(s: Session) -> str | bytes:
                ops.train_now(s.trainer, 1)
                return self._frame(s, "step", playing=False)

            await self._locked_frame(work)
        elif isinstance(message, ResetMessage):

            def reset(s: Session) -> str | bytes:
                ops.restart(s.trainer)
                return self._frame(s, "reset", self.playing, reset=True)

            await self._locked_frame(reset)
        elif isinstance(message, PatchMessage):
            await self._patch(message)
        elif isinstance(message, FrameRequest):
            grid = message.grid
            budget = self.settings.max_request_seconds

            def frame(s: Session) -> str | bytes:
                if isinstance(s.trainer, RecurrentTrainer):  # no boundary to draw
                    return self._frame(s, "frame", self.playing)
                if grid is not None:
                    ops.check_grid_budget(s.trainer, grid, None, budget, ("grid",))
                return self._frame(s, "frame", self.playing, grid)

            size = grid or self.settings.stream_boundary_grid

            def cost(tr: AnyTrainer) -> float:
                return (
                    self._frame_cost(tr)
                    if isinstance(tr, RecurrentTrainer)
                    else (ops.read_cost(tr) + ops.grid_cost(size, None)(tr))
                )

            await self._locked_frame(frame, cost=cost)
        elif isinstance(message, AckMessage):
            self.pace.acked()
            self.credits.give()

    async def _patch(self, message: PatchMessage) -> None:
        patch = config_patch(message.config)
        limits = self.limits
        most = self.store.limits.session_bytes

        def work(s: Session) -> str | bytes:
            if isinstance(s.trainer, RecurrentTrainer):  # hyperparameters shared by both kinds
                reset = rops.apply_patch(s, patch, limits, most)
            else:
                reset = ops.apply_patch(s, patch, limits, ("config",))
            return self._frame(s, "patch", self.playing, reset=reset)

        await self._locked_frame(work)

    # --- connection -----------------------------------------------------------------------

    async def run(self) -> None:
        idle = self.settings.session_ttl_seconds
        try:
            while True:
                try:
                    # (asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a
                    # cancellation that arrives as the message does.)
                    async with asyncio.timeout(None if self.playing else idle):
                        message = await self.ws.receive()
                except TimeoutError:
                    await self.ws.close(CLOSE_IDLE, "idle")
                    return
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    await self._send_error(BadMessageError.at([], "send JSON text messages").errors)
                    continue
                await self._dispatch(text)
        except (WebSocketDisconnect, RuntimeError):
            return  # the client went away mid-send: nothing to clean up but the player
        finally:
            await self._pause()

    async def _dispatch(self, text: str) -> None:
        try:
            await self.handle(parse_message(text, self.message_limits, MAX_MESSAGE_CHARS))
        except BadMessageError as bad:
            await self._send_error(bad.errors)
        except InputError as exc:
            await self._send_error(exc.errors)
        except SessionNotFoundError:
            await self.ws.close(CLOSE_UNKNOWN_SESSION, "unknown session")
            raise WebSocketDisconnect(CLOSE_UNKNOWN_SESSION) from None


async def close_for_store_error(ws: WebSocket, exc: StoreError) -> None:
    """Close the stream as a request would answer the store's failure: its close code and
    message, cut to the 123 bytes of UTF-8 a close frame's reason may hold."""
    reason = exc.message.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
    with contextlib.suppress(RuntimeError):  # the client already went away
        await ws.close(exc.close_code, reason)


@router.websocket("/{session_id}/stream")
async def stream(websocket: WebSocket, session_id: str) -> None:
    """Live training frames; the protocol is described in the module docstring."""
    store: SessionStore = websocket.app.state.store
    settings: Settings = websocket.app.state.settings
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin, websocket.headers.get("host"), websocket.url.scheme, settings):
        # Another site's page may not drive a visitor's browser into our sessions.
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        return
    await websocket.accept()
    binary = websocket.query_params.get("encoding") == "binary"
    try:
        session = await store.get(session_id)
        async with store.attach(session):
            await Stream(websocket, store, session, settings, binary).run()
    except SessionNotFoundError:
        await websocket.close(CLOSE_UNKNOWN_SESSION, "unknown session")
        return
    except StoreError as exc:  # the store failed (503 for a request): the client may retry
        await close_for_store_error(websocket, exc)
        return
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError):
            await websocket.close()


def origin_allowed(origin: str | None, host: str | None, scheme: str, settings: Settings) -> bool:
    """A stream may be opened by this server's own pages, by the origins the settings list,
    and by clients that send no Origin at all (scripts, not browsers). ``null`` (a sandboxed
    or file page) and every other site are refused."""
    if origin is None:
        return True
    allowed = {o.strip().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip()}
    if host:
        own = "https" if scheme == "wss" else "http"
        allowed.add(f"{own}://{host}")
    return origin.rstrip("/") in allowed


def build_router(settings: Settings) -> APIRouter:
    """The stream route (each connection reads the app's settings)."""
    return router
