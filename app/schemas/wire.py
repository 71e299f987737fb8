"""How an answer goes on the wire: the base of every response model, arrays, and rendering.

Every answer is one pydantic model: the class a route publishes as its ``response_model``
(``/docs`` and ``/openapi.json`` show it) is the class whose instance :func:`render` writes.
Each model is built from a typed engine result by its ``from_engine`` classmethod.

**Non-finite numbers.** A number that can be NaN or ±Infinity (after divergence) is declared
:data:`Real` (``float | None``). :func:`render` is the one place where NaN and ±Infinity
become ``null``; nothing before it checks for them (``ser_json_inf_nan`` says the same for
pydantic's own ``model_dump_json``, which the tests compare against).

**Speed.** Small models are validated as they are built (pydantic does that in compiled code,
faster than building them unchecked). Large arrays (weights, activations, history columns,
data points) are declared :data:`Floats` or :data:`Matrix`: their type is published in the
schema but not re-checked item by item on every answer; the contract tests validate real
answers against the published schema instead. Rendering uses orjson, in a worker thread.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import orjson
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, SkipValidation

Real = float | None
"""A number; ``null`` on the wire when it is NaN or ±Infinity."""
Floats = Annotated[list[Real], SkipValidation]
"""A (n,) array of :data:`Real`."""
Matrix = Annotated[list[list[Real]], SkipValidation]
"""A (rows, columns) array of :data:`Real`."""


class ResponseModel(BaseModel):
    """Base of every response model. Unknown fields are a programming error, refused at once.

    A field with a default is left out of the answer unless its builder sets it: that is how
    ``detail=full``-only fields stay out of a summary trace.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


def attributes(source: object, model: type[BaseModel], /, **given: Any) -> dict[str, Any]:
    """The fields of ``model`` read from ``source`` (an engine dataclass) by name, except those
    ``given``: an engine result whose names are the model's becomes its model in one call."""
    return {
        name: given[name] if name in given else getattr(source, name) for name in model.model_fields
    }


def floats(a: ArrayLike | None) -> Any:
    """A NumPy array (any shape) as nested lists of Python floats (NaN stays NaN until
    :func:`render` writes it as null); ``None`` stays ``None``."""
    return None if a is None else np.asarray(a, dtype=np.float64).tolist()


def ints(a: ArrayLike) -> list[int]:
    out: list[int] = np.asarray(a, dtype=np.int64).ravel().tolist()
    return out


def _fields(value: object) -> dict[str, Any]:
    """orjson's hook for what it cannot write itself: a model becomes the fields it was built
    with (plus an open model's extra fields). Anything else (a NumPy scalar, say) is a bug."""
    if isinstance(value, BaseModel):
        fields, values = value.model_fields_set, value.__dict__
        if len(fields) == len(values) and not value.__pydantic_extra__:
            return values  # every field set, nothing else (the usual case): as it is
        out = {name: values[name] for name in type(value).model_fields if name in fields}
        out.update(value.__pydantic_extra__ or {})
        return out
    raise TypeError(f"cannot render a {type(value).__name__}")


def render(content: BaseModel | dict[str, Any] | list[Any]) -> bytes:
    """Compact UTF-8 JSON of a response model (or of plain data such as an engine export).

    NaN and ±Infinity are written as ``null`` (orjson's rule for every float), so the JSON is
    strict whatever the engine computed. Every float is written in its shortest exact
    round-trip form. orjson, not the standard library: that one formats a float in ~0.4 µs
    while holding the interpreter lock, so a large trace held the event loop and every
    one-step request off the lock for milliseconds at a time.
    """
    return orjson.dumps(content, default=_fields)
