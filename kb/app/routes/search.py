"""Search and article routes: what the help-center page, the agent view and integrations call."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from kb.app.auth import AudienceDep
from kb.app.deps import ServiceDep, app_state
from kb.app.errors import ERROR_RESPONSES, InputError, shown
from kb.app.metrics import record_search
from kb.app.schemas import ArticleOut, CategoriesOut, CategoryOut, ErrorOut, SearchOut, article_out, search_out
from kb.errors import QueryError
from kb.feedback import searchids
from kb.limits import DEFAULT_K, MAX_K, MAX_QUERY_CHARS

if TYPE_CHECKING:
    from kb.app.service import KBService

router = APIRouter()


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut, "description": "wrong agent key"}}


# Searches at once: as many as the model runs at once (one per core) and as many again doing the rest (Kiwi, scoring,
# JSON) meanwhile. A limiter of its own, not the thread pool's 40 shared with every other route: more threads only wait
# on the model, and each thread that ever calls Kiwi keeps ~3 MiB of its state (32 threads: +100 MiB).
SEARCHES_PER_CORE = 2
_LIMITER = "kb_search_limiter"


def search_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return SEARCHES_PER_CORE * max(1, cores)


@router.get("/search", response_model=SearchOut, tags=["search"], responses={**AUTH_RESPONSES, **ERROR_RESPONSES})
async def search(
    request: Request,
    svc: ServiceDep,
    audience: AudienceDep,
    q: Annotated[str, Query(description="the customer's question", min_length=1, max_length=MAX_QUERY_CHARS)],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="number of results")] = DEFAULT_K,
    category: Annotated[str | None, Query(description="only this category")] = None,
    locale: Annotated[str | None, Query(description="only this locale, e.g. ko or en")] = None,
) -> Response:
    # One hop to a worker thread does the whole search and renders the JSON there: a sync route returning the model
    # took two (FastAPI validates a sync route's return value in the thread pool again), ~1 ms of a search over HTTP.
    from anyio import CapacityLimiter, to_thread

    limiter = app_state(request, _LIMITER, lambda: CapacityLimiter(search_threads()))
    return await to_thread.run_sync(lambda: _search(request, svc, audience, q, k, category, locale), limiter=limiter)


def _search(request: Request, svc: KBService, audience: str, q: str, k: int, category: str | None,
            locale: str | None) -> Response:
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
    return Response(out.model_dump_json().encode("utf-8"), media_type="application/json")


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
