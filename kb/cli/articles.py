"""The articles' commands: ``kb lint`` (validate the folder), ``kb import`` (an existing FAQ -> article files)
and ``kb export`` (article files -> one CSV or JSON file that ``kb import`` reads back)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from kb.articles.export import export_articles
from kb.articles.importer import ImportLimits, import_faq
from kb.articles.importer.sources import FORMAT_NAMES
from kb.articles.lint import lint_articles
from kb.cli import common
from kb.errors import ContentTestsFailed
from kb.settings import Settings


def add_commands(sub: common.Subparsers) -> None:
    li = sub.add_parser("lint", help="validate the articles and report every problem")
    common.add_location_args(li, articles=True)
    li.add_argument("--check", action="store_true", help="also run the content tests (builds a temporary index)")
    li.add_argument("--similar", action="store_true", help="warn about articles competing for the same queries")
    li.set_defaults(func=cmd_lint)

    im = sub.add_parser("import", help="import an existing FAQ (CSV, TSV, xlsx, JSON, Zendesk export) as articles")
    im.add_argument("source", type=common.existing_file, metavar="SOURCE", help="the FAQ file")
    im.add_argument("--format", choices=("csv", "tsv", "xlsx", "json", "zendesk"),
                    help="default: from the extension (a .json holding {\"articles\": [...]} is a Zendesk export)")
    im.add_argument("--out", metavar="DIR", help="articles folder to write into (KB_ARTICLES_DIR; default articles/)")
    im.add_argument("--dry-run", action="store_true", help="report what would be written, write nothing")
    im.add_argument("--force", action="store_true", help="overwrite articles that already exist")
    im.add_argument("--skip-errors", action="store_true",
                    help="write the rows without errors and leave the others out (default: any error writes nothing)")
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


def cmd_lint(args: argparse.Namespace) -> int:
    """``kb lint``: every problem of the articles; ``--similar`` loads the model, ``--check`` also runs the
    content tests on a temporary index (the live one is not touched)."""
    settings = common.settings_from(args)
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
        with tempfile.TemporaryDirectory(prefix="kb-lint-") as tmp:
            try:
                common.build_with_progress(settings, embedder, report, drafts=False, quiet=True, check=True,
                                    index_dir=Path(tmp))
            except ContentTestsFailed as e:
                return common.report_checks(e.failures)
            return common.report_checks([])
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``kb import``: an existing FAQ into article files; problems named by source row, then lint's verdict."""
    settings = common.settings_from(args)
    out = Path(args.out) if args.out else settings.articles_dir
    r = import_faq(args.source, out, fmt=args.format, mapping=args.map or (), sheet=args.sheet,
                   dry_run=args.dry_run, force=args.force, skip_errors=args.skip_errors,
                   limits=import_limits(settings))
    read_as = ", ".join(x for x in (FORMAT_NAMES[r.format], r.encoding, *r.notes) if x)
    print(f"read {r.source} ({read_as}): {r.rows} rows; {r.columns.describe()}")
    for p in r.problems:
        print(f"{'error' if p.error else 'warning'}: {p}", file=sys.stderr)
    stopped = bool(r.errors) and not r.written and not r.dry_run  # all or nothing: nothing
    if not stopped:
        verb = "would write" if r.dry_run else "wrote"
        skipped = f" ({len(r.errors)} row(s) left out)" if r.errors else ""
        print(f"{verb} {len(r.articles)} articles to {out}{skipped}"
              + (" (dry run: nothing written)" if r.dry_run else ""))
    lint = r.lint
    if lint is not None:
        for problem in lint.errors:
            print(f"error: {problem}", file=sys.stderr)
        print(f"lint: {len(lint.articles)} articles, {len(lint.errors)} error(s), {len(lint.warnings)} warning(s)")
    if stopped:
        common.err(f"nothing written to {out}: {len(r.errors)} row(s) have errors (fix them or delete them from "
                   f"{r.source.name} and run again, or leave them out with --skip-errors)")
    return 1 if r.errors or (lint is not None and lint.errors) else 0


def import_limits(settings: Settings) -> ImportLimits:
    """The import's bounds from the settings (``KB_IMPORT_*``)."""
    return ImportLimits(max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows,
                        max_cell_chars=settings.import_max_cell_chars, max_depth=settings.import_max_depth,
                        max_xlsx_bytes=settings.import_max_xlsx_bytes)


def cmd_export(args: argparse.Namespace) -> int:
    """``kb export``: every article as one CSV or JSON file that ``kb import`` reads back."""
    settings = common.settings_from(args)
    fmt = args.format or ("json" if args.out and Path(args.out).suffix.lower() == ".json" else "csv")
    count, text = export_articles(settings.articles_dir, fmt, Path(args.out) if args.out else None)
    if args.out:
        print(f"exported {count} articles from {settings.articles_dir} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
