"""What the gap report marks on its groups (:mod:`kb.feedback.gaps`): the wordings an editor has handled
already, which an article or a draft now asks (a one-click fix added them, or an editor did by hand).

A handled wording is one that lint would refuse to add anywhere else (the same question in two articles) and that
its article has already: offering the fix again could only fail. Questions are compared the way lint compares
them (:func:`question_key`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.articles.parse import article_files, parse_article
from kb.errors import ArticleError

if TYPE_CHECKING:
    from kb.articles.parse import Article


def question_key(text: str) -> str:
    """A question as lint compares questions across articles (case, spaces and punctuation left out), so that a
    wording marked handled here is one that ``kb lint`` would refuse to add to a second article."""
    return re.sub(r"[\s\W_]+", "", text.lower())


@dataclass(frozen=True)
class Asker:
    """The article (or draft) that asks a question."""

    article_id: str
    title: str
    file: str  # relative to the articles folder ("" when known from the index only)
    draft: bool


class Askers:
    """Question key -> the article file asking it, read from an articles folder; a file is parsed again only
    when its size or modification time changed (the insight page asks at every load). Thread-safe."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[tuple[int, int], Article | None]] = {}
        self._lock = threading.Lock()

    def read(self, root: Path, served: Iterable[Article] = ()) -> dict[str, Asker]:
        """The questions (titles, ``questions:``, faq sections) of every article and draft under ``root``; without
        that folder, those of the ``served`` articles (the index's)."""
        if not root.is_dir():
            return _askers((a, "") for a in served)
        found: list[tuple[Article, str]] = []
        with self._lock:
            seen = set()
            for path in article_files(root):
                seen.add(path)
                try:
                    st = path.stat()
                except OSError:
                    continue
                stamp = (st.st_size, st.st_mtime_ns)
                cached = self._files.get(path)
                if cached is None or cached[0] != stamp:
                    try:
                        article: Article | None = parse_article(path)
                    except (ArticleError, OSError):
                        article = None  # a broken file is lint's business; it asks nothing here
                    cached = (stamp, article)
                    self._files[path] = cached
                if cached[1] is not None:
                    found.append((cached[1], path.relative_to(root).as_posix()))
            for gone in set(self._files) - seen:
                del self._files[gone]
        return _askers(found)


def _askers(articles: Iterable[tuple[Article, str]]) -> dict[str, Asker]:
    out: dict[str, Asker] = {}
    for a, file in articles:
        asker = Asker(a.id, a.title, file, not a.published)
        for q in (a.title, *a.questions, *(s.question for s in a.sections)):
            out.setdefault(question_key(q), asker)  # two files asking one question: lint reports it; the first wins
    return out


def handled_json(examples: Sequence[str], askers: Mapping[str, Asker]) -> dict[str, Any]:
    """``{"status": open | partly_handled | handled, "handled": [{"query", "article_id", "title", "file",
    "draft"}]}`` for a group's shown wordings: handled when every one of them is asked already."""
    handled = [{"query": q, **asdict(a)} for q in examples if (a := askers.get(question_key(q))) is not None]
    status = "open" if not handled else "handled" if len(handled) == len(examples) else "partly_handled"
    return {"status": status, "handled": handled}
