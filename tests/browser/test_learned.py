"""The editors' list of learned wordings on /admin in a real headless Chromium against a real `kb serve`: the
wordings customers taught, per article with their state and evidence; one click rejects one, and the page (and
the policy) then shows it rejected. ``KB_SCREENSHOTS=1`` writes docs/screenshot-learned.png."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kb.app.i18n import STRINGS
from kb.feedback.evidence import Evidence
from kb.feedback.sqlite import SQLiteEngine
from kb.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES, real_env
from tests.support.chromium import chrome, css, js_errors, require_browser, wait_for
from tests.support.server import running_server

KEY = "learned-browser-key"
LIVE = ("택배 도착 언제쯤 해요", "delivery-tracking")
PENDING = ("계정 지우는 법", "en-contact-support")


@pytest.fixture
def driver() -> Iterator[Any]:
    with chrome(console="SEVERE") as browser:
        yield browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sample_index: Path, real_settings: Settings,
         real_embedder: Any) -> Iterator[tuple[str, Path]]:
    require_browser()
    from kb.pipeline import gated_build

    folder = tmp_path_factory.mktemp("learned-browser")
    articles, root = folder / "articles", folder / "index"
    shutil.copytree(SAMPLE_ARTICLES, articles)
    root.mkdir()
    shutil.copyfile(sample_index / "embeddings.sqlite", root / "embeddings.sqlite")
    gated_build(Settings.from_env({}, articles_dir=articles, index_dir=root, cache_dir=real_settings.cache_dir),
                real_embedder)
    evidence = Evidence(SQLiteEngine(root / "feedback.sqlite"))
    evidence.add(*LIVE, "helpful", "10.0.0.1", rank=1)  # kb ranks it first: one customer is enough
    evidence.add(*PENDING, "helpful", "10.0.0.2", rank=None)  # far off: waits for an editor
    evidence.close()
    with running_server(root, KB_ADMIN_KEY=KEY, KB_ARTICLES_DIR=str(articles), **real_env(real_settings)) as base:
        yield base, root


def test_editor_sees_learned_wordings_and_rejects_one(driver: Any, site: tuple[str, Path]) -> None:
    base, root = site
    ko = STRINGS["ko"]
    driver.get(base + "/admin?lang=ko")
    wait_for(driver, lambda d: css(d, "#signin")[0].is_displayed(), "no sign-in form")
    key = css(driver, "#admin-key")[0]
    key.send_keys(KEY)
    key.submit()
    wait_for(driver, lambda d: len(css(d, "#learned .admin-learned-word")) == 2, "the learned list did not load")
    rows = {r.find_element("css selector", ".admin-learned-text").text: r
            for r in css(driver, "#learned .admin-learned-word")}
    assert set(rows) == {LIVE[0], PENDING[0]}
    assert rows[LIVE[0]].get_attribute("data-state") == "live" and ko["learned_state_live"] in rows[LIVE[0]].text
    assert rows[PENDING[0]].get_attribute("data-state") == "pending"
    assert ko["learned_accept"] in rows[PENDING[0]].text  # a pending wording can be accepted
    # why, in the page's language (the policy's reasons are codes; its English text is only a fallback)
    assert ko["learned_why_outside"] in rows[PENDING[0]].text and "outside its top" not in rows[PENDING[0]].text
    assert ko["learned_why_guards"] in rows[LIVE[0]].text
    if os.environ.get("KB_SCREENSHOTS") == "1":
        driver.save_screenshot(str(ROOT / "docs" / "screenshot-learned.png"))
    rows[LIVE[0]].find_element("css selector", "button[data-action='reject']").click()
    wait_for(driver, lambda d: any(r.get_attribute("data-state") == "rejected"
                                   for r in css(d, "#learned .admin-learned-word")), "the rejection did not show")
    assert css(driver, "#learned-status")[0].text == ko["learned_done"]
    decisions = Evidence(SQLiteEngine(root / "feedback.sqlite")).decisions()
    assert decisions == {LIVE: "rejected"}
    # the page asks for a session before signing in: that 401 is expected, nothing else
    assert [e for e in js_errors(driver) if "/admin/session" not in e or "401" not in e] == []
