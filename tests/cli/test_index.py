"""``kb build``, ``kb search`` (kb.cli.index)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kb import cli
from kb.index.store import load_index
from tests.conftest import write


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


def test_model_prepares_the_bundled_model_and_prints_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The steps are replaced (the real conversion: tests/model); what is checked is that they are found and run."""
    steps: list[str] = []

    def step(name: str, where: Path) -> Path:
        steps.append(name)
        return where

    cache = tmp_path / "cache"
    monkeypatch.setenv("KB_CACHE_DIR", str(cache))
    monkeypatch.setattr("kb.model.bundled.bundled_model_path", lambda cache: step("st", cache / "st"))
    monkeypatch.setattr("kb.model.export.bundled_onnx_path", lambda cache: step("onnx", cache / "onnx"))
    monkeypatch.setattr("kb.model.onnx.prepare_tokenizer", lambda folder: step("tok", folder / "trie"))
    assert cli.main(["model"]) == 0
    assert steps == ["st", "onnx", "onnx", "tok"]
    printed = [line.split("  (")[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == [str(cache / "st"), str(cache / "onnx"), str(cache / "onnx" / "trie")]


def test_a_failed_build_ends_the_progress_line_before_its_error(
        small_kb: Path, tmp_path: Path, fake_model: object, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Standard error goes to a log, not a terminal: the bar's `\\r` must not leave the error on the bar's line."""
    from kb.errors import ModelError

    def fail(texts: object, progress: Callable[[int], None] | None = None) -> object:
        if progress is not None:
            progress(3)  # part of the way, then the model fails
        raise ModelError("the model failed half way")

    monkeypatch.setattr(fake_model, "embed_passages", fail)
    assert cli.main(["build", "--articles", str(small_kb), "--index", str(tmp_path / "idx")]) == 1
    err = capsys.readouterr().err
    assert "embedding" in err  # the bar was drawn
    lines = err.split("\n")  # a log viewer breaks lines at \n only
    assert "kb: error: the model failed half way" in lines, err
    assert err.endswith("\n")
