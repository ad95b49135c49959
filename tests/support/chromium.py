"""Debian's headless Chromium under Selenium, set up in one place for the browser tests (tests/test_browser.py,
test_widget.py, test_insight_browser.py, test_accessibility.py and api/test_docs.py).

Without /usr/bin/chromium, /usr/bin/chromedriver and the selenium package the tests skip, except under CI
(``CI=true``), where they fail so that a broken machine is noticed. The fixtures stay in the test modules (one
browser a module or a test, as each needs); tests/conftest.py marks them slow by their names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 30.0  # seconds a page gets to show what a test waits for (the slowest: a real `kb serve`, real model)
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--hide-scrollbars", "--window-size=1280,900")


def require_browser() -> None:
    """Skip the test when Chromium, chromedriver or selenium is missing; fail instead under CI."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    if missing:
        message = (f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver; "
                   "pip install selenium)")
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@contextmanager
def chrome(lang: str = "ko-KR", *, console: str = "ALL") -> Iterator[Any]:
    """Debian's headless Chromium in a temporary profile (removed afterwards), 1280x900, asking for ``lang``
    pages; ``driver.get_log("browser")`` returns its console messages of level ``console`` and above."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    profile = tempfile.mkdtemp(prefix="kb-chromium-")
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (*ARGUMENTS, f"--lang={lang}", f"--user-data-dir={profile}"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},{lang[:2]}"})
        options.set_capability("goog:loggingPrefs", {"browser": console})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(30)
            driver.set_script_timeout(60)  # axe-core checking a whole page (tests/test_accessibility.py)
            yield driver
        finally:
            driver.quit()
    finally:  # also when Chromium did not start
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, condition: Callable[[Any], Any], message: str, timeout: float = WAIT) -> Any:
    """Poll ``condition(driver)`` until it returns something truthy, and return that; after ``timeout`` seconds
    raise TimeoutException with ``message``.

    The pages redraw their lists as answers arrive, so an element found a moment ago may be gone when the
    condition reads it: StaleElementReferenceException (and NoSuchElementException) mean "not yet", not failure.
    """
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition, message)


def css(driver: Any, selector: str) -> list[Any]:
    """The elements matching a CSS selector (none: an empty list)."""
    return list(driver.find_elements("css selector", selector))


def js_errors(driver: Any) -> list[str]:
    """The console's errors since the last look (reading empties the log), a missing favicon aside."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"
            and "favicon" not in e["message"]]
