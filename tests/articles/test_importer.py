"""``kb import``: CSV/TSV in every encoding a Korean shop produces, xlsx, a JSON list, a Zendesk export; problems
named by source row; ids, files, --force, --dry-run; the import's articles then search (the "done when" check).

Every source file is made by the test, in ``tmp_path``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kb.articles.importer import SourceError, import_faq
from kb.articles.importer.convert import html_to_markdown, looks_like_html
from kb.articles.importer.slugs import slug_or_hash, slugify
from kb.articles.parse import load_articles, parse_article
from kb.cli import main
from tests.support.fakes import FakeEmbedder

# three Korean FAQs the way a shop keeps them; 똠 is outside EUC-KR, so the file is CP949 proper
FAQ_HEADER = ["번호", "분류", "질문", "답변", "유사질문", "태그"]
FAQ_ROWS = [
    ["1", "배송", "주문한 상품은 언제 배송되나요?",
     "결제 후 1~2일 안에 출고돼요.\n**마이페이지 > 주문/배송 조회**에서 확인하세요.",
     "택배 언제 와요?\n배송 얼마나 걸려요", "배송, 택배"],
    ["2", "취소/반품", "반품은 어떻게 신청하나요?",
     "상품을 받은 뒤 7일 안에 **마이페이지 > 반품 신청**에서 신청하세요.",
     "반품하고 싶어요|물건 돌려보내고 싶어요", "반품"],
    ["3", "회원", "비밀번호를 잊어버렸어요",
     "로그인 화면의 **비밀번호 찾기**에서 다시 설정하세요. (똠얌꿍 이벤트 회원도 같아요)",
     "비번 까먹었어요", ""],
]


def write_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str = "cp949", delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def faq_csv(tmp_path: Path, encoding: str = "cp949", rows: Sequence[Sequence[str]] = FAQ_ROWS,
            name: str = "faq.csv") -> Path:
    return write_csv(tmp_path / name, [FAQ_HEADER, *rows], encoding)


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.md"))


# --- CSV in the encodings shops have ---------------------------------------------------------------


def test_cp949_csv_becomes_article_files(tmp_path: Path) -> None:
    out = tmp_path / "articles"
    result = import_faq(faq_csv(tmp_path), out)
    assert result.encoding == "CP949" and result.format == "csv" and result.rows == 3
    assert result.problems == [] and len(result.articles) == 3
    assert result.columns.of == {"title": "질문", "answer": "답변", "category": "분류", "tags": "태그",
                                 "questions": "유사질문"}
    assert result.columns.ignored == ("번호",)
    assert files(out) == ["baesong/jumunhan-sangpumeun-eonje-baesongdoenayo.md",
                          "chwiso-banpum/banpumeun-eotteoke-sincheonghanayo.md",
                          "hoewon/bimilbeonhoreul-ijeobeoryeosseoyo.md"]
    assert result.lint is not None and result.lint.errors == [] and len(result.lint.articles) == 3
    a = parse_article(out / "chwiso-banpum" / "banpumeun-eotteoke-sincheonghanayo.md")
    assert (a.id, a.title, a.category, a.locale, a.status) == (
        "banpumeun-eotteoke-sincheonghanayo", "반품은 어떻게 신청하나요?", "취소/반품", "ko", "published")
    assert a.questions == ("반품하고 싶어요", "물건 돌려보내고 싶어요")  # `|`-separated
    assert a.tags == ("반품",)
    d = parse_article(out / "baesong" / "jumunhan-sangpumeun-eonje-baesongdoenayo.md")
    assert d.questions == ("택배 언제 와요?", "배송 얼마나 걸려요")  # one a line
    assert d.tags == ("배송", "택배")
    assert d.body == "결제 후 1~2일 안에 출고돼요.  \n**마이페이지 > 주문/배송 조회**에서 확인하세요."  # a hard break
    assert "똠얌꿍" in parse_article(out / "hoewon" / "bimilbeonhoreul-ijeobeoryeosseoyo.md").body


@pytest.mark.parametrize(("encoding", "name"), [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (with BOM)"),
                                                 ("euc_kr", "EUC-KR"), ("utf-16", "UTF-16")])
def test_other_encodings_are_detected(tmp_path: Path, encoding: str, name: str) -> None:
    rows = [r[:3] + [r[3].replace("똠얌꿍", "태국 음식")] + r[4:] for r in FAQ_ROWS]  # EUC-KR has no 똠
    result = import_faq(faq_csv(tmp_path, encoding, rows), tmp_path / "articles")
    assert result.encoding == name
    assert {a.title for a in result.articles} == {r[2] for r in FAQ_ROWS}


def test_tsv_from_excel_unicode_text(tmp_path: Path) -> None:
    """Excel's "Unicode text" is UTF-16 with tabs, saved as .txt."""
    source = write_csv(tmp_path / "faq.txt", [FAQ_HEADER, *FAQ_ROWS], "utf-16", "\t")
    result = import_faq(source, tmp_path / "articles")
    assert (result.format, result.encoding, len(result.articles)) == ("tsv", "UTF-16", 3)


def test_text_in_no_known_encoding_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "faq.csv"
    source.write_bytes("질문,답변\n".encode() + b"\xff\xfe\xfa\xfb bad,\x80\x81\n")
    with pytest.raises(SourceError, match=r"faq\.csv: the text is none of UTF-8, UTF-16, EUC-KR/CP949 or "
                                          r"Shift-JIS \(tried in that order\): save it as CSV UTF-8"):
        import_faq(source, tmp_path / "articles")


# --- problems, named by row --------------------------------------------------------------------------


def test_problems_name_the_source_row_and_nothing_is_written(tmp_path: Path) -> None:
    rows = [
        FAQ_ROWS[0],
        ["", "", "", "", "", ""],  # row 3: blank, skipped silently
        ["4", "배송", "", "제목 없는 답변", "", ""],  # row 4: no title
        ["5", "배송", "교환은 되나요?", "   ", "", ""],  # row 5: empty answer
        ["6", "배송", "주문한 상품은 언제 배송되나요 ", "다른 답", "", ""],  # row 6: the question of row 2 again
        ["7", "취소/반품", "반품은 어떻게 신청하나요?", "7일 안에 신청하세요.", "택배 언제 와요?|반품 기간", ""],
    ]
    out = tmp_path / "articles"
    result = import_faq(faq_csv(tmp_path, rows=rows), out)
    assert [str(p) for p in result.errors] == [
        "faq.csv:row 4: missing title (write the question in the title column)",
        "faq.csv:row 5: the answer of `교환은 되나요?` is empty (write the answer in the answer column)",
        "faq.csv:row 6: question `주문한 상품은 언제 배송되나요` is also asked in row 2 "
        "(keep it in one place; this row was left out)",
    ]
    assert [str(p) for p in result.warnings] == [
        "faq.csv:row 7: alternate question `택배 언제 와요?` is also asked in row 2 (left out of this row)"]
    assert len(result.articles) == 2 and not result.written and not out.exists()  # all or nothing
    assert result.lint is not None and result.lint.errors == []  # what the good rows would make is sound
    skipping = import_faq(faq_csv(tmp_path, rows=rows), out, skip_errors=True)
    assert skipping.written and len(files(out)) == 2 and len(skipping.errors) == 3
    assert parse_article(out / "chwiso-banpum" / "banpumeun-eotteoke-sincheonghanayo.md").questions == ("반품 기간",)


def test_bad_values_are_row_problems(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "faq.csv", [
        ["title", "answer", "locale", "status", "layout"],
        ["Where is my order?", "Check My Page.", "English", "published", ""],
        ["How do I pay?", "By card.", "en_US!", "", ""],
        ["Can I cancel?", "Yes.", "en", "hidden", ""],
        ["Several questions", "No headings here.", "en", "", "faq"],
        ["Draft answer", "Soon.", "en", "초안", ""],
    ], "utf-8")
    result = import_faq(source, tmp_path / "articles", skip_errors=True)
    assert [str(p) for p in result.errors] == [
        "faq.csv:row 3: locale `en_US!` is not a language code (use e.g. ko, en, ja, zh-CN)",
        "faq.csv:row 4: unknown status `hidden` (use one of: published, draft)",
        "faq.csv:row 5: `layout: faq` page has no `##` questions "
        "(write each question as a `## ...?` heading with its answer below)",
    ]
    by_title = {a.title: parse_article(a.path) for a in result.articles}
    assert by_title["Where is my order?"].locale == "en"  # "English" understood
    assert by_title["Draft answer"].status == "draft"  # "초안" understood


def test_cli_prints_problems_and_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*FAQ_ROWS, ["4", "배송", "", "제목 없음", "", ""]]
    code = main(["import", str(faq_csv(tmp_path, rows=rows)), "--out", str(tmp_path / "articles")])
    out, err = capsys.readouterr()
    assert code == 1  # a row has an error: nothing is written
    assert "(CSV, CP949): 4 rows; 질문 -> title, 답변 -> answer" in out and "ignored: 번호" in out
    assert "error: faq.csv:row 5: missing title" in err
    assert f"kb: error: nothing written to {tmp_path / 'articles'}: 1 row(s) have errors" in err
    assert not (tmp_path / "articles").exists() and "Traceback" not in err
    code = main(["import", str(faq_csv(tmp_path, rows=rows)), "--out", str(tmp_path / "articles"), "--skip-errors"])
    out = capsys.readouterr().out
    assert code == 1 and f"wrote 3 articles to {tmp_path / 'articles'} (1 row(s) left out)" in out
    assert "lint: 3 articles, 0 error(s), 0 warning(s)" in out


def test_cli_expected_failures_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = faq_csv(tmp_path)
    for args, message in (
        (["--map", "answer=없는열"], "faq.csv: --map answer=없는열: there is no column `없는열` (columns: 번호, 분류"),
        (["--map", "colour=분류"], "--map 'colour=분류': write FIELD=COLUMN with FIELD one of title, answer"),
        (["--format", "xlsx"], "faq.csv: not an xlsx workbook"),
        (["--sheet", "FAQ"], "--sheet applies to xlsx workbooks only"),
    ):
        assert main(["import", str(source), "--out", str(tmp_path / "a"), *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("kb: error: ") and message in err and err.count("\n") == 1, err
    (tmp_path / "faq.pdf").write_bytes(b"%PDF")
    assert main(["import", str(tmp_path / "faq.pdf")]) == 1
    assert "cannot tell the format from the extension `.pdf`" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["import", str(tmp_path / "missing.csv")])
    assert usage.value.code == 2


def test_no_title_or_answer_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "faq.csv", [["Q", "본문"], ["배송은요?", "내일요"]], "utf-8")
    with pytest.raises(SourceError, match=r"no column for the answer \(columns: Q, 본문; name one with --map"):
        import_faq(source, tmp_path / "articles")
    result = import_faq(source, tmp_path / "articles", mapping=["answer=본문"])  # Q is a known name for the title
    assert [a.title for a in result.articles] == ["배송은요?"]


def test_map_overrides_the_header_names(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "faq.csv", [["제목", "질문", "답변", "메모"],
                                              ["내부 제목", "배송은 언제 와요?", "내일 와요.", "배송 FAQ"]], "utf-8")
    result = import_faq(source, tmp_path / "articles", mapping=["title=질문", "category=메모"])
    assert result.columns.of["title"] == "질문" and result.columns.of["category"] == "메모"
    a = parse_article(result.articles[0].path)
    assert (a.title, a.category) == ("배송은 언제 와요?", "배송 FAQ")


# --- ids and files -------------------------------------------------------------------------------------


def test_ids_are_readable_stable_and_never_collide(tmp_path: Path) -> None:
    long = "주문한 상품의 배송 조회는 마이페이지 어디에서 할 수 있나요"  # longer than a slug: cut at a word
    rows = [["title", "answer", "id"],
            ["배송 조회", "A", ""], ["Baesong johoe", "B", ""],  # another question, the same slug
            [long + " (국내)", "C", ""], [long + " (해외)", "D", ""],  # the same first 48 characters
            ["🙂", "E", ""], ["???", "F", ""],  # an emoji has a name; punctuation alone gives faq-<hash>
            ["Shipping FAQ", "G", "Ship_01"], ["Returns", "H", "ship_01"],  # one file on macOS and Windows
            ["Other", "I", "FAQ 7"], ["Returns policy", "J", ""], ["Policy", "K", "returns-policy"]]
    source = write_csv(tmp_path / "faq.csv", rows, "utf-8")
    first = import_faq(source, tmp_path / "one", skip_errors=True)
    assert [str(p) for p in first.errors] == [
        "faq.csv:row 9: id `ship_01` is also used by faq.csv:row 8 (give every row its own id; this row was left out)"]
    ids = {a.title: a.id for a in first.articles}
    assert len(set(ids.values())) == len(ids) == len({a.path for a in first.articles}) == 10
    assert ids["배송 조회"] == "baesong-johoe"
    assert ids["Baesong johoe"].startswith("baesong-johoe-") and len(ids["Baesong johoe"]) == len("baesong-johoe-") + 6
    assert ids[long + " (국내)"] == "jumunhan-sangpumui-baesong-johoeneun-maipeiji"
    assert ids[long + " (해외)"].startswith("jumunhan-sangpumui-baesong-johoeneun-")
    assert ids["🙂"] == "slight-smile" and ids["???"].startswith("faq-")
    assert (ids["Shipping FAQ"], ids["Other"], ids["Policy"]) == ("Ship_01", "faq-7", "returns-policy")
    assert ids["Returns policy"].startswith("returns-policy-")  # a given id wins over a made one
    again = import_faq(source, tmp_path / "two", skip_errors=True)  # the same source gives the same ids, every time
    assert {a.title: a.id for a in again.articles} == ids
    assert len(load_articles(tmp_path / "one")) == 10


def test_slugs() -> None:
    assert slugify("배송 조회는 어떻게 하나요?") == "baesong-johoeneun-eotteoke-hanayo"
    assert slugify("When will I get my REFUND?") == "when-will-i-get-my-refund"
    assert len(slugify("아주 " * 40)) <= 48
    assert slugify("???") == "" and slug_or_hash("???") == slug_or_hash("???")
    assert slug_or_hash("???").startswith("faq-") and len(slug_or_hash("???")) == len("faq-") + 8


def test_existing_files_need_force_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "articles"
    source = faq_csv(tmp_path)
    import_faq(source, out)
    target = out / "hoewon" / "bimilbeonhoreul-ijeobeoryeosseoyo.md"
    target.write_text(target.read_text(encoding="utf-8").replace("다시 설정하세요", "EDITED"), encoding="utf-8")
    again = import_faq(source, out)
    assert len(again.articles) == 0 and len(again.errors) == 3
    assert str(again.errors[2]) == (f"faq.csv:row 4: {target} already exists (use --force to overwrite it; this row "
                                    "was left out)")
    assert "EDITED" in target.read_text(encoding="utf-8")
    preview = import_faq(source, out, force=True, dry_run=True)
    assert len(preview.articles) == 3 and preview.dry_run
    assert preview.lint is not None and preview.lint.errors == []
    assert "EDITED" in target.read_text(encoding="utf-8")  # a dry run writes nothing
    forced = import_faq(source, out, force=True)
    assert len(forced.articles) == 3 and forced.errors == []
    assert "EDITED" not in target.read_text(encoding="utf-8")
    assert len(files(out)) == 3


def test_an_article_moved_by_an_editor_is_found_by_its_id(tmp_path: Path) -> None:
    out = tmp_path / "articles"
    source = faq_csv(tmp_path)
    import_faq(source, out)
    moved = out / "account" / "bimilbeonhoreul-ijeobeoryeosseoyo.md"
    moved.parent.mkdir()
    (out / "hoewon" / "bimilbeonhoreul-ijeobeoryeosseoyo.md").rename(moved)
    result = import_faq(source, out, force=True)
    assert moved in {a.path for a in result.articles}  # overwritten where it lives, no second copy
    assert result.lint is not None and result.lint.errors == [] and len(files(out)) == 3


def test_a_question_already_in_the_folder_is_not_imported_twice(tmp_path: Path) -> None:
    out = tmp_path / "articles"
    (out / "own").mkdir(parents=True)
    (out / "own" / "returns.md").write_text("---\ntitle: 반품하고 싶어요\n---\n반품 안내\n", encoding="utf-8")
    result = import_faq(faq_csv(tmp_path), out)
    assert [str(p) for p in result.problems] == [
        f"faq.csv:row 3: alternate question `반품하고 싶어요` is also asked in {out / 'own' / 'returns.md'} "
        "(left out of this row)"]
    assert result.lint is not None and result.lint.errors == []


def test_titles_that_yaml_would_misread_survive(tmp_path: Path) -> None:
    titles = ["yes", "null", "123", "- 목록처럼 시작", "key: value", "'따옴표'", '"큰따옴표"', "#해시로 시작",
              "{중괄호}", "[대괄호]", "---", "@멘션", "줄바꿈이\n있는 제목", "탭\t있음"]
    source = write_csv(tmp_path / "faq.csv", [["title", "answer", "category"],
                                              *[[t, f"답 {i}", "yes: no"] for i, t in enumerate(titles)]], "utf-8")
    result = import_faq(source, tmp_path / "articles")
    assert result.errors == []
    parsed = {parse_article(a.path).title for a in result.articles}
    assert parsed == {" ".join(t.split()) for t in titles}
    assert {parse_article(a.path).category for a in result.articles} == {"yes: no"}


# --- xlsx ---------------------------------------------------------------------------------------------


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def test_xlsx_first_sheet_or_named_sheet(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "faq.xlsx", {
        "안내": [["이 파일은 FAQ입니다"]],
        "FAQ": [[], ["질문", "답변", "카테고리", "다른 질문", "언어"],  # the header may sit lower
                ["배송은 얼마나 걸려요?", "보통 2일이요.", "배송", "택배 언제 와요\n배송기간", "ko"],
                ["How long is delivery?", "Usually 2 days.", "Delivery", None, "en"],
                ["숫자 답변", 1588, "기타", None, None], [None, None, None, None, None]],
    })
    with pytest.raises(SourceError, match="no column for the title"):
        import_faq(source, tmp_path / "articles")  # the first sheet is the note
    result = import_faq(source, tmp_path / "articles", sheet="FAQ")
    assert result.format == "xlsx" and result.notes == ["sheet FAQ"] and result.errors == []
    by_title = {a.title: parse_article(a.path) for a in result.articles}
    assert by_title["배송은 얼마나 걸려요?"].questions == ("택배 언제 와요", "배송기간")
    assert by_title["How long is delivery?"].locale == "en"
    assert by_title["숫자 답변"].body == "1588"
    with pytest.raises(SourceError, match=r"no sheet named `시트9` \(sheets: 안내, FAQ\)"):
        import_faq(source, tmp_path / "articles", sheet="시트9")


def test_xlsx_problems_use_the_spreadsheet_row(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "faq.xlsx", {"FAQ": [["질문", "답변"], ["배송?", "내일"], ["반품?", None]]})
    result = import_faq(source, tmp_path / "articles")
    assert [str(p) for p in result.errors] == [
        "faq.xlsx:row 3: the answer of `반품?` is empty (write the answer in the answer column)"]


# --- JSON and Zendesk --------------------------------------------------------------------------------


def test_json_list(tmp_path: Path) -> None:
    source = tmp_path / "faq.json"
    source.write_text(json.dumps([
        {"question": "포인트는 언제 쌓여요?", "answer": "구매 확정 후 바로요.", "tags": ["포인트", "적립"],
         "alternate questions": ["적립금 언제 들어와요"], "category": "쿠폰/포인트"},
        {"question": "쿠폰은 어디서 받아요?", "answer": "<p>이벤트 페이지에서 받으세요.</p>"},
        "not an object",
    ], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SourceError, match=r"faq\.json:item 3: expected an object"):
        import_faq(source, tmp_path / "articles")
    source.write_text(source.read_text(encoding="utf-8").replace(', "not an object"', ""), encoding="utf-8")
    result = import_faq(source, tmp_path / "articles")
    by_title = {a.title: parse_article(a.path) for a in result.articles}
    assert by_title["포인트는 언제 쌓여요?"].tags == ("포인트", "적립")
    assert by_title["포인트는 언제 쌓여요?"].questions == ("적립금 언제 들어와요",)
    assert by_title["쿠폰은 어디서 받아요?"].body == "이벤트 페이지에서 받으세요."  # HTML answers converted
    assert by_title["쿠폰은 어디서 받아요?"].category == "기타"


ZENDESK_BODY = """<h2>반품 방법</h2>
<p>상품을 받은 뒤 <strong>7일</strong> 안에 신청하세요.&nbsp;자세히는 <a href="https://help.example/returns"
 onclick="track()">반품 안내</a>를 보세요.</p>
<script>alert('x')</script><style>p { color: red }</style>
<ol><li>마이페이지에 들어가요</li><li>반품 신청을 눌러요</li></ol>
<p><a href="javascript:alert(1)">여기</a>를 누르지 마세요. <img src="https://cdn.example/a.png" alt="반품 화면"
 onerror="alert(2)"></p>"""


def zendesk_export(tmp_path: Path) -> Path:
    doc = {
        "articles": [
            {"id": 360001, "title": "반품은 어떻게 하나요?", "body": ZENDESK_BODY, "label_names": ["반품", "환불"],
             "section_id": 11, "locale": "ko", "draft": False, "html_url": "https://help.example/hc/ko/360001"},
            {"id": 360002, "title": "How do I track my order?", "body": "<p>Open <em>My orders</em>.</p>",
             "label_names": [], "section_id": 12, "locale": "en-us", "draft": True},
            {"id": 360003, "title": "빈 글", "body": "<p>&nbsp;</p>", "section_id": 11, "locale": "ko"},
        ],
        "sections": [{"id": 11, "name": "취소/반품"}],
        "page": 1, "page_count": 1, "count": 3,
    }
    path = tmp_path / "help_center.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_zendesk_export(tmp_path: Path) -> None:
    result = import_faq(zendesk_export(tmp_path), tmp_path / "articles", skip_errors=True)
    assert result.format == "zendesk"  # told from the content of a .json
    assert [str(p) for p in result.errors] == [
        "help_center.json:item 3: the answer of `빈 글` is empty (write the answer in the answer column)"]
    by_title = {a.title: parse_article(a.path) for a in result.articles}
    ko = by_title["반품은 어떻게 하나요?"]
    assert (ko.category, ko.tags, ko.locale, ko.status) == ("취소/반품", ("반품", "환불"), "ko", "published")
    assert ko.body == (
        "## 반품 방법\n\n상품을 받은 뒤 **7일** 안에 신청하세요. 자세히는 [반품 안내](https://help.example/returns)를 "
        "보세요.\n\n1. 마이페이지에 들어가요\n2. 반품 신청을 눌러요\n\n여기를 누르지 마세요. 반품 화면")
    for gone in ("script", "alert", "onclick", "onerror", "javascript", "color: red", "cdn.example"):
        assert gone not in ko.body
    en = by_title["How do I track my order?"]
    assert (en.category, en.locale, en.status, en.body) == ("section-12", "en", "draft", "Open *My orders*.")
    assert Path(en.path).parent.name == "section-12"


def test_zendesk_needs_no_map(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="--map does not apply to a Zendesk export"):
        import_faq(zendesk_export(tmp_path), tmp_path / "articles", mapping=["title=name"])
    bad = tmp_path / "export.json"
    bad.write_text('{"items": []}', encoding="utf-8")
    with pytest.raises(SourceError, match="not a Zendesk articles export"):
        import_faq(bad, tmp_path / "articles")
    bad.write_text('{"articles": [', encoding="utf-8")
    with pytest.raises(SourceError, match=r"export\.json:1: not valid JSON"):
        import_faq(bad, tmp_path / "articles")


def test_html_conversion() -> None:
    assert looks_like_html("<p>x</p>") and looks_like_html("한 줄<br>두 줄")
    assert not looks_like_html("1 < 2 and **bold**") and not looks_like_html("<3 고마워요")
    md = html_to_markdown('<ul><li><a href="tel:15880000">전화</a></li><li><a href="data:text/html,x">x</a></li>'
                          '<li><a href="/faq/2">상대</a></li></ul><button onclick="x()">버튼</button>')
    assert md == "- [전화](tel:15880000)\n- x\n- [상대](/faq/2)"


# --- done when: a CP949 FAQ imports, builds, and every question finds its own article ----------------


def _each_question_finds_its_article(articles_dir: Path, index_dir: Path, embedder: Any) -> None:
    from kb.index.build import build_index
    from kb.pipeline import open_build

    articles = load_articles(articles_dir)
    build_index(articles, embedder, index_dir)
    searcher = open_build(index_dir, embedder)
    for a in articles:
        for question in (a.title, *a.questions):
            first = searcher.search(question, k=3).results[0]
            assert first.article_id == a.id, f"{question!r} found {first.article_id}, not {a.id}"


def test_imported_faq_builds_and_each_question_finds_its_article(tmp_path: Path) -> None:
    result = import_faq(faq_csv(tmp_path), tmp_path / "articles")
    assert len(result.articles) == 3
    _each_question_finds_its_article(tmp_path / "articles", tmp_path / "index", FakeEmbedder())


def test_imported_faq_with_the_real_model(tmp_path: Path, real_embedder: Any) -> None:  # slow: the real model
    import_faq(faq_csv(tmp_path), tmp_path / "articles")
    _each_question_finds_its_article(tmp_path / "articles", tmp_path / "index", real_embedder)
