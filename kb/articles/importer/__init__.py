"""``kb import``: a shop's existing FAQ (CSV/TSV, xlsx, a JSON list, a Zendesk Help Center export) into
article files under ``DIR/<category-slug>/<id>.md``.

The way: :mod:`~kb.articles.importer.sources` reads the file into rows, :mod:`~kb.articles.importer.columns`
finds which column holds what, :mod:`~kb.articles.importer.plan` checks each row (naming it as
``faq.csv:row 7``), chooses ids and files and writes each file's text; :func:`import_faq` writes them (never
over an existing file without ``force``) and hands back lint's verdict on the folder. Nothing here prints.

All or nothing: every row is checked before anything is written, and one row with an error means no file is
written (the report lists every problem, so one run shows all there is to fix; ``skip_errors`` writes the good
rows and leaves the others out instead). The source is read within
:class:`~kb.articles.importer.bounds.ImportLimits`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.articles.importer.bounds import ImportLimits
from kb.articles.importer.columns import Columns, parse_map, resolve_columns, to_record
from kb.articles.importer.plan import Planned, Problem, plan, scan_existing
from kb.articles.importer.sources import FORMATS, SourceError, read_table
from kb.articles.lint import lint_articles

if TYPE_CHECKING:
    from kb.articles.lint import LintReport

__all__ = ["FORMATS", "ImportLimits", "ImportResult", "Problem", "SourceError", "import_faq"]


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
    written: bool = False  # False in a dry run, and when a row's error stopped the import

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.error]


def import_faq(source: Path, out_dir: Path, *, fmt: str | None = None, mapping: Iterable[str] = (),
               sheet: str | None = None, dry_run: bool = False, force: bool = False, skip_errors: bool = False,
               limits: ImportLimits | None = None) -> ImportResult:
    """Import ``source`` into ``out_dir``; raise :class:`SourceError` when the file cannot be read at all (or
    is beyond ``limits``), or when a file cannot be written (then none is left behind).

    Every row is checked first; with any error nothing is written (``written`` stays False; with ``skip_errors``
    the rows without one are) and the problems say why. ``dry_run`` writes nothing either: lint then runs on a
    temporary copy of the folder with the new files in it, and its messages name the real folder.
    """
    limits = limits or ImportLimits()
    table = read_table(source, fmt, sheet, limits)
    overrides = parse_map(mapping)
    if overrides and table.format == "zendesk":
        raise SourceError(f"{source}: --map does not apply to a Zendesk export (its fields are known)")
    columns = resolve_columns(table, source, overrides)
    records = [r for r in (to_record(row.number, row.cells, columns) for row in table.rows) if r is not None]
    planned, problems = plan(records, source=source.name, unit=table.unit, root=out_dir,
                             existing=scan_existing(out_dir), html=table.html, force=force, markdown=table.markdown,
                             max_depth=limits.max_depth)
    result = ImportResult(source, table.format, table.encoding, len(records), columns, planned, problems, dry_run,
                          notes=table.notes)
    if dry_run or (result.errors and not skip_errors):
        result.lint = _lint_preview(out_dir, planned)
    else:
        _write_all(planned)
        result.written = True
        result.lint = _lint(out_dir) if out_dir.is_dir() else None
    return result


def _write_all(planned: list[Planned]) -> None:
    """Write every file or none: each goes to a temporary file beside its place first, and only when all are
    written are they renamed into place (a rename does not fail for want of space or a too long name).

    No fsync per file: at ~5 ms each it made a 10,000-row import take a minute; an import is an editor's one-off
    that can be run again, unlike the index builds and the feedback store, which do sync.
    """
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []  # folders this import created, removed again if it fails
    try:
        for article in planned:
            for folder in reversed(article.path.parents):
                if not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            # hidden (the loader skips dot files) and short (the article's own name may be near the limit)
            tmp = article.path.with_name(f".kb-import-{secrets.token_hex(6)}.tmp")
            staged.append((tmp, article.path))
            with open(tmp, "xb") as f:
                f.write(article.text.encode("utf-8"))
            if article.path.exists():  # --force over an existing file: keep its mode
                os.chmod(tmp, article.path.stat().st_mode & 0o7777)
    except OSError as e:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        where = staged[-1][1] if staged else planned[0].path
        raise SourceError(f"{where}: cannot write ({e.strerror}); nothing was written") from None
    for tmp, path in staged:
        os.replace(tmp, path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


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
