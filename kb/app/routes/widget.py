"""``GET /widget.js``: the search box for a shop's own pages.

A shop adds ``<script src="https://kb.example/widget.js" data-kb-lang="ko" defer></script>`` and a
``<div data-kb-search></div>``; the script (``static/widget.js``) finds its API from its own ``src``. Its UI
strings come from the one table (:mod:`kb.app.i18n`), written into the script here, so the box needs no
second request. The address has no version in it (shops paste it once), so browsers keep it 10 minutes and
then revalidate it with its ETag: a new kb reaches every shop within minutes without re-downloading an
unchanged script.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from kb.app.i18n import STRINGS

router = APIRouter()

MEDIA_TYPE = "text/javascript; charset=utf-8"  # RFC 9239: text/javascript is the one JavaScript type
CACHE_CONTROL = "public, max-age=600"
_SLOT = "/*@kb-strings*/{}"  # in static/widget.js; the served script has the strings there
# what the box shows: the help page's strings for search, answers, votes and the way to a person
WIDGET_STRINGS = (
    "search_label", "search_placeholder", "search_button", "clear", "suggestions_label", "kind_title",
    "kind_question", "kind_tag", "kind_category", "status_searching", "status_count", "status_none", "status_error",
    "best_answer", "show_answer", "hide_answer", "helpful_q", "helpful_yes", "helpful_no", "thanks", "thanks_no",
    "feedback_error", "contact_cta", "contact_cta_link", "contact_title", "contact_intro", "contact_phone_label",
    "contact_phone", "contact_hours", "widget_label", "widget_more", "widget_results",
)


@lru_cache(maxsize=1)
def widget_script() -> tuple[bytes, str]:
    """The served script and its ETag (the file with the strings of every language written in)."""
    source = resources.files("kb.app").joinpath("static", "widget.js").read_text(encoding="utf-8")
    strings = {lang: {k: table[k] for k in WIDGET_STRINGS} for lang, table in STRINGS.items()}
    # "<" escaped so the JSON can never end a <script> if someone inlines the file
    payload = json.dumps(strings, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    if _SLOT not in source:  # pragma: no cover - a broken edit of widget.js
        raise RuntimeError(f"kb/web/static/widget.js lost its {_SLOT} slot")
    body = source.replace(_SLOT, payload, 1).encode("utf-8")
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@router.get("/widget.js", include_in_schema=False)
def widget(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    body, etag = widget_script()
    headers = {
        "ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff",
        # a shop whose pages send Cross-Origin-Embedder-Policy can still load it
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)
