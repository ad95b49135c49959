"""What crosses the HTTP boundary (and ``kb search --json``): pydantic models and the one function that
turns a hit into JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from kb.articles.render import highlight, to_html

if TYPE_CHECKING:
    from kb.articles.parse import Article
    from kb.search.searcher import Hit, SearchResponse


class ErrorOut(BaseModel):
    """Every 4xx answer: the reason, and the request field it is about (when there is one)."""

    detail: str
    field: str | None = None


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
    search_id: str | None = Field(default=None, description="what the server decided, signed: send it with the query "
                                  "to POST /searches once the search settles (null while the feedback store is away)")


class SectionOut(BaseModel):
    question: str
    answer: str


class Votes(BaseModel):
    helpful: int
    not_helpful: int


class ArticleOut(BaseModel):
    id: str
    title: str
    category: str
    tags: list[str]
    locale: str
    questions: list[str]
    status: str
    layout: str
    answer: str = Field(description="Markdown")
    answer_html: str
    sections: list[SectionOut]
    feedback: Votes


class CategoryOut(BaseModel):
    name: str
    count: int


class CategoriesOut(BaseModel):
    categories: list[CategoryOut]


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded (see problems)")
    version: str
    model: str
    articles: int
    entries: int
    build_time: str
    build: str = Field(description="id of the serving build")
    load_ms: float = Field(description="milliseconds the serving build took to load (model excluded)")
    problems: list[str] = Field(default_factory=list,
                                description="why the service is degraded: a failed reload, an unusable feedback store")
    damaged: list[str] = Field(default_factory=list,
                               description="ids of the builds found damaged (files unlike their manifest), newest "
                                           "first; an older intact build serves instead (see problems)")


LEARNED = "learned"  # the entry field of a wording kb learned from customers and agents (kb.feedback.learning)


def hit_out(hit: Hit) -> SearchHit:
    """A hit as JSON. A learned wording is never shown: it is a stranger's text (scrubbed, but not written by an
    editor), so a hit on one shows the article's title and says only that it matched a learned wording."""
    question = hit.title if hit.entry_field == LEARNED else hit.question
    return SearchHit(
        article_id=hit.article_id, title=hit.title, question=question, answer=hit.answer,
        answer_html=to_html(hit.answer), snippet=hit.snippet,
        snippet_html=highlight(hit.snippet, hit.matched_terms), category=hit.category, locale=hit.locale,
        score=round(hit.score, 4),
        why=Why(matched_question=question, field=hit.entry_field, matched_terms=list(hit.matched_terms),
                dense=round(hit.dense_score, 4), lexical=round(hit.lexical_score, 4)),
    )


def search_out(resp: SearchResponse) -> SearchOut:
    return SearchOut(query=resp.query, took_ms=resp.took_ms, decision=resp.decision, confidence=resp.confidence,
                     results=[hit_out(h) for h in resp.results])


def article_out(a: Article, votes: dict[str, int]) -> ArticleOut:
    return ArticleOut(id=a.id, title=a.title, category=a.category, tags=list(a.tags), locale=a.locale,
                      questions=list(a.questions), status=a.status, layout=a.layout, answer=a.body,
                      answer_html=to_html(a.body),
                      sections=[SectionOut(question=s.question, answer=s.answer) for s in a.sections],
                      feedback=Votes(helpful=votes.get("helpful", 0), not_helpful=votes.get("not_helpful", 0)))
