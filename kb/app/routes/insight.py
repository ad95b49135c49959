"""The editors' search insight page (``/admin``) and its JSON: customers per day by the decision their searches got
(the chart, :mod:`kb.app.chart`), the helpful ratio per article, top queries, and the gap groups
(:mod:`kb.feedback.gaps`) with one-click fixes (:mod:`kb.app.routes.fixes`). Signing in:
:mod:`kb.app.routes.session`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from kb.app.auth import COOKIE, AuthHeader, SessionCookie, admin_key, signed_in
from kb.app.chart import CHART_MAX_WIDTH, CHART_MIN_WIDTH, chart_svg
from kb.app.deps import ServiceDep, app_state
from kb.app.errors import ADMIN_RESPONSES
from kb.app.i18n import choose_lang
from kb.app.routes.pages import page_response
from kb.app.service import SearchUnavailable
from kb.errors import KBError
from kb.feedback.fixjobs import FixStatus
from kb.feedback.gapmarks import Askers, handled_json
from kb.feedback.gaps import Suggestion, VectorCache, find_gaps

if TYPE_CHECKING:
    from kb.app.service import KBService

router = APIRouter(tags=["admin"])
RESPONSES = ADMIN_RESPONSES
MAX_DAYS = 366
GROUPS_SHOWN = 20


@dataclass
class InsightState:
    """What the insight keeps in this process: query vectors and suggestions for the gap groups, and the
    articles' questions (to mark the wordings handled already)."""

    vectors: VectorCache = field(default_factory=VectorCache)
    suggestions: dict[tuple[str, ...], Suggestion] = field(default_factory=dict)
    askers: Askers = field(default_factory=Askers)


def _state(request: Request) -> InsightState:
    return app_state(request, "kb_insight", InsightState)


def fix_json(status: FixStatus) -> dict[str, Any]:
    return {**asdict(status), "added": list(status.added), "messages": list(status.messages)}


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
@router.get("/admin/insight", response_class=HTMLResponse, include_in_schema=False)
def insight_page(request: Request, lang: str | None = None,
                 accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    """The page: a sign-in form, then the insight (drawn by admin.js from /admin/insight.json)."""
    admin_key(request)
    # with no session cookie the page shows the sign-in form at once, without asking (and a 401 in the console)
    session = "1" if request.cookies.get(COOKIE) else ""
    return page_response("admin.html", request, choose_lang(lang, accept_language), {"session": session},
                         headers={"Cache-Control": "no-store"})


Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="look back this many days")]


def gap_groups(svc: KBService, state: InsightState, days: int, limit: int = GROUPS_SHOWN) -> list[dict[str, Any]]:
    """The gap groups (kb.feedback.gaps) as JSON: ``kb gaps --json``'s, with each group's number of queries, the
    suggested article's title, the articles voted "not helpful" for its queries (never suggested) and its shown
    queries that an article or a draft asks already (``status``: open | partly_handled | handled; see
    :mod:`kb.feedback.gapmarks`). The first call after a start embeds every gap query; later ones the new ones."""
    try:
        groups = find_gaps(svc.store, svc.searcher, days=days, limit=limit, cache=state.vectors, memo=state.suggestions)
    except KBError:
        raise
    except Exception:  # numpy, bm25s or FAISS reading a damaged build: checked (damage falls back), then once more
        svc.check_serving()
        try:
            groups = find_gaps(svc.store, svc.searcher, days=days, limit=limit, cache=state.vectors,
                               memo=state.suggestions)
        except KBError:
            raise
        except Exception as e:
            raise SearchUnavailable("the gap report failed on the index: an editor must run `kb build`") from e
    if len(state.suggestions) > 5000:  # mostly suggestions made on builds gone since: start again
        state.suggestions.clear()
    askers = state.askers.read(svc.settings.articles_dir, svc.index.articles.values())
    return [{**g.to_json(), "queries": g.queries, "suggestion": {**g.suggestion.to_json(), "title": g.suggestion.title},
             "not_helpful": list(g.not_helpful), **handled_json(g.examples, askers)} for g in groups]


def fix_targets(svc: KBService) -> list[dict[str, str]]:
    """The articles a group's queries may be added to (the served ones, which ``POST /admin/fixes`` accepts), by
    category and title: the page's choice of target."""
    articles = sorted(svc.index.articles.values(), key=lambda a: (a.category, a.title, a.id))
    return [{"article_id": a.id, "title": a.title, "category": a.category, "locale": a.locale} for a in articles]


def insight(svc: KBService, state: InsightState, days: int, groups: bool = True) -> dict[str, Any]:
    """Everything the page shows, as JSON (queries as stored: personal data already replaced)."""
    store, searcher = svc.store, svc.searcher
    articles = searcher.index.articles
    per_day = store.searches_per_day(days)
    # per decision: distinct customers a day (one client's hundred searches count once), summed over the days;
    # ``total``: the logged searches themselves
    totals = {d: sum(getattr(x, d) for x in per_day) for d in ("answer", "suggest", "none")}
    counted = sum(totals.values())
    # the least helpful first (what to rewrite), then the most voted
    voted = sorted((r for r in store.ratings() if r.helpful + r.not_helpful),
                   key=lambda r: (r.helpful / (r.helpful + r.not_helpful), -(r.helpful + r.not_helpful), r.article_id))
    ratings = [{"article_id": r.article_id, "title": a.title if (a := articles.get(r.article_id)) else None,
                "helpful": r.helpful, "not_helpful": r.not_helpful,
                "ratio": round(r.helpful / (r.helpful + r.not_helpful), 4)} for r in voted]
    latest = svc.fixjobs.latest_fix()
    return {
        "days": days,
        "build": {"id": searcher.index.build_id, "time": searcher.index.build_time},
        "searches": {"total": sum(d.searches for d in per_day), "customers": sum(d.customers for d in per_day),
                     "counted": "customers", "totals": totals,
                     "share": {k: round(v / counted, 4) if counted else 0.0 for k, v in totals.items()},
                     "per_day": [asdict(d) for d in per_day]},
        "articles": ratings,
        "top_queries": [asdict(q) for q in store.top_queries(days, 20)],
        **({"groups": gap_groups(svc, state, days), "targets": fix_targets(svc)} if groups else {}),
        "fix": fix_json(latest) if latest else None,
    }


@router.get("/admin/insight.json", responses=RESPONSES)
def insight_json(request: Request, svc: ServiceDep, days: Days = 30, groups: bool = True,
                 authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> dict[str, Any]:
    """Customers per day by decision (and logged searches), helpful ratio per article, top queries and (unless
    ``groups=false``, which answers at once) the gap groups."""
    signed_in(request, authorization, kb_admin)
    return insight(svc, _state(request), days, groups)


@router.get("/admin/gaps.json", responses=RESPONSES)
def gaps_json(request: Request, svc: ServiceDep, days: Days = 30,
              limit: Annotated[int, Query(ge=1, le=100)] = GROUPS_SHOWN, authorization: AuthHeader = None,
              kb_admin: SessionCookie = None) -> dict[str, Any]:
    """``{"groups": [...], "targets": [...]}``: the searches without a good answer grouped by meaning, as ``kb gaps
    --json`` (see :func:`gap_groups`), and the articles their queries may be added to."""
    signed_in(request, authorization, kb_admin)
    return {"groups": gap_groups(svc, _state(request), days, limit), "targets": fix_targets(svc)}


@router.get("/admin/chart.svg", responses=RESPONSES, response_class=Response)
def chart(request: Request, svc: ServiceDep, days: Days = 30, lang: str | None = None,
          width: Annotated[int, Query(ge=CHART_MIN_WIDTH, le=CHART_MAX_WIDTH,
                                      description="drawn this many pixels wide (the page's panel)")] = 760,
          authorization: AuthHeader = None, kb_admin: SessionCookie = None) -> Response:
    """Customers per day, stacked by the decision their searches got, as an SVG image (drawn here: no script, no
    CDN)."""
    signed_in(request, authorization, kb_admin)
    svg = chart_svg(svc.store.searches_per_day(days), days, choose_lang(lang, None), width=width)
    return Response(svg, media_type="image/svg+xml; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-store"})
