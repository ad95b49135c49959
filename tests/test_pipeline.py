"""The gated build: one at a time per index root, and never on articles read before another build switched."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kb.articles.lint import lint_articles
from kb.errors import KBError
from kb.feedback.evidence import Evidence
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME
from kb.index.store import build_lock, load_index, read_learned
from kb.pipeline import LintFailed, gated_build
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


def _settings(small_kb: Path, tmp_path: Path) -> Settings:
    return Settings.from_env({}, articles_dir=small_kb, index_dir=tmp_path / "index")


def test_a_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    root = tmp_path / "index"
    waiting = threading.Event()
    got: list[bool] = []

    def second() -> None:
        with build_lock(root, on_wait=waiting.set) as waited:
            got.append(waited)

    with build_lock(root) as waited:
        assert waited is False  # nobody held it
        t = threading.Thread(target=second)
        t.start()
        assert waiting.wait(10), "the second build did not notice the first"
        t.join(0.3)
        assert t.is_alive() and got == []  # still waiting while the first holds the lock
    t.join(10)
    assert got == [True]
    with build_lock(root) as waited:  # released by both
        assert waited is False


def test_a_build_that_waited_reads_the_articles_again(small_kb: Path, tmp_path: Path,
                                                      write_article: Callable[..., Path]) -> None:
    """An editor's `kb build` linted the articles, then waited for a one-click fix's build: it must not switch
    in the articles as they were before the fix's edit."""
    settings = _settings(small_kb, tmp_path)
    stale = lint_articles(small_kb)  # read before the other build's edit
    waiting = threading.Event()
    errors: list[BaseException] = []

    def editors_build() -> None:
        try:
            gated_build(settings, FakeEmbedder(), report=stale, on_wait=waiting.set)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    with build_lock(settings.index_dir):
        t = threading.Thread(target=editors_build)
        t.start()
        assert waiting.wait(10)
        write_article("password-reset", "로그인 화면의 **비밀번호 찾기**를 누르세요.", title="비밀번호 재설정 (개정)",
                      category="회원/계정", questions=["비번 까먹었어요"])
    t.join(60)
    assert errors == []
    index = load_index(settings.index_dir, expected_model="fake-ngram-64", expected_dimension=64)
    assert index.articles["password-reset"].title == "비밀번호 재설정 (개정)"


def test_an_edit_that_breaks_lint_while_waiting_stops_the_build(small_kb: Path, tmp_path: Path) -> None:
    settings = _settings(small_kb, tmp_path)
    stale = lint_articles(small_kb)
    waiting = threading.Event()
    errors: list[BaseException] = []

    def editors_build() -> None:
        try:
            gated_build(settings, FakeEmbedder(), report=stale, on_wait=waiting.set)
        except BaseException as e:  # noqa: BLE001 - checked below
            errors.append(e)

    with build_lock(settings.index_dir):
        t = threading.Thread(target=editors_build)
        t.start()
        assert waiting.wait(10)
        (small_kb / "broken.md").write_text("---\ntitle: [unclosed\n---\n답변\n", encoding="utf-8")
    t.join(60)
    assert len(errors) == 1 and isinstance(errors[0], LintFailed)
    assert any("broken.md" in problem for problem in errors[0].report.errors)
    assert not (settings.index_dir / "current").exists()  # nothing was switched in


def test_an_unwritable_index_root_is_one_clear_line(tmp_path: Path, small_kb: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KBError, match="cannot write in the index folder .*; the live index is unchanged"):
        gated_build(Settings.from_env({}, articles_dir=small_kb, index_dir=blocker / "index"), FakeEmbedder())


# -- learned questions: from the feedback store, through the policy, into the gated build -----------------------

def _evidence(settings: Settings) -> Evidence:
    return Evidence(SQLiteEngine(Path(settings.index_dir) / FILENAME))


def test_the_gated_build_folds_in_what_the_store_taught(small_kb: Path, tmp_path: Path) -> None:
    settings = _settings(small_kb, tmp_path)
    evidence = _evidence(settings)
    evidence.add("내 물건 어디쯤이에요?", "delivery-tracking", "helpful", "c1", 1)
    evidence.add("반품 택배 안 와요", "return-request", "helpful", "c2", None)  # outside kb's top 3: pending
    stats = gated_build(settings, FakeEmbedder())
    assert stats.learned == 1 and stats.notes == ()
    assert read_learned(settings.index_dir) == {"delivery-tracking": ("내 물건 어디쯤이에요",)}
    evidence.decide("반품 택배 안 와요", "return-request", "accepted")
    evidence.decide("내 물건 어디쯤이에요", "delivery-tracking", "rejected")
    assert read_learned(Path(gated_build(settings, FakeEmbedder()).path)) == {
        "return-request": ("반품 택배 안 와요",)}
    review = Settings.from_env({"KB_LEARN": "review"}, articles_dir=small_kb, index_dir=settings.index_dir)
    assert gated_build(review, FakeEmbedder()).learned == 1  # the accepted pair
    off = Settings.from_env({"KB_LEARN": "off"}, articles_dir=small_kb, index_dir=settings.index_dir)
    assert gated_build(off, FakeEmbedder()).learned == 0
    # a given set (a build's own, to reproduce it) is taken as it is
    assert gated_build(off, FakeEmbedder(), learned={"password-reset": ["비번 모름"]}).learned == 1


def test_a_build_creates_no_store_and_goes_on_without_one(small_kb: Path, tmp_path: Path) -> None:
    settings = _settings(small_kb, tmp_path)
    assert gated_build(settings, FakeEmbedder()).learned == 0
    assert not (Path(settings.index_dir) / FILENAME).exists()
    (Path(settings.index_dir) / FILENAME).mkdir()  # a store that cannot be opened (a folder in its way)
    stats = gated_build(settings, FakeEmbedder())
    assert stats.learned == 0 and len(stats.notes) == 1 and "built without learned questions" in stats.notes[0]
    assert load_index(settings.index_dir).manifest["counts"]["learned"] == 0
