"""What every feedback store engine must do; subclassed per engine (SQLite here, PostgreSQL in
tests/feedback/test_postgres.py), each giving a fresh ``store`` fixture and ``replica``: a second store object
on the same database, as another ``kb serve`` replica or worker has."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from kb.feedback.engine import now
from kb.feedback.evidence import Evidence
from kb.feedback.fixjobs import FIX_TIMEOUT, FIXES_KEPT, START_TIMEOUT, FixJobs, FixStatus
from kb.feedback.keyfails import KeyFailures, KeyThrottle
from kb.feedback.signins import SignIns
from kb.feedback.store import GAP_REPORTS_PER_CLIENT_DAY, AlreadyLogged, ArticleVotes, FeedbackStore, Popular
from kb.limits import MAX_FEEDBACK_QUERY_CHARS, MAX_WORDING_CHARS


def _in_threads(work: Callable[[int], object], n: int = 8) -> list[BaseException]:
    """Run ``work(0..n-1)`` on n threads at once; what any of them raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001 - returned to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _days_ago(n: int) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc).date() - timedelta(days=n)).isoformat()


class StoreContract:
    def test_add_and_count_by_distinct_clients(self, store: FeedbackStore) -> None:
        assert store.counts("a") == {"helpful": 0, "not_helpful": 0}
        first = store.add("반품하고 싶어요", "a", True, "1.1.1.1")
        second = store.add("반품", "a", False, "2.2.2.2")
        store.add("반품", "a", True, "3.3.3.3")
        assert second > first > 0
        assert store.counts("a") == {"helpful": 2, "not_helpful": 1}
        assert store.counts("b") == {"helpful": 0, "not_helpful": 0}

    def test_one_client_counts_once_per_article_and_day(self, store: FeedbackStore) -> None:
        for _ in range(50):
            store.add("스팸", "spam", True, "6.6.6.6")
        store.add("반품", "spam", False, "6.6.6.6")  # changed their mind: the later vote replaces it
        store.add("환불", "refund", True, "7.7.7.7")
        store.add("환불", "refund", True, "8.8.8.8")
        assert store.counts("spam") == {"helpful": 0, "not_helpful": 1}
        assert [p.article_id for p in store.popular(5)] == ["refund"]

    def test_popular_orders_by_distinct_helpful_clients(self, store: FeedbackStore) -> None:
        n = 0
        for article, helpful, not_helpful in (("a", 1, 0), ("b", 3, 2), ("c", 3, 0), ("d", 0, 5)):
            for flag, times in ((True, helpful), (False, not_helpful)):
                for _ in range(times):
                    n += 1
                    store.add("q", article, flag, f"client-{n}")
        assert store.popular(10) == [Popular("c", 3, 0), Popular("b", 3, 2), Popular("a", 1, 0)]  # d: never helpful
        assert [p.article_id for p in store.popular(2)] == ["c", "b"]
        assert store.helpful_counts() == {"a": 1, "b": 3, "c": 3}

    def test_unhelpful_answers_come_first_with_their_queries(self, store: FeedbackStore) -> None:
        for n, (query, article, helpful) in enumerate((
            ("배송 언제 와요", "delivery", False), ("택배 안 와요", "delivery", False),
            ("배송 언제 와요", "delivery", False),
            ("배송 조회", "delivery", True), ("환불", "refund", False), ("반품", "returns", True),
            ("교환", "exchange", False), ("교환 되나요", "exchange", False),
        )):
            store.add(query, article, helpful, f"c{n}")
        assert store.unhelpful() == [
            # 3 "not helpful" clients; the same query twice is listed once, the most recent first
            ArticleVotes("delivery", 1, 3, ("배송 언제 와요", "택배 안 와요")),
            ArticleVotes("exchange", 0, 2, ("교환 되나요", "교환")),
            ArticleVotes("refund", 0, 1, ("환불",)),
        ]  # "returns" has no "not helpful" vote
        assert [r.article_id for r in store.unhelpful(limit=1)] == ["delivery"]
        assert store.unhelpful(queries=1)[0].queries == ("배송 언제 와요",)

    def test_unanswered_by_distinct_clients(self, store: FeedbackStore) -> None:
        for n, (query, kind) in enumerate((("선물 포장", "none"), ("해외 배송", "none"), ("선물 포장", "contact"),
                                           ("해외 배송", "none"), ("적립금 소멸", "none"), ("해외 배송", "contact"))):
            store.add_unanswered(query, kind, f"c{n}")
        for _ in range(500):  # one client repeating a spam phrase weighs one
            store.add_unanswered("광고 문구", "none", "spammer")
        rows = store.unanswered()
        assert [(u.query, u.none, u.contact) for u in rows][:3] == [
            ("해외 배송", 2, 1), ("선물 포장", 1, 1), ("광고 문구", 1, 0)]
        assert all(u.last for u in rows)
        assert len(store.unanswered(limit=2)) == 2
        with pytest.raises(ValueError, match="kind must be one of"):
            store.add_unanswered("q", "maybe")

    def test_odd_text_is_stored_cleanly(self, store: FeedbackStore) -> None:
        store.add("가" * 5000 + "\x00\ud800", "a", False, "x")
        [row] = store.unhelpful()
        assert len(row.queries[0]) == MAX_FEEDBACK_QUERY_CHARS and "\x00" not in row.queries[0]

    def test_threads_do_not_lose_votes(self, store: FeedbackStore) -> None:
        def vote(n: int) -> None:
            for i in range(25):
                store.add(f"q{n}-{i}", "a", i % 5 != 0, f"client-{n}-{i}")
                store.counts("a")

        assert _in_threads(vote) == []
        assert store.counts("a") == {"helpful": 160, "not_helpful": 40}

    def test_clients_are_stored_as_salted_hashes(self, store: FeedbackStore) -> None:
        store.add("q", "a", True, "203.0.113.7")
        rows = store.export()
        assert rows["votes"][0][2] != "203.0.113.7" and "203.0.113.7" not in repr(rows)

    def test_personal_data_never_reaches_the_store(self, store: FeedbackStore) -> None:
        query = "주문번호 2026120112345678 배송 010-1234-5678 / 01012345678 연락 kim.sj+faq@example.co.kr"
        store.add(query, "a", False, "c1")
        store.add_unanswered(query, "none", "c1")
        store.add_search(query, "none", None, 0.1, "ko", "c1")
        # salted client hashes and the salt are hex: "1234" may occur in them by chance, so they are left out
        dump = repr([value for rows in store.export().values() for row in rows for value in row
                     if not (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{16,}", value))])
        for secret in ("2026120112345678", "010-1234-5678", "01012345678", "kim.sj+faq@example.co.kr", "1234"):
            assert secret not in dump
        assert "<전화번호>" in dump and "<이메일>" in dump and "<번호>" in dump

    def test_search_log_reports(self, store: FeedbackStore) -> None:
        for n, (query, decision, confidence) in enumerate((
            ("택배 언제 와요", "answer", 0.95), ("택배 언제 와요", "answer", 0.9), ("반품", "suggest", 0.4),
            ("날씨", "none", 0.05), ("택배 언제 와요", "answer", 0.97),
        )):
            store.add_search(query, decision, "delivery-tracking" if decision == "answer" else None, confidence,
                             "ko", f"c{n}")
        store.add_search("택배 언제 와요", "answer", "delivery-tracking", 0.9, "ko", "c0")  # same client: once
        [day] = store.searches_per_day(7)
        assert (day.answer, day.suggest, day.none) == (3, 1, 1)
        top = store.top_queries(7, 2)
        assert [(t.query, t.clients, t.decision) for t in top] == [("택배 언제 와요", 3, "answer"), ("날씨", 1, "none")]
        store.add_unanswered("선물 포장", "none", "c9")
        store.add("택배 언제 와요", "delivery-tracking", False, "c7")
        gaps = {g.query: g for g in store.gap_queries(7)}
        assert set(gaps) == {"반품", "날씨", "선물 포장", "택배 언제 와요"}
        late = gaps["택배 언제 와요"]
        assert late.sources == ("not_helpful",) and late.top_article == "delivery-tracking"
        with pytest.raises(ValueError):
            store.add_search("q", "maybe", None, 0.5, "ko", "c")
        with pytest.raises(ValueError):
            store.add_search("q", "none", None, float("nan"), "ko", "c")

    def test_old_log_rows_are_deleted(self, store: FeedbackStore) -> None:
        store.add_search("예전", "answer", "a", 0.9, "ko", "c")
        store.add_unanswered("예전", "none", "c")
        assert store.prune(90) == 0
        for table in ("searches", "unanswered"):  # as if logged 100 days ago
            sql = store.engine.sql(f"UPDATE {table} SET day = ?")
            store.engine.run(lambda db, sql=sql: db.execute(sql, (_days_ago(100),)))
        store.add_search("오늘", "answer", "a", 0.9, "ko", "c")
        assert store.prune(90) == 2
        assert [q.query for q in store.top_queries(365)] == ["오늘"] and store.unanswered() == []

    def test_numbers_glued_to_hangul_are_scrubbed_too(self, store: FeedbackStore) -> None:
        store.add_unanswered("주문번호2024123456789 배송 kim@example.com으로 2024123456789번", "none", "c1")
        [row] = store.unanswered()
        assert "2024123456789" not in row.query and "example.com" not in row.query
        assert row.query.startswith("주문번호<번호>") and "<이메일>으로" in row.query

    # -- one-click fixes' status ------------------------------------------------------------------------

    def test_a_fix_status_round_trips(self, store: FeedbackStore) -> None:
        store = FixJobs(store.engine)  # type: ignore[assignment]
        assert store.latest_fix() is None and store.running_fix() is None and store.fix("nope") is None
        claim = FixStatus("a1", "add_question", "", "", (), state="starting")
        assert store.add_fix(claim)
        assert store.running_fix() == claim and store.latest_fix() is None  # still writing its edit: not shown
        running = replace(claim, article_id="delivery-tracking", file="배송/조회.md",
                          added=("내 물건 어디쯤이에요", 'a "b" \\ #c'), state="running")
        assert store.update_fix(running)
        assert store.fix("a1") == running == store.latest_fix() == store.running_fix()
        failed = replace(running, state="failed", messages=("lint: 질문이 겹쳐요", "the edit was reverted"),
                         reverted=True, finished=running.started + 2.5)
        assert store.update_fix(failed)
        assert store.fix("a1") == failed == store.latest_fix() and store.running_fix() is None
        assert not store.update_fix(replace(failed, id="nope"))
        with pytest.raises(ValueError):
            store.add_fix(replace(claim, id="a2", state="built"))  # a new fix holds the folder
        with pytest.raises(ValueError):
            store.update_fix(replace(failed, state="half-done"))

    def test_one_fix_at_a_time_across_replicas(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        store, replica = FixJobs(store.engine), FixJobs(replica.engine)  # type: ignore[assignment]
        first = FixStatus("f1", "new_article", "gap-1", "drafts/gap-1.md", ("하나",))
        assert store.add_fix(first)
        assert not replica.add_fix(FixStatus("f2", "new_article", "", "", (), state="starting"))
        assert replica.fix("f2") is None  # refused: nothing recorded
        assert replica.fix("f1") == first == replica.running_fix() == replica.latest_fix()  # the other one sees it
        assert store.update_fix(replace(first, state="built", finished=time.time()))
        assert replica.fix("f1").state == "built"  # type: ignore[union-attr]
        assert replica.add_fix(FixStatus("f3", "new_article", "", "", (), state="starting"))  # free again
        assert not store.add_fix(FixStatus("f4", "new_article", "", "", (), state="starting"))
        replica.discard_fix("f3")  # its edit was refused
        assert store.running_fix() is None and store.fix("f3") is None

    def test_sign_outs_are_shared(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        store, replica = SignIns(store.engine), SignIns(replica.engine)  # type: ignore[assignment]
        future = int(time.time()) + 3600
        assert not replica.signed_out("n1")
        assert store.sign_out("n1", future)
        assert store.sign_out("n1", future)  # twice: no error
        assert replica.signed_out("n1") and not replica.signed_out("n2")
        store.sign_out("n-old", int(time.time()) - 1)  # already expired: refused by the cookie check anyway
        assert not replica.signed_out("n-old")

    def test_wrong_keys_are_shared(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        store, replica = KeyFailures(store.engine), KeyFailures(replica.engine)  # type: ignore[assignment]
        t = 1_000_000.0
        assert store.fail("10.0.0.1", t, 900.0, 10) == []
        assert store.fail("10.0.0.1", t + 1, 900.0, 10) == [t]  # what was counted before this one
        assert replica.fail("10.0.0.1", t + 2, 900.0, 10) == [t + 1, t]
        assert store.recent("10.0.0.1", t + 3, 900.0, 10) == replica.recent("10.0.0.1", t + 3, 900.0, 10) == [
            t + 2, t + 1, t]
        assert store.recent("10.0.0.1", t + 3, 900.0, 2) == [t + 2, t + 1]  # the newest `limit`
        assert store.recent("10.0.0.2", t + 3, 900.0, 10) == []
        assert store.recent("10.0.0.1", t + 900.5, 900.0, 10) == [t + 2, t + 1]  # t has left the window
        for _ in range(5):  # a locked-out client's attempts are not counted: at most `limit` rows per client
            replica.fail("10.0.0.3", t, 900.0, 2)
        assert store.recent("10.0.0.3", t, 900.0, 10) == [t, t]
        store.fail("10.0.0.4", t + 5000, 900.0, 10)  # long after: the others' old rows are gone
        rows = store.engine.rows("SELECT client, at FROM key_failures")
        assert [at for _, at in rows] == [t + 5000]
        assert "10.0.0.4" not in str(rows)  # a salted hash, never the address

    def test_the_key_throttle_holds_across_replicas(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        clock = [1_000_000.0]
        here, there = (KeyThrottle(3, 60.0, clock=lambda: clock[0]) for _ in range(2))
        mine, theirs = KeyFailures(store.engine), KeyFailures(replica.engine)
        assert here.fail("c", mine) is None
        clock[0] += 1
        assert there.fail("c", theirs) is None
        clock[0] += 1
        assert here.fail("c", mine) is None  # the third wrong key is still only wrong
        assert there.wait("c", theirs) == here.wait("c", mine) == 58  # locked on both: the first + 60 s
        assert there.fail("c", theirs) == 58  # a wrong key while locked: refused as locked, and not counted
        assert there.wait("d", theirs) is None  # other clients go on
        clock[0] += 57.5
        assert there.wait("c", theirs) == 1
        clock[0] += 0.5
        assert there.wait("c", theirs) is None and here.wait("c", mine) is None

    def test_replicas_asking_at_once_get_one_fix(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        store, replica = FixJobs(store.engine), FixJobs(replica.engine)  # type: ignore[assignment]
        won: list[str] = []
        start = threading.Barrier(8)

        def claim(n: int) -> None:
            start.wait()
            if (store if n % 2 else replica).add_fix(FixStatus(f"c{n}", "new_article", "", "", (), state="starting")):
                won.append(f"c{n}")

        assert _in_threads(claim) == [] and len(won) == 1
        assert store.running_fix().id == won[0]  # type: ignore[union-attr]

    def test_a_fix_whose_process_died_stops_blocking(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        store, replica = FixJobs(store.engine), FixJobs(replica.engine)  # type: ignore[assignment]
        long_ago = time.time() - FIX_TIMEOUT - 5
        stuck = FixStatus("dead", "add_question", "delivery-tracking", "delivery-tracking.md", ("질문",),
                          started=long_ago)
        assert store.add_fix(stuck)
        seen = replica.fix("dead")  # failed as soon as it is late, before anyone writes it down
        assert seen is not None and seen.state == "failed" and seen.finished == long_ago + FIX_TIMEOUT
        assert "did not finish its build within 30 min" in seen.messages[0]
        assert replica.running_fix() is None and replica.latest_fix() == seen
        assert replica.add_fix(FixStatus("next", "new_article", "", "", (), state="starting"))  # not blocked
        written = store.fix("dead")  # and now it is written down so
        assert written is not None and (written.state, written.messages) == ("failed", seen.messages)
        assert not store.update_fix(stuck)  # it does not get the folder back
        # its process was only slow after all: the real outcome still replaces the time-out
        assert store.update_fix(replace(stuck, state="built", finished=time.time()))
        assert store.fix("dead").state == "built" and store.running_fix().id == "next"  # type: ignore[union-attr]

    def test_a_claim_that_never_wrote_its_edit_times_out_sooner(self, store: FeedbackStore,
                                                                replica: FeedbackStore) -> None:
        store, replica = FixJobs(store.engine), FixJobs(replica.engine)  # type: ignore[assignment]
        assert store.add_fix(FixStatus("c", "new_article", "", "", (), state="starting",
                                       started=time.time() - START_TIMEOUT - 5))
        assert replica.running_fix() is None
        assert "did not write its edit within 1 min" in replica.fix("c").messages[0]  # type: ignore[union-attr]
        assert replica.add_fix(FixStatus("d", "new_article", "", "", (), state="starting"))

    def test_only_the_newest_fixes_are_kept(self, store: FeedbackStore) -> None:
        store = FixJobs(store.engine)  # type: ignore[assignment]
        for n in range(FIXES_KEPT + 3):
            status = FixStatus(f"j{n}", "new_article", f"gap-{n}", f"drafts/gap-{n}.md", ("q",))
            assert store.add_fix(status)
            assert store.update_fix(replace(status, state="failed", finished=time.time()))
        assert [store.fix(f"j{n}") is None for n in range(4)] == [True, True, True, False]
        assert store.latest_fix().id == f"j{FIXES_KEPT + 2}"  # type: ignore[union-attr]
        assert store._rows("SELECT COUNT(*) FROM fixes")[0][0] == FIXES_KEPT

    def test_fixes_are_not_exported(self, store: FeedbackStore) -> None:
        assert FixJobs(store.engine).add_fix(FixStatus("x", "new_article", "gap", "drafts/gap.md", ("q",)))
        assert "fixes" not in store.export()  # transient: the outcome is in the articles and builds

    # -- one client weighs one customer (issue 17) --------------------------------------------------------

    def test_a_flood_from_one_client_counts_as_one_customer_in_the_gap_report(self, store: FeedbackStore) -> None:
        _report(store, [(f"aa{i:04d} cheap pills", "198.51.100.66") for i in range(2100)])  # one client's flood
        real = ("선물 포장 되나요", "선물용으로 포장해 주실 수 있나요", "포장지 골라서 선물 포장 가능한가요")
        _report(store, [(q, f"203.0.113.{n}") for n, q in enumerate(real)])  # three customers, three wordings
        _report(store, [("매장 픽업 가능한가요", "192.0.2.1"), ("매장 픽업 가능한가요", "192.0.2.2")])
        report = store.gap_report(30, limit=2000)
        ranked = [(g.query, g.clients) for g in report.queries]
        # most customers first; ties: the customers' own reports before a client's tenth of the day
        assert ranked[:4] == [("매장 픽업 가능한가요", 2), *((q, 1) for q in sorted(real))]
        junk = [q for q, _ in ranked if q.startswith("aa")]
        assert junk == [f"aa{i:04d} cheap pills" for i in range(GAP_REPORTS_PER_CLIENT_DAY)]  # its first ones
        assert len(report.clients["매장 픽업 가능한가요"]) == 2
        assert len({c for q in junk for c in report.clients[q]}) == 1
        assert store.gap_queries(30, limit=3) == report.queries[:3]

    def test_a_clients_reports_beyond_its_daily_cap_count_for_nothing(self, store: FeedbackStore) -> None:
        _report(store, [(f"질문 {i:02d}", "c1") for i in range(GAP_REPORTS_PER_CLIENT_DAY + 2)])
        _report(store, [(f"질문 {GAP_REPORTS_PER_CLIENT_DAY + 1:02d}", "c2")])  # also reported by c1, past its cap
        clients = store.gap_clients(30)
        assert len(clients) == GAP_REPORTS_PER_CLIENT_DAY + 1
        assert f"질문 {GAP_REPORTS_PER_CLIENT_DAY:02d}" not in clients
        assert len(clients[f"질문 {GAP_REPORTS_PER_CLIENT_DAY + 1:02d}"]) == 1
        store.add_search("질문 00", "none", None, 0.1, "ko", "c1")  # a second source of a query counted already
        [first] = [g for g in store.gap_queries(30) if g.query == "질문 00"]
        assert first.clients == 1 and first.sources == ("low_confidence", "unanswered")

    def test_the_chart_counts_customers_not_searches(self, store: FeedbackStore) -> None:
        for i in range(300):  # one client's 300 settled searches that found nothing
            store.add_search(f"없는 질문 {i}", "none", None, 0.05, "ko", "198.51.100.66")
        store.add_search("반품", "answer", "return-request", 0.9, "ko", "c1")
        store.add_search("배송", "none", None, 0.1, "ko", "c1")
        [day] = store.searches_per_day(7)
        assert (day.answer, day.suggest, day.none, day.customers, day.searches) == (1, 0, 2, 2, 302)

    def test_a_search_id_is_logged_once_on_every_replica(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        later = int(time.time()) + 600
        store.add_search("반품", "answer", "return-request", 0.9, "ko", "c1", once=("nonce-1", later))
        with pytest.raises(AlreadyLogged):
            replica.add_search("환불", "none", None, 0.1, "ko", "c2", once=("nonce-1", later))
        with pytest.raises(AlreadyLogged):
            store.add_search("반품", "answer", "return-request", 0.9, "ko", "c1", once=("nonce-1", later))
        assert [q.query for q in store.top_queries(7)] == ["반품"]  # the refused ones changed nothing
        store.add_search("배송", "none", None, 0.1, "ko", "c3", once=("gone", int(time.time()) - 1))
        replica.add_search("배송", "none", None, 0.1, "ko", "c3", once=("nonce-2", later))
        kept = store.engine.rows("SELECT nonce FROM search_ids ORDER BY nonce")
        assert kept == [("nonce-1",), ("nonce-2",)]  # expired ones are deleted as new ones come
        assert "search_ids" not in store.export()  # transient


def _report(store: FeedbackStore, rows: list[tuple[str, str]]) -> None:
    """(query, client address) as unanswered reports of today, in one transaction (thousands at once)."""
    created, day = now()
    sql = store.engine.sql("INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, 'none')")

    def work(db: object) -> None:
        for query, address in rows:
            db.execute(sql, (created, day, store.engine.client(db, address), query))  # type: ignore[attr-defined]

    store.engine.run(work)


class EvidenceContract:
    """Learning's evidence and the editors' decisions (kb.feedback.evidence), on every engine."""

    def test_evidence_is_stored_once_per_client_wording_article_and_signal(self, store: FeedbackStore) -> None:
        evidence = Evidence(store.engine)
        assert evidence.rows() == [] and evidence.decisions() == {}
        assert evidence.add("  환불은   언제 되나요?? ", "refund", "helpful", "1.1.1.1", 2)
        assert not evidence.add("환불은 언제 되나요", "refund", "helpful", "1.1.1.1", 1)  # the same wording: a repeat
        assert evidence.add("환불은 언제 되나요", "refund", "opened", "1.1.1.1", 1)  # another signal
        assert evidence.add("환불은 언제 되나요", "refund", "helpful", "2.2.2.2", None)  # another client
        assert evidence.add("환불은 언제 되나요", "return", "helpful", "1.1.1.1", 3, confident=True)  # another article
        rows = evidence.rows()
        assert [r.confident for r in rows] == [None, None, None, True]  # whether kb answered it outright
        assert [(r.query, r.article_id, r.signal, r.rank, r.audience) for r in rows] == [
            ("환불은 언제 되나요", "refund", "helpful", 2, "public"),
            ("환불은 언제 되나요", "refund", "opened", 1, "public"),
            ("환불은 언제 되나요", "refund", "helpful", None, "public"),
            ("환불은 언제 되나요", "return", "helpful", 3, "public")]
        assert rows[0].client == rows[1].client != rows[2].client and "1.1.1.1" not in repr(rows)
        assert len({r.day for r in rows}) == 1

    def test_evidence_refuses_what_cannot_be_learned(self, store: FeedbackStore) -> None:
        evidence = Evidence(store.engine)
        assert not evidence.add("?!~ ", "a", "helpful", "c", 1)
        assert not evidence.add("가" * (MAX_WORDING_CHARS + 1), "a", "helpful", "c", 1)
        assert evidence.add("가" * MAX_WORDING_CHARS + "???", "a", "helpful", "c", 1)
        assert evidence.add("배송 010-1234-5678 kim@example.com\x00", "a", "copied", "c", 12, "agents")
        assert [(r.query, r.rank) for r in evidence.rows()] == [
            ("가" * MAX_WORDING_CHARS, 1), ("배송 <전화번호> <이메일>", None)]  # beyond the top 10: NULL
        for bad in ({"signal": "loved"}, {"audience": "staff"}, {"rank": 0}, {"rank": True}, {"article_id": " "}):
            args = {"query": "q", "article_id": "a", "signal": "helpful", "client": "c", "rank": 1,
                    "audience": "public", **bad}
            with pytest.raises(ValueError):
                evidence.add(**args)  # type: ignore[arg-type]

    def test_a_client_is_capped_per_day(self, store: FeedbackStore) -> None:
        evidence = Evidence(store.engine, daily_cap=3)
        assert [evidence.add(f"질문 {n}", "a", "helpful", "bot", 1) for n in range(5)] == [True] * 3 + [False] * 2
        assert evidence.add("질문 9", "a", "helpful", "someone else", 1)
        sql = store.engine.sql("UPDATE evidence SET day = ?")
        store.engine.run(lambda db: db.execute(sql, (_days_ago(1),)))  # as if sent yesterday
        assert evidence.add("질문 3", "a", "helpful", "bot", 1)  # a new day
        assert not evidence.add("질문 0", "a", "helpful", "bot", 1)  # still a repeat, whatever the day
        assert len(evidence.rows()) == 5 and len(evidence.rows(days=0)) == 1

    def test_one_client_counts_once_even_from_threads_and_replicas(self, store: FeedbackStore,
                                                                    replica: FeedbackStore) -> None:
        engines = (Evidence(store.engine), Evidence(replica.engine))
        start = threading.Barrier(8)
        stored: list[bool] = []

        def send(n: int) -> None:
            start.wait()
            stored.append(engines[n % 2].add("쿠폰 어디서 받아요", "coupon", "helpful", "one client", 1))
            engines[n % 2].add(f"쿠폰 {n}", "coupon", "helpful", f"client {n}", 1)

        assert _in_threads(send) == [] and stored.count(True) == 1
        assert len(engines[1].rows()) == 9

    def test_decisions_stick_and_can_be_withdrawn(self, store: FeedbackStore, replica: FeedbackStore) -> None:
        evidence, other = Evidence(store.engine), Evidence(replica.engine)
        evidence.decide("환불 언제 돼요?", "refund", "accepted")
        evidence.decide("환불 언제 돼요", "refund", "rejected")  # the same pair: replaced
        evidence.decide("Gift WRAP", "gift", "promoted")
        assert other.decisions() == {("환불 언제 돼요", "refund"): "rejected", ("gift wrap", "gift"): "promoted"}
        with pytest.raises(ValueError):
            evidence.decide("q", "a", "maybe")
        with pytest.raises(ValueError):
            evidence.decide("???", "a", "accepted")
        assert other.undecide("GIFT wrap!", "gift") and not other.undecide("gift wrap", "gift")
        assert evidence.decisions() == {("환불 언제 돼요", "refund"): "rejected"}

    def test_evidence_can_be_forgotten_and_pruned(self, store: FeedbackStore) -> None:
        evidence = Evidence(store.engine)
        for n, (query, article) in enumerate((("반품", "a"), ("반품", "b"), ("교환", "a"), ("배송", "c"))):
            evidence.add(query, article, "helpful", f"c{n}", 1)
        evidence.decide("반품", "a", "rejected")
        with pytest.raises(ValueError):
            evidence.forget()
        assert evidence.forget("반품?", "a") == 1
        assert evidence.forget(article_id="a") == 1 and evidence.forget("반품") == 1
        assert [(r.query, r.article_id) for r in evidence.rows()] == [("배송", "c")]
        assert evidence.decisions() == {("반품", "a"): "rejected"}  # a rejection outlives its evidence
        assert evidence.prune(30) == 0
        sql = store.engine.sql("UPDATE evidence SET day = ?")
        store.engine.run(lambda db: db.execute(sql, (_days_ago(40),)))
        assert evidence.prune(30) == 1 and evidence.rows() == []

    def test_evidence_and_decisions_are_exported(self, store: FeedbackStore) -> None:
        evidence = Evidence(store.engine)
        evidence.add("반품", "a", "copied", "c", 2, "agents", confident=True)
        evidence.decide("반품", "b", "rejected")
        rows = store.export()
        assert [r[3:] for r in rows["evidence"]] == [("반품", "a", "copied", 2, "agents", 1)]
        assert [r[:3] for r in rows["learn_decisions"]] == [("반품", "b", "rejected")]
