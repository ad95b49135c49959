"""``kb export``: the knowledge base as one CSV or JSON file, in the shape ``kb import`` reads back.

Every article is exported, drafts and agent-only ones included (it is the editors' copy, not the public
view), with every front matter field, so exporting and importing into an empty folder gives the same
articles. CSV is written as UTF-8 with a BOM, which is how Excel recognises UTF-8; list fields hold one item
a line (a tag or question can hold a comma, never a line break).

A CSV cell that a spreadsheet would take for a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return: customers' wordings reach ``questions:`` through one-click fixes) gets a leading ``'``, the
OWASP rule against CSV injection. A cell that starts with ``'`` gets one too, which makes the rule reversible:
``kb import`` (:func:`restore_cell`) removes exactly the quote added here, and the round trip stays identical.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from kb.articles.parse import Article, load_articles

EXPORT_FORMATS = ("csv", "json")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets may run as a formula
COLUMNS = ("id", "title", "category", "tags", "questions", "locale", "status", "layout", "audience",
           "translation_of", "tests", "answer")


def article_record(a: Article) -> dict[str, Any]:
    """One article as a flat record (lists stay lists; CSV joins them)."""
    return {
        "id": a.id, "title": a.title, "category": a.category, "tags": list(a.tags), "questions": list(a.questions),
        "locale": a.locale, "status": a.status, "layout": a.layout, "audience": a.audience,
        "translation_of": list(a.translation_of), "tests": list(a.tests), "answer": a.body,
    }


def neutralise_cell(text: str) -> str:
    """``=1+1`` -> ``'=1+1``; ``'quoted`` -> ``''quoted``; anything else as it is."""
    return f"'{text}" if text.startswith((*FORMULA_START, "'")) else text


def restore_cell(text: str) -> str:
    """The inverse of :func:`neutralise_cell`: one ``'`` before a formula character or another ``'`` is removed.

    A cell of another tool's CSV that starts with a quote and then a letter (``'Tis``) is kept as it is.
    """
    return text[1:] if text.startswith("'") and text[1:2] and text[1] in (*FORMULA_START, "'") else text


def export_text(articles: list[Article], fmt: str) -> str:
    """The export file's text in ``fmt`` (``csv`` or ``json``)."""
    records = [article_record(a) for a in articles]
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)  # Excel's dialect: quoted cells keep their line breaks
    writer.writeheader()
    for r in records:
        writer.writerow({k: neutralise_cell("\n".join(v) if isinstance(v, list) else v) for k, v in r.items()})
    return buf.getvalue()


def export_articles(articles_dir: Path, fmt: str, out: Path | None = None) -> tuple[int, str]:
    """Export every article under ``articles_dir``; write ``out`` (returns the count and ``""``), or return the
    text for standard output. Broken articles stop the export, as they stop a build."""
    articles = load_articles(articles_dir)
    text = export_text(articles, fmt)
    if out is None:
        return len(articles), text
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    # utf-8-sig for CSV: without the BOM, Excel reads a UTF-8 CSV as the system code page (CP949 in Korea)
    tmp.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="")
    tmp.replace(out)
    return len(articles), ""
