"""Agent-only articles (`audience: agents`) never reach customers by any route; the agent key shows them. Wrong keys
of any kind are throttled per client (one count with the sign-in's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from kb.app.factory import create_app
from kb.app.service import KBService
from kb.articles.parse import load_articles
from kb.index.build import build_index
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

AGENT = {"Authorization": "Bearer agent-secret"}
TITLE = "환불 예외 승인 절차"


@pytest.fixture
def client(tmp_path: Path, small_kb: Path, write_article: Callable[..., Path],
           fake_embedder: FakeEmbedder) -> Iterator[TestClient]:
    write_article("refund-override", "팀장 승인 후 **예외 환불 코드** RX-7을 입력하세요.", title=TITLE,
                  category="상담원전용", tags=["예외처리"], questions=["환불 기한 지난 고객 예외 처리"],
                  audience="agents")
    build_index(load_articles(small_kb), fake_embedder, tmp_path / "agent-index")
    settings = Settings.from_env({}, articles_dir=small_kb, index_dir=tmp_path / "agent-index",
                                 cache_dir=tmp_path / "cache", model="fake-ngram-64", agent_key="agent-secret")
    service = KBService(settings, fake_embedder)
    with TestClient(create_app(settings, service=service, watch=False)) as c:
        yield c


def _everything_public(client: TestClient) -> str:
    """Every public answer a customer can get, as one text (the echoed query left out)."""
    import json

    answers = [client.get("/search", params={"q": q, "k": 50}) for q in (TITLE, "환불 예외", "예외 환불 코드", "RX-7",
                                                                          "상담원전용")]
    answers += [client.get("/suggest", params={"q": q, "limit": 20}) for q in ("환불", "예외", "ㅎㅂ", "상담")]
    answers += [client.get(url) for url in ("/popular?limit=20", "/categories")]
    assert all(r.status_code == 200 for r in answers)
    return "\n".join(json.dumps({k: v for k, v in r.json().items() if k != "query"}, ensure_ascii=False)
                     for r in answers)


def test_agent_articles_never_reach_customers(client: TestClient) -> None:
    text = _everything_public(client)
    for secret in ("refund-override", TITLE, "RX-7", "상담원전용", "예외처리", "환불 기한 지난"):
        assert secret not in text
    assert client.get("/articles/refund-override").status_code == 404
    vote = client.post("/feedback", json={"query": "x", "article_id": "refund-override", "helpful": True})
    assert vote.status_code == 404


def test_the_agent_key_shows_them_first_for_their_own_title(client: TestClient) -> None:
    r = client.get("/search", params={"q": TITLE}, headers=AGENT)
    assert r.status_code == 200 and r.json()["results"][0]["article_id"] == "refund-override"
    assert client.get("/articles/refund-override", headers=AGENT).json()["title"] == TITLE
    assert {c["name"] for c in client.get("/categories", headers=AGENT).json()["categories"]} >= {"상담원전용"}
    texts = [s["text"] for s in client.get("/suggest", params={"q": "환불 예"}, headers=AGENT).json()["suggestions"]]
    assert TITLE in texts
    assert client.post("/feedback", json={"query": "x", "article_id": "refund-override", "helpful": True},
                       headers=AGENT).status_code == 201


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer é", "Bearer \u00ff\u00fe"])
def test_a_wrong_agent_key_is_a_401(client: TestClient, header: str) -> None:
    r = client.get("/search", params={"q": TITLE}, headers={"Authorization": header.encode("latin-1")})
    assert r.status_code == 401 and r.json()["detail"] == "wrong agent key"


@pytest.mark.parametrize("header", ["Bearer é", "Basic abc", "Bearer ", "x" * 5000])
def test_odd_admin_headers_get_a_401(client: TestClient, header: str) -> None:
    r = client.post("/admin/reload", headers={"Authorization": header.encode("latin-1")})
    assert r.status_code in (401, 404)  # 404: admin routes off in this app


def test_locale_is_case_insensitive_and_blank_category_ignored(client: TestClient) -> None:
    upper = client.get("/search", params={"q": "refund", "locale": "EN"}).json()["results"]
    assert [h["article_id"] for h in upper] == ["en-refund"]
    blank = client.get("/search", params={"q": "반품", "category": "  "}).json()["results"]
    assert blank and blank[0]["article_id"] == "return-request"


# --- the throttle on wrong keys (one count for the admin, agent and metrics keys, and the sign-in) ----------

ADMIN, AGENT_KEY, METRICS = "admin-secret", "agent-secret", "metrics-secret"
PROXY = "10.9.9.9"  # the tests' balancer: X-Forwarded-For says which client it is
KEYED = {  # (request, the key it accepts) for each kind of key
    "admin": ("GET", "/admin/feedback", ADMIN),
    "agent": ("GET", "/search?q=%EB%B0%98%ED%92%88", AGENT_KEY),
    "metrics": ("GET", "/metrics", METRICS),
}


@pytest.fixture
def clock() -> list[float]:
    return [1_000_000.0]


@pytest.fixture
def keyed(tmp_path: Path, small_settings: Settings, fake_embedder: FakeEmbedder,
          clock: list[float]) -> Iterator[TestClient]:
    """Every key set, behind a trusted proxy, with a clock the test moves."""
    from dataclasses import replace

    from kb.app.auth import THROTTLE
    from kb.feedback.keyfails import KeyThrottle

    settings = replace(small_settings, admin_key=ADMIN, agent_key=AGENT_KEY, metrics_key=METRICS,
                       trusted_proxies=(PROXY,), rate_search="100000/second")
    service = KBService(settings, fake_embedder)
    app = create_app(settings, service=service, watch=False)
    setattr(app.state, THROTTLE, KeyThrottle(settings.key_failures, settings.key_window, clock=lambda: clock[0]))
    with TestClient(app, client=(PROXY, 5000)) as c:
        yield c
    service.close()


def _send(client: TestClient, kind: str, key: str, address: str = "203.0.113.7") -> Response:
    method, url, _ = KEYED[kind]
    return client.request(method, url, headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address})


@pytest.mark.parametrize("kind", sorted(KEYED))
def test_wrong_bearer_keys_lock_the_client_out(keyed: TestClient, clock: list[float], kind: str) -> None:
    right = KEYED[kind][2]
    for _ in range(10):
        assert _send(keyed, kind, "guess").status_code == 401
    r = _send(keyed, kind, "guess")
    assert r.status_code == 429 and r.headers["retry-after"] == "900"
    assert r.json() == {"detail": "too many wrong keys from this address; try again in 900 s", "field": None}
    r = _send(keyed, kind, right)  # the right key too: guessing must not go on
    assert r.status_code == 429 and r.headers["retry-after"] == "900"
    assert _send(keyed, kind, right, address="198.51.100.1").status_code == 200  # other clients: unaffected
    clock[0] += 899.5
    r = _send(keyed, kind, right)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    clock[0] += 0.5  # the window has passed
    assert _send(keyed, kind, right).status_code == 200


def test_every_key_and_the_sign_in_share_one_count(keyed: TestClient, clock: list[float]) -> None:
    me = {"X-Forwarded-For": "203.0.113.8"}
    for i in range(10):  # guesses at every key, by every way in
        if i % 4 == 3:
            r = keyed.post("/admin/session", json={"key": "guess"}, headers=me)
        else:
            r = _send(keyed, ("admin", "agent", "metrics")[i % 4], "guess", me["X-Forwarded-For"])
        assert r.status_code == 401
    for kind in KEYED:
        assert _send(keyed, kind, KEYED[kind][2], me["X-Forwarded-For"]).status_code == 429
    r = keyed.post("/admin/session", json={"key": ADMIN}, headers=me)
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 900
    assert keyed.get("/search", params={"q": "반품"}, headers=me).status_code == 200  # no key: a customer, served
    clock[0] += 900
    assert keyed.post("/admin/session", json={"key": ADMIN}, headers=me).status_code == 200


def test_requests_without_a_key_are_not_guesses(keyed: TestClient) -> None:
    me = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(15):
        assert keyed.get("/metrics", headers=me).status_code == 401
        assert keyed.get("/admin/feedback", headers=me).status_code == 401
        assert keyed.get("/metrics", headers={**me, "Authorization": "Basic czNjcmV0"}).status_code == 401
    assert _send(keyed, "metrics", METRICS, me["X-Forwarded-For"]).status_code == 200
