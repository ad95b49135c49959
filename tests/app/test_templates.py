"""The pages' one base template (static/templates/base.html) and the blocks each page fills in it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from kb.app.i18n import STRINGS
from kb.app.identity import page_strings
from kb.app.routes import pages
from kb.articles.site import Site

PAGES = ("index.html", "agent.html", "admin.html")
# the base's lines without slots or blocks: the chrome every page has (meta, skip link, brand mark, scripts...)
SHARED = [line for line in pages._template("base.html").splitlines() if "{" not in line and line.strip()]


@pytest.mark.parametrize("lang", sorted(STRINGS))
def test_every_page_is_the_base_with_its_own_part(lang: str) -> None:
    rendered = {name: pages.render_page(name, lang, {"q": ""}) for name in PAGES}
    for name, html in rendered.items():
        assert "{{" not in html and "{%" not in html, name
        assert html.startswith(f'<!doctype html>\n<html lang="{lang}">'), name
        assert html.count("<header") == 1 and html.count('<main id="main"') == 1, name
        assert '<a class="skip-link" href="#main">' in html and 'id="lang-switch"' in html, name
        assert "\n\n\n" not in html and not re.search(r"\n[ \t]+\n", html), name  # empty blocks leave no lines
        assert all(line in html for line in SHARED), name
    help_page, agent, admin = (rendered[n] for n in PAGES)
    assert 'class="page-help"' in help_page and '/static/help.js?v=' in help_page and "<footer" in help_page
    assert 'class="page-agent"' in agent and '/static/agent.js?v=' in agent and "topbar-dense" in agent
    assert 'class="page-admin"' in admin and '/static/admin.css?v=' in admin and 'id="signout"' in admin
    assert '<meta name="robots" content="noindex">' in admin and "noindex" not in help_page + agent
    assert f'href="/admin?lang={lang}"' in admin  # the brand leads back to the page in its language
    title = page_strings(Site(), lang)["page_title"]  # no site file: the neutral name
    assert title == STRINGS[lang]["brand"] and f"<title>{STRINGS[lang]['agent_title']} · {title}</title>" in agent
    for html in rendered.values():  # every page says what it is to search engines and link previews
        assert re.search(r'<meta name="description" content="[^"]{20,}">', html)


@pytest.fixture
def templates(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    files: dict[str, str] = {"base.html": "<b>{% block a %}A{% endblock %}</b>\n  {% block b %}{% endblock %}\n"
                                          "<i>{% block a %}A{% endblock %}</i>\n"}
    monkeypatch.setattr(pages, "_template", files.__getitem__)
    pages.compose.cache_clear()
    yield files
    pages.compose.cache_clear()


def test_blocks_defaults_and_repeats(templates: dict[str, str]) -> None:
    templates["p.html"] = '{% extends "base.html" %}\n{% block a %}{{lang}}{% endblock %}\n'
    assert pages.compose("p.html") == "<b>{{lang}}</b>\n<i>{{lang}}</i>\n"  # empty b: its line goes too
    templates["q.html"] = '{% extends "base.html" %}{% block b %}\nB\n{% endblock %}'
    assert pages.compose("q.html") == "<b>A</b>\n  B\n<i>A</i>\n"


@pytest.mark.parametrize("page", [
    '{% extends "base.html" %}{% block c %}C{% endblock %}',  # a block the base does not have
    '{% extends "base.html" %}stray{% block a %}A{% endblock %}',  # text outside the blocks
])
def test_mistakes_in_a_page_are_errors(templates: dict[str, str], page: str) -> None:
    templates["p.html"] = page
    with pytest.raises(ValueError, match="p.html"):
        pages.compose("p.html")
