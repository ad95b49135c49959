"""The editors' insight page in a real headless Chromium against a real `kb serve` (real model) on a copy of
the sample articles: sign in, see the chart and the gap groups, pick where a group's queries go, get a refusal in
the page's language while another fix runs, apply "add as a question", and the next search answers with that article
first, while the handled groups are marked instead of offered again. ``KB_SCREENSHOTS=1`` writes
docs/screenshot-insight.png.

Chromium comes from tests/chromium.py: without Debian's chromium + chromedriver the test skips, except under CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from kb.app.i18n import STRINGS
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FeedbackStore
from kb.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES, real_env
from tests.feedback.test_gaps import TOPICS
from tests.support.chromium import chrome, css, require_browser, wait_for
from tests.support.server import running_server

KEY = "insight-browser-key"
BUILD_WAIT = 600.0  # a fix runs lint, an incremental build and the content tests with the real model
TARGET = "account-delete"
STRAY = "한결마켓 그만 쓸래요 계정 없애 주세요"  # an account-delete query the search answers with another article


@pytest.fixture
def driver() -> Iterator[Any]:
    with chrome(console="SEVERE") as browser:  # errors only: the test's last check counts every entry
        yield browser


COMMON = ["택배 언제 와요", "반품하고 싶어요", "환불 언제 들어와요", "비밀번호 까먹었어요", "쿠폰 어떻게 써요",
          "배송지 바꾸고 싶어요", "현금영수증 발급", "주문 취소할래요", "교환 신청", "포인트 유효기간"]


def _plant(store: FeedbackStore) -> None:
    """Four weeks of settled searches for the chart (the "none" ones are the gap topics' queries), some votes,
    and three topics customers found nothing for."""
    today = datetime.now(timezone.utc).date()
    gaps = [q for queries in TOPICS.values() for q in queries]
    for back in range(27, -1, -1):
        day = today - timedelta(days=back)
        for i in range(12 + (back * 7) % 9):
            decision = "answer" if i % 10 < 7 else "suggest" if i % 10 < 9 else "none"
            query = gaps[(back + i) % len(gaps)] if decision == "none" else COMMON[(i * 3 + back) % len(COMMON)]
            store._rows(  # past days: written as the store would have written them then
                "INSERT INTO searches (created, day, client, locale, query, decision, top_article, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (f"{day.isoformat()}T09:{i:02d}:00+00:00", day.isoformat(), f"c{(back * 13 + i) % 40}", "ko", query,
                 decision, None if decision == "none" else "delivery-tracking",
                 0.9 if decision == "answer" else 0.6 if decision == "suggest" else 0.1))
    votes = [("delivery-tracking", True)] * 5 + [("delivery-tracking", False)] + [("return-shipping-fee", False)] * 3 \
        + [("return-shipping-fee", True)]
    for i, (article, helpful) in enumerate(votes):
        store.add("", article, helpful, f"10.7.0.{i}")  # votes without a query: no gap of their own
    store.add(TOPICS["new_article"][2], "return-shipping-fee", False, "10.7.1.1")  # never suggested for that group
    for t, queries in enumerate(TOPICS.values()):
        for j, query in enumerate(queries):
            for c in range(1 + j % 2):
                store.add_unanswered(query, "none", f"10.{t}.0.{(j + c) % 4}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sample_index: Path, real_settings: Settings,
         real_embedder: Any) -> Iterator[tuple[str, Path, Path]]:
    """`kb serve` with the admin key on a copy of the sample articles; yields (base URL, articles, index root)."""
    require_browser()
    from kb.pipeline import gated_build

    folder = tmp_path_factory.mktemp("insight-browser")
    articles, root = folder / "articles", folder / "index"
    shutil.copytree(SAMPLE_ARTICLES, articles)
    root.mkdir()
    shutil.copyfile(sample_index / "embeddings.sqlite", root / "embeddings.sqlite")  # the build embeds nothing
    gated_build(Settings.from_env({}, articles_dir=articles, index_dir=root, cache_dir=real_settings.cache_dir),
                real_embedder)
    store = FeedbackStore(SQLiteEngine(root / "feedback.sqlite"))
    _plant(store)
    store.close()
    with running_server(root, KB_ADMIN_KEY=KEY, KB_ARTICLES_DIR=str(articles), **real_env(real_settings)) as base:
        yield base, articles, root


def top_article(base: str, query: str) -> str | None:
    results = httpx.get(f"{base}/search", params={"q": query}, timeout=30).json()["results"]
    return results[0]["article_id"] if results else None


def test_editor_signs_in_sees_the_insight_and_fixes_a_gap(driver: Any, site: tuple[str, Path, Path],
                                                          tmp_path: Path) -> None:
    base, articles, _ = site
    assert top_article(base, STRAY) != TARGET  # what customers get before the fix
    driver.get(base + "/admin")
    wait_for(driver, lambda d: css(d, "#signin")[0].is_displayed(), "no sign-in form")
    assert not css(driver, "#insight")[0].is_displayed()
    key = css(driver, "#admin-key")[0]
    key.send_keys("wrong key")
    key.submit()
    wait_for(driver, lambda d: css(d, "#signin-error")[0].text, "no message for a wrong key")
    key.clear()
    key.send_keys(KEY)
    key.submit()

    # the chart (an SVG the server draws) and the groups
    wait_for(driver, lambda d: css(d, "#insight")[0].is_displayed(), "the insight did not open")
    wait_for(driver, lambda d: d.execute_script(
        "const i = document.getElementById('chart'); return i.complete && i.naturalWidth > 0"), "no chart")
    try:
        wait_for(driver, lambda d: len(css(d, "#groups .admin-group")) == 3, "not three gap groups", timeout=120)
    except Exception:
        print(httpx.get(base + "/admin/insight.json", headers={"Authorization": f"Bearer {KEY}"}).json()["groups"])
        raise
    assert len(css(driver, "#per-day tr")) == 28
    assert css(driver, "#ratings tr")[0].text.startswith("반품 배송비는")  # the least helpful first
    groups = {g.get_attribute("data-article-id") or "new": g for g in css(driver, "#groups .admin-group")}
    assert set(groups) == {"new", "points-expiry", TARGET}
    assert STRAY in groups[TARGET].text
    assert driver.execute_script("return document.cookie") == ""  # HttpOnly: no script can read the session

    # the editor picks the article a group's queries go to: the suggestion preselected, none for a new topic
    def choice(group: Any) -> tuple[str, bool, str]:
        button = group.find_element("css selector", "button[data-fix='add_question']")
        select = group.find_element("css selector", "select")
        return select.get_attribute("value"), button.is_enabled(), button.text

    strings = STRINGS[driver.execute_script("return document.documentElement.lang")]  # the page's language
    assert choice(groups[TARGET])[:2] == (TARGET, True)
    assert choice(groups["new"])[:2] == ("", False)
    # an article customers voted "not helpful" for one of the group's queries: said so, and marked in the choice
    assert "반품 배송비는 얼마인가요?" in groups["new"].find_element("css selector", ".admin-voted").text
    voted = groups["new"].find_element("css selector", "option[value='return-shipping-fee']").text
    assert voted.endswith(f"({strings['admin_not_helpful']})")
    driver.execute_script("const s = arguments[0]; s.value = 'cs-inquiry-web'; s.dispatchEvent(new Event('change'))",
                          groups["new"].find_element("css selector", "select"))
    value, enabled, label = choice(groups["new"])
    assert (value, enabled) == ("cs-inquiry-web", True) and "1:1" in label, label

    target = ROOT / "docs" / "screenshot-insight.png" if os.environ.get("KB_SCREENSHOTS") == "1" else \
        tmp_path / "screenshot-insight.png"
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 3000)
    driver.set_window_size(1280, height)
    try:
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        target.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(target))
    finally:
        driver.set_window_size(1280, 900)
    assert target.stat().st_size > 10_000

    # another fix holds the articles (a draft started through the API): the page says so in its own language
    auth = {"Authorization": f"Bearer {KEY}"}
    drafted = httpx.post(base + "/admin/fixes", headers=auth, timeout=30,
                         json={"kind": "new_article", "queries": TOPICS["new_article"]}).json()
    groups[TARGET].find_element("css selector", "button[data-fix='add_question']").click()
    wait_for(driver, lambda d: css(d, "#fix-status")[0].get_attribute("data-state") == "error", "no refusal")
    refusal = strings["admin_fix_error"].replace("{reason}", strings["admin_err_busy"])
    assert css(driver, "#fix-status")[0].text == refusal  # not the server's English "another fix is being built"
    deadline = time.monotonic() + BUILD_WAIT
    while httpx.get(f"{base}/admin/fixes/{drafted['id']}", headers=auth, timeout=30).json()["state"] == "running":
        assert time.monotonic() < deadline, "the draft's fix did not finish"
        time.sleep(0.5)

    # one click: the queries become questions of the article, the gated build runs, the service reloads
    groups[TARGET].find_element("css selector", "button[data-fix='add_question']").click()
    wait_for(driver, lambda d: css(d, "#fix-status")[0].get_attribute("data-state") in ("built", "failed"),
             "the fix did not finish", timeout=BUILD_WAIT)
    status = css(driver, "#fix-status")[0]
    assert status.get_attribute("data-state") == "built", status.text
    assert STRAY in (articles / "account" / "account-delete.md").read_text(encoding="utf-8")
    assert top_article(base, STRAY) == TARGET  # the next search answers with that article first
    wait_for(driver, lambda d: len(css(d, "#groups .admin-group")) >= 1, "the insight did not reload")

    # both fixed groups are marked handled (their queries are questions of the article, or of the draft) and
    # offer no fix that lint would refuse
    def handled(d: Any) -> set[str]:
        return {g.text for g in css(d, "#groups .admin-group[data-status='handled']")}

    wait_for(driver, lambda d: len(handled(d)) == 2, "the fixed groups are not marked handled")
    assert any(STRAY in text for text in handled(driver))
    assert any(TOPICS["new_article"][0] in text for text in handled(driver))
    assert not css(driver, "#groups .admin-group[data-status='handled'] button")
    assert css(driver, "#groups .admin-group[data-status='handled']")[0].text.count(strings["admin_group_handled"]) == 1

    css(driver, "#signout")[0].click()
    wait_for(driver, lambda d: css(d, "#signin")[0].is_displayed(), "sign-out did not return to the form")
    assert httpx.get(base + "/admin/insight.json").status_code == 401
    expected = ("favicon", "status of 401", "/admin/fixes - Failed to load resource: the server responded with a "
                "status of 409")  # the wrong key's and the signed-out check's 401s, the refusal while the draft built
    errors = [e["message"] for e in driver.get_log("browser") if not any(x in e["message"] for x in expected)]
    assert errors == []


def test_the_help_page_logs_settled_searches_only(driver: Any, site: tuple[str, Path, Path]) -> None:
    """Each search the customer stays on is logged once for the insight page, never the prefixes typed on
    the way; a shared link counts as settled at once."""
    base, _, root = site

    def logged() -> dict[str, tuple[str, str | None, str]]:
        store = FeedbackStore(SQLiteEngine(root / "feedback.sqlite"))
        try:
            rows = store._rows("SELECT query, decision, top_article, locale FROM searches WHERE day = ?",
                               (datetime.now(timezone.utc).date().isoformat(),))
        finally:
            store.close()
        return {str(q): (str(d), t, str(loc)) for q, d, t, loc in rows}

    driver.get(base + "/?q=" + "택배 언제 와요")
    wait_for(driver, lambda d: "택배 언제 와요" in logged(), "the shared link's search was not logged")
    assert logged()["택배 언제 와요"] == ("answer", "delivery-tracking", "ko")
    box = css(driver, "#q")[0]
    box.clear()
    for part in ("반", "품 ", "신청"):  # typed in pieces: each prefix is searched and shown, none stays 3 s
        box.send_keys(part)
        time.sleep(0.8)
    wait_for(driver, lambda d: "반품 신청" in logged(), "the settled search was not logged", timeout=15)
    decision, article, _ = logged()["반품 신청"]
    assert decision in ("answer", "suggest") and article == "return-request"
    assert not {"반", "반품"} & set(logged())  # the prefixes on the way were never logged
