"""The renderer: it writes what pydantic's own serialiser writes, and never NaN or Infinity."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from app import operations as ops
from app.schemas.boundary import BoundaryModel
from app.schemas.requests import ConfigModel
from app.schemas.trace import TraceModel
from app.schemas.wire import render
from app.sessions import Session
from engine.config import NetworkConfig
from engine.trainer import Trainer
from tests.api.conftest import DIVERGING, SMALL, strict_json


def session_for(config: dict[str, Any], steps: int) -> Session:
    trainer = Trainer(NetworkConfig.from_dict(config))
    trainer.train(steps)
    trainer.backward(1)
    return Session("s", trainer, last_used=0.0)


def answers(s: Session) -> list[BaseModel]:
    """Every kind of answer, built as the routes build them."""
    return [
        ops.session(s),
        ops.trace(s, "summary", 0, 10_000),
        ops.trace(s, "full", 1, 10_000),
        ops.history(s, 0),
        ops.boundary(s, 6, 4, 60.0, 10**9),
        ops.chain(s, 0, 0, 0, 0),
        ops.gradcheck(s, 60.0),
        ops.data(s),
        ops.frame(s.trainer, 0, "play", True, False, 6, 4, 10_000),
        ops.frame(s.trainer, 0, "play", True, False, None, 4, 10_000),
    ]


@pytest.mark.parametrize(("config", "steps"), [(SMALL, 3), (DIVERGING, 50)], ids=["ok", "nan"])
def test_render_writes_what_pydantic_writes(config: dict[str, Any], steps: int) -> None:
    s = session_for(config, steps)
    assert s.trainer.divergence is not None or config is SMALL
    for model in answers(s):
        ours = strict_json(render(model).decode())  # strict: NaN or Infinity would fail here
        theirs = json.loads(model.model_dump_json(exclude_unset=True))
        assert ours == theirs, type(model).__name__


def test_non_finite_numbers_become_null_everywhere() -> None:
    trace = session_for(DIVERGING, 50).trainer.trace(0)
    model = TraceModel.from_engine(trace, True, "full", 10_000)
    layer = model.layers[0]
    assert any(math.isnan(v) for row in layer.W for v in row if v is not None)  # still NaN here
    text = render(model).decode()
    assert "NaN" not in text and "Infinity" not in text
    body = strict_json(text)
    w = body["layers"][0]["W"]
    assert any(v is None for row in w for v in row)


def test_fields_left_unset_stay_out_of_the_answer() -> None:
    s = session_for(SMALL, 2)
    summary = strict_json(render(ops.trace(s, "summary", 0, 10_000)).decode())
    assert "batch" not in summary and "z" not in summary["layers"][0]
    assert "dW_update" in summary["layers"][0]
    frame = strict_json(
        render(ops.frame(s.trainer, 0, "step", False, False, None, 4, 10**4)).decode()
    )
    assert "dW_update" not in frame["trace"]["layers"][0] and frame["boundary"] is None


def test_an_open_model_renders_its_extra_fields() -> None:
    config = ConfigModel.from_engine(NetworkConfig())
    body = strict_json(render(config).decode())
    assert body["optimizer"] == {"name": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-08}
    assert body == {"model": "dense", **NetworkConfig().to_dict()}


def test_render_refuses_what_it_cannot_write_exactly() -> None:
    with pytest.raises(TypeError):
        render({"value": np.float64(1.0)})  # a NumPy scalar means a builder missed a conversion


def test_boundary_grids_round_trip_within_a_quantisation_step() -> None:
    s = session_for(SMALL, 20)
    grid = s.trainer.boundary(8)
    body = strict_json(render(BoundaryModel.from_engine(grid, False)).decode())
    hidden = np.asarray(grid.hidden[0][0])
    encoded = body["hidden"][0][0]
    raw = np.frombuffer(base64.b64decode(encoded["data"]), dtype=np.uint8).reshape(8, 8)
    decoded = encoded["min"] + raw / 255 * (encoded["max"] - encoded["min"])
    step = (encoded["max"] - encoded["min"]) / 255
    assert np.max(np.abs(decoded - hidden)) <= step / 2 + 1e-12
