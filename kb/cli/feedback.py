"""The feedback's commands: ``kb feedback`` (answers voted "not helpful", searches with no answer), ``kb gaps``
(those searches grouped by meaning, each with a fix) and ``kb db migrate-sqlite`` (SQLite store -> PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from dataclasses import asdict
from pathlib import Path

from kb.cli.common import Subparsers, UsageError, add_location_args, settings_from
from kb.errors import KBError
from kb.feedback.connect import open_store, store_exists
from kb.feedback.gaps import find_gaps, format_groups, groups_json
from kb.feedback.postgres import PostgresEngine
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME, FeedbackStore
from kb.index.store import resolve_build
from kb.pipeline import open_searcher
from kb.settings import Settings


def add_commands(sub: Subparsers) -> None:
    f = sub.add_parser("feedback", help='answers voted "not helpful" and searches that found no answer')
    f.add_argument("--index", metavar="DIR", help="index folder holding feedback.sqlite (KB_INDEX_DIR; default index/)")
    f.add_argument("--limit", type=int, default=20, help="rows per list (default 20)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(func=cmd_feedback)

    g = sub.add_parser("gaps", help="searches without a good answer, grouped by meaning, each with a fix")
    add_location_args(g)
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


def cmd_feedback(args: argparse.Namespace) -> int:
    """``kb feedback``: answers voted "not helpful" (with the queries) and searches that found no answer."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = settings_from(args)
    path = Path(settings.index_dir) / FILENAME
    store = open_store(settings) if store_exists(settings) else None
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
    if args.days < 1 or args.limit < 1:
        raise UsageError("--days and --limit must be at least 1")
    settings = settings_from(args)
    resolve_build(settings.index_dir)  # fail fast, with the fix, before loading the model
    groups = []
    if store_exists(settings):
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
        copied = FeedbackStore(SQLiteEngine(copy))
        try:
            rows = copied.export()
        finally:
            copied.close()
    target = PostgresEngine(settings.database_url)
    try:
        done = target.import_rows(rows)
    finally:
        target.close()
    already = sum(len(rows.get(table, [])) - n for table, n in done.items())
    print(f"copied {done['votes']} votes, {done['unanswered']} unanswered searches, {done.get('evidence', 0)} "
          f"pieces of evidence and {done.get('learn_decisions', 0)} editors' decisions from {source} into "
          f"PostgreSQL ({already} already there)")
    return 0
