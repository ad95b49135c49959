"""Routes for editors and operators, behind the admin key (``KB_ADMIN_KEY``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request

from kb.app.auth import require_admin
from kb.app.deps import ServiceDep
from kb.app.errors import ERROR_RESPONSES
from kb.app.schemas import ErrorOut
from kb.errors import KBError
from kb.limits import MAX_LIST_LIMIT

router = APIRouter(tags=["admin"])
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or wrong admin key"},
    404: {"model": ErrorOut, "description": "admin routes are off (no KB_ADMIN_KEY)"},
    **ERROR_RESPONSES,
}


@router.post("/admin/reload", responses={409: {"model": ErrorOut, "description": "the new build failed to load"},
                                         **ADMIN_RESPONSES})
def reload(request: Request, svc: ServiceDep,
           authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    require_admin(request, authorization)
    svc.check_serving()  # the serving build's files against its manifest: damage falls back to an intact build
    try:
        switched = svc.reload(recheck=True)  # a current build found damaged is tried again (it may be restored)
    except KBError as e:
        raise HTTPException(status_code=409,
                            detail=f"reload failed, still serving {svc.index.build_id}: {e}") from None
    if svc.fallback:  # the serving build was damaged and the current one cannot be loaded either
        raise HTTPException(status_code=409, detail=f"{svc.fallback}: run `kb build`")
    return {"reloaded": switched, "build": svc.index.build_id, "build_time": svc.index.build_time}


@router.get("/admin/feedback", responses=ADMIN_RESPONSES)
def unhelpful_answers(request: Request, svc: ServiceDep, authorization: Annotated[str | None, Header()] = None,
                      limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 20) -> dict[str, Any]:
    """What to fix first: answers voted "not helpful" (with the queries behind the votes) and searches
    that found no answer, most frequent first."""
    require_admin(request, authorization)
    articles = svc.index.articles
    store = svc.store
    return {
        "articles": [{**asdict(r), "title": a.title if (a := articles.get(r.article_id)) else None}
                     for r in store.unhelpful(limit)],
        "unanswered": [asdict(u) for u in store.unanswered(limit)],
    }
