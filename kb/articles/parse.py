"""Articles: Markdown files with YAML front matter, parsed strictly into frozen records.

A plain article is one answer (the body) reached by its title and alternate ``questions``. A page
with ``layout: faq`` holds several question-and-answer pairs: every ``##`` heading is a question and
the text under it its answer. Each question becomes an :class:`Entry` that points back to its article.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.articles.render import to_text
from kb.errors import ArticleError, ArticlesInvalid, KBError

FIELDS = ("id", "title", "category", "tags", "locale", "questions", "status", "tests", "layout", "translation_of",
          "audience")
STATUSES = ("published", "draft")
AUDIENCES = ("public", "agents")  # agents: canned answers for support agents only, never shown to customers
LAYOUTS = ("article", "faq")
_ID_RE = re.compile(r"^[\w][\w.-]*$")
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_HEADING_RE = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^(```|~~~)")


@dataclass(frozen=True)
class Entry:
    """One searchable question; its answer is what a hit on it shows."""

    entry_id: str
    article_id: str
    question: str
    answer: str
    # "title" | "question" | "section" | "article" (the whole article as one passage) | "learned" (a customer's
    # wording kb learned for the article: kb.feedback.learning)
    field: str
    locale: str
    category: str

    @property
    def content_hash(self) -> str:
        """Hash of everything that makes this entry what it is (text embedded and answer shown)."""
        payload = "\x1f".join((self.question, self.answer, self.field, self.locale, self.category))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Section:
    """A ``##`` question of a ``layout: faq`` page."""

    question: str
    answer: str
    line: int


@dataclass(frozen=True)
class Article:
    """A parsed article file."""

    id: str
    title: str
    category: str
    tags: tuple[str, ...]
    locale: str
    questions: tuple[str, ...]
    status: str
    body: str
    path: str
    layout: str = "article"
    sections: tuple[Section, ...] = ()
    tests: tuple[str, ...] = ()
    translation_of: tuple[str, ...] = ()  # ids of the articles (other locales) this one translates
    audience: str = "public"  # public | agents
    line_of: tuple[tuple[str, int], ...] = ()  # front matter key -> line, for messages

    @property
    def published(self) -> bool:
        return self.status == "published"

    @property
    def public(self) -> bool:
        return self.audience == "public"

    def line(self, key: str) -> int | None:
        """Line of a front matter key in the file (1-based), if it was given."""
        return dict(self.line_of).get(key)

    def entries(self) -> list[Entry]:
        """The search entries of this article: title, alternate questions, faq sections, and the article.

        The last entry (field ``article``) holds the whole article as one passage (title, questions and
        answer as plain text), so a query can match the answer's words and the questions together:
        measured with e5, it lifts hit@1 on StackFAQ (answers) from 0.86 to 0.90 and on BANKING77
        (several phrasings) from 0.67 to 0.76. An article with neither questions nor an answer has none.
        """

        out: list[Entry] = []

        def add(question: str, answer: str, field: str) -> None:
            out.append(
                Entry(f"{self.id}#{len(out)}", self.id, question, answer, field, self.locale, self.category)
            )

        add(self.title, self.body, "title")
        for q in self.questions:
            add(q, self.body, "question")
        for s in self.sections:
            add(s.question, s.answer, "section")
        body = to_text(self.body) if self.body else ""
        if self.questions or body:
            add("\n".join([self.title, *self.questions, *([body] if body else [])]), self.body, "article")
        return out


def _key_lines(front_lines: list[str], first_line: int) -> dict[str, int]:
    lines: dict[str, int] = {}
    for offset, text in enumerate(front_lines):
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:", text)
        if m and m.group(1) not in lines:
            lines[m.group(1)] = first_line + offset
    return lines


def _str_list(path: Path, key: str, value: Any, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ArticleError(path, f"`{key}` must be a list of strings, found {type(value).__name__}", line)
    out: list[str] = []
    for item in value:
        if isinstance(item, (dict, list)) or item is None:
            raise ArticleError(path, f"`{key}` must hold plain strings, found {item!r}", line)
        text = " ".join(str(item).split())
        if text:
            out.append(text)
    return tuple(out)


def _split_sections(path: Path, body: str, body_line: int) -> tuple[Section, ...]:
    sections: list[Section] = []
    current: tuple[str, int] | None = None
    buf: list[str] = []
    in_fence = False

    def close() -> None:
        if current is None:
            return
        answer = "\n".join(buf).strip()
        if not answer:
            raise ArticleError(path, f"question `{current[0]}` has no answer under it", current[1],
                               "write the answer below the ## heading")
        sections.append(Section(current[0], answer, current[1]))

    for offset, text in enumerate(body.split("\n")):
        if _FENCE_RE.match(text.strip()):
            in_fence = not in_fence
        m = None if in_fence else _HEADING_RE.match(text)
        if m:
            close()
            current, buf = (m.group(1).strip(), body_line + offset), []
        elif current is not None:
            buf.append(text)
    close()
    if not sections:
        raise ArticleError(path, "`layout: faq` page has no `##` questions", body_line,
                           "write each question as a `## ...?` heading with its answer below")
    return tuple(sections)


def parse_article(path: Path, text: str | None = None) -> Article:
    """Parse one article file; raise :class:`ArticleError` naming the file and line on any problem."""
    import yaml  # PyYAML: imported here so `import kb` stays cheap

    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ArticleError(path, f"not UTF-8 text ({e.reason} at byte {e.start})", None,
                               "save the file as UTF-8") from None
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ArticleError(path, "missing YAML front matter", 1, "start the file with a `---` line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise ArticleError(path, "front matter is not closed", 1, "add a `---` line after the front matter") from None
    front_lines = lines[1:end]
    try:
        meta = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        raise ArticleError(path, f"bad YAML in front matter: {problem}", line,
                           "check indentation, colons and quotes") from None
    if not isinstance(meta, dict):
        raise ArticleError(path, "front matter must be a mapping of `key: value` lines", 2)
    key_line = _key_lines(front_lines, 2)
    unknown = [k for k in meta if str(k) not in FIELDS and not str(k).startswith("x-")]
    if unknown:
        k = str(unknown[0])
        raise ArticleError(path, f"unknown field `{k}`", key_line.get(k),
                           f"known fields: {', '.join(FIELDS)}; prefix custom fields with x-")

    def scalar(key: str, default: str | None = None) -> str | None:
        value = meta.get(key)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise ArticleError(path, f"`{key}` must be a single value, found a {type(value).__name__}",
                               key_line.get(key))
        return " ".join(str(value).split()) or default

    stem = path.stem
    article_id = scalar("id", stem) or stem
    if not _ID_RE.match(article_id):
        raise ArticleError(path, f"id `{article_id}` is not valid", key_line.get("id"),
                           "use letters, digits, `-`, `_` or `.`, no spaces")
    title = scalar("title")
    if not title:
        raise ArticleError(path, "missing `title`", key_line.get("title", 2),
                           "add `title:` with the question as customers ask it")
    status = scalar("status", "published") or "published"
    if status not in STATUSES:
        raise ArticleError(path, f"unknown status `{status}`", key_line.get("status"),
                           f"use one of: {', '.join(STATUSES)}")
    audience = scalar("audience", "public") or "public"
    if audience not in AUDIENCES:
        raise ArticleError(path, f"unknown audience `{audience}`", key_line.get("audience"),
                           f"use one of: {', '.join(AUDIENCES)}")
    layout = scalar("layout", "article") or "article"
    if layout not in LAYOUTS:
        raise ArticleError(path, f"unknown layout `{layout}`", key_line.get("layout"),
                           f"use one of: {', '.join(LAYOUTS)}")
    locale = scalar("locale", "ko") or "ko"
    if not _LOCALE_RE.match(locale):
        raise ArticleError(path, f"locale `{locale}` is not a language code", key_line.get("locale"),
                           "use e.g. ko, en, ja, zh-CN")
    category = scalar("category", "기타") or "기타"
    tags = _str_list(path, "tags", meta.get("tags"), key_line.get("tags"))
    questions = _str_list(path, "questions", meta.get("questions"), key_line.get("questions"))
    tests = _str_list(path, "tests", meta.get("tests"), key_line.get("tests"))
    translation_of = _str_list(path, "translation_of", meta.get("translation_of"), key_line.get("translation_of"))
    rest = lines[end + 1 :]
    leading = next((i for i, t in enumerate(rest) if t.strip()), 0)
    body_line = end + 2 + leading  # 1-based line of the first non-blank body line
    body = "\n".join(rest).strip()
    if not body:
        raise ArticleError(path, "the answer (the text after the front matter) is empty", body_line,
                           "write the answer below the closing `---`")
    sections = _split_sections(path, body, body_line) if layout == "faq" else ()
    return Article(
        id=article_id, title=title, category=category, tags=tags, locale=locale,
        questions=tuple(dict.fromkeys(q for q in questions if q != title)), status=status, body=body,
        path=str(path), layout=layout, sections=sections, tests=tests, translation_of=translation_of, audience=audience,
        line_of=tuple(sorted(key_line.items())),
    )


def article_files(root: Path) -> list[Path]:
    """Markdown files under ``root``; names starting with ``_`` or ``.`` are configuration, not articles."""
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.rglob("*.md")
        if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
    )


def load_articles(root: Path) -> list[Article]:
    """Parse every article under ``root``; raise :class:`ArticlesInvalid` listing every broken file."""

    if not root.is_dir():
        raise KBError(f"articles folder {root} does not exist (set --articles or KB_ARTICLES_DIR)")
    articles: list[Article] = []
    errors: list[ArticleError] = []
    for path in article_files(root):
        try:
            articles.append(parse_article(path))
        except ArticleError as e:
            errors.append(e)
    seen: dict[str, Article] = {}
    for a in articles:
        if a.id in seen:
            errors.append(ArticleError(a.path, f"duplicate id `{a.id}` (also used by {seen[a.id].path})",
                                       a.line("id") or 1, "give every article its own id"))
        else:
            seen[a.id] = a
    if errors:
        raise ArticlesInvalid(errors)
    if not articles:
        raise KBError(f"no articles (*.md) found in {root}")
    return articles
