"""The shared benchmark format (FAQ JSONL + query JSONL) read into kb Articles and labelled queries.

``faq.jsonl``: one object per line with ``id``, ``question``, ``answer`` and optional ``category``, ``lang``,
``examples`` (alternate phrasings). Every line becomes one :class:`~kb.articles.parse.Article`: the question is its
title, ``examples`` its alternate ``questions``, the answer its body. One article per FAQ entry (not per
StackFAQ thread) keeps ids equal to the benchmark's relevant ids; the several answers of a thread are
several articles with the same title.

``queries*.jsonl``: ``query``, ``relevant_ids`` (one or more FAQ ids), optional ``lang``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.articles.parse import Article
from kb.errors import KBError


@dataclass(frozen=True)
class LabelledQuery:
    """A query and the ids of the articles that answer it."""

    query: str
    relevant_ids: tuple[str, ...]
    lang: str = ""


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; a clear ``file:line`` error otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KBError(f"benchmark file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise KBError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise KBError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict):
            raise KBError(f"{path}:{n}: expected a JSON object, found {type(row).__name__}")
        yield n, row


def _text(path: Path, n: int, row: dict[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise KBError(f"{path}:{n}: `{key}` must be a non-empty string, found {value!r}")
    return " ".join(value.split()) if key != "answer" else value.strip()


def load_faq(path: Path) -> list[Article]:
    """FAQ JSONL -> published Articles (id, title = question, questions = examples, body = answer)."""
    articles: list[Article] = []
    seen: set[str] = set()
    for n, row in jsonl_rows(path):
        article_id = _text(path, n, row, "id")
        if article_id in seen:
            raise KBError(f"{path}:{n}: duplicate id `{article_id}`")
        seen.add(article_id)
        title = _text(path, n, row, "question")
        examples = row.get("examples") or []
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise KBError(f"{path}:{n}: `examples` must be a list of strings")
        questions = tuple(dict.fromkeys(q for q in (" ".join(e.split()) for e in examples) if q and q != title))
        articles.append(Article(
            id=article_id, title=title, category=str(row.get("category") or "faq"), tags=(),
            locale=str(row.get("lang") or "und"), questions=questions, status="published",
            body=_text(path, n, row, "answer", required=False), path=f"{path.name}:{n}",
        ))
    if not articles:
        raise KBError(f"{path}: no FAQ entries")
    return articles


def load_queries(path: Path) -> list[LabelledQuery]:
    """Query JSONL -> labelled queries; every query needs at least one relevant id."""
    out: list[LabelledQuery] = []
    for n, row in jsonl_rows(path):
        query = _text(path, n, row, "query")
        ids = row.get("relevant_ids")
        if isinstance(ids, str):
            ids = [ids]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise KBError(f"{path}:{n}: `relevant_ids` must be a non-empty list of ids, found {ids!r}")
        out.append(LabelledQuery(query, tuple(dict.fromkeys(ids)), str(row.get("lang") or "")))
    if not out:
        raise KBError(f"{path}: no queries")
    return out
