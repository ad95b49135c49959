"""The PostgreSQL engine of the feedback store, on a real server (Debian's package, started by the tests)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kb.feedback.evidence import Evidence
from kb.feedback.postgres import PostgresEngine
from kb.feedback.schema import LATEST
from kb.feedback.signins import SignIns
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FeedbackStore, StoreUnavailable
from tests.feedback.contract import EvidenceContract, StoreContract
from tests.support.postgres import Postgres


def eventually(call, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """``call()`` once the store has found the database again (the pool reconnects with a back-off)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class TestPostgres(StoreContract, EvidenceContract):
    @pytest.fixture
    def url(self, postgres: Postgres) -> str:
        return postgres.new_database()

    @pytest.fixture
    def store(self, url: str):  # type: ignore[no-untyped-def]
        store = FeedbackStore(PostgresEngine(url))
        yield store
        store.close()

    @pytest.fixture
    def replica(self, url: str):  # type: ignore[no-untyped-def]
        store = FeedbackStore(PostgresEngine(url))  # another replica: its own pool on the same database
        yield store
        store.close()


def test_schema_is_versioned_and_replicas_starting_together_migrate_once(postgres: Postgres) -> None:
    url = postgres.new_database()
    stores = [FeedbackStore(PostgresEngine(url)) for _ in range(4)]
    errors: list[BaseException] = []

    def first_write(store: FeedbackStore, n: int) -> None:
        try:
            store.add("q", "a", True, f"client-{n}")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=first_write, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = postgres.rows(url, "SELECT version FROM kb_schema ORDER BY version")
    assert versions == [(v,) for v in range(1, LATEST + 1)]
    assert stores[0].counts("a") == {"helpful": 4, "not_helpful": 0}
    for s in stores:
        s.close()


def test_unreachable_database_degrades_and_recovers(postgres: Postgres) -> None:
    url = postgres.new_database()
    store = FeedbackStore(PostgresEngine(url))
    store.add("q", "a", True, "c1")
    postgres.stop()
    try:
        assert store.counts("a") == {"helpful": 0, "not_helpful": 0}  # reads degrade
        assert store.problem and "unreachable" in store.problem
        with pytest.raises(StoreUnavailable):
            store.add("q", "a", True, "c2")
        assert store.check() == store.problem  # still down: /health keeps saying why
    finally:
        postgres.start()
    # /health sees the database back without waiting for a customer's write
    deadline = time.monotonic() + 60
    while store.check() is not None:
        assert time.monotonic() < deadline, store.problem
        time.sleep(0.5)
    eventually(lambda: store.add("q", "a", True, "c2"))
    assert store.counts("a") == {"helpful": 2, "not_helpful": 0}
    assert store.problem is None
    store.close()


def test_a_sign_out_during_an_outage_reaches_the_other_replica_afterwards(postgres: Postgres) -> None:
    url = postgres.new_database()
    here, there = SignIns(PostgresEngine(url), retry_every=0.2), SignIns(PostgresEngine(url))
    assert not there.signed_out("n0")  # both connected (and migrated) before the outage
    postgres.stop()
    try:
        assert not here.sign_out("n1", int(time.time()) + 3600)
        assert here.signed_out("n1") and not there.signed_out("n1")
    finally:
        postgres.start()
    deadline = time.monotonic() + 60
    while not there.signed_out("n1"):  # written by the retry, without another request to `here`
        assert time.monotonic() < deadline, here.problem
        time.sleep(0.2)
    assert here.pending == {}
    here.close()
    there.close()


def test_a_replica_starts_while_the_database_is_down(postgres: Postgres) -> None:
    url = postgres.new_database()
    postgres.stop()
    try:
        store = FeedbackStore(PostgresEngine(url))  # must not block or fail: searches do not need the database
        assert store.popular() == [] and store.problem
    finally:
        postgres.start()
    eventually(lambda: store.add("q", "a", True, "c1"))  # migrates on the first connection that works
    assert store.counts("a") == {"helpful": 1, "not_helpful": 0}
    store.close()


def test_migrate_sqlite_copies_once(postgres: Postgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb import cli

    index = tmp_path / "index"
    old = FeedbackStore(SQLiteEngine(index / "feedback.sqlite"))
    old.add("택배 안 와요", "delivery-tracking", False, "c1")
    old.add("배송 조회", "delivery-tracking", True, "c2")
    old.add_unanswered("선물 포장 되나요", "contact", "c1")
    Evidence(old.engine).add("택배 언제 와요", "delivery-tracking", "helpful", "c2", 2, confident=False)
    Evidence(old.engine).decide("택배 언제 와요", "returns", "rejected")  # a rejection sticks, also after the move
    url = postgres.new_database()
    argv = ["db", "migrate-sqlite", "--index", str(index), "--database-url", url]
    assert cli.main(argv) == 0
    assert "copied 2 votes, 1 unanswered" in capsys.readouterr().out
    assert cli.main(argv) == 0  # again: nothing copied twice
    assert "copied 0 votes, 0 unanswered" in capsys.readouterr().out
    store = FeedbackStore(PostgresEngine(url))
    assert store.counts("delivery-tracking") == {"helpful": 1, "not_helpful": 1}
    assert [u.query for u in store.unanswered()] == ["선물 포장 되나요"]
    store.add("택배 안 와요", "delivery-tracking", False, "c1")  # the same client, hashed with the copied salt
    assert store.counts("delivery-tracking") == {"helpful": 1, "not_helpful": 1}
    evidence = Evidence(store.engine)
    assert [(r.query, r.article_id, r.rank, r.confident) for r in evidence.rows()] == [
        ("택배 언제 와요", "delivery-tracking", 2, False)]
    assert evidence.decisions() == {("택배 언제 와요", "returns"): "rejected"}
    assert not evidence.add("택배 언제 와요", "delivery-tracking", "helpful", "c2", 1)  # c2 said so already
    store.close()
