"""Editors' sign-in: ``POST /admin/session`` (the admin key for a signed cookie and a CSRF token),
``GET`` (the current session's CSRF token) and ``DELETE`` (sign out, on every replica)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from kb.app.auth import (
    COOKIE,
    SESSION_SECONDS,
    AuthHeader,
    CSRFHeader,
    SessionCookie,
    admin_key,
    checked_key,
    cookie_flags,
    may_change,
    new_session,
    sign_in_state,
    signed_in,
    signins,
)
from kb.app.errors import ADMIN_RESPONSES, ADMIN_WRITE_RESPONSES
from kb.app.schemas import ErrorOut

router = APIRouter(tags=["admin"])
RESPONSES, WRITE_RESPONSES = ADMIN_RESPONSES, ADMIN_WRITE_RESPONSES


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=1000, description="the admin key (KB_ADMIN_KEY)")


class SessionOut(BaseModel):
    csrf: str = Field(description="send it as X-CSRF-Token with every request that changes something")
    expires: int = Field(description="when the session ends (Unix time)")


@router.post("/admin/session", response_model=SessionOut, responses={
    **RESPONSES, 429: {"model": ErrorOut, "description": "too many wrong keys (any key kb accepts); wait"}})
def sign_in(request: Request, body: SignIn) -> JSONResponse:
    """Sign in with the admin key: sets the session cookie and returns the CSRF token. Wrong keys count with
    those sent as bearers, on every replica (``KB_KEY_FAILURES`` within ``KB_KEY_WINDOW`` seconds)."""
    key = admin_key(request)
    if not checked_key(request, body.key.encode("utf-8", "surrogateescape"), key):
        raise HTTPException(status_code=401, detail="wrong admin key")
    token, session = new_session(key)
    response = JSONResponse(SessionOut(csrf=session.csrf, expires=session.expires).model_dump())
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, **cookie_flags(request))
    return response


@router.get("/admin/session", response_model=SessionOut, responses=RESPONSES)
def current_session(request: Request, authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> SessionOut:
    """The signed-in session's CSRF token (401 when not signed in with the cookie)."""
    session = signed_in(request, authorization, kb_admin)
    if session is None:
        raise HTTPException(status_code=401, detail="no session: a bearer key needs none")
    return SessionOut(csrf=session.csrf, expires=session.expires)


@router.delete("/admin/session", status_code=204, responses=WRITE_RESPONSES)
def sign_out(request: Request, authorization: AuthHeader = None, kb_admin: SessionCookie = None,
             x_csrf_token: CSRFHeader = None) -> Response:
    """Sign out: the cookie is cleared and its session refused from now on (by every replica sharing the
    feedback store)."""
    session = may_change(request, authorization, kb_admin, x_csrf_token)
    if session is not None:
        sign_in_state(request).revoke(session, signins(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, **cookie_flags(request))
    return response
