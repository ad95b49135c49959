from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from kb.app import errors
from kb.app.factory import create_app
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    app = create_app(small_settings, embedder=FakeEmbedder(), watch=False)
    with TestClient(app) as c:
        yield c


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model"] == "fake-ngram-64"
    assert (body["articles"], body["entries"]) == (4, 13)  # 9 questions + 4 whole-article passages
    assert body["build_time"]


def test_search_shape_and_one_hit_per_article(client: TestClient) -> None:
    r = client.get("/search", params={"q": "비번 까먹었어요", "k": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "비번 까먹었어요" and body["took_ms"] >= 0
    assert body["decision"] in {"answer", "suggest", "none"} and 0 <= body["confidence"] <= 1
    ids = [h["article_id"] for h in body["results"]]
    assert ids[0] == "password-reset" and len(ids) == len(set(ids)) == 4
    top = body["results"][0]
    assert top["question"] == "비번 까먹었어요" and top["title"] == "비밀번호를 잊어버렸어요"
    assert "<strong>비밀번호 찾기</strong>" in top["answer_html"] and "**" in top["answer"]
    assert "**" not in top["snippet"]
    assert top["why"]["matched_question"] == "비번 까먹었어요"
    assert set(top) >= {"article_id", "title", "question", "answer", "snippet", "category", "locale", "score"}


def test_search_json_is_the_schema_and_searches_run_two_per_core(client: TestClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The route renders SearchOut itself (one thread hop, no second validation): the same JSON as the schema."""
    import os

    from kb.app.routes.search import search_threads
    from kb.app.schemas import SearchOut

    r = client.get("/search", params={"q": "비번 까먹었어요"})
    assert r.headers["content-type"] == "application/json"
    assert SearchOut.model_validate_json(r.content).model_dump(mode="json") == r.json()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert search_threads() == 6


def test_filters(client: TestClient) -> None:
    body = client.get("/search", params={"q": "refund", "locale": "en"}).json()
    assert [h["article_id"] for h in body["results"]] == ["en-refund"]
    body = client.get("/search", params={"q": "배송", "category": "배송"}).json()
    assert {h["category"] for h in body["results"]} == {"배송"}
    r = client.get("/search", params={"q": "배송", "category": "없는 카테고리"})
    assert r.status_code == 200 and r.json()["results"] == [] and r.json()["decision"] == "none"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": ""}, "empty"),
        ({"q": "   "}, "empty"),
        ({"q": "가" * 513}, "limit is 512"),
        ({"q": "반품", "k": 0}, "greater than or equal to 1"),
        ({"q": "반품", "k": 51}, "less than or equal to 50"),
        ({}, "q is required"),
    ],
)
def test_bad_queries_get_422_with_a_reason(client: TestClient, params: dict[str, str | int], needle: str) -> None:
    r = client.get("/search", params=params)
    assert r.status_code == 422
    body = r.json()
    assert needle in body["detail"]
    assert set(body) == {"detail", "field"} and body["field"] in ("q", "k")  # one shape for every 422
    assert "가가" not in r.text  # the input is never echoed


def test_articles_and_categories(client: TestClient) -> None:
    body = client.get("/articles/return-request").json()
    assert body["title"] == "반품 신청은 어떻게 하나요?" and "반품 신청" in body["answer_html"]
    assert client.get("/articles/membership").status_code == 404  # draft
    r = client.get("/articles/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    cats = {c["name"]: c["count"] for c in client.get("/categories").json()["categories"]}
    assert cats == {"배송": 1, "취소/반품/교환": 1, "회원/계정": 1, "환불": 1}


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_html_in_answers_is_escaped(tmp_path: Path, write_article, fake_embedder: FakeEmbedder) -> None:  # type: ignore[no-untyped-def]
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    write_article("xss", "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))",
                  folder=tmp_path / "x", title="스크립트 질문")
    build_index(load_articles(tmp_path / "x"), fake_embedder, tmp_path / "xi")
    settings = Settings.from_env({}, index_dir=tmp_path / "xi", model="fake-ngram-64")
    with TestClient(create_app(settings, embedder=fake_embedder, watch=False)) as c:
        html = c.get("/search", params={"q": "스크립트"}).json()["results"][0]["answer_html"]
    assert "<script>" not in html and "<img" not in html and "href=\"javascript" not in html
    assert "&lt;script&gt;" in html


# --- what error details may show ----------------------------------------------------------------


def test_errors_show_only_a_short_escaped_prefix_of_the_input(small_settings: Settings) -> None:
    settings = replace(small_settings, admin_key="k" * 20)
    admin = {"Authorization": "Bearer " + "k" * 20}
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        answers = [
            c.get("/articles/" + "x" * 10_000),
            c.get("/static/" + "x" * 10_000),
            c.post("/feedback", json={"article_id": "x" * 200, "helpful": True}),
            c.post("/admin/fixes", json={"kind": "add_question", "article_id": "x" * 200, "queries": ["반품"]},
                   headers=admin),
        ]
        odd = c.get("/articles/%0d%0aSet-Cookie:%20a%00")
    for r in answers:
        assert r.status_code in (404, 422), r.text[:200]
        detail = r.json()["detail"]
        assert "x" * 41 not in detail and len(detail) < 120, detail
        assert "'" + "x" * 40 + "'…" in detail and "characters)" in detail  # what was cut, and how long it was
    detail = odd.json()["detail"]
    assert odd.status_code == 404 and "\r" not in detail and "\x00" not in detail
    assert "\\r\\nSet-Cookie: a\\x00" in detail  # escaped, still recognisable


def test_a_long_reason_is_bounded_whatever_raised_it() -> None:
    from kb.app.errors import MAX_DETAIL, shown

    assert shown("abc") == "'abc'" and shown("a\x00") == "'a\\x00'"
    assert shown("가" * 1000) == "'" + "가" * 40 + "'… (1000 characters)"
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise HTTPException(status_code=409, detail="y" * 10_000)

    r = TestClient(app).get("/boom")
    assert r.status_code == 409 and len(r.json()["detail"]) == MAX_DETAIL


# --- what the schema promises, the service keeps ------------------------------------------------


def test_suggest_on_only_whitespace_is_an_empty_list(client: TestClient) -> None:
    for q in ("\n", "   ", "\t \r\n"):
        r = client.get("/suggest", params={"q": q})
        assert r.status_code == 200 and r.json() == {"query": "", "suggestions": []}, q


@pytest.mark.parametrize("confidence", [False, True, "0.5"])
def test_a_logged_confidence_must_be_a_json_number(client: TestClient, confidence: object) -> None:
    """`false` was taken as 0.0: the schema says number, and a boolean (or a string) is not one."""
    body = {"query": "반품", "search_id": "xx.yy", "decision": "none", "confidence": confidence}
    r = client.post("/searches", json=body)
    assert r.status_code == 422 and r.json()["field"] == "confidence", r.text


def test_the_schema_refuses_an_empty_article_id_where_the_service_does(client: TestClient) -> None:
    """`POST /admin/fixes` refused `"article_id": ""` that its schema allowed (a schemathesis mismatch)."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]["FixIn"]["properties"]["article_id"]
    strings = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"]
    assert strings and all(s.get("minLength") == 1 for s in strings)


def test_snippets_are_plain_text_escaped_once_in_snippet_html(tmp_path: Path, write_article,  # type: ignore[no-untyped-def]
                                                             fake_embedder: FakeEmbedder) -> None:
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    write_article("signs", "R&amp;D 팀은 a &lt; b 일 때 **<b>** 태그와 1 < 2 & 3 > 2 를 봅니다 \\*별\\*.",
                  folder=tmp_path / "x", title="기호 질문")
    build_index(load_articles(tmp_path / "x"), fake_embedder, tmp_path / "xi")
    settings = Settings.from_env({}, index_dir=tmp_path / "xi", model="fake-ngram-64")
    with TestClient(create_app(settings, embedder=fake_embedder, watch=False)) as c:
        hit = c.get("/search", params={"q": "기호 질문"}).json()["results"][0]
    assert hit["snippet"] == "R&D 팀은 a < b 일 때 <b> 태그와 1 < 2 & 3 > 2 를 봅니다 *별*."  # as the page shows it
    assert "&amp;lt;" not in hit["snippet_html"] and "&amp;amp;" not in hit["snippet_html"]
    assert "R&amp;D 팀은 a &lt; b 일 때 &lt;b&gt; 태그와 1 &lt; 2 &amp; 3 &gt; 2" in hit["snippet_html"]
    assert "<b>" not in hit["snippet_html"] and "&lt;b&gt;" in hit["answer_html"]
