"""Evidence for learning over HTTP: votes and POST /signals are recorded with the server's own rank, never the
client's word; agents' copies need the agent key; a reformulation counts only when the server agrees
(TestClient, fake embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.service import KBService
from kb.feedback.learning import learn
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

AGENT_KEY = "agent-key-456"


@pytest.fixture
def settings(small_settings: Settings) -> Settings:
    return replace(small_settings, agent_key=AGENT_KEY)


def client_at(settings: Settings, service: KBService, address: str) -> TestClient:
    return TestClient(create_app(settings, service=service, watch=False), client=(address, 50000))


@pytest.fixture
def client(settings: Settings, service: KBService) -> Iterator[TestClient]:
    with client_at(settings, service, "203.0.113.1") as c:
        yield c


def rank_of(service: KBService, query: str, article_id: str) -> int | None:
    ids = [h.article_id for h in service.searcher.search(query, k=10).results]
    return ids.index(article_id) + 1 if article_id in ids else None


def test_a_helpful_vote_is_evidence_with_the_servers_rank(client: TestClient, service: KBService) -> None:
    r = client.post("/feedback", json={"query": "택배 언제 와요", "article_id": "delivery-tracking", "helpful": True})
    assert r.status_code == 201
    client.post("/feedback", json={"query": "택배 언제 와요", "article_id": "password-reset", "helpful": False})
    rows = {(row.article_id, row.signal): row for row in service.evidence.rows()}
    assert rows[("delivery-tracking", "helpful")].rank == rank_of(service, "택배 언제 와요", "delivery-tracking") == 1
    assert rows[("delivery-tracking", "helpful")].query == "택배 언제 와요"
    assert ("password-reset", "unhelpful") in rows
    assert rows[("delivery-tracking", "helpful")].client != "203.0.113.1"  # a salted hash, never the address


def test_opened_is_recorded_and_copied_needs_the_agent_key(client: TestClient, service: KBService) -> None:
    body = {"kind": "opened", "query": "반품하고 싶어요", "article_id": "return-request"}
    assert client.post("/signals", json=body).status_code == 202
    copied = {**body, "kind": "copied"}
    r = client.post("/signals", json=copied)
    assert r.status_code == 401 and "agent key" in r.json()["detail"]
    assert client.post("/signals", json=copied, headers={"Authorization": f"Bearer {AGENT_KEY}"}).status_code == 202
    rows = {(row.signal, row.audience) for row in service.evidence.rows()}
    assert rows == {("opened", "public"), ("copied", "agents")}


def test_signals_refuse_bad_input_with_a_4xx(client: TestClient) -> None:
    cases = [
        {"kind": "clicked", "query": "반품", "article_id": "return-request"},
        {"kind": "opened", "query": "   ", "article_id": "return-request"},
        {"kind": "opened", "query": "반품", "article_id": "no-such-article"},
        {"kind": "opened", "query": "반" * 5000, "article_id": "return-request"},
    ]
    for body in cases:
        r = client.post("/signals", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code)
    json = {"Content-Type": "application/json"}
    assert client.post("/signals", content=b"{nan}", headers=json).status_code == 422
    lone = b'{"kind": "opened", "query": "\\ud800 \\udfff", "article_id": "return-request"}'
    assert client.post("/signals", content=lone, headers=json).status_code in (202, 422)  # never a 5xx


def test_a_reformulation_counts_only_when_the_server_agrees(client: TestClient, service: KBService) -> None:
    settled = {"kind": "reformulated", "article_id": "delivery-tracking", "settled_query": "택배 언제 와요"}
    # the first wording already had the article as a confident answer: nothing to learn
    assert client.post("/signals", json={**settled, "query": "택배 언제 와요?"}).status_code == 202
    # the article does not answer the second wording either: the client's claim is not believed
    wrong = {**settled, "article_id": "en-refund", "query": "물건이 아직 안 왔는데요"}
    assert client.post("/signals", json=wrong).status_code == 202
    assert service.evidence.rows() == []
    first = "물건이 아직 안 왔는데요"
    assert client.post("/signals", json={**settled, "query": first}).status_code == 202
    [row] = service.evidence.rows()
    assert (row.query, row.article_id, row.signal) == (first, "delivery-tracking", "reformulated")
    assert row.rank == rank_of(service, first, "delivery-tracking")


def test_poison_from_many_clients_is_never_learned(settings: Settings, service: KBService) -> None:
    wording = "비밀번호를 잊어버렸어요"  # the password article's own title: kb ranks it first
    assert rank_of(service, wording, "password-reset") == 1
    for n in range(40):  # forty addresses vote another article helpful for it
        with client_at(settings, service, f"198.51.100.{n}") as c:
            r = c.post("/feedback", json={"query": wording, "article_id": "en-refund", "helpful": True})
            assert r.status_code == 201
    articles = list(service.index.articles.values())
    verdict = {(i.wording, i.article_id): i.state
               for i in learn(service.evidence.rows(), {}, articles, mode="auto")}
    assert verdict.get((wording, "en-refund")) in (None, "pending")  # for the editors, never live


def test_nothing_is_recorded_when_learning_is_off(small_settings: Settings, fake_embedder: FakeEmbedder) -> None:
    off = replace(small_settings, learn="off")
    svc = KBService(off, fake_embedder)
    try:
        with client_at(off, svc, "203.0.113.9") as c:
            c.post("/feedback", json={"query": "택배 언제 와요", "article_id": "delivery-tracking", "helpful": True})
            c.post("/signals", json={"kind": "opened", "query": "반품", "article_id": "return-request"})
        assert svc.evidence.rows() == []
    finally:
        svc.close()


def test_a_hit_on_a_learned_wording_never_shows_the_wording() -> None:
    from kb.app.schemas import hit_out
    from kb.search.searcher import Hit

    hit = Hit(article_id="a", title="배송 조회는 어떻게 하나요?", question="욕설 섞인 고객 표현", answer="답",
              category="배송", locale="ko", score=0.9, dense_score=0.9, lexical_score=0.1, snippet="답",
              matched_terms=(), entry_field="learned")
    out = hit_out(hit)
    assert out.question == out.why.matched_question == "배송 조회는 어떻게 하나요?" and out.why.field == "learned"
    assert "욕설" not in out.model_dump_json()
