"""``ConfigError``: a bad input value, with the path of the field it came from.

The path travels as data (``loc``), never parsed back out of the message: the API turns it
into a 422 entry ``{"loc": ["body", *loc], "msg": message}`` as is. ``str(error)`` reads
``"layers[2].units: must be an integer in 1..64, got 0"``, the same text a notebook user sees.
"""

from __future__ import annotations

import re

Loc = tuple[str | int, ...]
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> Loc:
    """``"layers[2].units"`` → ``("layers", 2, "units")``."""
    return tuple(
        int(index) if index else name for name, index in _PART.findall(path) if name or index
    )


def format_path(loc: Loc) -> str:
    """``("layers", 2, "units")`` → ``"layers[2].units"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class ConfigError(ValueError):
    """An input value outside what is allowed. ``loc`` is the field path (may be empty),
    ``message`` says what is allowed and what was given."""

    def __init__(self, path: str | Loc, message: str) -> None:
        self.loc: Loc = parse_path(path) if isinstance(path, str) else tuple(path)
        self.message = message
        where = format_path(self.loc)
        super().__init__(f"{where}: {message}" if where else message)

    def within(self, *prefix: str | int) -> ConfigError:
        """The same error located under ``prefix`` (e.g. ``"config"`` inside an export)."""
        return ConfigError((*prefix, *self.loc), self.message)
