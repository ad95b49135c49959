"""The public JSON routes the help page, the agent view and the widget use: type-ahead suggestions, "was this
helpful?" votes (also evidence for learning, :mod:`kb.app.routes.signals`), unanswered searches, the settled-search
log and the popular questions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StrictBool

from kb.app.auth import AudienceDep
from kb.app.deps import ServiceDep
from kb.app.errors import ERROR_RESPONSES, InputError, shown
from kb.app.middleware import client_address
from kb.app.routes.signals import record, settled_search
from kb.app.schemas import ErrorOut
from kb.articles.parse import Article
from kb.feedback import searchids
from kb.feedback.store import StoreUnavailable
from kb.limits import (
    DEFAULT_SUGGEST_LIMIT,
    MAX_ARTICLE_ID_CHARS,
    MAX_FEEDBACK_QUERY_CHARS,
    MAX_SUGGEST_CHARS,
    MAX_SUGGEST_LIMIT,
)
from kb.search.suggest import Suggester

if TYPE_CHECKING:
    from kb.index.store import LoadedIndex

router = APIRouter()


class SuggestionOut(BaseModel):
    text: str
    article_id: str | None
    category: str | None
    kind: str = Field(description="title | question | tag | category")


class SuggestOut(BaseModel):
    query: str
    suggestions: list[SuggestionOut]


class FeedbackIn(BaseModel):
    query: str = Field(default="", max_length=MAX_FEEDBACK_QUERY_CHARS, description="what the customer searched")
    article_id: str = Field(min_length=1, max_length=MAX_ARTICLE_ID_CHARS)
    helpful: StrictBool


class UnansweredIn(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS, description="what the customer searched")
    kind: Literal["none", "contact"] = Field(
        description="none: the page settled on no good answer; contact: the customer then contacted support")


class UnansweredOut(BaseModel):
    id: int


class SearchLogIn(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS, pattern=r"\S",
                       description="the settled query")
    search_id: str = Field(min_length=3, max_length=searchids.MAX_ID_CHARS, pattern=searchids.ID_PATTERN,
                           description="the search_id /search returned for this query: the decision, top article and "
                                       "confidence logged are the server's, taken from it")
    # the page's own word, sent by pages older than search ids: still checked, never stored
    decision: Literal["answer", "suggest", "none"] | None = Field(default=None, description="ignored (search_id)")
    article_id: str | None = Field(default=None, max_length=MAX_ARTICLE_ID_CHARS, description="ignored (search_id)")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False, strict=True,  # `false` is not 0
                                     description="ignored (search_id)")
    locale: str = Field(default="ko", max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class FeedbackOut(BaseModel):
    id: int
    article_id: str
    counts: dict[str, int]


class PopularQuestion(BaseModel):
    article_id: str
    title: str
    category: str
    locale: str
    helpful: int
    source: str = Field(description="feedback (voted helpful) | default (fixed order)")


class PopularOut(BaseModel):
    questions: list[PopularQuestion]


def _suggester(svc: ServiceDep, audience: str) -> Suggester:
    store = svc.store
    return svc.derived(f"web.suggester.{audience}",
                       lambda index: Suggester.from_index(index, store.helpful_counts(), audience))


def _client(request: Request) -> str:
    """Who sent a vote or report, for counting each client once (stored only as a salted hash)."""

    return client_address(request)


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the feedback store is unavailable; searches still work"}}
AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut, "description": "wrong agent key"}}


@router.get("/suggest", response_model=SuggestOut, tags=["web"], responses={**AUTH, **ERROR_RESPONSES})
def suggest(
    svc: ServiceDep,
    audience: AudienceDep,
    q: Annotated[str, Query(description="what the customer has typed so far", min_length=1,
                            max_length=MAX_SUGGEST_CHARS)],
    limit: Annotated[int, Query(ge=1, le=MAX_SUGGEST_LIMIT)] = DEFAULT_SUGGEST_LIMIT,
) -> SuggestOut:
    """Type-ahead suggestions (jamo prefix, 초성, typos); call it on every keystroke."""
    text = " ".join(q.split())
    if not text:  # as-you-type: a box holding only spaces or a line break has nothing to suggest yet
        return SuggestOut(query="", suggestions=[])
    found = _suggester(svc, audience).suggest(text, limit=limit)
    return SuggestOut(query=text, suggestions=[
        SuggestionOut(text=s.text, article_id=s.article_id, category=s.category, kind=s.kind) for s in found
    ])


@router.post("/feedback", status_code=201, response_model=FeedbackOut, tags=["web"],
             responses={404: {"model": ErrorOut, "description": "no such article"}, **UNAVAILABLE, **AUTH,
                        **ERROR_RESPONSES})
def feedback(request: Request, svc: ServiceDep, audience: AudienceDep, body: FeedbackIn) -> FeedbackOut:
    """Record a "was this helpful?" vote on an article (a client's votes on one article count once a day)."""
    if body.article_id not in svc.index.visible(audience):
        raise HTTPException(status_code=404, detail=f"no article with id {shown(body.article_id)}")
    try:
        vote_id = svc.store.add(body.query, body.article_id, body.helpful, _client(request))
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"votes cannot be recorded right now ({e})") from None
    if body.query.strip() and svc.settings.learn != "off":  # evidence for learning (kb.app.routes.signals)
        with contextlib.suppress(StoreUnavailable):  # the vote is stored and acknowledged; evidence is a bonus
            record(request, svc, body.query, body.article_id, "helpful" if body.helpful else "unhelpful", audience)
    return FeedbackOut(id=vote_id, article_id=body.article_id, counts=svc.store.counts(body.article_id))


@router.post("/unanswered", status_code=201, response_model=UnansweredOut, tags=["web"],
             responses={**UNAVAILABLE, **ERROR_RESPONSES})
def unanswered(request: Request, svc: ServiceDep, body: UnansweredIn) -> UnansweredOut:
    """Record a search that found no answer, so editors see which articles are missing."""
    query = " ".join(body.query.split())
    if not query:
        raise InputError("query", "query is empty")
    try:
        return UnansweredOut(id=svc.store.add_unanswered(query, body.kind, _client(request)))
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"reports cannot be recorded right now ({e})") from None


@router.post("/searches", status_code=201, response_model=UnansweredOut, tags=["web"],
             responses={403: {"model": ErrorOut, "description": "search_id not issued for this query, or expired"},
                        409: {"model": ErrorOut, "description": "this search_id was logged already"}, **UNAVAILABLE,
                        **ERROR_RESPONSES})
def log_search(request: Request, svc: ServiceDep, body: SearchLogIn) -> UnansweredOut:
    """Log a settled search (the page sends it once the typing has settled, never for each keystroke), for the
    editors' insight page, with the decision the server gave it (from ``search_id``; each id is logged once).
    Personal data in the query is replaced before it is stored; no address is kept."""
    return UnansweredOut(id=settled_search(request, svc, body.query, body.search_id, body.locale))


@router.get("/popular", response_model=PopularOut, tags=["web"], responses={**AUTH, **ERROR_RESPONSES})
def popular(
    svc: ServiceDep,
    audience: AudienceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_SUGGEST_LIMIT)] = 6,
    locale: Annotated[str | None, Query(description="prefer articles in this locale")] = None,
) -> PopularOut:
    """Questions for the empty search box: most helpful first, then a fixed order of the index."""
    articles = svc.index.visible(audience)
    wanted = (locale or "").strip().lower()
    local = [a for a in articles.values() if not wanted or a.locale.lower() == wanted]
    if not local:  # e.g. ?locale=en before any English article exists: show something rather than nothing
        local = list(articles.values())
    allowed = {a.id for a in local}
    out: list[PopularQuestion] = []
    for p in svc.store.popular(limit * 4):
        if p.article_id in allowed and len(out) < limit:
            out.append(_popular_item(articles[p.article_id], p.helpful, "feedback"))
    taken = {q.article_id for q in out}
    for article_id in svc.derived("web.default_order", _default_order):
        if len(out) >= limit:
            break
        if article_id in allowed and article_id not in taken:
            out.append(_popular_item(articles[article_id], 0, "default"))
    return PopularOut(questions=out)


def _popular_item(a: Article, helpful: int, source: str) -> PopularQuestion:
    return PopularQuestion(article_id=a.id, title=a.title, category=a.category, locale=a.locale, helpful=helpful,
                           source=source)


def _default_order(index: LoadedIndex) -> list[str]:
    """Articles round-robin over categories (biggest category first), within one the most-asked first.

    Articles with more alternate questions are the ones customers ask in more ways; taking one per
    category in turn keeps the list varied instead of five refund questions.
    """
    by_cat: dict[str, list[Article]] = {}
    for a in index.articles.values():
        by_cat.setdefault(a.category, []).append(a)
    queues = [sorted(rs, key=lambda r: (-len(r.questions), r.title))
              for _, rs in sorted(by_cat.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    order: list[str] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        order.extend(q[depth].id for q in queues if depth < len(q))
    return order


# --- pages and static files ---------------------------------------------------------------------
