from __future__ import annotations

from pathlib import Path

import pytest

from kb.articles.parse import load_articles, parse_article
from kb.errors import ArticleError, ArticlesInvalid, KBError
from tests.conftest import write


def test_plain_article_fields_and_entries(tmp_path: Path) -> None:
    path = write(tmp_path / "returns.md", """
        ---
        title: 반품 신청은 어떻게 하나요?
        category: 취소/반품/교환
        tags: [반품, 회수]
        questions:
          - 반품하고 싶어요
          - "  산 물건   돌려보내고 싶어요 "
          - 반품 신청은 어떻게 하나요?
        tests: [반품 어케해요]
        ---
        **마이페이지 > 반품 신청**에서 하세요.
        """)
    a = parse_article(path)
    assert (a.id, a.locale, a.status, a.layout) == ("returns", "ko", "published", "article")
    assert a.tags == ("반품", "회수")
    # whitespace normalised, the title is not repeated as an alternate question
    assert a.questions == ("반품하고 싶어요", "산 물건 돌려보내고 싶어요")
    assert a.tests == ("반품 어케해요",)
    entries = a.entries()
    assert [e.question for e in entries[:3]] == [
        "반품 신청은 어떻게 하나요?", "반품하고 싶어요", "산 물건 돌려보내고 싶어요"]
    assert [e.field for e in entries] == ["title", "question", "question", "article"]
    # the whole article as one passage: questions and the answer as plain text
    assert entries[3].question == (
        "반품 신청은 어떻게 하나요?\n반품하고 싶어요\n산 물건 돌려보내고 싶어요\n마이페이지 > 반품 신청에서 하세요.")
    assert {e.article_id for e in entries} == {"returns"}
    assert all(e.answer == "**마이페이지 > 반품 신청**에서 하세요." for e in entries)
    assert len({e.entry_id for e in entries}) == 4
    assert a.line("questions") == 5


def test_faq_layout_page_makes_one_entry_per_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "guide.md", """
        ---
        id: delivery-guide
        title: 배송 자주 묻는 질문
        layout: faq
        ---
        ## 새벽배송은 어디까지 되나요?
        서울과 경기 일부 지역입니다.

        ## 묶음배송 되나요?
        같은 판매자 상품은 묶어서 보냅니다.
        ```
        ## not a heading inside code
        ```
        """)
    a = parse_article(path)
    assert [s.question for s in a.sections] == ["새벽배송은 어디까지 되나요?", "묶음배송 되나요?"]
    assert a.sections[0].answer == "서울과 경기 일부 지역입니다."
    assert "## not a heading" in a.sections[1].answer
    assert a.sections[0].line == 6
    fields = [(e.field, e.question) for e in a.entries()]
    assert fields[0] == ("title", "배송 자주 묻는 질문")
    assert ("section", "묶음배송 되나요?") in fields


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("no front matter\n", 1, "missing YAML front matter"),
        ("---\ntitle: x\n", 1, "not closed"),
        ("---\ntitle: [unclosed\ncategory: a\n---\nbody\n", 3, "bad YAML"),
        ("---\ncategory: 배송\n---\nbody\n", 2, "missing `title`"),
        ("---\ntitle: 질문\nstatus: live\n---\nbody\n", 3, "unknown status `live`"),
        ("---\ntitle: 질문\n---\n\n", 4, "answer"),
        ("---\ntitle: 질문\nquestion: [a]\n---\nbody\n", 3, "unknown field `question`"),
        ("---\ntitle: 질문\nlayout: faq\n---\n\nno headings\n", 6, "no `##` questions"),
        ("---\ntitle: 질문\nid: has space\n---\nbody\n", 3, "not valid"),
    ],
)
def test_broken_article_names_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = tmp_path / "broken.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArticleError) as info:
        parse_article(path)
    assert info.value.line == line, str(info.value)
    assert needle in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_load_articles_reports_every_broken_file_and_duplicate_ids(tmp_path: Path) -> None:
    root = tmp_path / "articles"
    write(root / "a.md", "---\ntitle: 하나\n---\n답\n")
    write(root / "sub" / "b.md", "---\nid: a\ntitle: 둘\n---\n답\n")
    write(root / "c.md", "---\ncategory: x\n---\n답\n")
    write(root / "_synonyms.md", "not an article\n")  # `_` files are configuration
    with pytest.raises(ArticlesInvalid) as info:
        load_articles(root)
    messages = [str(e) for e in info.value.errors]
    assert any("c.md:2: missing `title`" in m for m in messages)
    assert any("duplicate id `a`" in m and "b.md" in m for m in messages)
    assert len(messages) == 2
    assert "run `kb lint`" in str(info.value)


def test_load_articles_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(KBError, match="does not exist"):
        load_articles(tmp_path / "nope")
