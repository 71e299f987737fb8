"""The export in binary: the same data as :meth:`TrainerExport.to_dict`, with every array
written as its raw bytes instead of decimal text — about 3× smaller and 10× quicker to write
and read, and bit for bit exact, NaN payloads and ±Infinity included. The session store keeps
sessions in this form; nothing here is ever unpickled or evaluated.

Layout (all integers little-endian)::

    b"BPLX"  u16 layout version  u32 header length  header  array bytes

The header is UTF-8 JSON: ``{"data": …, "arrays": [[dtype, shape], …]}`` where ``data`` is
:meth:`TrainerExport.to_data` with each array replaced by ``{"$array": k}``, and ``arrays``
describes array ``k``: its dtype (only ``<f8``, ``<i8`` and ``|b1`` are read) and shape. The
array bytes follow in that order, C-contiguous, with nothing after them.

Reading checks the framing here (magic, lengths, dtypes, shapes against the bytes present),
then hands the data to :meth:`TrainerExport.from_dict`, the one validation of every export:
a damaged or forged blob is refused with :class:`~engine.errors.ConfigError` naming what is
wrong, exactly as a damaged JSON export is.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.config import Limits, NetworkConfig
from engine.errors import ConfigError
from engine.export import TrainerExport
from engine.history import History

MAGIC = b"BPLX"
HISTORY_MAGIC = b"BPLH"
LAYOUT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")  # magic, layout version, header length
_DTYPES = {"<f8": np.dtype("<f8"), "<i8": np.dtype("<i8"), "|b1": np.dtype("|b1")}
_REF = "$array"


# Parts of the export that never hold an array: passed through as they are (a session is
# saved after every request, so the walk below is kept short).
_PLAIN = frozenset({"format", "version", "config", "rng", "cursor", "epoch", "step", "stage"})


def to_bytes(export: TrainerExport, history: bool = True) -> bytes:
    """``export`` in the binary layout; without its history's rows when not ``history``
    (they are then kept as :func:`history_bytes` pieces, read back by :func:`from_bytes`)."""
    arrays: list[np.ndarray] = []

    def refer(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            arrays.append(_portable(value))
            return {_REF: len(arrays) - 1}
        if isinstance(value, dict):
            return {k: refer(v) for k, v in value.items()}
        if isinstance(value, list):
            return [refer(v) for v in value]
        return value

    raw = export.to_data(config=False)
    if not history:  # the columns, with no rows
        raw["history"] = {k: _no_rows(v) for k, v in raw["history"].items()}
    data = {k: v if k in _PLAIN else refer(v) for k, v in raw.items() if k != "config"}
    # The config, the largest plain part, is written as text once per config object (a
    # session's config changes rarely; it is saved after every request).
    rest = json.dumps(data, separators=(",", ":"))
    data_text = '{"config":' + _config_text(export.config) + "," + rest[1:]
    return _framed(MAGIC, {}, arrays, data_text)


_CONFIG_TEXTS: dict[int, tuple[NetworkConfig, str]] = {}


def _config_text(config: NetworkConfig) -> str:
    """``config`` as JSON text, remembered by identity (configs are immutable)."""
    known = _CONFIG_TEXTS.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    if len(_CONFIG_TEXTS) >= 4096:
        _CONFIG_TEXTS.clear()
    text = json.dumps(config.to_dict(), separators=(",", ":"))
    _CONFIG_TEXTS[id(config)] = (config, text)
    return text


def history_row(history: History, row: int) -> bytes:
    """The raw bytes of one row of ``history`` (to tell cheaply whether it has changed)."""
    return history.row_bytes(row)


def history_bytes(history: History, start: int, stop: int | None = None) -> bytes:
    """Rows ``start:stop`` of ``history`` in the binary layout (magic ``BPLH``, header
    ``{"n_layers": L, "columns": [...], "arrays": [...]}``, then each column's rows)."""
    columns = history.to_dict(_same, _same)
    names = [name for name in columns if name != "n_layers"]
    arrays = [_portable(np.asarray(columns[name])[start:stop]) for name in names]
    return _framed(HISTORY_MAGIC, {"n_layers": history.n_layers, "columns": names}, arrays)


def from_bytes(
    blob: bytes | bytearray | memoryview,
    limits: Limits | None = None,
    history: Sequence[bytes | bytearray | memoryview] | None = None,
) -> TrainerExport:
    """Read :func:`to_bytes` output back; with ``history``, the history is those
    :func:`history_bytes` pieces, in order, instead of the rows in ``blob``. ConfigError
    names the first problem."""
    header, arrays = _unframe(blob, MAGIC, {"data"}, "")

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
    if history is not None and isinstance(data, dict):
        data["history"] = _joined_history(history)
    return TrainerExport.from_dict(data, limits)


def _joined_history(
    pieces: Sequence[bytes | bytearray | memoryview], size_key: str = "n_layers"
) -> dict[str, Any]:
    """The history columns of :func:`history_bytes` pieces, one after the other. ``size_key``
    names the history's width in the pieces' headers (``n_layers``; a recurrent history's
    ``n_timesteps``)."""
    parts = []
    for k, piece in enumerate(pieces):
        header, arrays = _unframe(piece, HISTORY_MAGIC, {size_key, "columns"}, f" {k}")
        names = header["columns"]
        if not isinstance(names, list) or len(names) != len(arrays):
            raise ConfigError(("binary", "history", k), "its columns do not match its arrays")
        parts.append((header[size_key], dict(zip(names, arrays, strict=True))))
    if not parts:
        raise ConfigError(("binary", "history"), "no history pieces")
    size, first = parts[0]
    if any(n != size or cols.keys() != first.keys() for n, cols in parts):
        raise ConfigError(("binary", "history"), "its pieces do not have the same columns")
    joined: dict[str, Any] = {size_key: size}
    for name in first:
        try:
            joined[name] = np.concatenate([cols[name] for _, cols in parts])
        except ValueError:
            raise ConfigError(("history", name), "pieces of different shapes") from None
    return joined


def _framed(
    magic: bytes, header: dict[str, Any], arrays: list[np.ndarray], data_text: str = ""
) -> bytes:
    """Magic, layout, header length, the header (``header`` plus the arrays' manifest, and
    the ``data`` member given as JSON text), then the arrays' bytes."""
    manifest = [[a.dtype.str, list(a.shape)] for a in arrays]
    text = json.dumps({**header, "arrays": manifest}, separators=(",", ":"))
    if data_text:
        text = '{"data":' + data_text + "," + text[1:]
    encoded = text.encode()
    prefix = _PREFIX.pack(magic, LAYOUT_VERSION, len(encoded))
    return b"".join([prefix, encoded, *(a.data for a in arrays)])


def _unframe(
    blob: bytes | bytearray | memoryview, magic: bytes, keys: set[str], which: str
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header (holding exactly ``keys`` and ``arrays``) and the arrays of a framed blob."""
    what = "history piece" if magic == HISTORY_MAGIC else "export"
    view = memoryview(blob).cast("B")
    if len(view) < _PREFIX.size:
        raise ConfigError("binary", f"too short to be a Backprop Lab binary {what}{which}")
    found, layout, header_length = _PREFIX.unpack_from(view)
    if found != magic:
        raise ConfigError(
            "binary", f"not a Backprop Lab binary {what}{which} (wrong leading bytes)"
        )
    if layout != LAYOUT_VERSION:
        raise ConfigError("binary", f"layout version {layout} is not readable here")
    body = _PREFIX.size + header_length
    if body > len(view):
        raise ConfigError("binary", f"cut short inside its header{which}")
    try:
        header = json.loads(bytes(view[_PREFIX.size : body]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ConfigError("binary", f"its header{which} is not valid JSON") from None
    if not isinstance(header, dict) or set(header) != {*keys, "arrays"}:
        expected = ", ".join(repr(k) for k in sorted({*keys, "arrays"}))
        raise ConfigError("binary", f"its header{which} must hold exactly {expected}")
    return header, _arrays(view, body, header["arrays"])


def _same(arr: np.ndarray) -> np.ndarray:
    return arr


def _no_rows(value: Any) -> Any:
    return value[:0] if isinstance(value, np.ndarray) else value


def _arrays(view: memoryview, offset: int, manifest: object) -> list[np.ndarray]:
    """The arrays the manifest describes, read from ``view`` after ``offset``; the bytes must
    end exactly where the last array does."""
    if not isinstance(manifest, list):
        raise ConfigError("binary", "its array list must be a list")
    arrays = []
    for k, entry in enumerate(manifest):
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or entry[0] not in _DTYPES
            or not isinstance(entry[1], list)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[1])
        ):
            raise ConfigError(
                ("binary", "arrays", k),
                "must be [dtype, shape], dtype one of " + ", ".join(_DTYPES),
            )
        dtype, shape = _DTYPES[entry[0]], tuple(entry[1])
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(view):
            raise ConfigError(("binary", "arrays", k), "cut short: its bytes are missing")
        flat = np.frombuffer(view, dtype, math.prod(shape), offset)
        arrays.append(flat.reshape(shape).copy())  # owned and writable, like parsed JSON
        offset += size
    if offset != len(view):
        raise ConfigError("binary", f"{len(view) - offset} bytes follow its last array")
    return arrays


def _portable(arr: np.ndarray) -> np.ndarray:
    """``arr`` as one of the dtypes the reader accepts, little-endian and C-contiguous."""
    if arr.dtype.str in _DTYPES and arr.flags.c_contiguous:
        return arr
    kind = arr.dtype.kind
    dtype = "<f8" if kind == "f" else "<i8" if kind in "iu" else "|b1" if kind == "b" else None
    if dtype is None:
        raise TypeError(f"an export holds no {arr.dtype} arrays")
    return np.ascontiguousarray(arr, dtype=dtype)
