"""Who is asking: the admin key (editors' and operators' routes) and the agent key (articles written for
support agents only). Keys are compared as bytes in constant time; any header, however odd, gives a
clear 401 rather than an error.

Editors sign in with the admin key (``POST /admin/session``) and get a cookie holding an HMAC-signed token
with an expiry, never the key: ``HttpOnly; SameSite=Strict; Path=/admin`` (``Secure`` over https). The
signing key is derived from ``KB_ADMIN_KEY``, so every ``kb serve`` worker accepts it and changing the admin
key signs everyone out. Requests that change something (sign-out, fixes) also need the session's CSRF token in
``X-CSRF-Token`` (compared in constant time). A bearer admin key works instead of the cookie, for scripts;
bearer requests need no CSRF token, since no browser adds that header by itself.

Every key is guessed at the same price (:mod:`kb.feedback.keyfails`): after ``KB_KEY_FAILURES`` wrong keys
(admin, agent or metrics, at sign-in or as a bearer, on any replica) within ``KB_KEY_WINDOW`` seconds, a
client's keys get 429 with ``Retry-After``, the right one too, until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Cookie, Depends, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from kb.app.deps import app_state
from kb.app.middleware import client_address
from kb.feedback.keyfails import KeyThrottle

if TYPE_CHECKING:
    from kb.feedback.keyfails import KeyFailures
    from kb.feedback.signins import SignIns

PUBLIC, AGENTS = "public", "agents"


def bearer_key(authorization: str | None) -> bytes | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")


def key_matches(given: bytes | None, key: str) -> bool:
    return given is not None and hmac.compare_digest(given, key.encode("utf-8", "surrogateescape"))


# --- the throttle on wrong keys ---------------------------------------------------------------------------

THROTTLE = "kb_key_throttle"  # its app.state name (a test may put one with its own clock there)


def key_throttle(request: Request) -> KeyThrottle:
    settings = request.app.state.settings
    return app_state(request, THROTTLE, lambda: KeyThrottle(settings.key_failures, settings.key_window))


def key_failures(request: Request) -> KeyFailures | None:
    """The shared count of wrong keys, once the service is loaded (before, this process counts alone)."""
    svc = getattr(request.app.state, "kb", None)
    return None if svc is None else svc.keyfails  # type: ignore[no-any-return]


def _too_many(wait: int) -> HTTPException:
    return HTTPException(status_code=429, detail=f"too many wrong keys from this address; try again in {wait} s",
                         headers={"Retry-After": str(wait)})


def refuse_locked(request: Request) -> None:
    """429 while this client is locked out (whatever key it sends now)."""
    wait = key_throttle(request).wait(client_address(request), key_failures(request))
    if wait:
        raise _too_many(wait)


def count_wrong_key(request: Request) -> None:
    """Count a wrong key from this client; 429 instead of the caller's 401 when it was locked out already."""
    wait = key_throttle(request).fail(client_address(request), key_failures(request))
    if wait:
        raise _too_many(wait)


def checked_key(request: Request, given: bytes | None, key: str) -> bool:
    """Whether ``given`` is ``key``, under the throttle: a wrong key counts, and a locked-out client gets 429
    whichever key it sent. No key at all is not a guess: False, uncounted. (Blocks on the store: call it
    from a thread.)"""
    if given is None:
        return False
    if key_matches(given, key):
        refuse_locked(request)
        return True
    count_wrong_key(request)
    return False


def require_admin(request: Request, authorization: str | None) -> None:
    """The bearer key must equal ``KB_ADMIN_KEY``; admin routes are off (404) without one."""
    key = request.app.state.settings.admin_key
    if not key:
        raise HTTPException(status_code=404, detail="admin routes are off: set KB_ADMIN_KEY to enable them")
    if not checked_key(request, bearer_key(authorization), key):
        raise HTTPException(status_code=401, detail="missing or wrong admin key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})


async def get_audience(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """``agents`` when the request carries ``KB_AGENT_KEY``, else ``public``; a wrong bearer key is a 401
    (so the agent view can ask again) once an agent key is set. (``async``: only a request with a key waits
    on the throttle's store, in a thread; the public's requests never block, see get_service.)"""
    key = request.app.state.settings.agent_key
    given = bearer_key(authorization)
    if not key or given is None:
        return PUBLIC
    if not await run_in_threadpool(checked_key, request, given, key):
        raise HTTPException(status_code=401, detail="wrong agent key", headers={"WWW-Authenticate": "Bearer"})
    return AGENTS


AudienceDep = Annotated[str, Depends(get_audience)]


# --- editors: a signed session cookie, or the admin key as a bearer ---------------------------------------

COOKIE = "kb_admin"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again


@dataclass(frozen=True)
class Session:
    nonce: str
    expires: int
    csrf: str


def _signing_key(admin_key: str) -> bytes:
    return hmac.new(admin_key.encode("utf-8", "surrogateescape"), b"kb admin session v1", hashlib.sha256).digest()


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("ascii"), hashlib.sha256).hexdigest()


def new_session(admin_key: str, now: float | None = None) -> tuple[str, Session]:
    """A signed token ``expires.nonce.signature`` for the cookie, and its session (with the CSRF token)."""
    key = _signing_key(admin_key)
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    nonce = secrets.token_urlsafe(18)
    token = f"{expires}.{nonce}.{_sign(key, f'{expires}.{nonce}')}"
    return token, Session(nonce, expires, _sign(key, f"csrf.{nonce}"))


def read_session(admin_key: str, token: str | None, now: float | None = None) -> Session | None:
    """The session of a cookie value, or None for anything unsigned, expired or malformed (never raises)."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isascii():
        return None
    key = _signing_key(admin_key)
    if not hmac.compare_digest(parts[2].encode("ascii", "replace"), _sign(key, f"{parts[0]}.{parts[1]}").encode()):
        return None
    expires = int(parts[0])
    if expires <= (now if now is not None else time.time()):
        return None
    return Session(parts[1], expires, _sign(key, f"csrf.{parts[1]}"))


@dataclass
class SignInState:
    """This process's copy of the sessions signed out here. They also go to the shared store
    (:class:`kb.feedback.signins.SignIns`, which every replica and ``--workers`` process shares: a session
    signed out on one is refused by all, once the store has it); the copy here refuses them in this process
    whatever the store's state."""

    revoked: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def revoke(self, session: Session, store: SignIns | None = None) -> None:
        now = time.time()
        with self.lock:
            self.revoked = {n: e for n, e in self.revoked.items() if e > now}
            self.revoked[session.nonce] = session.expires
        if store is not None:
            store.sign_out(session.nonce, session.expires)  # kept and written later while the store is away

    def is_revoked(self, session: Session, store: SignIns | None = None) -> bool:
        with self.lock:
            if session.nonce in self.revoked:
                return True
        return store is not None and store.signed_out(session.nonce)


def signins(request: Request) -> SignIns | None:
    """The shared sign-in store, once the service is loaded (the sign-in routes work before it is)."""
    svc = getattr(request.app.state, "kb", None)
    return None if svc is None else svc.signins  # type: ignore[no-any-return]


def sign_in_state(request: Request) -> SignInState:
    return app_state(request, "kb_signins", SignInState)


def admin_key(request: Request) -> str:
    key = request.app.state.settings.admin_key
    if not key:
        raise HTTPException(status_code=404, detail="admin routes are off: set KB_ADMIN_KEY to enable them")
    return str(key)


def signed_in(request: Request, authorization: str | None, cookie: str | None) -> Session | None:
    """The cookie's session, or None for a bearer admin key; 401 for neither (a wrong bearer key counts as a
    guess when the cookie does not sign in either)."""
    key = admin_key(request)
    given = bearer_key(authorization)
    if given is not None and key_matches(given, key):
        refuse_locked(request)
        return None
    session = read_session(key, cookie)
    if session is None or sign_in_state(request).is_revoked(session, signins(request)):
        if given is not None:
            count_wrong_key(request)
        raise HTTPException(status_code=401, detail="not signed in: POST /admin/session with the admin key",
                            headers={"WWW-Authenticate": "Bearer"})
    return session


def may_change(request: Request, authorization: str | None, cookie: str | None, csrf: str | None) -> Session | None:
    session = signed_in(request, authorization, cookie)
    if session is not None:
        given = (csrf or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, session.csrf.encode("ascii")):
            raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token header")
    return session


AuthHeader = Annotated[str | None, Header()]
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE)]
CSRFHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]


def https(request: Request) -> bool:
    """Over https: directly, or through a trusted proxy (KB_TRUSTED_PROXIES) that says so in X-Forwarded-Proto."""
    if request.url.scheme == "https":
        return True
    if request.headers.get("x-forwarded-proto", "").strip().lower() != "https" or request.client is None:
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
        return any(peer in ipaddress.ip_network(net, strict=False)
                   for net in request.app.state.settings.trusted_proxies)
    except ValueError:
        return False


def cookie_flags(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "path": "/admin", "secure": https(request)}


