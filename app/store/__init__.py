"""Where sessions live: one setting, ``BACKPROP_LAB_STORE``, picks the backend.

- ``memory``: this process's memory (tests, one process; a restart loses every session);
- ``sqlite:///PATH`` (the default): one SQLite file, shared by the workers of one host;
- ``redis://HOST:PORT/DB``: a Redis server, shared by replicas on several hosts.

The routes never see a backend: they use :class:`app.sessions.SessionStore`, which keeps the
admission rules, the per-process cache of live trainers and the per-session locks over any of
them (see :mod:`app.store.base` for what a backend does).
"""

from __future__ import annotations

from app.store.base import Index, StoreStartupError
from app.store.memory import MemoryIndex

STORE_FORMS = "memory, sqlite:///PATH or redis://HOST:PORT/DB"


def store_kind(url: str) -> str:
    """``memory``, ``sqlite`` or ``redis``; ValueError naming the accepted forms otherwise."""
    if url == "memory":
        return "memory"
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return "sqlite"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    raise ValueError(f"must be {STORE_FORMS}")


def open_backend(url: str, *, ttl_seconds: float, timeout: float) -> Index:
    """The backend ``url`` names (not yet opened: call ``await backend.open()``)."""
    kind = store_kind(url)
    if kind == "memory":
        return MemoryIndex()
    if kind == "sqlite":
        from app.store.sqlite import SqliteBackend

        return SqliteBackend(url)
    from app.store.redis import RedisBackend

    return RedisBackend(url, ttl_seconds, timeout)


def check_store(url: str) -> None:
    """Prove, before serving, that a SQLite store can be opened and written (creating its
    folder and file if needed): StoreStartupError naming the file and the cause if not."""
    if store_kind(url) == "sqlite":
        from app.store.sqlite import SqliteBackend

        backend = SqliteBackend(url)
        backend.open_now()
        backend.close_now()


__all__ = [
    "STORE_FORMS",
    "Index",
    "StoreStartupError",
    "check_store",
    "open_backend",
    "store_kind",
]
