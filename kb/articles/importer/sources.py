"""Reading an FAQ source into rows of cells: CSV/TSV (encoding detected), xlsx, a JSON list, a Zendesk export.

Every reader gives a :class:`Table`: the column names and the rows, each numbered the way a person finds it
in the source (a spreadsheet's row number, the header being row 1; a JSON list's item number). Every reader stays
within :class:`~kb.articles.importer.bounds.ImportLimits` (file size, rows, cell size, nesting, an xlsx's unzipped
size), checked before the expensive part where it can be: one clear error, never minutes of work or a traceback.
Spreadsheet cells go through :func:`~kb.articles.export.restore_cell`, which undoes ``kb export``'s guard
against formulas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from kb.articles.export import COLUMNS, restore_cell
from kb.articles.importer.bounds import ImportLimits, json_depth, megabytes, unzipped_size
from kb.errors import KBError

FORMATS = ("csv", "tsv", "xlsx", "json", "zendesk")
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "xlsx": "xlsx", "json": "JSON", "zendesk": "Zendesk export"}
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx",
              ".json": "json"}


class SourceError(KBError):
    """The file to import cannot be read as the format it claims to be."""


@dataclass(frozen=True)
class Row:
    """One record of the source; ``number`` is what a person looks for (spreadsheet row, JSON item)."""

    number: int
    cells: dict[str, Any]


@dataclass
class Table:
    format: str
    columns: list[str]
    rows: list[Row]
    encoding: str | None = None  # text formats: the encoding the file was read in
    unit: str = "row"  # how problems name a record: "row 7" (spreadsheets) or "item 7" (JSON)
    html: bool = False  # answers are HTML (Zendesk), whatever they look like
    markdown: bool = False  # kb's own export: answers are Markdown already, line breaks are as written
    notes: list[str] = field(default_factory=list)


def infer_format(path: Path, data: bytes | None = None) -> str:
    """The format named by the file's extension; a ``.json`` holding ``{"articles": [...]}`` is a Zendesk export."""
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        if path.suffix.lower() == ".xls":
            raise SourceError(f"{path}: old Excel (.xls) workbooks cannot be read: save it as .xlsx or CSV UTF-8")
        raise SourceError(f"{path}: cannot tell the format from the extension `{path.suffix}` "
                          f"(use --format {'|'.join(FORMATS)})")
    if fmt == "json" and data is not None and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "zendesk"
    return fmt


def read_table(path: Path, fmt: str | None = None, sheet: str | None = None,
               limits: ImportLimits | None = None) -> Table:
    """Read ``path`` as ``fmt`` (inferred from the extension when not given), within ``limits``."""
    limits = limits or ImportLimits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise SourceError(f"{path}: the file is {megabytes(size)}, more than the {megabytes(limits.max_bytes)} "
                              "an import reads (split it, or raise KB_IMPORT_MAX_BYTES)")
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file ({e.strerror})") from None
    fmt = fmt or infer_format(path, data)
    if sheet is not None and fmt != "xlsx":
        raise SourceError(f"{path}: --sheet applies to xlsx workbooks only, this is read as {fmt}")
    if fmt in ("csv", "tsv"):
        table = _read_delimited(path, data, fmt, limits)
    elif fmt == "xlsx":
        table = _read_xlsx(path, sheet, limits)
    elif fmt == "json":
        table = _read_json(path, _load_json(path, data, limits))
    elif fmt == "zendesk":
        table = _read_zendesk(path, _load_json(path, data, limits))
    else:
        raise SourceError(f"{path}: unknown format `{fmt}` (use one of {', '.join(FORMATS)})")
    _check_bounds(path, table, limits)
    table.markdown = tuple(table.columns) == COLUMNS
    return table


def _check_bounds(path: Path, table: Table, limits: ImportLimits) -> None:
    if len(table.rows) > limits.max_rows:
        raise SourceError(f"{path}: more than {limits.max_rows:,} {table.unit}s (split the file, or raise "
                          "KB_IMPORT_MAX_ROWS)")
    for row in table.rows:
        for column, value in row.cells.items():
            size = len(value) if isinstance(value, str) else len(str(value)) if value is not None else 0
            if size > limits.max_cell_chars:
                raise SourceError(f"{path}:{table.unit} {row.number}: `{column}` holds {size:,} characters, more "
                                  f"than the {limits.max_cell_chars:,} a cell may (raise KB_IMPORT_MAX_CELL_CHARS)")


# --- text -----------------------------------------------------------------------------------------


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding: a BOM, else strict UTF-8, else strict EUC-KR / CP949, else
    Shift-JIS.

    Strict decoding cannot produce mojibake silently: Hangul in CP949 is two bytes from 0xA1-0xFE, whose lead
    byte is never valid UTF-8, so a Korean CP949 file fails UTF-8 on its first syllable. A statistical guess
    (charset-normalizer) can pick a wrong code page on short Korean text, and the formats seen in Korean shops
    are exactly these: Excel's "CSV UTF-8" (with BOM), plain UTF-8, Excel's default CSV (CP949), and its
    "Unicode text" (UTF-16). One overlap needs a rule: Japanese Excel's CSV (Shift-JIS) often decodes as CP949
    too, into syllables from CP949's extension area (bytes below 0xA1), which Korean text hardly uses. So a file
    that is not EUC-KR is read as CP949 only while at most a quarter of its non-ASCII characters come from that
    area; past that it is read as Shift-JIS (CP932) when it decodes so, and refused otherwise.
    """
    for bom, codec, name in ((b"\xef\xbb\xbf", "utf-8-sig", "UTF-8 (with BOM)"),
                             (b"\xff\xfe", "utf-16", "UTF-16"), (b"\xfe\xff", "utf-16", "UTF-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec), name
            except UnicodeDecodeError as e:
                raise SourceError(f"{path}: starts with a {name} mark but is not {name} text ({e.reason} at byte "
                                  f"{e.start}): save it again as CSV UTF-8") from None
    for codec, name in (("utf-8", "UTF-8"), ("euc_kr", "EUC-KR")):
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    try:
        text = data.decode("cp949")
        if _extension_share(text) <= 0.25:
            return text, "CP949"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "Shift-JIS"
    except UnicodeDecodeError:
        pass
    raise SourceError(f"{path}: the text is none of UTF-8, UTF-16, EUC-KR/CP949 or Shift-JIS (tried in that "
                      "order): save it as CSV UTF-8")


def _extension_share(text: str, sample: int = 20_000) -> float:
    """Of the first ``sample`` non-ASCII characters, the share outside KS X 1001 (CP949's extension area)."""
    wide = [c for c in text if ord(c) > 0x7F][:sample]
    if not wide:
        return 0.0
    outside = 0
    for c in wide:
        b = c.encode("cp949")
        outside += len(b) == 2 and (b[0] < 0xA1 or b[1] < 0xA1)
    return outside / len(wide)


def _read_delimited(path: Path, data: bytes, fmt: str, limits: ImportLimits) -> Table:
    import csv
    import io

    text, encoding = decode(path, data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > limits.max_rows + 1:  # the header and one too many: stop reading here
                break
    except csv.Error as e:
        raise SourceError(f"{path}:row {reader.line_num}: not valid {fmt.upper()} ({e})") from None
    return _from_records(path, fmt, records, encoding)


def _from_records(path: Path, fmt: str, records: list[list[Any]], encoding: str | None = None) -> Table:
    """The first non-empty record is the header; rows keep their 1-based position in the file."""
    numbered = [(n, [restore_cell(_cell(v)) for v in r]) for n, r in enumerate(records, 1)]
    start = next((i for i, (_, r) in enumerate(numbered) if any(r)), None)
    if start is None:
        raise SourceError(f"{path}: the file is empty (expected a header row such as 질문, 답변, 카테고리)")
    header_number, header = numbered[start]
    columns = [c.strip() for c in header]
    seen: set[str] = set()
    for c in columns:
        if c and c in seen:
            raise SourceError(f"{path}:row {header_number}: the column `{c}` appears twice in the header "
                              "(give every column its own name)")
        seen.add(c)
    rows = []
    for number, values in numbered[start + 1:]:
        extra = [v for v in values[len(columns):] if v]
        if extra:
            raise SourceError(f"{path}:row {number}: {len(values)} cells but the header has {len(columns)} "
                              "columns (a stray separator or an unquoted line break?)")
        # a short row (trailing cells left empty) is fine: the missing cells are empty
        rows.append(Row(number, {c: v for c, v in zip(columns, values, strict=False) if c}))
    return Table(fmt, [c for c in columns if c], rows, encoding)


def _cell(value: Any) -> str:
    """A spreadsheet cell as text: numbers without a spurious ``.0``, dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


# --- xlsx -----------------------------------------------------------------------------------------


MAX_XLSX_COLUMNS = 256  # columns read from a sheet: an FAQ has a dozen; a sheet may claim 16,384


def _read_xlsx(path: Path, sheet: str | None, limits: ImportLimits) -> Table:
    try:
        from openpyxl import load_workbook
    except ImportError:  # pragma: no cover - a dependency of kb
        raise ImportError("reading xlsx needs openpyxl: pip install openpyxl") from None
    size = unzipped_size(path)
    if size is not None and size > limits.max_xlsx_bytes:
        raise SourceError(f"{path}: the workbook unzips to {megabytes(size)}, more than the "
                          f"{megabytes(limits.max_xlsx_bytes)} an import reads (save the FAQ sheet alone as xlsx "
                          "or CSV, or raise KB_IMPORT_MAX_XLSX_BYTES)")
    try:
        book = load_workbook(path, read_only=True, data_only=True)  # data_only: a formula's value, not its text
    except Exception as e:  # openpyxl raises many kinds (zip, XML, its own) for a file that is no workbook
        raise SourceError(f"{path}: not an xlsx workbook ({e})") from None
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise SourceError(f"{path}: no sheet named `{sheet}` (sheets: {', '.join(book.sheetnames)})")
        records: list[list[Any]] = []
        # a fixed width: a sheet's own dimension may claim 16,384 columns, or too few (some writers put "A1")
        for r in ws.iter_rows(values_only=True, max_col=MAX_XLSX_COLUMNS, max_row=limits.max_rows + 2):
            width = len(r)
            while width and r[width - 1] is None:
                width -= 1
            records.append(list(r[:width]))
            if len(records) > limits.max_rows + 1:
                break
        table = _from_records(path, "xlsx", records)
        table.notes.append(f"sheet {ws.title}")
        return table
    finally:
        book.close()


# --- JSON -----------------------------------------------------------------------------------------


def _load_json(path: Path, data: bytes, limits: ImportLimits) -> Any:
    text, _ = decode(path, data)
    too_deep = SourceError(f"{path}: the JSON nests more than {limits.max_depth} levels deep (an FAQ needs 3: "
                           "a list of objects holding lists; raise KB_IMPORT_MAX_DEPTH)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except RecursionError:  # deeper than Python's parser goes: far past any limit
        raise too_deep from None
    if json_depth(doc, limits.max_depth) > limits.max_depth:
        raise too_deep
    return doc


def _read_json(path: Path, doc: Any) -> Table:
    if not isinstance(doc, list):
        raise SourceError(f"{path}: expected a JSON list of objects (or a Zendesk export {{\"articles\": [...]}}, "
                          f"--format zendesk), found {type(doc).__name__}")
    columns: dict[str, None] = {}
    rows = []
    for number, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            raise SourceError(f"{path}:item {number}: expected an object with title and answer, "
                              f"found {type(item).__name__}")
        columns.update(dict.fromkeys(str(k) for k in item))
        rows.append(Row(number, {str(k): v for k, v in item.items()}))
    return Table("json", list(columns), rows, unit="item")


def _read_zendesk(path: Path, doc: Any) -> Table:
    """A Help Center articles export (``GET /api/v2/help_center/articles.json``, pages concatenated or not).

    Category: the section's name when the export sideloads sections (``?include=sections``), else
    ``section-<id>``. Labels become tags, drafts stay drafts, the locale keeps its language (``en-us`` -> ``en``).
    """
    articles = doc.get("articles") if isinstance(doc, dict) else None
    if not isinstance(articles, list):
        raise SourceError(f"{path}: not a Zendesk articles export (expected {{\"articles\": [...]}})")
    sections = {s.get("id"): s.get("name") for s in doc.get("sections") or [] if isinstance(s, dict)}
    rows = []
    for number, a in enumerate(articles, 1):
        if not isinstance(a, dict):
            raise SourceError(f"{path}:item {number}: expected an article object, found {type(a).__name__}")
        section = a.get("section_id")
        rows.append(Row(number, {
            "title": a.get("title") or "",
            "answer": a.get("body") or "",
            "category": sections.get(section) or (f"section-{section}" if section is not None else ""),
            "tags": list(a.get("label_names") or []),
            "locale": _zendesk_locale(str(a.get("locale") or "")),
            "status": "draft" if a.get("draft") else "published",
        }))
    columns = ["title", "answer", "category", "tags", "locale", "status"]
    return Table("zendesk", columns, rows, unit="item", html=True)


def _zendesk_locale(locale: str) -> str:
    """``en-us`` -> ``en``: kb groups articles by language; Chinese keeps its region (``zh-tw``: another script)."""
    lang, _, region = locale.strip().lower().partition("-")
    return f"zh-{region.upper()}" if lang == "zh" and region else lang
