"""A damaged build never takes search down, and /health says what is wrong (issue #17, items 4 and 8).

The builds are damaged the ways the outside probe did (tests/support/damage.py): bytes overwritten in place in a
memory-mapped lexical array of the serving build (every search then failed with a 500 while /health said "ok"),
FAISS, articles or entries cut short or gone before a start.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.service import KBService
from kb.articles.parse import load_articles
from kb.feedback.engine import StoreUnavailable
from kb.feedback.sqlite import SQLiteEngine
from kb.index.build import build_index
from kb.index.store import current_path
from kb.settings import Settings
from tests.support.damage import LEXICAL_ARRAY, damage, overwrite
from tests.support.fakes import FakeEmbedder

ADMIN = {"Authorization": "Bearer k"}


@pytest.fixture
def two_builds(small_settings: Settings, small_kb: Path) -> tuple[Settings, Path, Path]:
    """Settings (with an admin key) on an index root of two builds: (settings, current, the older one)."""
    build_index(load_articles(small_kb), FakeEmbedder(), small_settings.index_dir)
    newest, older = sorted((small_settings.index_dir / "builds").iterdir(), reverse=True)
    assert newest == current_path(small_settings.index_dir)
    return dataclasses.replace(small_settings, admin_key="k"), newest, older


def _eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """``check()`` once it is truthy (polling: background work decides when), or its last value."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = check()
    return value


def test_a_search_on_a_damaged_build_answers_from_the_intact_one(two_builds: tuple[Settings, Path, Path]) -> None:
    settings, current, older = two_builds
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        assert c.get("/search", params={"q": "반품하고 싶어요"}).status_code == 200
        assert c.get("/health").json()["status"] == "ok"
        overwrite(current / LEXICAL_ARRAY)  # in place: the memory-mapped array of the serving build sees it
        r = c.get("/search", params={"q": "반품하고 싶어요"})
        assert r.status_code == 200 and r.json()["results"][0]["article_id"] == "return-request"
        health = c.get("/health").json()
        assert health["status"] == "degraded" and health["build"] == older.name
        assert health["damaged"] == [current.name]
        assert health["problems"][0] == \
            f"build {current.name} is damaged; serving {older.name}, the newest intact build"
        assert c.get("/search", params={"q": "비번 까먹었어요"}).status_code == 200
        r = c.post("/admin/reload", headers=ADMIN)  # says why the current build cannot serve, and what does
        assert r.status_code == 409 and f"still serving {older.name}" in r.json()["detail"]
        assert f"{current.name}/{LEXICAL_ARRAY} does not match its manifest" in r.json()["detail"]


def test_without_an_intact_build_a_damaged_one_gives_503_never_500(small_settings: Settings) -> None:
    build = current_path(small_settings.index_dir)
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False),
                    raise_server_exceptions=False) as c:
        overwrite(build / LEXICAL_ARRAY)
        for _ in range(2):
            r = c.get("/search", params={"q": "반품하고 싶어요"})
            assert r.status_code == 503 and "no intact build" in r.json()["detail"], r.text
            assert r.headers["retry-after"] == "5"
        health = c.get("/health").json()
        assert health["status"] == "degraded" and health["damaged"] == [build.name]
        assert health["problems"][0] == f"build {build.name} is damaged and no intact build is kept: run `kb build`"
        assert str(small_settings.index_dir) not in str(health)  # no paths in public


@pytest.mark.parametrize(("name", "how"), [
    (LEXICAL_ARRAY, "overwrite"), ("vectors.faiss", "overwrite"), ("vectors.faiss", "truncate"),
    ("articles.json", "truncate"), ("entries.jsonl", "delete"), ("tables.npz", "overwrite"),
])
def test_the_service_starts_on_the_newest_intact_build(two_builds: tuple[Settings, Path, Path], name: str, how: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    settings, current, older = two_builds
    damage(current / name, how)
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        assert c.get("/search", params={"q": "택배 언제 와요"}).json()["results"][0]["article_id"] == \
            "delivery-tracking"
        health = c.get("/health").json()
        assert health["build"] == older.name and health["damaged"] == [current.name]
        assert health["status"] == "degraded" and current.name in health["problems"][0]
        r = c.post("/admin/reload", headers=ADMIN)
        assert r.status_code == 409 and "still serving" in r.json()["detail"]
    assert any(current.name in m and "is damaged" in m for m in caplog.messages)  # and the log says so


def test_a_new_build_after_the_damage_serves_and_clears_it(two_builds: tuple[Settings, Path, Path],
                                                           small_kb: Path) -> None:
    settings, current, older = two_builds
    damage(current / "vectors.faiss", "truncate")
    service = KBService(settings, FakeEmbedder())
    try:
        assert service.index.path == older and service.reload() is False  # the damaged current is not retried
        build_index(load_articles(small_kb), FakeEmbedder(), settings.index_dir)
        assert service.reload() is True and service.index.path == current_path(settings.index_dir)
        assert service.problems() == []
        assert service.fallback is None
    finally:
        service.close()


def test_the_watcher_tick_notices_silent_damage(two_builds: tuple[Settings, Path, Path]) -> None:
    settings, current, older = two_builds
    service = KBService(settings, FakeEmbedder())
    try:
        service.watch_build()
        assert service.index.path == current  # nothing changed: nothing hashed, nothing switched
        overwrite(current / "lexical/data.csc.index.npy")  # scores: searches go on, ranking wrongly, no error
        service.watch_build()
        assert service.index.path == older and current.name in service.guard.damaged
    finally:
        service.close()


def test_health_probes_the_store_before_any_write(small_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    class Down(SQLiteEngine):  # PostgreSQL away since before the start
        def run(self, work: Callable[[Any], Any]) -> Any:
            self.problem = "database unreachable: connection refused"
            raise StoreUnavailable(self.problem)

    monkeypatch.setattr("kb.app.service.open_engine", lambda settings: Down(Path(settings.index_dir) / "x.sqlite"))
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False)) as c:
        health = _eventually(lambda: (h := c.get("/health").json())["status"] == "degraded" and h)
        assert health and health["problems"] == ["database unreachable: connection refused"]
        assert c.get("/search", params={"q": "반품"}).status_code == 200  # searches go on meanwhile


def test_the_gap_report_on_a_damaged_build_answers_from_the_intact_one(two_builds: tuple[Settings, Path, Path]) -> None:
    """/admin/gaps.json searched the serving build directly: a damaged one gave a 500."""
    settings, current, older = two_builds
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        for query in ("반품하고 싶어요 어떻게", "환불 언제 돼요"):
            assert c.post("/unanswered", json={"query": query, "kind": "none"}).status_code == 201
        overwrite(current / LEXICAL_ARRAY)
        r = c.get("/admin/gaps.json", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert c.get("/health").json()["build"] == older.name
