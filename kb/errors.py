"""Errors kb raises for expected failures.

Every message names what was looked at (file, and line where known), what was expected, what was
found and how to fix it. The CLI prints ``str(error)`` as one line and exits 1; the API maps them to
HTTP errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class KBError(Exception):
    """Base class of every expected kb failure."""


class ConfigError(KBError):
    """A setting is missing or malformed."""


class ArticleError(KBError):
    """An article file cannot be used. Carries the file and (1-based) line where known."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, hint: str = "") -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        text = f"{where}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ModelError(KBError):
    """The embedding model cannot be found, converted or loaded."""


class IndexMissingError(KBError):
    """There is no built index where one was expected."""


class IndexMismatchError(KBError):
    """The index on disk does not fit the running settings, or its files are corrupt."""


class QueryError(KBError):
    """A search request is unusable (empty, too long, bad k)."""


class ArticlesInvalid(KBError):
    """One or more article files are broken; ``errors`` lists every problem found."""

    def __init__(self, errors: list[ArticleError]) -> None:
        self.errors = errors
        first = str(errors[0]) if errors else "no details"
        more = f" (and {len(errors) - 1} more problem(s): run `kb lint` to see all)" if len(errors) > 1 else ""
        super().__init__(first + more)


class ContentTestsFailed(KBError):
    """``tests:`` expectations broken by a new build, which was therefore not switched in."""

    def __init__(self, failures: Sequence[object]) -> None:
        self.failures = list(failures)
        super().__init__(f"{len(self.failures)} content test(s) failed; the new build was not switched in, "
                         "the live index is unchanged")
