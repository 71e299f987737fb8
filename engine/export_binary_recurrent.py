"""A recurrent run's export in binary: :class:`~engine.export.RecurrentExport` with every
array written as its raw bytes, in the framing of :mod:`engine.export_binary` (bit for bit
exact, NaN payloads and ±Infinity included; nothing is ever unpickled or evaluated).

Layout: ``b"BPLR"  u16 layout version  u32 header length  header  array bytes``; the header
is ``{"data": …, "arrays": [[dtype, shape], …]}`` where ``data`` is
:meth:`RecurrentExport.to_dict`'s structure with each array replaced by ``{"$array": k}``.
History pieces (the rows added since the last save) use the ``BPLH`` framing with the header
``{"n_timesteps": T, "columns": [...], "arrays": [...]}``.

Reading checks the framing, then hands the data to :meth:`RecurrentExport.from_dict`, the one
validation of every recurrent export: a damaged blob is refused with ConfigError naming what
is wrong. :func:`read_any` reads a dense or a recurrent blob, told apart by its magic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.config import Limits
from engine.errors import ConfigError
from engine.export import (
    RECURRENT_EXPORT_FORMAT,
    RECURRENT_EXPORT_VERSION,
    RecurrentExport,
    TrainerExport,
)
from engine.export import _recurrent_shape as recurrent_shape_of
from engine.export_binary import (
    HISTORY_MAGIC,
    MAGIC,
    _framed,
    _joined_history,
    _portable,
    _unframe,
    from_bytes,
)
from engine.recurrent import block_views
from engine.recurrent_history import RecurrentHistory

RECURRENT_MAGIC = b"BPLR"
_REF = "$array"
Bytes = bytes | bytearray | memoryview


def _columns(history: RecurrentHistory) -> dict[str, np.ndarray]:
    return {name: history.column(name) for name in RecurrentHistory.columns()}


def to_bytes(export: RecurrentExport, history: bool = True) -> bytes:
    """``export`` in the binary layout; without its history's rows when not ``history``
    (they are then kept as :func:`history_bytes` pieces)."""
    arrays: list[np.ndarray] = []

    def ref(value: np.ndarray | None) -> dict[str, int] | None:
        if value is None:
            return None
        arrays.append(_portable(np.ascontiguousarray(value)))
        return {_REF: len(arrays) - 1}

    views = block_views(export.theta, recurrent_shape_of(export.config))
    columns = _columns(export.history)
    hist: dict[str, Any] = {"n_timesteps": export.history.n_timesteps}
    for name, values in columns.items():
        hist[name] = ref(values if history else values[:0])
    div = export.divergence
    data = {
        "format": RECURRENT_EXPORT_FORMAT,
        "version": RECURRENT_EXPORT_VERSION,
        "config": export.config.to_dict(),
        "parameters": {name: ref(view) for name, view in views.items() if name != "W"},
        "optimizer_state": {
            k: ref(v) if isinstance(v, np.ndarray) else int(v)
            for k, v in export.optimizer_state.items()
        },
        "rng": {"shuffle": export.shuffle_state},
        "permutation": ref(export.permutation),
        "cursor": export.cursor,
        "epoch": export.epoch,
        "step": export.step,
        "stage": {"kind": export.stage.kind, "timestep": export.stage.timestep},
        "batch_indices": ref(export.batch_indices),
        "theta_before_update": ref(export.theta_before_update),
        "last_delta": ref(export.last_delta),
        "last_update_ratio": ref(export.last_update_ratio),
        "history": hist,
        "divergence": None
        if div is None
        else {"step": div.step, "stage": div.stage, "timestep": div.timestep},
    }
    return _framed(RECURRENT_MAGIC, {"data": data}, arrays)


def history_row(history: RecurrentHistory, row: int) -> bytes:
    """The raw bytes of one row of ``history`` (to tell cheaply whether it has changed)."""
    return b"".join(np.asarray(values[row]).tobytes() for values in _columns(history).values())


def history_bytes(history: RecurrentHistory, start: int, stop: int | None = None) -> bytes:
    """Rows ``start:stop`` of ``history`` as a ``BPLH`` piece."""
    columns = _columns(history)
    arrays = [_portable(np.ascontiguousarray(v[start:stop])) for v in columns.values()]
    header = {"n_timesteps": history.n_timesteps, "columns": list(columns)}
    return _framed(HISTORY_MAGIC, header, arrays)


def from_bytes_recurrent(
    blob: Bytes, limits: Limits | None = None, history: Sequence[Bytes] | None = None
) -> RecurrentExport:
    """Read :func:`to_bytes` output back; with ``history``, the history is those
    :func:`history_bytes` pieces, in order. ConfigError names the first problem."""
    header, arrays = _unframe(blob, RECURRENT_MAGIC, {"data"}, "")

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {_REF}:
                k = value[_REF]
                if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(arrays):
                    raise ConfigError("binary", f"refers to array {k!r}, which it lacks")
                return arrays[k]
            return {key: resolve(v) for key, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    data = resolve(header["data"])
    if not isinstance(data, dict) or not isinstance(data.get("history"), dict):
        raise ConfigError("binary", "its data must be an object with a history")
    if history is not None:
        data["history"] = _joined_history(history, "n_timesteps")
    _listed(data["history"])
    return RecurrentExport.from_dict(data, limits)


def _listed(hist: dict[str, Any]) -> None:
    """The step and flag columns as lists: the export's one validation checks them item by
    item as a JSON export gives them (floats stay arrays: it reads those as arrays)."""
    for name in ("step", "evaluated"):
        value = hist.get(name)
        if isinstance(value, np.ndarray):
            hist[name] = value.tolist()


def read_any(
    blob: Bytes, limits: Limits | None = None, history: Sequence[Bytes] | None = None
) -> TrainerExport | RecurrentExport:
    """A dense (``BPLX``) or a recurrent (``BPLR``) binary export, told apart by its magic."""
    head = bytes(memoryview(blob).cast("B")[:4])
    if head == RECURRENT_MAGIC:
        return from_bytes_recurrent(blob, limits, history)
    if head != MAGIC:
        raise ConfigError("binary", "not a Backprop Lab binary export (wrong leading bytes)")
    return from_bytes(blob, limits, history)
