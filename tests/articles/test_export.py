"""``kb export``: the knowledge base as CSV or JSON, and back: exporting and importing into an empty folder gives
the same articles."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kb.articles.export import COLUMNS, export_articles
from kb.articles.importer import import_faq
from kb.articles.parse import Article, load_articles
from kb.cli import main
from tests.conftest import SAMPLE_ARTICLES


def essence(a: Article) -> tuple[object, ...]:
    """Everything an article is, apart from where its file lies."""
    return (a.id, a.title, a.category, a.tags, a.questions, a.locale, a.body, a.status, a.layout, a.audience,
            a.translation_of, a.tests)


def same_articles(left: Path, right: Path) -> None:
    before = {a.id: essence(a) for a in load_articles(left)}
    after = {a.id: essence(a) for a in load_articles(right)}
    assert after.keys() == before.keys()
    for article_id, value in before.items():
        assert after[article_id] == value, article_id


@pytest.fixture
def varied_kb(small_kb: Path, write_article: Callable[..., Path]) -> Path:
    """The small knowledge base plus what a plain FAQ row has no column for in most shops."""
    write_article("faq-page",
                  "## 배송비는 얼마예요?\n3,000원이에요.\n\n## 무료 배송도 있나요?\n5만 원 이상이면 무료예요.",
                  title="배송비 안내", category="배송", layout="faq", tags=["배송비", "무료배송, 조건"])
    write_article("en-delivery", "Use **My Page > Orders**.", title="How do I track my order?", locale="en",
                  category="배송", translation_of=["delivery-tracking"], tests=["where is my parcel"])
    write_article("late-refund", "팀장 승인 후 처리하세요.\n\n| 단계 | 담당 |\n|---|---|\n| 1 | 상담원 |",
                  title="기한 지난 반품 예외 승인", category="상담원", audience="agents",
                  questions=["예외 반품 | 승인 절차", "yes"])
    return small_kb


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_gives_the_same_articles(tmp_path: Path, varied_kb: Path, fmt: str) -> None:
    out = tmp_path / f"kb.{fmt}"
    count, text = export_articles(varied_kb, fmt, out)
    assert count == 8 and text == ""
    result = import_faq(out, tmp_path / "again")
    assert result.problems == [] and len(result.articles) == 8
    assert result.lint is not None and result.lint.errors == []
    same_articles(varied_kb, tmp_path / "again")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_sample_knowledge_base_round_trips(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"sample.{fmt}"
    assert main(["export", "--articles", str(SAMPLE_ARTICLES), "--out", str(out)]) == 0
    assert main(["import", str(out), "--out", str(tmp_path / "again")]) == 0
    same_articles(SAMPLE_ARTICLES, tmp_path / "again")


def test_csv_opens_in_excel(tmp_path: Path, varied_kb: Path) -> None:
    out = tmp_path / "kb.csv"
    export_articles(varied_kb, "csv", out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM by which Excel knows UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == COLUMNS
    faq = next(r for r in rows if r["id"] == "faq-page")
    assert faq["tags"] == "배송비\n무료배송, 조건" and faq["layout"] == "faq"  # one item a line
    assert faq["answer"].startswith("## 배송비는 얼마예요?\n3,000원이에요.")


def test_json_and_standard_output(tmp_path: Path, varied_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--articles", str(varied_kb), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in records}
    assert by_id["delivery-tracking"]["questions"] == ["택배 언제 와요?", "운송장 번호 어디서 봐요"]
    assert by_id["membership"]["status"] == "draft" and by_id["late-refund"]["audience"] == "agents"
    assert main(["export", "--articles", str(varied_kb)]) == 0
    assert capsys.readouterr().out.startswith("id,title,category,tags,questions,locale,status")


def test_broken_articles_stop_the_export(tmp_path: Path, small_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (small_kb / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    assert main(["export", "--articles", str(small_kb), "--out", str(tmp_path / "kb.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kb: error: ") and "broken.md:2: bad YAML" in err
    assert not (tmp_path / "kb.csv").exists()


FORMULAS = {  # what a spreadsheet would run, and what merely looks like it
    "title": "=HYPERLINK(\"http://evil.example\",\"쿠폰 받기\")", "questions": ["+82 번호로 전화돼요?", "@멘션"],
    "tags": ["-5% 할인", "=1+1"], "body": "- 목록으로 시작하는 답\n- 둘째 항목",
}


def test_formulas_are_neutralised_and_read_back(tmp_path: Path, small_kb: Path,
                                                write_article: Callable[..., Path]) -> None:
    write_article("formula", FORMULAS["body"], title=FORMULAS["title"], questions=FORMULAS["questions"],
                  tags=FORMULAS["tags"], category="@운영")
    write_article("quoted", "'따옴표'로 시작하는 답", title="'인용' 질문", questions=["''두 개", "'=이미 막힌 수식"])
    out = tmp_path / "kb.csv"
    export_articles(small_kb, "csv", out)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline=""))}
    cells = [v for r in rows.values() for v in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]  # nothing a spreadsheet runs
    assert rows["formula"]["title"] == "'" + FORMULAS["title"] and rows["formula"]["category"] == "'@운영"
    assert rows["formula"]["answer"] == "'" + FORMULAS["body"] and rows["formula"]["tags"] == "'-5% 할인\n=1+1"
    assert rows["quoted"]["title"] == "''인용' 질문"  # a leading quote is doubled: the rule can be undone
    result = import_faq(out, tmp_path / "again")
    assert result.problems == []
    same_articles(small_kb, tmp_path / "again")  # the round trip is identical


def test_the_quote_rule_is_reversible_and_leaves_other_quotes_alone() -> None:
    from kb.articles.export import neutralise_cell, restore_cell

    for text in ("=1+1", "+82", "-5%", "@a", "\tx", "\rx", "'", "''", "'=1", "'Tis", "평범한 답", ""):
        assert restore_cell(neutralise_cell(text)) == text
    assert restore_cell("'Tis the season") == "'Tis the season"  # another tool's cell: kept as it is
