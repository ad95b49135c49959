"""How much an import reads at most, and the cheap measurements that enforce it before any parser runs deep:
the declared unzipped size of an xlsx, the nesting of a JSON document and of an HTML answer.

Each is measured without recursion, so a file nested 5,000 levels deep is measured and refused, never followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from kb.limits import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_CELL_CHARS,
    IMPORT_MAX_DEPTH,
    IMPORT_MAX_ROWS,
    IMPORT_MAX_XLSX_BYTES,
)

# elements that never hold others: they do not add a level
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})


@dataclass(frozen=True)
class ImportLimits:
    """The bounds of one import; the defaults are in :mod:`kb.limits`, the settings ``KB_IMPORT_*`` change them."""

    max_bytes: int = IMPORT_MAX_BYTES
    max_rows: int = IMPORT_MAX_ROWS
    max_cell_chars: int = IMPORT_MAX_CELL_CHARS
    max_depth: int = IMPORT_MAX_DEPTH
    max_xlsx_bytes: int = IMPORT_MAX_XLSX_BYTES


def megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def unzipped_size(path: Path) -> int | None:
    """What the xlsx's parts take once unzipped, as the zip declares (``None``: not a zip at all).

    Declared sizes are enough: Python's zipfile stops a member at its declared size (and fails its CRC), so a
    part cannot expand past what it declares.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def json_depth(doc: Any, limit: int) -> int:
    """How deep ``doc`` nests (a scalar is 0, ``[]`` is 1), counted up to ``limit + 1`` at most."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


class _TooDeep(Exception):
    pass


class _Depth(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.deepest = 0
        self.limit = limit

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.open.append(tag)
            self.deepest = max(self.deepest, len(self.open))
            if self.deepest > self.limit:
                raise _TooDeep  # stop here: the rest cannot make it shallower

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:  # an end tag closes what is open inside its element too
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]


def html_depth(html: str, limit: int) -> int:
    """How deep the elements of an HTML fragment nest (unclosed ones count as nesting, as parsers build them),
    counted up to ``limit + 1`` at most."""
    parser = _Depth(limit)
    try:
        parser.feed(html)
        parser.close()
    except _TooDeep:
        pass
    return parser.deepest
