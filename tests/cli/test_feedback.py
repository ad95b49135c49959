"""``kb feedback``, ``kb db migrate-sqlite`` (kb.cli.feedback; ``kb gaps``: tests/feedback/test_gaps.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import cli


def test_feedback_lists_unhelpful_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FILENAME, FeedbackStore

    index = tmp_path / "index"
    assert cli.main(["feedback", "--index", str(index)]) == 0
    assert "no \"not helpful\" votes and no unanswered searches" in capsys.readouterr().out
    assert not (index / FILENAME).exists()  # reading a missing store creates nothing
    store = FeedbackStore(SQLiteEngine(index / FILENAME))
    store.add("택배 안 와요", "delivery-tracking", False, "client-1")
    store.add("배송 조회", "delivery-tracking", True, "client-2")
    store.add_unanswered("선물 포장 되나요", "contact", "client-1")
    assert cli.main(["feedback", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "delivery-tracking: 1 not helpful, 1 helpful" in out and "택배 안 와요" in out
    assert "   0 / 1    선물 포장 되나요" in out
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    assert cli.main(["feedback", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["articles"] == [
        {"article_id": "delivery-tracking", "helpful": 1, "not_helpful": 1, "queries": ["택배 안 와요"]}]
    assert [(u["query"], u["none"], u["contact"]) for u in body["unanswered"]] == [("선물 포장 되나요", 0, 1)]
    with pytest.raises(SystemExit) as e:
        cli.main(["feedback", "--limit", "0"])
    assert e.value.code == 2


def test_migrate_sqlite_needs_a_database_and_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The copy itself runs against a real PostgreSQL: tests/feedback/test_postgres.py."""
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    index = tmp_path / "index"
    assert cli.main(["db", "migrate-sqlite", "--index", str(index)]) == 1
    assert capsys.readouterr().err == ("kb: error: no PostgreSQL to copy into: set KB_DATABASE_URL or "
                                       "--database-url postgresql://...\n")
    url = "postgresql://nobody@127.0.0.1:1/none"  # never reached: the missing store is found first
    assert cli.main(["db", "migrate-sqlite", "--index", str(index), "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kb: error: no SQLite feedback store at {index / 'feedback.sqlite'} ")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        cli.main(["db"])  # the action is required
    assert e.value.code == 2
