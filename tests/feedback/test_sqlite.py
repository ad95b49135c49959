from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from kb.feedback.connect import open_store
from kb.feedback.engine import StoreUnavailable
from kb.feedback.fixjobs import FixJobs, FixStatus
from kb.feedback.schema import LATEST
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME, FeedbackStore
from kb.settings import Settings
from tests.feedback.contract import EvidenceContract, StoreContract


class TestSQLite(StoreContract, EvidenceContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> FeedbackStore:
        return FeedbackStore(SQLiteEngine(tmp_path / "fb.sqlite"))

    @pytest.fixture
    def replica(self, tmp_path: Path) -> FeedbackStore:
        return FeedbackStore(SQLiteEngine(tmp_path / "fb.sqlite"))  # as a second `kb serve` worker opens it


def test_the_default_store_lives_beside_the_builds(tmp_path: Path) -> None:
    store = open_store(Settings.from_env({}, index_dir=tmp_path / "index"))
    assert isinstance(store.engine, SQLiteEngine) and store.engine.path == tmp_path / "index" / FILENAME
    store.add("q", "a", True, "c")
    # a new store on the same folder (e.g. after a rebuild or a restart) sees the old votes
    assert FeedbackStore(SQLiteEngine(tmp_path / "index" / FILENAME)).counts("a") == {"helpful": 1, "not_helpful": 0}
    with sqlite3.connect(str(store.engine.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT MAX(version) FROM kb_schema").fetchone()[0] == LATEST


def test_a_store_from_before_the_schema_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    with sqlite3.connect(str(path)) as db:  # as written by kb before this schema
        db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
                   "query TEXT NOT NULL, article_id TEXT NOT NULL, helpful INTEGER NOT NULL)")
        db.execute("CREATE TABLE unanswered (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
                   "query TEXT NOT NULL, kind TEXT NOT NULL)")
        for _ in range(2):
            db.execute("INSERT INTO feedback (created, query, article_id, helpful) "
                       "VALUES ('2026-01-01T10:00:00+00:00', 'q', 'a', 1)")
        db.execute("INSERT INTO unanswered (created, query, kind) VALUES ('2026-01-02T10:00:00+00:00', '선물 포장', "
                   "'none')")
    store = FeedbackStore(SQLiteEngine(path))
    assert store.counts("a") == {"helpful": 2, "not_helpful": 0}  # unknown senders: each its own client
    store.add_unanswered("해외 배송", "none", "c")
    assert sorted(u.query for u in store.unanswered()) == ["선물 포장", "해외 배송"]


def test_a_corrupt_file_is_set_aside_and_recreated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(b"this is not a database" * 100)
    store = FeedbackStore(SQLiteEngine(path))
    with caplog.at_level(logging.WARNING, logger="kb.feedback.store"):
        assert store.counts("a") == {"helpful": 0, "not_helpful": 0}
    assert "set aside" in caplog.text
    assert list(tmp_path.glob(f"{FILENAME}.corrupt-*"))
    store.add("q", "a", True, "c")
    assert store.counts("a") == {"helpful": 1, "not_helpful": 0} and store.problem is None


def test_an_unwritable_store_degrades(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    store = FeedbackStore(SQLiteEngine(blocker / FILENAME))  # its folder cannot be created
    assert store.counts("a") == {"helpful": 0, "not_helpful": 0} and store.popular() == []
    assert store.problem and str(tmp_path) not in store.problem
    with pytest.raises(StoreUnavailable):
        store.add("q", "a", True, "c")
    assert store.check() == store.problem  # still unusable: /health keeps the reason
    blocker.unlink()  # the editor fixes it; /health notices without waiting for a write
    deadline = time.monotonic() + 10
    while store.check() is not None:  # the probe runs in the background: /health never waits on it
        assert time.monotonic() < deadline, store.problem
        time.sleep(0.05)
    assert store.problem is None
    store.add("q", "a", True, "c")
    assert store.counts("a") == {"helpful": 1, "not_helpful": 0}


def test_a_version_2_store_gets_the_later_tables(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    FeedbackStore(SQLiteEngine(path)).add("q", "a", True, "c")
    with sqlite3.connect(str(path)) as db:  # as kb left it before one-click fixes were kept in the store
        version_2 = {"kb_meta", "kb_schema", "votes", "unanswered", "searches", "sqlite_sequence"}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if table not in version_2:  # every later table, whichever version added it
                db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM kb_schema WHERE version >= 3")
    store = FeedbackStore(SQLiteEngine(path))
    jobs = FixJobs(store.engine)
    assert jobs.add_fix(FixStatus("j", "new_article", "gap", "drafts/gap.md", ("질문",)))
    assert jobs.running_fix() is not None and store.counts("a") == {"helpful": 1, "not_helpful": 0}
    with sqlite3.connect(str(path)) as db:
        versions = db.execute("SELECT version FROM kb_schema ORDER BY version").fetchall()
    assert versions == [(v,) for v in range(1, LATEST + 1)] and LATEST >= 6


def test_fixes_need_the_store(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    store = FixJobs(SQLiteEngine(blocker / FILENAME))
    with pytest.raises(StoreUnavailable):  # whether another fix runs cannot be known: no fix starts
        store.add_fix(FixStatus("j", "new_article", "", "", (), state="starting"))
    with pytest.raises(StoreUnavailable):  # "unknown fix" would be a lie
        store.fix("j")
    assert store.latest_fix() is None  # the insight page degrades as its other numbers do
