"""One-click fixes from the insight page: ``POST /admin/fixes`` writes the edit and starts the gated build in the
background (:mod:`kb.app.fixes`); ``GET /admin/fixes/{id}`` polls it, on any replica."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from kb.app.auth import AuthHeader, CSRFHeader, SessionCookie, may_change, signed_in
from kb.app.deps import ServiceDep
from kb.app.errors import ADMIN_RESPONSES, ADMIN_WRITE_RESPONSES, InputError, shown
from kb.app.fixes import FixBusy, FixRunner
from kb.app.routes.insight import fix_json
from kb.app.schemas import ErrorOut
from kb.articles.edit import FixError, add_questions, clean_questions, draft_article
from kb.feedback.engine import StoreUnavailable
from kb.limits import MAX_ARTICLE_ID_CHARS, MAX_FEEDBACK_QUERY_CHARS

if TYPE_CHECKING:
    from kb.articles.edit import Edit

router = APIRouter(tags=["admin"])
RESPONSES, WRITE_RESPONSES = ADMIN_RESPONSES, ADMIN_WRITE_RESPONSES


# the schema says what the route checks: add_question needs an article id (a JSON Schema if/then)
_ADD_NEEDS_ARTICLE: dict[str, Any] = {
    "if": {"properties": {"kind": {"const": "add_question"}}, "required": ["kind"]},
    "then": {"properties": {"article_id": {"type": "string"}}, "required": ["article_id"]},
}


class FixIn(BaseModel):
    model_config = ConfigDict(json_schema_extra=_ADD_NEEDS_ARTICLE)

    kind: Literal["add_question", "new_article"]
    article_id: str | None = Field(default=None, min_length=1, max_length=MAX_ARTICLE_ID_CHARS,
                                   description="the article to add the queries to (add_question)")
    queries: list[Annotated[str, Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS)]] = Field(
        min_length=1, max_length=20, description="the group's queries the editor chose")


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the feedback store, which keeps the fixes' status, is unavailable"}}


@router.post("/admin/fixes", status_code=202, responses={
    **WRITE_RESPONSES, **UNAVAILABLE,
    404: {"model": ErrorOut, "description": "no such article (add_question), or admin routes are off"},
    409: {"model": ErrorOut, "description": "a fix is building, or this one cannot be made"}})
def apply_fix(request: Request, svc: ServiceDep, body: FixIn, authorization: AuthHeader = None,
              kb_admin: SessionCookie = None, x_csrf_token: CSRFHeader = None) -> dict[str, Any]:
    """Write the fix into the articles (add the queries as questions of an article, or draft a new article),
    then lint, build, run the content tests and switch in the background: poll ``GET /admin/fixes/{id}`` (on
    any replica). One fix at a time, across every replica sharing the feedback store."""
    may_change(request, authorization, kb_admin, x_csrf_token)
    queries = clean_questions(body.queries)
    if not queries:
        raise InputError("queries", "queries are empty")
    settings = svc.settings
    edit: Callable[[], Edit] = partial(draft_article, settings.articles_dir, queries)
    if body.kind == "add_question":
        if not body.article_id:
            raise InputError("article_id", "article_id is required to add questions to an article")
        if body.article_id not in svc.index.articles:
            # 404 as for votes and decisions: the request is well formed, the article is not there
            raise HTTPException(status_code=404, detail=f"no article with id {shown(body.article_id)}")
        edit = partial(add_questions, settings.articles_dir, body.article_id, queries)
    try:
        status = FixRunner(svc.fixjobs).start(settings, svc.embedder, body.kind, edit, lambda: svc.reload())
    except (FixBusy, FixError) as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"fixes cannot be started right now ({e})") from None
    except OSError as e:
        raise HTTPException(status_code=409, detail=f"the article file could not be written ({e.strerror})") from None
    return fix_json(status)


@router.get("/admin/fixes/{fix_id}", responses={**RESPONSES, **UNAVAILABLE})
def fix_status(request: Request, svc: ServiceDep, fix_id: Annotated[str, Path(max_length=64)],
               authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> dict[str, Any]:
    """A fix's state, whichever replica runs it: running, built (live), or failed with the messages of lint or
    the content tests."""
    signed_in(request, authorization, kb_admin)
    try:
        status = FixRunner(svc.fixjobs).get(fix_id)
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"the fix's status cannot be read right now ({e})") from None
    if status is None or status.state == "starting":  # starting: its id is not given out yet
        raise HTTPException(status_code=404, detail="no such fix")
    return fix_json(status)
