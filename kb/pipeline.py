"""Assembly, written once: the gated build (lint -> build -> content tests -> switch) and opening a searcher
on a build. The CLI, the service, ``kb eval``, the content tests and the benchmark scripts all go through here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kb.articles.lint import LintReport, lint_articles, where
from kb.articles.site import site_files
from kb.errors import ContentTestsFailed, KBError
from kb.feedback.connect import open_engine, store_exists
from kb.feedback.engine import StoreUnavailable
from kb.feedback.evidence import Evidence
from kb.feedback.learning import live_questions, verdict
from kb.index.build import BuildStats, build_index
from kb.index.store import build_lock, load_index
from kb.search.fusion import DEFAULT, FusionConfig
from kb.search.searcher import QueryVectors, Searcher

if TYPE_CHECKING:
    from kb.articles.parse import Article
    from kb.model.embed import Embedder
    from kb.settings import Settings


class LintFailed(KBError):
    """The articles have errors: nothing was built, the live index is unchanged."""

    def __init__(self, report: LintReport, root: Path) -> None:
        self.report = report
        super().__init__(f"{len(report.errors)} problem(s) in {root}; nothing was built, "
                         "the live index is unchanged")


def config_files(articles_dir: Path) -> list[Path]:
    """Configuration files of the articles folder that a build carries (``_synonyms.yml``; ``_site.yml`` and its
    logo, :mod:`kb.articles.site`)."""
    return [*(p for p in (articles_dir / "_synonyms.yml",) if p.is_file()), *site_files(articles_dir)]


def preview_dir(index_dir: Path) -> Path:
    """Where ``kb build --drafts`` puts the preview index: beside the live one, never in it."""
    return index_dir.with_name(index_dir.name + "-preview")


def learned_from_store(settings: Settings,
                       articles: Sequence[Article]) -> tuple[dict[str, tuple[str, ...]], str | None]:
    """The learned questions a build takes: the feedback store's evidence and the editors' decisions through the
    one policy (:func:`kb.feedback.learning.learn`, in the mode of KB_LEARN), as article id -> wordings; and a
    note when the store could not be read (the build goes on without them: a learned question is a bonus,
    never a reason to keep an editor's fix out). Nothing is read, and no store created, while KB_LEARN=off or
    before any SQLite store exists."""
    if settings.learn == "off":
        return {}, None
    if not store_exists(settings):
        return {}, None
    engine = open_engine(settings)
    try:
        learned = verdict(Evidence(engine), articles, settings.learn)
    except StoreUnavailable as e:
        return {}, f"built without learned questions: {e}"
    finally:
        engine.close()
    return live_questions(learned), None


def gated_build(
    settings: Settings,
    embedder: Embedder,
    *,
    report: LintReport | None = None,
    drafts: bool = False,
    check: bool = False,
    index_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    before_check: Callable[[], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    learned: Mapping[str, Sequence[str]] | None = None,
) -> BuildStats:
    """Lint the articles (or take ``report``), build, run the content tests on the new build when ``check``,
    and only then switch it in. Raises :class:`LintFailed` or :class:`~kb.errors.ContentTestsFailed`, leaving
    the live index serving. ``index_dir`` defaults to the settings' (the preview folder with ``drafts``).

    One gated build of an index root runs at a time (``on_wait`` is told when another holds it); a ``report``
    read before waiting is read again, as the other build's editor may have changed the articles meanwhile.

    ``learned`` (article id -> wordings) is the set of learned questions to fold in; by default it comes from
    the feedback store through the policy (:func:`learned_from_store`). Pass a build's own set
    (:func:`kb.index.store.read_learned`) to rebuild it exactly. ``stats.notes`` says when the store was away.
    """
    target = index_dir or (preview_dir(settings.index_dir) if drafts else settings.index_dir)
    with build_lock(target, on_wait) as waited:
        if report is None or waited:
            report = lint_articles(settings.articles_dir)
        if report.errors:
            raise LintFailed(report, settings.articles_dir)
        articles = report.articles

        def content_tests(build: Path) -> None:
            if before_check is not None:
                before_check()
            failures = run_content_tests(build, embedder, articles)
            if failures:
                raise ContentTestsFailed(failures)

        note = None
        if learned is None:
            learned, note = learned_from_store(settings, articles)
        stats = build_index(articles, embedder, target, include_drafts=drafts,
                            config_files=config_files(settings.articles_dir), progress=progress,
                            on_total=on_total, check=content_tests if check else None, learned=learned,
                            ann_threshold=settings.ann_threshold)
        return replace(stats, notes=(*stats.notes, note)) if note else stats


def open_searcher(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    index_dir: Path | None = None,
    queries: QueryVectors | None = None,
    fusion: FusionConfig | None = None,
) -> Searcher:
    """A searcher on the current build of ``index_dir`` (default: the settings'), or on a build folder.

    ``queries`` (the query-vector cache of a running service) is reused across reloads; without it the
    embedder (loaded from the settings when not given) gets a fresh one.
    """
    if queries is None and embedder is None:
        from kb.model.embed import load_embedder

        embedder = load_embedder(settings)
    return open_build(index_dir or settings.index_dir, queries or embedder, fusion=fusion)  # type: ignore[arg-type]


def open_build(path: Path, queries: QueryVectors | Embedder, *, fusion: FusionConfig | None = None) -> Searcher:
    """Load a build folder or index root, checked against the model, and put a searcher on it."""
    if not isinstance(queries, QueryVectors):
        queries = QueryVectors(queries)
    model = queries.embedder
    index = load_index(path, expected_model=model.model_id, expected_dimension=model.dimension)
    return Searcher(index, queries, fusion=fusion or DEFAULT)


CONTENT_TEST_TOP_N = 3


@dataclass(frozen=True)
class ContentFailure:
    """A ``tests:`` query that did not find its article in the top N."""

    article_id: str
    where: str
    query: str
    rank: int | None
    found_id: str | None
    found_title: str | None

    def __str__(self) -> str:
        got = f"rank {self.rank}" if self.rank else f"not in the top {CONTENT_TEST_TOP_N}"
        took = f"; first is {self.found_id} ({self.found_title})" if self.found_id else "; no results"
        return f"{self.where}: `{self.query}` should find {self.article_id}, {got}{took}"


def run_content_tests(index_dir: Path, embedder: Embedder, articles: list[Article],
                      top_n: int = CONTENT_TEST_TOP_N) -> list[ContentFailure]:
    """Search every ``tests:`` query of the published articles; return the broken expectations."""
    searcher = open_build(index_dir, embedder)
    failures: list[ContentFailure] = []
    for a in articles:
        if not a.published and a.id not in searcher.index.articles:
            continue
        for query in a.tests:
            resp = searcher.search(query, k=max(top_n, 5), audience=a.audience)  # as its readers search
            ids = [h.article_id for h in resp.results]
            rank = ids.index(a.id) + 1 if a.id in ids else None
            if rank is None or rank > top_n:
                first = resp.results[0] if resp.results else None
                failures.append(ContentFailure(
                    a.id, where(a, query, "tests"), query, rank,
                    first.article_id if first else None, first.title if first else None))
    return failures
