"""End to end with the real bundled model, real FAISS and a real uvicorn process on the sample knowledge base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kb.errors import IndexMismatchError
from kb.index.store import load_index
from kb.pipeline import open_build
from kb.search.searcher import Searcher
from kb.settings import Settings
from tests.conftest import ROOT, real_env
from tests.support.server import running_server


@pytest.fixture(scope="module")
def searcher(sample_index: Path, real_embedder) -> Searcher:  # type: ignore[no-untyped-def]
    return open_build(sample_index, real_embedder)


def top_ids(searcher: Searcher, query: str, k: int = 3, **kw: str) -> list[str]:
    return [h.article_id for h in searcher.search(query, k=k, **kw).results]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("택배 언제 와요", "delivery-tracking"),
        ("산 물건 돌려보내고 싶어요", "return-request"),
        ("비번 까먹었는데 어떡해요", "password-reset"),
        ("회원탈퇴 하고싶어요", "account-delete"),
        ("현금영수증 발급", "cash-receipt"),
        ("결제한지 3일 됐는데 결제 취소 되나요", "payment-cancel"),
        ("고객센터 몇시까지 해요?", "cs-phone-hours"),
    ],
)
def test_colloquial_korean_finds_the_right_article_first(searcher: Searcher, query: str, expected: str) -> None:
    assert top_ids(searcher, query, k=1) == [expected]


@pytest.mark.parametrize(
    ("query", "expected", "decisions"),
    [
        # the general fee used to be one section of the delivery FAQ page: the return fee article won, answered
        ("배송비", "shipping-fee", {"answer", "suggest"}),
        ("배송비 얼마예요", "shipping-fee", {"answer", "suggest"}),
        ("택배비 얼마", "shipping-fee", {"answer", "suggest"}),
        ("반품 배송비", "return-shipping-fee", {"answer", "suggest"}),
        # no article held the word 영업시간: the right top hit was sent to none
        ("영업시간", "cs-phone-hours", {"answer", "suggest"}),
        ("상담 시간 언제까지", "cs-phone-hours", {"answer", "suggest"}),
    ],
)
def test_short_fee_and_hours_queries(searcher: Searcher, query: str, expected: str, decisions: set[str]) -> None:
    resp = searcher.search(query, k=3)
    assert resp.results[0].article_id == expected, [h.article_id for h in resp.results]
    assert resp.decision in decisions, (resp.decision, resp.confidence)


def test_missing_spaces_still_find_the_article(searcher: Searcher) -> None:
    # without the respaced embedding, "택배언제와요" put "반품 회수는 언제 오나요" (pickup) first
    assert top_ids(searcher, "택배언제와요", k=1) == ["delivery-tracking"]
    assert top_ids(searcher, "반품신청어떻게해요", k=1) == ["return-request"]
    assert top_ids(searcher, "현금영수증발급받고싶어요", k=1) == ["cash-receipt"]


def test_english_queries_find_korean_articles(searcher: Searcher) -> None:
    assert "return-request" in top_ids(searcher, "how do I return an item?")
    assert "return-request" in top_ids(searcher, "how do I return an item?", locale="ko")
    assert "account-delete" in top_ids(searcher, "delete my account", locale="ko")
    # English customers are served the English article first where one exists
    assert top_ids(searcher, "where is my package", k=1) == ["en-delivery-tracking"]
    assert top_ids(searcher, "I forgot my password", k=1, locale="en") == ["en-reset-password"]


def test_drafts_are_not_served(searcher: Searcher) -> None:
    assert "membership-benefits" not in searcher.index.articles
    assert all(h.article_id != "membership-benefits" for h in searcher.search("멤버십 혜택", k=10).results)


def test_faq_guide_sections_point_back_to_their_page(searcher: Searcher) -> None:
    guide = searcher.index.articles["delivery-faq-guide"]
    hit = next(h for h in searcher.search(guide.sections[0].question, k=3).results
               if h.article_id == "delivery-faq-guide")
    assert hit.question == guide.sections[0].question
    assert hit.answer == guide.sections[0].answer


def test_cli_search_real_model(sample_index: Path, real_settings: Settings) -> None:
    env = dict(os.environ, KB_INDEX_DIR=str(sample_index), **real_env(real_settings))
    out = subprocess.run([sys.executable, "-m", "kb", "search", "how do I return an item?", "--json"],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ids = [h["article_id"] for h in json.loads(out.stdout)["results"]]
    assert "return-request" in ids[:3]


def test_real_server_answers_over_http(sample_index: Path, real_settings: Settings) -> None:
    with running_server(sample_index, **real_env(real_settings)) as base:
        r = httpx.get(f"{base}/search", params={"q": "택배 언제 와요"}, timeout=30)
        assert r.status_code == 200
        assert r.json()["results"][0]["article_id"] == "delivery-tracking"
        assert httpx.get(f"{base}/search", params={"q": " "}, timeout=30).status_code == 422
        health = httpx.get(f"{base}/health", timeout=30).json()
        assert health["model"] == "multilingual-e5-small" and health["articles"] >= 48
        assert health["build"] == (sample_index / "current").resolve().name and 0 < health["load_ms"]


def test_index_built_for_another_model_is_refused(sample_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="built with model 'multilingual-e5-small'"):
        load_index(sample_index, expected_model="some-other-model")
