"""``StagedRun``: moving a run through its step program, one stage or whole steps at a time.

The part of a trainer that is the same for every kind of network: the staged path (run the
next stage, or advance to the next stage of a kind), the fast path (whole steps back to back,
interruptible between steps, the full-data evaluation every few steps and after the last)
and the rule that both run the very same stages, so they give the same numbers bit for bit.
:class:`engine.trainer.Trainer` (dense layers) and
:class:`engine.recurrent_trainer.RecurrentTrainer` (timesteps) supply what differs: how a
stage runs on their network, where a non-finite value shows first, the record of a step and
what happens after an update.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from engine.batches import MinibatchOrder
from engine.config import Limits
from engine.errors import ConfigError
from engine.evaluation import Evaluation
from engine.stages import IDLE, Divergence, Stage, StepProgram


class EvaluatedHistory(Protocol):
    """What the fast path asks of a history: whether its last row holds an evaluation, and
    filling that row in."""

    @property
    def last_evaluated(self) -> bool: ...

    def evaluate_last(self, evaluation: tuple[float, float, float, float]) -> None: ...


RecordT = TypeVar("RecordT")


class StagedRun(ABC, Generic[RecordT]):
    """The stepping rules shared by every trainer (module docstring). Every staged method
    moves forward in time only, to the *next* occurrence of its stage, finishing whatever
    lies in between (it may complete the current step and start the next one)."""

    # The name a staged call's count has in errors ("layers", "timesteps").
    count_field: str
    history: EvaluatedHistory
    program: StepProgram
    stage: Stage
    step: int
    limits: Limits
    batches: MinibatchOrder
    divergence: Divergence | None
    evaluation: Evaluation
    _record: RecordT | None

    # --- what a kind of network supplies ------------------------------------------------------

    @property
    @abstractmethod
    def batch_size(self) -> int: ...

    @property
    @abstractmethod
    def evaluation_interval(self) -> int: ...

    @abstractmethod
    def _new_record(self, idx: NDArray[np.intp]) -> RecordT:
        """A record for a step on the training rows ``idx``."""

    @abstractmethod
    def _stage_runner(self) -> Callable[[RecordT, Stage], None]:
        """A function running one stage on a record with the current settings (looked up
        once per call of :meth:`train`, not once per stage)."""

    @abstractmethod
    def _nonfinite(self, rec: RecordT, stage: Stage) -> Divergence | None:
        """Where ``stage`` first produced a non-finite value, or None."""

    @abstractmethod
    def _after_update(self, rec: RecordT, check: bool, evaluate: bool = True) -> None:
        """Bookkeeping after an update: step count, history, divergence, the evaluation."""

    @abstractmethod
    def _keeps_arrays(self) -> Callable[[RecordT], bool]:
        """Whether a finished fast step keeps its arrays (else only its batch, loss and
        update: a trace recomputes them, bit for bit)."""

    @abstractmethod
    def _lightened(self, rec: RecordT) -> RecordT:
        """``rec`` without its per-stage arrays."""

    @abstractmethod
    def _evaluate(self) -> None:
        """Evaluate the full data at the current parameters."""

    def _evaluation_row(self) -> tuple[float, float, float, float]:
        """The last evaluation as a history row's (train, test loss, train, test accuracy);
        NaN for accuracy on a regression task."""
        ev = self.evaluation
        return (
            ev.train_loss,
            ev.test_loss,
            math.nan if ev.train_accuracy is None else ev.train_accuracy,
            math.nan if ev.test_accuracy is None else ev.test_accuracy,
        )

    # --- the staged path ----------------------------------------------------------------------

    @property
    def next_stage(self) -> Stage:
        """The stage the next staged call (:meth:`advance`) runs."""
        return self.program.after(self.stage)

    def advance(self) -> None:
        """Run exactly one stage: :attr:`next_stage`."""
        with np.errstate(all="ignore"):
            self._run(self.next_stage)

    def _run(self, stage: Stage) -> None:
        if stage == self.program.first:
            self._record = self._new_record(self.batches.next(self.batch_size))
        rec = self._record
        assert rec is not None
        self._stage_runner()(rec, stage)
        self.stage = stage
        if self.divergence is None:
            self.divergence = self._nonfinite(rec, stage)
        if stage == self.program.last:
            self._after_update(rec, check=False)

    def _advance_to(self, kind: str, count: int | None) -> None:
        """Move to the next stage of ``kind``, then up to ``count − 1`` more of that kind
        within the same phase (None = to the end of the phase)."""
        if count is not None and (isinstance(count, bool) or int(count) != count or count < 1):
            raise ConfigError(self.count_field, f"must be a positive integer or all, got {count!r}")
        with np.errstate(all="ignore"):
            self._run(self.next_stage)
            while self.stage.kind != kind:
                self._run(self.next_stage)
            done = 1
            while (count is None or done < count) and self.next_stage.kind == kind:
                self._run(self.next_stage)
                done += 1

    def compute_loss(self) -> None:
        """Compute the batch loss (finishing the forward pass first if needed)."""
        self._advance_to("loss", 1)

    def update(self) -> None:
        """Apply the update, finishing forward, loss and backward first if needed."""
        self._advance_to("update", 1)

    # --- the fast path ------------------------------------------------------------------------

    def train(
        self,
        steps: int,
        should_stop: Callable[[], bool] | None = None,
        evaluate_every: int | None = None,
        evaluate_last: bool = True,
    ) -> int:
        """Run up to ``steps`` full steps; returns how many ran. Mid-step, the current staged
        step is completed first and counts as one. ``should_stop`` is asked before every step
        after the first: long work can be interrupted between steps, never inside one, so the
        run always stays at a step boundary. Never raises on NaN/Inf; see ``divergence``.

        The full-data evaluation runs after every ``evaluate_every``-th step (counted in run
        steps; None = :attr:`evaluation_interval`, 0 = never in between) and always after
        the last step, so the state is never stale — unless ``evaluate_last`` is False (a
        caller running one chunk of a longer piece of work, which then calls
        :meth:`evaluate_now` at its end). It changes no parameter: the run is the same
        whatever the interval.
        """
        steps = int(steps)
        if steps < 0 or steps > self.limits.max_steps:
            hi = self.limits.max_steps
            raise ConfigError("steps", f"must be an integer in 0..{hi}, got {steps}")
        every = self.evaluation_interval if evaluate_every is None else int(evaluate_every)
        done = 0
        rec: RecordT | None = None
        run, keeps = self._stage_runner(), self._keeps_arrays()
        stages = self.program.stages
        with np.errstate(all="ignore"):
            if steps and self.stage != IDLE and self.stage != self.program.last:
                self._advance_to("update", 1)
                done = 1
            while done < steps and not (done and should_stop is not None and should_stop()):
                rec = self._new_record(self.batches.next(self.batch_size))
                for stage in stages:
                    run(rec, stage)
                self.stage = self.program.last
                last = evaluate_last and done + 1 == steps
                evaluate = last or (every > 0 and (self.step + 1) % every == 0)
                self._after_update(rec, check=True, evaluate=evaluate)
                self._record = rec if keeps(rec) else None
                done += 1
            if self._record is None and rec is not None:  # keep the batch, loss and update
                self._record = self._lightened(rec)
            stopped_early = done < steps
            if stopped_early or evaluate_last:  # the state must be current
                self.evaluate_now()
        return done

    def evaluate_now(self) -> None:
        """Evaluate the full data now if the last step has not been (fills its history row)."""
        if not self.history.last_evaluated:
            self._evaluate()
            self.history.evaluate_last(self._evaluation_row())
