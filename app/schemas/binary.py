"""Binary stream frames: the same frame as JSON, with its number arrays as raw bytes.

A stream opened with ``?encoding=binary`` receives every frame as one binary WebSocket
message::

    uint32 little-endian  N, the length of the header
    N bytes               the frame as UTF-8 JSON, each number array replaced by {"$": k}
    zero padding          to a multiple of 8 bytes
    array k, …            each at the offset the header's "$arrays" gives, 8-byte aligned

``"$arrays"`` lists ``[dtype, shape, offset]`` per array: ``"f4"`` little-endian float32
(NaN where the JSON frame has ``null``), ``"u4"`` uint32 (histogram counts) and ``"u1"``
bytes (a boundary grid's quantised values, which JSON frames carry as base64 in ``data``;
a binary frame's grid has ``"encoding": "u8"`` and its bytes in ``data``).

Precision: float32 keeps about 7 significant digits (relative error below 6e-8); JSON frames
round their arrays to 4. Everything else (state, flags, names, short lists) stays JSON.
About half the size of the JSON frame, and the page decodes it without parsing numbers.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel

from app.schemas.wire import _fields

MIN_ARRAY = 4  # shorter number lists stay in the JSON header
_ALIGN = 8


def encode(frame: BaseModel | dict[str, Any]) -> bytes:
    """The binary form of a frame (see the module docstring)."""
    arrays: list[np.ndarray] = []
    header = _walk(frame, arrays, "")
    table, offset, blobs = [], 0, []
    for arr in arrays:
        blob = arr.tobytes()
        table.append([arr.dtype.str.lstrip("<|"), list(arr.shape), offset])
        padded = len(blob) + (-len(blob) % _ALIGN)
        blobs.append(blob + b"\0" * (padded - len(blob)))
        offset += padded
    header["$arrays"] = table
    text = orjson.dumps(header)
    text += b" " * (-(len(text) + 4) % _ALIGN)  # arrays start 8-byte aligned
    return struct.pack("<I", len(text)) + text + b"".join(blobs)


def decode(data: bytes) -> dict[str, Any]:
    """A binary frame back to the JSON frame's shape (NaN → None), e.g. for tests."""
    (n,) = struct.unpack_from("<I", data)
    header = orjson.loads(data[4 : 4 + n])
    start = 4 + n
    arrays = []
    for dtype, shape, offset in header.pop("$arrays"):
        count = int(np.prod(shape)) if shape else 1
        arr = np.frombuffer(data, dtype="<" + dtype, count=count, offset=start + offset)
        arrays.append(arr.reshape(shape))
    return _restore(header, arrays)


def _walk(value: Any, arrays: list[np.ndarray], key: str) -> Any:
    if isinstance(value, BaseModel):
        value = _fields(value)
    if isinstance(value, dict):
        if value.get("encoding") == "u8-base64" and isinstance(value.get("data"), str):
            grid = dict(value, encoding="u8")
            raw = np.frombuffer(base64.b64decode(grid.pop("data")), dtype=np.uint8)
            grid = {k: _walk(v, arrays, k) for k, v in grid.items()}
            grid["data"] = _add(arrays, raw)
            return grid
        return {k: _walk(v, arrays, k) for k, v in value.items()}
    if isinstance(value, list):
        packed = _pack(value, key)
        if packed is not None:
            return _add(arrays, packed)
        return [_walk(v, arrays, key) for v in value]
    return value


def _add(arrays: list[np.ndarray], arr: np.ndarray) -> dict[str, int]:
    arrays.append(arr)
    return {"$": len(arrays) - 1}


def _pack(values: list[Any], key: str) -> np.ndarray | None:
    """A list of floats (or of equal-length lists of floats) as one float32 array, histogram
    counts as uint32, or None for anything else (integers such as step numbers stay JSON:
    float32 would round them past 2²⁴)."""
    if len(values) < MIN_ARRAY:
        return None
    if key == "counts":
        return np.asarray(values, dtype="<u4")
    first = values[0]
    if isinstance(first, list):
        first = first[0] if first else "empty"
    if not (first is None or type(first) is float):
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # ragged or mixed: leave it to JSON
        return None
    return arr.astype("<f4") if arr.ndim in (1, 2) else None


def _restore(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$"}:
            arr = arrays[value["$"]]
            if arr.dtype.kind == "f":
                out = arr.astype(np.float64).astype(object)
                out[np.isnan(arr)] = None
                return out.tolist()
            return arr.tobytes() if arr.dtype == np.uint8 else arr.tolist()
        return {k: _restore(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, arrays) for v in value]
    return value
