"""The editors' learned list on /admin (GET /admin/learned.json, POST /admin/learned): the policy's verdict per
article with its evidence, and reject / accept / undo / promote (TestClient, fake embedder)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from kb.app.service import KBService
from kb.articles.parse import parse_article
from kb.settings import Settings
from tests.app.test_insight import KEY, sign_in, wait_for_fix


@pytest.fixture
def settings(small_settings: Settings) -> Settings:
    return replace(small_settings, admin_key=KEY)


def wordings(client: TestClient) -> dict[tuple[str, str], dict[str, object]]:
    data = client.get("/admin/learned.json").json()
    return {(w["wording"], a["article_id"]): w for a in data["articles"] for w in a["wordings"]}


def test_the_list_needs_an_editor_and_shows_the_policys_verdict(client: TestClient, service: KBService) -> None:
    assert client.get("/admin/learned.json").status_code == 401
    service.evidence.add("택배 도착 언제쯤", "delivery-tracking", "helpful", "c1", rank=1)  # inside the guard
    service.evidence.add("비번 분실", "en-refund", "helpful", "c2", rank=None)  # far off: for the editors
    sign_in(client)
    data = client.get("/admin/learned.json").json()
    assert data["mode"] == "auto" and data["counts"]["live"] == 1 and data["counts"]["pending"] == 1
    got = wordings(client)
    assert got[("택배 도착 언제쯤", "delivery-tracking")]["state"] == "live"
    assert got[("택배 도착 언제쯤", "delivery-tracking")]["helpful"] == 1
    assert got[("비번 분실", "en-refund")]["state"] == "pending"
    titles = {a["article_id"]: a["title"] for a in data["articles"]}
    assert titles["delivery-tracking"] == "배송 조회는 어떻게 하나요?"


def test_reject_sticks_accept_makes_live_undo_forgets(client: TestClient, service: KBService) -> None:
    service.evidence.add("택배 도착 언제쯤", "delivery-tracking", "helpful", "c1", rank=1)
    service.evidence.add("비번 분실", "en-refund", "helpful", "c2", rank=None)
    csrf = sign_in(client)
    post = lambda body: client.post("/admin/learned", json=body, headers={"X-CSRF-Token": csrf})  # noqa: E731
    assert client.post("/admin/learned", json={"wording": "비번 분실", "article_id": "en-refund",
                                              "action": "accept"}).status_code == 403  # no CSRF token
    assert post({"wording": "비번 분실", "article_id": "en-refund", "action": "accept"}).status_code == 200
    assert wordings(client)[("비번 분실", "en-refund")]["state"] == "live"
    reject = {"wording": "택배 도착 언제쯤", "article_id": "delivery-tracking", "action": "reject"}
    assert post(reject).status_code == 200
    for n in range(5):  # more evidence later changes nothing: the rejection sticks
        service.evidence.add("택배 도착 언제쯤", "delivery-tracking", "helpful", f"later-{n}", rank=1)
    assert wordings(client)[("택배 도착 언제쯤", "delivery-tracking")]["state"] == "rejected"
    assert post({"wording": "택배 도착 언제쯤", "article_id": "delivery-tracking", "action": "undo"}).status_code == 200
    assert wordings(client)[("택배 도착 언제쯤", "delivery-tracking")]["state"] == "live"


def test_bad_decisions_get_a_4xx(client: TestClient) -> None:
    csrf = sign_in(client)
    headers = {"X-CSRF-Token": csrf}
    for body, status in (({"wording": "x", "article_id": "nope", "action": "accept"}, 404),
                         ({"wording": "x", "article_id": "delivery-tracking", "action": "burn"}, 422),
                         ({"wording": "???", "article_id": "delivery-tracking", "action": "accept"}, 422),
                         ({"wording": "가" * 1000, "article_id": "delivery-tracking", "action": "accept"}, 422)):
        assert client.post("/admin/learned", json=body, headers=headers).status_code == status, body


def test_promote_writes_the_wording_into_the_article(client: TestClient, service: KBService,
                                                     settings: Settings) -> None:
    service.evidence.add("택배 도착 언제쯤", "delivery-tracking", "helpful", "c1", rank=1)
    csrf = sign_in(client)
    r = client.post("/admin/learned", headers={"X-CSRF-Token": csrf},
                    json={"wording": "택배 도착 언제쯤", "article_id": "delivery-tracking", "action": "promote"})
    assert r.status_code == 200, r.text
    assert wait_for_fix(client, r.json()["fix"]["id"])["state"] == "built"
    article = parse_article(settings.articles_dir / "delivery-tracking.md")
    assert "택배 도착 언제쯤" in article.questions
    assert ("택배 도착 언제쯤", "delivery-tracking") not in wordings(client)  # an editor's question now
