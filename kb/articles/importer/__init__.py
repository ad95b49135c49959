"""``kb import``: a shop's existing FAQ (CSV/TSV, xlsx, a JSON list, a Zendesk Help Center export) into
article files under ``DIR/<category-slug>/<id>.md``.

The way: :mod:`~kb.articles.importer.sources` reads the file into rows, :mod:`~kb.articles.importer.columns`
finds which column holds what, :mod:`~kb.articles.importer.plan` checks each row (naming it as
``faq.csv:row 7``), chooses ids and files and writes each file's text; :func:`import_faq` writes them (never
over an existing file without ``force``) and hands back lint's verdict on the folder. Nothing here prints.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.articles.importer.columns import Columns, parse_map, resolve_columns, to_record
from kb.articles.importer.plan import Planned, Problem, plan, scan_existing
from kb.articles.importer.sources import FORMATS, SourceError, read_table
from kb.articles.lint import lint_articles
from kb.files import write_atomic

if TYPE_CHECKING:
    from kb.articles.lint import LintReport

__all__ = ["FORMATS", "ImportResult", "Problem", "SourceError", "import_faq"]


@dataclass
class ImportResult:
    """What an import read, wrote (or, in a dry run, would write) and what lint says of the folder after it."""

    source: Path
    format: str
    encoding: str | None
    rows: int
    columns: Columns
    articles: list[Planned]
    problems: list[Problem]
    dry_run: bool
    lint: LintReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.error]


def import_faq(source: Path, out_dir: Path, *, fmt: str | None = None, mapping: Iterable[str] = (),
               sheet: str | None = None, dry_run: bool = False, force: bool = False) -> ImportResult:
    """Import ``source`` into ``out_dir``; raise :class:`SourceError` when the file cannot be read at all.

    Rows with a problem are left out and reported; the rest are written. ``dry_run`` writes nothing: lint then
    runs on a temporary copy of the folder with the new files in it, and its messages name the real folder.
    """
    table = read_table(source, fmt, sheet)
    overrides = parse_map(mapping)
    if overrides and table.format == "zendesk":
        raise SourceError(f"{source}: --map does not apply to a Zendesk export (its fields are known)")
    columns = resolve_columns(table, source, overrides)
    records = [r for r in (to_record(row.number, row.cells, columns) for row in table.rows) if r is not None]
    planned, problems = plan(records, source=source.name, unit=table.unit, root=out_dir,
                             existing=scan_existing(out_dir), html=table.html, force=force)
    result = ImportResult(source, table.format, table.encoding, len(records), columns, planned, problems, dry_run,
                          notes=table.notes)
    if dry_run:
        result.lint = _lint_preview(out_dir, planned)
    else:
        for article in planned:
            _write(article.path, article.text)
        result.lint = _lint(out_dir) if out_dir.is_dir() else None
    return result


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader (or a build) never sees half a file."""

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))


def _lint(root: Path) -> LintReport:
    return lint_articles(root)


def _lint_preview(out_dir: Path, planned: list[Planned]) -> LintReport | None:
    if not planned and not out_dir.is_dir():
        return None
    with tempfile.TemporaryDirectory(prefix="kb-import-") as tmp:
        copy = Path(tmp) / "articles"
        if out_dir.is_dir():
            shutil.copytree(out_dir, copy, symlinks=True)
        for article in planned:
            _write(copy / article.path.relative_to(out_dir), article.text)
        report = _lint(copy)
    for problems in (report.errors, report.warnings):
        problems[:] = [p.replace(str(copy), str(out_dir)) for p in problems]
    return report
