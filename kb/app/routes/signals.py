"""Evidence for learning (:mod:`kb.feedback.learning`): which article answered which wording.

Votes arrive through ``POST /feedback`` (:mod:`kb.app.routes.pages` calls :func:`record`); the weaker signals
through ``POST /signals``: a result opened and kept (the visit neither searched again nor went to contact), a
reformulation (a search with no good answer, then one settled on an article), an agent's copy of an answer.

Nothing a client says about kb's ranking is believed: the server searches the wording itself and stores its
own rank of the article with the evidence (the policy's top-3 guard reads that rank), and for a reformulation
it checks that the first wording really had no good answer and that the article answers the second one. A
refused signal is answered like an accepted one (202), so a stranger cannot probe the guards.

The same holds for the search log (``POST /searches``, :func:`settled_search`): a settled search is logged with
the decision the server gave it, read from the signed id ``/search`` returned (:mod:`kb.feedback.searchids`).
A search sent without an id is refused (422), not logged as "unverified": the page sends the id, so only a page
older than the ids or a hand-made call lacks one, and a decision nobody can check is worth nothing to the chart
and the gap report, which would have to leave such rows out for ever.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from kb.app.auth import AGENTS, AudienceDep
from kb.app.deps import ServiceDep
from kb.app.errors import ERROR_RESPONSES, InputError
from kb.app.middleware import client_address
from kb.app.schemas import ErrorOut
from kb.app.service import KBService
from kb.feedback import searchids
from kb.feedback.engine import StoreUnavailable
from kb.feedback.evidence import RANK_DEPTH
from kb.feedback.learning import DEFAULT_POLICY
from kb.feedback.store import AlreadyLogged
from kb.limits import MAX_ARTICLE_ID_CHARS, MAX_FEEDBACK_QUERY_CHARS, MAX_QUERY_CHARS

router = APIRouter(tags=["web"])


def server_rank(svc: KBService, query: str, article_id: str, audience: str) -> tuple[int | None, str]:
    """kb's own 1-based rank of ``article_id`` for ``query`` (None beyond :data:`RANK_DEPTH`), and the decision
    the search gets: what the guard and the reformulation check read, never the client's word."""
    text = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not text:
        return None, "none"
    resp = svc.search(text, k=RANK_DEPTH, audience=audience)
    ids = [h.article_id for h in resp.results]
    return (ids.index(article_id) + 1 if article_id in ids else None), resp.decision


def record(request: Request, svc: KBService, query: str, article_id: str, signal: str, audience: str) -> bool:
    """Store one piece of evidence with the server's rank; False when the policy's store refused it (a repeat,
    the client's daily cap, an unusable wording). Raises ``StoreUnavailable``. Callers skip it while
    ``KB_LEARN=off`` (nothing is recorded then)."""
    rank, decision = server_rank(svc, query, article_id, audience)
    return svc.evidence.add(query, article_id, signal, client_address(request), rank, audience,
                            confident=decision == "answer")


class SignalIn(BaseModel):
    kind: Literal["opened", "reformulated", "copied"] = Field(
        description="opened: the customer opened this article and the visit ended there; reformulated: `query` "
                    "found no good answer, then the customer settled on this article for `settled_query`; "
                    "copied: an agent copied this article's answer after searching `query` (agent key)")
    query: str = Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS, description="the wording to learn")
    article_id: str = Field(min_length=1, max_length=MAX_ARTICLE_ID_CHARS)
    settled_query: str | None = Field(default=None, max_length=MAX_FEEDBACK_QUERY_CHARS,
                                      description="reformulated: the later search the customer settled on")


class SignalOut(BaseModel):
    accepted: bool = Field(description="always true: whether it counts is the server's business")


@router.post("/signals", status_code=202, response_model=SignalOut, responses={
    401: {"model": ErrorOut, "description": "copied needs the agent key"},
    404: {"model": ErrorOut, "description": "no such article"},
    503: {"model": ErrorOut, "description": "the feedback store is unavailable; searches still work"},
    **ERROR_RESPONSES})
def signal(request: Request, svc: ServiceDep, audience: AudienceDep, body: SignalIn) -> SignalOut:
    """Tell kb which article answered a wording, for learning (see the README's learning loop)."""
    query = " ".join(body.query.split())
    if not query:
        raise InputError("query", "query is empty")
    if body.article_id not in svc.index.visible(audience):
        raise HTTPException(status_code=404, detail="no such article")
    if body.kind == "copied" and audience != AGENTS:
        raise HTTPException(status_code=401, detail="copied is an agent's signal: send the agent key",
                            headers={"WWW-Authenticate": "Bearer"})
    if svc.settings.learn == "off":
        return SignalOut(accepted=True)  # nothing is recorded, nothing searched
    try:
        if body.kind == "reformulated":
            _reformulated(request, svc, query, body, audience)
        else:
            record(request, svc, query, body.article_id, body.kind, audience)
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"signals cannot be recorded right now ({e})") from None
    return SignalOut(accepted=True)


def _reformulated(request: Request, svc: KBService, query: str, body: SignalIn, audience: str) -> None:
    """Count ``query`` -> article only when the server agrees: the first wording got no answer decision (or
    one for another article), and the article is in kb's top 3 (the policy's guard) for the wording the customer
    settled on."""
    settled = " ".join((body.settled_query or "").split())
    if not settled or settled.casefold() == query.casefold():
        return
    first_rank, first_decision = server_rank(svc, query, body.article_id, audience)
    if first_decision == "answer" and first_rank == 1:
        return  # it had a good answer already: nothing to learn
    settled_rank, _ = server_rank(svc, settled, body.article_id, audience)
    if settled_rank is None or settled_rank > DEFAULT_POLICY.top:
        return
    svc.evidence.add(query, body.article_id, "reformulated", client_address(request), first_rank, audience,
                     confident=first_decision == "answer")



def settled_search(request: Request, svc: KBService, query: str, search_id: str, locale: str) -> int:
    """Log a settled search with what the server decided (``search_id``, verified); its row id. 403 for an id
    this store did not issue for ``query`` or one expired, 409 for an id logged already, 503 while the store is
    away."""
    text = searchids.normalise(query)
    if not text:
        raise InputError("query", "query is empty")
    try:
        decided = searchids.verify(svc.store.engine, search_id, text)
        return svc.store.add_search(text, decided.decision, decided.top_article, decided.confidence, locale.lower(),
                                    client_address(request), once=(decided.nonce, decided.expires))
    except searchids.BadSearchId as e:  # well formed (the schema's pattern) but not this store's: refused, not invalid
        raise HTTPException(status_code=403, detail=str(e)) from None
    except AlreadyLogged as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    except StoreUnavailable as e:
        raise HTTPException(status_code=503, detail=f"searches cannot be logged right now ({e})") from None
