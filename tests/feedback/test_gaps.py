"""Gaps grouped by meaning (kb.feedback.gaps) and `kb gaps`: unit tests on a fake embedder, and three planted topics on
the real model and the sample articles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kb.cli import main
from kb.feedback.engine import Engine, StoreUnavailable, now
from kb.feedback.gaps import (
    GapGroup,
    Suggestion,
    VectorCache,
    cluster,
    distances,
    find_gaps,
    format_groups,
    group_gaps,
    groups_json,
)
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import GAP_REPORTS_PER_CLIENT_DAY, FeedbackStore, GapQuery
from kb.pipeline import open_build
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

PII = "제 번호 010-1234-5678, 01012345678 이고 메일 kim.minsu@example.com 주문번호 2024123456789 배송 안 와요"


def test_distances_and_cluster() -> None:
    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    vectors = np.vstack([a, a * 2, b, b + 0.01 * a])
    terms = [["배송"], ["배송"], ["반품"], ["반품"]]
    grams = [["#배", "배송", "송#"]] * 2 + [["#반", "반품", "품#"]] * 2
    d = distances(vectors, terms, grams)
    assert d.shape == (6,) and d[0] == pytest.approx(0.0, abs=1e-6) and d[1] == pytest.approx(1.0, abs=1e-6)
    labels = cluster(d, 4)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    assert list(cluster(distances(vectors[:0], [], []), 0)) == []
    assert list(cluster(distances(vectors[:1], terms[:1], grams[:1]), 1)) == [0]
    # centred on a+b, the small differences are what is left: far apart; the centre itself keeps its direction
    centred = distances(np.vstack([a + b, a + b + 0.1 * a, a + b + 0.1 * b]), [[], [], []], [[], [], []], a + b)
    assert len(set(cluster(centred, 3, threshold=0.5))) >= 2
    assert np.isfinite(centred).all()


def test_distances_among_some_rows() -> None:
    from scipy.spatial.distance import pdist, squareform

    from kb.feedback.gaps import _within

    points = np.random.default_rng(0).standard_normal((9, 3))
    condensed = pdist(points)
    rows = [0, 2, 3, 7, 8]
    assert np.allclose(_within(condensed, 9, rows), squareform(squareform(condensed)[np.ix_(rows, rows)]))


def test_vector_cache_keeps_the_newest() -> None:
    cache = VectorCache(size=2)
    for i, text in enumerate("abc"):
        cache[text] = np.full(2, i, dtype=np.float32)
    assert list(cache) == ["b", "c"]


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    s = FeedbackStore(SQLiteEngine(tmp_path / "feedback.sqlite"))
    s.add_unanswered("배송 언제", "none", "a")
    s.add_unanswered("배송 언제", "contact", "b")
    s.add_unanswered("배송 언제 와요", "none", "a")  # the same client again, in another query of the group
    s.add_unanswered("배송 언제 와요", "none", "c")
    s.add_search("배송 언제 오나", "suggest", "delivery-tracking", 0.2, "ko", "d")
    s.add_search("배송 조회", "answer", "delivery-tracking", 0.95, "ko", "e")  # confident: not a gap
    s.add("배송 왜 안 와", "delivery-tracking", False, "e")
    return s


def test_gap_clients_and_one_count_per_client(store: FeedbackStore, small_index: Path) -> None:
    clients = store.gap_clients(30)
    assert clients == {"배송 언제": {*clients["배송 언제"]}, "배송 언제 와요": {*clients["배송 언제 와요"]},
                       "배송 언제 오나": {*clients["배송 언제 오나"]}, "배송 왜 안 와": {*clients["배송 왜 안 와"]}}
    assert [len(clients[q]) for q in ("배송 언제", "배송 언제 와요", "배송 언제 오나", "배송 왜 안 와")] == [2, 2, 1, 1]
    searcher = open_build(small_index, FakeEmbedder())
    gaps = store.gap_queries(30)
    assert sum(g.clients for g in gaps) == 6
    [group] = group_gaps(gaps, searcher, clients=clients, threshold=2.0)  # every query in one group
    assert group.count == 5 and group.queries == 4  # a, b, c, d, e: `a` typed two of them, counted once
    assert group.examples[:2] == ("배송 언제", "배송 언제 와요")  # most frequent first
    [approx] = group_gaps(gaps, searcher, clients={}, threshold=2.0)
    assert approx.count == 6  # without client sets: per-query counts summed


def test_group_gaps_caches_vectors_and_suggestions(store: FeedbackStore, small_index: Path) -> None:
    embedder = FakeEmbedder()
    searcher = open_build(small_index, embedder)
    cache: VectorCache = VectorCache()
    memo: dict[tuple[str, ...], Suggestion] = {}
    first = group_gaps(store.gap_queries(30), searcher, cache=cache, memo=memo)
    calls = embedder.calls
    assert group_gaps(store.gap_queries(30), searcher, cache=cache, memo=memo) == first
    assert embedder.calls == calls  # nothing embedded again
    assert len(cache) == 4 and memo
    assert group_gaps([], searcher) == [] and group_gaps(store.gap_queries(30), searcher, limit=0) == []
    long = [GapQuery("배송 " * 400, 1, ("unanswered",), None)]  # longer than a search query may be
    assert len(group_gaps(long, searcher)) == 1


class Down(Engine):
    """An engine whose database is away."""

    def run(self, work: Any) -> Any:
        raise StoreUnavailable("down")


def test_unusable_store_gives_no_gaps_and_rules_nothing_out() -> None:
    store = FeedbackStore(Down())
    assert store.gap_clients(30) == {} and store.gap_queries(30) == [] and store.voted_down() == {}


def report(store: FeedbackStore, rows: list[tuple[str, str]]) -> None:
    """(query, client address) as unanswered reports of today, in one transaction (thousands at once)."""
    created, day = now()
    sql = store.engine.sql("INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, 'none')")

    def work(db: Any) -> None:
        for query, address in rows:
            db.execute(sql, (created, day, store.engine.client(db, address), query))

    store.engine.run(work)


REAL_GAP = ("선물 포장 되나요", "선물용으로 포장해 주실 수 있나요", "포장지 골라서 선물 포장 가능한가요")


def test_a_flood_from_one_client_cannot_push_a_real_gap_off_the_report(tmp_path: Path, small_index: Path) -> None:
    store = FeedbackStore(SQLiteEngine(tmp_path / "feedback.sqlite"))
    # 2,100 distinct junk reports from one client (ASCII: before Hangul in any alphabetical tie), then three
    # customers typing one real gap three ways
    report(store, [(f"aa{i:04d} cheap pills", "198.51.100.66") for i in range(2100)])
    report(store, [(q, f"203.0.113.{n}") for n, q in enumerate(REAL_GAP)])
    groups = find_gaps(store, open_build(small_index, FakeEmbedder()), limit=20)
    shown = [q for g in groups for q in g.examples]
    assert set(REAL_GAP) <= set(shown)
    assert sum(1 for q in shown if q.startswith("aa")) <= GAP_REPORTS_PER_CLIENT_DAY  # the rest counts for nothing


# --- what customers voted "not helpful" ----------------------------------------------------------------


class StubSearcher:
    """Answers every query with the same ranked articles, confidence and on-topic probability."""

    def __init__(self, ranked: list[str], confidence: float, on_topic: float) -> None:
        from types import SimpleNamespace

        self.ranked, self.confidence, self.on_topic = ranked, confidence, on_topic
        self.index = SimpleNamespace(articles={a: SimpleNamespace(title=a.upper()) for a in ranked}, build_id="b")

    def search_many(self, texts: list[str], k: int = 5) -> list[Any]:
        from kb.search.searcher import Hit, SearchResponse

        hits = tuple(Hit(a, a, a, "", "", "", "ko", 1.0, 0.9, 1.0, (), "question") for a in self.ranked[:k])
        return [SearchResponse(t, hits, "suggest", self.confidence, 1.0, self.on_topic) for t in texts]


def test_suggest_passes_over_an_article_voted_not_helpful() -> None:
    from kb.feedback.gaps import suggest

    searcher = StubSearcher(["return-shipping-fee", "shipping-fee", "exchange-request"], 0.6, 0.99)
    assert suggest(searcher, ["배송비"]).article_id == "return-shipping-fee"  # type: ignore[arg-type]
    # customers said the first does not answer it: the next one, with the chance that a right one is among the
    # others, (0.99 - 0.6) / (1 - 0.6)
    found = suggest(searcher, ["배송비"], exclude={"return-shipping-fee"})  # type: ignore[arg-type]
    assert (found.kind, found.article_id, found.on_topic) == ("add_question", "shipping-fee", 0.975)
    # a confident first answer voted down leaves little chance for the others: a new article
    sure = StubSearcher(["return-shipping-fee", "shipping-fee"], 0.99, 0.995)
    found = suggest(sure, ["배송비"], exclude={"return-shipping-fee"})  # type: ignore[arg-type]
    assert found.kind == "new_article" and found.article_id is None
    assert suggest(sure, ["배송비"], exclude={"return-shipping-fee", "shipping-fee"}).kind == "new_article"  # type: ignore[arg-type]


def test_a_group_never_goes_to_an_article_voted_not_helpful_for_its_queries(tmp_path: Path,
                                                                             small_index: Path) -> None:
    searcher = open_build(small_index, FakeEmbedder())
    store = FeedbackStore(SQLiteEngine(tmp_path / "votes.sqlite"))
    store.add_unanswered("택배 언제 와요", "none", "f")
    memo: dict[tuple[str, ...], Suggestion] = {}

    def group_of(groups: list[GapGroup]) -> GapGroup:
        return next(g for g in groups if "택배 언제 와요" in g.examples)

    before = group_of(find_gaps(store, searcher, memo=memo))
    assert before.suggestion.article_id == "delivery-tracking" and before.not_helpful == ()
    store.add("택배 언제 와요", "delivery-tracking", False, "g")  # the answer shown did not help
    store.add("택배 언제 와요", "return-request", True, "g")  # a helpful vote rules nothing out
    assert store.voted_down() == {"택배 언제 와요": {"delivery-tracking"}}
    after = group_of(find_gaps(store, searcher, memo=memo))  # the same memo: the votes are part of its key
    assert after.suggestion.article_id != "delivery-tracking" and after.not_helpful == ("delivery-tracking",)
    assert after.to_json()["not_helpful"] == ["delivery-tracking"]
    assert "voted not helpful: delivery-tracking" in format_groups([after], 30)


# --- what editors handled already ----------------------------------------------------------------------


def test_handled_wordings_are_the_questions_of_articles_and_drafts(small_kb: Path, write_article: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.feedback.gapmarks as marks
    from kb.articles.lint import _norm

    write_article("gap-1", "(초안)", folder=small_kb / "drafts", title="판매자 연락처", status="draft",
                  questions=["셀러한테 물어보고 싶어요"])
    askers = marks.Askers()
    found = askers.read(small_kb)
    assert found[marks.question_key("택배 언제 와요")] == marks.Asker(
        "delivery-tracking", "배송 조회는 어떻게 하나요?", "delivery-tracking.md", False)
    assert found[marks.question_key("셀러한테 물어보고 싶어요!")] == marks.Asker(
        "gap-1", "판매자 연락처", "drafts/gap-1.md", True)
    for text in ("택배 언제 와요?", "Refund  Timing!", "비번_까먹었어요"):  # the comparison lint makes
        assert marks.question_key(text) == _norm(text)
    assert marks.handled_json(["택배 언제 와요", "판매자 연락처"], found)["status"] == "handled"
    partly = marks.handled_json(["택배 언제 와요", "포장 뜯었는데 반품 돼요"], found)
    assert partly == {"status": "partly_handled", "handled": [{
        "query": "택배 언제 와요", "article_id": "delivery-tracking", "title": "배송 조회는 어떻게 하나요?",
        "file": "delivery-tracking.md", "draft": False}]}
    assert marks.handled_json(["포장 뜯었는데 반품 돼요"], found) == {"status": "open", "handled": []}

    parsed: list[Path] = []
    real = marks.parse_article

    def counted(path: Path) -> Any:
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(marks, "parse_article", counted)
    assert askers.read(small_kb) == found and parsed == []  # nothing changed: nothing parsed again
    write_article("gap-1", "(초안)", folder=small_kb / "drafts", title="판매자 연락처", status="draft",
                  questions=["셀러한테 물어보고 싶어요", "입점 업체 전화번호"])
    assert marks.question_key("입점 업체 전화번호") in askers.read(small_kb)
    assert parsed == [small_kb / "drafts" / "gap-1.md"]
    (small_kb / "drafts" / "gap-1.md").unlink()
    assert marks.question_key("판매자 연락처") not in askers.read(small_kb)
    (small_kb / "broken.md").write_text("no front matter", encoding="utf-8")
    assert marks.question_key("택배 언제 와요") in askers.read(small_kb)  # a broken file is lint's business


def test_without_the_articles_folder_the_served_articles_ask(tmp_path: Path, small_kb: Path) -> None:
    from kb.articles.parse import load_articles
    from kb.feedback.gapmarks import Asker, Askers, question_key

    served = [a for a in load_articles(small_kb) if a.published]
    found = Askers().read(tmp_path / "nowhere", served)
    assert found[question_key("반품하고 싶어요")] == Asker("return-request", "반품 신청은 어떻게 하나요?", "", False)


def test_json_and_text() -> None:
    groups = [GapGroup(3, ("a", "b"), 2, Suggestion("add_question", "x", "엑스", 0.9)),
              GapGroup(1, ("c",), 1, Suggestion("new_article", on_topic=0.2))]
    assert groups_json(groups) == {"groups": [
        {"count": 3, "examples": ["a", "b"], "suggestion": {"kind": "add_question", "article_id": "x"}},
        {"count": 1, "examples": ["c"], "suggestion": {"kind": "new_article"}}]}
    text = format_groups(groups, 30)
    assert "add as a question of x (엑스)" in text and "draft a new article" in text
    assert format_groups([], 7) == "no searches without a good answer in the last 7 days"


# --- kb gaps ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch, small_settings: Settings) -> Path:
    """`kb gaps` on the small index with the fake embedder."""
    import kb.model.embed

    monkeypatch.setattr(kb.model.embed, "load_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setenv("KB_MODEL", "fake-ngram-64")
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    return small_settings.index_dir


def test_kb_gaps_without_a_store(fake_cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gaps", "--index", str(fake_cli)]) == 0
    assert "no searches without a good answer" in capsys.readouterr().out
    assert not (fake_cli / "feedback.sqlite").exists()  # reading creates nothing
    assert main(["gaps", "--index", str(fake_cli), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"groups": []}


def test_kb_gaps_usage_and_missing_index(fake_cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["gaps", "--index", str(fake_cli), "--days", "0"])
    assert e.value.code == 2
    capsys.readouterr()
    assert main(["gaps", "--index", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.startswith("kb: error: ")


def test_kb_gaps_reports_no_personal_data(fake_cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = FeedbackStore(SQLiteEngine(fake_cli / "feedback.sqlite"))
    store.add_unanswered(PII, "none", "10.1.2.3")
    store.add_search(PII, "none", None, 0.1, "ko", "10.1.2.4")
    store.close()
    assert main(["gaps", "--index", str(fake_cli), "--json"]) == 0
    out = capsys.readouterr().out
    [group] = json.loads(out)["groups"]
    assert group["count"] == 2
    for secret in ("010-1234-5678", "01012345678", "kim.minsu@example.com", "2024123456789", "10.1.2"):
        assert secret not in out
    assert "<전화번호>" in out and "<이메일>" in out and "<번호>" in out


# --- the real model: three topics customers typed -------------------------------------------------------

# six ways customers typed each (two topics a sample article covers, one none does)
TOPICS = {
    "new_article": ["판매자한테 연락하고 싶어요", "셀러 문의 어디서 해요", "판매자 전화번호",
                    "파는 사람한테 직접 물어볼 수 있나요", "판매자 연락처 좀 알려주세요",
                    "입점 업체랑 통화하고 싶어요"],
    "points-expiry": ["포인트 언제까지 써야 돼요", "적립금 유효기간", "포인트 소멸 날짜 확인", "포인트가 사라졌어요",
                      "한결포인트 만료", "적립한 포인트 기한 지나면 없어져요?"],
    "account-delete": ["회원 탈퇴하고 싶어요", "계정 삭제 어떻게 해요", "탈퇴 방법 알려주세요",
                       "한결마켓 그만 쓸래요 계정 없애 주세요", "아이디 삭제", "회원정보 완전히 지우고 싶어요"],
}


def test_kb_gaps_groups_three_topics_by_meaning(sample_index: Path, real_settings: Settings, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    shutil.copytree(sample_index, index, symlinks=True)  # `current` is relative: it follows the copy
    (index / "feedback.sqlite").unlink(missing_ok=True)
    store = FeedbackStore(SQLiteEngine(index / "feedback.sqlite"))
    for t, queries in enumerate(TOPICS.values()):
        for j, query in enumerate(queries):
            # four clients per topic, one or two per query: a group counts each client once
            for c in range(1 + j % 2):
                store.add_unanswered(query, "none", f"10.{t}.0.{(j + c) % 4}")
    for client in ("10.9.9.8", "10.9.9.9"):  # settled with low confidence: a gap too, and the most frequent query
        store.add_search(TOPICS["points-expiry"][0], "suggest", "points-expiry", 0.3, "ko", client)
    store.close()
    monkeypatch.setenv("KB_CACHE_DIR", str(real_settings.cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("KB_MODEL", "KB_DATABASE_URL", "KB_PRECISION"):
        monkeypatch.delenv(var, raising=False)

    assert main(["gaps", "--json", "--index", str(index)]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert len(groups) == 3, groups
    by_topic = {}
    for g in groups:
        [topic] = [name for name, queries in TOPICS.items() if set(g["examples"]) == set(queries)]
        by_topic[topic] = g
    assert by_topic["new_article"]["suggestion"] == {"kind": "new_article"}
    for article in ("points-expiry", "account-delete"):
        assert by_topic[article]["suggestion"] == {"kind": "add_question", "article_id": article}
    assert by_topic["points-expiry"]["count"] == 6 and by_topic["account-delete"]["count"] == 4
    assert by_topic["points-expiry"]["examples"][0] == TOPICS["points-expiry"][0]  # the most frequent first
    assert groups[0] is by_topic["points-expiry"]  # the most customers first
