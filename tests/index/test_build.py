"""kb.index.build with learned questions: entries of their article (field "learned"), kept in ``learned.json``
and counted by the manifest, matched but never offered as suggestions, their vectors cached like any other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.articles.parse import load_articles
from kb.errors import KBError
from kb.index import store
from kb.index.build import build_index
from kb.index.store import LEARNED, current_path, load_index, read_learned, read_manifest
from kb.search.searcher import Searcher
from tests.support.fakes import FakeEmbedder

LEARNED_SET = {"delivery-tracking": ["내 물건 어디쯤이에요", "택배 언제 도착"], "password-reset": ["로그인이 안돼요"],
               "membership": ["멤버십 뭐 있어요"], "gone": ["없는 글"]}


def test_learned_questions_are_entries_of_their_article(small_kb: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    stats = build_index(load_articles(small_kb), embedder, tmp_path / "index", learned=LEARNED_SET)
    assert stats.learned == 3 and stats.entries == 13 + 3  # the draft's and the deleted article's are dropped
    index = load_index(tmp_path / "index")
    learned = [e for e in index.entries if e.field == "learned"]
    assert [(e.article_id, e.question) for e in learned] == [
        ("delivery-tracking", "내 물건 어디쯤이에요"), ("delivery-tracking", "택배 언제 도착"),
        ("password-reset", "로그인이 안돼요")]
    body = index.articles["delivery-tracking"].body
    assert all(e.answer == index.articles[e.article_id].body for e in learned) and learned[0].answer == body
    assert all(e.entry_id.startswith(f"{e.article_id}#learned-") for e in learned)
    # the article's title and its own questions are untouched
    assert index.articles["delivery-tracking"].title == "배송 조회는 어떻게 하나요?"
    assert index.articles["delivery-tracking"].questions == ("택배 언제 와요?", "운송장 번호 어디서 봐요")
    searcher = Searcher(index, embedder)
    hit = searcher.search("내 물건 어디쯤이에요").results[0]
    assert (hit.article_id, hit.entry_field) == ("delivery-tracking", "learned")
    # the decision knows which top articles have learned wordings (their answers take a higher bar)
    for text, learned in (("내 물건 어디쯤이에요", True), ("반품 신청은 어떻게 하나요", False)):
        ranking = searcher.rank(text, embedder.embed_queries([text])[0])
        assert ranking.features is not None and ranking.features.learned is learned
    assert hit.title == "배송 조회는 어떻게 하나요?"  # the article's own title, never the learned wording


def test_learned_wordings_are_folded_into_their_articles_passage_and_words(small_kb: Path, tmp_path: Path) -> None:
    learned = {"delivery-tracking": ["블루베리 택배 어디쯤"]}
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "cold")
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "learned", learned=learned)
    cold, taught = load_index(tmp_path / "cold"), load_index(tmp_path / "learned")
    before, after = ({e.article_id: e.question for e in i.entries if e.field == "article"} for i in (cold, taught))
    title, *rest = after.pop("delivery-tracking").split("\n")  # after the article's own questions, before its answer
    assert title == "배송 조회는 어떻게 하나요?"
    assert rest[:3] == ["택배 언제 와요?", "운송장 번호 어디서 봐요", "블루베리 택배 어디쯤"]
    assert rest[3:] == before.pop("delivery-tracking").split("\n")[3:] and after == before  # nothing else changed
    row = list(taught.articles).index("delivery-tracking")
    for index, expected in ((cold, 0.0), (taught, None)):
        searcher = Searcher(index, FakeEmbedder())
        words = searcher.lexical.scores(searcher.query_terms("블루베리"))
        grams = searcher.chars.scores(["블루", "베리"])
        if expected is None:  # found by its words and character n-grams, and only that article
            assert words[row] > 0 and words.argmax() == row and grams[row] > 0 and grams.argmax() == row
        else:
            assert words.max() == expected


def test_the_build_records_its_learned_set(small_kb: Path, tmp_path: Path) -> None:
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "index", learned=LEARNED_SET)
    build = current_path(tmp_path / "index")
    manifest = read_manifest(build)
    assert manifest["counts"]["learned"] == 3 and LEARNED in manifest["files"]
    assert json.loads((build / LEARNED).read_text(encoding="utf-8")) == {
        "delivery-tracking": ["내 물건 어디쯤이에요", "택배 언제 도착"], "password-reset": ["로그인이 안돼요"]}
    assert read_learned(tmp_path / "index") == {"delivery-tracking": ("내 물건 어디쯤이에요", "택배 언제 도착"),
                                               "password-reset": ("로그인이 안돼요",)}
    # a build is reproducible from its inputs: rebuilt from the articles and its own learned set, the same files
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "again", learned=read_learned(build))
    again = read_manifest(current_path(tmp_path / "again"))
    assert again["files"] == manifest["files"] and again["entries"] == manifest["entries"]
    # the order it is given in does not matter
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(LEARNED_SET.items()))}
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "shuffled", learned=shuffled)
    assert read_manifest(current_path(tmp_path / "shuffled"))["files"] == manifest["files"]


def test_without_learned_questions_the_build_is_as_before(small_kb: Path, tmp_path: Path) -> None:
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "none")
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "empty", learned={"delivery-tracking": []})
    none, empty = (read_manifest(current_path(tmp_path / n)) for n in ("none", "empty"))
    assert none["files"] == empty["files"] and none["counts"]["learned"] == 0
    assert read_learned(tmp_path / "none") == {}


def test_learned_questions_are_not_suggested(small_kb: Path, tmp_path: Path) -> None:
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "index", learned=LEARNED_SET)
    suggestions = load_index(tmp_path / "index").suggestions
    texts = {s.text for items in suggestions.values() for s in items}
    assert "택배 언제 와요?" in texts and not texts & {"내 물건 어디쯤이에요", "택배 언제 도착", "로그인이 안돼요"}


def test_learned_vectors_are_cached_like_any_other(small_kb: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build_index(load_articles(small_kb), embedder, tmp_path / "index")
    first = embedder.calls
    stats = build_index(load_articles(small_kb), embedder, tmp_path / "index", learned=LEARNED_SET)
    # each new learned question as a passage and as a query, and the two articles' whole passages (the wordings
    # are folded in), nothing else
    assert embedder.calls - first == 2 * 3 + 2
    assert (stats.embedded, stats.added, stats.changed, stats.removed) == (5, 3, 2, 0)
    again = build_index(load_articles(small_kb), embedder, tmp_path / "index",
                        learned={"password-reset": ["로그인이 안돼요"]})
    assert embedder.calls - first == 8 and (again.embedded, again.changed, again.removed) == (0, 1, 2)


def test_a_failed_switch_leaves_no_orphan_build(small_kb: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "index"
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    live = current_path(root)

    def refuse(index_root: Path, target: Path) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(store, "switch_current", refuse)
    with pytest.raises(KBError, match="Read-only file system; the live index is unchanged"):
        build_index(load_articles(small_kb), FakeEmbedder(), root)
    assert current_path(root) == live
    assert [p.name for p in (root / "builds").iterdir()] == [live.name]  # the renamed new build is gone too


def test_an_interrupted_switch_leaves_no_orphan_build(small_kb: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "index"
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    live = current_path(root)

    def interrupted(index_root: Path, target: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "switch_current", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_index(load_articles(small_kb), FakeEmbedder(), root)
    assert [p.name for p in (root / "builds").iterdir()] == [live.name]
