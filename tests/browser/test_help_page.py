"""The help-center page in a real headless Chromium, against real servers.

* ``live``: ``kb build`` + ``kb serve`` (real model, real uvicorn process) on the sample articles;
* ``fake``: an in-process uvicorn on a tiny index (fake embedder) with a hostile article, for the
  escaping checks and a race between two searches.

Chromium starts once for the module (tests/chromium.py). Without Debian's chromium + chromedriver the tests
skip, except under CI (``CI=true``), where they fail so a broken machine is noticed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from kb.settings import Settings
from tests.conftest import ROOT, real_env, write
from tests.support.chromium import WAIT, chrome, css, js_errors, require_browser, wait_for
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve
from tests.support.server import running_server

ARTIFACTS = ROOT / "tests" / "artifacts"
AGENT_KEY = "agent-test-key"

NONSENSE = "ㅁㄴㅇㄹ asdf qwer"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


@pytest.fixture(scope="module")
def live_index(tmp_path_factory: pytest.TempPathFactory, sample_index: Path) -> Path:
    """A copy of the session's real index of the sample articles (its own feedback store)."""
    require_browser()  # do not pay for a build when the browser is missing
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(sample_index, index, symlinks=True)  # `current` is a relative link: it follows the copy
    (index / "feedback.sqlite").unlink(missing_ok=True)
    return index


@pytest.fixture(scope="module")
def live(live_index: Path, real_settings: Settings) -> Iterator[str]:
    """``kb serve`` on that index; yields the base URL."""
    with running_server(live_index, KB_AGENT_KEY=AGENT_KEY, **real_env(real_settings)) as base:
        yield base


HOSTILE = """Hello <script>window.__xss = 1; alert('script')</script> world.

<img src=x onerror="window.__xss = 2; alert('img')">

[click me](javascript:window.__xss=3) and <a href="javascript:alert(4)">raw link</a>
"""


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An in-process uvicorn serving a tiny index (fake embedder) that includes a hostile article."""
    from kb.app.factory import create_app
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    root = tmp_path_factory.mktemp("fake")
    write(root / "articles" / "hostile.md", "---\ntitle: 스크립트 <img src=x onerror=alert(5)> 테스트\n"
          "category: 테스트\nquestions: ['<script>alert(6)</script> 질문']\n---\n" + HOSTILE)
    write(root / "articles" / "alpha.md",
          "---\ntitle: 알파 상품은 언제 오나요?\ncategory: 배송\n---\n알파는 내일 와요.\n")
    write(root / "articles" / "beta.md", "---\ntitle: 베타 상품 반품하기\ncategory: 반품\n---\n베타는 반품돼요.\n")
    embedder = FakeEmbedder()
    build_index(load_articles(root / "articles"), embedder, root / "index")
    settings = Settings.from_env({}, index_dir=root / "index", articles_dir=root / "articles",
                                 model=embedder.model_id)
    with serve(create_app(settings, embedder=embedder, watch=False)) as base:
        yield base


# --- helpers ---------------------------------------------------------------------------------------


def card_ids(driver: Any) -> list[str]:
    return [c.get_attribute("data-article-id") for c in css(driver, "#results .card")]


def type_query(driver: Any, text: str) -> None:
    box = css(driver, "#q")[0]
    box.clear()
    box.send_keys(text)


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return !!window.KB && document.readyState === 'complete'"),
             "the page scripts did not load")
    # the categories load first; wait so that typing does not race the page's own start-up
    wait_for(driver, lambda d: len(css(d, "#chips .chip")) > 1, "category chips did not appear")


def expand(card: Any) -> None:
    toggle = card.find_element("css selector", ".card-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def no_alert(driver: Any) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 - raises when there is none
    except NoAlertPresentException:
        return True
    return False


# --- the real thing ---------------------------------------------------------------------------------


def test_typing_a_question_shows_the_returns_card(driver: Any, live: str) -> None:
    open_page(driver, live + "/")
    wait_for(driver, lambda d: css(d, "#popular-list li"), "no popular questions for the empty box")
    type_query(driver, "반품하고싶어요")
    wait_for(driver, lambda d: "return-request" in card_ids(d)[:3], "no returns card among the top 3")
    status = css(driver, "#status")[0].text
    assert "반품하고싶어요" in status
    assert css(driver, "#popular")[0].is_displayed() is False
    assert "q=" + quote_plus("반품하고싶어요") in driver.current_url  # shareable: the URL carries the query
    card = next(c for c in css(driver, "#results .card") if c.get_attribute("data-article-id") == "return-request")
    assert "반품" in card.find_element("css selector", ".card-title").text
    expand(card)
    answer = card.find_element("css selector", ".card-answer")
    wait_for(driver, lambda d: answer.is_displayed(), "the answer did not open")
    assert "마이페이지" in answer.text
    assert not js_errors(driver)


def test_choseong_suggestions_are_keyboard_navigable(driver: Any, live: str) -> None:
    from selenium.webdriver.common.keys import Keys

    open_page(driver, live + "/")
    type_query(driver, "ㅂㅍ")
    wait_for(driver, lambda d: any("반품" in o.text for o in css(d, "#suggest-list [role=option]")),
             "ㅂㅍ did not suggest 반품")
    box = css(driver, "#q")[0]
    assert box.get_attribute("aria-expanded") == "true"
    assert not css(driver, "#results .card"), "consonants alone do not start a search"
    box.send_keys(Keys.ARROW_DOWN)
    first = css(driver, "#suggest-list [role=option]")[0]
    assert first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    chosen = first.find_element("css selector", ".suggest-text").text
    box.send_keys(Keys.ENTER)
    wait_for(driver, lambda d: css(d, "#results .card"), "choosing a suggestion did not search")
    assert box.get_attribute("value") == chosen
    assert css(driver, "#suggest-list")[0].is_displayed() is False


def test_helpful_vote_is_stored(driver: Any, live: str) -> None:
    before = httpx.get(f"{live}/articles/return-request").json()["feedback"]["helpful"]
    open_page(driver, live + "/?q=" + quote("반품 신청은 어떻게 하나요?"))
    wait_for(driver, lambda d: "return-request" in card_ids(d), "no returns card")
    card = next(c for c in css(driver, "#results .card") if c.get_attribute("data-article-id") == "return-request")
    expand(card)
    card.find_element("css selector", "[data-helpful=true]").click()
    wait_for(driver, lambda d: "감사" in card.find_element("css selector", ".helpful-msg").text,
             "no thanks after voting")
    after = httpx.get(f"{live}/articles/return-request").json()["feedback"]["helpful"]
    assert after == before + 1


def test_nonsense_shows_the_contact_panel(driver: Any, live: str, live_index: Path) -> None:
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FILENAME, FeedbackStore

    open_page(driver, live + "/")
    type_query(driver, NONSENSE)
    wait_for(driver, lambda d: css(d, "#results")[0].get_attribute("data-decision"), "no search result")
    assert css(driver, "#results")[0].get_attribute("data-decision") == "none"
    panel = css(driver, "#contact")[0]
    assert panel.is_displayed()
    assert "1588-0000" in panel.text and "주문번호" in panel.text
    assert css(driver, "#f-message")[0].get_attribute("value") == NONSENSE
    css(driver, "#inquiry-form button[type=submit]")[0].click()
    wait_for(driver, lambda d: css(d, "#inquiry-summary")[0].is_displayed(), "no summary")
    assert quote(NONSENSE) in css(driver, "#summary-mail")[0].get_attribute("href")

    # editors see the search in `kb feedback`: contacted at once, "no answer" once the typing settled
    def recorded(_: Any) -> Any:
        rows = {u.query: u for u in FeedbackStore(SQLiteEngine(live_index / FILENAME)).unanswered(50)}
        found = rows.get(NONSENSE)
        return found if found and found.none == 1 and found.contact == 1 else None

    wait_for(driver, recorded, "the unanswered search was not recorded", timeout=WAIT + 5)
    assert all(not q.startswith("ㅁㄴ") or q == NONSENSE
               for q in (u.query for u in FeedbackStore(SQLiteEngine(live_index / FILENAME)).unanswered(50)))  # no
    # prefixes of the nonsense query were recorded


def test_contact_panel_opens_on_request(driver: Any, live: str) -> None:
    """Whatever the decision, "contact support" opens the panel prefilled with the query."""
    open_page(driver, live + "/?q=" + quote("교환하고 싶어요"))
    wait_for(driver, lambda d: css(d, "#results .card"), "no results")
    css(driver, "#contact-open")[0].click()
    panel = css(driver, "#contact")[0]
    wait_for(driver, lambda d: panel.is_displayed(), "the contact panel did not open")
    assert "1588-0000" in panel.text and "평일 09:00-18:00" in panel.text
    assert css(driver, "#f-message")[0].get_attribute("value") == "교환하고 싶어요"
    assert css(driver, "#f-category")[0].get_attribute("value")  # the best category is preselected
    css(driver, "#inquiry-form button[type=submit]")[0].click()
    wait_for(driver, lambda d: css(d, "#inquiry-summary")[0].is_displayed(), "no summary")
    href = css(driver, "#summary-mail")[0].get_attribute("href")
    assert href.startswith("mailto:") and quote("교환하고 싶어요") in href


def test_shared_url_shows_results(driver: Any, live: str) -> None:
    query = "비밀번호를 잊어버렸어요"
    open_page(driver, live + "/?q=" + quote(query))
    wait_for(driver, lambda d: "password-reset" in card_ids(d)[:3], "the shared URL did not search")
    assert css(driver, "#q")[0].get_attribute("value") == query


def test_english_page(driver: Any, live: str) -> None:
    open_page(driver, live + "/?lang=en")
    assert driver.find_element("css selector", "html").get_attribute("lang") == "en"
    assert "How can we help?" in css(driver, "h1")[0].text
    type_query(driver, "I want to return an item")
    wait_for(driver, lambda d: css(d, "#results .card"), "no results")
    assert "articles for" in css(driver, "#status")[0].text


def test_english_page_shows_english_category_chips(driver: Any, live: str) -> None:
    """The chips of a page are the categories of its language's articles (the English page showed 배송, 환불)."""
    import re

    open_page(driver, live + "/?lang=en")
    chips = [c.text for c in css(driver, "#chips .chip")]
    assert chips[0] == "All" and "Delivery" in chips
    assert not [c for c in chips if re.search(r"[\uac00-\ud7a3]", c)], chips
    open_page(driver, live + "/?lang=ko")
    assert "배송" in [c.text for c in css(driver, "#chips .chip")]
    assert "Delivery" not in [c.text for c in css(driver, "#chips .chip")]


def test_agent_view(driver: Any, live: str) -> None:
    open_page_agent = live + "/agent?q=" + quote("비번 까먹었어요") + "&k=12"
    driver.get(open_page_agent)
    wait_for(driver, lambda d: css(d, "#agent-results .arow"), "no agent results")
    rows = css(driver, "#agent-results .arow")
    assert 1 < len(rows) <= 12
    assert css(driver, "#agent-summary .decision")[0].text.startswith("판정")
    first = rows[0]
    first.find_element("css selector", ".arow-actions button:nth-of-type(2)").click()  # copy Markdown
    wait_for(driver, lambda d: first.find_element("css selector", ".copy-msg").text, "no copy feedback")
    assert first.find_element("css selector", ".copy-msg").text == "복사했어요"
    why = first.find_elements("css selector", "details")[1]
    why.find_element("css selector", "summary").click()
    assert "의미 점수" in why.text and "최종 점수" in why.text


def test_agent_key_shows_agent_only_answers(driver: Any, live: str) -> None:
    """Customers never get `audience: agents` articles; the agent view asks for the key once per tab."""
    query = "기한 지난 반품 예외 승인 절차"
    driver.get(live + "/agent?q=" + quote(query))
    wait_for(driver, lambda d: css(d, "#agent-results .arow"), "no agent results")
    ids = [r.get_attribute("data-article-id") for r in css(driver, "#agent-results .arow")]
    assert "late-refund-exception" not in ids
    key = css(driver, "#akey")[0]
    key.send_keys(AGENT_KEY)
    css(driver, "#agent-key-form button")[0].click()
    wait_for(driver, lambda d: (rows := css(d, "#agent-results .arow"))
             and rows[0].get_attribute("data-article-id") == "late-refund-exception", "agent article not first")
    assert css(driver, "#agent-key-on")[0].is_displayed() and not css(driver, "#agent-key-form")[0].is_displayed()
    driver.refresh()  # the same tab keeps the key
    wait_for(driver, lambda d: (rows := css(d, "#agent-results .arow"))
             and rows[0].get_attribute("data-article-id") == "late-refund-exception", "key lost on reload")
    driver.execute_script("sessionStorage.clear()")


def test_screenshots(driver: Any, live: str) -> None:
    """Desktop and phone screenshots of a search with its answer open, saved as test artefacts
    (the README's copies in docs/ are refreshed by hand from these)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for name, width, height in (("desktop", 1280, 900), ("mobile", 390, 844)):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
            open_page(driver, live + "/?q=" + quote("반품하고 싶어요"))
            wait_for(driver, lambda d: css(d, "#results .card"), "no results")
            expand(css(driver, "#results .card")[0])
            driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
            time.sleep(0.3)  # let the chevron finish turning
            # nothing may stick out sideways on a phone
            assert driver.execute_script("return document.documentElement.scrollWidth") <= width
            driver.save_screenshot(str(ARTIFACTS / f"help-center-{name}.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert all((ARTIFACTS / f"help-center-{n}.png").stat().st_size > 10_000 for n in ("desktop", "mobile"))


# --- escaping and races, on the small fake index -------------------------------------------------------


def test_hostile_article_renders_inert(driver: Any, fake: str) -> None:
    open_page(driver, fake + "/?q=" + quote("스크립트 테스트"))
    wait_for(driver, lambda d: "hostile" in card_ids(d), "the hostile article was not found")
    card = next(c for c in css(driver, "#results .card") if c.get_attribute("data-article-id") == "hostile")
    expand(card)
    prose = card.find_element("css selector", ".prose")
    wait_for(driver, lambda d: prose.is_displayed(), "the answer did not open")
    assert "<script>window.__xss = 1; alert('script')</script>" in prose.text  # shown as text
    assert "onerror" in prose.text
    assert "<img src=x onerror=alert(5)>" in card.find_element("css selector", ".card-title").text
    assert card.find_elements("css selector", ".prose script, .prose img, .card-title img") == []
    assert card.find_elements("css selector", "a[href^='javascript']") == []
    # the agent view shows the same article the same way
    driver.get(fake + "/agent?q=" + quote("스크립트 테스트"))
    wait_for(driver, lambda d: css(d, "#agent-results .arow"), "no agent results")
    assert css(driver, "#agent-results script, #agent-results img, #agent-results a[href^='javascript']") == []
    css(driver, "#aq")[0].send_keys(" <img src=x onerror=alert(7)>")  # typed HTML goes nowhere either
    time.sleep(0.5)
    assert no_alert(driver)
    assert driver.execute_script("return window.__xss") is None


def test_a_slow_old_response_never_overwrites_a_newer_one(driver: Any, fake: str) -> None:
    open_page(driver, fake + "/")
    # hold back the answer to the first query so that it arrives after the second one's
    driver.execute_script("""
        const real = window.fetch;
        window.fetch = (url, opts) => String(url).includes(encodeURIComponent('알파'))
            ? new Promise((resolve) => setTimeout(() => resolve(real(url, opts)), 1200))
            : real(url, opts);
    """)
    type_query(driver, "알파")
    time.sleep(0.4)  # the first search is in flight
    type_query(driver, "베타 반품")
    wait_for(driver, lambda d: "베타 반품" in css(d, "#status")[0].text, "the second search did not show")
    time.sleep(1.5)  # the first answer has arrived by now
    assert "베타 반품" in css(driver, "#status")[0].text
    assert card_ids(driver)[0] == "beta"
    assert "q=" + quote_plus("베타 반품") in driver.current_url


def test_keyboard_focus_stays_on_the_answer_after_a_vote(driver: Any, fake: str) -> None:
    """The vote buttons go away once pressed: the focus moves to the thanks (a live region, so it is also
    read out), never to <body>; after a "no", Tab reaches the way to a person."""
    from selenium.webdriver.common.keys import Keys

    active = "const a = document.activeElement; return [a.tagName, a.className, a.closest('.card')?.id || '']"
    for query, vote in (("알파 상품은 언제 오나요?", "true"), ("베타 상품 반품하기", "false")):
        open_page(driver, fake + "/?q=" + quote(query))
        wait_for(driver, lambda d: css(d, "#results .card"), "no results")
        card = css(driver, "#results .card")[0]
        expand(card)
        button = card.find_element("css selector", f"[data-helpful={vote}]")
        wait_for(driver, lambda d, b=button: b.is_displayed(), "the answer did not open")
        driver.execute_script("arguments[0].focus()", button)
        button.send_keys(Keys.ENTER)
        msg = card.find_element("css selector", ".helpful-msg")
        wait_for(driver, lambda d, m=msg: "감사" in m.text, "no thanks after voting")
        assert driver.execute_script(active) == ["P", "helpful-msg helpful-thanks", card.get_attribute("id")]
        assert msg.get_attribute("role") == "status"
        if vote == "false":
            driver.switch_to.active_element.send_keys(Keys.TAB)
            tag, cls, _ = driver.execute_script(active)
            assert (tag, cls) == ("BUTTON", "link-btn")  # "contact support", inside the thanks
    assert not js_errors(driver)


@pytest.mark.parametrize(("decision", "related"), [("answer", True), ("suggest", False)])
def test_only_a_confident_answer_is_called_related_help(driver: Any, fake: str, decision: str,
                                                        related: bool) -> None:
    """"‘…’ 관련 도움말 3건" claims the list is related: said only when kb is sure of its answer."""
    from kb.app.i18n import STRINGS

    open_page(driver, fake + "/")
    # the server's decision, whatever the fake embedder makes of the query
    driver.execute_script("""
        const real = window.fetch, decision = arguments[0];
        window.fetch = async (url, opts) => {
            const res = await real(url, opts);
            if (!String(url).startsWith('/search?')) return res;
            const data = await res.json();
            return new Response(JSON.stringify({ ...data, decision }), { status: 200 });
        };
    """, decision)
    type_query(driver, "알파 상품")
    wait_for(driver, lambda d: css(d, "#results")[0].get_attribute("data-decision") == decision, "no results")
    status = css(driver, "#status")[0].text
    assert ("관련 도움말" in status) is related, status
    assert "알파 상품" in status and str(len(card_ids(driver))) + "건" in status
    headings = [h.text for h in css(driver, "#results h2.section-title")]
    if not related:
        assert headings == [STRINGS["ko"]["suggest_heading"]]
