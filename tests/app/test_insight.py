"""The editors' insight page (/admin): sign-in cookie, CSRF, the page and its JSON, the chart, one-click fixes
(TestClient, fake embedder)."""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.app.auth import COOKIE, new_session
from kb.app.factory import create_app
from kb.app.i18n import STRINGS
from kb.app.routes.pages import render_page
from kb.app.service import KBService
from kb.articles.parse import parse_article
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

KEY = "editor-key-123"
PII = "제 번호 010-1234-5678, 01012345678 이고 메일 kim.minsu@example.com 주문번호 2024123456789 배송 안 와요"


@pytest.fixture
def settings(small_settings: Settings) -> Settings:
    return replace(small_settings, admin_key=KEY)


@pytest.fixture
def replica(settings: Settings) -> Iterator[TestClient]:
    """A second replica: its own service and app on the same index root, so the same feedback store."""
    svc = KBService(settings, FakeEmbedder())
    with TestClient(create_app(settings, service=svc, watch=False)) as c:
        yield c
    svc.close()


def sign_in(client: TestClient) -> str:
    r = client.post("/admin/session", json={"key": KEY})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf"])


def wait_for_fix(client: TestClient, fix_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/admin/fixes/{fix_id}").json()
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, "the fix did not finish"
        time.sleep(0.05)


# --- signing in ---------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_without_the_key(client: TestClient) -> None:
    r = client.post("/admin/session", json={"key": KEY})
    assert r.status_code == 200
    assert set(r.json()) == {"csrf", "expires"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and flags["samesite"].lower() == "samesite=strict"
    assert flags["path"] == "Path=/admin" and "secure" not in flags  # plain http: no Secure
    assert KEY not in cookie and KEY not in r.text
    assert client.get("/admin/session").json()["csrf"] == r.json()["csrf"]


def test_secure_cookie_over_https(settings: Settings, service: KBService) -> None:
    with TestClient(create_app(settings, service=service, watch=False), base_url="https://testserver") as c:
        r = c.post("/admin/session", json={"key": KEY})
        assert "; secure" in r.headers["set-cookie"].lower()
    forwarded = {"X-Forwarded-Proto": "https"}
    with TestClient(create_app(settings, service=service, watch=False)) as c:  # the peer is no trusted proxy
        assert "; secure" not in c.post("/admin/session", json={"key": KEY}, headers=forwarded).headers["set-cookie"]
    behind = replace(settings, trusted_proxies=("0.0.0.0/0", "::/0"))
    with TestClient(create_app(behind, service=service, watch=False), client=("10.0.0.9", 5000)) as c:
        r = c.post("/admin/session", json={"key": KEY}, headers=forwarded)
        assert "; secure" in r.headers["set-cookie"].lower()


def test_wrong_key_401_and_too_many_429(client: TestClient) -> None:
    for _ in range(10):
        r = client.post("/admin/session", json={"key": "nope"})
        assert r.status_code == 401 and r.json() == {"detail": "wrong admin key", "field": None}
        assert "set-cookie" not in r.headers
    assert client.post("/admin/session", json={"key": KEY}).status_code == 429  # even the right key, for a while


@pytest.mark.parametrize("body", [{}, {"key": ""}, {"key": 5}, {"key": "x" * 1001}, [], None])
def test_bad_sign_in_bodies_are_422(client: TestClient, body: Any) -> None:
    r = client.post("/admin/session", json=body)
    assert r.status_code == 422 and set(r.json()) == {"detail", "field"}


def test_admin_off_without_a_key(small_settings: Settings, fake_embedder: FakeEmbedder) -> None:
    with TestClient(create_app(small_settings, embedder=fake_embedder, watch=False)) as c:
        assert c.get("/admin").status_code == 404
        assert c.post("/admin/session", json={"key": "x"}).status_code == 404
        assert c.get("/admin/insight.json").status_code == 404


@pytest.mark.parametrize("cookie", ["", "garbage", "1.2.3", "99999999999.abc.def", "%%%.é.ü", "a" * 500,
                                    "9999999999..", "１２.a.b", "1.\x00.2", '"quoted"'])
def test_bad_cookies_are_401(client: TestClient, cookie: str) -> None:
    header = f"{COOKIE}={cookie}".encode()  # raw bytes: whatever a client sends
    for url in ("/admin/insight.json", "/admin/session", "/admin/chart.svg"):
        assert client.get(url, headers={"Cookie": header}).status_code == 401  # type: ignore[dict-item]


def test_expired_or_foreign_sessions_are_refused(client: TestClient) -> None:
    old, _ = new_session(KEY, now=time.time() - 9 * 3600)
    client.cookies.set(COOKIE, old, path="/admin")
    assert client.get("/admin/insight.json").status_code == 401
    other, _ = new_session("another-key")
    client.cookies.set(COOKIE, other, path="/admin")
    assert client.get("/admin/insight.json").status_code == 401


def test_bearer_key_works_without_a_cookie_or_csrf(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/admin/insight.json", headers=auth).status_code == 200
    assert client.get("/admin/insight.json", headers={"Authorization": "Bearer wrong"}).status_code == 401


# --- CSRF and signing out ------------------------------------------------------------------------------


def test_csrf_is_required_for_changes(client: TestClient) -> None:
    csrf = sign_in(client)
    body = {"kind": "new_article", "queries": ["판매자 연락처"]}
    assert client.post("/admin/fixes", json=body).status_code == 403
    assert client.post("/admin/fixes", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/admin/fixes", json=body, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
    assert client.delete("/admin/session").status_code == 403
    assert client.delete("/admin/session", headers={"X-CSRF-Token": "é".encode()}).status_code == 403  # type: ignore[dict-item]
    assert client.get("/admin/insight.json").status_code == 200  # still signed in


def test_sign_out_clears_the_cookie_and_refuses_the_session(client: TestClient) -> None:
    csrf = sign_in(client)
    token = client.cookies.get(COOKIE)
    r = client.delete("/admin/session", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert f"{COOKIE}=" in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]
    client.cookies.set(COOKIE, token or "", path="/admin")  # a copy of the old cookie
    assert client.get("/admin/insight.json").status_code == 401


def test_a_sign_out_holds_on_every_replica(client: TestClient, replica: TestClient) -> None:
    """Replicas (or `--workers` processes) behind one balancer share the store: a session signed out on one
    is refused by the other, which never saw the sign-out."""
    csrf = sign_in(client)
    token = client.cookies.get(COOKIE) or ""
    replica.cookies.set(COOKIE, token, path="/admin")  # the same browser, sent to the other replica
    assert replica.get("/admin/insight.json", params={"groups": "false"}).status_code == 200
    assert client.delete("/admin/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert replica.get("/admin/insight.json", params={"groups": "false"}).status_code == 401


def test_wrong_keys_count_across_replicas(client: TestClient, replica: TestClient, settings: Settings) -> None:
    for i in range(settings.key_failures):  # spread over both, as a balancer would
        assert (client if i % 2 else replica).post("/admin/session", json={"key": "guess"}).status_code == 401
    assert client.post("/admin/session", json={"key": KEY}).status_code == 429
    assert replica.post("/admin/session", json={"key": KEY}).status_code == 429


# --- the page and its JSON ----------------------------------------------------------------------------


def test_page_in_both_languages_without_inline_scripts_or_styles(client: TestClient) -> None:
    for lang, title in (("ko", "검색 인사이트"), ("en", "Search insight")):
        r = client.get("/admin", params={"lang": lang})
        assert r.status_code == 200 and f'<html lang="{lang}">' in r.text and title in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
        assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts)
        assert " style=" not in r.text and "<style" not in r.text
        assert "/static/admin.js" in r.text and "/static/admin.css" in r.text
        render_page("admin.html", lang)  # every slot filled
    assert client.get("/static/admin.js").status_code == 200
    assert client.get("/static/admin.css").status_code == 200
    assert set(STRINGS["ko"]) == set(STRINGS["en"])


def _plant(service: KBService) -> None:
    store = service.store
    for i in range(3):
        store.add_search("택배 언제 와요", "answer", "delivery-tracking", 0.97, "ko", f"10.0.0.{i}")
    store.add_search("반품하고 싶어요", "suggest", "return-request", 0.62, "ko", "10.0.0.1")
    store.add_search("판매자 전화번호", "none", None, 0.05, "ko", "10.0.0.2")
    store.add("택배 언제 와요", "delivery-tracking", True, "10.0.0.1")
    store.add("택배 언제 와요", "delivery-tracking", False, "10.0.0.2")
    store.add("반품", "return-request", False, "10.0.0.3")
    store.add_unanswered("판매자한테 연락하고 싶어요", "none", "10.0.0.4")
    store.add_unanswered("판매자 전화번호", "contact", "10.0.0.2")


def test_insight_json(client: TestClient, service: KBService) -> None:
    _plant(service)
    assert client.get("/admin/insight.json").status_code == 401
    sign_in(client)
    data = client.get("/admin/insight.json", params={"days": 7}).json()
    assert data["days"] == 7
    s = data["searches"]
    assert s["total"] == 5 and s["totals"] == {"answer": 3, "suggest": 1, "none": 1}
    assert s["share"]["answer"] == 0.6 and len(s["per_day"]) == 1
    assert data["articles"][0] == {"article_id": "return-request", "title": "반품 신청은 어떻게 하나요?",
                                   "helpful": 0, "not_helpful": 1, "ratio": 0.0}
    assert {"article_id": "delivery-tracking", "title": "배송 조회는 어떻게 하나요?", "helpful": 1,
            "not_helpful": 1, "ratio": 0.5} in data["articles"]
    assert data["top_queries"][0] == {"query": "택배 언제 와요", "clients": 3, "decision": "answer"}
    queries = {q for g in data["groups"] for q in g["examples"]}
    assert {"판매자 전화번호", "판매자한테 연락하고 싶어요", "반품"} <= queries
    assert "택배 언제 와요" in queries  # voted "not helpful" once: a gap too
    for g in data["groups"]:
        assert g["count"] >= 1 and g["queries"] >= len(g["examples"]) >= 1
        assert g["suggestion"]["kind"] in ("add_question", "new_article")
    assert data["fix"] is None


def test_numbers_at_once_and_groups_apart(client: TestClient, service: KBService) -> None:
    _plant(service)
    sign_in(client)
    quick = client.get("/admin/insight.json", params={"groups": "false"}).json()
    assert "groups" not in quick and quick["searches"]["total"] == 5
    full = client.get("/admin/insight.json").json()
    gaps = client.get("/admin/gaps.json", params={"limit": 2}).json()
    assert gaps == {"groups": full["groups"][:2], "targets": full["targets"]}
    for g in gaps["groups"]:
        assert set(g) == {"count", "examples", "queries", "suggestion", "not_helpful", "status", "handled"}
        assert set(g["suggestion"]) <= {"kind", "article_id", "title"}
    assert client.get("/admin/gaps.json", params={"limit": 0}).status_code == 422
    client.cookies.clear()
    assert client.get("/admin/gaps.json").status_code == 401


def test_groups_offer_every_served_article_and_avoid_the_ones_voted_not_helpful(client: TestClient,
                                                                                service: KBService) -> None:
    service.store.add_unanswered("택배 언제 와요", "none", "10.0.0.5")
    sign_in(client)
    data = client.get("/admin/gaps.json").json()
    # the targets a group's queries may go to: what POST /admin/fixes accepts (served articles, not drafts)
    assert data["targets"] == [
        {"article_id": "delivery-tracking", "title": "배송 조회는 어떻게 하나요?", "category": "배송", "locale": "ko"},
        {"article_id": "return-request", "title": "반품 신청은 어떻게 하나요?", "category": "취소/반품/교환",
         "locale": "ko"},
        {"article_id": "en-refund", "title": "When will I get my refund?", "category": "환불", "locale": "en"},
        {"article_id": "password-reset", "title": "비밀번호를 잊어버렸어요", "category": "회원/계정", "locale": "ko"},
    ]
    [group] = [g for g in data["groups"] if "택배 언제 와요" in g["examples"]]
    assert group["suggestion"]["article_id"] == "delivery-tracking" and group["not_helpful"] == []
    service.store.add("택배 언제 와요", "delivery-tracking", False, "10.0.0.6")  # customers: it did not help
    [group] = [g for g in client.get("/admin/gaps.json").json()["groups"] if "택배 언제 와요" in g["examples"]]
    assert group["suggestion"].get("article_id") != "delivery-tracking"
    assert group["not_helpful"] == ["delivery-tracking"]


def test_groups_already_handled_are_marked(client: TestClient, service: KBService, settings: Settings) -> None:
    service.store.add_unanswered("내 물건 어디쯤이에요", "none", "10.0.0.5")
    service.store.add_unanswered("판매자 연락처 알려주세요", "none", "10.0.0.6")
    csrf = sign_in(client)

    def group_of(query: str) -> dict[str, Any]:
        groups = client.get("/admin/gaps.json").json()["groups"]
        return next(g for g in groups if query in g["examples"])

    assert group_of("내 물건 어디쯤이에요")["status"] == "open" and group_of("내 물건 어디쯤이에요")["handled"] == []
    # the editor picks the article (any served one, whatever the suggestion) and adds the query
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf}, json={
        "kind": "add_question", "article_id": "delivery-tracking", "queries": ["내 물건 어디쯤이에요"]})
    assert wait_for_fix(client, r.json()["id"])["state"] == "built"
    group = group_of("내 물건 어디쯤이에요")  # still a gap in the log: now marked, not offered again
    assert group["status"] == "handled"
    assert group["handled"] == [{"query": "내 물건 어디쯤이에요", "article_id": "delivery-tracking",
                                 "title": "배송 조회는 어떻게 하나요?", "file": "delivery-tracking.md", "draft": False}]
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "new_article", "queries": ["판매자 연락처 알려주세요"]})
    job = wait_for_fix(client, r.json()["id"])
    [handled] = group_of("판매자 연락처 알려주세요")["handled"]
    assert handled["draft"] and handled["file"] == job["file"] and handled["article_id"] == job["article_id"]
    # what the page would have offered again fails: the same question in two articles
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf}, json={
        "kind": "add_question", "article_id": "return-request", "queries": ["판매자 연락처 알려주세요"]})
    assert wait_for_fix(client, r.json()["id"])["state"] == "failed"


@pytest.mark.parametrize("params", [{"days": 0}, {"days": 400}, {"days": "x"}])
def test_bad_days_are_422(client: TestClient, params: dict[str, Any]) -> None:
    sign_in(client)
    r = client.get("/admin/insight.json", params=params)
    assert r.status_code == 422 and r.json()["field"] == "days"


def test_personal_data_never_reaches_the_insight(client: TestClient, service: KBService) -> None:
    assert client.post("/unanswered", json={"query": PII, "kind": "none"}).status_code == 201
    sid = client.get("/search", params={"q": PII}).json()["search_id"]
    assert client.post("/searches", json={"query": PII, "search_id": sid, "locale": "ko"}).status_code == 201
    sign_in(client)
    text = client.get("/admin/insight.json").text
    for secret in ("010-1234-5678", "01012345678", "kim.minsu@example.com", "2024123456789", "testclient"):
        assert secret not in text
    assert "<전화번호>" in text and "<이메일>" in text and "<번호>" in text


def test_chart_is_an_svg_without_scripts(client: TestClient, service: KBService) -> None:
    _plant(service)
    assert client.get("/admin/chart.svg").status_code == 401
    sign_in(client)
    r = client.get("/admin/chart.svg", params={"days": 14, "lang": "en"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [e for e in root.iter(f"{ns}rect") if e.find(f"{ns}title") is not None]
    assert len(bars) == 3  # today: answer, suggest, none
    assert "<script" not in r.text and "style=" not in r.text
    assert "answer 3" in r.text  # the legend
    empty = client.get("/admin/chart.svg", params={"days": 1, "lang": "ko"})
    ET.fromstring(empty.text)


def test_one_client_counts_once_in_the_chart(client: TestClient, service: KBService) -> None:
    _plant(service)  # answer: 3 customers, suggest: 1, none: 1
    for i in range(12):  # one client's settled searches that found nothing, each logged with its id
        q = f"zzqx wvyk {i}"
        sid = client.get("/search", params={"q": q}).json()["search_id"]
        assert client.post("/searches", json={"query": q, "search_id": sid}).status_code == 201
    sign_in(client)
    s = client.get("/admin/insight.json", params={"groups": "false"}).json()["searches"]
    assert s["total"] == 5 + 12 and s["counted"] == "customers"  # searches logged; customers per decision
    none = s["totals"]["none"]
    assert none == 2 and s["totals"]["answer"] == 3 and s["per_day"][0]["customers"] == 4
    r = client.get("/admin/chart.svg", params={"days": 7, "lang": "en"})
    assert "none 2" in r.text and "Bar chart of customers per day" in r.text


def test_a_flood_from_one_client_leaves_the_real_gap_on_the_report(client: TestClient, service: KBService) -> None:
    from kb.feedback.engine import now

    store = service.store
    created, day = now()
    real = ("선물 포장 되나요", "선물용으로 포장해 주실 수 있나요", "포장지 골라서 선물 포장 가능한가요")
    rows = [(f"aa{i:04d} cheap pills", "198.51.100.66") for i in range(2100)]  # one client, 2,100 distinct
    rows += [(q, f"203.0.113.{n}") for n, q in enumerate(real)]  # three customers, one real gap
    sql = store.engine.sql("INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, 'none')")
    store.engine.run(lambda db: [db.execute(sql, (created, day, store.engine.client(db, a), q)) for q, a in rows])
    sign_in(client)
    groups = client.get("/admin/gaps.json", params={"limit": 10}).json()["groups"]
    assert set(real) <= {q for g in groups for q in g["examples"]}
    assert all(g["count"] <= len(real) + 1 for g in groups)  # the flood weighs one customer wherever it is


# --- one-click fixes ---------------------------------------------------------------------------------


def test_add_question_fix_builds_and_serves(client: TestClient, settings: Settings, service: KBService) -> None:
    csrf = sign_in(client)
    path = settings.articles_dir / "delivery-tracking.md"
    before = path.read_bytes()
    queries = ["내 물건 어디쯤이에요", "택배 언제 와요?"]
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "add_question", "article_id": "delivery-tracking", "queries": queries})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "running" and job["added"] == ["내 물건 어디쯤이에요"]  # the other one it has
    job = wait_for_fix(client, job["id"])
    assert job["state"] == "built", job
    after = path.read_bytes()
    assert after.startswith(before.split(b"\n---\n")[0]) and after.endswith(before[before.index(b"\n---\n"):])
    assert parse_article(path).questions[-1] == "내 물건 어디쯤이에요"
    assert service.index.articles["delivery-tracking"].questions[-1] == "내 물건 어디쯤이에요"  # reloaded
    hit = client.get("/search", params={"q": "내 물건 어디쯤이에요"}).json()["results"][0]
    assert hit["article_id"] == "delivery-tracking" and hit["question"] == "내 물건 어디쯤이에요"
    assert client.get("/admin/insight.json").json()["fix"]["state"] == "built"


def test_draft_fix_writes_a_draft_that_is_not_served(client: TestClient, settings: Settings,
                                                     service: KBService) -> None:
    csrf = sign_in(client)
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "new_article", "queries": ["판매자한테 연락하고 싶어요", "셀러 문의 어디서 해요"]})
    assert r.status_code == 202
    job = wait_for_fix(client, r.json()["id"])
    assert job["state"] == "built" and job["file"].startswith("drafts/")
    article = parse_article(settings.articles_dir / job["file"])
    assert article.status == "draft" and article.title == "판매자한테 연락하고 싶어요"
    assert job["article_id"] not in service.index.articles  # drafts are never served


def test_failed_build_keeps_the_live_index_and_reverts(client: TestClient, settings: Settings,
                                                       service: KBService) -> None:
    csrf = sign_in(client)
    path = settings.articles_dir / "delivery-tracking.md"
    before, build = path.read_bytes(), service.index.build_id
    # "반품하고 싶어요" is a question of return-request already: lint refuses the same question in two articles
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf}, json={
        "kind": "add_question", "article_id": "delivery-tracking", "queries": ["반품하고 싶어요"]})
    job = wait_for_fix(client, r.json()["id"])
    assert job["state"] == "failed" and job["reverted"]
    assert any("반품하고 싶어요" in m and "also asked" in m for m in job["messages"])
    assert path.read_bytes() == before and service.index.build_id == build


def test_one_fix_at_a_time(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.app.fixes

    release = threading.Event()
    monkeypatch.setattr(kb.app.fixes, "gated_build", lambda *a, **k: release.wait(30))
    csrf = sign_in(client)
    first = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                        json={"kind": "new_article", "queries": ["하나"]})
    assert first.status_code == 202
    second = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                         json={"kind": "new_article", "queries": ["둘"]})
    assert second.status_code == 409 and "another fix" in second.json()["detail"]
    release.set()
    assert wait_for_fix(client, first.json()["id"])["state"] == "built"


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "rewrite", "queries": ["a"]}, "kind"),
    ({"kind": "new_article", "queries": []}, "queries"),
    ({"kind": "new_article", "queries": [""]}, "queries.0"),
    ({"kind": "new_article", "queries": ["   "]}, "queries"),
    ({"kind": "new_article", "queries": ["a"] * 21}, "queries"),
    ({"kind": "new_article", "queries": "a"}, "queries"),
    ({"kind": "add_question", "queries": ["a"]}, "article_id"),
    ({"kind": "add_question", "article_id": 5, "queries": ["a"]}, "article_id"),
])
def test_bad_fix_bodies_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    csrf = sign_in(client)
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf}, json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_nothing_to_add_is_409_and_unknown_fix_404(client: TestClient) -> None:
    csrf = sign_in(client)
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "add_question", "article_id": "delivery-tracking", "queries": ["택배 언제 와요?"]})
    assert r.status_code == 409 and "already has" in r.json()["detail"]
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},  # well formed, no such article: 404, not 422
                    json={"kind": "add_question", "article_id": "nope", "queries": ["a"]})
    assert r.status_code == 404 and r.json()["detail"] == "no article with id 'nope'"
    assert client.get("/admin/fixes/unknown").status_code == 404
    assert client.get("/admin/fixes/" + "x" * 65).status_code == 422


def test_fix_needs_a_session(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/admin/fixes", json={"kind": "new_article", "queries": ["a"]})
    assert r.status_code == 401
    assert not (tmp_path / "articles" / "drafts").exists()


def test_every_replica_answers_for_a_fix_and_one_runs_at_a_time(client: TestClient, replica: TestClient,
                                                                 settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.app.fixes

    release = threading.Event()
    monkeypatch.setattr(kb.app.fixes, "gated_build", lambda *a, **k: release.wait(30))
    csrf, replica_csrf = sign_in(client), sign_in(replica)
    first = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                        json={"kind": "new_article", "queries": ["판매자 연락처"]})
    assert first.status_code == 202
    job = first.json()
    polled = replica.get(f"/admin/fixes/{job['id']}")  # the balancer sent the page's poll to the other replica
    assert polled.status_code == 200 and polled.json() == job
    assert replica.get("/admin/insight.json", params={"groups": "false"}).json()["fix"] == job
    second = replica.post("/admin/fixes", headers={"X-CSRF-Token": replica_csrf},
                          json={"kind": "new_article", "queries": ["셀러 문의"]})
    assert second.status_code == 409 and "another fix" in second.json()["detail"]
    assert [p.name for p in (settings.articles_dir / "drafts").iterdir()] == [Path(job["file"]).name]
    release.set()
    assert wait_for_fix(replica, job["id"])["state"] == "built"
    third = replica.post("/admin/fixes", headers={"X-CSRF-Token": replica_csrf},
                         json={"kind": "new_article", "queries": ["셀러 문의"]})
    assert third.status_code == 202  # free again, for every replica
    assert wait_for_fix(client, third.json()["id"])["state"] == "built"


def test_a_fix_left_running_by_a_dead_replica_blocks_nothing(client: TestClient, service: KBService) -> None:
    from kb.feedback.fixjobs import FIX_TIMEOUT, FixStatus

    assert service.fixjobs.add_fix(FixStatus("0123456789abcdef", "new_article", "gap", "drafts/gap.md", ("q",),
                                           started=time.time() - FIX_TIMEOUT - 5))
    csrf = sign_in(client)
    old = client.get("/admin/fixes/0123456789abcdef").json()
    assert old["state"] == "failed" and "probably stopped" in old["messages"][0]
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "new_article", "queries": ["판매자 연락처"]})
    assert r.status_code == 202
    assert wait_for_fix(client, r.json()["id"])["state"] == "built"


def test_fixes_answer_503_while_the_store_is_away(client: TestClient, service: KBService, settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.feedback.store import StoreUnavailable

    def down(work: Any) -> Any:
        raise StoreUnavailable("database unreachable: connection refused")

    csrf = sign_in(client)
    monkeypatch.setattr(service.store.engine, "run", down)
    r = client.post("/admin/fixes", headers={"X-CSRF-Token": csrf},
                    json={"kind": "new_article", "queries": ["판매자 연락처"]})
    assert r.status_code == 503
    assert r.json()["detail"] == "fixes cannot be started right now (database unreachable: connection refused)"
    assert not (settings.articles_dir / "drafts").exists()  # no edit without knowing that no other fix runs
    r = client.get("/admin/fixes/0123456789abcdef")
    assert r.status_code == 503 and "cannot be read right now" in r.json()["detail"]
    data = client.get("/admin/insight.json", params={"groups": "false"})
    assert data.status_code == 200 and data.json()["fix"] is None  # the page's numbers degrade as before


def test_chart_is_drawn_as_wide_as_the_panel_asks(client: TestClient, service: KBService) -> None:
    """The page asks for its panel's width: the bars span it and the text keeps its size (an image drawn 760
    wide filled 60% of a wide panel, or had its text scaled up with it)."""
    _plant(service)
    sign_in(client)
    ns = "{http://www.w3.org/2000/svg}"
    for width in (280, 1180, 2400):
        root = ET.fromstring(client.get("/admin/chart.svg", params={"days": 30, "width": width}).text)
        assert (root.get("width"), root.get("viewBox")) == (str(width), f"0 0 {width} 240")
        assert root.get("font-size") == "11"
        bars = [e for e in root.iter(f"{ns}rect") if e.find(f"{ns}title") is not None]
        assert bars and max(float(b.get("x", 0)) + float(b.get("width", 0)) for b in bars) > width - 40  # today
        grid = [float(e.get("x2", 0)) for e in root.iter(f"{ns}line")]
        assert max(grid) == width - 8
    for bad in (0, 279, 2401, "wide"):
        r = client.get("/admin/chart.svg", params={"width": bad})
        assert r.status_code == 422, r.text


def test_ratio_cells_never_wrap_and_the_chart_takes_the_panel_width() -> None:
    """admin.css: a number cell stays on one line ("100 / %" wrapped: kb.css breaks long words anywhere), and the
    chart is as wide as its panel (a max-width held it at 760 px). The layout itself: tests/browser/test_admin.py."""
    from importlib import resources

    css = re.sub(r"/\*.*?\*/", "", resources.files("kb.app").joinpath("static", "admin.css").read_text("utf-8"),
                 flags=re.S)
    rules = {m.group(1).strip(): m.group(2) for m in re.finditer(r"([^{}]+)\{([^}]*)\}", css)}
    assert "white-space: nowrap" in rules[".admin-table .num"]
    chart = rules[".admin-chart"]
    assert "width: 100%" in chart and "max-width" not in chart
