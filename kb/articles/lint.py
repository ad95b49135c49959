"""Validation of the articles folder (``kb lint`` and the start of every build) and content tests.

Every problem is reported at once, each as ``file:line: message (hint)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.articles.parse import Article, article_files, declared_id, read_article
from kb.articles.site import SITE_FILE, parse_site
from kb.errors import KBError

if TYPE_CHECKING:
    from kb.model.embed import Embedder

SIMILAR_THRESHOLD = 0.985  # near-identical questions; e5 paraphrases of different topics reach 0.97


@dataclass
class LintReport:
    articles: list[Article] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text.lower())


def where(article: Article, text: str | None = None, key: str = "questions") -> str:
    """``path:line`` of ``text`` (a value of the front-matter ``key``, the title or a ``##`` question), or of
    ``key`` itself, in the article's file. The lines come from the parser, one per list item."""
    line = None
    if text is not None:
        line = article.line_of_item(key, text)
        if line is None and text == article.title:
            line = article.line("title")
        if line is None:
            line = next((s.line for s in article.sections if s.question == text), None)
    line = line or article.line(key)
    return f"{article.path}:{line}" if line else article.path


def lint_articles(root: Path, embedder: Embedder | None = None,
                  similar_threshold: float = SIMILAR_THRESHOLD) -> LintReport:
    """Parse every article under ``root`` and check the set; with an embedder, warn about near-duplicates."""
    report = LintReport()
    if not root.is_dir():
        raise KBError(f"articles folder {root} does not exist (set --articles or KB_ARTICLES_DIR)")
    parsed: list[Article] = []
    broken: set[str] = set()  # files with an error: reported above, left out of the articles to build
    unread: set[str] = set()  # ids (as far as they can be told) of files that could not be read at all
    for path in article_files(root):
        article, problems = read_article(path)
        report.errors.extend(str(e) for e in problems)
        if article is None:
            unread.add(declared_id(path))
            continue
        parsed.append(article)
        if problems:
            broken.add(article.path)
    if not parsed and not report.errors:
        report.errors.append(f"{root}: no articles (*.md) found")
    by_id: dict[str, Article] = {}
    for a in parsed:
        if a.id in by_id:
            report.errors.append(
                f"{where(a, key='id')}: duplicate id `{a.id}`, also used by {by_id[a.id].path} "
                "(give every article its own id)")
        else:
            by_id[a.id] = a
    owner: dict[str, tuple[Article, str]] = {}
    for a in parsed:
        for q in (a.title, *a.questions, *(s.question for s in a.sections)):
            key = _norm(q)
            if not key:
                continue
            if key in owner and owner[key][0].id != a.id:
                other, other_q = owner[key]
                report.errors.append(
                    f"{where(a, q)}: question `{q}` is also asked in {where(other, other_q)} "
                    "(keep it in the one article that answers it)")
            else:
                owner.setdefault(key, (a, q))
        for t in a.tests:
            if _norm(t) in {_norm(x) for x in (a.title, *a.questions)}:
                report.warnings.append(
                    f"{where(a, t, 'tests')}: test `{t}` repeats one of the article's own questions "
                    "(a test proves more when it is phrased differently)")
    for a in parsed:
        for source in a.translation_of:
            target = by_id.get(source)
            if target is None and source in unread:
                continue  # the file it names is broken, and said so above
            if target is None:
                report.errors.append(f"{where(a, source, 'translation_of')}: translation_of `{source}` is not an "
                                     "article id (name the article this one translates)")
            elif target.locale == a.locale or source == a.id:
                report.errors.append(f"{where(a, source, 'translation_of')}: translation_of `{source}` has the same "
                                     f"locale `{a.locale}` (a translation links articles of different locales)")
    report.articles = [a for a in parsed if by_id.get(a.id) is a and a.path not in broken]
    if (root / SITE_FILE).is_file():  # the shop's identity (kb.articles.site)
        report.errors.extend(str(e) for e in parse_site(root / SITE_FILE)[1])
    if embedder is not None and report.articles:
        report.warnings.extend(similar_articles(report.articles, embedder, similar_threshold))
    return report


def similar_articles(articles: list[Article], embedder: Embedder,
                     threshold: float = SIMILAR_THRESHOLD) -> list[str]:
    """Warnings for pairs of published articles that compete for the same queries.

    e5 scores short questions close together (0.93-0.97 even across topics), so a cut-off alone would
    flag most pairs. Two articles compete when at least half (and at least two) of one's questions are
    closer to the other article's questions than to any of their own, or when two questions are
    near-identical (cosine >= ``threshold``).
    """
    import numpy as np

    served = [a for a in articles if a.published]
    if len(served) < 2:
        return []
    texts: list[str] = []
    owner: list[int] = []
    for i, a in enumerate(served):
        for q in (a.title, *a.questions):
            texts.append(q)
            owner.append(i)
    own = np.asarray(owner)
    vecs = embedder.embed_passages(texts)
    sims = vecs @ vecs.T
    same = own[:, None] == own[None, :]
    other = np.where(same, -1.0, sims)
    np.fill_diagonal(sims, -1.0)
    own_best = np.where(same, sims, -1.0).max(axis=1)
    nearest = other.argmax(axis=1)
    pulled: dict[tuple[int, int], int] = {}
    for r in range(len(texts)):
        if other[r, nearest[r]] > own_best[r]:
            key = (int(own[r]), int(own[nearest[r]]))
            pulled[key] = pulled.get(key, 0) + 1
    sizes = np.bincount(own, minlength=len(served))
    pairs: dict[tuple[int, int], float] = {}
    for (i, j), n in pulled.items():
        if n >= 2 and 2 * n >= sizes[i]:
            pairs[(min(i, j), max(i, j))] = float(other[own == i][:, own == j].max())
    rows, cols = np.nonzero(other >= threshold)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        pairs[(min(own[r], own[c]), max(own[r], own[c]))] = float(other[r, c])
    out = []
    for (i, j), score in sorted(pairs.items(), key=lambda kv: -kv[1]):
        a, b = served[i], served[j]
        out.append(
            f"{where(a, key='title')}: `{a.id}` and `{b.id}` ({b.path}) compete for the same queries "
            f"(closest questions {score:.2f}): merge them or make their questions more distinct")
    return out
