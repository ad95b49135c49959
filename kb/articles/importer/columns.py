"""Which column holds what: common Korean and English header names, ``--map`` overrides, and the
record (:class:`Record`) each row becomes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.articles.importer.sources import SourceError, Table

# field -> header names that mean it (compared without case, spaces, `_` or `-`); the first listed are the
# ones the brief names, then what Korean shop exports and kb's own export use
ALIASES: Mapping[str, tuple[str, ...]] = {
    "title": ("title", "question", "질문", "제목", "질문제목", "faq", "q"),
    "answer": ("answer", "답변", "내용", "답", "body", "content", "답변내용", "a"),
    "category": ("category", "카테고리", "분류", "section", "섹션", "유형", "구분"),
    "tags": ("tags", "tag", "태그", "키워드", "keywords", "labels", "label_names"),
    "questions": ("questions", "alternate questions", "alternates", "유사질문", "다른질문", "비슷한질문", "다른표현"),
    "id": ("id", "slug", "아이디"),
    "locale": ("locale", "언어", "language", "lang"),
    "status": ("status", "상태", "공개여부"),
    "layout": ("layout",),
    "audience": ("audience", "대상"),
    "translation_of": ("translation_of", "원문"),
    "tests": ("tests", "테스트"),
}
REQUIRED = ("title", "answer")
LIST_FIELDS = ("tags", "questions", "translation_of", "tests")
_VALUE_WORDS: Mapping[str, Mapping[str, str]] = {
    "locale": {"한국어": "ko", "korean": "ko", "영어": "en", "english": "en", "일본어": "ja", "japanese": "ja",
               "중국어": "zh", "chinese": "zh"},
    "status": {"공개": "published", "게시": "published", "게시중": "published", "y": "published", "true": "published",
               "비공개": "draft", "초안": "draft", "임시저장": "draft", "n": "draft", "false": "draft"},
    "audience": {"고객": "public", "상담원": "agents"},
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_BY_KEY = {_key(alias): f for f, aliases in ALIASES.items() for alias in aliases}


def parse_map(specs: Iterable[str]) -> dict[str, str]:
    """``["answer=답변,title=질문"]`` -> ``{"answer": "답변", "title": "질문"}``; unknown fields are refused."""
    out: dict[str, str] = {}
    for spec in specs:
        for item in spec.split(","):
            if not item.strip():
                continue
            name, sep, column = item.partition("=")
            field = _BY_KEY.get(_key(name)) if name.strip() not in ALIASES else name.strip()
            if not sep or not column.strip() or field is None:
                raise SourceError(f"--map {item.strip()!r}: write FIELD=COLUMN with FIELD one of "
                                  f"{', '.join(ALIASES)}")
            out[field] = column.strip()
    return out


@dataclass(frozen=True)
class Columns:
    """The source column of each field, and the columns nothing reads."""

    of: dict[str, str]
    ignored: tuple[str, ...]

    def describe(self) -> str:
        used = ", ".join(f"{column} -> {field}" for field, column in self.of.items())
        return used + (f"; ignored: {', '.join(self.ignored)}" if self.ignored else "")


def resolve_columns(table: Table, source: Path, overrides: Mapping[str, str] | None = None) -> Columns:
    """Match the header to fields: ``overrides`` first, then the known names (the leftmost column wins)."""
    of: dict[str, str] = {}
    by_name = {c.strip().lower(): c for c in table.columns}
    for field, wanted in (overrides or {}).items():
        column = by_name.get(wanted.strip().lower())
        if column is None:
            raise SourceError(f"{source}: --map {field}={wanted}: there is no column `{wanted}` "
                              f"(columns: {', '.join(table.columns)})")
        of[field] = column
    taken = set(of.values())
    for column in table.columns:
        known = _BY_KEY.get(_key(column))
        if known is not None and known not in of and column not in taken:
            of[known] = column
            taken.add(column)
    for field in REQUIRED:
        if field not in of:
            raise SourceError(f"{source}: no column for the {field} (columns: {', '.join(table.columns) or 'none'}; "
                              f"name one with --map {field}=COLUMN)")
    ordered = {f: of[f] for f in ALIASES if f in of}
    return Columns(ordered, tuple(c for c in table.columns if c not in taken))


@dataclass(frozen=True)
class Record:
    """One FAQ entry as read from the source, before ids and files are chosen."""

    number: int
    title: str
    answer: str
    category: str = ""
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    id: str = ""
    locale: str = ""
    status: str = ""
    layout: str = ""
    audience: str = ""
    translation_of: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    removed: int = 0  # control characters (NUL and the like) taken out of the row's cells


# control characters (tab, line feed and carriage return excepted), lone surrogates (a JSON "\ud800" decodes to
# one, and no UTF-8 file can hold it) and the two non-characters: never text an article should hold
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _clean(value: Any) -> tuple[Any, int]:
    """``value`` without control characters, and how many were taken out (lists item by item)."""
    if isinstance(value, (list, tuple)):
        items = [_clean(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if value is None:
        return None, 0
    text, n = _CONTROL.subn("", value if isinstance(value, str) else str(value))
    return text, n


def _one_line(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def split_list(value: Any, field: str) -> tuple[str, ...]:
    """A list cell: one item a line, or ``|``-separated on one line; tags may also use ``,`` or ``;``.

    A JSON list is taken as it is. Items are whitespace-normalised and repeated ones dropped.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        items: Sequence[Any] = value
    else:
        text = str(value)
        if "\n" in text.strip():
            items = text.splitlines()
        else:
            items = re.split(r"[|,;]" if field == "tags" else r"\|", text)
    cleaned = (_one_line(i).lstrip("#") if field == "tags" else _one_line(i) for i in items)
    return tuple(dict.fromkeys(i for i in cleaned if i))


def to_record(number: int, cells: Mapping[str, Any], columns: Columns) -> Record | None:
    """The record of one row, or ``None`` for a row with nothing in it."""
    cleaned = {f: _clean(cells.get(c)) for f, c in columns.of.items()}
    raw = {f: v for f, (v, _) in cleaned.items()}
    if not any(str(v).strip() if not isinstance(v, (list, tuple)) else v for v in raw.values() if v is not None):
        return None
    values: dict[str, Any] = {}
    for field, value in raw.items():
        if field in LIST_FIELDS:
            values[field] = split_list(value, field)
        elif field == "answer":
            values[field] = str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        else:
            text = _one_line(value)
            words = _VALUE_WORDS.get(field, {})
            values[field] = words.get(text.lower(), text)
    return Record(number=number, removed=sum(n for _, n in cleaned.values()), **values)
