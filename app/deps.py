"""Annotated dependencies: settings, the session store, a session looked up by id (404).

All are ``async`` so they run on the event loop (the store is only touched from there).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.sessions import Session, SessionStore
from app.settings import Settings


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.store
    return store


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
SessionId = Annotated[str, Path(description="Session id from POST /api/sessions.")]


async def get_session(session_id: SessionId, store: StoreDep) -> Session:
    """The live session with this id; 404 when it does not exist (or expired)."""
    return await store.get(session_id)


SessionDep = Annotated[Session, Depends(get_session)]
