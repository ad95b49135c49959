from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from kb.feedback import FILENAME, ArticleVotes, FeedbackStore, Popular, Unanswered


def test_add_and_count(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    assert store.counts("a") == {"helpful": 0, "not_helpful": 0}
    first = store.add("반품하고 싶어요", "a", True)
    second = store.add("반품", "a", False)
    store.add("반품", "a", True)
    assert second > first > 0
    assert store.counts("a") == {"helpful": 2, "not_helpful": 1}
    assert store.counts("b") == {"helpful": 0, "not_helpful": 0}


def test_for_index_lives_beside_the_builds(tmp_path: Path) -> None:
    store = FeedbackStore.for_index(tmp_path / "index")
    assert store.path == tmp_path / "index" / FILENAME
    store.add("q", "a", True)
    assert (tmp_path / "index" / FILENAME).is_file()
    # a new store on the same folder (e.g. after a rebuild or a restart) sees the old votes
    assert FeedbackStore.for_index(tmp_path / "index").counts("a") == {"helpful": 1, "not_helpful": 0}


def test_wal_mode(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("q", "a", True)
    with sqlite3.connect(str(store.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_popular_orders_by_helpful_votes(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    for article, helpful, not_helpful in (("a", 1, 0), ("b", 3, 2), ("c", 3, 0), ("d", 0, 5)):
        for _ in range(helpful):
            store.add("q", article, True)
        for _ in range(not_helpful):
            store.add("q", article, False)
    assert store.popular(10) == [Popular("c", 3, 0), Popular("b", 3, 2), Popular("a", 1, 0)]  # d: never helpful
    assert [p.article_id for p in store.popular(2)] == ["c", "b"]
    assert store.helpful_counts() == {"a": 1, "b": 3, "c": 3}


def test_long_queries_are_cut(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("가" * 5000, "a", True)
    with sqlite3.connect(str(store.path)) as db:
        assert len(db.execute("SELECT query FROM feedback").fetchone()[0]) == 1000


def test_threads_do_not_lose_votes(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    errors: list[BaseException] = []

    def vote(n: int) -> None:
        try:
            for i in range(25):
                store.add(f"q{n}-{i}", "a", i % 5 != 0)
                store.counts("a")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=vote, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.counts("a") == {"helpful": 160, "not_helpful": 40}


def test_unhelpful_answers_come_first_with_their_queries(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    for query, article, helpful in (
        ("배송 언제 와요", "delivery", False), ("택배 안 와요", "delivery", False),
        ("배송 언제 와요", "delivery", False),
        ("배송 조회", "delivery", True), ("환불", "refund", False), ("반품", "returns", True),
        ("교환", "exchange", False), ("교환 되나요", "exchange", False),
    ):
        store.add(query, article, helpful)
    assert store.unhelpful() == [
        # 3 "not helpful" votes; the same query twice is listed once, the most recent first
        ArticleVotes("delivery", 1, 3, ("배송 언제 와요", "택배 안 와요")),
        ArticleVotes("exchange", 0, 2, ("교환 되나요", "교환")),
        ArticleVotes("refund", 0, 1, ("환불",)),
    ]  # "returns" has no "not helpful" vote
    assert [r.article_id for r in store.unhelpful(limit=1)] == ["delivery"]
    assert store.unhelpful(queries=1)[0].queries == ("배송 언제 와요",)


def test_unanswered_searches_most_frequent_first(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    for query, kind in (("선물 포장", "none"), ("해외 배송", "none"), ("선물 포장", "contact"),
                        ("해외 배송", "none"), ("적립금 소멸", "none"), ("해외 배송", "contact")):
        store.add_unanswered(query, kind)
    rows = store.unanswered()
    assert [(u.query, u.none, u.contact) for u in rows] == [
        ("해외 배송", 2, 1), ("선물 포장", 1, 1), ("적립금 소멸", 1, 0)]
    assert all(isinstance(u, Unanswered) and u.last for u in rows)
    assert len(store.unanswered(limit=2)) == 2
    with pytest.raises(ValueError, match="kind must be one of"):
        store.add_unanswered("q", "maybe")


def test_an_old_store_gets_the_new_table(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    with sqlite3.connect(str(path)) as db:  # a store written before unanswered searches were kept
        db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
                   "query TEXT NOT NULL, article_id TEXT NOT NULL, helpful INTEGER NOT NULL)")
        db.execute("INSERT INTO feedback (created, query, article_id, helpful) VALUES ('2026-01-01', 'q', 'a', 1)")
    store = FeedbackStore(path)
    store.add_unanswered("선물 포장", "none")
    assert store.counts("a") == {"helpful": 1, "not_helpful": 0}
    assert [u.query for u in store.unanswered()] == ["선물 포장"]
