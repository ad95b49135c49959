"""Search and article routes: what the help-center page, the agent view and integrations call."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from kb.app.auth import AudienceDep
from kb.app.deps import ServiceDep
from kb.app.errors import ERROR_RESPONSES, InputError, shown
from kb.app.metrics import record_search
from kb.app.schemas import ArticleOut, CategoriesOut, CategoryOut, ErrorOut, SearchOut, article_out, search_out
from kb.errors import QueryError
from kb.feedback import searchids
from kb.limits import DEFAULT_K, MAX_K, MAX_QUERY_CHARS

router = APIRouter()


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut, "description": "wrong agent key"}}


@router.get("/search", response_model=SearchOut, tags=["search"], responses={**AUTH_RESPONSES, **ERROR_RESPONSES})
def search(
    request: Request,
    svc: ServiceDep,
    audience: AudienceDep,
    q: Annotated[str, Query(description="the customer's question", min_length=1, max_length=MAX_QUERY_CHARS)],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="number of results")] = DEFAULT_K,
    category: Annotated[str | None, Query(description="only this category")] = None,
    locale: Annotated[str | None, Query(description="only this locale, e.g. ko or en")] = None,
) -> SearchOut:
    started = time.perf_counter()
    try:
        resp = svc.search(q, k=k, category=category, locale=locale, audience=audience)
    except QueryError as e:
        raise InputError("q", str(e)) from None
    out = search_out(resp)
    # the decision the search log will hold (POST /searches), signed: a page cannot log another one
    decision = resp.decision if resp.results else "none"
    out.search_id = searchids.issue(svc.store.engine, q, decision, resp.results[0].article_id if resp.results else None,
                                    resp.confidence)
    record_search(request, resp.decision, time.perf_counter() - started)
    return out


@router.get("/articles/{article_id}", response_model=ArticleOut, tags=["articles"],
            responses={404: {"model": ErrorOut, "description": "no such article"}, **AUTH_RESPONSES,
                       **ERROR_RESPONSES})
def get_article(svc: ServiceDep, audience: AudienceDep, article_id: str) -> ArticleOut:
    article = svc.index.visible(audience).get(article_id)
    if article is None:
        raise HTTPException(status_code=404, detail=f"no article with id {shown(article_id)}")
    return article_out(article, svc.store.counts(article_id))


@router.get("/categories", response_model=CategoriesOut, tags=["articles"],
            responses={**AUTH_RESPONSES, **ERROR_RESPONSES})
def categories(svc: ServiceDep, audience: AudienceDep, locale: Annotated[str | None, Query(
        max_length=16, description="only the categories of this locale's articles (a page in that language); all "
                                   "of them when it has none")] = None) -> CategoriesOut:
    articles = list(svc.index.visible(audience).values())
    wanted = (locale or "").strip().lower()
    # an English page shows the categories its English articles are filed under, not the Korean ones
    local = [a for a in articles if a.locale.lower() == wanted] if wanted else articles
    counts = Counter(a.category for a in local or articles)
    return CategoriesOut(categories=[CategoryOut(name=n, count=c) for n, c in sorted(counts.items())])
