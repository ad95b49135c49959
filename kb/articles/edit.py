"""Editing article files for the editors' one-click fixes: add customers' queries to an article's
``questions:``, or draft a new article from them.

An edit touches only the ``questions:`` list of the front matter (flow ``[a, b]`` or block ``- a``, or a new
block when there is none): every other byte of the file stays as it was, comments, spacing and line endings
included. New items are written double-quoted, and the edited front matter is parsed again before the file is
replaced (atomically: a temporary file beside it, then ``os.replace``). An :class:`Edit` can be reverted, only
while the file still holds what it wrote (an editor's hand edit made meanwhile is never overwritten).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kb.articles.parse import article_files, parse_article
from kb.errors import ArticleError, KBError
from kb.files import write_atomic

DRAFTS_FOLDER = "drafts"  # under the articles folder (names starting with `_` would be skipped by the loader)
PLACEHOLDER_ANSWER = {
    "ko": "(초안) 답변을 작성해 주세요. 고객들이 검색했지만 답을 찾지 못한 질문으로 만든 초안이에요. "
          "답변을 쓰고 `status: published`로 바꾸면 게시돼요.",
    "en": "(Draft) Write the answer here. This draft was made from searches that found no answer; "
          "write the answer and set `status: published` to publish it.",
}
MAX_QUESTIONS = 50  # per fix
_KEY = re.compile(r"questions[ \t]*:(?=[ \t]|$)")
_NULLS = {"", "~", "null", "Null", "NULL"}
# what PyYAML accepts unescaped in a double-quoted scalar (its "printable" set, minus line breaks it folds)
_PLAIN = re.compile(r"[\t\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class FixError(KBError):
    """A fix cannot be applied (unknown article, nothing to add, a front matter too unusual to edit safely)."""


# --- editing text -----------------------------------------------------------------------------------


def quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that any YAML reader gives back exactly."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _PLAIN.fullmatch(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def clean_questions(questions: Sequence[str]) -> list[str]:
    """Questions as the parser will read them: whitespace collapsed, empty and repeated ones dropped."""
    return list(dict.fromkeys(q for q in (" ".join(str(x).split()) for x in questions) if q))


def _lines(text: str) -> list[str]:
    """Lines with their endings (``\\n`` or ``\\r\\n``), as the parser splits them."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _ending(line: str, fallback: str) -> str:
    return line[len(_body(line)) :] or fallback


def _front(lines: list[str]) -> int:
    """Index of the line closing the front matter (the opening one is line 0)."""
    if not lines or _body(lines[0]).lstrip("\ufeff").strip() != "---":
        raise FixError("the file has no YAML front matter")
    for i in range(1, len(lines)):
        if _body(lines[i]).strip() in ("---", "..."):
            return i
    raise FixError("the front matter is not closed")


def _is_comment_or_blank(line: str) -> bool:
    s = _body(line).strip()
    return not s or s.startswith("#")


def _flow_end(lines: list[str], row: int, col: int) -> tuple[int, int]:
    """Where the flow sequence opened at ``lines[row][col]`` (a ``[``) closes: (row, column of its ``]``)."""
    depth, quote_char = 0, ""
    r, c = row, col
    while r < len(lines):
        line = _body(lines[r])
        while c < len(line):
            ch = line[c]
            if quote_char == '"':
                if ch == "\\":
                    c += 1
                elif ch == '"':
                    quote_char = ""
            elif quote_char == "'":
                if ch == "'" and line[c + 1 : c + 2] == "'":
                    c += 1
                elif ch == "'":
                    quote_char = ""
            elif ch in "\"'":
                quote_char = ch
            elif ch == "#" and (c == 0 or line[c - 1] in " \t"):
                break  # a comment: the rest of the line
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return r, c
            c += 1
        r, c = r + 1, 0
    raise FixError("the `questions:` list is not closed (no `]`)")


def _value_and_comment(rest: str) -> tuple[str, str]:
    """Split what follows ``questions:`` into its value and a trailing `` # comment``."""
    m = re.search(r"(^|[ \t])#", rest)
    if m and '"' not in rest[: m.start()] and "'" not in rest[: m.start()]:
        return rest[: m.start()].strip(), rest[m.start() :]
    return rest.strip(), ""


def add_to_front_matter(text: str, questions: Sequence[str]) -> str:
    """``text`` (an article file) with ``questions`` appended to its ``questions:`` list, every other character
    unchanged. Raises :class:`FixError` when the front matter is too unusual to edit safely."""
    items = clean_questions(questions)
    if not items:
        raise FixError("no questions to add")
    lines = _lines(text)
    end = _front(lines)
    nl = _ending(lines[0], "\n")
    key_row = next((i for i in range(1, end) if _KEY.match(_body(lines[i]))), None)
    if key_row is None:  # no list yet: a new block at the end of the front matter
        block = "".join([f"questions:{nl}", *(f"  - {quote(q)}{nl}" for q in items)])
        return "".join(lines[:end]) + block + "".join(lines[end:])
    line = lines[key_row]
    nl = _ending(line, nl)
    head = _KEY.match(_body(line))
    assert head is not None
    rest = _body(line)[head.end() :]
    value, comment = _value_and_comment(rest)
    if value.startswith("["):
        col = len(_body(line)) - len(rest) + rest.index("[")
        r, c = _flow_end(lines, key_row, col)
        closing = _body(lines[r])
        if r == key_row:
            inside = [closing[col + 1 : c]]
        else:
            inside = [_body(lines[key_row])[col + 1 :], *(_body(lines[i]) for i in range(key_row + 1, r)), closing[:c]]
        content = "\n".join(_value_and_comment(part)[0] for part in inside).strip()
        sep = "" if not content or content.endswith(",") else ", "
        lines[r] = closing[:c] + sep + ", ".join(quote(q) for q in items) + closing[c:] + _ending(lines[r], nl)
        return "".join(lines)
    if value in _NULLS:
        # a block list (or nothing yet): the items are the following indented lines
        last, indent = key_row, "  "
        found_item = False
        i = key_row + 1
        while i < end:
            body = _body(lines[i])
            if _is_comment_or_blank(lines[i]):
                i += 1
                continue
            if not body[:1].isspace() and not re.match(r"-([ \t]|$)", body):
                break  # the next key
            if not found_item and re.match(r"[ \t]*-([ \t]|$)", body):
                indent, found_item = body[: len(body) - len(body.lstrip())], True
            last = i
            i += 1
        if value and found_item:
            raise FixError("`questions:` is null but has items under it")
        if value:  # `questions: ~`: the value becomes the list
            head_text = _body(line)[: head.end()]
            lines[key_row] = head_text + (" " + comment if comment else "") + nl
        new = "".join(f"{indent}- {quote(q)}{nl}" for q in items)
        lines.insert(last + 1, new)
        return "".join(lines)
    if value.startswith(("|", ">", "&", "*", "!", "{")):
        raise FixError("`questions:` is written in a form this fix cannot edit safely; edit the file by hand")
    if key_row + 1 < end and _body(lines[key_row + 1])[:1].isspace() and not _is_comment_or_blank(lines[key_row + 1]):
        raise FixError("`questions:` is a multi-line value; edit the file by hand")
    import yaml

    try:
        old = yaml.safe_load(value)  # one question written as a single value: it becomes a flow list
    except yaml.YAMLError:
        old = None
    if not isinstance(old, (str, int, float)):
        raise FixError("`questions:` holds something other than a list of questions")
    head_text = _body(line)[: head.end()]
    flow = ", ".join(quote(q) for q in [str(old), *items])
    lines[key_row] = f"{head_text} [{flow}]" + (" " + comment if comment else "") + nl
    return "".join(lines)


# --- files ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A file a fix wrote: its bytes before (None: it is new) and after, to revert it if the build fails."""

    path: Path
    before: bytes | None
    after: bytes
    article_id: str
    added: tuple[str, ...]

    def revert(self) -> bool:
        """Put the old bytes back (or remove a new file), only if the file still holds what the fix wrote."""
        try:
            if self.path.read_bytes() != self.after:
                return False
            if self.before is None:
                self.path.unlink()
            else:
                write_atomic(self.path, self.before)
        except OSError:
            return False
        return True


def article_path(articles_dir: Path, article_id: str) -> Path:
    """The file of article ``article_id`` under ``articles_dir``; :class:`FixError` when there is none."""

    for path in article_files(articles_dir):
        try:
            if parse_article(path).id == article_id:
                return path
        except ArticleError:
            continue  # a broken file is lint's business; it cannot be the article asked for
    raise FixError(f"no article with id {article_id!r} in {articles_dir}")


def _check(path: Path, text: str) -> Any:

    try:
        return parse_article(path, text)
    except ArticleError as e:
        raise FixError(f"the edited article would not parse ({e.message}); nothing was written") from None


def add_questions(articles_dir: Path, article_id: str, questions: Sequence[str]) -> Edit:
    """Append ``questions`` (those the article does not have yet) to the article's ``questions:``."""
    path = article_path(articles_dir, article_id)
    before = path.read_bytes()
    try:
        text = before.decode("utf-8")
    except UnicodeDecodeError:
        raise FixError(f"{path} is not UTF-8 text") from None
    article = _check(path, text)
    have = {article.title, *article.questions}
    new = [q for q in clean_questions(questions) if q not in have][:MAX_QUESTIONS]
    if not new:
        raise FixError(f"{article_id} already has these questions")
    edited = add_to_front_matter(text, new)
    after = _check(path, edited)
    if list(after.questions) != [*article.questions, *new] or _front_meta(edited, "questions") != \
            _front_meta(text, "questions"):
        raise FixError("the edit would change more than the questions; nothing was written")
    data = edited.encode("utf-8")
    write_atomic(path, data)
    return Edit(path, before, data, article_id, tuple(new))


def _front_meta(text: str, without: str) -> dict[str, Any]:
    """The front matter's mapping without one key (to prove an edit changed nothing else)."""
    import yaml

    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    return {k: v for k, v in meta.items() if k != without}


def _locale(questions: Sequence[str]) -> str:
    hangul = sum(1 for q in questions for ch in q if "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e")
    latin = sum(1 for q in questions for ch in q if ch.isascii() and ch.isalpha())
    return "en" if latin > hangul else "ko"


def draft_article(articles_dir: Path, questions: Sequence[str]) -> Edit:
    """Write ``drafts/<id>.md``: a ``status: draft`` article whose title is the first question, the others its
    questions, with a placeholder answer (drafts are never served; an editor writes the answer)."""
    items = clean_questions(questions)[:MAX_QUESTIONS]
    if not items:
        raise FixError("no questions to draft an article from")
    folder = articles_dir / DRAFTS_FOLDER
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    base = f"gap-{stamp}-{hashlib.sha256(chr(31).join(items).encode('utf-8')).hexdigest()[:6]}"
    article_id, n = base, 1
    while (folder / f"{article_id}.md").exists():
        n += 1
        article_id = f"{base}-{n}"
    locale = _locale(items)
    lines = ["---", f"title: {quote(items[0])}", *([f"locale: {locale}"] if locale != "ko" else []), "status: draft"]
    if items[1:]:
        lines += ["questions:", *(f"  - {quote(q)}" for q in items[1:])]
    lines += ["---", PLACEHOLDER_ANSWER[locale], ""]
    text = "\n".join(lines)
    path = folder / f"{article_id}.md"
    _check(path, text)
    folder.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    write_atomic(path, data)
    return Edit(path, None, data, article_id, tuple(items))
