"""``GET /widget.js``: the search box for a shop's own pages.

A shop adds ``<script src="https://kb.example/widget.js" data-kb-lang="ko" defer></script>`` and a
``<div data-kb-search></div>``; the script finds its API from its own ``src``. It is put together here from
the search box the help page uses too (``static/searchbox.js``) and the widget's own part (``static/widget.js``),
and its UI strings come from the one table (:mod:`kb.app.i18n`), written into it, so the box needs no second
request; the shop's name, contact channels and brand colour come from the serving build's site
(:mod:`kb.app.identity`), so a rebuild that changes them changes the script. The address has no version in it
(shops paste it once), so browsers keep it 10 minutes and then revalidate it with its ETag: a new kb reaches
every shop within minutes without re-downloading an unchanged script.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from kb.app import identity
from kb.app.assets import Asset, Assets
from kb.app.deps import ServiceDep
from kb.app.i18n import STRINGS
from kb.articles.site import Site

router = APIRouter()

NAME = "widget.js"
CACHE_CONTROL = "public, max-age=600"
_SLOT = "/*@kb-strings*/{}"  # in static/widget.js; the served script has the strings there
# what the box shows: the help page's strings for search, answers, votes and the way to a person
WIDGET_STRINGS = (
    "search_label", "search_placeholder", "search_button", "clear", "suggestions_label", "kind_title",
    "kind_question", "kind_tag", "kind_category", "status_searching", "status_count", "status_none", "status_error",
    "status_suggest",
    "best_answer", "show_answer", "hide_answer", "helpful_q", "helpful_yes", "helpful_no", "thanks", "thanks_no",
    "feedback_error", "contact_cta", "contact_cta_link", "contact_title", "contact_intro", "contact_phone_label",
    "contact_inquiry_label", "contact_chat_link", "contact_form_link", "widget_label", "widget_more", "widget_results",
)
# the shop's (identity.page_strings): name and channels, "" for an absent one
SITE_STRINGS = ("brand", "contact_phone", "contact_tel", "contact_hours", "contact_email", "contact_chat_url",
                "contact_form_url")


def widget_strings(site: Site, lang: str) -> dict[str, str]:
    """The box's strings in ``lang``: the help page's, the shop's name and channels, its brand colours."""
    variant = site.for_locale(lang)
    own = identity.page_strings(variant, lang)
    colours = identity.colours(variant) or {}
    return {**{k: STRINGS[lang][k] for k in WIDGET_STRINGS}, **{k: own[k] for k in SITE_STRINGS},
            **{f"colour_{k}": v for k, v in colours.items()}}


def widget_source(site: Site | None = None) -> str:
    """The served script: the search box the help page uses too (``static/searchbox.js``) and the widget's own
    part (``static/widget.js``, with the strings of every language and the shop's identity written in), in one
    function scope so that a shop's page gets no global but ``window.kbSearch``."""
    static = resources.files("kb.app").joinpath("static")
    shared = static.joinpath("searchbox.js").read_text(encoding="utf-8")
    own = static.joinpath(NAME).read_text(encoding="utf-8")
    strings = {lang: widget_strings(site or Site(), lang) for lang in STRINGS}
    # "<" escaped so the JSON can never end a <script> if someone inlines the file
    payload = json.dumps(strings, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    if _SLOT not in own:  # pragma: no cover - a broken edit of widget.js
        raise RuntimeError(f"kb/app/static/{NAME} lost its {_SLOT} slot")
    return "(function () {\n" + shared + "\n" + own.replace(_SLOT, payload, 1) + "})();\n"


@lru_cache(maxsize=4)
def script(site: Site) -> Assets:
    """The script for one site (a reload that changes the site makes a new one, with a new ETag)."""
    return Assets(lambda: {NAME: Asset.of(NAME, widget_source(site).encode("utf-8"))}, cache_control=CACHE_CONTROL,
                  # a shop whose pages send Cross-Origin-Embedder-Policy can still load it
                  headers={"Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/widget.js", include_in_schema=False)
def widget(svc: ServiceDep, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return script(svc.site).response(NAME, if_none_match)
