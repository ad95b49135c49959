"""The index's commands: ``kb build`` (articles -> index), ``kb search`` (one query against it), ``kb eval``
(retrieval quality on labelled queries) and ``kb model`` (prepare the bundled model)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from kb.articles.lint import lint_articles
from kb.cli.common import (
    Subparsers,
    UsageError,
    add_location_args,
    build_with_progress,
    err,
    existing_file,
    report_checks,
    settings_from,
)
from kb.errors import ContentTestsFailed
from kb.evaluate import format_learning_report, format_report, run_eval, run_learning_eval
from kb.index.store import resolve_build
from kb.limits import DEFAULT_K, MAX_K
from kb.pipeline import LintFailed, open_searcher, preview_dir


def add_commands(sub: Subparsers) -> None:
    b = sub.add_parser("build", help="build the index from the articles")
    add_location_args(b, articles=True)
    b.add_argument("--drafts", action="store_true", help="build a separate preview index that includes drafts")
    b.add_argument("--check", action="store_true", help="run the articles' content tests on the new index")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="search the index")
    s.add_argument("query")
    add_location_args(s)
    s.add_argument("--k", type=int, default=DEFAULT_K, help=f"number of results (1-{MAX_K})")
    s.add_argument("--category")
    s.add_argument("--locale")
    s.add_argument("--json", action="store_true", help="print the API's JSON")
    s.add_argument("--public", action="store_true",
                   help="search as a customer does (leave out `audience: agents` articles, which are shown by default)")
    s.set_defaults(func=cmd_search)

    mo = sub.add_parser("model", help="prepare the bundled model in the cache (KB_CACHE_DIR): convert and export")
    mo.set_defaults(func=cmd_model)

    e = sub.add_parser("eval", help="measure retrieval quality on labelled queries")
    add_location_args(e)
    e.add_argument("--faq", type=existing_file, help="FAQ JSONL (benchmark format); default: the articles index")
    e.add_argument("--queries", type=existing_file, required=True, help="labelled queries JSONL")
    e.add_argument("--learn-from", type=existing_file, metavar="EVENTS",
                   help="events JSONL ({query, relevant_ids, client?, signal?} per line), with --faq: evaluate cold "
                        "and after learning from the events, through the server's policy (KB_LEARN)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_eval)


def cmd_build(args: argparse.Namespace) -> int:
    """``kb build``: lint, build, (``--check``) run the content tests, then switch the new build in."""
    from kb.model.embed import load_embedder

    settings = settings_from(args)
    started = time.perf_counter()
    report = lint_articles(settings.articles_dir)
    for problem in report.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    if report.errors:
        for problem in report.errors:
            print(f"error: {problem}", file=sys.stderr)
        err(f"{len(report.errors)} problem(s) in {settings.articles_dir}; nothing was built, "
            "the live index is unchanged")
        return 1
    embedder = load_embedder(settings)
    try:
        stats = build_with_progress(settings, embedder, report, drafts=args.drafts, quiet=args.quiet,
                                    check=args.check)
    except ContentTestsFailed as e:
        return report_checks(e.failures, str(e))
    except LintFailed as e:  # the articles changed while another build held the index
        for problem in e.report.errors:
            print(f"error: {problem}", file=sys.stderr)
        err(str(e))
        return 1
    index_dir = preview_dir(settings.index_dir) if args.drafts else settings.index_dir
    print(
        f"built {index_dir}: {stats.articles} articles ({stats.drafts_skipped} drafts skipped), "
        f"{stats.entries} entries; {stats.added} added, {stats.changed} changed, {stats.removed} removed; "
        f"embedded {stats.embedded}, reused {stats.reused}; {stats.seconds:.1f}s "
        f"(total {time.perf_counter() - started:.1f}s with model load)"
    )
    if stats.learned:
        print(f"learned questions: {stats.learned} (from customers and agents; `kb learn` lists them)")
    for note in stats.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.check:
        print("content tests: all passed (checked before the switch)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """``kb search``: the ranked answers to one query, as text or as the API's JSON."""
    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K}")
    settings = settings_from(args)
    resolve_build(settings.index_dir)  # fail fast, with the fix, before loading the model
    resp = open_searcher(settings).search(args.query, k=args.k, category=args.category, locale=args.locale,
                                   audience="public" if args.public else "agents")
    if args.json:
        from kb.app.schemas import search_out  # pydantic: only for --json

        print(json.dumps(search_out(resp).model_dump(), ensure_ascii=False, indent=2))
        return 0
    print(f"{resp.decision} (confidence {resp.confidence:.2f}), {len(resp.results)} result(s), {resp.took_ms:.0f} ms")
    for rank, h in enumerate(resp.results, 1):
        print(f"{rank}. [{h.score:.3f}] {h.title}  ({h.article_id}, {h.category}, {h.locale})")
        if h.question != h.title:
            print(f"   matched: {h.question}")
        print(f"   {h.snippet}")
    if not resp.results:
        print("no matching article: contact support")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    """``kb model``: prepare the bundled model in the cache (conversion and ONNX export, once), so that the
    first ``kb build`` or ``kb serve`` does not have to; print where it is."""
    from kb.model.bundled import bundled_model_path
    from kb.model.export import bundled_onnx_path
    from kb.model.onnx import prepare_tokenizer

    settings = settings_from(args)
    for step in (bundled_model_path, bundled_onnx_path, lambda cache: prepare_tokenizer(bundled_onnx_path(cache))):
        started = time.perf_counter()
        print(f"{step(settings.cache_dir)}  ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """``kb eval``: retrieval quality on labelled queries (:mod:`kb.evaluate`); with ``--learn-from``, cold and
    after learning from the events, side by side."""
    if args.learn_from is not None:
        if args.faq is None:
            raise UsageError("--learn-from needs --faq: the events are replayed on a FAQ built from scratch")
        learned = run_learning_eval(args.learn_from, args.faq, args.queries, settings=settings_from(args))
        print(json.dumps(learned, ensure_ascii=False) if args.json else format_learning_report(learned))
        return 0
    result = run_eval(faq_path=args.faq, queries_path=args.queries, settings=settings_from(args))
    print(json.dumps(result, ensure_ascii=False) if args.json else format_report(result))
    return 0
