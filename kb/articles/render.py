"""Markdown answers turned into safe HTML (raw HTML escaped, unsafe links dropped) and plain text.

``to_text`` (and ``snippet``) give plain text, never HTML: ``highlight`` escapes it exactly once for the API's
``snippet_html``, which the pages insert as HTML."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _renderer() -> Any:
    from markdown_it import MarkdownIt

    # html=False: any HTML written in an article is shown as text, never executed.
    # markdown-it's validateLink already refuses javascript:, vbscript:, file: and most data: links.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


# Answers are a finite set that every search renders again: a search of the sample spent ~2 of its ~4 ms in
# markdown-it and the plain-text pass before these caches (scripts/bench.py; profile of 200 searches).
RENDER_CACHE = 4096  # answers kept rendered (a few KB each)


@lru_cache(maxsize=RENDER_CACHE)
def to_html(markdown: str) -> str:
    """Render Markdown to HTML that is safe to insert into a page."""
    return str(_renderer().render(markdown))


@lru_cache(maxsize=RENDER_CACHE)
def to_text(markdown: str) -> str:
    """Markdown to one line of plain text (for snippets and lexical indexing): the text a reader sees on the page.

    Read from markdown-it's tokens, the same parse :func:`to_html` renders, so what the page shows and the plain
    text agree: entities are decoded (``&lt;`` is ``<``, once), backslash escapes dropped, HTML an article holds
    kept as the text the page shows (``html=False``), link and image text kept, their targets dropped."""
    out: list[str] = []
    for token in _renderer().parse(markdown):
        if token.type == "inline":
            for child in token.children or ():
                if child.type in ("text", "code_inline", "image"):  # an image's content is its alt text
                    out.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    out.append(" ")
            out.append(" ")
        elif token.type in ("code_block", "fence"):
            out.append(f" {token.content} ")
    return " ".join("".join(out).split())


def snippet(markdown: str, limit: int = 160) -> str:
    """A short plain-text preview of an answer, cut at a word boundary."""
    text = to_text(markdown)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def highlight(text: str, terms: tuple[str, ...] | list[str]) -> str:
    """HTML-escape ``text`` and wrap each occurrence of the terms (case-insensitive) in ``<mark>``."""
    import html

    words = sorted({t for t in terms if t and len(t.strip()) > 0}, key=len, reverse=True)
    if not words:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
