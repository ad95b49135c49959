"""The HTTP API (FastAPI). ``create_app(settings)`` builds it; the model and index load once, in the lifespan."""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field

from kb import __version__
from kb.deps import ServiceDep
from kb.errors import KBError, QueryError
from kb.markdown import highlight, to_html
from kb.search import MAX_K, Hit

if TYPE_CHECKING:
    from kb.embed import Embedder
    from kb.service import KBService
    from kb.settings import Settings


class Why(BaseModel):
    """Why a result matched: the question it matched, the shared terms and the score parts."""

    matched_question: str
    field: str
    matched_terms: list[str]
    dense: float
    lexical: float


class SearchHit(BaseModel):
    article_id: str
    title: str
    question: str = Field(description="the question of the article that matched best")
    answer: str = Field(description="the answer, Markdown")
    answer_html: str = Field(description="the answer rendered to safe HTML (article HTML is escaped)")
    snippet: str = Field(description="a short plain-text preview")
    snippet_html: str = Field(description="the snippet, HTML-escaped, matched terms in <mark>")
    category: str
    locale: str
    score: float
    why: Why


class SearchOut(BaseModel):
    query: str
    took_ms: float
    decision: str = Field(description="answer (confident top hit) | suggest (several plausible) | none")
    confidence: float
    results: list[SearchHit]


class CategoryOut(BaseModel):
    name: str
    count: int


class CategoriesOut(BaseModel):
    categories: list[CategoryOut]


class HealthOut(BaseModel):
    status: str
    version: str
    model: str
    articles: int
    entries: int
    build_time: str
    build: str
    reload_error: str | None = None


def hit_out(hit: Hit) -> SearchHit:
    return SearchHit(
        article_id=hit.article_id, title=hit.title, question=hit.question, answer=hit.answer,
        answer_html=to_html(hit.answer), snippet=hit.snippet,
        snippet_html=highlight(hit.snippet, hit.matched_terms), category=hit.category, locale=hit.locale,
        score=round(hit.score, 4),
        why=Why(matched_question=hit.question, field=hit.entry_field, matched_terms=list(hit.matched_terms),
                dense=round(hit.dense_score, 4), lexical=round(hit.lexical_score, 4)),
    )


def article_out(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: record[k] for k in ("id", "title", "category", "tags", "locale", "questions", "status", "layout")}
    out["answer"] = record["body"]
    out["answer_html"] = to_html(record["body"])
    out["sections"] = [{"question": s["question"], "answer": s["answer"]} for s in record.get("sections", [])]
    return out


def create_app(
    settings: Settings, *, embedder: Embedder | None = None, service: KBService | None = None,
    watch: bool = True,
) -> FastAPI:
    """Build the app. Pass ``embedder`` (or a ready ``service``) to skip loading the real model (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kb.service import KBService, Watcher

        svc = service
        if svc is None:
            from kb.embed import load_embedder

            svc = KBService(settings, embedder if embedder is not None else load_embedder(settings))
        app.state.kb = svc
        watcher = Watcher(svc) if watch else None
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()

    app = FastAPI(
        title="kb: help-center search", version=__version__, lifespan=lifespan,
        description="FAQ semantic search for a Korean (and multilingual) customer help center.",
    )
    app.state.settings = settings

    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health(svc: ServiceDep) -> HealthOut:
        index = svc.index
        return HealthOut(
            status="ok", version=__version__, model=index.model_id,
            articles=len(index.articles), entries=len(index.entries), build_time=index.build_time,
            build=index.path.name, reload_error=svc.last_reload_error,
        )

    @app.get("/search", response_model=SearchOut, tags=["search"])
    def search(
        svc: ServiceDep,
        q: Annotated[str, Query(description="the customer's question", max_length=4096)],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="number of results")] = 5,
        category: Annotated[str | None, Query(description="only this category")] = None,
        locale: Annotated[str | None, Query(description="only this locale, e.g. ko or en")] = None,
    ) -> SearchOut:
        try:
            resp = svc.searcher.search(q, k=k, category=category or None, locale=locale or None)
        except QueryError as e:
            raise HTTPException(status_code=422, detail=str(e)) from None
        return SearchOut(query=resp.query, took_ms=resp.took_ms, decision=resp.decision,
                         confidence=resp.confidence, results=[hit_out(h) for h in resp.results])

    @app.get("/articles/{article_id}", tags=["articles"])
    def get_article(svc: ServiceDep, article_id: str) -> dict[str, Any]:
        record = svc.index.articles.get(article_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no article with id {article_id!r}")
        from kb.feedback import FeedbackStore

        out = article_out(record)
        out["feedback"] = FeedbackStore.for_index(svc.settings.index_dir).counts(article_id)
        return out

    @app.get("/categories", response_model=CategoriesOut, tags=["articles"])
    def categories(svc: ServiceDep) -> CategoriesOut:
        counts = Counter(a["category"] for a in svc.index.articles.values())
        return CategoriesOut(categories=[CategoryOut(name=n, count=c) for n, c in sorted(counts.items())])

    def require_admin(authorization: str | None) -> None:
        key = settings.admin_key
        if not key:
            raise HTTPException(status_code=404, detail="admin routes are off: set KB_ADMIN_KEY to enable them")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not authorization or not authorization.startswith("Bearer ") or not hmac.compare_digest(given, key):
            raise HTTPException(status_code=401, detail="missing or wrong admin key (Authorization: Bearer <key>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.post("/admin/reload", tags=["admin"])
    def reload(svc: ServiceDep, authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        require_admin(authorization)
        try:
            switched = svc.reload()
        except KBError as e:
            raise HTTPException(status_code=409,
                                detail=f"reload failed, still serving {svc.index.path.name}: {e}") from None
        return {"reloaded": switched, "build": svc.index.path.name, "build_time": svc.index.build_time}

    @app.get("/admin/feedback", tags=["admin"])
    def unhelpful_answers(svc: ServiceDep, authorization: Annotated[str | None, Header()] = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
        """What to fix first: answers voted "not helpful" (with the queries behind the votes) and searches
        that found no answer, most frequent first."""
        require_admin(authorization)
        from dataclasses import asdict

        from kb.feedback import FeedbackStore

        articles = svc.index.articles
        store = FeedbackStore.for_index(svc.settings.index_dir)
        return {
            "articles": [{**asdict(r), "title": articles.get(r.article_id, {}).get("title")}
                         for r in store.unhelpful(limit)],
            "unanswered": [asdict(u) for u in store.unanswered(limit)],
        }

    from kb.web import router as web_router

    app.include_router(web_router)
    return app
