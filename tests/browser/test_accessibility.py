"""axe-core (WCAG 2.1 A and AA, and best practice) on every face a person sees: the help-center page with
results and with the contact panel open, the agent view, and the search box on a shop's page.

axe-core comes from the npm registry, pinned in tests/browser/package-lock.json (``npm ci --prefix
tests/browser``, which ``make test`` runs); the local file is injected into the page through WebDriver, so no
page loads anything from elsewhere. The pages run against the in-process server with the fake embedder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from kb.settings import Settings
from tests.browser.test_widget import OFF_TOPIC, build_fake_index, inside, open_shop, serve_kb, serve_shop, write_shop
from tests.conftest import ROOT
from tests.support.chromium import chrome, css, wait_for
from tests.support.server import free_port

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _axe_source() -> str:
    if not AXE.is_file():
        message = f"axe-core is not installed ({AXE} is missing): run `npm ci --prefix tests/browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def violations(driver: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (open shadow roots included), one dict a rule."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(_axe_source())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,"
        "  nodes: v.nodes.map((n) => [n.target, n.failureSummary])}))))"
        ".catch((e) => done({error: String(e)}));", TAGS)
    assert not isinstance(result, dict), result
    return list(result)


def assert_clean(driver: Any, what: str) -> None:
    found = violations(driver)
    assert found == [], f"{what}: axe found\n" + json.dumps(found, ensure_ascii=False, indent=1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(kb base URL, shop base URL) on a small fake index; kb allows the shop's origin."""
    _axe_source()  # skip before starting anything when axe is missing
    root = tmp_path_factory.mktemp("axe")
    settings, embedder = build_fake_index(root)
    shop_port = free_port()
    settings = Settings.from_env({}, index_dir=settings.index_dir, articles_dir=settings.articles_dir,
                                 model=embedder.model_id, cors_origins=f"http://127.0.0.1:{shop_port}")
    with serve_kb(settings, embedder) as kb, serve_shop(write_shop(root / "shop", kb), shop_port) as shop:
        yield kb, shop


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


def _open(driver: Any, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return !!window.KB && document.readyState === 'complete'"),
             "the page scripts did not load")


def test_help_page_with_results(driver: Any, site: tuple[str, str]) -> None:
    kb, _ = site
    _open(driver, kb + "/?q=" + quote("반품하고 싶어요"))
    wait_for(driver, lambda d: d.execute_script("return document.getElementById('results').dataset.decision")
             == "answer", "no answer for the query")
    assert css(driver, "#r0 .card-answer")[0].is_displayed()  # the best answer open, its vote buttons shown
    assert_clean(driver, "help page with results")


def test_help_page_home(driver: Any, site: tuple[str, str]) -> None:
    kb, _ = site
    _open(driver, kb + "/")
    wait_for(driver, lambda d: css(d, "#popular-list li"), "no popular questions")
    assert_clean(driver, "help page, empty search")


def test_help_page_with_the_contact_panel(driver: Any, site: tuple[str, str]) -> None:
    kb, _ = site
    _open(driver, kb + "/?q=" + quote(OFF_TOPIC))
    wait_for(driver, lambda d: css(d, "#contact")[0].is_displayed(), "the contact panel did not open")
    assert_clean(driver, "help page with the contact panel")
    css(driver, "#inquiry-form button[type=submit]")[0].click()  # and its summary
    wait_for(driver, lambda d: css(d, "#inquiry-summary")[0].is_displayed(), "no summary")
    assert_clean(driver, "help page with the inquiry summary")


def test_help_page_in_english(driver: Any, site: tuple[str, str]) -> None:
    kb, _ = site
    _open(driver, kb + "/?lang=en&q=" + quote("반품 신청"))
    wait_for(driver, lambda d: css(d, "#results .card"), "no results")
    assert_clean(driver, "English help page with results")


def test_agent_view(driver: Any, site: tuple[str, str]) -> None:
    kb, _ = site
    _open(driver, kb + "/agent?q=" + quote("반품하고 싶어요"))
    wait_for(driver, lambda d: css(d, "#agent-results .arow"), "no agent results")
    for details in css(driver, "#agent-results .arow details")[:2]:  # the answer and "why it matched", open
        details.find_element("css selector", "summary").click()
    assert_clean(driver, "agent view")


def test_the_search_box_on_a_shop_page(driver: Any, site: tuple[str, str]) -> None:
    from selenium.webdriver.common.keys import Keys

    _, shop = site
    box = open_shop(driver, shop + "/index.html")
    assert_clean(driver, "shop page with the empty box")
    box.send_keys("ㅂㅍ")
    wait_for(driver, lambda d: inside(d, "[role=listbox]")[0].get_attribute("data-query") == "ㅂㅍ",
             "no suggestions")
    box.send_keys(Keys.ARROW_DOWN)
    assert_clean(driver, "the box with suggestions open")
    box.send_keys(Keys.ESCAPE)
    box.clear()
    box.send_keys("반품하고 싶어요")
    wait_for(driver, lambda d: inside(d, ".hit .answer") and inside(d, ".hit .answer")[0].is_displayed(),
             "no open answer")
    assert_clean(driver, "the box with an answer")
    inside(driver, ".hit [data-helpful=false]")[0].click()
    wait_for(driver, lambda d: inside(d, ".hit .msg")[0].text, "no thanks after the vote")
    assert_clean(driver, "the box after a vote")
    box.clear()
    box.send_keys(OFF_TOPIC + Keys.ENTER)
    wait_for(driver, lambda d: inside(d, ".contact")[0].is_displayed(), "no contact box")
    assert_clean(driver, "the box with the way to a person")


def test_axe_is_pinned() -> None:
    """The version the README and the known-issue notes speak of; a new one is a deliberate change."""
    lock = json.loads((ROOT / "tests" / "browser" / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/axe-core"]["version"] == "4.14.1"
    assert Path(ROOT / "tests" / "browser" / "package.json").is_file()
