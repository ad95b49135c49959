from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import cli
from kb.index.store import load_index
from tests.conftest import write
from tests.support.fakes import FakeEmbedder


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    embedder = FakeEmbedder()
    monkeypatch.setattr("kb.model.embed.load_embedder", lambda settings: embedder)
    for var in ("KB_ARTICLES_DIR", "KB_INDEX_DIR", "KB_MODEL", "KB_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    return embedder


def test_build_then_search(small_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "idx"
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(index), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 articles (1 drafts skipped), 13 entries; 13 added" in out
    assert cli.main(["search", "반품하고 싶어요", "--index", str(index), "--k", "2", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["results"][0]["article_id"] == "return-request" and len(body["results"]) == 2
    assert cli.main(["search", "반품하고 싶어요", "--index", str(index)]) == 0
    assert "반품 신청은 어떻게 하나요?" in capsys.readouterr().out


def test_environment_variables_are_the_fallback(small_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KB_ARTICLES_DIR", str(small_kb))
    monkeypatch.setenv("KB_INDEX_DIR", str(tmp_path / "env-index"))
    assert cli.main(["build", "--quiet"]) == 0
    assert load_index(tmp_path / "env-index").manifest["counts"]["articles"] == 4


def test_drafts_build_a_separate_preview(small_kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(index), "--drafts", "--quiet"]) == 0
    assert not (index / "current").exists()
    preview = load_index(tmp_path / "idx-preview")
    assert "membership" in preview.articles


def test_expected_failures_print_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "반품", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kb: error: no index at") and "kb build" in err and "\n" not in err
    write(tmp_path / "bad" / "a.md", "---\ntitle: [oops\n---\nbody\n")
    assert cli.main(["build", "--articles", str(tmp_path / "bad"), "--index", str(tmp_path / "i")]) == 1
    err = capsys.readouterr().err
    assert "a.md:2: bad YAML" in err and "the live index is unchanged" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["search"], ["search", "x", "--k", "0"], ["build", "--nope"], []])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_feedback_lists_unhelpful_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from kb.feedback.sqlite import SQLiteStore
    from kb.feedback.store import FILENAME

    index = tmp_path / "index"
    assert cli.main(["feedback", "--index", str(index)]) == 0
    assert "no \"not helpful\" votes and no unanswered searches" in capsys.readouterr().out
    assert not (index / FILENAME).exists()  # reading a missing store creates nothing
    store = SQLiteStore(index / FILENAME)
    store.add("택배 안 와요", "delivery-tracking", False, "client-1")
    store.add("배송 조회", "delivery-tracking", True, "client-2")
    store.add_unanswered("선물 포장 되나요", "contact", "client-1")
    assert cli.main(["feedback", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "delivery-tracking: 1 not helpful, 1 helpful" in out and "택배 안 와요" in out
    assert "   0 / 1    선물 포장 되나요" in out
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    assert cli.main(["feedback", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["articles"] == [
        {"article_id": "delivery-tracking", "helpful": 1, "not_helpful": 1, "queries": ["택배 안 와요"]}]
    assert [(u["query"], u["none"], u["contact"]) for u in body["unanswered"]] == [("선물 포장 되나요", 0, 1)]
    with pytest.raises(SystemExit) as e:
        cli.main(["feedback", "--limit", "0"])
    assert e.value.code == 2


def test_build_check_keeps_the_live_index_when_a_content_test_breaks(
        small_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb.index.store import current_path

    index = tmp_path / "idx"
    front = "---\ntitle: 반품 신청은 어떻게 하나요?\ncategory: 취소/반품/교환\nquestions: [반품하고 싶어요]\n"
    write(small_kb / "return-request.md", front + "tests: [반품하고 싶어요 ㅠ]\n---\n반품은 7일 이내에 신청하세요.\n")
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(index), "--quiet", "--check"]) == 0
    assert "content tests: all passed" in capsys.readouterr().out
    live = current_path(index).resolve()
    # an edit that breaks the expectation: the article now tests for a query it cannot answer
    write(small_kb / "return-request.md",
          front + "tests: [반품하고 싶어요 ㅠ, 비밀번호 찾기]\n---\n반품은 7일 이내에 신청하세요.\n")
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(index), "--quiet", "--check"]) == 1
    err = capsys.readouterr().err
    assert "FAIL " in err and "`비밀번호 찾기` should find return-request" in err and "password-reset" in err
    assert "not switched in, the live index is unchanged" in err
    assert current_path(index).resolve() == live  # still serving the build that passed
    assert not [p for p in (index / "builds").iterdir() if p.name.startswith(".tmp")]  # nothing left behind
    # without --check the same edit is built and switched in
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(index), "--quiet"]) == 0
    assert current_path(index).resolve() != live
