"""The search box on a shop's own site: CORS on the public API only, ``GET /widget.js``, and the box itself in
a real headless Chromium, embedded in a page served from another origin (another port) under a strict CSP.

The browser tests use an in-process uvicorn with the fake embedder (fast) and the Chromium of tests/chromium.py;
the helpers here (``serve_kb``, ``serve_shop``, ``open_shop``, ...) are shared with tests/browser/test_accessibility.py.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.settings import Settings
from tests.conftest import ROOT, write
from tests.support.chromium import chrome, js_errors, wait_for
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve
from tests.support.server import free_port

SHOP = "https://shop.example"

# (id, title, category, alternate questions, answer)
ARTICLES = (
    ("delivery-tracking", "배송 조회는 어떻게 하나요?", "배송", ["택배 언제 와요?"],
     "**마이페이지 > 주문/배송 조회**에서 운송장 번호를 확인하세요."),
    ("return-request", "반품 신청은 어떻게 하나요?", "취소/반품", ["반품하고 싶어요"],
     "상품을 받은 뒤 7일 안에 **마이페이지 > 반품 신청**에서 신청하세요.\n\n- 반품 사유를 고르세요\n"
     "- 수거 날짜를 정하세요\n\n자세한 내용은 [반품 안내](/?q=반품)를 보세요."),
    ("password-reset", "비밀번호를 잊어버렸어요", "회원/계정", ["비번 까먹었어요"],
     "로그인 화면의 **비밀번호 찾기**를 누르세요."),
)
OFF_TOPIC = "오늘 점심 메뉴 추천"  # the fake index decides `none` for it


def write_articles(folder: Path, site: str | None = None) -> Path:
    for article_id, title, category, questions, body in ARTICLES:
        front = yaml.safe_dump({"title": title, "category": category, "questions": questions}, allow_unicode=True)
        write(folder / f"{article_id}.md", f"---\n{front}---\n{body}\n")
    # the shop's identity (by default the sample's name, phone, hours): what the contact boxes show
    write(folder / "_site.yml", site or (ROOT / "articles" / "_site.yml").read_text(encoding="utf-8"))
    return folder


def build_fake_index(root: Path, site: str | None = None) -> tuple[Settings, FakeEmbedder]:
    """Articles (with ``site`` as their _site.yml, else the sample's) and an index (fake embedder) under ``root``."""
    from kb.articles.parse import load_articles
    from kb.index.build import build_index
    from kb.pipeline import config_files

    embedder = FakeEmbedder()
    articles = write_articles(root / "articles", site)
    build_index(load_articles(articles), embedder, root / "index", config_files=config_files(articles))
    settings = Settings.from_env({}, index_dir=root / "index", articles_dir=root / "articles", model=embedder.model_id)
    return settings, embedder


# --- CORS and the script, in process ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, FakeEmbedder]:
    return build_fake_index(tmp_path_factory.mktemp("widget-unit"))


def client_for(fake_kb: tuple[Settings, FakeEmbedder], **overrides: Any) -> TestClient:
    settings, embedder = fake_kb
    settings = Settings.from_env({}, index_dir=settings.index_dir, articles_dir=settings.articles_dir,
                                 model=embedder.model_id, **overrides)
    return TestClient(create_app(settings, embedder=embedder, watch=False))


CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-allow-credentials", "access-control-expose-headers", "access-control-max-age")
PUBLIC_GETS = ("/search?q=반품", "/suggest?q=반", "/popular", "/categories", "/articles/return-request")


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in CORS_HEADERS}


def preflight(client: TestClient, path: str, origin: str, method: str = "GET", headers: str = "") -> Any:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=asked)


def test_a_listed_origin_may_call_the_public_api(fake_kb: tuple[Settings, FakeEmbedder]) -> None:
    with client_for(fake_kb, cors_origins=f"{SHOP},https://other.example") as client:
        for path in PUBLIC_GETS:
            r = client.get(path, headers={"Origin": SHOP})
            assert r.status_code == 200, path
            assert r.headers["access-control-allow-origin"] == SHOP, path
            assert "access-control-allow-credentials" not in r.headers  # no cookies, ever
            assert "Origin" in r.headers["vary"]
        r = preflight(client, "/feedback", SHOP, "POST", "content-type")
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == SHOP
        assert r.headers["access-control-allow-methods"] == "POST"
        assert "content-type" in r.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in r.headers
        r = client.post("/feedback", headers={"Origin": SHOP},
                        json={"query": "반품", "article_id": "return-request", "helpful": True})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"] == SHOP
        r = client.post("/unanswered", headers={"Origin": SHOP}, json={"query": OFF_TOPIC, "kind": "none"})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"] == SHOP
        r = preflight(client, "/searches", SHOP, "POST", "content-type")
        assert r.status_code == 204 and r.headers["access-control-allow-methods"] == "POST"
        sid = client.get("/search", params={"q": "반품"}, headers={"Origin": SHOP}).json()["search_id"]
        r = client.post("/searches", headers={"Origin": SHOP}, json={"query": "반품", "search_id": sid})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"] == SHOP


def test_an_origin_not_in_the_list_gets_no_cors_headers(fake_kb: tuple[Settings, FakeEmbedder]) -> None:
    with client_for(fake_kb, cors_origins=SHOP) as client:
        for path in PUBLIC_GETS:
            r = client.get(path, headers={"Origin": "https://evil.example"})
            assert r.status_code == 200 and cors_headers(r) == {}, path
        for origin in ("https://evil.example", "http://shop.example", "https://shop.example:8443"):
            r = preflight(client, "/feedback", origin, "POST", "content-type")
            assert r.status_code == 403 and cors_headers(r) == {}, origin
            assert origin in r.json()["detail"]
        # a listed origin still may not send other headers (a key) or use other methods
        r = preflight(client, "/search", SHOP, "GET", "authorization")
        assert r.status_code == 400 and cors_headers(r) == {}
        r = preflight(client, "/search", SHOP, "DELETE")
        assert r.status_code == 405 and cors_headers(r) == {}


@pytest.mark.parametrize("origins", [SHOP, "*"])
def test_admin_metrics_and_pages_never_get_cors_headers(fake_kb: tuple[Settings, FakeEmbedder], origins: str) -> None:
    with client_for(fake_kb, cors_origins=origins, admin_key="admin-key") as client:
        auth = {"Origin": SHOP, "Authorization": "Bearer admin-key"}
        for method, path in (("GET", "/admin/feedback"), ("POST", "/admin/reload"), ("GET", "/metrics"),
                             ("GET", "/health"), ("GET", "/"), ("GET", "/agent"), ("GET", "/static/help.js")):
            r = client.request(method, path, headers=auth)
            assert r.status_code < 500 and cors_headers(r) == {}, path
            r = preflight(client, path, SHOP, method, "authorization")
            assert cors_headers(r) == {}, path
        r = client.get("/admin/feedback", headers={"Origin": SHOP})  # wrong key: still no CORS on the 401
        assert r.status_code == 401 and cors_headers(r) == {}


def test_no_origins_no_cors_and_the_wildcard(fake_kb: tuple[Settings, FakeEmbedder]) -> None:
    with client_for(fake_kb) as client:  # the default: nobody
        assert cors_headers(client.get("/search?q=반품", headers={"Origin": SHOP})) == {}
        answer = preflight(client, "/feedback", SHOP, "POST")  # the app's own OPTIONS answer, no CORS grant
        assert answer.status_code == 204 and "POST" in answer.headers["allow"] and cors_headers(answer) == {}
    with client_for(fake_kb, cors_origins="*") as client:
        r = client.get("/search?q=반품", headers={"Origin": "https://anyone.example"})
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers


def test_widget_script_is_served_with_its_strings(fake_kb: tuple[Settings, FakeEmbedder]) -> None:
    from kb.app.i18n import STRINGS

    with client_for(fake_kb, cors_origins=SHOP) as client:
        r = client.get("/widget.js")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=600"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cross-origin-resource-policy"] == "cross-origin"
        assert "/*@kb-strings*/" not in r.text
        assert "1588-0000" in r.text and STRINGS["en"]["search_button"] in r.text  # the site's phone, the strings
        assert "access-control-allow-origin" not in r.headers  # a plain <script src> needs none
        again = client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        # loaded with integrity= and crossorigin, from a listed shop
        assert client.get("/widget.js", headers={"Origin": SHOP}).headers["access-control-allow-origin"] == SHOP


# --- the box in a real browser ------------------------------------------------------------------------


@contextmanager
def serve_kb(settings: Settings, embedder: FakeEmbedder) -> Iterator[str]:
    """kb in an in-process uvicorn on a free port; yields its base URL."""
    with serve(create_app(settings, embedder=embedder, watch=False)) as base:
        yield base


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_shop(folder: Path, port: int) -> Iterator[str]:
    """A plain static server for the shop's pages (another origin than kb: another port)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="shop-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# A shop stylesheet that would wreck a widget living in the page's DOM: it must not touch the box.
SHOP_CSS = """
body { margin: 0; font-family: Georgia, "Noto Serif CJK KR", serif; letter-spacing: .04em; background: #faf7f2;
       color: #3b2f2f; }
header { background: #3b2f2f; color: #fff; padding: 14px 32px; }
header p { margin: 0; font-size: 22px; font-weight: bold; }
main { max-width: 720px; margin: 28px auto; padding: 0 24px; }
h1 { font-size: 26px; margin: 0 0 6px; }
button { background: #111 !important; color: #ff0 !important; text-transform: uppercase; border-radius: 0; }
input { border: 3px dashed #e11d48 !important; display: none !important; }
ul { list-style: square; }
"""
# records CSP violations before anything else runs (an inline script would itself be one)
SHOP_JS = """window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def shop_page(kb: str, lang: str = "ko") -> str:
    """A shop's page with the two lines the README asks for, under a CSP that allows kb only for scripts
    and requests (styles: the shop's own files only)."""
    csp = (f"default-src 'self'; script-src 'self' {kb}; connect-src {kb}; style-src 'self'; img-src 'self'; "
           "object-src 'none'; base-uri 'none'")
    title = "고객 지원" if lang == "ko" else "Customer support"
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title} · 한결마켓</title>
<link rel="stylesheet" href="shop.css">
<script src="shop.js"></script>
<script src="{kb}/widget.js" data-kb-lang="{lang}" defer></script>
</head>
<body>
<header><p>한결마켓</p></header>
<main>
<h1>{title}</h1>
<p>{"궁금한 점을 검색해 보세요." if lang == "ko" else "Search our help center."}</p>
<div data-kb-search></div>
</main>
</body>
</html>
"""


def write_shop(folder: Path, kb: str) -> Path:
    write(folder / "shop.css", SHOP_CSS)
    write(folder / "shop.js", SHOP_JS)
    (folder / "index.html").write_text(shop_page(kb, "ko"), encoding="utf-8")
    (folder / "en.html").write_text(shop_page(kb, "en"), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(kb base URL, shop base URL, kb index folder): kb allows the shop's origin, and only it."""
    root = tmp_path_factory.mktemp("widget")
    settings, embedder = build_fake_index(root)
    shop_port = free_port()
    shop_origin = f"http://127.0.0.1:{shop_port}"
    settings = Settings.from_env({}, index_dir=settings.index_dir, articles_dir=settings.articles_dir,
                                 model=embedder.model_id, cors_origins=shop_origin)
    with serve_kb(settings, embedder) as kb:
        with serve_shop(write_shop(root / "shop", kb), shop_port) as shop:
            yield kb, shop, settings.index_dir


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chrome() as b:
        yield b


def inside(driver: Any, selector: str) -> list[Any]:
    """Elements inside the first box's shadow root."""
    from selenium.webdriver.common.by import By

    host = driver.find_element(By.CSS_SELECTOR, "[data-kb-search]")
    return list(host.shadow_root.find_elements(By.CSS_SELECTOR, selector))


def open_shop(driver: Any, url: str) -> Any:
    """Open a shop page and wait for the box; returns its input."""
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script(
        "const h = document.querySelector('[data-kb-search]'); return !!(h && h.shadowRoot && "
        "h.shadowRoot.querySelector('input'))"), "the search box did not appear")
    return inside(driver, "input")[0]


def page_problems(driver: Any) -> list[str]:
    """CSP violations on the page and errors in the console."""
    csp = list(driver.execute_script("return window.__csp || []"))
    return csp + js_errors(driver)


def shadow_style(driver: Any, selector: str, prop: str) -> str:
    return str(driver.execute_script(
        "const n = document.querySelector('[data-kb-search]').shadowRoot.querySelector(arguments[0]);"
        "return getComputedStyle(n).getPropertyValue(arguments[1]);", selector, prop))


def test_the_box_on_another_origin_searches_answers_and_records_a_vote(browser: Any,
                                                                        site: tuple[str, str, Path]) -> None:
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FeedbackStore

    kb, shop, index_dir = site
    box = open_shop(browser, shop + "/index.html")
    # styled by its own sheet under the page's strict CSP, untouched by the shop's stylesheet
    assert shadow_style(browser, ".go", "background-color") == "rgb(15, 118, 110)"
    assert shadow_style(browser, ".kb", "letter-spacing") == "normal"
    assert "Georgia" not in shadow_style(browser, ".kb", "font-family")
    assert box.is_displayed()  # the shop hides every <input> of its own
    box.send_keys("반품하고 싶어요")
    wait_for(browser, lambda d: inside(d, ".hit"), "no results in the box")
    first = inside(browser, ".hit")[0]
    assert first.get_attribute("data-article-id") == "return-request"
    answer = first.find_element("css selector", ".answer")
    wait_for(browser, lambda d: answer.is_displayed(), "the best answer is not open")
    assert "마이페이지 > 반품 신청" in answer.text
    link = answer.find_element("css selector", ".prose a")  # a link in the answer points at kb, not the shop
    assert link.get_attribute("href").startswith(kb + "/?q=")
    assert "반품하고 싶어요" in inside(browser, ".status")[0].text
    store = FeedbackStore(SQLiteEngine(index_dir / "feedback.sqlite"))
    before = store.counts("return-request")
    first.find_element("css selector", "[data-helpful=true]").click()
    wait_for(browser, lambda d: "감사" in first.find_element("css selector", ".msg").text, "no thanks after the vote")
    assert store.counts("return-request") == {**before, "helpful": before["helpful"] + 1}  # the vote reached kb
    # the settled search reaches the editors' insight page, as the help page's do; its typed prefixes never do
    wait_for(browser, lambda d: "반품하고 싶어요" in {q.query for q in store.top_queries()},
             "the search was not logged")
    assert [q.query for q in store.top_queries()
            if "반품하고 싶어요".startswith(q.query) and q.query != "반품하고 싶어요"] == []
    assert page_problems(browser) == []


def test_suggestions_are_a_keyboard_combobox(browser: Any, site: tuple[str, str, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    _, shop, _ = site
    box = open_shop(browser, shop + "/index.html")
    box.send_keys("ㅂㅍ")
    wait_for(browser, lambda d: inside(d, "[role=listbox]")[0].get_attribute("data-query") == "ㅂㅍ",
             "no suggestions for ㅂㅍ")
    assert any("반품" in o.text for o in inside(browser, "[role=option]")), "ㅂㅍ suggested no 반품"
    assert box.get_attribute("aria-expanded") == "true"
    assert box.get_attribute("aria-controls") == inside(browser, "[role=listbox]")[0].get_attribute("id")
    box.send_keys(Keys.ARROW_DOWN)
    first = inside(browser, "[role=option]")[0]
    assert first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    chosen = first.find_element("css selector", ".option-text").text
    box.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: inside(d, ".hit"), "choosing a suggestion did not search")
    assert box.get_attribute("value") == chosen
    assert box.get_attribute("aria-expanded") == "false"
    # the answers open and close from the keyboard too
    toggle = inside(browser, ".hit .toggle")[0]
    toggle.send_keys(Keys.ENTER)
    assert toggle.get_attribute("aria-expanded") in ("true", "false")


def test_no_answer_offers_the_way_to_a_person(browser: Any, site: tuple[str, str, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FeedbackStore

    kb, shop, index_dir = site
    box = open_shop(browser, shop + "/index.html")
    box.send_keys(OFF_TOPIC + Keys.ENTER)
    wait_for(browser, lambda d: inside(d, ".contact") and inside(d, ".contact")[0].is_displayed(),
             "no contact box when nothing fits")
    contact = inside(browser, ".contact")[0]
    assert "1588-0000" in contact.text and "평일 09:00-18:00" in contact.text
    assert contact.find_element("css selector", ".tel").get_attribute("href") == "tel:15880000"
    assert contact.find_element("css selector", ".cta").get_attribute("href").startswith(kb + "/?q=")
    assert "찾지 못했어요" in inside(browser, ".status")[0].text
    assert inside(browser, ".hit") == []
    wait_for(browser, lambda d: any(u.query == OFF_TOPIC and u.none == 1 for u in
                                    FeedbackStore(SQLiteEngine(index_dir / "feedback.sqlite")).unanswered(20)),
             "the search that found nothing was not reported")
    contact.find_element("css selector", ".cta").click()  # on to the help center, its contact panel open
    wait_for(browser, lambda d: d.current_url.startswith(kb + "/?q="), "the link did not lead to the help center")
    wait_for(browser, lambda d: d.find_element("css selector", "#contact").is_displayed(), "no contact panel there")
    wait_for(browser, lambda d: any(u.query == OFF_TOPIC and u.contact >= 1 for u in
                                    FeedbackStore(SQLiteEngine(index_dir / "feedback.sqlite")).unanswered(20)),
             "going on to the contact form was not reported")


def test_english_box(browser: Any, site: tuple[str, str, Path]) -> None:
    _, shop, _ = site
    box = open_shop(browser, shop + "/en.html")
    assert box.get_attribute("placeholder") == "e.g. I want to return an item"
    assert inside(browser, ".go")[0].text == "Search"
    assert inside(browser, ".kb")[0].get_attribute("lang") == "en"
    box.send_keys("반품 신청")
    wait_for(browser, lambda d: inside(d, ".hit"), "no results")
    assert "articles for" in inside(browser, ".status")[0].text


def test_screenshot_of_the_box(browser: Any, site: tuple[str, str, Path], tmp_path: Path) -> None:
    """The box on a plain shop page, its best answer open. ``KB_SCREENSHOTS=1`` writes the README's copy
    (docs/screenshot-widget.png); otherwise it goes to a temporary folder."""
    _, shop, _ = site
    target = ROOT / "docs" / "screenshot-widget.png" if os.environ.get("KB_SCREENSHOTS") == "1" else \
        tmp_path / "screenshot-widget.png"
    browser.set_window_size(1000, 860)
    try:
        box = open_shop(browser, shop + "/index.html")
        box.send_keys("반품하고 싶어요")
        wait_for(browser, lambda d: inside(d, ".hit .answer") and inside(d, ".hit .answer")[0].is_displayed(),
                 "no open answer")
        browser.execute_script("document.activeElement.blur()")
        time.sleep(0.3)
        target.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(target))
    finally:
        browser.set_window_size(1280, 900)
    assert target.stat().st_size > 10_000


def test_keyboard_focus_stays_in_the_box_after_a_vote(browser: Any, site: tuple[str, str, Path]) -> None:
    """The vote buttons go away once pressed: the focus moves to the thanks inside the box, never to <body>."""
    from selenium.webdriver.common.keys import Keys

    _, shop, _ = site
    box = open_shop(browser, shop + "/index.html")
    box.send_keys("반품하고 싶어요" + Keys.ENTER)
    wait_for(browser, lambda d: inside(d, ".hit .answer") and inside(d, ".hit .answer")[0].is_displayed(),
             "no open answer")
    button = inside(browser, ".hit [data-helpful=false]")[0]
    browser.execute_script("arguments[0].focus()", button)
    button.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: "감사" in inside(d, ".hit .msg")[0].text, "no thanks after the vote")
    focused = browser.execute_script("const root = document.querySelector('[data-kb-search]').shadowRoot;"
                                     "return [document.activeElement.tagName, root.activeElement?.className || '']")
    assert focused[0] != "BODY" and "msg" in focused[1].split()
