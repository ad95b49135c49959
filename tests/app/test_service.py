from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.service import KBService, Watcher
from kb.articles.parse import load_articles
from kb.index.build import build_index
from kb.index.store import LoadedIndex, current_path
from kb.settings import Settings
from tests.conftest import write
from tests.support.fakes import FakeEmbedder


def _edit_and_rebuild(small_kb: Path, index: Path, embedder: FakeEmbedder) -> None:
    write(small_kb / "gift.md",
          "---\ntitle: 선물하기는 어떻게 하나요?\ncategory: 주문/결제\n---\n선물하기 버튼을 누르세요.\n")
    build_index(load_articles(small_kb), embedder, index)


def test_admin_reload_needs_the_key_and_switches(small_settings: Settings, small_kb: Path) -> None:
    embedder = FakeEmbedder()
    settings = dataclasses.replace(small_settings, admin_key="s3cret")
    with TestClient(create_app(settings, embedder=embedder, watch=False)) as c:
        old_build = c.get("/health").json()["build"]
        _edit_and_rebuild(small_kb, settings.index_dir, embedder)
        assert c.get("/articles/gift").status_code == 404  # not before the reload
        r = c.post("/admin/reload")
        assert r.status_code == 401 and "admin key" in r.json()["detail"]
        assert c.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": "s3cret"}).status_code == 401
        r = c.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["reloaded"] is True
        assert c.get("/health").json()["build"] != old_build
        assert c.get("/articles/gift").json()["title"] == "선물하기는 어떻게 하나요?"
        hits = c.get("/search", params={"q": "선물하기는 어떻게 하나요?"}).json()["results"]
        assert hits[0]["article_id"] == "gift"
        again = c.post("/admin/reload", headers={"Authorization": "Bearer s3cret"}).json()
        assert again["reloaded"] is False


def test_admin_routes_are_off_without_a_key(small_settings: Settings) -> None:
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False)) as c:
        r = c.post("/admin/reload", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 404 and "KB_ADMIN_KEY" in r.json()["detail"]
        assert c.get("/admin/feedback", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_admin_feedback_lists_unhelpful_answers(small_settings: Settings) -> None:
    settings = dataclasses.replace(small_settings, admin_key="k")
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        for n, (query, helpful) in enumerate((("택배 안 와요", False), ("택배   안 와요", False), ("배송 조회", True))):
            vote = {"query": query, "article_id": "delivery-tracking", "helpful": helpful}
            customer = TestClient(c.app, client=(f"192.0.2.{n + 1}", 50000))  # three customers
            assert customer.post("/feedback", json=vote).status_code == 201
        assert c.get("/admin/feedback").status_code == 401
        assert c.get("/admin/feedback", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/admin/feedback", headers={"Authorization": "Bearer k"})
        assert r.status_code == 200
        assert c.post("/unanswered", json={"query": "선물 포장 되나요", "kind": "none"}).status_code == 201
        r = c.get("/admin/feedback", headers={"Authorization": "Bearer k"})
        assert r.status_code == 200
        body = r.json()
        assert body["articles"] == [{"article_id": "delivery-tracking", "title": "배송 조회는 어떻게 하나요?",
                                     "helpful": 1, "not_helpful": 2, "queries": ["택배 안 와요"]}]
        assert [(u["query"], u["none"], u["contact"]) for u in body["unanswered"]] == [("선물 포장 되나요", 1, 0)]
        bad = c.get("/admin/feedback", params={"limit": 0}, headers={"Authorization": "Bearer k"})
        assert bad.status_code == 422


def test_a_broken_new_build_keeps_the_old_one_serving(small_settings: Settings, small_kb: Path) -> None:
    embedder = FakeEmbedder()
    settings = dataclasses.replace(small_settings, admin_key="k")
    with TestClient(create_app(settings, embedder=embedder, watch=False)) as c:
        live = c.get("/health").json()["build"]
        _edit_and_rebuild(small_kb, settings.index_dir, embedder)
        (current_path(settings.index_dir) / "vectors.faiss").write_bytes(b"garbage")
        r = c.post("/admin/reload", headers={"Authorization": "Bearer k"})
        assert r.status_code == 409 and f"still serving {live}" in r.json()["detail"]
        assert c.get("/health").json()["build"] == live
        assert "does not match its manifest" in r.json()["detail"]  # the admin sees why
        health = c.get("/health").json()  # the public sees that, not the paths
        assert health["status"] == "degraded" and "failed to load" in health["problems"][0]
        assert str(settings.index_dir) not in str(health) and "/" not in "".join(health["problems"])
        assert c.get("/search", params={"q": "반품"}).status_code == 200


def test_watcher_picks_up_a_new_build(small_settings: Settings, small_kb: Path) -> None:
    embedder = FakeEmbedder()
    service = KBService(small_settings, embedder)
    watcher = Watcher(service, interval=0.05)
    watcher.start()
    try:
        _edit_and_rebuild(small_kb, small_settings.index_dir, embedder)
        deadline = time.monotonic() + 10
        while "gift" not in service.index.articles and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "gift" in service.index.articles
    finally:
        watcher.stop()


def test_derived_values_are_per_build(small_settings: Settings, small_kb: Path) -> None:
    embedder = FakeEmbedder()
    service = KBService(small_settings, embedder)
    calls: list[int] = []

    def count_articles(index: LoadedIndex) -> int:
        calls.append(1)
        return len(index.articles)

    count = service.derived("n", count_articles)
    assert count == 4 and service.derived("n", lambda index: 0) == 4 and len(calls) == 1
    _edit_and_rebuild(small_kb, small_settings.index_dir, embedder)
    assert service.reload() is True
    assert service.derived("n", lambda index: len(index.articles)) == 5
