from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.articles.benchmarks import LabelledQuery, load_faq, load_queries
from kb.errors import KBError


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_faq_rows_become_articles(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "faq.jsonl", [
        {"id": "b77-card_arrival", "question": "Card arrival", "answer": "", "category": "card_arrival",
         "lang": "en", "examples": ["Where is my card?", "Card arrival", "  my  card   hasn't come "]},
        {"id": "sfaq-t000-a1", "question": "Strikethrough with  GitHub", "answer": "Use ~~tildes~~.", "lang": "en",
         "thread": "sfaq-t000", "answer_rank": 1},
    ])
    a, b = load_faq(path)
    assert (a.id, a.title, a.category, a.locale, a.published) == ("b77-card_arrival", "Card arrival",
                                                                   "card_arrival", "en", True)
    assert a.questions == ("Where is my card?", "my card hasn't come")  # title repeat dropped, spaces folded
    assert a.body == ""
    assert (b.title, b.body, b.category) == ("Strikethrough with GitHub", "Use ~~tildes~~.", "faq")
    fields = [e.field for e in a.entries()]
    assert fields == ["title", "question", "question", "article"]
    assert [e.field for e in b.entries()] == ["title", "article"]


def test_an_entry_without_answer_or_examples_has_only_its_title(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "faq.jsonl", [{"id": "p1", "question": "메일 지워줘", "answer": ""}])
    assert [e.field for e in load_faq(path)[0].entries()] == ["title"]


def test_queries(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [{"query": " a  b ", "relevant_ids": ["x", "y", "x"], "lang": "en"},
                                             {"query": "c", "relevant_ids": "z"}])
    assert load_queries(path) == [LabelledQuery("a b", ("x", "y"), "en"), LabelledQuery("c", ("z",), "")]


@pytest.mark.parametrize(("rows", "needle"), [
    ([{"id": "a", "question": "q", "answer": ""}, {"id": "a", "question": "q2", "answer": ""}], "duplicate id"),
    ([{"id": "a", "question": "", "answer": ""}], "question"),
    ([{"id": "a", "question": "q", "answer": "", "examples": "x"}], "examples"),
    ([[1, 2]], "expected a JSON object"),
    ([], "no FAQ entries"),
])
def test_bad_faq_is_refused(tmp_path: Path, rows: list[object], needle: str) -> None:
    with pytest.raises(KBError, match=needle):
        load_faq(write_jsonl(tmp_path / "faq.jsonl", rows))


def test_bad_queries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KBError, match="relevant_ids"):
        load_queries(write_jsonl(tmp_path / "q.jsonl", [{"query": "a", "relevant_ids": []}]))
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"query": "a"\n', encoding="utf-8")
    with pytest.raises(KBError, match="broken.jsonl:1"):
        load_queries(bad)
    with pytest.raises(KBError, match="does not exist"):
        load_queries(tmp_path / "missing.jsonl")
