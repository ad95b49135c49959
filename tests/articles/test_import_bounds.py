"""``kb import``, what a hostile or unusual source must not do: lose a cell's line breaks, be read in the wrong
encoding, carry control characters into an article, or run without bounds (issue 16 and issue 17 item 6).

Every source is made by the test in ``tmp_path``; the big ones cheaply (repeated bytes, a sparse file, a lowered
limit), so each test runs in well under a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.articles.importer import ImportLimits, SourceError, import_faq
from kb.articles.importer.slugs import slugify
from kb.articles.parse import parse_article
from kb.articles.render import to_html
from kb.cli import main
from tests.articles.test_importer import write_csv, write_xlsx

MULTILINE = "주문 후 7일 안에 신청하세요.\n마이페이지 > 반품 신청\n\n- 단순 변심: 왕복 배송비\n- 불량: 무료"


def files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.md")) if root.exists() else []


# --- line breaks, encodings, control characters, slugs (issue 16) ------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx"])
def test_line_breaks_in_a_cell_survive(tmp_path: Path, fmt: str) -> None:
    rows = [["질문", "답변"], ["반품은 어떻게 하나요?", MULTILINE],
            ["윈도 엑셀의 줄바꿈은요?", "첫 줄\r\n둘째 줄"]]  # CR LF inside a quoted cell
    source = (write_xlsx(tmp_path / "faq.xlsx", {"FAQ": rows}) if fmt == "xlsx" else
              write_csv(tmp_path / f"faq.{fmt}", rows, "utf-8", "\t" if fmt == "tsv" else ","))
    result = import_faq(source, tmp_path / "articles")
    assert result.errors == []
    by_title = {a.title: parse_article(a.path) for a in result.articles}
    body = by_title["반품은 어떻게 하나요?"].body
    # a hard break where the cell broke the line; the blank line stays a paragraph; the list stays a list
    assert body == "주문 후 7일 안에 신청하세요.  \n마이페이지 > 반품 신청\n\n- 단순 변심: 왕복 배송비\n- 불량: 무료"
    html = to_html(body)
    assert "신청하세요.<br />\n마이페이지" in html and "<li>단순 변심: 왕복 배송비</li>" in html
    assert by_title["윈도 엑셀의 줄바꿈은요?"].body == "첫 줄  \n둘째 줄"


def test_shift_jis_is_not_read_as_cp949(tmp_path: Path) -> None:
    """Japanese Excel's CSV decodes as CP949 without an error, into nonsense Hangul (궇귟궕...)."""
    rows = [["question", "answer", "locale"], ["よくある質問", "ありがとうございます。ご注文の確認", "ja"]]
    source = write_csv(tmp_path / "faq.csv", rows, "cp932")
    source.read_bytes().decode("cp949")  # the trap: it does decode
    result = import_faq(source, tmp_path / "articles")
    assert result.encoding == "Shift-JIS"
    assert [a.title for a in result.articles] == ["よくある質問"]
    assert parse_article(result.articles[0].path).body == "ありがとうございます。ご注文の確認"


def test_cp949_with_a_few_extension_syllables_is_still_cp949(tmp_path: Path) -> None:
    rows = [["질문", "답변"], ["똠얌꿍 이벤트는 언제 끝나요?", "이번 달 말일까지예요. 햏"]]
    result = import_faq(write_csv(tmp_path / "faq.csv", rows, "cp949"), tmp_path / "articles")
    assert result.encoding == "CP949" and result.articles[0].title == "똠얌꿍 이벤트는 언제 끝나요?"


def test_control_characters_never_reach_an_article(tmp_path: Path) -> None:
    source = tmp_path / "faq.json"
    source.write_text(json.dumps([{"title": "널\u0000 문자\u0007", "answer": "답\u0000변\u001b[31m\ud800",
                                   "tags": ["태\u0000그"]}]), encoding="utf-8")
    csv_source = write_csv(tmp_path / "faq.csv", [["질문", "답변"], ["CSV\x00 질문", "답\x00\x0b변\x7f"]], "utf-8")
    for src in (source, csv_source):
        out = tmp_path / src.suffix[1:]
        result = import_faq(src, out)
        assert result.errors == [] and result.written
        assert [str(w).split(": ", 1)[1] for w in result.warnings] == [
            f"{6 if src is source else 4} control character(s) (NUL and the like) taken out of the row"]
        for path in files(out):
            text = path.read_text(encoding="utf-8")
            assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in text), repr(text)
    a = parse_article(files(tmp_path / "json")[0])
    assert (a.title, a.body, a.tags) == ("널 문자", "답변[31m", ("태그",))


def test_slugs_use_revised_romanization() -> None:
    assert slugify("적립금은 언제 쌓이나요?") == "jeongnipgeumeun-eonje-ssainayo"
    assert slugify("배송 조회") == "baesong-johoe"


# --- bounds (issue 17 item 6): one clear error, nothing written ----------------------------------------


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["import", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_300_character_id_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [["id", "title", "answer"], *[[f"q{i}", f"질문 {i}", "답"] for i in range(5)], ["x" * 300, "긴 id", "답"],
            ["가" * 100, "한글 id", "답"]]  # 100 syllables: under 200 characters, but 300 bytes of file name
    source = write_csv(tmp_path / "faq.csv", rows, "utf-8")
    (tmp_path / "articles" / "gita").mkdir(parents=True)  # the folder exists: a look at the long name would fail
    code, err = run([str(source), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and files(tmp_path / "articles") == []
    assert "error: faq.csv:row 7: id `" + "x" * 40 + "...` is too long for a file name (303 bytes; at most 255)" in err
    assert "error: faq.csv:row 8: id `" + "가" * 40 + "...` is too long for a file name (303 bytes; at most 255)" in err
    assert err.splitlines()[-1].startswith(f"kb: error: nothing written to {tmp_path / 'articles'}: 2 row(s) have")


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [["title", "answer", "category"], *[[f"질문 {i}", "답", f"분류{i}"] for i in range(5)]]
    source = write_csv(tmp_path / "faq.csv", rows, "utf-8")
    out = tmp_path / "articles"
    (out / "own").mkdir(parents=True)
    real_open = open
    calls: list[str] = []

    def full_disk(path: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "x" in mode:
            calls.append(str(path))
            if len(calls) == 4:  # the fourth file: the disk is full
                raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(SourceError, match=r"cannot write \(No space left on device\); nothing was written"):
        import_faq(source, out)
    assert sorted(p.name for p in out.rglob("*")) == ["own"]  # no article, no temporary file, no new folder


@pytest.mark.parametrize("fmt", ["json", "zendesk"])
def test_deep_nesting_is_refused_not_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    source = tmp_path / "faq.json"
    if fmt == "json":
        source.write_text('[{"title": "t", "answer": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}]", encoding="utf-8")
        message = "faq.json: the JSON nests more than 64 levels deep"
    else:
        body = "<div>" * 5000 + "깊은 답" + "</div>" * 5000
        source.write_text(json.dumps({"articles": [{"title": "깊은 글", "body": body}]}), encoding="utf-8")
        message = "error: faq.json:item 1: the answer's HTML nests more than 64 levels deep"
    code, err = run([str(source), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and message in err
    if fmt == "json":
        assert err.count("\n") == 1  # one line: the source as a whole is refused
    assert files(tmp_path / "articles") == []
    source.write_text('[{"title": "t", "answer": "a", "x": ' + "[" * 65 + "]" * 65 + "}]", encoding="utf-8")
    with pytest.raises(SourceError, match="nests more than 64 levels"):  # deep, but not too deep for Python
        import_faq(source, tmp_path / "articles")


def test_a_million_rows_stop_at_the_row_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "faq.csv"
    source.write_bytes(b"title,answer\n" + b"q,a\n" * 1_000_000)  # 4 MB
    code, err = run([str(source), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and err == f"kb: error: {source}: more than 10,000 rows (split the file, or raise " \
                                "KB_IMPORT_MAX_ROWS)\n"
    assert not (tmp_path / "articles").exists()


def test_file_and_cell_size_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(33 * 1024 * 1024)  # sparse: nothing is really written
    code, err = run([str(big), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and err.startswith(f"kb: error: {big}: the file is 33.0 MB, more than the 32.0 MB an import")
    wide = write_csv(tmp_path / "wide.csv", [["title", "answer"], ["q", "가" * 70_000]], "utf-8")
    code, err = run([str(wide), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and err == (f"kb: error: {wide}:row 2: `answer` holds 70,000 characters, more than the 65,536 "
                                 "a cell may (raise KB_IMPORT_MAX_CELL_CHARS)\n")


def test_an_xlsx_that_unzips_too_big_is_refused_before_parsing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_xlsx(tmp_path / "faq.xlsx", {"FAQ": [["질문", "답변"], *[[f"질문 {i}", "답" * 500]
                                                                        for i in range(200)]]})
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: pytest.fail("parsed before the size check"))
    monkeypatch.setenv("KB_IMPORT_MAX_XLSX_BYTES", str(64 * 1024))  # the setting lowers the bound
    code, err = run([str(source), "--out", str(tmp_path / "articles")], capsys)
    assert code == 1 and err.startswith(f"kb: error: {source}: the workbook unzips to ")
    assert "more than the 0.1 MB an import reads" in err and err.count("\n") == 1
    with pytest.raises(SourceError, match="unzips to"):
        import_faq(source, tmp_path / "articles", limits=ImportLimits(max_xlsx_bytes=1000))
