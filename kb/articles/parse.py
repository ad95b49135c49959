"""Articles: Markdown files with YAML front matter, parsed strictly into frozen records.

A plain article is one answer (the body) reached by its title and alternate ``questions``. A page
with ``layout: faq`` holds several question-and-answer pairs: every ``##`` heading is a question and
the text under it its answer. Each question becomes an :class:`Entry` that points back to its article.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.articles.render import to_text
from kb.errors import ArticleError, ArticlesInvalid, KBError
from kb.limits import MAX_ARTICLE_ID_CHARS

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
    item_lines: tuple[tuple[str, str, int], ...] = ()  # (key, list item or value, line), for messages

    @property
    def published(self) -> bool:
        return self.status == "published"

    @property
    def public(self) -> bool:
        return self.audience == "public"

    def line(self, key: str) -> int | None:
        """Line of a front matter key in the file (1-based), if it was given."""
        return dict(self.line_of).get(key)

    def line_of_item(self, key: str, text: str) -> int | None:
        """Line of the value ``text`` of the front matter ``key`` (a list item), if it was given."""
        return next((line for k, item, line in self.item_lines if k == key and item == text), None)

    def entries(self, learned: Sequence[str] = ()) -> list[Entry]:
        """The search entries of this article: title, alternate questions, faq sections, and the article.

        The last entry (field ``article``) holds the whole article as one passage (title, questions and
        answer as plain text), so a query can match the answer's words and the questions together:
        measured with e5, it lifts hit@1 on StackFAQ (answers) from 0.86 to 0.90 and on BANKING77
        (several phrasings) from 0.67 to 0.76. An article with neither questions nor an answer has none.
        ``learned`` wordings (:func:`kb.index.build.learned_entries`) are folded into that passage after the
        questions; with them, an article that is only a title gets one too.
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
        if self.questions or body or learned:
            add("\n".join([self.title, *self.questions, *learned, *([body] if body else [])]), self.body, "article")
        return out


def _node_lines(node: Any, first_line: int) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
    """Lines of the front matter's keys and of each list item (or single value), from the YAML nodes.

    The nodes know where every value starts, so two questions that read alike (quoted, escaped, or one a part
    of the other) still get their own lines, which a search for the text in the file cannot promise.
    """
    import yaml

    keys: dict[str, int] = {}
    items: list[tuple[str, str, int]] = []
    if not isinstance(node, yaml.MappingNode):
        return keys, items
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        keys.setdefault(key, first_line + key_node.start_mark.line)
        values = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for item in values:
            if isinstance(item, yaml.ScalarNode):
                items.append((key, " ".join(str(item.value).split()), first_line + item.start_mark.line))
    return keys, items


def _str_list(errors: list[ArticleError], path: Path, key: str, value: Any, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        errors.append(ArticleError(path, f"`{key}` must be a list of strings, found {type(value).__name__}", line))
        return ()
    out: list[str] = []
    for item in value:
        if isinstance(item, (dict, list)) or item is None:
            errors.append(ArticleError(path, f"`{key}` must hold plain strings, found {item!r}", line))
            continue
        text = " ".join(str(item).split())
        if text:
            out.append(text)
    return tuple(out)


def _split_sections(errors: list[ArticleError], path: Path, body: str, body_line: int) -> tuple[Section, ...]:
    sections: list[Section] = []
    current: tuple[str, int] | None = None
    buf: list[str] = []
    in_fence = False
    found = 0

    def close() -> None:
        if current is None:
            return
        answer = "\n".join(buf).strip()
        if not answer:
            errors.append(ArticleError(path, f"question `{current[0]}` has no answer under it", current[1],
                                       "write the answer below the ## heading"))
            return
        sections.append(Section(current[0], answer, current[1]))

    for offset, text in enumerate(body.split("\n")):
        if _FENCE_RE.match(text.strip()):
            in_fence = not in_fence
        m = None if in_fence else _HEADING_RE.match(text)
        if m:
            close()
            current, buf = (m.group(1).strip(), body_line + offset), []
            found += 1
        elif current is not None:
            buf.append(text)
    close()
    if not found:
        errors.append(ArticleError(path, "`layout: faq` page has no `##` questions", body_line,
                                   "write each question as a `## ...?` heading with its answer below"))
    return tuple(sections)


def _load(text: str, loader_class: Any) -> tuple[Any, Any]:
    """The YAML node of ``text`` (for the lines of keys and items) and its value."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else {}
    finally:
        loader.dispose()


def _front_matter(path: Path, text: str | None) -> tuple[list[str], int, Any]:
    """The file's lines, the index of the closing ``---`` and the YAML node of the front matter."""
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
    front = "\n".join(lines[1:end])
    try:
        # libyaml's loader when PyYAML has it: the same YAML, about five times faster (an import or a build parses
        # every article)
        node, meta = _load(front, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:  # PyYAML's own parser says better where (libyaml points past the end of an unclosed list)
            node, meta = _load(front, yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 2
            problem = getattr(e, "problem", None) or str(e).split("\n")[0]
            raise ArticleError(path, f"bad YAML in front matter: {problem}", line,
                               "check indentation, colons and quotes") from None
    if not isinstance(meta or {}, dict):
        raise ArticleError(path, "front matter must be a mapping of `key: value` lines", 2)
    return lines, end, (node, meta or {})


def parse_article(path: Path, text: str | None = None) -> Article:
    """Parse one article file; raise :class:`ArticleError` naming the file and line on the first problem
    (:func:`read_article` reports them all)."""
    article, errors = read_article(path, text)
    if errors:
        raise errors[0]
    assert article is not None  # no error means an article
    return article


def read_article(path: Path, text: str | None = None) -> tuple[Article | None, list[ArticleError]]:
    """Parse one article file and collect every problem in it, each with its line.

    A file whose front matter cannot be read at all (not UTF-8, no ``---``, bad YAML) gives ``None`` and that
    one error; otherwise the article is returned with defaults standing in for what was wrong, so that checks
    across files (duplicate questions, ``translation_of``) still see its id and questions.
    """
    try:
        lines, end, (node, meta) = _front_matter(path, text)
    except ArticleError as e:
        return None, [e]
    errors: list[ArticleError] = []
    key_line, items = _node_lines(node, 2)
    for k in meta:
        if str(k) not in FIELDS and not str(k).startswith("x-"):
            errors.append(ArticleError(path, f"unknown field `{k}`", key_line.get(str(k)),
                                       f"known fields: {', '.join(FIELDS)}; prefix custom fields with x-"))

    def scalar(key: str, default: str) -> str:
        value = meta.get(key)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            errors.append(ArticleError(path, f"`{key}` must be a single value, found a {type(value).__name__}",
                                       key_line.get(key)))
            return default
        return " ".join(str(value).split()) or default

    def one_of(key: str, default: str, allowed: tuple[str, ...], what: str) -> str:
        value = scalar(key, default)
        if value not in allowed:
            errors.append(ArticleError(path, f"unknown {what} `{value}`", key_line.get(key),
                                       f"use one of: {', '.join(allowed)}"))
            return default
        return value

    article_id = scalar("id", path.stem)
    if not _ID_RE.match(article_id):
        errors.append(ArticleError(path, f"id `{article_id}` is not valid", key_line.get("id"),
                                   "use letters, digits, `-`, `_` or `.`, no spaces"))
    elif len(article_id) > MAX_ARTICLE_ID_CHARS:
        errors.append(ArticleError(path, f"id `{article_id[:40]}...` is {len(article_id)} characters long",
                                   key_line.get("id"), f"keep ids to {MAX_ARTICLE_ID_CHARS} characters"))
    title = scalar("title", "")
    if not title:
        errors.append(ArticleError(path, "missing `title`", key_line.get("title", 2),
                                   "add `title:` with the question as customers ask it"))
    status = one_of("status", "published", STATUSES, "status")
    audience = one_of("audience", "public", AUDIENCES, "audience")
    layout = one_of("layout", "article", LAYOUTS, "layout")
    locale = scalar("locale", "ko")
    if not _LOCALE_RE.match(locale):
        errors.append(ArticleError(path, f"locale `{locale}` is not a language code", key_line.get("locale"),
                                   "use e.g. ko, en, ja, zh-CN"))
    category = scalar("category", "기타")
    lists = {key: _str_list(errors, path, key, meta.get(key), key_line.get(key))
             for key in ("tags", "questions", "tests", "translation_of")}
    rest = lines[end + 1 :]
    leading = next((i for i, t in enumerate(rest) if t.strip()), 0)
    body_line = end + 2 + leading  # 1-based line of the first non-blank body line
    body = "\n".join(rest).strip()
    sections: tuple[Section, ...] = ()
    if not body:
        errors.append(ArticleError(path, "the answer (the text after the front matter) is empty", body_line,
                                   "write the answer below the closing `---`"))
    elif layout == "faq":
        sections = _split_sections(errors, path, body, body_line)
    article = Article(
        id=article_id, title=title, category=category, tags=lists["tags"], locale=locale,
        questions=tuple(dict.fromkeys(q for q in lists["questions"] if q != title)), status=status, body=body,
        path=str(path), layout=layout, sections=sections, tests=lists["tests"], translation_of=lists["translation_of"],
        audience=audience, line_of=tuple(sorted(key_line.items())), item_lines=tuple(items),
    )
    errors.sort(key=lambda e: e.line or 0)
    return article, errors


def declared_id(path: Path) -> str:
    """Best guess at the id of a file that could not be parsed: its ``id:`` line, else its name."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return path.stem
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        m = re.match(r"""^id\s*:\s*["']?([^"'#\s]+)""", line)
        if m:
            return m.group(1)
    return path.stem


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
        article, problems = read_article(path)
        errors.extend(problems)
        if article is not None and not problems:
            articles.append(article)
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
