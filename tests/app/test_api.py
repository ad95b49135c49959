from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
