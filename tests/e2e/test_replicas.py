"""Two `kb serve` replicas on one build folder and one PostgreSQL, under concurrent searches and votes,
while an editor's `kb build` lands and the database restarts once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from kb.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES, real_env
from tests.support.postgres import Postgres
from tests.support.server import running_server

QUERIES = ["택배 언제 와요", "반품하고 싶어요", "비번 까먹었어요", "how do I return an item?", "현금영수증",
           "결제 취소 되나요", "ㅂㅍ 신청", "쿠폰 어디서 써요"]
VOTED = ["delivery-tracking", "return-request", "password-reset"]
UNLIMITED = {"KB_RATE_SEARCH": "100000/second", "KB_RATE_SUGGEST": "100000/second", "KB_RATE_REPORTS": "100000/second"}


def _health(base: str) -> dict[str, object]:
    return httpx.get(f"{base}/health", timeout=10).json()  # type: ignore[no-any-return]


def test_two_replicas_share_one_build_and_one_database(tmp_path: Path, real_settings: Settings,
                                                       sample_root: Callable[[str], Path], postgres: Postgres) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, articles)
    index = sample_root("shared-index")  # the shared volume: one build folder for every replica
    url = postgres.new_database()
    env = {**real_env(real_settings), "KB_DATABASE_URL": url, "KB_TRUSTED_PROXIES": "127.0.0.1",
           **UNLIMITED}  # this is a test of replicas, not of the per-client limits (tests/app covers those)
    cli_env = {**os.environ, **env, "KB_INDEX_DIR": str(index), "KB_ARTICLES_DIR": str(articles)}

    def kb_build() -> str:
        out = subprocess.run([sys.executable, "-m", "kb", "build", "--quiet"], cwd=str(ROOT), env=cli_env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return (index / "current").resolve().name

    first_build = kb_build()
    acked: list[tuple[str, str, int]] = []  # (client, article, vote id) of every 201
    refused: list[int] = []  # votes refused while the database was down (503 with a reason)
    failed: list[str] = []  # any search that did not answer 200 with results
    done = threading.Event()
    lock = threading.Lock()

    with running_server(index, **env) as a, running_server(index, **env) as b:
        assert _health(a)["build"] == _health(b)["build"] == first_build

        def searcher(base: str, slot: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                i = 0
                while not done.is_set() and i < 20000:
                    q = QUERIES[(i + slot) % len(QUERIES)]
                    i += 1
                    try:
                        r = client.get("/search", params={"q": q, "k": 3})
                        if r.status_code != 200 or not r.json()["results"]:
                            with lock:
                                failed.append(f"{base} {q}: HTTP {r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as e:
                        with lock:
                            failed.append(f"{base} {q}: {type(e).__name__}: {e}")

        def voter(base: str, slot: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                i = 0
                while not done.is_set() and i < 5000:
                    i += 1
                    ip = f"10.{slot}.{i // 250}.{i % 250}"  # a distinct customer per vote, behind the proxy
                    article = VOTED[i % len(VOTED)]
                    r = client.post("/feedback", json={"query": "테스트", "article_id": article, "helpful": False},
                                    headers={"X-Forwarded-For": ip})
                    with lock:
                        if r.status_code == 201:
                            acked.append((ip, article, r.json()["id"]))
                        elif r.status_code == 503 and r.json()["detail"]:
                            refused.append(i)
                        else:
                            failed.append(f"vote {ip}: HTTP {r.status_code} {r.text[:200]}")
                    time.sleep(0.02)

        threads = [threading.Thread(target=searcher, args=(base, n)) for n, base in enumerate((a, b, a, b))]
        threads += [threading.Thread(target=voter, args=(base, n)) for n, base in enumerate((a, b))]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            # an editor's change reaches every replica through one `kb build`
            target = articles / "receipts" / "cash-receipt.md"
            text = target.read_text(encoding="utf-8")
            new_title = "현금영수증 발급 안내 (개정판)"
            target.write_text(text.replace("title: 현금영수증은 어떻게 발급받나요?", f"title: {new_title}"),
                              encoding="utf-8")
            second_build = kb_build()
            assert second_build != first_build
            deadline = time.monotonic() + 60
            while {_health(a)["build"], _health(b)["build"]} != {second_build}:
                assert time.monotonic() < deadline, "a replica did not switch to the new build"
                time.sleep(0.5)
            for base in (a, b):
                assert httpx.get(f"{base}/articles/cash-receipt").json()["title"] == new_title
            # the database goes away and comes back: searches go on, votes get a clear 503, then work again
            postgres.stop()
            time.sleep(4)
            assert _health(a)["status"] == "degraded" or _health(b)["status"] == "degraded"
            with lock:
                before = len(acked)
            postgres.start()
            deadline = time.monotonic() + 60
            while True:  # both replicas reconnect by themselves
                time.sleep(0.5)
                with lock:
                    if len(acked) >= before + 10:
                        break
                assert time.monotonic() < deadline, "votes did not recover after the database came back"
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
        # each replica's /health finds the database again by itself, votes or not
        deadline = time.monotonic() + 30
        while (_health(a)["status"], _health(b)["status"]) != ("ok", "ok"):
            assert time.monotonic() < deadline, (_health(a)["problems"], _health(b)["problems"])
            time.sleep(0.5)

    assert failed == []
    assert refused, "no vote was made while the database was down"
    rows = postgres.rows(url, "SELECT id, article_id, COUNT(*) OVER (PARTITION BY day, client, article_id) FROM votes")
    by_id = {int(i): (article, int(n)) for i, article, n in rows}
    assert len(rows) == len(acked)  # every acknowledged vote, and nothing else
    assert all(by_id[i] == (article, 1) for _, article, i in acked)  # each exactly once
    out = subprocess.run([sys.executable, "-m", "kb", "feedback", "--json", "--limit", "10"], cwd=str(ROOT),
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = {r["article_id"]: r["not_helpful"] for r in json.loads(out.stdout)["articles"]}
    expected = {v: sum(1 for _, article, _ in acked if article == v) for v in VOTED}
    assert report == expected  # the union of both replicas' votes


def test_wrong_keys_and_sign_outs_hold_on_every_replica(tmp_path: Path, real_settings: Settings,
                                                        sample_index: Path, postgres: Postgres) -> None:
    """Wrong keys spread over two replicas add up to one lockout on both; a sign-out made on one replica while
    the database is down reaches the other once the database is back."""
    index = tmp_path / "index"
    shutil.copytree(sample_index, index, symlinks=True)  # `current` is a relative link
    key = "replica-admin-key"
    env = {**real_env(real_settings), "KB_DATABASE_URL": postgres.new_database(), "KB_ADMIN_KEY": key,
           "KB_TRUSTED_PROXIES": "127.0.0.1", **UNLIMITED}

    def admin(base: str, bearer: str, address: str) -> httpx.Response:
        return httpx.get(f"{base}/admin/feedback", timeout=30,
                         headers={"Authorization": f"Bearer {bearer}", "X-Forwarded-For": address})

    with running_server(index, **env) as a, running_server(index, **env) as b:
        for i in range(10):  # a guesser, spread over both replicas by the balancer
            assert admin((a, b)[i % 2], f"guess-{i}", "203.0.113.5").status_code == 401
        for base in (a, b):
            r = admin(base, key, "203.0.113.5")  # the right key: refused too, on both
            assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 900
            assert admin(base, key, "198.51.100.5").status_code == 200  # another client is not locked out

        signed = httpx.post(f"{a}/admin/session", json={"key": key}, timeout=30)
        assert signed.status_code == 200
        cookie = {"Cookie": f"kb_admin={signed.cookies['kb_admin']}"}
        assert all(httpx.get(f"{base}/admin/session", headers=cookie).status_code == 200 for base in (a, b))
        postgres.stop()
        try:
            out = httpx.delete(f"{a}/admin/session", headers={**cookie, "X-CSRF-Token": signed.json()["csrf"]},
                               timeout=30)
            assert out.status_code == 204
            assert httpx.get(f"{a}/admin/session", headers=cookie, timeout=30).status_code == 401  # at once, here
        finally:
            postgres.start()
        deadline = time.monotonic() + 60
        while httpx.get(f"{b}/admin/session", headers=cookie, timeout=30).status_code != 401:
            assert time.monotonic() < deadline, "the sign-out never reached the other replica"
            time.sleep(0.5)
