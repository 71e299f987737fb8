"""The two model kinds a session can run, and the one place a route meant for one kind
refuses the other (409 naming both kinds and what to use instead)."""

from __future__ import annotations

from fastapi import HTTPException

from engine.recurrent_trainer import RecurrentTrainer
from engine.trainer import Trainer

AnyTrainer = Trainer | RecurrentTrainer


def model_kind(trainer: AnyTrainer) -> str:
    return "recurrent" if isinstance(trainer, RecurrentTrainer) else "dense"


def dense(trainer: AnyTrainer, what: str = "this route") -> Trainer:
    """``trainer`` when it is a dense network's; else 409: ``what`` needs a dense network."""
    if isinstance(trainer, RecurrentTrainer):
        raise HTTPException(
            409,
            f"{what} is for dense networks; this session runs a recurrent network "
            "(model 'recurrent': see /trace, /timestep/{t} and /history instead)",
        )
    return trainer


def recurrent(trainer: AnyTrainer, what: str = "this route") -> RecurrentTrainer:
    """``trainer`` when it is a recurrent network's; else 409."""
    if not isinstance(trainer, RecurrentTrainer):
        raise HTTPException(
            409,
            f"{what} is for recurrent networks; this session runs a dense network (model 'dense')",
        )
    return trainer
