"""The embedded engine: one SQLite file beside the index builds, in WAL mode, a connection per call
(connections are not shared between the server's threads)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb.feedback import schema as sch
from kb.feedback.engine import Engine, StoreUnavailable, T, log

_CORRUPT = ("file is not a database", "malformed", "not a database")


def _use_wal(db: sqlite3.Connection, wait: float = 10.0) -> None:
    """Switch the file to WAL (persistent: stored in the file). Changing the journal mode does not wait for
    another connection's lock as statements do (the busy timeout): workers starting together on a new file got
    "database is locked" at once. So the mode is read first (WAL already: nothing to do) and the switch retried
    within the busy timeout."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class SQLiteEngine(Engine):
    dialect = sch.SQLITE

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        self._ready = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"SQLite ({self.path.name})"

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 10000")
        return db

    def _transaction(self, work: Callable[[sqlite3.Connection], T], begin: str = "BEGIN") -> T:
        """``work(db)`` in one transaction on a new connection: committed, or rolled back on any error."""
        db = self._open()
        try:
            if begin == "BEGIN IMMEDIATE":
                _use_wal(db)
            db.execute(begin)
            try:
                result = work(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result
        finally:
            db.close()

    def _migrate(self) -> None:
        self._transaction(self._apply_migrations, "BEGIN IMMEDIATE")  # one writer: workers starting together

    def _apply_migrations(self, db: sqlite3.Connection) -> None:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = 0
        if "kb_schema" in tables:
            version = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM kb_schema").fetchone()[0])
        else:
            db.execute("CREATE TABLE kb_schema (version INTEGER NOT NULL, applied TEXT NOT NULL)")
            if "feedback" in tables:  # written before the schema was versioned
                steps = sch.LEGACY_SQLITE if "unanswered" in tables else sch.LEGACY_SQLITE_NO_UNANSWERED
                for statement in steps:
                    db.execute(statement)
                version = 1
                db.execute("INSERT INTO kb_schema VALUES (1, datetime('now'))")
        for number, statements in sch.migrations(self.dialect):
            if number > version:
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO kb_schema VALUES (?, datetime('now'))", (number,))

    def _set_aside(self, error: Exception) -> None:
        """Move a corrupt file (and its WAL) out of the way; the next call starts a fresh store."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(part.with_name(f"{part.name}.corrupt-{stamp}"))
        log.warning("feedback store %s was unreadable (%s): set aside as %s.corrupt-%s, starting a new one",
                    self.path.name, error, self.path.name, stamp)
        self._ready = False
        self._salt = None

    def run(self, work: Callable[[Any], T]) -> T:
        for attempt in (1, 2):
            try:
                with self._lock:
                    if not self._ready:
                        self._migrate()
                        self._ready = True
                result = self._transaction(work)
                self.problem = None
                return result
            except sqlite3.DatabaseError as e:
                if attempt == 1 and any(m in str(e) for m in _CORRUPT):
                    with self._lock:
                        self._set_aside(e)
                    continue
                self.problem = f"feedback store unusable: {type(e).__name__}: {e}"
                log.warning("%s", self.problem)
                raise StoreUnavailable(self.problem) from None
            except OSError as e:
                self.problem = f"feedback store unusable: {e.strerror or e}"
                log.warning("%s", self.problem)
                raise StoreUnavailable(self.problem) from None
        raise AssertionError("unreachable")  # pragma: no cover
