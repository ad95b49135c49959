"""Who is asking: the admin key (editors' and operators' routes) and the agent key (articles written for
support agents only). Keys are compared as bytes in constant time; any header, however odd, gives a
clear 401 rather than an error."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

PUBLIC, AGENTS = "public", "agents"


def bearer_key(authorization: str | None) -> bytes | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")


def key_matches(given: bytes | None, key: str) -> bool:
    return given is not None and hmac.compare_digest(given, key.encode("utf-8", "surrogateescape"))


def require_admin(request: Request, authorization: str | None) -> None:
    """The bearer key must equal ``KB_ADMIN_KEY``; admin routes are off (404) without one."""
    key = request.app.state.settings.admin_key
    if not key:
        raise HTTPException(status_code=404, detail="admin routes are off: set KB_ADMIN_KEY to enable them")
    if not key_matches(bearer_key(authorization), key):
        raise HTTPException(status_code=401, detail="missing or wrong admin key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})


async def get_audience(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """``agents`` when the request carries ``KB_AGENT_KEY``, else ``public``; a wrong bearer key is a 401
    (so the agent view can ask again) once an agent key is set. (``async``: it never blocks, see get_service.)"""
    key = request.app.state.settings.agent_key
    given = bearer_key(authorization)
    if not key or given is None:
        return PUBLIC
    if not key_matches(given, key):
        raise HTTPException(status_code=401, detail="wrong agent key", headers={"WWW-Authenticate": "Bearer"})
    return AGENTS


AudienceDep = Annotated[str, Depends(get_audience)]
