from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.i18n import STRINGS, choose_lang
from kb.app.identity import page_strings
from kb.app.routes.pages import CSP, render_page
from kb.app.service import KBService
from kb.articles.site import Site
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def service(small_settings: Settings, fake_embedder: FakeEmbedder) -> KBService:
    return KBService(small_settings, fake_embedder)


@pytest.fixture
def client(small_settings: Settings, service: KBService) -> Iterator[TestClient]:
    with TestClient(create_app(small_settings, service=service, watch=False)) as c:
        yield c


# --- pages ---------------------------------------------------------------------------------------


def test_help_page_is_korean_by_default(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert '<html lang="ko">' in r.text
    assert "무엇을 도와드릴까요?" in r.text
    assert 'href="/?lang=en"' in r.text  # the language switch


@pytest.mark.parametrize(
    ("url", "accept", "lang"),
    [("/", "en-US,en;q=0.9", "en"), ("/", "ko-KR,ko;q=0.9,en;q=0.8", "ko"), ("/?lang=en", "ko", "en"),
     ("/?lang=ko", "en", "ko"), ("/?lang=xx", "en", "en"), ("/", "fr-FR, en;q=0.3, ko;q=0.5", "ko"),
     ("/agent", "en", "en")],
)
def test_language_choice(client: TestClient, url: str, accept: str, lang: str) -> None:
    r = client.get(url, headers={"Accept-Language": accept})
    assert f'<html lang="{lang}">' in r.text
    assert r.headers["content-language"] == lang
    data = re.search(r'<script type="application/json" id="kb-i18n">(.*?)</script>', r.text, re.S)
    # the table, with the shop's name and channels filled in (neutral words here: the folder has no _site.yml)
    assert data is not None and json.loads(data.group(1)) == {**STRINGS[lang], **page_strings(Site(), lang)}


def test_choose_lang() -> None:
    assert choose_lang(None, None) == "ko"
    assert choose_lang(None, "en;q=0") == "ko"  # q=0 means "not this one"
    assert choose_lang(None, "en-GB;q=0.8, ko;q=0.8") == "en"  # a tie goes to the first listed
    assert choose_lang("EN", "ko") == "en"


def test_query_in_the_url_is_escaped_into_the_box(client: TestClient) -> None:
    r = client.get("/", params={"q": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in r.text
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in r.text


def test_agent_page(client: TestClient) -> None:
    r = client.get("/agent")
    assert r.status_code == 200
    assert "상담원 검색" in r.text and '/static/agent.js' in r.text


def test_every_learning_reason_has_its_words_in_both_languages() -> None:
    from kb.feedback.learning import WHY

    for lang in ("ko", "en"):
        assert all(STRINGS[lang].get(f"learned_why_{code}") for code in WHY), lang


def test_string_tables_match_and_templates_fill() -> None:
    assert set(STRINGS["ko"]) == set(STRINGS["en"])
    for lang in STRINGS:
        for page in ("index.html", "agent.html"):
            html = render_page(page, lang, {"q": ""})
            assert "{{" not in html


def test_every_linked_asset_is_served(client: TestClient) -> None:
    html = client.get("/").text + client.get("/agent").text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"?]+)', html))
    assert {"/static/kb.css", "/static/common.js", "/static/help.js", "/static/agent.js",
            "/static/favicon.svg"} <= assets
    for url in assets:
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/kb.css").headers["content-type"].startswith("text/css")
    assert "javascript" in client.get("/static/help.js").headers["content-type"]


def test_static_etag_and_missing_files(client: TestClient) -> None:
    r = client.get("/static/kb.css")
    again = client.get("/static/kb.css", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/..%2Froutes.py").status_code == 404
    assert client.get("/static/../web/routes.py").status_code == 404


# --- /suggest ------------------------------------------------------------------------------------


def test_suggest_choseong(client: TestClient) -> None:
    r = client.get("/suggest", params={"q": "ㅂㅍ"})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "ㅂㅍ"
    first = body["suggestions"][0]
    assert set(first) == {"text", "article_id", "category", "kind"}
    assert any(s["text"] == "반품 신청은 어떻게 하나요?" and s["article_id"] == "return-request"
               for s in body["suggestions"])


def test_suggest_half_typed_and_limit(client: TestClient) -> None:
    got = client.get("/suggest", params={"q": "배ㅅ", "limit": 2}).json()["suggestions"]
    assert len(got) == 2
    assert all(s["text"].startswith("배송") for s in got)


@pytest.mark.parametrize(
    ("params", "detail"),
    [({"q": ""}, "q is empty"), ({}, "q is required"),  # only spaces: 200, nothing to suggest (test_api)
     ({"q": "가" * 201}, "the limit is 200")],
)
def test_suggest_rejects_bad_queries(client: TestClient, params: dict[str, str], detail: str) -> None:
    r = client.get("/suggest", params=params)
    assert r.status_code == 422
    assert detail in r.json()["detail"]
    assert r.json()["field"] == "q" and set(r.json()) == {"detail", "field"}
    assert "가가" not in r.text  # the input is never echoed


def test_suggest_rejects_bad_limit(client: TestClient) -> None:
    assert client.get("/suggest", params={"q": "반", "limit": 0}).status_code == 422
    assert client.get("/suggest", params={"q": "반", "limit": 21}).status_code == 422


def test_suggestions_follow_a_reload(small_settings: Settings, service: KBService, client: TestClient,
                                     small_kb: Path, write_article: Callable[..., Path],
                                     fake_embedder: FakeEmbedder) -> None:
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    assert client.get("/suggest", params={"q": "ㅈㄱ"}).json()["suggestions"] == []
    write_article("gift", "선물하기는 상품 페이지에서...", folder=small_kb, title="정기구독 해지는 어떻게 하나요?",
                  category="주문/결제")
    build_index(load_articles(small_kb), fake_embedder, small_settings.index_dir)
    assert service.reload()
    texts = [s["text"] for s in client.get("/suggest", params={"q": "ㅈㄱ"}).json()["suggestions"]]
    assert texts == ["정기구독 해지는 어떻게 하나요?"]


# --- /feedback -----------------------------------------------------------------------------------


def test_feedback_counts_and_article_view(client: TestClient) -> None:
    r = client.post("/feedback", json={"query": "반품하고 싶어요", "article_id": "return-request", "helpful": True})
    assert r.status_code == 201
    body = r.json()
    assert body["article_id"] == "return-request" and body["id"] >= 1
    assert body["counts"] == {"helpful": 1, "not_helpful": 0}
    other = TestClient(client.app, client=("203.0.113.9", 50000))
    r = other.post("/feedback", json={"query": "반품", "article_id": "return-request", "helpful": False})
    assert r.json()["counts"] == {"helpful": 1, "not_helpful": 1}
    assert client.get("/articles/return-request").json()["feedback"] == {"helpful": 1, "not_helpful": 1}
    # the same client again, the same day: its vote is replaced, not added
    r = other.post("/feedback", json={"query": "반품", "article_id": "return-request", "helpful": True})
    assert r.json()["counts"] == {"helpful": 2, "not_helpful": 0}


def test_feedback_is_kept_beside_the_builds(client: TestClient, small_settings: Settings) -> None:
    client.post("/feedback", json={"query": "q", "article_id": "password-reset", "helpful": True})
    assert (small_settings.index_dir / "feedback.sqlite").is_file()


def test_feedback_unknown_article(client: TestClient) -> None:
    r = client.post("/feedback", json={"query": "q", "article_id": "nope", "helpful": True})
    assert r.status_code == 404
    assert r.json()["detail"] == "no article with id 'nope'"


@pytest.mark.parametrize(
    "body",
    [{"query": "q", "article_id": "return-request"},  # helpful missing
     {"query": "q", "article_id": "return-request", "helpful": "yes"},  # not a boolean
     {"query": "q", "article_id": "", "helpful": True},
     {"query": "가" * 513, "article_id": "return-request", "helpful": True},
     {"query": 5, "article_id": "return-request", "helpful": True}],
)
def test_feedback_bad_bodies(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/feedback", json=body)
    assert r.status_code == 422
    assert "detail" in r.json()


def test_unanswered_searches_are_stored(client: TestClient, small_settings: Settings) -> None:
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FILENAME, FeedbackStore

    assert client.post("/unanswered", json={"query": "  선물  포장 되나요 ", "kind": "none"}).status_code == 201
    assert client.post("/unanswered", json={"query": "선물 포장 되나요", "kind": "contact"}).status_code == 201
    [row] = FeedbackStore(SQLiteEngine(small_settings.index_dir / FILENAME)).unanswered()
    assert (row.query, row.none, row.contact) == ("선물 포장 되나요", 1, 1)


@pytest.mark.parametrize(
    "body",
    [{"query": "q"},  # kind missing
     {"query": "q", "kind": "maybe"},
     {"query": "", "kind": "none"},
     {"query": "   ", "kind": "none"},
     {"query": "가" * 513, "kind": "none"}],
)
def test_unanswered_bad_bodies(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/unanswered", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]


def test_feedback_not_json(client: TestClient) -> None:
    r = client.post("/feedback", content=b"helpful=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422


# --- /popular ------------------------------------------------------------------------------------


def test_popular_falls_back_to_a_fixed_order(client: TestClient) -> None:
    got = client.get("/popular").json()["questions"]
    ids = [q["article_id"] for q in got]
    assert len(ids) == len(set(ids)) == 4  # every published article, drafts left out
    assert all(q["source"] == "default" and q["helpful"] == 0 for q in got)
    assert got[0]["category"] != got[1]["category"]  # one category at a time, not five refund questions
    assert client.get("/popular").json() == client.get("/popular").json()  # stable


def test_popular_puts_helpful_articles_first(client: TestClient) -> None:
    for host in ("198.51.100.1", "198.51.100.2"):
        TestClient(client.app, client=(host, 50000)).post(
            "/feedback", json={"query": "q", "article_id": "password-reset", "helpful": True})
    for _ in range(5):  # one client's repeated votes count once
        client.post("/feedback", json={"query": "q", "article_id": "return-request", "helpful": True})
    got = client.get("/popular", params={"limit": 3}).json()["questions"]
    assert [(q["article_id"], q["helpful"], q["source"]) for q in got[:2]] == [
        ("password-reset", 2, "feedback"), ("return-request", 1, "feedback")]
    assert got[2]["source"] == "default" and len(got) == 3
    assert set(got[0]) == {"article_id", "title", "category", "locale", "helpful", "source"}


def test_popular_by_locale(client: TestClient) -> None:
    en = client.get("/popular", params={"locale": "en"}).json()["questions"]
    assert [q["article_id"] for q in en] == ["en-refund"]
    assert len(client.get("/popular", params={"locale": "ja"}).json()["questions"]) == 4  # none: show all
    assert client.get("/popular", params={"limit": 0}).status_code == 422


# --- the shop's identity (articles/_site.yml, carried by the build) -------------------------------------

SHOP = """\
name: 솔방울상점
logo: brand/logo.svg
brand_color: "#ffd400"
contact:
  phone: 02-555-0199
  hours: 평일 10:00-17:00
  email: help@solbangul.example
  chat_url: https://solbangul.example/chat
  form_url: https://solbangul.example/inquiry
locales:
  en: {name: Solbangul Shop, contact: {hours: "Weekdays 10:00-17:00"}}
"""


@pytest.fixture
def shop(small_settings: Settings, fake_embedder: FakeEmbedder) -> Callable[[str], TestClient]:
    """A client on a build of the small folder with ``text`` as its _site.yml."""
    from kb.articles.parse import load_articles
    from kb.index.build import build_index
    from kb.pipeline import config_files

    made: list[TestClient] = []

    def make(text: str) -> TestClient:
        folder = small_settings.articles_dir
        (folder / "brand").mkdir(exist_ok=True)
        (folder / "brand" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
        (folder / "_site.yml").write_text(text, encoding="utf-8")
        index = folder.parent / f"shop-index-{len(made)}"
        build_index(load_articles(folder), fake_embedder, index, config_files=config_files(folder))
        settings = replace(small_settings, index_dir=index, admin_key="k" * 24)
        client = TestClient(create_app(settings, embedder=fake_embedder, watch=False))
        made.append(client.__enter__())
        return client

    yield make  # type: ignore[misc]
    for c in made:
        c.__exit__(None, None, None)


def test_pages_and_widget_show_the_configured_shop(shop: Callable[[str], TestClient]) -> None:
    client = shop(SHOP)
    help_page, agent, admin = (client.get(u).text for u in ("/", "/agent", "/admin"))
    assert "<title>솔방울상점 고객센터</title>" in help_page
    assert "<title>상담원 검색 · 솔방울상점 고객센터</title>" in agent
    assert "<title>검색 인사이트 · 솔방울상점 고객센터</title>" in admin
    for html in (help_page, agent, admin):
        assert '<span class="brand-name">솔방울상점</span>' in html
        assert '<img class="brand-logo" src="/site/logo.svg?v=' in html and '/site.css?lang=' in html
    assert '<a class="channel-main" href="tel:025550199">02-555-0199</a>' in help_page
    assert '<span class="channel-note">평일 10:00-17:00</span>' in help_page
    assert 'href="mailto:help@solbangul.example"' in help_page and 'id="inquiry-wrap">' in help_page
    assert 'href="https://solbangul.example/chat"' in help_page
    assert 'href="https://solbangul.example/inquiry"' in help_page
    assert "© 솔방울상점 · 고객센터 02-555-0199 · 평일 10:00-17:00" in help_page
    en = client.get("/?lang=en").text
    assert "<title>Solbangul Shop Help Center</title>" in en and "Weekdays 10:00-17:00" in en
    widget = client.get("/widget.js").text
    for text in ("솔방울상점", "Solbangul Shop", "02-555-0199", "tel:025550199", "help@solbangul.example",
                 "https://solbangul.example/chat", "#ffd400"):
        assert text in widget, text


def test_logo_and_brand_colour_are_served(shop: Callable[[str], TestClient]) -> None:
    from kb.articles.site import contrast

    client = shop(SHOP)
    logo = client.get("/site/logo.svg")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in logo.headers["content-security-policy"]
    assert client.get("/site/site.yml").status_code == 404 and client.get("/site/synonyms.yml").status_code == 404
    css = client.get("/site.css?lang=ko").text
    values = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6})", css))
    assert values["brand"] == "#ffd400" and values["on-brand"] == "#000000"  # a yellow takes black text
    assert contrast(values["brand-strong"], values["brand-soft"]) >= 4.5
    assert contrast(values["brand-strong"], "#f5f7f9") >= 4.5


def test_a_logo_address_is_allowed_by_the_pages_csp(shop: Callable[[str], TestClient]) -> None:
    client = shop("name: 가게\nlogo: https://cdn.shop.example/logo.png\n")
    r = client.get("/")
    assert '<img class="brand-logo" src="https://cdn.shop.example/logo.png"' in r.text
    assert "img-src 'self' data: https://cdn.shop.example;" in r.headers["content-security-policy"]
    assert "/site.css" not in r.text  # no colour, no extra stylesheet


def test_absent_channels_are_not_shown(shop: Callable[[str], TestClient]) -> None:
    client = shop("name: 솔방울상점\ncontact:\n  phone: 02-555-0199\n")
    page = client.get("/").text.split('<script type="application/json"')[0]  # the page, not the strings table
    assert 'href="tel:025550199"' in page
    assert "mailto:help" not in page and "solbangul.example" not in page
    assert 'id="inquiry-wrap" hidden>' in page  # the inquiry form mails the shop: no address, no form
    assert "채팅 상담" not in page and "온라인 문의" not in page
    assert "© 솔방울상점 · 고객센터 02-555-0199</span>" in page
    widget = client.get("/widget.js").text
    assert '"contact_email": ""' in widget and '"contact_chat_url": ""' in widget


def test_no_site_file_gives_neutral_words_and_no_contact(client: TestClient) -> None:
    page = client.get("/").text
    assert "<title>고객센터</title>" in page and '<span class="brand-name">고객센터</span>' in page
    assert "tel:" not in page and "mailto:" not in page.replace('href="mailto:"', "")
    assert 'id="inquiry-wrap" hidden>' in page and "다른 말로 다시 검색해 보세요." in page
    assert "<title>Help center</title>" in client.get("/?lang=en").text
    assert '"contact_phone": ""' in client.get("/widget.js").text
    assert client.get("/site.css").text == ""


def test_a_rebuild_changes_the_shop(shop: Callable[[str], TestClient], small_settings: Settings,
                                    fake_embedder: FakeEmbedder) -> None:
    from kb.articles.parse import load_articles
    from kb.index.build import build_index
    from kb.pipeline import config_files

    client = shop(SHOP)
    assert "솔방울상점" in client.get("/widget.js").text
    folder = small_settings.articles_dir
    (folder / "_site.yml").write_text("name: 새이름상점\n", encoding="utf-8")
    build_index(load_articles(folder), fake_embedder, folder.parent / "shop-index-0", config_files=config_files(folder))
    assert client.post("/admin/reload", headers={"Authorization": "Bearer " + "k" * 24}).status_code == 200
    assert "<title>새이름상점 고객센터</title>" in client.get("/").text
    widget = client.get("/widget.js").text
    assert "새이름상점" in widget and "솔방울상점" not in widget


# --- web basics ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/agent", "/static/kb.css", "/static/searchbox.js", "/widget.js",
                                 "/openapi.json", "/search?q=%EB%B0%B0%EC%86%A1&k=5"])
def test_text_is_sent_compressed(client: TestClient, url: str) -> None:
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip" and "accept-encoding" in r.headers["vary"].lower()
    assert int(r.headers["content-length"]) < len(r.content)  # what went over the wire, and what it unpacked to


def test_small_answers_and_no_gzip_clients_get_plain_bodies(client: TestClient) -> None:
    assert "content-encoding" not in client.get("/health", headers={"Accept-Encoding": "gzip"}).headers
    r = client.get("/static/kb.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and r.text.startswith("/*")


def test_admin_page_says_whether_a_session_may_exist(shop: Callable[[str], TestClient]) -> None:
    # without the cookie admin.js shows the sign-in form at once instead of asking /admin/session for a 401
    # (an error in the console: Lighthouse's best practices)
    client = shop("name: 가게\n")
    assert 'data-session="">' in client.get("/admin").text
    client.cookies.set("kb_admin", "whatever")
    assert 'data-session="1">' in client.get("/admin").text


@pytest.mark.parametrize("url", ["/", "/?lang=en", "/agent", "/admin"])
def test_every_page_has_a_meta_description(shop: Callable[[str], TestClient], url: str) -> None:
    html = shop(SHOP).get(url).text
    found = re.search(r'<meta name="description" content="([^"]+)">', html)
    assert found is not None and len(found.group(1)) >= 20, url


def test_muted_text_keeps_aa_contrast() -> None:
    """``span.muted`` (the agent view's "type a query", grey on the page's grey) reads at 4.5:1 or more."""
    from kb.articles.site import contrast

    css = (Path(__file__).parents[2] / "kb" / "app" / "static" / "kb.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([\w-]+): (#[0-9a-fA-F]{6})", css))
    muted = re.search(r"\.muted \{ color: var\(--([\w-]+)\); \}", css)
    assert muted is not None
    for background in (colours["bg"], "#ffffff", "#eef1f4"):  # the page, cards, the grey badges
        assert contrast(colours[muted.group(1)], background) >= 4.5, background
