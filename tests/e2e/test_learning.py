"""The learning loop end to end: two `kb serve` replicas on one build and one PostgreSQL; customers vote on
either replica, an agent copies an answer, a crowd of strangers points wordings at wrong articles; one
an editor accepts a pending re-ranking; one `kb build` folds in what the policy learned, both replicas pick it
up, and the poison changed nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from kb.articles.benchmarks import load_queries
from kb.feedback.evidence import normalise_wording
from kb.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES, real_env
from tests.support.postgres import Postgres
from tests.support.server import running_server

AGENT_KEY = "agent-key-e2e"
ADMIN_KEY = "admin-key-e2e"
UNLIMITED = {"KB_RATE_SEARCH": "100000/second", "KB_RATE_SUGGEST": "100000/second", "KB_RATE_REPORTS": "100000/second"}


def _ranked(base: str, query: str, headers: dict[str, str] | None = None) -> list[dict[str, object]]:
    r = httpx.get(f"{base}/search", params={"q": query, "k": 10}, headers=headers or {}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["results"]  # type: ignore[no-any-return]


def _rank(base: str, query: str, article_id: str) -> int | None:
    ids = [h["article_id"] for h in _ranked(base, query)]
    return ids.index(article_id) + 1 if article_id in ids else None


def test_replicas_learn_together_and_poison_changes_nothing(tmp_path: Path, real_settings: Settings,
                                                            sample_root: Callable[[str], Path],
                                                            postgres: Postgres) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, articles)
    index = sample_root("learning-index")
    url = postgres.new_database()
    env = {**real_env(real_settings), "KB_DATABASE_URL": url, "KB_TRUSTED_PROXIES": "127.0.0.1",
           "KB_AGENT_KEY": AGENT_KEY, "KB_ADMIN_KEY": ADMIN_KEY, "KB_LEARN": "auto", **UNLIMITED}
    cli_env = {**os.environ, **env, "KB_INDEX_DIR": str(index), "KB_ARTICLES_DIR": str(articles)}

    def kb(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "kb", *args], cwd=str(ROOT), env=cli_env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout

    kb("build", "--quiet")
    first_build = (index / "current").resolve().name
    labelled = load_queries(ROOT / "tests" / "data" / "sample_queries.jsonl")

    with running_server(index, **env) as a, running_server(index, **env) as b:
        # wordings whose right article kb ranks 2nd or 3rd today: what customers can teach it
        teach = [(q.query, r) for q in labelled if q.lang == "ko"
                 for r in q.relevant_ids[:1] if _rank(a, q.query, r) in (2, 3)][:3]
        assert teach, "the sample has no query whose article is ranked 2nd or 3rd: nothing to learn"
        # wordings kb already answers right: the target of the poison, pointed at kb's own runner-up
        guarded = [(q.query, q.relevant_ids[0]) for q in labelled if q.lang == "ko"
                   and _rank(a, q.query, q.relevant_ids[0]) == 1][:3]
        wrong = {w: next(h["article_id"] for h in _ranked(a, w) if h["article_id"] != right) for w, right in guarded}

        # (for articles apart from those: a confirmation of kb's first article would corroborate a re-ranking of a
        # similar wording to it, as the policy's unit tests show)
        apart = {r for _, r in teach} | set(wrong.values())
        reinforce = [(q.query, q.relevant_ids[0]) for q in labelled if q.lang == "ko"
                     and (q.query, q.relevant_ids[0]) not in guarded and q.relevant_ids[0] not in apart
                     and _rank(a, q.query, q.relevant_ids[0]) == 1][:2]

        # customers vote on either replica: a re-ranking (the article kb has 2nd or 3rd) that nothing corroborates
        # waits for an agent or an editor, a wording more for kb's first article is learned from one vote
        for n, (wording, article) in enumerate(teach + reinforce):
            r = httpx.post(f"{(a, b)[n % 2]}/feedback", json={"query": wording, "article_id": article,
                                                             "helpful": True},
                           headers={"X-Forwarded-For": f"10.1.0.{n}"}, timeout=30)
            assert r.status_code == 201, r.text
        copied = httpx.post(f"{b}/signals", json={"kind": "copied", "query": teach[0][0], "article_id": teach[0][1]},
                            headers={"Authorization": f"Bearer {AGENT_KEY}"}, timeout=30)
        assert copied.status_code == 202
        for n in range(60):  # sixty "customers" point the guarded wordings at kb's runner-up, on both replicas
            for wording, bad in wrong.items():
                httpx.post(f"{(a, b)[n % 2]}/feedback", json={"query": wording, "article_id": bad, "helpful": True},
                           headers={"X-Forwarded-For": f"10.2.{n}.1"}, timeout=30)

        def states() -> dict[tuple[str, str], str]:
            listed = json.loads(kb("learn", "list", "--json"))["wordings"]
            return {(w["wording"], w["article_id"]): w["state"] for w in listed}

        before = states()
        assert before[(normalise_wording(teach[0][0]), teach[0][1])] == "live"  # the agent's copy
        for wording, article in teach[1:]:
            assert before[(normalise_wording(wording), article)] == "pending"  # for an editor
        for wording, article in reinforce:
            assert before[(normalise_wording(wording), article)] == "live"
        for wording, bad in wrong.items():
            assert before.get((normalise_wording(wording), bad)) in (None, "pending")  # never live
        if len(teach) > 1:  # an editor accepts a pending re-ranking, from the command line
            kb("learn", "accept", normalise_wording(teach[1][0]), teach[1][1])
        accepted = teach[:2]

        kb("build", "--quiet")
        second_build = (index / "current").resolve().name
        assert second_build != first_build
        manifest = json.loads((index / "current" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["counts"]["learned"] == len(accepted) + len(reinforce)
        deadline = time.monotonic() + 60
        while {httpx.get(f"{base}/health", timeout=10).json()["build"] for base in (a, b)} != {second_build}:
            assert time.monotonic() < deadline, "a replica did not switch to the learned build"
            time.sleep(0.5)

        for base in (a, b):
            for wording, article in accepted:  # re-ranked: first now, on both replicas
                hits = _ranked(base, wording, {"Authorization": f"Bearer {AGENT_KEY}"})
                assert hits[0]["article_id"] == article, (wording, hits[0]["article_id"])
                assert hits[0]["why"]["field"] == "learned"  # the agent view says so
                public = _ranked(base, wording)[0]
                assert public["question"] == public["title"]  # the customer's wording is never shown
            for wording, right in guarded:  # the poison changed nothing
                assert _ranked(base, wording)[0]["article_id"] == right
        states_now = states()

        # the editors' list on /admin shows the same verdict, and a rejection sticks through the next build
        with httpx.Client(base_url=a, timeout=30) as editor:
            csrf = editor.post("/admin/session", json={"key": ADMIN_KEY}).json()["csrf"]
            data = editor.get("/admin/learned.json").json()
            shown = {(w["wording"], art["article_id"]): w["state"] for art in data["articles"] for w in art["wordings"]}
            assert all(shown[k] == v for k, v in states_now.items())
            wording, article = reinforce[-1]
            r = editor.post("/admin/learned", headers={"X-CSRF-Token": csrf},
                            json={"wording": wording, "article_id": article, "action": "reject"})
            assert r.status_code == 200
        kb("build", "--quiet")
        learned_now = json.loads((index / "current" / "learned.json").read_text(encoding="utf-8"))
        assert normalise_wording(wording) not in learned_now.get(article, [])
