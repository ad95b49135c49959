"""Evidence for learning over HTTP: votes and POST /signals are recorded with the server's own rank, never the
client's word; agents' copies need the agent key; a reformulation counts only when the server agrees
(TestClient, fake embedder)."""

from __future__ import annotations

import time
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


# --- the search log takes the server's decision (issue 17) -------------------------------------------------------


def _logged(service: KBService) -> list[tuple[str, str, str | None]]:
    return [(str(q), str(d), a) for q, d, a in service.store.engine.rows(
        "SELECT query, decision, top_article FROM searches ORDER BY id")]


def test_search_returns_a_signed_id_and_the_log_takes_the_servers_decision(client: TestClient,
                                                                           service: KBService) -> None:
    found = client.get("/search", params={"q": "  택배   언제 와요 "}).json()
    assert found["decision"] == "answer" and found["search_id"]
    # the page claims another decision and article: the server logs its own, read from the id
    claim = {"decision": "none", "article_id": "password-reset", "confidence": 0.0}
    r = client.post("/searches", json={"query": "택배 언제 와요", "search_id": found["search_id"], **claim})
    assert r.status_code == 201
    assert _logged(service) == [("택배 언제 와요", "answer", found["results"][0]["article_id"])]
    nothing = client.get("/search", params={"q": "zzqx wvyk"}).json()
    assert client.post("/searches", json={"query": "zzqx wvyk", "search_id": nothing["search_id"]}).status_code == 201
    assert _logged(service)[-1] == ("zzqx wvyk", nothing["decision"] if nothing["results"] else "none",
                                    nothing["results"][0]["article_id"] if nothing["results"] else None)


def test_forged_altered_expired_or_replayed_ids_are_refused(client: TestClient, service: KBService) -> None:
    import base64
    import json

    from kb.feedback import searchids

    sid = client.get("/search", params={"q": "반품하고 싶어요"}).json()["search_id"]
    post = lambda query, search_id: client.post("/searches", json={"query": query, "search_id": search_id})  # noqa: E731
    payload, mac = sid.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    altered = base64.urlsafe_b64encode(json.dumps({**fields, "d": "none"}).encode()).rstrip(b"=").decode()
    expired = searchids.issue(service.store.engine, "반품하고 싶어요", "none", None, 0.1,
                              at=time.time() - searchids.TTL - 5)
    for query, bad in (("반품하고 싶어요", "x" * 40), ("반품하고 싶어요", "a.b.c")):  # not an id's shape: invalid
        r = post(query, bad)
        assert r.status_code == 422 and r.json()["field"] == "search_id", bad
    for query, bad, reason in (  # an id's shape, but not one this store issued for this query: refused
        ("반품", sid, "not issued for this query"),  # an id for another query
        ("반품하고 싶어요", f"{altered}.{mac}", "not issued for this query"),  # the decision changed
        ("반품하고 싶어요", "xx.yy", "not issued"),  # decodes, but its MAC is not ours
        ("반품하고 싶어요", f"{payload}.{'A' * len(mac)}", "not issued"),  # a made-up signature
        ("반품하고 싶어요", expired, "expired"),
    ):
        r = post(query, bad)
        assert r.status_code == 403 and reason in r.json()["detail"], bad
    r = client.post("/searches", json={"query": "반품하고 싶어요", "decision": "none", "confidence": 0.1})
    assert r.status_code == 422 and r.json()["field"] == "search_id"  # the page's word alone: refused
    assert post("반품하고 싶어요", "x" * 401).status_code == 422
    assert _logged(service) == []
    assert post("반품하고 싶어요", sid).status_code == 201
    r = post("반품하고 싶어요", sid)  # the same id again, from here or from anywhere else
    assert r.status_code == 409 and "logged already" in r.json()["detail"]
    assert len(_logged(service)) == 1


def test_another_replica_verifies_the_id(settings: Settings, service: KBService, fake_embedder: FakeEmbedder) -> None:
    other = KBService(settings, fake_embedder)  # its own engine on the same store: the salt is the database's
    try:
        with client_at(settings, service, "203.0.113.5") as a, client_at(settings, other, "203.0.113.5") as b:
            sid = a.get("/search", params={"q": "반품하고 싶어요"}).json()["search_id"]
            assert b.post("/searches", json={"query": "반품하고 싶어요", "search_id": sid}).status_code == 201
            assert a.post("/searches", json={"query": "반품하고 싶어요", "search_id": sid}).status_code == 409
    finally:
        other.close()
