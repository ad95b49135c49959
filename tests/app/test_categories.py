"""Category chips in the page's language: ``/categories?locale=`` lists the categories of that locale's
articles (an English page showed the Korean ones), and the sample files its English articles under English
category names."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.settings import Settings
from tests.conftest import SAMPLE_ARTICLES
from tests.support.fakes import FakeEmbedder

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False)) as c:
        yield c


def names(client: TestClient, **params: str) -> dict[str, int]:
    r = client.get("/categories", params=params)
    assert r.status_code == 200, r.text
    return {c["name"]: c["count"] for c in r.json()["categories"]}


def test_categories_of_the_page_language(client: TestClient) -> None:
    everything = names(client)
    assert everything == {"배송": 1, "취소/반품/교환": 1, "회원/계정": 1, "환불": 1}
    assert names(client, locale="en") == {"환불": 1}  # the one English article's
    assert names(client, locale="EN ") == {"환불": 1}
    assert names(client, locale="ko") == {"배송": 1, "취소/반품/교환": 1, "회원/계정": 1}
    assert names(client, locale="ja") == everything  # no article in that language: all rather than none
    assert names(client, locale="") == everything
    assert client.get("/categories", params={"locale": "x" * 17}).status_code == 422


def test_the_sample_files_english_articles_under_english_categories() -> None:
    from kb.articles.parse import load_articles

    articles = load_articles(SAMPLE_ARTICLES)
    english = {a.category for a in articles if a.locale == "en"}
    assert english and not [c for c in english if HANGUL.search(c)], english
    korean = {a.category for a in articles if a.locale == "ko"}
    assert not english & korean
