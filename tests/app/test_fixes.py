"""One-click fixes on article files (kb.app.fixes): surgical edits of the `questions:` list, drafts, reverts; the
runner's bookkeeping in the feedback store when something goes wrong."""

from __future__ import annotations

import stat
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from kb.app.fixes import FixRunner
from kb.articles.edit import FixError, add_questions, add_to_front_matter, article_path, draft_article, quote
from kb.articles.parse import load_articles, parse_article
from kb.feedback.engine import StoreUnavailable
from kb.feedback.fixjobs import FixJobs, FixStatus
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

NEW = ["새 질문이에요", '따옴표 "와" \\ 역슬래시: #태그']
Q1, Q2 = '"새 질문이에요"', '"따옴표 \\"와\\" \\\\ 역슬래시: #태그"'

# (file as an editor left it, the same file after adding NEW): everything else byte for byte
CASES = {
    "block list, odd spacing, comments": (
        "---\n# edited by hand\ntitle:   택배는 언제 와요?   # the question\nquestions:    # ways to ask\n"
        "    -   택배 언제 와요\n    - '운송장 어디서 봐요'   # quoted\n\n# tests below\ntests:\n  - 택배 위치\n---\n"
        "본문  입니다.  \n\n끝\n",
        "---\n# edited by hand\ntitle:   택배는 언제 와요?   # the question\nquestions:    # ways to ask\n"
        "    -   택배 언제 와요\n    - '운송장 어디서 봐요'   # quoted\n"
        f"    - {Q1}\n    - {Q2}\n\n# tests below\ntests:\n  - 택배 위치\n---\n본문  입니다.  \n\n끝\n"),
    "flow list with a comment": (
        "---\ntitle: 제목\nquestions: [택배 언제 와요, '운송장'] # short\ntags: [배송]\n---\n본문\n",
        f"---\ntitle: 제목\nquestions: [택배 언제 와요, '운송장', {Q1}, {Q2}] # short\ntags: [배송]\n---\n본문\n"),
    "flow list over lines": (
        "---\ntitle: 제목\nquestions: [\n  택배 언제 와요,  # first\n  '운송장',\n]\n---\n본문\n",
        f"---\ntitle: 제목\nquestions: [\n  택배 언제 와요,  # first\n  '운송장',\n{Q1}, {Q2}]\n---\n본문\n"),
    "empty flow list": (
        "---\ntitle: 제목\nquestions: []\n---\n본문\n",
        f"---\ntitle: 제목\nquestions: [{Q1}, {Q2}]\n---\n본문\n"),
    "CRLF and a list at column 0": (
        "---\r\ntitle: 제목\r\nquestions:\r\n- 하나\r\n- 둘\r\ncategory: 배송\r\n---\r\n본문\r\n",
        f"---\r\ntitle: 제목\r\nquestions:\r\n- 하나\r\n- 둘\r\n- {Q1}\r\n- {Q2}\r\ncategory: 배송\r\n---\r\n본문\r\n"),
    "no questions yet": (
        "---\ntitle: 제목\ntags: [배송]   # keep\n---\n본문\n",
        f"---\ntitle: 제목\ntags: [배송]   # keep\nquestions:\n  - {Q1}\n  - {Q2}\n---\n본문\n"),
    "questions: null with a comment": (
        "---\ntitle: 제목\nquestions: ~  # none yet\n---\n본문\n",
        f"---\ntitle: 제목\nquestions:  # none yet\n  - {Q1}\n  - {Q2}\n---\n본문\n"),
    "one question as a single value": (
        "---\ntitle: 제목\nquestions: 택배, 언제 와요\n---\n본문\n",
        f'---\ntitle: 제목\nquestions: ["택배, 언제 와요", {Q1}, {Q2}]\n---\n본문\n'),
    "byte order mark": (
        "\ufeff---\ntitle: 제목\nquestions:\n  - 하나\n---\n본문",
        f"\ufeff---\ntitle: 제목\nquestions:\n  - 하나\n  - {Q1}\n  - {Q2}\n---\n본문"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_add_to_front_matter_changes_only_the_list(name: str) -> None:
    before, expected = CASES[name]
    after = add_to_front_matter(before, NEW)
    assert after == expected
    front = after.lstrip("\ufeff").replace("\r\n", "\n").split("---\n")[1]
    assert yaml.safe_load(front)["questions"][-2:] == NEW


@pytest.mark.parametrize("text", [
    'plain', 'a "quoted" \\ back', "colon: and # hash", "- dash", "[bracket", "{brace}", "& anchor", "* alias",
    "! tag", "% directive", "@at", "`tick`", "yes", "null", "~", "123", "0x1F", "  spaced  ", "tab\there",
    "ctrl\x01\x07\x7f\x85\x9f", "line\u2028sep\u2029para", "bom\ufeffin", "emoji 😀 한글", "\ud7ff\ue000\ufffd",
])
def test_quote_round_trips(text: str) -> None:
    assert yaml.safe_load(f"q: {quote(text)}")["q"] == text


@pytest.mark.parametrize(("text", "reason"), [
    ("---\ntitle: 제목\nquestions: |\n  하나\n---\n본문\n", "cannot edit"),
    ("---\ntitle: 제목\nquestions: &q [a]\n---\n본문\n", "cannot edit"),
    ("---\ntitle: 제목\nquestions: 하나\n  이어짐\n---\n본문\n", "multi-line"),
    ("---\ntitle: 제목\nquestions: [a, b\n---\n본문\n", "not closed"),
    ("title: 제목\n본문\n", "no YAML front matter"),
    ("---\ntitle: 제목\n", "not closed"),
])
def test_unusual_front_matter_is_refused(text: str, reason: str) -> None:
    with pytest.raises(FixError, match=reason):
        add_to_front_matter(text, ["질문"])


def _article(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_add_questions_writes_the_file_and_skips_what_it_has(tmp_path: Path) -> None:
    before, _ = CASES["block list, odd spacing, comments"]
    path = _article(tmp_path / "articles" / "delivery", "tracking", before)
    path.chmod(0o640)
    asked = ["택배 언제 와요", "  새   질문이에요 ", "택배는 언제 와요?", "새 질문이에요", NEW[1]]
    edit = add_questions(tmp_path / "articles", "tracking", asked)
    assert edit.added == tuple(NEW)  # the title, an existing question and a repeat are left out
    assert path.read_text(encoding="utf-8") == CASES["block list, odd spacing, comments"][1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert list(parse_article(path).questions)[-2:] == NEW
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    with pytest.raises(FixError, match="already has"):
        add_questions(tmp_path / "articles", "tracking", NEW)


def test_revert_restores_the_exact_bytes_unless_changed_since(tmp_path: Path) -> None:
    before, _ = CASES["CRLF and a list at column 0"]
    path = _article(tmp_path / "articles", "crlf", before)
    edit = add_questions(tmp_path / "articles", "crlf", ["추가"])
    assert edit.revert() and path.read_bytes() == before.encode("utf-8")
    edit = add_questions(tmp_path / "articles", "crlf", ["추가"])
    path.write_text(path.read_text(encoding="utf-8") + "편집자가 덧붙임\n", encoding="utf-8")
    assert not edit.revert()  # an editor's change since the fix is never overwritten
    assert "편집자가 덧붙임" in path.read_text(encoding="utf-8")


def test_unknown_article(tmp_path: Path) -> None:
    _article(tmp_path / "articles", "one", "---\ntitle: 하나\n---\n본문\n")
    with pytest.raises(FixError, match="no article with id 'two'"):
        add_questions(tmp_path / "articles", "two", ["질문"])
    assert article_path(tmp_path / "articles", "one").name == "one.md"


def test_draft_article_is_a_parseable_draft(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    _article(articles, "one", "---\ntitle: 하나\n---\n본문\n")
    edit = draft_article(articles, ["판매자한테 연락하고 싶어요", "셀러 문의 어디서 해요", 'a "b"'])
    assert edit.path.parent == articles / "drafts" and edit.before is None
    article = parse_article(edit.path)
    assert article.status == "draft" and article.id == edit.article_id == edit.path.stem
    assert article.title == "판매자한테 연락하고 싶어요"
    assert article.questions == ("셀러 문의 어디서 해요", 'a "b"')
    assert article.body and article.locale == "ko"
    assert {a.id for a in load_articles(articles)} == {"one", edit.article_id}  # the loader finds it
    again = draft_article(articles, ["판매자한테 연락하고 싶어요", "셀러 문의 어디서 해요", 'a "b"'])
    assert again.path != edit.path  # never overwrites a draft
    assert edit.revert() and not edit.path.exists()
    english = draft_article(articles, ["can I talk to the seller"])
    assert parse_article(english.path).locale == "en"
    with pytest.raises(FixError):
        draft_article(articles, ["   "])


# --- the runner: its bookkeeping in the store (the happy paths run through the API in test_insight.py) ------


class FlakyStore(FixJobs):
    """A store whose ``update_fix`` fails the first ``failures`` times, as a database going away would."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(SQLiteEngine(path))
        self.failures = failures

    def update_fix(self, status: FixStatus) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database unreachable: connection refused")
        return super().update_fix(status)


def _draft(settings: Settings, *queries: str) -> Any:
    return partial(draft_article, settings.articles_dir, list(queries))


def test_a_refused_edit_lets_go_of_the_folder(small_settings: Settings, fake_embedder: FakeEmbedder) -> None:
    store = FixJobs(SQLiteEngine(small_settings.index_dir / FILENAME))
    runner = FixRunner(store)
    with pytest.raises(FixError, match="no article"):
        runner.start(small_settings, fake_embedder, "add_question",
                     partial(add_questions, small_settings.articles_dir, "nope", ["질문"]), lambda: None)
    assert store.running_fix() is None and runner.latest() is None  # nothing to show, nothing blocking


def test_no_store_no_fix(small_settings: Settings, fake_embedder: FakeEmbedder, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")

    def never() -> Any:
        raise AssertionError("the edit was made")

    with pytest.raises(StoreUnavailable):  # another replica may be building: the edit is never made
        FixRunner(FixJobs(SQLiteEngine(blocker / FILENAME))).start(small_settings, fake_embedder, "new_article", never,
                                                         lambda: None)
    assert not (small_settings.articles_dir / "drafts").exists()


def test_an_edit_whose_status_cannot_be_written_is_undone(small_settings: Settings,
                                                          fake_embedder: FakeEmbedder) -> None:
    store = FlakyStore(small_settings.index_dir / FILENAME, failures=1)
    with pytest.raises(StoreUnavailable):
        FixRunner(store).start(small_settings, fake_embedder, "new_article", _draft(small_settings, "판매자 연락처"),
                               lambda: None)
    assert list((small_settings.articles_dir / "drafts").iterdir()) == []  # the draft is gone again
    assert store.running_fix() is None


def test_the_outcome_waits_for_the_store(small_settings: Settings, fake_embedder: FakeEmbedder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.app.fixes

    monkeypatch.setattr(kb.app.fixes, "gated_build", lambda *a, **k: None)
    monkeypatch.setattr(kb.app.fixes, "FINISH_RETRY", 0.01)
    store = FlakyStore(small_settings.index_dir / FILENAME, failures=0)
    runner = FixRunner(store)
    status = runner.start(small_settings, fake_embedder, "new_article", _draft(small_settings, "판매자 연락처"),
                          lambda: store.__setattr__("failures", 3))  # the database goes away as the build ends
    deadline = time.monotonic() + 30
    while (job := runner.get(status.id)) is not None and job.state == "running":
        assert time.monotonic() < deadline, "the outcome was never written"
        time.sleep(0.02)
    assert job is not None and job.state == "built" and store.failures == 0
