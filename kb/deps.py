"""FastAPI dependencies shared by the API and the web routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kb.service import KBService


def get_service(request: Request) -> KBService:
    service = getattr(request.app.state, "kb", None)
    if service is None:  # only while starting up or after a failed start
        raise HTTPException(status_code=503, detail="the index is not loaded yet")
    return service  # type: ignore[no-any-return]


ServiceDep = Annotated[KBService, Depends(get_service)]
