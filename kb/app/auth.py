"""Who is asking: the admin key (editors' and operators' routes) and the agent key (articles written for
support agents only). Keys are compared as bytes in constant time; any header, however odd, gives a
clear 401 rather than an error.

Editors sign in with the admin key (``POST /admin/session``) and get a cookie holding an HMAC-signed token
with an expiry, never the key: ``HttpOnly; SameSite=Strict; Path=/admin`` (``Secure`` over https). The
signing key is derived from ``KB_ADMIN_KEY``, so every ``kb serve`` worker accepts it and changing the admin
key signs everyone out. Requests that change something (sign-out, fixes) also need the session's CSRF token in
``X-CSRF-Token`` (compared in constant time). A bearer admin key works instead of the cookie, for scripts;
bearer requests need no CSRF token, since no browser adds that header by itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Cookie, Depends, Header, HTTPException, Request

from kb.app.deps import app_state
from kb.feedback.engine import StoreUnavailable

if TYPE_CHECKING:
    from kb.feedback.signins import SignIns

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


# --- editors: a signed session cookie, or the admin key as a bearer ---------------------------------------

COOKIE = "kb_admin"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
MAX_FAILURES = 10  # wrong keys per client within FAILURE_WINDOW before sign-in answers 429
FAILURE_WINDOW = 300.0


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
    """This process's copy of the editors' sign-in state. Signed-out sessions and wrong keys also go to the
    shared store (:class:`kb.feedback.signins.SignIns`, which every replica and ``--workers`` process shares: a
    session signed out on one is refused by all, and the throttle counts a client's wrong keys wherever they
    land); the copy here keeps both working in this process while the store is away."""

    revoked: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed_recently(self, client: str, now: float, store: SignIns | None = None) -> int:
        with self.lock:
            recent = [t for t in self.failures.get(client, []) if now - t < FAILURE_WINDOW]
            if recent:
                self.failures[client] = recent
            else:
                self.failures.pop(client, None)
        shared = 0
        if store is not None:
            with contextlib.suppress(StoreUnavailable):
                shared = store.sign_in_failures(client, FAILURE_WINDOW)
        return max(len(recent), shared)

    def fail(self, client: str, now: float, store: SignIns | None = None) -> None:
        with self.lock:
            if len(self.failures) > 10000:  # many addresses: forget the oldest rather than grow
                self.failures.pop(next(iter(self.failures)))
            self.failures.setdefault(client, []).append(now)
        if store is not None:
            with contextlib.suppress(StoreUnavailable):
                store.sign_in_failed(client, FAILURE_WINDOW)

    def revoke(self, session: Session, store: SignIns | None = None) -> None:
        now = time.time()
        with self.lock:
            self.revoked = {n: e for n, e in self.revoked.items() if e > now}
            self.revoked[session.nonce] = session.expires
        if store is not None:
            with contextlib.suppress(StoreUnavailable):
                store.sign_out(session.nonce, session.expires)

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
    """The cookie's session, or None for a bearer admin key; 401 for neither."""
    key = admin_key(request)
    if key_matches(bearer_key(authorization), key):
        return None
    session = read_session(key, cookie)
    if session is None or sign_in_state(request).is_revoked(session, signins(request)):
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


