"""The ``kb`` command: build, search, serve, lint, eval, feedback.

Expected failures (:class:`KBError`) print one line and exit 1; usage errors exit 2 (argparse).
Settings come from the arguments, then ``KB_*`` environment variables, then the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb import __version__
from kb.errors import KBError
from kb.limits import DEFAULT_K, MAX_K
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.articles.lint import LintReport
    from kb.index.build import BuildStats
    from kb.model.embed import Embedder


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        articles_dir=getattr(args, "articles", None), index_dir=getattr(args, "index", None),
        model=getattr(args, "model", None), host=getattr(args, "host", None), port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )


def _err(message: str) -> None:
    print(f"kb: error: {message}", file=sys.stderr)


def _progress(quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=0, unit="entry", desc="embedding", file=sys.stderr, disable=quiet, leave=False)


def _gated_build(settings: Settings, embedder: Embedder, report: LintReport, *, drafts: bool, quiet: bool,
                 check: bool, index_dir: Path | None = None) -> BuildStats:
    from kb.pipeline import gated_build

    bar = _progress(quiet)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        return gated_build(settings, embedder, report=report, drafts=drafts, check=check, index_dir=index_dir,
                           progress=bar.update, on_total=on_total, before_check=bar.close,
                           on_wait=None if quiet else lambda: print(
                               "waiting for another build of this index to finish...", file=sys.stderr))
    finally:
        bar.close()


def cmd_build(args: argparse.Namespace) -> int:
    import time

    from kb.articles.lint import lint_articles
    from kb.errors import ContentTestsFailed
    from kb.model.embed import load_embedder
    from kb.pipeline import LintFailed, preview_dir

    settings = _settings(args)
    started = time.perf_counter()
    report = lint_articles(settings.articles_dir)
    for problem in report.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    if report.errors:
        for problem in report.errors:
            print(f"error: {problem}", file=sys.stderr)
        _err(f"{len(report.errors)} problem(s) in {settings.articles_dir}; nothing was built, "
             "the live index is unchanged")
        return 1
    embedder = load_embedder(settings)
    try:
        stats = _gated_build(settings, embedder, report, drafts=args.drafts, quiet=args.quiet, check=args.check)
    except ContentTestsFailed as e:
        return _report_checks(e.failures, str(e))
    except LintFailed as e:  # the articles changed while another build held the index
        for problem in e.report.errors:
            print(f"error: {problem}", file=sys.stderr)
        _err(str(e))
        return 1
    index_dir = preview_dir(settings.index_dir) if args.drafts else settings.index_dir
    print(
        f"built {index_dir}: {stats.articles} articles ({stats.drafts_skipped} drafts skipped), "
        f"{stats.entries} entries; {stats.added} added, {stats.changed} changed, {stats.removed} removed; "
        f"embedded {stats.embedded}, reused {stats.reused}; {stats.seconds:.1f}s "
        f"(total {time.perf_counter() - started:.1f}s with model load)"
    )
    if args.check:
        print("content tests: all passed (checked before the switch)")
    return 0


def _report_checks(failures: list[Any], message: str | None = None) -> int:
    if not failures:
        print("content tests: all passed")
        return 0
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    _err(message or f"{len(failures)} content test(s) failed")
    return 1


def cmd_lint(args: argparse.Namespace) -> int:
    from kb.articles.lint import lint_articles

    settings = _settings(args)
    embedder = None
    if args.check or args.similar:
        from kb.model.embed import load_embedder

        embedder = load_embedder(settings)
    report = lint_articles(settings.articles_dir, embedder=embedder if args.similar else None)
    for problem in report.errors:
        print(f"error: {problem}")
    for problem in report.warnings:
        print(f"warning: {problem}")
    print(f"{len(report.articles)} articles, {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if report.errors:
        return 1
    if args.check and embedder is not None:
        import tempfile

        from kb.errors import ContentTestsFailed

        with tempfile.TemporaryDirectory(prefix="kb-lint-") as tmp:
            try:
                _gated_build(settings, embedder, report, drafts=False, quiet=True, check=True, index_dir=Path(tmp))
            except ContentTestsFailed as e:
                return _report_checks(e.failures)
            return _report_checks([])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from kb.index.store import resolve_build
    from kb.pipeline import open_searcher

    settings = _settings(args)
    resolve_build(settings.index_dir)  # fail fast, with the fix, before loading the model
    resp = open_searcher(settings).search(args.query, k=args.k, category=args.category, locale=args.locale,
                                          audience="public" if args.public else "agents")
    if args.json:
        from kb.app.schemas import search_out

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


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from kb.app.factory import create_app
    from kb.index.store import resolve_build

    settings = _settings(args)
    resolve_build(settings.index_dir)  # fail fast, with the fix, before loading the model
    options = {"host": settings.host, "port": settings.port, "log_level": args.log_level, **SERVER_OPTIONS}
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # several processes: each worker builds its app from the environment, so hand the settings over there
    for var, name in settings.ENV.items():
        value = getattr(settings, name)
        if value is not None and value != ():
            os.environ[var] = ",".join(value) if isinstance(value, tuple) else str(value)
    uvicorn.run("kb.app.factory:app_from_env", factory=True, workers=settings.workers, **options)
    return 0


# uvicorn's own limits: idle keep-alive connections close after 5 s, request heads are bounded in size (bodies
# in size and time by kb.app.middleware.BodyLimit). uvicorn has no timeout for slow headers: in public, a
# reverse proxy goes in front (README, Deployment). proxy_headers off: X-Forwarded-For is believed only from
# KB_TRUSTED_PROXIES (kb.app.middleware.client_address), never rewritten by uvicorn first.
SERVER_OPTIONS: dict[str, Any] = {"timeout_keep_alive": 5, "h11_max_incomplete_event_size": 16 * 1024,
                                  "limit_concurrency": 1000, "server_header": False, "proxy_headers": False,
                                  "timeout_graceful_shutdown": 10}


def cmd_model(args: argparse.Namespace) -> int:
    """Prepare the bundled model in the cache (conversion and ONNX export, once), so that the first `kb build`
    or `kb serve` does not have to; print where it is."""
    import time

    from kb.model.bundled import bundled_model_path
    from kb.model.onnx import bundled_onnx_path, prepare_tokenizer

    settings = _settings(args)
    for step in (bundled_model_path, bundled_onnx_path, lambda cache: prepare_tokenizer(bundled_onnx_path(cache))):
        started = time.perf_counter()
        print(f"{step(settings.cache_dir)}  ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from kb.evaluate import format_report, run_eval

    settings = _settings(args)
    result = run_eval(faq_path=args.faq, queries_path=args.queries, settings=settings)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_report(result))
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from kb.feedback.connect import open_store
    from kb.feedback.store import FILENAME

    settings = _settings(args)
    path = Path(settings.index_dir) / FILENAME
    store = open_store(settings) if settings.database_url or path.is_file() else None  # reading creates nothing
    rows = store.unhelpful(args.limit) if store else []
    gaps = store.unanswered(args.limit) if store else []
    if store is not None:
        store.close()
        if store.problem:
            raise KBError(store.problem)
    if args.json:
        print(json.dumps({"articles": [asdict(r) for r in rows], "unanswered": [asdict(u) for u in gaps]},
                         ensure_ascii=False))
        return 0
    if not rows and not gaps:
        where = "the database (KB_DATABASE_URL)" if settings.database_url else str(path)
        print(f"no \"not helpful\" votes and no unanswered searches in {where}")
        return 0
    if rows:
        print("answers voted \"not helpful\":")
        for r in rows:
            print(f"  {r.article_id}: {r.not_helpful} not helpful, {r.helpful} helpful")
            for q in r.queries:
                print(f"      {q}")
    if gaps:
        print("searches with no answer (times: no answer shown / then contacted support):")
        for u in gaps:
            print(f"  {u.none:>4} / {u.contact:<4} {u.query}")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    """``kb gaps``: searches without a good answer, grouped by meaning, each with a fix (kb.feedback.gaps)."""
    from kb.feedback.connect import open_store
    from kb.feedback.gaps import find_gaps, format_groups, groups_json
    from kb.feedback.store import FILENAME
    from kb.index.store import resolve_build
    from kb.pipeline import open_searcher

    if args.days < 1 or args.limit < 1:
        parser().error("--days and --limit must be at least 1")
    settings = _settings(args)
    resolve_build(settings.index_dir)  # fail fast, with the fix, before loading the model
    path = Path(settings.index_dir) / FILENAME
    groups = []
    if settings.database_url or path.is_file():  # reading creates nothing
        store = open_store(settings)
        try:
            groups = find_gaps(store, open_searcher(settings), days=args.days, limit=args.limit)
        finally:
            store.close()
        if store.problem:
            raise KBError(store.problem)
    print(json.dumps(groups_json(groups), ensure_ascii=False) if args.json else format_groups(groups, args.days))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """``kb db migrate-sqlite``: copy the SQLite feedback store into the PostgreSQL one, once."""
    import sqlite3
    import tempfile

    from kb.feedback.postgres import PostgresStore
    from kb.feedback.sqlite import SQLiteStore
    from kb.feedback.store import FILENAME

    settings = Settings.from_env(index_dir=args.index, database_url=args.database_url)
    if not settings.database_url:
        raise KBError("no PostgreSQL to copy into: set KB_DATABASE_URL or --database-url postgresql://...")
    source = Path(settings.index_dir) / FILENAME
    if not source.is_file():
        raise KBError(f"no SQLite feedback store at {source} (set --index or KB_INDEX_DIR)")
    with tempfile.TemporaryDirectory(prefix="kb-db-") as tmp:
        copy = Path(tmp) / FILENAME
        with sqlite3.connect(str(source)) as src, sqlite3.connect(str(copy)) as dst:
            src.backup(dst)  # a consistent copy, WAL included; the source is left as it is
        rows = SQLiteStore(copy).export()
    target = PostgresStore(settings.database_url)
    try:
        done = target.import_rows(rows)
    finally:
        target.close()
    print(f"copied {done['votes']} votes, {done['unanswered']} unanswered searches from {source} into PostgreSQL "
          f"({len(rows['votes']) - done['votes'] + len(rows['unanswered']) - done['unanswered']} already there)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``kb import``: an existing FAQ into article files; problems named by source row, then lint's verdict."""
    from kb.articles.importer import import_faq
    from kb.articles.importer.sources import FORMAT_NAMES

    out = Path(args.out) if args.out else _settings(args).articles_dir
    r = import_faq(args.source, out, fmt=args.format, mapping=args.map or (), sheet=args.sheet,
                   dry_run=args.dry_run, force=args.force)
    read_as = ", ".join(x for x in (FORMAT_NAMES[r.format], r.encoding, *r.notes) if x)
    print(f"read {r.source} ({read_as}): {r.rows} rows; {r.columns.describe()}")
    for p in r.problems:
        print(f"{'error' if p.error else 'warning'}: {p}", file=sys.stderr)
    verb = "would write" if r.dry_run else "wrote"
    skipped = f" ({len(r.errors)} row(s) left out)" if r.errors else ""
    print(f"{verb} {len(r.articles)} articles to {out}{skipped}" + (" (dry run: nothing written)" if r.dry_run else ""))
    lint = r.lint
    if lint is not None:
        for problem in lint.errors:
            print(f"error: {problem}", file=sys.stderr)
        print(f"lint: {len(lint.articles)} articles, {len(lint.errors)} error(s), {len(lint.warnings)} warning(s)")
    return 1 if r.errors or (lint is not None and lint.errors) else 0


def cmd_export(args: argparse.Namespace) -> int:
    """``kb export``: every article as one CSV or JSON file that ``kb import`` reads back."""
    from kb.articles.export import export_articles

    settings = _settings(args)
    fmt = args.format or ("json" if args.out and Path(args.out).suffix.lower() == ".json" else "csv")
    count, text = export_articles(settings.articles_dir, fmt, Path(args.out) if args.out else None)
    if args.out:
        print(f"exported {count} articles from {settings.articles_dir} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kb", description="FAQ semantic search for a customer help center.")
    p.add_argument("--version", action="version", version=f"kb {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, articles: bool = False) -> None:
        if articles:
            sp.add_argument("--articles", metavar="DIR", help="articles folder (KB_ARTICLES_DIR; default articles/)")
        sp.add_argument("--index", metavar="DIR", help="index folder (KB_INDEX_DIR; default index/)")
        sp.add_argument("--model", metavar="NAME", help="sentence-transformers model name or path (KB_MODEL)")

    b = sub.add_parser("build", help="build the index from the articles")
    common(b, articles=True)
    b.add_argument("--drafts", action="store_true", help="build a separate preview index that includes drafts")
    b.add_argument("--check", action="store_true", help="run the articles' content tests on the new index")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)

    li = sub.add_parser("lint", help="validate the articles and report every problem")
    common(li, articles=True)
    li.add_argument("--check", action="store_true", help="also run the content tests (builds a temporary index)")
    li.add_argument("--similar", action="store_true", help="warn about articles competing for the same queries")
    li.set_defaults(func=cmd_lint)

    s = sub.add_parser("search", help="search the index")
    s.add_argument("query")
    common(s)
    s.add_argument("--k", type=int, default=DEFAULT_K, help=f"number of results (1-{MAX_K})")
    s.add_argument("--category")
    s.add_argument("--locale")
    s.add_argument("--json", action="store_true", help="print the API's JSON")
    s.add_argument("--public", action="store_true",
                   help="search as a customer does (leave out `audience: agents` articles, which are shown by default)")
    s.set_defaults(func=cmd_search)

    sv = sub.add_parser("serve", help="serve the API and the help-center page")
    common(sv)
    sv.add_argument("--host", help="KB_HOST, default 127.0.0.1")
    sv.add_argument("--port", type=int, help="KB_PORT, default 8000")
    sv.add_argument("--workers", type=int, help="server processes (KB_WORKERS, default 1); each loads the model "
                                                "and the build, and all share the feedback store")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    sv.set_defaults(func=cmd_serve)

    mo = sub.add_parser("model", help="prepare the bundled model in the cache (KB_CACHE_DIR): convert and export")
    mo.set_defaults(func=cmd_model)

    e = sub.add_parser("eval", help="measure retrieval quality on labelled queries")
    common(e)
    e.add_argument("--faq", type=_existing_file, help="FAQ JSONL (benchmark format); default: the articles index")
    e.add_argument("--queries", type=_existing_file, required=True, help="labelled queries JSONL")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("feedback", help='answers voted "not helpful" and searches that found no answer')
    f.add_argument("--index", metavar="DIR", help="index folder holding feedback.sqlite (KB_INDEX_DIR; default index/)")
    f.add_argument("--limit", type=int, default=20, help="rows per list (default 20)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(func=cmd_feedback)

    g = sub.add_parser("gaps", help="searches without a good answer, grouped by meaning, each with a fix")
    common(g)
    g.add_argument("--days", type=int, default=30, help="look back this many days (default 30)")
    g.add_argument("--limit", type=int, default=30, help="groups to show, biggest first (default 30)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(func=cmd_gaps)

    db = sub.add_parser("db", help="the feedback database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    mig = db_sub.add_parser("migrate-sqlite", help="copy the SQLite feedback store into PostgreSQL (once: rows "
                                                   "already copied are skipped)")
    mig.add_argument("--index", metavar="DIR", help="index folder holding feedback.sqlite (KB_INDEX_DIR)")
    mig.add_argument("--database-url", metavar="URL", help="postgresql://... (KB_DATABASE_URL)")
    mig.set_defaults(func=cmd_db)

    im = sub.add_parser("import", help="import an existing FAQ (CSV, TSV, xlsx, JSON, Zendesk export) as articles")
    im.add_argument("source", type=_existing_file, metavar="SOURCE", help="the FAQ file")
    im.add_argument("--format", choices=("csv", "tsv", "xlsx", "json", "zendesk"),
                    help="default: from the extension (a .json holding {\"articles\": [...]} is a Zendesk export)")
    im.add_argument("--out", metavar="DIR", help="articles folder to write into (KB_ARTICLES_DIR; default articles/)")
    im.add_argument("--dry-run", action="store_true", help="report what would be written, write nothing")
    im.add_argument("--force", action="store_true", help="overwrite articles that already exist")
    im.add_argument("--map", action="append", metavar="FIELD=COLUMN,...",
                    help="which column holds a field, e.g. answer=답변,title=질문 (fields: title, answer, category, "
                         "tags, questions, id, locale, status, layout, audience, translation_of, tests)")
    im.add_argument("--sheet", metavar="NAME", help="xlsx: the sheet to read (default: the first)")
    im.set_defaults(func=cmd_import)

    ex = sub.add_parser("export", help="write every article to one CSV or JSON file (kb import reads it back)")
    ex.add_argument("--articles", metavar="DIR", help="articles folder (KB_ARTICLES_DIR; default articles/)")
    ex.add_argument("--format", choices=("csv", "json"), help="default: from --out's extension, else csv")
    ex.add_argument("--out", metavar="FILE", help="default: standard output")
    ex.set_defaults(func=cmd_export)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "command", None) == "search" and not 1 <= args.k <= MAX_K:
        parser().error(f"--k must be between 1 and {MAX_K}")
    if getattr(args, "command", None) == "feedback" and args.limit < 1:
        parser().error("--limit must be at least 1")
    try:
        return int(args.func(args))
    except KBError as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
