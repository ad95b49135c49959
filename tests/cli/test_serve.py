"""``kb serve`` (kb.cli.serve), with uvicorn and the app replaced: what it would run, with which options.
The real server: tests/e2e."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kb import cli
from kb.cli.serve import SERVER_OPTIONS, default_workers


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """What ``uvicorn.run`` was called with; the environment is a copy without ``KB_*`` (restored after)."""
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("KB_")})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # a 2-core machine
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: calls.append((app, options)))
    monkeypatch.setattr("kb.app.factory.create_app", lambda settings: ("app", settings.index_dir))
    return calls


def test_serve_fails_fast_without_an_index(runs: list[Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--index", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("kb: error: no index at") and runs == []


def test_one_process_runs_the_app_with_the_server_limits(runs: list[Any], small_index: Path) -> None:
    assert cli.main(["serve", "--index", str(small_index), "--port", "8123", "--log-level", "warning"]) == 0
    assert runs == [(("app", small_index),
                     {"host": "127.0.0.1", "port": 8123, "log_level": "warning", **SERVER_OPTIONS})]
    assert SERVER_OPTIONS["proxy_headers"] is False  # X-Forwarded-For is kb's to believe (KB_TRUSTED_PROXIES)


def test_workers_get_the_settings_through_the_environment(runs: list[Any], small_index: Path) -> None:
    assert cli.main(["serve", "--index", str(small_index), "--workers", "2", "--host", "0.0.0.0"]) == 0
    [(app, options)] = runs
    assert app == "kb.app.factory:app_from_env"
    assert options == {"factory": True, "workers": 2, "host": "0.0.0.0", "port": 8000, "log_level": "info",
                       **SERVER_OPTIONS}
    assert os.environ["KB_INDEX_DIR"] == str(small_index) and os.environ["KB_WORKERS"] == "2"
    assert os.environ["KB_HOST"] == "0.0.0.0" and "KB_DATABASE_URL" not in os.environ  # unset stays unset


def test_workers_default_to_one_per_four_cores_of_the_machine(runs: list[Any], small_index: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert [default_workers(n) for n in (1, 2, 4, 7, 8, 16)] == [1, 1, 1, 1, 2, 4]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert cli.main(["serve", "--index", str(small_index)]) == 0
    [(app, options)] = runs
    assert app == "kb.app.factory:app_from_env" and options["workers"] == 2 and os.environ["KB_WORKERS"] == "2"


def test_workers_asked_for_win_over_the_machine_default(runs: list[Any], small_index: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    os.environ["KB_WORKERS"] = "1"
    assert cli.main(["serve", "--index", str(small_index)]) == 0
    assert cli.main(["serve", "--index", str(small_index), "--workers", "3"]) == 0
    [(one, _), (three, options)] = runs
    assert one == ("app", small_index) and three == "kb.app.factory:app_from_env" and options["workers"] == 3


def test_serve_starts_on_the_intact_build_when_current_is_damaged(small_index: Path, small_kb: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The real app (fake model) under a stand-in for uvicorn that starts it, asks it, and stops it."""
    from fastapi.testclient import TestClient

    from kb.articles.parse import load_articles
    from kb.index.build import build_index
    from tests.support.damage import LEXICAL_ARRAY, overwrite
    from tests.support.fakes import FakeEmbedder

    older = (small_index / "current").resolve()
    build_index(load_articles(small_kb), FakeEmbedder(), small_index)
    damaged = (small_index / "current").resolve()
    overwrite(damaged / LEXICAL_ARRAY)
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("KB_")})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # one process
    answers: list[Any] = []

    def serve(app: Any, **options: Any) -> None:
        with TestClient(app) as c:
            answers.extend([c.get("/health").json(), c.get("/search", params={"q": "반품하고 싶어요"})])

    monkeypatch.setattr("uvicorn.run", serve)
    assert cli.main(["serve", "--index", str(small_index)]) == 0
    health, search = answers
    assert health["build"] == older.name and health["damaged"] == [damaged.name] and health["status"] == "degraded"
    assert search.status_code == 200 and search.json()["results"][0]["article_id"] == "return-request"


def test_serve_refuses_in_one_line_when_no_build_is_intact(runs: list[Any], small_index: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.damage import damage

    damage((small_index / "current").resolve() / "vectors.faiss", "truncate")
    assert cli.main(["serve", "--index", str(small_index)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kb: error: no intact build to serve in") and "vectors.faiss" in err and "kb build" in err
    assert err.count("\n") == 1 and runs == []
