"""Everything the routes and the stream do with a session, as plain functions.

They run in worker threads while the session's lock is held, return the response model of
their route, and raise :class:`InputError` for anything the client got wrong (engine errors
arrive as ``ConfigError`` and keep their field path). Routers call nothing else.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app import recurrent_ops as rops
from app.errors import InputError, Loc, in_range_message, too_large_error
from app.imports import import_trainer
from app.kinds import AnyTrainer, dense, recurrent
from app.lanes import Cancel
from app.resources import page_dir
from app.routers.common import Cost, Job
from app.schemas.boundary import BoundaryModel
from app.schemas.catalog import CatalogModel, LimitsModel
from app.schemas.data import DataModel
from app.schemas.diagnostics import ChainModel, GradcheckModel
from app.schemas.history import HistoryModel
from app.schemas.lessons import CheckpointsModel, LessonListModel, LessonModel, LessonSummaryModel
from app.schemas.recurrent import RecurrentConfigModel, recurrent_patch
from app.schemas.recurrent_catalog import RecurrentCatalogModel
from app.schemas.recurrent_reads import (
    RecurrentGradcheckModel,
    RecurrentHistoryModel,
    RecurrentTraceModel,
    SequenceDataModel,
    TimestepDetailModel,
)
from app.schemas.requests import ConfigModel, config_patch
from app.schemas.rounding import FRAME_DIGITS
from app.schemas.session import (
    AnyState,
    DatasetUploadModel,
    PatchedSessionModel,
    SessionModel,
    state_model,
)
from app.schemas.start import StartModel
from app.schemas.stream import FrameModel, FrameReason, FrameView
from app.schemas.trace import SampleValues, TraceModel
from app.schemas.update import UpdateRuleModel
from app.sessions import Session, SessionTooLargeError
from app.settings import Settings, import_limit
from engine.boundary import feature_grids
from engine.config import (
    CSV_DATASET,
    Limits,
    NetworkConfig,
    RecurrentConfig,
    merge_config,
    structural_fields_changed,
)
from engine.cost import NetworkShape, run_bytes, shape_of, training_cost
from engine.datasets import DATASETS, Dataset, load_csv
from engine.errors import ConfigError
from engine.lessons import Lesson, read_checkpoint
from engine.lessons import load_lessons as load_lesson_files
from engine.losses import output_head
from engine.recurrent_trainer import RecurrentTrainer
from engine.trainer import Trainer

MAX_HISTORY_POINTS = 2000
Detail = Literal["summary", "full"]


def engine_limits(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_width=settings.max_width,
        max_samples=settings.max_samples,
        max_grid=settings.max_grid,
        max_steps=settings.max_steps,
        max_csv_rows=settings.max_csv_rows,
    )


# ----------------------------------------------------------------------------- sessions


def build_config(
    data: Mapping[str, Any], limits: Limits, loc: Loc = ("body",), dataset: Dataset | None = None
) -> NetworkConfig:
    """Config JSON → a validated ``NetworkConfig`` (422 naming the field on any problem)."""
    try:
        config = NetworkConfig.from_dict(data)
        config.validate(limits, dataset)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None
    return config


def new_trainer(
    config: NetworkConfig, limits: Limits, dataset: Dataset | None = None, loc: Loc = ("body",)
) -> Trainer:
    try:
        return Trainer(config, dataset, limits)
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None


def default_config(limits: Limits) -> dict[str, Any]:
    """The engine's teaching defaults, shrunk to fit a server with tighter limits."""
    config = NetworkConfig().to_dict()
    config["dataset"]["n_samples"] = min(config["dataset"]["n_samples"], limits.max_samples)
    config["layers"] = [
        {**layer, "units": min(layer["units"], limits.max_width)}
        for layer in config["layers"][: limits.max_depth]
    ]
    return config


def creation_config(patch: Mapping[str, Any], limits: Limits) -> NetworkConfig:
    """The validated config a new session would get (the defaults with ``patch`` applied)."""
    if patch.get("dataset", {}).get("name") == CSV_DATASET:
        raise InputError.at(
            ("body", "dataset", "name"),
            "csv data comes from POST /api/sessions/{id}/dataset; create the session with a "
            "built-in dataset first",
        )
    return build_config(merge_config(default_config(limits), patch), limits)


def creation(
    model: ConfigModel | RecurrentConfigModel | None, limits: Limits
) -> tuple[NetworkConfig | RecurrentConfig, int]:
    """The validated config of a new session of either kind and the bytes it will hold."""
    if isinstance(model, RecurrentConfigModel):
        config = rops.creation_config(model, limits)
        return config, rops.estimated_bytes(config)
    checked = creation_config(config_patch(model) if model is not None else {}, limits)
    return checked, estimated_bytes(checked)


def build(config: NetworkConfig | RecurrentConfig, limits: Limits) -> AnyTrainer:
    """A new trainer of the config's kind."""
    if isinstance(config, RecurrentConfig):
        return rops.new_trainer(config, limits)
    return new_trainer(config, limits)


def estimated_bytes(config: NetworkConfig, dataset: Dataset | None = None) -> int:
    """Memory a session of ``config`` will hold at most (its data, network, optimiser state,
    history and a staged step in progress): known before anything is built."""
    shape, n, n_train = _planned(config, dataset)
    return run_bytes(shape, n, min(config.batch_size, n_train))


def build_cost(config: NetworkConfig | RecurrentConfig) -> float | None:
    """Estimated seconds of :func:`build` (None for a recurrent config: not estimated, so it
    runs on the quick lane's thread)."""
    if isinstance(config, RecurrentConfig):
        return None
    shape, n, n_train = _planned(config)
    return training_cost(shape, min(config.batch_size, n_train), n).build_seconds


def _planned(
    config: NetworkConfig, dataset: Dataset | None = None
) -> tuple[NetworkShape, int, int]:
    """The shape of the network ``config`` makes, its rows and its training rows."""
    task, classes = (dataset.task, dataset.n_classes) if dataset else _task_of(config)
    head = output_head(task, classes, config.loss)
    shape = shape_of(
        len(config.features), [(la.units, la.activation) for la in config.layers], head.units
    )
    if dataset is None:
        n = config.dataset.n_samples
        n_train = min(max(round(n * config.dataset.train_fraction), 1), n - 1)
    else:
        n, n_train = dataset.n_train + dataset.n_test, dataset.n_train
    return shape, n, n_train


def _task_of(config: NetworkConfig) -> tuple[str, int]:
    spec = DATASETS[config.dataset.name]
    return spec.task, spec.n_classes


def check_bytes(config: NetworkConfig, most: int, dataset: Dataset | None = None) -> None:
    """422 when a session of ``config`` would hold more than ``most`` bytes."""
    needed = estimated_bytes(config, dataset)
    if needed > most:
        raise InputError([too_large_error(SessionTooLargeError(needed, most))])


def import_job(body: bytes, limits: Limits, most: int) -> Job[AnyTrainer]:
    """A trainer restored from the bytes of an export (the engine checks all of it), within
    the memory a session may hold. One chunk: an import cannot be split."""
    trainer = import_trainer(body, limits)
    if isinstance(trainer, RecurrentTrainer):
        needed = rops.estimated_bytes(trainer.config)
        if needed > most:
            raise InputError([too_large_error(SessionTooLargeError(needed, most))])
    else:
        check_bytes(trainer.config, most, trainer.dataset if trainer.uploaded else None)
    return trainer
    yield  # unreachable: makes this function a generator (a job for the heavy lane)


def session(s: Session) -> SessionModel:
    return SessionModel.from_engine(s.id, s.trainer.config, s.trainer.state())


def session_cost(trainer: AnyTrainer) -> float:
    """A session's config and state as an answer: a few hundred values at most."""
    return ANSWER_OVERHEAD


START_GRID, START_NEURON_GRID = 64, 24  # what the page draws first


def start(s: Session, max_values: int, max_cells: int) -> StartModel:
    """A new session with its first trace, history, boundary and data (see the route)."""
    if isinstance(s.trainer, RecurrentTrainer):
        r = s.trainer
        return StartModel.from_engine(
            s.id,
            r.config,
            r.state(),
            trace=rops.trace(r, 0),
            history=rops.history(r, 0, MAX_HISTORY_POINTS),
            boundary=None,
            data=rops.data(r),
        )
    trainer = s.trainer
    neurons = min(START_NEURON_GRID, START_GRID)
    check_grid_cells(trainer, neurons, max_cells)
    return StartModel.from_engine(
        s.id,
        trainer.config,
        trainer.state(),
        trace=TraceModel.from_engine(trainer.trace(0), diverged(trainer), "summary", max_values),
        history=_history(trainer, 0),
        boundary=_boundary(trainer, START_GRID, neurons),
        data=DataModel.from_engine(trainer.dataset),
    )


def start_cost(trainer: AnyTrainer) -> float:
    if isinstance(trainer, RecurrentTrainer):
        return rops.trace_cost(trainer)
    return read_cost(trainer) + grid_cost(START_GRID, START_NEURON_GRID)(trainer)


def patch(
    s: Session, body: ConfigModel | RecurrentConfigModel, limits: Limits, most: int
) -> PatchedSessionModel:
    """Apply a PATCH body to a session of either kind (a body of the other kind's fields
    is refused, naming the field)."""
    if isinstance(s.trainer, RecurrentTrainer):
        changes = (
            recurrent_patch(body)
            if isinstance(body, RecurrentConfigModel)
            else (config_patch(body))
        )
        reset = rops.apply_patch(s, changes, limits, most)
    elif isinstance(body, RecurrentConfigModel):
        raise InputError.at(
            ("body", "model"),
            "this session runs a dense network: a recurrent config's fields do not apply "
            "(create a recurrent session with POST /api/sessions and model 'recurrent')",
        )
    else:
        reset = apply_patch(s, config_patch(body), limits, most=most)
    return PatchedSessionModel.from_engine(s.id, s.trainer.config, s.trainer.state(), reset=reset)


def apply_patch(
    session: Session,
    patch: Mapping[str, Any],
    limits: Limits,
    loc: Loc = ("body",),
    most: int | None = None,
) -> bool:
    """Apply a partial config. Hyperparameters change in place; anything structural rebuilds
    the trainer (step 0). Returns True when it rebuilt."""
    trainer = dense(session.trainer)
    old = trainer.config
    merged = merge_config(old.to_dict(), patch)
    uses_csv = merged.get("dataset", {}).get("name") == CSV_DATASET
    if uses_csv and old.dataset.name != CSV_DATASET:
        raise InputError.at(
            (*loc, "dataset", "name"), "csv data comes from POST /api/sessions/{id}/dataset"
        )
    dataset = trainer.dataset if uses_csv else None
    config = build_config(merged, limits, loc, dataset)
    if most is not None:  # a larger batch or network needs more memory, rebuilt or not
        check_bytes(config, most, dataset)
    if structural_fields_changed(old, config):
        if uses_csv and session.csv_text is not None and _split_changed(old, config):
            dataset = parse_csv(session.csv_text, config, limits, loc)
        session.trainer = new_trainer(config, limits, dataset, loc)
        return True
    if config != old:
        try:
            trainer.set_hyperparameters(
                learning_rate=config.learning_rate,
                optimizer_name=config.optimizer.name,
                optimizer_params=dict(config.optimizer.params),
                batch_size=config.batch_size,
                l1=config.l1,
                l2=config.l2,
                grad_clip=config.grad_clip,
            )
        except ConfigError as exc:
            raise InputError.from_engine(exc, loc) from None
    return False


def _split_changed(old: NetworkConfig, new: NetworkConfig) -> bool:
    return (old.dataset.seed, old.dataset.train_fraction) != (
        new.dataset.seed,
        new.dataset.train_fraction,
    )


def parse_csv(text: str, config: NetworkConfig, limits: Limits, loc: Loc = ("body",)) -> Dataset:
    try:
        return load_csv(
            text,
            limits.max_csv_rows,
            seed=config.dataset.seed,
            train_fraction=config.dataset.train_fraction,
        )
    except ConfigError as exc:
        raise InputError.from_engine(exc, loc) from None


def upload_csv(s: Session, text: str, limits: Limits, most: int) -> DatasetUploadModel:
    """Rebuild the session on uploaded CSV data (``x1,x2,label`` rows)."""
    old = dense(s.trainer, "a CSV upload").config
    dataset = parse_csv(text, old, limits)
    base = old.to_dict()
    base["dataset"]["name"] = CSV_DATASET
    rows = int(dataset.n_train + dataset.n_test)
    base["dataset"]["n_samples"] = min(rows, limits.max_samples)
    task_features = base["features"]
    if dataset.input_dim == 1:
        base["features"] = [f for f in task_features if f in ("x1", "x1_sq", "sin_x1")] or ["x1"]
    base["loss"] = None  # the data's task decides the default loss
    config = build_config(base, limits, ("body",), dataset)
    check_bytes(config, most, dataset)
    s.trainer = new_trainer(config, limits, dataset)
    s.csv_text = text
    return DatasetUploadModel.from_engine(
        s.id, s.trainer.config, s.trainer.state(), reset=True, rows=rows
    )


def reset(s: Session) -> SessionModel:
    s.trainer.reset()
    return session(s)


def export(s: Session) -> dict[str, Any]:
    """The engine's own export form (JSON-ready: NaN and ±Infinity already None)."""
    return s.trainer.export()


# ----------------------------------------------------------------------------- stepping


def state(trainer: AnyTrainer) -> AnyState:
    return state_model(trainer.state())


def layer_count(value: int | Literal["all"], trainer: Trainer) -> int | None:
    """``"all"`` → None (the rest of the pass); a count must be 1..n_layers."""
    if value == "all":
        return None
    n = trainer.network.n_layers
    if not 1 <= value <= n:
        raise InputError.at(
            ("body", "layers"), f"must be an integer in 1..{n} or 'all', got {value}"
        )
    return value


def forward(s: Session, count: int | Literal["all"]) -> AnyState:
    """``count`` layers (dense) or timesteps (recurrent) more of the forward pass."""
    t = s.trainer
    if isinstance(t, RecurrentTrainer):
        rops.forward(t, count)
    else:
        t.forward(layer_count(count, t))
    return state(t)


def loss(s: Session) -> AnyState:
    t = s.trainer
    if isinstance(t, RecurrentTrainer):
        rops.loss(t)
    else:
        t.compute_loss()
    return state(t)


def backward(s: Session, count: int | Literal["all"]) -> AnyState:
    t = s.trainer
    if isinstance(t, RecurrentTrainer):
        rops.backward(t, count)
    else:
        t.backward(layer_count(count, t))
    return state(t)


def update(s: Session) -> AnyState:
    t = s.trainer
    if isinstance(t, RecurrentTrainer):
        rops.update(t)
    else:
        t.update()
    return state(t)


def train(s: Session, steps: int, budget: float, cancel: Cancel) -> Job[AnyState]:
    """``steps`` whole steps on the fast path, in chunks of about :data:`CHUNK_SECONDS`;
    stops between steps once ``cancel`` is set. Refused (422) when the steps would take more
    than ``budget`` estimated seconds: the message names the largest count that fits."""
    trainer = s.trainer
    cost = trainer.cost
    allowed = max(1, cost.steps_within(budget))
    if steps > allowed:
        raise InputError.at(
            ("body", "steps"),
            f"must be at most {allowed} for this network: a step costs about "
            f"{_duration(cost.step_seconds)} and a request may take {budget:g} s "
            "(max_request_seconds)",
            "compute_budget",
        )
    chunk = max(1, cost.steps_within(CHUNK_SECONDS))
    done = 0
    while done < steps and not cancel():
        done += trainer.train(min(chunk, steps - done), should_stop=cancel)
        if done < steps:
            yield
    return state(trainer)


# ----------------------------------------------------------------------------- work estimates

CHUNK_SECONDS = 0.05  # the heavy lane switches sessions at least this often
ANSWER_OVERHEAD = 100e-6  # building and rendering a small answer model


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def steps_cost(steps: int) -> Cost:
    """``steps`` training steps."""
    return lambda trainer: trainer.cost.steps_seconds(steps)


def rebuild_cost(trainer: AnyTrainer) -> float:
    """A change of config: at worst new data and a first evaluation over it."""
    cost = trainer.cost
    return cost.shape.forward_seconds(cost.n_eval) * 2


def export_cost(trainer: AnyTrainer) -> float:
    """Writing every parameter, state array and history row as text (~50 ns a number)."""
    if isinstance(trainer, RecurrentTrainer):
        row = 13 + trainer.n_timesteps
        return (trainer.network.n_params * 6 + len(trainer.history) * row) * 50e-9
    numbers = trainer.network.n_params * 6 + len(trainer.history) * (6 + 3 * trainer.n_layers)
    return numbers * 50e-9


def stage_cost(trainer: AnyTrainer) -> float:
    """A staged call: at most the rest of one step and its evaluation."""
    return trainer.cost.steps_seconds(1)


def read_cost(trainer: AnyTrainer) -> float:
    """A trace or a chain rule: may replay the step's arrays and reads the training set for
    dead units; about one step's work. (A recurrent trace adds a Jacobian per timestep.)"""
    if isinstance(trainer, RecurrentTrainer):
        return rops.trace_cost(trainer)
    cost = trainer.cost
    return cost.shape.step_seconds(cost.batch) + cost.shape.forward_seconds(cost.n_eval)


def grid_cost(grid: int, hidden_grid: int | None) -> Cost:
    def seconds(any_trainer: AnyTrainer) -> float:
        trainer = dense(any_trainer, "GET /boundary")
        one_d = trainer.dataset.input_dim == 1
        small = grid if hidden_grid is None else hidden_grid
        cost = trainer.cost.grid_seconds(grid, one_d)
        return cost + (0.0 if small == grid else trainer.cost.grid_seconds(small, one_d))

    return seconds


def check_grid_budget(
    trainer: Trainer,
    grid: int,
    hidden_grid: int | None,
    budget: float,
    loc: Loc = ("query", "grid"),
) -> None:
    """422 at ``grid`` when the grids would take longer than ``budget``, naming the largest."""
    if grid_cost(grid, hidden_grid)(trainer) <= budget:
        return
    largest = grid
    while (
        largest > 2 and grid_cost(largest, min(largest, hidden_grid or largest))(trainer) > budget
    ):
        largest = int(largest * 0.9)
    raise InputError.at(
        loc,
        f"must be at most {largest} for this network: the grid would take longer than the "
        f"{budget:g} s a request may take (max_request_seconds)",
        "compute_budget",
    )


def _checked_entries(sizes: Sequence[int], per_array: int) -> int:
    """Entries a gradient check compares with at most ``per_array`` per W and per b."""
    return sum(min(a * b, per_array) + min(b, per_array) for a, b in itertools.pairwise(sizes))


def gradcheck_entries(trainer: Trainer, budget: float, most: int = 64) -> int:
    """Entries per W and b the gradient check can afford within ``budget`` (≥ 1)."""
    cost = trainer.cost
    for k in range(most, 0, -1):
        if cost.gradcheck_seconds(_checked_entries(cost.shape.sizes, k)) <= budget:
            return k
    return 1


def gradcheck_cost(budget: float) -> Cost:
    def seconds(trainer: AnyTrainer) -> float:
        if isinstance(trainer, RecurrentTrainer):
            return rops.gradcheck_seconds(trainer, budget)
        k = gradcheck_entries(trainer, budget)
        return trainer.cost.gradcheck_seconds(_checked_entries(trainer.cost.shape.sizes, k))

    return seconds


def record_bytes(trainer: AnyTrainer) -> int:
    """Bytes a staged step's arrays will need beyond what the session holds now."""
    full = trainer.cost.shape.bytes_per_step_record(trainer.batch_size)
    return max(0, full - trainer.step_array_bytes)


# ----------------------------------------------------------------------------- reading


def diverged(trainer: AnyTrainer) -> bool:
    return trainer.divergence is not None


def trace(
    s: Session, detail: Detail, sample: int, max_values: int
) -> TraceModel | RecurrentTraceModel:
    if isinstance(s.trainer, RecurrentTrainer):
        return rops.trace(s.trainer, sample)
    step_trace = s.trainer.trace(sample)
    batch = step_trace.batch_x.shape[0]
    if not 0 <= sample < batch:
        raise InputError.at(
            ("query", "sample"), in_range_message(0, batch - 1, sample) + " (batch row)"
        )
    return TraceModel.from_engine(step_trace, diverged(s.trainer), detail, max_values)


def history(s: Session, since: int) -> HistoryModel | RecurrentHistoryModel:
    if isinstance(s.trainer, RecurrentTrainer):
        return rops.history(s.trainer, since, MAX_HISTORY_POINTS)
    return _history(s.trainer, since)


def _history(trainer: Trainer, since: int) -> HistoryModel:
    return HistoryModel.from_engine(trainer.history.since(since, MAX_HISTORY_POINTS), since)


def boundary(
    s: Session, grid: int, hidden_grid: int | None, budget: float, max_cells: int
) -> BoundaryModel:
    trainer = dense(s.trainer, "GET /boundary")
    check_grid_budget(trainer, grid, hidden_grid, budget)
    check_grid_cells(trainer, grid if hidden_grid is None else hidden_grid, max_cells)
    return _boundary(trainer, grid, hidden_grid)


def check_grid_cells(trainer: Trainer, hidden_grid: int, max_cells: int) -> None:
    """422 at ``hidden_grid`` when every hidden neuron's map together would pass
    ``max_cells`` cells (a 1024-neuron network at 128² is 16.8 M: a 22 MB answer)."""
    neurons = sum(trainer.network.sizes[1:-1])
    one_d = trainer.dataset.input_dim == 1
    cells = neurons * (hidden_grid if one_d else hidden_grid * hidden_grid)
    if cells <= max_cells:
        return
    largest = max_cells // max(neurons, 1) if one_d else math.isqrt(max_cells // max(neurons, 1))
    raise InputError.at(
        ("query", "hidden_grid"),
        f"must be at most {max(largest, 2)} for this network's {neurons} hidden neurons "
        f"(max_grid_cells = {max_cells} cells in one answer)",
        "size_budget",
    )


def _boundary(
    trainer: Trainer,
    grid: int,
    hidden_grid: int | None = None,
    inputs: bool = True,
    compact: bool = False,
) -> BoundaryModel:
    """The output at ``grid``, hidden neurons and input features at ``hidden_grid`` (default:
    ``grid``, at most ``grid``); ``compact`` (frames) rounds the hidden ranges."""
    small = grid if hidden_grid is None else hidden_grid
    if not 2 <= small <= grid:
        raise InputError.at(("query", "hidden_grid"), in_range_message(2, grid, small))
    try:
        output = trainer.boundary(grid)
        hidden = None if small == grid else trainer.boundary(small)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    features = None
    if inputs:
        with np.errstate(all="ignore"):
            features = feature_grids(trainer.dataset, trainer.config.features, small)
    digits = FRAME_DIGITS if compact else None
    return BoundaryModel.from_engine(output, diverged(trainer), hidden, features, digits)


def chain(s: Session, layer: int, i: int, j: int, sample: int) -> ChainModel:
    trainer = dense(s.trainer, "GET /chain")
    try:
        result = trainer.chain(layer, i, j, sample)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    return ChainModel.from_engine(result, diverged(trainer))


def gradcheck(s: Session, budget: float) -> GradcheckModel | RecurrentGradcheckModel:
    """Central differences against backprop on as many entries per W and b (at most 64,
    evenly spread) as the compute budget affords; the answer counts what it checked."""
    if isinstance(s.trainer, RecurrentTrainer):
        return rops.gradcheck(s.trainer, budget)
    entries = gradcheck_entries(s.trainer, budget)
    check = s.trainer.gradient_check(max_entries=entries)
    return GradcheckModel.from_engine(check, diverged(s.trainer))


def timestep(s: Session, t: int, sample: int) -> TimestepDetailModel:
    return rops.timestep(recurrent(s.trainer, "GET /timestep/{t}"), t, sample)


def timestep_cost(trainer: AnyTrainer) -> float:
    """A trace, and a replay of each reached timestep's term at most."""
    if isinstance(trainer, RecurrentTrainer):
        return 2 * rops.trace_cost(trainer)
    return 0.0  # refused (409) before any work


def data(s: Session) -> DataModel | SequenceDataModel:
    if isinstance(s.trainer, RecurrentTrainer):
        return rops.data(s.trainer)
    return DataModel.from_engine(s.trainer.dataset)


def catalog(settings: Settings) -> CatalogModel:
    limits = LimitsModel(
        max_depth=settings.max_depth,
        max_width=settings.max_width,
        max_samples=settings.max_samples,
        max_grid=settings.max_grid,
        max_steps=settings.max_steps,
        max_csv_bytes=settings.max_csv_bytes,
        max_csv_rows=settings.max_csv_rows,
        max_request_bytes=settings.max_request_bytes,
        max_import_bytes=import_limit(settings),
        max_steps_per_frame=settings.max_steps_per_frame,
        max_history_points=MAX_HISTORY_POINTS,
    )
    defaults = ConfigModel.model_validate(default_config(engine_limits(settings)))
    server = engine_limits(settings)
    recurrent_defaults = RecurrentConfig.from_dict(rops.default_config(server))
    recurrent = RecurrentCatalogModel.from_engine(server, recurrent_defaults)
    return CatalogModel.from_engine(limits, defaults, recurrent)


# ----------------------------------------------------------------------------- the stream


FRAME_HISTORY = 32  # history rows in one frame: a chart cannot show more per frame anyway


def trim_to_view(trace: TraceModel, view: FrameView) -> TraceModel:
    """Leave out of a frame's trace what the client does not draw (see FrameView)."""
    layers = []
    for layer in trace.layers:
        changes: dict[str, Any] = {}
        if view.edges == "dW":
            changes["W"] = None
        elif view.edges == "W":
            changes["dW"] = None
        if view.layer is not None and layer.index != view.layer:
            changes["summaries"] = {}
        if not view.sample:
            changes["sample"] = SampleValues(z=None, a=None, da=None, dz=None)
        layers.append(layer.model_copy(update=changes) if changes else layer)
    return trace.model_copy(update={"layers": layers})


def run_steps(trainer: AnyTrainer, steps: int, cancel: Cancel) -> Job[int]:
    """Train ``steps`` steps in chunks of about :data:`CHUNK_SECONDS`, stopping between steps
    once ``cancel`` is set (the stream: already bounded by its frame budget); the full-data
    evaluation runs once, after the last step. Returns the steps done."""
    chunk = max(1, trainer.cost.steps_within(CHUNK_SECONDS))
    done = 0
    while done < steps and not cancel():
        n = min(chunk, steps - done)
        last = done + n >= steps
        done += trainer.train(n, should_stop=cancel, evaluate_every=0, evaluate_last=last)
        if done < steps:
            yield
    trainer.evaluate_now()  # stopped between two chunks: the frame's state must be current
    return done


def train_now(trainer: AnyTrainer, steps: int) -> None:
    """A few steps at once (a stream's single step)."""
    trainer.train(steps)


def restart(trainer: AnyTrainer) -> None:
    """Back to step 0 with the same weights."""
    trainer.reset()


def frame(
    any_trainer: AnyTrainer,
    since: int,
    reason: FrameReason,
    playing: bool,
    reset: bool,
    grid: int | None,
    hidden_grid: int,
    max_values: int,
    inputs: bool = True,
    view: FrameView | None = None,
) -> FrameModel:
    """One stream frame: state, history since ``since`` (at most :data:`FRAME_HISTORY` rows,
    evenly spaced, the last kept), compact trace summary (arrays to 4 significant digits, no
    dW_update; trimmed to what ``view`` draws), and, if ``grid``, a boundary (hidden neurons
    at ``hidden_grid``; the input-feature grids only if ``inputs``). A recurrent session's
    frame: :func:`app.recurrent_ops.frame` (no boundary)."""
    if isinstance(any_trainer, RecurrentTrainer):
        return rops.frame(any_trainer, since, reason, playing, reset, FRAME_HISTORY)
    trainer = any_trainer
    step_trace = trainer.trace(0)
    trace = TraceModel.from_engine(
        step_trace, diverged(trainer), "summary", max_values, compact=True
    )
    if view is not None:
        trace = trim_to_view(trace, view)
    return FrameModel(
        type="frame",
        reason=reason,
        playing=playing,
        reset=reset,
        state=state(trainer),
        history=HistoryModel.from_engine(trainer.history.since(since, FRAME_HISTORY), since),
        trace=trace,
        boundary=None
        if grid is None
        else _boundary(trainer, grid, min(hidden_grid, grid), inputs, compact=True),
    )


def update_rule(s: Session, layer: int, i: int, j: int) -> UpdateRuleModel:
    """How weight W[layer][i, j] changed at this step's update (null before it ran)."""
    trainer = dense(s.trainer, "GET /update-rule")
    try:
        update = trainer.update_rule(layer, i, j)
    except ConfigError as exc:
        raise InputError.from_engine(exc, ("query",)) from None
    return UpdateRuleModel.from_engine(
        update, (layer, i, j), trainer.step, trainer.stage.kind, diverged(trainer)
    )


# ----------------------------------------------------------------------------- lessons


def lesson_folders(settings: Settings) -> list[Path]:
    """The lessons that ship with the app, then the teachers' extra folder (if set)."""
    extra = [] if settings.lessons_dir is None else [Path(settings.lessons_dir)]
    return [page_dir("lessons"), *extra]


def lesson_limits(settings: Settings) -> Limits:
    """What a lesson file is checked against: the engine's own limits, or this server's where
    they are looser. (A server with tighter limits still starts; it says which lessons it
    cannot run: see :func:`lesson_refusal`.)"""
    server, engine = engine_limits(settings), Limits()
    return Limits(
        **{f.name: max(getattr(server, f.name), getattr(engine, f.name)) for f in fields(Limits)}
    )


def load_lessons(settings: Settings) -> dict[str, Lesson]:
    """Every lesson the page can run, by id, in order. Raises LessonError (naming the file and
    the field) on the first broken file: the server must not start with it. Every file is
    checked; each lesson says its model kind (dense or recurrent)."""
    lessons = load_lesson_files(lesson_folders(settings), lesson_limits(settings))
    return {lesson.id: lesson for lesson in lessons}


def lesson_refusal(lesson: Lesson, settings: Settings) -> str | None:
    """Why this server cannot run ``lesson`` (a setup passes one of its limits), or None."""
    limits = engine_limits(settings)
    for setup in lesson.setups:
        try:
            setup.config.validate(limits)
        except ConfigError as exc:
            return f"setup {setup.name} needs more than this server allows: {exc}"
    return None


def lesson_list(lessons: Mapping[str, Lesson], settings: Settings) -> LessonListModel:
    return LessonListModel(
        lessons=[
            LessonSummaryModel.from_engine(lesson, lesson_refusal(lesson, settings))
            for lesson in lessons.values()
        ]
    )


def lesson_details(lesson: Lesson, settings: Settings) -> LessonModel:
    return LessonModel.from_engine(lesson, lesson_refusal(lesson, settings))


def checkpoint_cost(trainers: Sequence[AnyTrainer]) -> float:
    """A checkpoint reads a few measures per setup, each at most a trace: about one trace's
    work per measure, four measures at most per setup and sentence."""
    return sum(4 * read_cost(trainer) for trainer in trainers)


def checkpoints(lesson: Lesson, step: int, trainers: Mapping[str, AnyTrainer]) -> CheckpointsModel:
    """Lesson step ``step``'s checkpoints, read from the setups' trainers (by setup name) as
    they are now; a setup without a trainer reads as not available."""
    if not 0 <= step < len(lesson.steps):
        raise InputError.at(
            ("query", "step"),
            in_range_message(0, len(lesson.steps) - 1, step) + f" (steps of {lesson.id})",
        )
    read = [
        (checkpoint, read_checkpoint(checkpoint, trainers, lesson.weight))
        for checkpoint in lesson.steps[step].checkpoints
    ]
    at = {name: trainer.step for name, trainer in sorted(trainers.items())}
    return CheckpointsModel.from_engine(lesson, step, read, at)
