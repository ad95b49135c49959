"""HTML answers (a Zendesk export, a CMS's CSV) turned into the Markdown that articles are written in.

markdownify (MIT, BeautifulSoup underneath) does the conversion: headings, lists, links, emphasis,
tables and line breaks are kept. html2text does the same job but is GPL-3.0, which kb (MIT) should not
pull in. On top of markdownify: scripts, styles and other non-content elements are dropped with their
text, links keep only http(s), mailto and tel targets (and relative ones), and images become their alt
text: the help-center page loads nothing from other hosts (its CSP blocks remote images anyway).
Attributes, event handlers included, never survive: Markdown has no place for them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# block and inline tags that FAQ answers are written with; plain text with a stray "<" is not HTML
_HTML_TAG = re.compile(
    r"</?(p|br|div|span|ul|ol|li|a|b|strong|i|em|u|h[1-6]|table|thead|tbody|tr|td|th|img|blockquote|pre|code|hr"
    r"|font|section|article)\b[^>]*>", re.IGNORECASE)
_SCHEME = re.compile(r"^\s*([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_SAFE_SCHEMES = {"http", "https", "mailto", "tel"}
_DROPPED = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "form", "button", "head",
            "title", "meta", "link"]


def looks_like_html(text: str) -> bool:
    """True when ``text`` is written in HTML rather than Markdown or plain text."""
    return bool(_HTML_TAG.search(text))


@lru_cache(maxsize=1)
def _converter() -> Any:
    from markdownify import MarkdownConverter

    class Converter(MarkdownConverter):
        def convert_a(self, el: Any, text: str, *args: Any, **kwargs: Any) -> str:
            href = (el.get("href") or "").strip()
            scheme = _SCHEME.match(href)
            if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES:
                return text  # javascript:, data:, vbscript: ...: keep the words, lose the target
            # markdownify's stub lists only convert() and convert_soup(); convert_a is there at run time
            return str(MarkdownConverter.convert_a(self, el, text, *args, **kwargs))  # type: ignore[attr-defined]

        def convert_img(self, el: Any, text: str, *args: Any, **kwargs: Any) -> str:
            return str(el.get("alt") or "")

    return Converter(heading_style="ATX", bullets="-", strip_document="strip", escape_misc=False)


def html_to_markdown(html: str) -> str:
    """Markdown for an HTML fragment, with the unsafe and the invisible left out."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROPPED):
        tag.decompose()
    text = str(_converter().convert_soup(soup)).replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", lambda m: "  \n" if m.group(0).startswith("  ") else "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
