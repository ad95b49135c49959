"""Signed search ids (kb.feedback.searchids): issued by one replica, verified by another on the same database;
forged, altered, foreign or expired ids refused; nothing issued while the store is away."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kb.feedback import searchids
from kb.feedback.engine import Engine, StoreUnavailable
from kb.feedback.sqlite import SQLiteEngine


def test_an_id_says_what_the_server_decided_to_every_replica(tmp_path: Path) -> None:
    one, other = SQLiteEngine(tmp_path / "feedback.sqlite"), SQLiteEngine(tmp_path / "feedback.sqlite")
    sid = searchids.issue(one, " 택배  언제 와요", "answer", "delivery-tracking", 0.97123456)
    assert sid is not None and len(sid) < 200
    decided = searchids.verify(other, sid, "택배 언제 와요 ")  # the query as the page sends it back
    assert (decided.decision, decided.top_article, decided.confidence) == ("answer", "delivery-tracking", 0.9712)
    assert decided.expires == decided.issued + searchids.TTL and abs(decided.issued - time.time()) < 5
    assert searchids.issue(one, "택배 언제 와요", "answer", "delivery-tracking", 0.9) != sid  # a nonce each


def test_foreign_future_and_expired_ids_are_refused(tmp_path: Path) -> None:
    engine = SQLiteEngine(tmp_path / "feedback.sqlite")
    foreign = searchids.issue(SQLiteEngine(tmp_path / "elsewhere.sqlite"), "반품", "none", None, 0.1)
    old = searchids.issue(engine, "반품", "none", None, 0.1, at=time.time() - searchids.TTL - 1)
    future = searchids.issue(engine, "반품", "none", None, 0.1, at=time.time() + searchids.SKEW + 60)
    for sid, reason in ((foreign, "not issued"), (old, "expired"), (future, "expired"), ("", "malformed"),
                        ("!!.!!", "malformed"), ("a" * 500, "malformed")):
        with pytest.raises(searchids.BadSearchId, match=reason):
            searchids.verify(engine, str(sid), "반품")


class Down(Engine):
    def run(self, work: object) -> object:
        self.problem = "database unreachable"
        raise StoreUnavailable(self.problem)


def test_nothing_is_issued_or_verified_while_the_store_is_away() -> None:
    engine = Down()
    assert searchids.issue(engine, "반품", "none", None, 0.1) is None  # the search still answers, without an id
    with pytest.raises(StoreUnavailable):
        searchids.verify(engine, "x.y", "반품")
