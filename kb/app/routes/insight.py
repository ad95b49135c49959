"""The editors' search insight page (``/admin``) and its JSON: searches per day by decision (a server-drawn SVG
chart), the helpful ratio per article, top queries, the gap groups (:mod:`kb.feedback.gaps`) with one-click fixes
(:mod:`kb.feedback.fixes`).

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
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Cookie, Header, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from kb.app.auth import bearer_key, key_matches
from kb.app.deps import ServiceDep
from kb.app.errors import ERROR_RESPONSES, InputError
from kb.app.i18n import STRINGS, choose_lang
from kb.app.schemas import ErrorOut
from kb.feedback.store import StoreUnavailable
from kb.limits import MAX_ARTICLE_ID_CHARS, MAX_FEEDBACK_QUERY_CHARS

if TYPE_CHECKING:
    from kb.app.service import KBService
    from kb.feedback.fixes import Edit, FixStatus
    from kb.feedback.gaps import Suggestion, VectorCache
    from kb.feedback.store import DaySearches, FeedbackStore

router = APIRouter(tags=["admin"])

COOKIE = "kb_admin"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
MAX_FAILURES = 10  # wrong keys per client within FAILURE_WINDOW before sign-in answers 429
FAILURE_WINDOW = 300.0
MAX_DAYS = 366
GROUPS_SHOWN = 20
_lock = threading.Lock()  # creates the per-app state once

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not signed in (no, expired or forged session cookie; no admin key)"},
    404: {"model": ErrorOut, "description": "admin routes are off (no KB_ADMIN_KEY)"},
    **ERROR_RESPONSES,
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES, 403: {"model": ErrorOut, "description": "missing or wrong X-CSRF-Token"}}


# --- sessions ---------------------------------------------------------------------------------------


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
class AdminState:
    """What the admin routes keep in this process: query vectors and suggestions for the gap groups, and a
    copy of the sign-in state. Signed-out sessions and wrong keys also go to the feedback store (which every
    replica and ``--workers`` process shares: a session signed out on one is refused by all, and the
    throttle counts a client's wrong keys wherever they land); the copy here keeps both working in this
    process while the store is away. (The fixes' status is in the store too.)"""

    vectors: VectorCache
    suggestions: dict[tuple[str, ...], Suggestion] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed_recently(self, client: str, now: float, store: FeedbackStore | None = None) -> int:
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

    def fail(self, client: str, now: float, store: FeedbackStore | None = None) -> None:
        with self.lock:
            if len(self.failures) > 10000:  # many addresses: forget the oldest rather than grow
                self.failures.pop(next(iter(self.failures)))
            self.failures.setdefault(client, []).append(now)
        if store is not None:
            with contextlib.suppress(StoreUnavailable):
                store.sign_in_failed(client, FAILURE_WINDOW)

    def revoke(self, session: Session, store: FeedbackStore | None = None) -> None:
        now = time.time()
        with self.lock:
            self.revoked = {n: e for n, e in self.revoked.items() if e > now}
            self.revoked[session.nonce] = session.expires
        if store is not None:
            with contextlib.suppress(StoreUnavailable):
                store.sign_out(session.nonce, session.expires)

    def is_revoked(self, session: Session, store: FeedbackStore | None = None) -> bool:
        with self.lock:
            if session.nonce in self.revoked:
                return True
        return store is not None and store.signed_out(session.nonce)


def _store(request: Request) -> FeedbackStore | None:
    """The feedback store, once the service is loaded (the sign-in routes work before it is)."""
    svc = getattr(request.app.state, "kb", None)
    return None if svc is None else svc.store  # type: ignore[no-any-return]


def _state(request: Request) -> AdminState:
    state = getattr(request.app.state, "kb_admin", None)
    if state is None:
        with _lock:
            state = getattr(request.app.state, "kb_admin", None)
            if state is None:
                from kb.feedback.gaps import VectorCache

                state = AdminState(VectorCache())
                request.app.state.kb_admin = state
    return state  # type: ignore[no-any-return]


def _admin_key(request: Request) -> str:
    key = request.app.state.settings.admin_key
    if not key:
        raise HTTPException(status_code=404, detail="admin routes are off: set KB_ADMIN_KEY to enable them")
    return str(key)


def _signed_in(request: Request, authorization: str | None, cookie: str | None) -> Session | None:
    """The cookie's session, or None for a bearer admin key; 401 for neither."""
    key = _admin_key(request)
    if key_matches(bearer_key(authorization), key):
        return None
    session = read_session(key, cookie)
    if session is None or _state(request).is_revoked(session, _store(request)):
        raise HTTPException(status_code=401, detail="not signed in: POST /admin/session with the admin key",
                            headers={"WWW-Authenticate": "Bearer"})
    return session


def _may_change(request: Request, authorization: str | None, cookie: str | None, csrf: str | None) -> Session | None:
    session = _signed_in(request, authorization, cookie)
    if session is not None:
        given = (csrf or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, session.csrf.encode("ascii")):
            raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token header")
    return session


AuthHeader = Annotated[str | None, Header()]
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE)]
CSRFHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]


def _https(request: Request) -> bool:
    """Over https: directly, or through a trusted proxy (KB_TRUSTED_PROXIES) that says so in X-Forwarded-Proto."""
    import ipaddress

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


def _cookie_flags(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "path": "/admin", "secure": _https(request)}


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=1000, description="the admin key (KB_ADMIN_KEY)")


class SessionOut(BaseModel):
    csrf: str = Field(description="send it as X-CSRF-Token with every request that changes something")
    expires: int = Field(description="when the session ends (Unix time)")


@router.post("/admin/session", response_model=SessionOut, responses={
    **RESPONSES, 429: {"model": ErrorOut, "description": "too many wrong keys; wait"}})
def sign_in(request: Request, body: SignIn) -> JSONResponse:
    """Sign in with the admin key: sets the session cookie and returns the CSRF token."""
    from kb.app.middleware import client_address

    key = _admin_key(request)
    state, client, now = _state(request), client_address(request), time.time()
    if state.failed_recently(client, now, _store(request)) >= MAX_FAILURES:
        raise HTTPException(status_code=429, detail="too many wrong keys; try again in a few minutes",
                            headers={"Retry-After": str(int(FAILURE_WINDOW))})
    if not key_matches(body.key.encode("utf-8", "surrogateescape"), key):
        state.fail(client, now, _store(request))
        raise HTTPException(status_code=401, detail="wrong admin key")
    token, session = new_session(key, now)
    response = JSONResponse(SessionOut(csrf=session.csrf, expires=session.expires).model_dump())
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, **_cookie_flags(request))
    return response


@router.get("/admin/session", response_model=SessionOut, responses=RESPONSES)
def current_session(request: Request, authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> SessionOut:
    """The signed-in session's CSRF token (401 when not signed in with the cookie)."""
    session = _signed_in(request, authorization, kb_admin)
    if session is None:
        raise HTTPException(status_code=401, detail="no session: a bearer key needs none")
    return SessionOut(csrf=session.csrf, expires=session.expires)


@router.delete("/admin/session", status_code=204, responses=WRITE_RESPONSES)
def sign_out(request: Request, authorization: AuthHeader = None, kb_admin: SessionCookie = None,
             x_csrf_token: CSRFHeader = None) -> Response:
    """Sign out: the cookie is cleared and its session refused from now on (by every replica sharing the
    feedback store)."""
    session = _may_change(request, authorization, kb_admin, x_csrf_token)
    if session is not None:
        _state(request).revoke(session, _store(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, **_cookie_flags(request))
    return response


# --- the page and its data ----------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
@router.get("/admin/insight", response_class=HTMLResponse, include_in_schema=False)
def insight_page(request: Request, lang: str | None = None,
                 accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    """The page: a sign-in form, then the insight (drawn by admin.js from /admin/insight.json)."""
    from kb.app.routes.pages import PAGE_HEADERS, render_page

    _admin_key(request)
    chosen = choose_lang(lang, accept_language)
    return HTMLResponse(render_page("admin.html", chosen), headers={
        **PAGE_HEADERS, "Cache-Control": "no-store", "Content-Language": chosen, "Vary": "Accept-Language"})


Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="look back this many days")]


def _window(days: int) -> list[str]:
    today = datetime.now(timezone.utc).date()  # the store's days are UTC days
    return [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


def gap_groups(svc: KBService, state: AdminState, days: int, limit: int = GROUPS_SHOWN) -> list[dict[str, Any]]:
    """The gap groups (kb.feedback.gaps) as JSON: ``kb gaps --json``'s, with each group's number of queries and the
    suggested article's title. The first call after a start embeds every gap query; later ones the new ones."""
    from kb.feedback.gaps import find_gaps

    groups = find_gaps(svc.store, svc.searcher, days=days, limit=limit, cache=state.vectors, memo=state.suggestions)
    if len(state.suggestions) > 5000:  # mostly suggestions made on builds gone since: start again
        state.suggestions.clear()
    return [{**g.to_json(), "queries": g.queries, "suggestion": {**g.suggestion.to_json(), "title": g.suggestion.title}}
            for g in groups]


def insight(svc: KBService, state: AdminState, days: int, groups: bool = True) -> dict[str, Any]:
    """Everything the page shows, as JSON (queries as stored: personal data already replaced)."""
    store, searcher = svc.store, svc.searcher
    articles = searcher.index.articles
    per_day = store.searches_per_day(days)
    totals = {d: sum(getattr(x, d) for x in per_day) for d in ("answer", "suggest", "none")}
    total = sum(totals.values())
    # the least helpful first (what to rewrite), then the most voted
    voted = sorted((r for r in store.ratings() if r.helpful + r.not_helpful),
                   key=lambda r: (r.helpful / (r.helpful + r.not_helpful), -(r.helpful + r.not_helpful), r.article_id))
    ratings = [{"article_id": r.article_id, "title": a.title if (a := articles.get(r.article_id)) else None,
                "helpful": r.helpful, "not_helpful": r.not_helpful,
                "ratio": round(r.helpful / (r.helpful + r.not_helpful), 4)} for r in voted]
    latest = store.latest_fix()
    return {
        "days": days,
        "build": {"id": searcher.index.build_id, "time": searcher.index.build_time},
        "searches": {"total": total, "totals": totals,
                     "share": {k: round(v / total, 4) if total else 0.0 for k, v in totals.items()},
                     "per_day": [asdict(d) for d in per_day]},
        "articles": ratings,
        "top_queries": [asdict(q) for q in store.top_queries(days, 20)],
        **({"groups": gap_groups(svc, state, days)} if groups else {}),
        "fix": _fix_json(latest) if latest else None,
    }


@router.get("/admin/insight.json", responses=RESPONSES)
def insight_json(request: Request, svc: ServiceDep, days: Days = 30, groups: bool = True,
                 authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> dict[str, Any]:
    """Searches per day by decision, helpful ratio per article, top queries and (unless ``groups=false``, which
    answers at once) the gap groups."""
    _signed_in(request, authorization, kb_admin)
    return insight(svc, _state(request), days, groups)


@router.get("/admin/gaps.json", responses=RESPONSES)
def gaps_json(request: Request, svc: ServiceDep, days: Days = 30,
              limit: Annotated[int, Query(ge=1, le=100)] = GROUPS_SHOWN, authorization: AuthHeader = None,
              kb_admin: SessionCookie = None) -> dict[str, Any]:
    """``{"groups": [...]}``: the searches without a good answer grouped by meaning, as ``kb gaps --json``."""
    _signed_in(request, authorization, kb_admin)
    return {"groups": gap_groups(svc, _state(request), days, limit)}


@router.get("/admin/chart.svg", responses=RESPONSES, response_class=Response)
def chart(request: Request, svc: ServiceDep, days: Days = 30, lang: str | None = None,
          authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> Response:
    """Searches per day, stacked by decision, as an SVG image (drawn here: no script, no CDN)."""
    _signed_in(request, authorization, kb_admin)
    svg = chart_svg(svc.store.searches_per_day(days), days, choose_lang(lang, None))
    return Response(svg, media_type="image/svg+xml; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-store"})


COLOURS = {"answer": "#2b7a4b", "suggest": "#c98a1a", "none": "#c2412d"}
# an image cannot use the page's stylesheet: name fonts with Hangul first
FONTS = "Noto Sans CJK KR, Noto Sans KR, Apple SD Gothic Neo, Malgun Gothic, system-ui, sans-serif"


def chart_svg(per_day: list[DaySearches], days: int, lang: str, width: int = 760, height: int = 240) -> str:
    """Stacked bars (answer / suggest / none) for each of the last ``days`` days, with axis and legend."""
    strings = STRINGS[lang]
    counts = {d.day: d for d in per_day}
    window = _window(days)
    top = max([d.answer + d.suggest + d.none for d in per_day] or [0])
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if s * 4 >= top), 10 ** 6)
    ceiling = max(step * 4, 4)
    left, right, top_pad, bottom = 44, 8, 30, 26
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    slot = plot_w / max(len(window), 1)
    bar = max(slot * 0.72, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" font-family="{FONTS}" font-size="11">',
           f"<title>{html.escape(strings['admin_chart_alt'])}</title>"]
    for i in range(5):  # grid lines and their values
        value = ceiling * i // 4
        y = top_pad + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6470">{value}</text>')
    every = max(1, round(len(window) / 8))
    for i, day in enumerate(window):
        x = left + slot * i + (slot - bar) / 2
        y = top_pad + plot_h
        d = counts.get(day)
        for decision in ("answer", "suggest", "none"):
            n = getattr(d, decision) if d else 0
            if n:
                h = plot_h * n / ceiling
                y -= h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                           f'fill="{COLOURS[decision]}"><title>{day} {html.escape(strings["decision_" + decision])}: '
                           f"{n}</title></rect>")
        if (len(window) - 1 - i) % every == 0:  # counted from the last day, so today is always labelled
            out.append(f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#5b6470">'
                       f"{day[5:]}</text>")
    x = left
    for decision in ("answer", "suggest", "none"):  # the legend, with each decision's total
        total = sum(getattr(d, decision) for d in per_day)
        label = html.escape(f"{strings['decision_' + decision]} {total}")
        out.append(f'<rect x="{x:.0f}" y="8" width="12" height="12" rx="2" fill="{COLOURS[decision]}"/>')
        out.append(f'<text x="{x + 17:.0f}" y="18" fill="#1f2933">{label}</text>')
        x += 34 + sum(11 if ord(ch) > 0x2E80 else 6.5 for ch in label)  # Hangul is about twice as wide
    out.append("</svg>")
    return "".join(out)


# --- fixes --------------------------------------------------------------------------------------------


class FixIn(BaseModel):
    kind: Literal["add_question", "new_article"]
    article_id: str | None = Field(default=None, max_length=MAX_ARTICLE_ID_CHARS,
                                   description="the article to add the queries to (add_question)")
    queries: list[Annotated[str, Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS)]] = Field(
        min_length=1, max_length=20, description="the group's queries the editor chose")


def _fix_json(status: FixStatus) -> dict[str, Any]:
    return {**asdict(status), "added": list(status.added), "messages": list(status.messages)}


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the feedback store, which keeps the fixes' status, is unavailable"}}


@router.post("/admin/fixes", status_code=202, responses={
    **WRITE_RESPONSES, **UNAVAILABLE,
    409: {"model": ErrorOut, "description": "a fix is building, or this one cannot be made"}})
def apply_fix(request: Request, svc: ServiceDep, body: FixIn, authorization: AuthHeader = None,
              kb_admin: SessionCookie = None, x_csrf_token: CSRFHeader = None) -> dict[str, Any]:
    """Write the fix into the articles (add the queries as questions of an article, or draft a new article),
    then lint, build, run the content tests and switch in the background: poll ``GET /admin/fixes/{id}`` (on
    any replica). One fix at a time, across every replica sharing the feedback store."""
    from kb.feedback.fixes import FixBusy, FixError, FixRunner, add_questions, clean_questions, draft_article

    _may_change(request, authorization, kb_admin, x_csrf_token)
    queries = clean_questions(body.queries)
    if not queries:
        raise InputError("queries", "queries are empty")
    settings = svc.settings
    edit: Callable[[], Edit] = partial(draft_article, settings.articles_dir, queries)
    if body.kind == "add_question":
        if not body.article_id:
            raise InputError("article_id", "article_id is required to add questions to an article")
        if body.article_id not in svc.index.articles:
            raise InputError("article_id", f"no article with id {body.article_id!r}")
        edit = partial(add_questions, settings.articles_dir, body.article_id, queries)
    try:
        status = FixRunner(svc.store).start(settings, svc.embedder, body.kind, edit, lambda: svc.reload())
    except (FixBusy, FixError) as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"fixes cannot be started right now ({e})") from None
    except OSError as e:
        raise HTTPException(status_code=409, detail=f"the article file could not be written ({e.strerror})") from None
    return _fix_json(status)


@router.get("/admin/fixes/{fix_id}", responses={**RESPONSES, **UNAVAILABLE})
def fix_status(request: Request, svc: ServiceDep, fix_id: Annotated[str, Path(max_length=64)],
               authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> dict[str, Any]:
    """A fix's state, whichever replica runs it: running, built (live), or failed with the messages of lint or
    the content tests."""
    from kb.feedback.fixes import FixRunner

    _signed_in(request, authorization, kb_admin)
    try:
        status = FixRunner(svc.store).get(fix_id)
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"the fix's status cannot be read right now ({e})") from None
    if status is None or status.state == "starting":  # starting: its id is not given out yet
        raise HTTPException(status_code=404, detail="no such fix")
    return _fix_json(status)
