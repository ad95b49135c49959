"""From records to article files: checks with the source row in every message, ids that never collide,
the folder of each file, and the file's text (YAML front matter written by ``yaml.safe_dump``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kb.articles.importer.bounds import html_depth
from kb.articles.importer.columns import Record
from kb.articles.importer.convert import html_to_markdown, looks_like_html
from kb.articles.importer.slugs import short_hash, slug_or_hash, slugify
from kb.articles.parse import _ID_RE, _LOCALE_RE, AUDIENCES, LAYOUTS, STATUSES, article_files, parse_article
from kb.errors import ArticleError
from kb.limits import IMPORT_MAX_DEPTH

DEFAULT_CATEGORY = "기타"  # what kb.articles.parse assumes when an article names none
DEFAULT_LOCALE = "ko"
MAX_FILE_NAME_BYTES = 255  # ext4, APFS, NTFS (in UTF-16 units, which UTF-8 bytes never undercount)
# a line of plain text that Markdown would treat as structure (heading, list, quote, table, fence, rule, HTML):
# its line break is left as it is
_STRUCTURE = re.compile(r"^\s{0,3}(#{1,6}(\s|$)|[-*+]\s|\d{1,9}[.)]\s|>|\||```|~~~|(\*\s*){3,}$|(-\s*){3,}$|"
                        r"(_\s*){3,}$|=+\s*$|<)")


@dataclass(frozen=True)
class Problem:
    """A row that was left out (``error``) or changed (a warning), named as ``faq.csv:row 7: ...``."""

    where: str
    message: str
    hint: str = ""
    error: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class Planned:
    """An article to write: its id, its path under the articles folder, and the file's text."""

    row: str
    id: str
    title: str
    path: Path
    text: str


def question_key(text: str) -> str:
    """How kb.articles.lint tells two questions apart: case, spaces and punctuation do not count."""
    return re.sub(r"[\s\W_]+", "", text.lower())


@dataclass(frozen=True)
class Existing:
    """What the articles folder already holds: ids (-> file) and questions (-> file)."""

    ids: Mapping[str, Path]
    questions: Mapping[str, Path]


def scan_existing(root: Path) -> Existing:
    """Ids and questions of the articles already under ``root``; a broken file counts by its name."""

    ids: dict[str, Path] = {}
    questions: dict[str, Path] = {}
    for path in article_files(root):
        try:
            a = parse_article(path)
        except ArticleError:
            ids.setdefault(path.stem, path)
            continue
        ids.setdefault(a.id, path)
        for q in (a.title, *a.questions, *(s.question for s in a.sections)):
            questions.setdefault(question_key(q), path)
    return Existing(ids, questions)


def plan(records: Sequence[Record], *, source: str, unit: str, root: Path, existing: Existing, html: bool = False,
         force: bool = False, markdown: bool = False,
         max_depth: int = IMPORT_MAX_DEPTH) -> tuple[list[Planned], list[Problem]]:
    """Check every record and choose its id and file; rows with an error are reported (and not planned).

    ``html``: answers are HTML whatever they look like (Zendesk); ``markdown``: answers are Markdown already
    (kb's own export), so their line breaks stay as written; otherwise a plain text's line breaks are kept.
    """
    problems: list[Problem] = []
    where = {r.number: f"{source}:{unit} {r.number}" for r in records}
    asked: dict[str, str] = {}  # question key -> where it is asked first ("row 3", or an existing file)
    ok: list[Record] = []
    for r in records:
        if r.removed:
            problems.append(Problem(where[r.number], f"{r.removed} control character(s) (NUL and the like) "
                                    "taken out of the row", error=False))
        is_html = bool(r.answer) and (html or looks_like_html(r.answer))
        depth = html_depth(r.answer, max_depth) if is_html else 0
        if depth > max_depth:
            problems.append(Problem(where[r.number], f"the answer's HTML nests more than {max_depth} levels deep",
                                    "simplify the answer, or raise KB_IMPORT_MAX_DEPTH"))
            continue
        r = replace(r, answer=markdown_answer(r.answer, html, markdown=markdown))
        bad = _check(r, where[r.number])
        if bad:
            problems.extend(bad)
            continue
        own = existing.ids.get(_own_id(r))  # the file this row would overwrite, if any
        first = _asked_before(r.title, asked, existing, own)
        if first:
            problems.append(Problem(where[r.number], f"question `{r.title}` is also asked in {first}",
                                    "keep it in one place; this row was left out"))
            continue
        asked[question_key(r.title)] = f"{unit} {r.number}"
        ok.append(r)
    kept = []
    for r in ok:  # an alternate question asked elsewhere stays there; the row keeps the rest
        own = existing.ids.get(_own_id(r))
        questions = []
        for q in r.questions:
            key = question_key(q)
            if key == question_key(r.title):
                continue
            first = _asked_before(q, asked, existing, own)
            if first:
                problems.append(Problem(where[r.number], f"alternate question `{q}` is also asked in {first}",
                                        "left out of this row", error=False))
                continue
            asked[key] = f"{unit} {r.number}"
            questions.append(q)
        kept.append(replace(r, questions=tuple(questions)))
    ids = _choose_ids(kept, where, problems)
    out: list[Planned] = []
    for r in kept:
        if r.number not in ids:
            continue
        article_id = ids[r.number]
        target = existing.ids.get(article_id)
        path = target or root / (slugify(r.category or DEFAULT_CATEGORY) or "faq") / f"{article_id}.md"
        if len(path.name.encode("utf-8")) > MAX_FILE_NAME_BYTES:  # before any look at the disk: that would fail
            problems.append(Problem(where[r.number], f"id `{article_id[:40]}...` is too long for a file name "
                                    f"({len(path.name.encode('utf-8'))} bytes; at most {MAX_FILE_NAME_BYTES})",
                                    "use a shorter id"))
            continue
        if (target is not None or path.exists()) and not force:
            problems.append(Problem(where[r.number], f"{path} already exists",
                                    "use --force to overwrite it; this row was left out"))
            continue
        text = render(r, article_id)
        try:
            parse_article(path, text)
        except ArticleError as e:  # e.g. `layout: faq` with no `##` questions: say it with the row
            problems.append(Problem(where[r.number], e.message, e.hint or "this row was left out"))
            continue
        out.append(Planned(where[r.number], article_id, r.title, path, text))
    return out, problems


def markdown_answer(answer: str, html: bool = False, *, markdown: bool = False) -> str:
    """The answer as Markdown: HTML (always, for a Zendesk export; else when it is written in HTML) converted;
    plain text keeps its line breaks (see :func:`keep_line_breaks`) unless it is Markdown already."""
    if answer and (html or looks_like_html(answer)):
        return html_to_markdown(answer)
    return answer.strip() if markdown else keep_line_breaks(answer.strip())


def keep_line_breaks(text: str) -> str:
    """A spreadsheet cell's line breaks (Excel's Alt+Enter) as Markdown hard breaks.

    In Markdown a single line break inside a paragraph is a space: the cell's lines would run together. A line
    of text followed by another gets two trailing spaces (a hard break, invisible in the file, and ignored where
    a block ends, unlike a trailing backslash); blank lines stay paragraph breaks, and lines that are Markdown
    structure (lists, headings, tables, code) are left as written.
    """
    lines = text.split("\n")
    fenced = False
    for i, line in enumerate(lines[:-1]):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        after = lines[i + 1]
        if fenced or not line.strip() or not after.strip() or line.endswith(("  ", "\\")):
            continue
        if _STRUCTURE.match(line) or _STRUCTURE.match(after):
            continue
        lines[i] = line.rstrip() + "  "
    return "\n".join(lines)


def _own_id(r: Record) -> str:
    return r.id if r.id and _ID_RE.match(r.id) else slug_or_hash(r.title)


def _asked_before(question: str, asked: Mapping[str, str], existing: Existing, own: Path | None) -> str | None:
    """Where ``question`` is already asked: an earlier row, or an existing file other than the one replaced."""
    key = question_key(question)
    if not key:  # punctuation or emoji only: kb.articles.lint does not compare those either
        return None
    if key in asked:
        return asked[key]
    path = existing.questions.get(key)
    return str(path) if path is not None and path != own else None


def _check(r: Record, where: str) -> list[Problem]:
    out = []
    if not r.title:
        out.append(Problem(where, "missing title", "write the question in the title column"))
    if not r.answer:
        out.append(Problem(where, f"the answer of `{r.title}` is empty" if r.title else "the answer is empty",
                           "write the answer in the answer column"))
    for field, value, allowed in (("status", r.status, STATUSES), ("layout", r.layout, LAYOUTS),
                                  ("audience", r.audience, AUDIENCES)):
        if value and value not in allowed:
            out.append(Problem(where, f"unknown {field} `{value}`", f"use one of: {', '.join(allowed)}"))
    if r.locale and not _LOCALE_RE.match(r.locale):
        out.append(Problem(where, f"locale `{r.locale}` is not a language code", "use e.g. ko, en, ja, zh-CN"))
    return out


def _choose_ids(records: list[Record], where: Mapping[int, str], problems: list[Problem]) -> dict[int, str]:
    """Given ids first (a clash is an error), then slugs of the titles (a clash gets a hash of the title).

    Ids are compared without case: ``Ship_01.md`` and ``ship_01.md`` are one file on macOS and Windows.
    """
    ids: dict[int, str] = {}
    owner: dict[str, int] = {}  # lower-cased id -> row
    for r in records:
        if not r.id:
            continue
        article_id = r.id if _ID_RE.match(r.id) else slugify(r.id)
        if not article_id:
            problems.append(Problem(where[r.number], f"id `{r.id}` has nothing usable in it",
                                    "use letters, digits, `-`, `_` or `.`; this row was left out"))
        elif article_id.lower() in owner:
            problems.append(Problem(where[r.number], f"id `{article_id}` is also used by "
                                    f"{where[owner[article_id.lower()]]}",
                                    "give every row its own id; this row was left out"))
        else:
            owner[article_id.lower()] = r.number
            ids[r.number] = article_id
    for r in records:
        if r.id:
            continue
        article_id = slug_or_hash(r.title)
        length = 6
        while article_id in owner:  # stable: depends on the title only, never on the order of the rows
            article_id = f"{slugify(r.title, 40) or 'faq'}-{short_hash(r.title, length)}"
            length += 2
        owner[article_id] = r.number
        ids[r.number] = article_id
    return ids


def render(r: Record, article_id: str) -> str:
    """The article file: front matter (``yaml.safe_dump``: any title is quoted safely) and the answer."""
    import yaml

    front: dict[str, object] = {"id": article_id, "title": r.title, "category": r.category or DEFAULT_CATEGORY}
    if r.tags:
        front["tags"] = list(r.tags)
    front["locale"] = r.locale or DEFAULT_LOCALE
    for field, value, default in (("status", r.status, "published"), ("layout", r.layout, "article"),
                                  ("audience", r.audience, "public")):
        if value and value != default:
            front[field] = value
    for field, items in (("questions", r.questions), ("translation_of", r.translation_of), ("tests", r.tests)):
        if items:
            front[field] = list(items)
    head = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=1_000_000).rstrip("\n")
    return f"---\n{head}\n---\n{r.answer.strip()}\n"
