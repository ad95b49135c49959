"""Votes on "was this helpful?" and searches that found no answer, kept in SQLite beside the index builds
so a rebuild never loses them. Editors read both with ``kb feedback`` (or ``GET /admin/feedback``).

One connection per call (SQLite connections are not shared between threads) and WAL mode, so the
web server's worker threads can read while one writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

FILENAME = "feedback.sqlite"
MAX_QUERY_CHARS = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    query TEXT NOT NULL,
    article_id TEXT NOT NULL,
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1))
);
CREATE INDEX IF NOT EXISTS feedback_article ON feedback (article_id, helpful);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    query TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('none', 'contact'))
);
CREATE INDEX IF NOT EXISTS unanswered_query ON unanswered (query);
"""
# none: the page settled on "no good answer" for the query; contact: the customer went on to contact support
UNANSWERED_KINDS = ("none", "contact")

_ready: set[Path] = set()  # databases whose schema this process has already created
_ready_lock = threading.Lock()


@dataclass(frozen=True)
class Popular:
    """An article and its votes, for the "popular questions" list."""

    article_id: str
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class ArticleVotes:
    """An article customers voted "not helpful", with the queries they had typed: what editors fix first."""

    article_id: str
    helpful: int
    not_helpful: int
    queries: tuple[str, ...]  # distinct queries of the "not helpful" votes, most recent first


@dataclass(frozen=True)
class Unanswered:
    """A query customers searched without finding an answer: a missing article, or a missing question."""

    query: str
    none: int  # times the page settled on "no good answer"
    contact: int  # times the customer then filled in the contact form
    last: str  # when it last happened (UTC, ISO 8601)


class FeedbackStore:
    """Votes on answers in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._ensure_schema()

    @classmethod
    def for_index(cls, index_dir: Path | str) -> FeedbackStore:
        """The store of an index root: ``index_dir/feedback.sqlite``, outside the build folders."""
        return cls(Path(index_dir) / FILENAME)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(str(self.path), timeout=10.0)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    def _ensure_schema(self) -> None:
        key = self.path.absolute()
        with _ready_lock:
            if key in _ready and self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=10.0)
            try:
                db.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
                db.executescript(_SCHEMA)
                db.commit()
            finally:
                db.close()
            _ready.add(key)

    def add(self, query: str, article_id: str, helpful: bool) -> int:
        """Record one vote; return its id."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO feedback (created, query, article_id, helpful) VALUES (?, ?, ?, ?)",
                (created, query[:MAX_QUERY_CHARS], article_id, 1 if helpful else 0),
            )
            return int(cur.lastrowid or 0)

    def counts(self, article_id: str) -> dict[str, int]:
        """``{"helpful": n, "not_helpful": m}`` for one article (zeros when it has no votes)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT COALESCE(SUM(helpful), 0), COALESCE(SUM(1 - helpful), 0) FROM feedback WHERE article_id = ?",
                (article_id,),
            ).fetchone()
        return {"helpful": int(row[0]), "not_helpful": int(row[1])}

    def popular(self, limit: int = 10) -> list[Popular]:
        """Articles with helpful votes, most helpful first (ties: fewer "not helpful", then id)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT article_id, SUM(helpful) AS h, SUM(1 - helpful) AS n FROM feedback GROUP BY article_id "
                "HAVING h > 0 ORDER BY h DESC, n ASC, article_id ASC LIMIT ?",
                (max(0, int(limit)),),
            ).fetchall()
        return [Popular(str(a), int(h), int(n)) for a, h, n in rows]

    def unhelpful(self, limit: int = 20, queries: int = 5) -> list[ArticleVotes]:
        """Articles with "not helpful" votes, most first (ties: fewer helpful, then id), each with up to
        ``queries`` of the queries behind those votes."""
        out: list[ArticleVotes] = []
        with self._connect() as db:
            rows = db.execute(
                "SELECT article_id, SUM(helpful) AS h, SUM(1 - helpful) AS n FROM feedback GROUP BY article_id "
                "HAVING n > 0 ORDER BY n DESC, h ASC, article_id ASC LIMIT ?",
                (max(0, int(limit)),),
            ).fetchall()
            for article_id, h, n in rows:
                texts = db.execute(
                    "SELECT query FROM feedback WHERE article_id = ? AND helpful = 0 GROUP BY query "
                    "ORDER BY MAX(id) DESC LIMIT ?",
                    (article_id, max(0, int(queries))),
                ).fetchall()
                out.append(ArticleVotes(str(article_id), int(h), int(n), tuple(str(q) for (q,) in texts)))
        return out

    def add_unanswered(self, query: str, kind: str) -> int:
        """Record a search that found no answer (``kind``: none | contact); return its id."""
        if kind not in UNANSWERED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(UNANSWERED_KINDS)}, got {kind!r}")
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as db:
            cur = db.execute("INSERT INTO unanswered (created, query, kind) VALUES (?, ?, ?)",
                             (created, query[:MAX_QUERY_CHARS], kind))
            return int(cur.lastrowid or 0)

    def unanswered(self, limit: int = 20) -> list[Unanswered]:
        """Queries that found no answer, most frequent first (ties: more contacts, then most recent)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT query, SUM(kind = 'none') AS n, SUM(kind = 'contact') AS c, MAX(created) AS last "
                "FROM unanswered GROUP BY query ORDER BY n + c DESC, c DESC, last DESC, query ASC LIMIT ?",
                (max(0, int(limit)),),
            ).fetchall()
        return [Unanswered(str(q), int(n), int(c), str(last)) for q, n, c, last in rows]

    def helpful_counts(self) -> dict[str, int]:
        """Helpful votes per article (articles with none left out)."""
        with self._connect() as db:
            rows = db.execute("SELECT article_id, SUM(helpful) FROM feedback GROUP BY article_id").fetchall()
        return {str(a): int(h) for a, h in rows if h}
