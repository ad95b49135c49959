"""What kb learned from customers and agents, for the editors on /admin: every learned and pending wording
per article with its evidence (``GET /admin/learned.json``), and one click to reject one, accept a pending one,
or promote one into the article's Markdown ``questions:`` through the gated build (``POST /admin/learned``).

The list is the policy's own verdict (:func:`kb.feedback.learning.learn`), the one ``kb build`` folds in, so
what editors see is what customers get at the next build.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from kb.app.auth import AuthHeader, CSRFHeader, SessionCookie, may_change, signed_in
from kb.app.deps import ServiceDep
from kb.app.errors import ADMIN_RESPONSES, ADMIN_WRITE_RESPONSES, InputError, shown
from kb.app.fixes import FixBusy, FixRunner
from kb.app.routes.insight import fix_json
from kb.app.schemas import ErrorOut
from kb.app.service import KBService
from kb.articles.edit import FixError, add_questions
from kb.feedback.engine import StoreUnavailable
from kb.feedback.learning import Learned, verdict
from kb.limits import MAX_ARTICLE_ID_CHARS, MAX_WORDING_CHARS

router = APIRouter(tags=["admin"])
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the feedback store, which keeps the evidence, is unavailable"}}
SHOWN = ("live", "pending", "vetoed", "rejected")  # the order of the states on the page (every state)


def learned_now(svc: KBService) -> list[Learned]:
    """The policy's verdict on every pair with evidence or a decision, on the articles of the live build."""
    articles = list(svc.index.articles.values())
    return verdict(svc.evidence, articles, svc.settings.learn)


@router.get("/admin/learned.json", responses={**ADMIN_RESPONSES, **UNAVAILABLE})
def learned_json(request: Request, svc: ServiceDep, authorization: AuthHeader = None,
                 kb_admin: SessionCookie = None) -> dict[str, Any]:
    """``{"mode", "articles": [{"article_id", "title", "wordings": [...]}]}``: learned (live at the next build),
    pending (waiting for an editor), vetoed and rejected wordings per article, with their evidence."""
    signed_in(request, authorization, kb_admin)
    try:
        items = learned_now(svc)
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"the evidence cannot be read right now ({e})") from None
    by_article: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: (SHOWN.index(i.state), -i.clients)):
        by_article.setdefault(item.article_id, []).append(asdict(item))
    articles = svc.index.articles
    return {
        "mode": svc.settings.learn,
        "counts": {state: sum(1 for i in items if i.state == state) for state in SHOWN},
        "articles": [{"article_id": a, "title": articles[a].title if a in articles else a, "wordings": ws}
                     for a, ws in sorted(by_article.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
    }


class DecisionIn(BaseModel):
    wording: str = Field(min_length=1, max_length=MAX_WORDING_CHARS)
    article_id: str = Field(min_length=1, max_length=MAX_ARTICLE_ID_CHARS)
    action: Literal["accept", "reject", "promote", "undo"] = Field(
        description="accept: a pending wording goes live at the next build; reject: never learned (it sticks); "
                    "promote: written into the article's questions (a one-click fix, gated build); "
                    "undo: forget the editor's decision")


@router.post("/admin/learned", responses={
    **ADMIN_WRITE_RESPONSES, **UNAVAILABLE,
    404: {"model": ErrorOut, "description": "no such article"},
    409: {"model": ErrorOut, "description": "a fix is building, or this one cannot be made"}})
def decide(request: Request, svc: ServiceDep, body: DecisionIn, authorization: AuthHeader = None,
           kb_admin: SessionCookie = None, x_csrf_token: CSRFHeader = None) -> dict[str, Any]:
    """An editor's decision on one learned or pending wording."""
    may_change(request, authorization, kb_admin, x_csrf_token)
    if body.article_id not in svc.index.articles:
        raise HTTPException(status_code=404, detail=f"no article with id {shown(body.article_id)}")
    try:
        if body.action == "promote":
            edit = partial(add_questions, svc.settings.articles_dir, body.article_id, [body.wording])
            status = FixRunner(svc.fixjobs).start(svc.settings, svc.embedder, "add_question", edit,
                                                  lambda: svc.reload())
            svc.evidence.decide(body.wording, body.article_id, "promoted")
            return {"action": body.action, "fix": fix_json(status)}
        if body.action == "undo":
            svc.evidence.undecide(body.wording, body.article_id)
        else:
            svc.evidence.decide(body.wording, body.article_id, "accepted" if body.action == "accept" else "rejected")
    except (FixBusy, FixError) as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    except ValueError as e:  # a wording that cannot be learned (empty once normalised)
        raise InputError("wording", str(e)) from None
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"decisions cannot be recorded right now ({e})") from None
    except OSError as e:
        raise HTTPException(status_code=409, detail=f"the article file could not be written ({e.strerror})") from None
    return {"action": body.action}
