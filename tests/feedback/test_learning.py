"""kb.feedback.learning: the one policy, guard by guard; the end of the path through a real (fake-embedder) build
and search for audience and poison."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kb.articles.parse import Article, Section, load_articles
from kb.feedback.evidence import Evidence, EvidenceRow
from kb.feedback.learning import DEFAULT_POLICY, Learned, Policy, learn, live_questions
from kb.feedback.sqlite import SQLiteEngine
from kb.index.build import build_index
from kb.index.store import load_index
from kb.search.searcher import Searcher
from tests.support.fakes import FakeEmbedder


def article(id: str, *, audience: str = "public", status: str = "published", questions: Sequence[str] = (),
            sections: Sequence[str] = ()) -> Article:
    return Article(id=id, title=f"{id} 제목", category="c", tags=(), locale="ko", questions=tuple(questions),
                   status=status, body=f"{id} 답변", path=f"{id}.md", audience=audience,
                   sections=tuple(Section(q, "답", 1) for q in sections))


ARTICLES = [article("refund", questions=("환불 언제 돼요",)), article("return"), article("coupon"),
            article("agent-macro", audience="agents"), article("old", status="draft")]


def row(query: str, article_id: str = "refund", signal: str = "helpful", client: str = "c1", rank: int | None = 1,
        audience: str = "public", confident: bool | None = None) -> EvidenceRow:
    return EvidenceRow(query, article_id, signal, client, rank, audience, "2026-12-01", confident)


def one(rows: Sequence[EvidenceRow], decisions: dict[tuple[str, str], str] | None = None, mode: str = "auto",
        policy: Policy = DEFAULT_POLICY) -> Learned | None:
    """The single pair the rows are about, or None when it is not listed."""
    out = learn(rows, decisions or {}, ARTICLES, mode, policy)
    assert len(out) <= 1, out
    return out[0] if out else None


def state(rows: Sequence[EvidenceRow], **kw: object) -> str | None:
    found = one(rows, **kw)  # type: ignore[arg-type]
    return None if found is None else found.state


# -- the guards, one by one ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("rank", "expected"), [(1, "live"), (2, "pending"), (3, "pending"), (4, "pending"),
                                               (None, "pending")])
def test_one_customer_alone_teaches_only_kbs_own_first_article(rank: int | None, expected: str) -> None:
    found = one([row("돈 언제 돌려받아요", rank=rank)])
    assert found is not None and found.state == expected and found.best_rank == rank
    if rank is None or rank > 3:
        assert "outside its top 3" in found.reason
    elif expected == "pending":  # a re-ranking inside the top 3 that nothing corroborates
        assert "ranks another article first" in found.reason


def learned_states(rows: Sequence[EvidenceRow], policy: Policy = DEFAULT_POLICY) -> dict[str, str]:
    return {x.wording: x.state for x in learn(rows, {}, ARTICLES, policy=policy)}


@pytest.mark.parametrize("rank", [2, 3])
def test_a_customers_re_ranking_counts_once_another_client_confirmed_the_article_first(rank: int) -> None:
    anchor = row("환불 언제 돌려받나요", client="other", rank=1)  # kb ranked refund first, another customer agreed
    moved = row("돈 언제 돌려받아요", rank=rank)
    assert learned_states([anchor, moved]) == {"환불 언제 돌려받나요": "live", "돈 언제 돌려받아요": "live"}
    # the anchor must be another client's, for the article kb ranked first
    assert learned_states([row("환불 언제 돌려받나요", rank=1), moved])["돈 언제 돌려받아요"] == "pending"
    assert learned_states([row("환불 언제 돌려받나요", client="other", rank=2), moved]) == {
        "환불 언제 돌려받나요": "pending", "돈 언제 돌려받아요": "pending"}
    # a shop may ask for a similar wording (character pairs, Policy.similar) or for no anchor at all
    unlike = row("쿠폰 사용법 알려줘", client="other")
    assert learned_states([unlike, moved])["돈 언제 돌려받아요"] == "live"
    assert learned_states([unlike, moved], Policy(similar=0.2))["돈 언제 돌려받아요"] == "pending"
    assert learned_states([anchor, moved], Policy(similar=0.2))["돈 언제 돌려받아요"] == "live"
    assert learned_states([anchor, moved], Policy(similar=0.9))["돈 언제 돌려받아요"] == "pending"
    assert learned_states([moved], Policy(corroborate=False))["돈 언제 돌려받아요"] == "live"
    # a client that teaches nothing alone (behind too many pairs) anchors nothing either
    script = [row(f"환불 {n}", client="script", rank=1) for n in range(DEFAULT_POLICY.solo_pairs + 1)]
    assert learned_states([*script, moved])["돈 언제 돌려받아요"] == "pending"


@pytest.mark.parametrize(("rank", "expected"), [(1, "live"), (3, "live"), (4, "pending"), (None, "pending")])
def test_agents_teach_inside_kbs_top_3(rank: int | None, expected: str) -> None:  # no anchor needed: trusted
    assert state([row("돈 언제 돌려받아요", rank=rank, signal="copied", audience="agents")]) == expected


def test_inside_the_guard_one_customers_helpful_vote_is_enough() -> None:
    found = one([row("돈 언제 돌려받아요", rank=1)])
    assert found == Learned("돈 언제 돌려받아요", "refund", "live", found.reason, clients=1, helpful=1, best_rank=1,  # type: ignore[union-attr]
                            why="guards")
    assert live_questions([found]) == {"refund": ("돈 언제 돌려받아요",)}  # type: ignore[list-item]
    # without corroboration (Policy(corroborate=False)), one vote for kb's runner-up is learned too
    assert state([row("돈 언제 돌려받아요", rank=2)], policy=Policy(corroborate=False)) == "live"
    assert state([row("돈 언제 돌려받아요", rank=2)], policy=Policy(customer_top=1, corroborate=False)) == "pending"


@pytest.mark.parametrize(("signals", "expected"), [
    (["opened"], None), (["opened", "opened"], None), (["opened"] * 3, "live"),
    (["reformulated"], None), (["reformulated"] * 2, "live"),
    (["reformulated", "opened"], None), (["reformulated", "opened", "opened"], "live"),
])
def test_weaker_signals_need_more_distinct_clients(signals: list[str], expected: str | None) -> None:
    rows = [row("돈 언제 돌려받아요", signal=s, client=f"c{n}") for n, s in enumerate(signals)]
    assert state(rows) == expected


def test_one_client_weighs_once_across_signals() -> None:
    rows = [row("돈 언제 돌려받아요", signal=s) for s in ("opened", "reformulated")]  # one client, two signals
    assert state(rows) is None
    rows.append(row("돈 언제 돌려받아요", signal="helpful"))
    found = one(rows)
    assert found is not None and found.state == "live" and found.clients == 1
    assert (found.helpful, found.opened, found.reformulated) == (1, 1, 1)


def test_only_an_editor_overturns_a_confident_answer() -> None:
    # kb answered the wording outright with another article: customers cannot move it, however many
    rows = [row("돈 언제 돌려받아요", rank=2, confident=True, client=f"c{n}") for n in range(50)]
    found = one(rows)
    assert found is not None and found.state == "pending" and "overturns a confident answer" in found.reason
    assert state(rows, policy=Policy(keep_confident=False, corroborate=False)) == "live"
    # when kb was not sure, one customer's vote is enough (uncorroborated here); kb's own
    # confident answer may be reinforced
    assert state([row("돈 언제 돌려받아요", rank=2, confident=False)], policy=Policy(corroborate=False)) == "live"
    assert state([row("돈 언제 돌려받아요", rank=1, confident=True)]) == "live"
    assert state([row("돈 언제 돌려받아요", rank=2, confident=True, signal="copied", audience="agents")]) == "live"
    assert state(rows, decisions={("돈 언제 돌려받아요", "refund"): "accepted"}) == "live"


def test_agents_are_trusted_and_customers_cannot_copy() -> None:
    assert state([row("환급 절차", signal="copied", audience="agents", rank=3)]) == "live"
    assert state([row("환급 절차", signal="copied", audience="public")]) is None  # /agent needs the agent key


def test_negatives_veto() -> None:
    helpful = [row("돈 언제 돌려받아요", client=f"h{n}") for n in range(2)]
    unhelpful = [row("돈 언제 돌려받아요", signal="unhelpful", client=f"u{n}") for n in range(2)]
    assert state(helpful + unhelpful[:1]) == "live"
    vetoed = one(helpful + unhelpful)
    assert vetoed is not None and vetoed.state == "vetoed" and vetoed.unhelpful == 2
    # a client that said both counts as negative: one helpful client left against one unhelpful
    both = helpful + [row("돈 언제 돌려받아요", signal="unhelpful", client="h1")]
    assert state(both) == "vetoed"


def test_an_editors_rejection_sticks() -> None:
    rows = [row("돈 언제 돌려받아요", client=f"c{n}") for n in range(100)]
    decisions = {("돈 언제 돌려받아요", "refund"): "rejected"}
    found = one(rows, decisions=decisions)
    assert found is not None and found.state == "rejected" and found.clients == 100
    assert live_questions([found]) == {}
    assert state([], decisions=decisions) == "rejected"  # listed even once its evidence is pruned


def test_an_editors_acceptance_makes_a_pending_pair_live() -> None:
    rows = [row("돈 언제 돌려받아요", rank=None)]
    assert state(rows) == "pending"
    assert state(rows, decisions={("돈 언제 돌려받아요", "refund"): "accepted"}) == "live"


def test_review_mode_waits_for_an_editor_and_off_learns_nothing() -> None:
    rows = [row("돈 언제 돌려받아요", client=f"c{n}") for n in range(5)]
    found = one(rows, mode="review")
    assert found is not None and found.state == "pending" and "KB_LEARN=review" in found.reason
    assert state(rows, mode="review", decisions={("돈 언제 돌려받아요", "refund"): "accepted"}) == "live"
    assert learn(rows, {}, ARTICLES, "off") == []
    with pytest.raises(ValueError):
        learn(rows, {}, ARTICLES, "sometimes")


def test_one_article_per_wording() -> None:
    rows = [row("쿠폰 환불", "refund", client=f"a{n}", rank=2) for n in range(3)]
    rows += [row("쿠폰 환불", "coupon", client=f"b{n}", rank=1) for n in range(2)]
    out = {x.article_id: x for x in learn(rows, {}, ARTICLES, policy=Policy(corroborate=False))}
    assert out["refund"].state == "live" and out["coupon"].state == "pending"  # most distinct clients wins
    assert "learned for refund" in out["coupon"].reason
    rows = [row("쿠폰 환불", "refund", client="a", rank=2), row("쿠폰 환불", "coupon", client="b", rank=1)]
    assert {x.article_id: x.state for x in learn(rows, {}, ARTICLES, policy=Policy(corroborate=False))} == {
        "coupon": "live", "refund": "pending"}
    # an editor's acceptance takes the wording whatever the counts
    decided = learn(rows, {("쿠폰 환불", "refund"): "accepted"}, ARTICLES, policy=Policy(corroborate=False))
    assert {x.article_id: x.state for x in decided} == {"coupon": "pending", "refund": "live"}


def test_every_verdict_says_why_as_a_code() -> None:
    rows = [row("쿠폰 환불", "refund", client="a", rank=2), row("쿠폰 환불", "coupon", client="b", rank=1),
            row("돈 언제 돌려받아요", rank=None), row("환급", rank=2, confident=True),
            row("반품 언제", "return", client="c"), row("반품 언제", "return", signal="unhelpful", client="d")]
    out = learn(rows, {("환불 거절", "refund"): "rejected"}, ARTICLES, policy=Policy(corroborate=False))
    assert {(x.wording, x.article_id): (x.state, x.why, x.held_by) for x in out} == {
        ("쿠폰 환불", "coupon"): ("live", "guards", ""), ("쿠폰 환불", "refund"): ("pending", "taken", "coupon"),
        ("돈 언제 돌려받아요", "refund"): ("pending", "outside", ""), ("환급", "refund"): ("pending", "overturns", ""),
        ("반품 언제", "return"): ("vetoed", "vetoed", ""), ("환불 거절", "refund"): ("rejected", "rejected", "")}
    assert {x.why for x in learn(rows[:1], {}, ARTICLES)} == {"rerank"}
    assert {x.why for x in learn(rows[:1], {}, ARTICLES, mode="review")} == {"review"}
    assert {x.why for x in learn(rows[:1], {("쿠폰 환불", "refund"): "accepted"}, ARTICLES)} == {"accepted"}
    capped = learn([row(f"환불 {n}", client=f"c{n}") for n in range(2)], {}, ARTICLES, policy=Policy(per_article=1))
    assert sorted(x.why for x in capped) == ["full", "guards"]


def test_learned_wordings_per_article_are_capped() -> None:
    rows = [row(f"환불 {n}", client=f"c{n}-{k}") for n in range(3) for k in range(n + 1)]
    out = learn(rows, {}, ARTICLES, policy=Policy(per_article=2))
    assert {x.wording: x.state for x in out} == {"환불 0": "pending", "환불 1": "live", "환불 2": "live"}
    assert "2 learned wordings" in next(x.reason for x in out if x.state == "pending")


def test_wording_length_is_limited() -> None:
    assert state([row("아주 긴 질문입니다")], policy=Policy(max_chars=5)) is None
    assert state([row("짧은 질문")], policy=Policy(max_chars=5)) == "live"


def test_audience_is_respected() -> None:
    # customers never see an agents-only article: their evidence on it is forged and ignored
    assert state([row("매크로 문구", "agent-macro", rank=1)]) is None
    agents = one([row("매크로 문구", "agent-macro", signal="copied", audience="agents")])
    assert agents is not None and agents.state == "live" and agents.audience == "agents"
    # agents may teach public articles: the wording becomes public, as the article is
    public = one([row("환급 절차", "refund", signal="copied", audience="agents")])
    assert public is not None and public.state == "live" and public.audience == "public"


def test_gone_unpublished_and_written_wordings_are_not_learned() -> None:
    assert state([row("옛날 질문", "old")]) is None  # a draft
    assert state([row("옛날 질문", "deleted-article")]) is None
    assert state([row("환불 언제 돼요", "refund")]) is None  # already the article's own question
    assert state([row("환불 언제 돼요", "coupon")]) is None  # another article's question: the editors' wins
    assert state([row("refund 제목", "return")]) is None  # a title, normalised
    faq = [article("faq", sections=("포인트 소멸",))]
    assert learn([row("포인트 소멸?", "faq")], {}, faq) == []


def test_a_promoted_pair_holds_its_wording() -> None:
    rows = [row("돈 언제 돌려받아요", "refund", client="a"), row("돈 언제 돌려받아요", "coupon", client="b")]
    assert learn(rows, {("돈 언제 돌려받아요", "refund"): "promoted"}, ARTICLES) == []


# -- poison ---------------------------------------------------------------------------------------------------

def test_poison_from_one_client_teaches_nothing(tmp_path: Path) -> None:
    evidence = Evidence(SQLiteEngine(tmp_path / "fb.sqlite"))
    wordings = [f"질문 {n}" for n in range(60)]
    # far-off wrong articles (kb does not rank them), as many as a script can send: the daily cap stops it at 30
    stored = [evidence.add(w, "coupon", "helpful", "mallory", None) for w in wordings]
    assert stored.count(True) == 30
    out = learn(evidence.rows(), {}, ARTICLES)
    assert live_questions(out) == {} and {x.state for x in out} == {"pending"}
    # even wrong articles inside kb's top 3: one client behind more than `solo_pairs` pairs teaches nothing alone
    near = [row(w, "coupon", client="mallory", rank=1) for w in wordings[:DEFAULT_POLICY.solo_pairs + 1]]
    out = learn(near, {}, ARTICLES)
    assert live_questions(out) == {} and all("behind more than" in x.reason for x in out)
    # while an honest customer's one vote still counts
    assert live_questions(learn([*near, row(wordings[0], "coupon", client="alice", rank=1)], {}, ARTICLES)) == {
        "coupon": (wordings[0],)}


def test_poison_from_many_clients_teaches_nothing_outside_kbs_top_3() -> None:
    rows = [row(f"질문 {n % 10}", "coupon", client=f"bot-{n}", rank=None) for n in range(300)]
    out = learn(rows, {}, ARTICLES)
    assert live_questions(out) == {} and len(out) == 10 and all(x.clients == 30 for x in out)


def test_a_client_pointing_mostly_away_from_kbs_first_article_teaches_nothing_alone() -> None:
    anchors = [row(f"{a} 문의", a, client=f"honest-{a}", rank=1) for a in ("refund", "return", "coupon")]
    bot = [row("환불 문의 1", "return", client="bot", rank=2), row("반품 문의 1", "coupon", client="bot", rank=3),
           row("쿠폰 문의 1", "refund", client="bot", rank=2)]  # kb's runner-ups, each corroborated by an anchor
    pending = {(x.wording, x.article_id): x.reason for x in learn(anchors + bot, {}, ARTICLES) if x.state == "pending"}
    assert set(pending) == {(r.query, r.article_id) for r in bot}
    assert all("away from kb's first" in why for why in pending.values())
    # two such votes are not yet a pattern, nor are three that mostly confirm kb's first article
    assert set(live_questions(learn(anchors + bot[:2], {}, ARTICLES))["return"]) == {"환불 문의 1", "return 문의"}
    kind = bot[:1] + [row("쿠폰 문의 2", "coupon", client="bot", rank=1), row("환불 문의 2", "refund", client="bot")]
    assert "환불 문의 1" in live_questions(learn(anchors + kind, {}, ARTICLES))["return"]
    assert live_questions(learn(anchors + bot, {}, ARTICLES, policy=Policy(wayward_after=4))).get("coupon") == (
        "coupon 문의", "반품 문의 1")


def test_a_crowd_of_one_vote_clients_at_wrong_articles_finds_no_anchor() -> None:
    # each line another client ("no client" in an events file), each a wrong article inside kb's top 3: with no
    # other client confirming those articles as kb's first answer, nothing goes live
    rows = [row(f"질문 {n}", ("refund", "return", "coupon")[n % 3], client=f"line-{n}", rank=2 + n % 2)
            for n in range(30)]
    assert live_questions(learn(rows, {}, ARTICLES)) == {}
    assert len(live_questions(learn(rows, {}, ARTICLES, policy=Policy(corroborate=False)))) == 3


# -- through a real build and search (fake embedder) ---------------------------------------------------------

@pytest.fixture
def kb_with_agents(small_kb: Path, write_article: Callable[..., Path]) -> list[Article]:
    write_article("agent-refund-macro", "환불 지연 시 상담원 전용 안내 문구입니다.", title="환불 지연 안내 (상담원)",
                  category="환불", audience="agents")
    return load_articles(small_kb)


def _searcher(articles: list[Article], root: Path, learned: dict[str, tuple[str, ...]]) -> Searcher:
    build_index(articles, FakeEmbedder(), root, learned=learned)
    return Searcher(load_index(root), FakeEmbedder())


def test_nothing_learned_for_an_agents_article_reaches_customers(kb_with_agents: list[Article],
                                                                 tmp_path: Path) -> None:
    wording = "카드 취소했는데 돈이 안 들어와요"
    rows = [row(wording, "agent-refund-macro", signal="copied", audience="agents", rank=2),
            row("비번 생각이 안나요", "password-reset", rank=1)]
    learned = live_questions(learn(rows, {}, kb_with_agents))
    assert learned == {"agent-refund-macro": (wording,), "password-reset": ("비번 생각이 안나요",)}
    searcher = _searcher(kb_with_agents, tmp_path / "index", learned)
    agent_top = searcher.search(wording, audience="agents").results[0]
    assert (agent_top.article_id, agent_top.entry_field) == ("agent-refund-macro", "learned")
    assert agent_top.question == wording
    public = searcher.search(wording, k=50)
    assert all(h.article_id != "agent-refund-macro" and h.question != wording for h in public.results)
    assert all(s.text != wording for s in searcher.index.suggestions["public"])
    customer = searcher.search("비번 생각이 안나요").results[0]  # a public article's learned wording is public
    assert (customer.article_id, customer.entry_field) == ("password-reset", "learned")


def test_poison_changes_nothing_for_the_poisoned_wordings(kb_with_agents: list[Article], tmp_path: Path) -> None:
    cold = Searcher(load_index(build_index_root(kb_with_agents, tmp_path / "cold")), FakeEmbedder())
    wordings = ["택배가 아직 안 왔어요", "반품 접수하고 싶어요", "로그인 비밀번호 분실"]
    tops = {w: cold.search(w, k=10).results[0].article_id for w in wordings}
    assert all(len(cold.search(w, k=10).results) > 3 for w in wordings)
    evidence = Evidence(SQLiteEngine(tmp_path / "fb.sqlite"))
    for n in range(300):  # hundreds of clients, and one client, pointing each wording at a wrong article
        for w in wordings:
            ids = [h.article_id for h in cold.search(w, k=10).results]
            wrong = ids[-1]  # a wrong article kb ranks last: outside its top 3 (inside, customers choose)
            rank = ids.index(wrong) + 1  # the server's own rank
            evidence.add(w, wrong, "helpful", f"bot-{n}", rank)
            evidence.add(w, wrong, "helpful", "mallory", rank)
    learned = live_questions(learn(evidence.rows(), {}, kb_with_agents))
    after = _searcher(kb_with_agents, tmp_path / "after", learned)
    assert {w: after.search(w, k=10).results[0].article_id for w in wordings} == tops


def build_index_root(articles: list[Article], root: Path) -> Path:
    build_index(articles, FakeEmbedder(), root)
    return root


def test_customers_may_be_limited_to_what_kb_answered_outright() -> None:
    strict = Policy(customer_confident=True)
    assert state([row("돈 언제 돌려받아요", rank=1, confident=False)], policy=strict) == "pending"
    assert state([row("돈 언제 돌려받아요", rank=1, confident=True)], policy=strict) == "live"
    assert state([row("돈 언제 돌려받아요", rank=1, confident=False, signal="copied", audience="agents")],
                 policy=strict) == "live"  # agents are trusted
    assert state([row("돈 언제 돌려받아요", rank=1, confident=False)]) == "live"  # the default
