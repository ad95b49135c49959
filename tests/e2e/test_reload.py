"""Zero-downtime reload: searches from several threads against a real server while the index is rebuilt
and reloaded five times; no request may fail and every edit must be visible after its reload."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from kb.articles.parse import load_articles
from kb.index.build import build_index
from kb.pipeline import config_files
from kb.settings import Settings
from tests.conftest import SAMPLE_ARTICLES, real_env
from tests.support.damage import LEXICAL_ARRAY, overwrite
from tests.support.server import running_server

QUERIES = ["택배 언제 와요", "반품하고 싶어요", "비번 까먹었어요", "how do I return an item?", "현금영수증"]


def test_rebuild_and_reload_five_times_under_load(tmp_path: Path, real_embedder, real_settings: Settings,  # type: ignore[no-untyped-def]
                                                  sample_root: Callable[[str], Path]) -> None:
    articles_dir = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, articles_dir)
    index_dir = sample_root("index")
    build_index(load_articles(articles_dir), real_embedder, index_dir, config_files=config_files(articles_dir))
    target = articles_dir / "receipts" / "cash-receipt.md"
    original = target.read_text(encoding="utf-8")

    failures: list[str] = []
    done = threading.Event()
    counts = [0, 0, 0]

    def hammer(slot: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            i = 0
            while not done.is_set() and i < 5000:  # bounded, stops by itself
                q = QUERIES[(i + slot) % len(QUERIES)]
                i += 1
                try:
                    r = client.get("/search", params={"q": q, "k": 3})
                    if r.status_code != 200 or not r.json()["results"]:
                        failures.append(f"{q}: HTTP {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as e:
                    failures.append(f"{q}: {type(e).__name__}: {e}")
                counts[slot] += 1

    with running_server(index_dir, KB_ADMIN_KEY="test-key", KB_RATE_SEARCH="100000/second",
                        **real_env(real_settings)) as base:
        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        try:
            with httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": "Bearer test-key"}) as admin:
                for round_ in range(5):
                    marker = f"현금영수증 발급 안내 (개정 {round_ + 1}판)"
                    target.write_text(original.replace("---\n", f"---\nx-rev: {round_}\n", 1)
                                      .replace("title: 현금영수증은 어떻게 발급받나요?", f"title: {marker}"),
                                      encoding="utf-8")
                    build_index(load_articles(articles_dir), real_embedder, index_dir,
                                config_files=config_files(articles_dir))
                    r = admin.post("/admin/reload")
                    assert r.status_code == 200, r.text
                    health = admin.get("/health").json()
                    assert health["build"] == (index_dir / "current").resolve().name
                    assert health["load_ms"] <= 1000, health  # the build is read, not recomputed
                    article = admin.get("/articles/cash-receipt").json()
                    assert article["title"] == marker, f"round {round_}: edit not visible after reload"
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
    assert failures == []
    assert min(counts) > 0, counts


def test_a_damaged_live_build_falls_back_and_a_restart_starts_on_the_intact_one(  # type: ignore[no-untyped-def]
        tmp_path: Path, real_embedder, real_settings: Settings, sample_root: Callable[[str], Path]) -> None:
    """Issue #17: bytes overwritten in a lexical array of the serving build gave 500 on every search, /health "ok",
    and a restart refused to start although intact earlier builds were kept."""
    index_dir = sample_root("index")
    for _ in range(2):  # the second build embeds nothing: the cache holds every vector
        build_index(load_articles(SAMPLE_ARTICLES), real_embedder, index_dir,
                    config_files=config_files(SAMPLE_ARTICLES))
    current, older = sorted((index_dir / "builds").iterdir(), reverse=True)
    env = {"KB_ADMIN_KEY": "test-key", "KB_RATE_SEARCH": "100000/second", **real_env(real_settings)}
    with running_server(index_dir, **env) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/search", params={"q": QUERIES[0]}).status_code == 200
        overwrite(current / LEXICAL_ARRAY)
        answers = [client.get("/search", params={"q": q, "k": 3}) for q in QUERIES]
        assert [r.status_code for r in answers] == [200] * len(QUERIES) and all(r.json()["results"] for r in answers)
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["build"] == older.name and health["damaged"] == [current.name]
        reload = client.post("/admin/reload", headers={"Authorization": "Bearer test-key"})
        assert reload.status_code == 409 and "does not match its manifest" in reload.json()["detail"]
    with running_server(index_dir, **env) as base, httpx.Client(base_url=base, timeout=30) as client:
        health = client.get("/health").json()
        assert health["build"] == older.name and health["damaged"] == [current.name]
        assert client.get("/search", params={"q": QUERIES[1]}).status_code == 200
    logs = "".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("server-*.log"))
    assert f"build {current.name} is damaged; serving {older.name}" in logs
