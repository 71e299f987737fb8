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
from typing import Any

import numpy as np

from engine.config import Limits
from engine.errors import ConfigError
from engine.export import TrainerExport

MAGIC = b"BPLX"
LAYOUT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")  # magic, layout version, header length
_DTYPES = {"<f8": np.dtype("<f8"), "<i8": np.dtype("<i8"), "|b1": np.dtype("|b1")}
_REF = "$array"


# Parts of the export that never hold an array: passed through as they are (a session is
# saved after every request, so the walk below is kept short).
_PLAIN = frozenset({"format", "version", "config", "rng", "cursor", "epoch", "step", "stage"})


def to_bytes(export: TrainerExport) -> bytes:
    """``export`` in the binary layout."""
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

    data = {k: v if k in _PLAIN else refer(v) for k, v in export.to_data().items()}
    manifest = [[a.dtype.str, list(a.shape)] for a in arrays]
    header = json.dumps({"data": data, "arrays": manifest}, separators=(",", ":")).encode()
    return b"".join(
        [_PREFIX.pack(MAGIC, LAYOUT_VERSION, len(header)), header, *(a.data for a in arrays)]
    )


def from_bytes(blob: bytes | bytearray | memoryview, limits: Limits | None = None) -> TrainerExport:
    """Read :func:`to_bytes` output back; ConfigError names the first problem."""
    view = memoryview(blob).cast("B")
    if len(view) < _PREFIX.size:
        raise ConfigError("binary", "too short to be a Backprop Lab binary export")
    magic, layout, header_length = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise ConfigError("binary", "not a Backprop Lab binary export (wrong leading bytes)")
    if layout != LAYOUT_VERSION:
        raise ConfigError("binary", f"layout version {layout} is not readable here")
    body = _PREFIX.size + header_length
    if body > len(view):
        raise ConfigError("binary", "cut short inside its header")
    try:
        header = json.loads(bytes(view[_PREFIX.size : body]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ConfigError("binary", "its header is not valid JSON") from None
    if not isinstance(header, dict) or set(header) != {"data", "arrays"}:
        raise ConfigError("binary", "its header must hold exactly 'data' and 'arrays'")
    arrays = _arrays(view, body, header["arrays"])

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

    return TrainerExport.from_dict(resolve(header["data"]), limits)


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
