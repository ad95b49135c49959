from __future__ import annotations

from pathlib import Path

import pytest

from kb import cli
from kb.articles.lint import lint_articles
from kb.articles.parse import load_articles
from kb.index.build import build_index
from kb.pipeline import run_content_tests
from tests.conftest import write
from tests.support.fakes import FakeEmbedder


def test_reports_every_problem_with_file_line_and_hint(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "ok.md", "---\ntitle: 배송 조회는 어떻게 하나요?\nquestions:\n  - 택배 언제 와요\n---\n답\n")
    write(root / "dup-question.md", "---\ntitle: 택배 언제 와요?\n---\n답\n")
    write(root / "no-title.md", "---\ncategory: 배송\n---\n답\n")
    write(root / "bad-status.md", "---\ntitle: 상태\nstatus: live\n---\n답\n")
    write(root / "empty.md", "---\ntitle: 빈 답\n---\n\n")
    write(root / "bad-yaml.md", "---\ntitle: \"unclosed\n---\n답\n")
    write(root / "x" / "ok.md", "---\ntitle: 다른 질문\n---\n답\n")
    report = lint_articles(root)
    errors = "\n".join(report.errors)
    assert len(report.errors) == 6, errors
    assert f"{root}/no-title.md:2: missing `title`" in errors
    assert f"{root}/bad-status.md:3: unknown status `live` (use one of: published, draft)" in errors
    assert f"{root}/empty.md:4: the answer" in errors
    assert "bad-yaml.md:" in errors and "bad YAML" in errors
    assert "duplicate id `ok`" in errors
    assert f"{root}/ok.md:4: question `택배 언제 와요` is also asked in {root}/dup-question.md:2" in errors


def test_similar_articles_are_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "one.md", "---\ntitle: 환불은 언제 되나요\n---\n답\n")
    write(root / "two.md", "---\ntitle: 환불은 언제 되나요?!\n---\n답\n")  # differs only in punctuation
    write(root / "three.md", "---\ntitle: 회원 탈퇴 방법\n---\n답\n")
    report = lint_articles(root, embedder=FakeEmbedder())
    assert any("question `환불은 언제 되나요?!` is also asked" in e for e in report.errors)
    write(root / "two.md", "---\ntitle: 환불은 언제 되나요 ㅠ\n---\n답\n")
    report = lint_articles(root, embedder=FakeEmbedder(), similar_threshold=0.9)
    assert report.errors == []
    assert len(report.warnings) == 1 and "`one` and `two`" in report.warnings[0] and "compete" in report.warnings[0]


def test_content_tests_list_every_broken_expectation(tmp_path: Path, small_kb: Path) -> None:
    write(small_kb / "return-request.md", """---
title: 반품 신청은 어떻게 하나요?
category: 취소/반품/교환
questions: [반품하고 싶어요]
tests:
  - 반품하고 싶어요 ㅠ
  - 비밀번호 찾기
---
반품은 7일 이내에 신청하세요.
""")
    articles = load_articles(small_kb)
    embedder = FakeEmbedder()
    build_index(articles, embedder, tmp_path / "index")
    failures = run_content_tests(tmp_path / "index", embedder, articles, top_n=1)
    assert [f.query for f in failures] == ["비밀번호 찾기"]
    f = failures[0]
    assert f.article_id == "return-request" and f.found_id == "password-reset"
    assert str(f).startswith(f"{small_kb}/return-request.md:7: `비밀번호 찾기` should find return-request")


def test_lint_command(tmp_path: Path, small_kb: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kb.model.embed.load_embedder", lambda settings: FakeEmbedder())
    assert cli.main(["lint", "--articles", str(small_kb)]) == 0
    assert "5 articles, 0 error(s)" in capsys.readouterr().out
    write(small_kb / "broken.md", "---\ntitle: x\nstatus: nope\n---\nbody\n")
    write(small_kb / "broken2.md", "---\n---\nbody\n")
    assert cli.main(["lint", "--articles", str(small_kb)]) == 1
    out = capsys.readouterr().out
    assert "broken.md:3: unknown status" in out and "broken2.md" in out and "2 error(s)" in out


def test_lint_check_runs_the_content_tests(small_kb: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kb.model.embed.load_embedder", lambda settings: FakeEmbedder())
    front = "---\ntitle: 반품 신청은 어떻게 하나요?\ncategory: 취소/반품/교환\nquestions: [반품하고 싶어요]\n"
    write(small_kb / "return-request.md", front + "tests: [반품하고 싶어요 ㅠ]\n---\n반품은 7일 이내에 신청하세요.\n")
    assert cli.main(["lint", "--articles", str(small_kb), "--check"]) == 0
    assert "content tests: all passed" in capsys.readouterr().out
    write(small_kb / "return-request.md",
          front + "tests: [반품하고 싶어요 ㅠ, 비밀번호 찾기]\n---\n반품은 7일 이내에 신청하세요.\n")
    assert cli.main(["lint", "--articles", str(small_kb), "--check"]) == 1
    err = capsys.readouterr().err
    assert "return-request.md:5: `비밀번호 찾기` should find return-request" in err
    assert "1 content test(s) failed" in err


def test_translation_of_must_name_an_article_of_another_locale(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "ko.md", "---\ntitle: 반품은 어떻게 하나요?\n---\n답\n")
    write(root / "en.md", "---\ntitle: How do I return?\nlocale: en\ntranslation_of: ko\n---\nanswer\n")
    assert lint_articles(root).errors == []
    write(root / "en2.md", "---\ntitle: Refund?\nlocale: en\ntranslation_of: [nope, en]\n---\nanswer\n")
    errors = lint_articles(root).errors
    assert f"{root}/en2.md:4: translation_of `nope` is not an article id" in errors[0]
    assert "translation_of `en` has the same locale `en`" in errors[1] and len(errors) == 2


def test_every_problem_of_a_file_is_reported_in_one_run(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "two-problems.md", "---\ntitle: 배송비\nshipping: free\nstatus: publshed\nlocale: korean\n---\n답\n")
    errors = lint_articles(root).errors
    assert errors == [
        f"{root}/two-problems.md:3: unknown field `shipping` (known fields: id, title, category, tags, locale, "
        "questions, status, tests, layout, translation_of, audience; prefix custom fields with x-)",
        f"{root}/two-problems.md:4: unknown status `publshed` (use one of: published, draft)",
        f"{root}/two-problems.md:5: locale `korean` is not a language code (use e.g. ko, en, ja, zh-CN)",
    ]


def test_a_faq_page_reports_every_empty_question(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "guide.md", "---\ntitle: 안내\nlayout: faq\n---\n## 하나?\n\n## 둘?\n답\n## 셋?\n")
    errors = lint_articles(root).errors
    assert [e.split(": ", 1)[0] for e in errors] == [f"{root}/guide.md:5", f"{root}/guide.md:9"]


def test_a_file_with_broken_yaml_gives_no_follow_on_errors_elsewhere(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "korean.md", "---\nid: returns-ko\ntitle: \"반품 방법\n---\n답\n")  # unclosed quote
    write(root / "en.md", "---\ntitle: How do I return?\nlocale: en\ntranslation_of: returns-ko\n---\nanswer\n")
    errors = lint_articles(root).errors
    assert len(errors) == 1 and errors[0].startswith(f"{root}/korean.md:") and "bad YAML" in errors[0]


def test_duplicate_questions_each_get_their_own_line(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "one.md", '---\ntitle: 하나\nquestions:\n  - "배송 조회"\n  - "환불  언제"\n  - "교환"\n---\n답\n')
    write(root / "two.md", '---\ntitle: 둘\nquestions:\n  - "교환 \\"방법\\""\n  - "배송 조회"\n'
                           '  - "환불 언제"\n  - "교환"\n---\n답\n')
    errors = lint_articles(root).errors
    assert [e.split(" (")[0] for e in errors] == [
        f"{root}/two.md:5: question `배송 조회` is also asked in {root}/one.md:4",
        f"{root}/two.md:6: question `환불 언제` is also asked in {root}/one.md:5",
        f"{root}/two.md:7: question `교환` is also asked in {root}/one.md:6",
    ]


def test_an_id_longer_than_the_api_takes_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "a"
    write(root / "long.md", f"---\nid: {'x' * 201}\ntitle: 긴 id\n---\n답\n")
    assert lint_articles(root).errors == [
        f"{root}/long.md:2: id `{'x' * 40}...` is 201 characters long (keep ids to 200 characters)"]
