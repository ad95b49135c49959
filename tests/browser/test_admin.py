"""The editors' page (/admin) laid out in a real headless Chromium against an in-process server on a tiny index
(fake embedder): the chart takes its panel's width, and the helpful ratio stays on one line ("100%", never
"100" over "%") beside an article title long enough to squeeze its column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kb.settings import Settings
from tests.conftest import write
from tests.support.chromium import chrome, css, js_errors, wait_for
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve

KEY = "layout-admin-key"
LONG = "주문한 상품 중 일부만 먼저 도착했는데 나머지 상품은 언제 어떻게 따로 받을 수 있는지 알려 주세요"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from kb.app.factory import create_app
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    root = tmp_path_factory.mktemp("admin-layout")
    write(root / "articles" / "split.md", f"---\ntitle: {LONG}\ncategory: 배송\n---\n따로 보내 드려요.\n")
    write(root / "articles" / "late.md", f"---\ntitle: {LONG} (해외)\ncategory: 배송\n---\n해외는 더 걸려요.\n")
    embedder = FakeEmbedder()
    build_index(load_articles(root / "articles"), embedder, root / "index")
    settings = Settings.from_env({}, index_dir=root / "index", articles_dir=root / "articles",
                                 model=embedder.model_id, admin_key=KEY)
    with serve(create_app(settings, embedder=embedder, watch=False)) as base:
        for article, helpful in (("split", True), ("late", False)):
            r = httpx.post(f"{base}/feedback", json={"query": "", "article_id": article, "helpful": helpful})
            assert r.status_code == 201, r.text
        yield base


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


def signed_in(driver: Any, base: str) -> None:
    driver.get(base + "/admin?lang=ko")
    wait_for(driver, lambda d: css(d, "#admin-key")[0].is_displayed() or css(d, "#insight")[0].is_displayed(),
             "neither the sign-in form nor the insight")
    if css(driver, "#admin-key")[0].is_displayed():  # the session cookie of an earlier test may still hold
        css(driver, "#admin-key")[0].send_keys(KEY)
        css(driver, "#signin-form button[type=submit]")[0].click()
    wait_for(driver, lambda d: len(css(d, "#ratings tr td.num")) >= 6, "no helpful ratios")
    wait_for(driver, lambda d: d.execute_script("const c = document.getElementById('chart');"
                                                "return c.complete && c.naturalWidth > 0"), "no chart")


@pytest.mark.parametrize("width", [1280, 900])
def test_the_chart_takes_the_panel_width_and_ratios_stay_on_one_line(driver: Any, kb: str, width: int) -> None:
    driver.set_window_size(width, 900)
    try:
        signed_in(driver, kb)
        chart, panel = driver.execute_script("""
            const c = document.getElementById('chart'), p = c.parentElement, s = getComputedStyle(p);
            const inner = p.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return [{ shown: c.getBoundingClientRect().width, drawn: c.naturalWidth }, inner];
        """)
        assert chart["shown"] >= 0.98 * panel, (chart, panel)
        assert abs(chart["drawn"] - chart["shown"]) <= 2, chart  # drawn at that width: the text keeps its size
        lines = driver.execute_script("""
            return [...document.querySelectorAll('#ratings td.num')].map((td) => {
                const r = document.createRange();
                r.selectNodeContents(td);
                return [td.textContent, new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size];
            });
        """)
        assert {text for text, _ in lines} >= {"100%", "0%"}
        assert all(n == 1 for _, n in lines), lines
        assert not js_errors(driver)
    finally:
        driver.set_window_size(1280, 900)
