"""Suggestion data, made at build time and stored with the build: the texts the search box may offer (titles,
questions, tags, categories). The type-ahead matcher over them is :mod:`kb.search.suggest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.articles.parse import Article, Entry

KINDS = ("category", "tag", "title", "question")  # priority when two sources give the same text


@dataclass(frozen=True)
class Suggestion:
    """One suggestion: the text to put in the search box and where it comes from."""

    text: str
    article_id: str | None
    category: str | None
    kind: str  # "title" | "question" | "tag" | "category"



def suggestion_items(entries: Sequence[Entry], articles: Sequence[Article]) -> list[Suggestion]:
    """Titles and questions of every entry, plus each article's tags and category names (made at build time).

    Learned questions (customers' own wordings) are matched, never offered: what the box proposes is what the
    editors wrote."""
    items: list[Suggestion] = [
        Suggestion(e.question, e.article_id, e.category, "title" if e.field == "title" else "question")
        for e in entries
        if e.field not in ("article", "learned")  # the whole-article passage is for matching, not a question
    ]
    tag_articles: dict[str, list[Article]] = {}
    for a in articles:
        for tag in a.tags:
            tag_articles.setdefault(tag, []).append(a)
    for tag, tagged in sorted(tag_articles.items()):
        cats = {a.category for a in tagged}
        items.append(Suggestion(tag, tagged[0].id if len(tagged) == 1 else None,
                                cats.pop() if len(cats) == 1 else None, "tag"))
    for cat in sorted({a.category for a in articles}):
        items.append(Suggestion(cat, None, cat, "category"))
    return items
