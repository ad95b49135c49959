"""Reading an FAQ source into rows of cells: CSV/TSV (encoding detected), xlsx, a JSON list, a Zendesk export.

Every reader gives a :class:`Table`: the column names and the rows, each numbered the way a person finds it
in the source (a spreadsheet's row number, the header being row 1; a JSON list's item number).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

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


def read_table(path: Path, fmt: str | None = None, sheet: str | None = None) -> Table:
    """Read ``path`` as ``fmt`` (inferred from the extension when not given)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file ({e.strerror})") from None
    fmt = fmt or infer_format(path, data)
    if sheet is not None and fmt != "xlsx":
        raise SourceError(f"{path}: --sheet applies to xlsx workbooks only, this is read as {fmt}")
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, data, fmt)
    if fmt == "xlsx":
        return _read_xlsx(path, sheet)
    if fmt == "json":
        return _read_json(path, _load_json(path, data))
    if fmt == "zendesk":
        return _read_zendesk(path, _load_json(path, data))
    raise SourceError(f"{path}: unknown format `{fmt}` (use one of {', '.join(FORMATS)})")


# --- text -----------------------------------------------------------------------------------------


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding: a BOM, else strict UTF-8, else strict EUC-KR / CP949.

    Strict decoding cannot produce mojibake silently: Hangul in CP949 is two bytes from 0xA1-0xFE, whose lead
    byte is never valid UTF-8, so a Korean CP949 file fails UTF-8 on its first syllable. A statistical guess
    (charset-normalizer) can pick a wrong code page on short Korean text, and the formats seen in Korean shops
    are exactly these: Excel's "CSV UTF-8" (with BOM), plain UTF-8, Excel's default CSV (CP949), and its
    "Unicode text" (UTF-16).
    """
    for bom, codec, name in ((b"\xef\xbb\xbf", "utf-8-sig", "UTF-8 (with BOM)"),
                             (b"\xff\xfe", "utf-16", "UTF-16"), (b"\xfe\xff", "utf-16", "UTF-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec), name
            except UnicodeDecodeError as e:
                raise SourceError(f"{path}: starts with a {name} mark but is not {name} text ({e.reason} at byte "
                                  f"{e.start}): save it again as CSV UTF-8") from None
    for codec, name in (("utf-8", "UTF-8"), ("euc_kr", "EUC-KR"), ("cp949", "CP949")):
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise SourceError(f"{path}: the text is neither UTF-8, UTF-16 nor CP949/EUC-KR: save it as CSV UTF-8")


def _read_delimited(path: Path, data: bytes, fmt: str) -> Table:
    import csv
    import io

    text, encoding = decode(path, data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    try:
        records = list(reader)
    except csv.Error as e:
        raise SourceError(f"{path}:row {reader.line_num}: not valid {fmt.upper()} ({e})") from None
    return _from_records(path, fmt, records, encoding)


def _from_records(path: Path, fmt: str, records: list[list[Any]], encoding: str | None = None) -> Table:
    """The first non-empty record is the header; rows keep their 1-based position in the file."""
    numbered = [(n, [_cell(v) for v in r]) for n, r in enumerate(records, 1)]
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


def _read_xlsx(path: Path, sheet: str | None) -> Table:
    try:
        from openpyxl import load_workbook
    except ImportError:  # pragma: no cover - a dependency of kb
        raise ImportError("reading xlsx needs openpyxl: pip install openpyxl") from None
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
        table = _from_records(path, "xlsx", [list(r) for r in ws.iter_rows(values_only=True)])
        table.notes.append(f"sheet {ws.title}")
        return table
    finally:
        book.close()


# --- JSON -----------------------------------------------------------------------------------------


def _load_json(path: Path, data: bytes) -> Any:
    text, _ = decode(path, data)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


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
