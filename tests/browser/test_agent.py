"""The agent view (/agent) in a real headless Chromium against an in-process server on a tiny index (fake
embedder): why a result matched names the field in the page's language, and the plain-text copy of an answer
with a table gives one line per row, its cells tab-separated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from kb.app.i18n import STRINGS
from kb.settings import Settings
from tests.conftest import write
from tests.support.chromium import chrome, css, js_errors, wait_for
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve

QUESTION = "환불은 며칠 걸리나요?"
ANSWER = """결제 수단마다 달라요.

| 결제 수단 | 환불 기간 |
|---|---|
| 신용카드 | 3-5 영업일 |
| 계좌이체 | **1** 영업일 |
"""


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from kb.app.factory import create_app
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    root = tmp_path_factory.mktemp("agent")
    write(root / "articles" / "refund.md", f"---\ntitle: {QUESTION}\ncategory: 환불\n---\n{ANSWER}")
    write(root / "articles" / "other.md",
          "---\ntitle: 배송지를 바꾸고 싶어요\ncategory: 배송\n---\n마이페이지에서 바꿔요.\n")
    embedder = FakeEmbedder()
    build_index(load_articles(root / "articles"), embedder, root / "index")
    settings = Settings.from_env({}, index_dir=root / "index", articles_dir=root / "articles",
                                 model=embedder.model_id)
    with serve(create_app(settings, embedder=embedder, watch=False)) as base:
        yield base


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome() as browser:
        yield browser


def first_row(driver: Any, base: str, lang: str) -> Any:
    driver.get(f"{base}/agent?lang={lang}&q={quote(QUESTION)}")
    wait_for(driver, lambda d: css(d, "#agent-results .arow"), "no agent results")
    row = css(driver, "#agent-results .arow")[0]
    assert row.get_attribute("data-article-id") == "refund"
    return row


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_why_names_the_matched_field_in_the_page_language(driver: Any, kb: str, lang: str) -> None:
    row = first_row(driver, kb, lang)
    why = row.find_elements("css selector", "details")[1]
    why.find_element("css selector", "summary").click()
    terms = [dt.text for dt in why.find_elements("css selector", "dt")]
    values = [dd.text for dd in why.find_elements("css selector", "dd")]
    shown = dict(zip(terms, values, strict=True))[STRINGS[lang]["why_field"]]
    assert shown == STRINGS[lang]["field_title"]  # the question matched the article's title
    assert shown.lower() != "title", "the raw field name is shown"
    assert not js_errors(driver)


def test_plain_text_copy_of_a_table_is_tab_separated(driver: Any, kb: str) -> None:
    row = first_row(driver, kb, "ko")
    # what the page hands to the clipboard (headless Chromium has no clipboard to read back)
    driver.execute_script("""
        window.__copied = null;
        const keep = (text) => { window.__copied = text; return Promise.resolve(); };
        if (navigator.clipboard) Object.defineProperty(navigator.clipboard, 'writeText', { value: keep });
        else document.execCommand = () => { window.__copied = document.activeElement.value; return true; };
    """)
    row.find_element("css selector", ".arow-actions button:nth-of-type(1)").click()  # copy as text
    copied = wait_for(driver, lambda d: d.execute_script("return window.__copied"), "nothing was copied")
    assert copied == "결제 수단마다 달라요.\n\n결제 수단\t환불 기간\n신용카드\t3-5 영업일\n계좌이체\t1 영업일"
    assert row.find_element("css selector", ".copy-msg").text == STRINGS["ko"]["copied"]


def test_plain_text_keeps_an_empty_last_cell_and_lists(driver: Any, kb: str) -> None:
    first_row(driver, kb, "ko")
    text = driver.execute_script("return window.KB.htmlToText(arguments[0])",
                                 "<p>가격표</p>\n<table>\n<tr>\n<td> a </td>\n<td>\n</td>\n</tr>\n</table>\n"
                                 "<ul>\n<li>하나</li>\n<li>둘</li>\n</ul>")
    assert text == "가격표\n\na\t\n\n- 하나\n- 둘"
