"""FastAPI dependencies shared by the API and the web routes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request

from kb.app.service import KBService

T = TypeVar("T")
_state_lock = threading.Lock()  # creates each per-app state once


async def get_service(request: Request) -> KBService:
    """The service (503 while starting). ``async`` because it never blocks: a plain ``def`` dependency costs
    a hop to the thread pool on every request (measured: /search spent ~3 ms of 12 in such hops)."""
    service = getattr(request.app.state, "kb", None)
    if service is None:  # only while starting up or after a failed start
        raise HTTPException(status_code=503, detail="the index is not loaded yet")
    return service  # type: ignore[no-any-return]


ServiceDep = Annotated[KBService, Depends(get_service)]


def app_state(request: Request, name: str, factory: Callable[[], T]) -> T:
    """A per-app object kept on ``app.state`` (one per app: several apps live in one test process), made once."""
    state = getattr(request.app.state, name, None)
    if state is None:
        with _state_lock:
            state = getattr(request.app.state, name, None)
            if state is None:
                state = factory()
                setattr(request.app.state, name, state)
    return state  # type: ignore[no-any-return]
