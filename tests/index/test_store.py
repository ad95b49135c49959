from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kb.articles.parse import Article, load_articles
from kb.errors import IndexMismatchError, IndexMissingError, KBError
from kb.index.build import build_index
from kb.index.store import (
    STALE_TMP_SECONDS,
    BuildDamaged,
    current_path,
    kept_builds,
    load_index,
    pick_build,
    read_manifest,
    switch_current,
    verified,
    verify_build,
)
from tests.conftest import write
from tests.support.damage import LEXICAL_ARRAY, damage, overwrite
from tests.support.fakes import FakeEmbedder


def test_build_and_load_round_trip(small_kb: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    stats = build_index(load_articles(small_kb), fake_embedder, tmp_path / "index")
    assert (stats.articles, stats.drafts_skipped) == (4, 1)
    assert stats.entries == 4 + 5 + 4 and stats.embedded == 13 and stats.added == 13  # + whole-article passages
    index = load_index(tmp_path / "index", expected_model="fake-ngram-64", expected_dimension=64)
    assert index.faiss_index.ntotal == len(index.entries) == 13
    assert "membership" not in index.articles  # drafts are never served
    manifest = index.manifest
    assert manifest["model_id"] == "fake-ngram-64" and manifest["dimension"] == 64
    assert manifest["counts"] == {"articles": 4, "entries": 13, "drafts": 0, "learned": 0}
    assert set(manifest["entries"]) == {e.entry_id for e in index.entries}
    assert manifest["build_time"].endswith("+00:00")
    # the FAISS vectors are the normalised embeddings of the questions
    v = fake_embedder.embed_passages([index.entries[0].question])[0]
    assert float(index.faiss_index.reconstruct(0) @ v) == pytest.approx(1.0, abs=1e-5)
    # every file of the build is listed with its hash, and the article records come back typed
    build = current_path(tmp_path / "index")
    on_disk = {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert {"vectors.faiss", "entries.jsonl", "articles.json", "tables.npz", "suggest.json"} <= on_disk
    assert any(f.startswith("lexical/") for f in on_disk) and any(f.startswith("chars/") for f in on_disk)
    record = index.articles["delivery-tracking"]
    assert isinstance(record, Article) and record.tags == ("배송조회", "택배") and record.category == "배송"
    assert list(index.articles) == [e.article_id for e in index.entries if e.field == "title"]
    assert index.tables.entry_article.tolist() == [list(index.articles).index(e.article_id) for e in index.entries]
    assert index.load_ms > 0


def test_loading_a_build_analyses_no_article(small_index: Path, fake_embedder: FakeEmbedder,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The build analysed the articles; loading it (index and searcher) only reads files."""
    import kb.text.analysis
    from kb.pipeline import open_build

    calls: list[str] = []
    real_terms_many, real_terms = kb.text.analysis.Analyzer.terms_many, kb.text.analysis.Analyzer.terms
    monkeypatch.setattr(kb.text.analysis.Analyzer, "terms_many", lambda self, texts: calls.append("many") or
                        real_terms_many(self, texts))
    monkeypatch.setattr(kb.text.analysis.Analyzer, "terms",
                        lambda self, text, limit=None: calls.append(text) or real_terms(self, text, limit))
    searcher = open_build(small_index, fake_embedder)
    assert calls == []
    assert searcher.search("택배 언제 와요").results[0].article_id == "delivery-tracking"
    assert calls == ["택배 언제 와요"]  # the query, and only the query


def test_a_rebuild_analyses_only_what_changed(small_kb: Path, tmp_path: Path, fake_embedder: FakeEmbedder,
                                              write_article: Callable[..., Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms are cached by text and analyser: an unchanged rebuild sends nothing to Kiwi, an edit sends one
    article, a change of synonyms sends them all; and the build comes out the same as from scratch."""
    import kb.text.analysis
    from kb.text.analysis import Synonyms

    analysed: list[str] = []
    real = kb.text.analysis.Analyzer.terms_many
    monkeypatch.setattr(kb.text.analysis.Analyzer, "terms_many", lambda self, texts: analysed.extend(texts) or
                        real(self, texts))
    root = tmp_path / "index"

    def lexical_files() -> dict[str, str]:
        files = read_manifest(current_path(root))["files"]
        return {k: v for k, v in files.items() if k.startswith("lexical/")}

    build_index(load_articles(small_kb), fake_embedder, root)
    assert len(analysed) == 4  # the four published articles
    first = lexical_files()
    analysed.clear()
    build_index(load_articles(small_kb), fake_embedder, root)
    assert analysed == [] and lexical_files() == first
    write_article("password-reset", "로그인 화면에서 **비밀번호 찾기**를 누르고 메일을 확인하세요.",
                  title="비밀번호를 잊어버렸어요", category="회원/계정", questions=["비번 까먹었어요"])
    build_index(load_articles(small_kb), fake_embedder, root)
    assert len(analysed) == 1 and "메일을 확인하세요" in analysed[0]
    edited = lexical_files()
    scratch = tmp_path / "scratch"  # the same articles without any cache give the same lexical index
    build_index(load_articles(small_kb), fake_embedder, scratch)
    assert {k: v for k, v in read_manifest(current_path(scratch))["files"].items() if k.startswith("lexical/")} \
        == edited
    synonyms = write(small_kb / "_synonyms.yml", "synonyms:\n  - [비밀번호, 비번]\n")
    analysed.clear()
    build_index(load_articles(small_kb), fake_embedder, root, config_files=[synonyms])
    assert len(analysed) == 4  # another analyser: every article again
    assert Synonyms.load(synonyms).groups == (("비밀번호", "비번"),)


def test_older_format_is_refused_with_the_fix(small_index: Path) -> None:
    build = current_path(small_index)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 2
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format version 2.*kb build"):
        load_index(small_index)


def test_a_damaged_lexical_file_is_refused(small_index: Path) -> None:
    build = current_path(small_index)
    victim = next(p for p in sorted((build / "lexical").iterdir()) if p.suffix == ".json")
    victim.write_text(victim.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="does not match its manifest"):
        load_index(small_index)


def test_stale_half_written_builds_are_removed(small_kb: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    stale, fresh = root / "builds" / ".tmp-old", root / "builds" / ".tmp-running"
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (time.time() - 2 * STALE_TMP_SECONDS, time.time() - 2 * STALE_TMP_SECONDS))
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    assert not stale.exists() and fresh.exists()  # another build may still be writing the fresh one


def test_rebuild_reuses_unchanged_embeddings(small_kb: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build_index(load_articles(small_kb), embedder, tmp_path / "index")
    first = embedder.calls
    text = (small_kb / "password-reset.md").read_text(encoding="utf-8")
    (small_kb / "password-reset.md").write_text(text.replace("비번 까먹었어요", "비번 생각이 안나요"), "utf-8")
    (small_kb / "en-refund.md").unlink()
    stats = build_index(load_articles(small_kb), embedder, tmp_path / "index")
    # only the edited question (as a passage and as a query) and its whole-article passage were embedded again
    assert embedder.calls - first == 3
    assert (stats.embedded, stats.added, stats.changed, stats.removed) == (2, 0, 2, 3)
    assert stats.reused == stats.entries - 2


def test_switch_is_atomic_and_old_builds_are_pruned(small_kb: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    root = tmp_path / "index"
    seen = []
    for _ in range(5):
        build_index(load_articles(small_kb), embedder, root)
        seen.append(current_path(root))
        assert os.path.islink(root / "current")
    assert len(set(seen)) == 5
    assert len([p for p in (root / "builds").iterdir()]) == 3
    assert not list(root.glob(".current-*")) and not list((root / "builds").glob(".tmp-*"))


def test_failed_build_leaves_the_live_index(small_kb: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    live = current_path(root)

    class Broken(FakeEmbedder):
        def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("crash half-way")

    write(small_kb / "new.md", "---\ntitle: 새 질문\n---\n새 답\n")
    with pytest.raises(RuntimeError):
        build_index(load_articles(small_kb), Broken(), root)
    assert current_path(root) == live
    assert load_index(root).manifest["counts"]["articles"] == 4
    assert not list((root / "builds").glob(".tmp-*"))


def test_only_drafts_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a" / "d.md", "---\ntitle: 초안\nstatus: draft\n---\n답\n")
    with pytest.raises(KBError, match="draft"):
        build_index(load_articles(tmp_path / "a"), FakeEmbedder(), tmp_path / "index")
    stats = build_index(load_articles(tmp_path / "a"), FakeEmbedder(), tmp_path / "preview", include_drafts=True)
    assert stats.articles == 1


def test_load_refuses_missing_other_model_and_corrupt(small_index: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="kb build"):
        load_index(tmp_path / "nothing")
    with pytest.raises(IndexMismatchError, match="built with model 'fake-ngram-64'.*KB_MODEL"):
        load_index(small_index, expected_model="multilingual-e5-small")
    with pytest.raises(IndexMismatchError, match="dimension 64"):
        load_index(small_index, expected_dimension=384)
    build = current_path(small_index)
    with (build / "entries.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"x": 1}) + "\n")
    with pytest.raises(IndexMismatchError, match="does not match its manifest"):
        load_index(small_index)
    (build / "vectors.faiss").unlink()
    with pytest.raises(IndexMismatchError, match="missing vectors.faiss"):
        load_index(small_index)
    (build / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="corrupt"):
        load_index(small_index)


def test_disk_full_is_a_clear_error_and_keeps_the_live_index(small_kb: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    root = tmp_path / "index"
    build_index(load_articles(small_kb), FakeEmbedder(), root)
    live = current_path(root)

    def no_space(index: object, path: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", no_space)
    with pytest.raises(KBError, match="No space left on device; the live index is unchanged"):
        build_index(load_articles(small_kb), FakeEmbedder(), root)
    assert current_path(root) == live and not list((root / "builds").glob(".tmp-*"))


def _three_builds(small_kb: Path, root: Path) -> list[Path]:
    """Three builds of the small knowledge base, newest first (the last one is current)."""
    for _ in range(3):
        build_index(load_articles(small_kb), FakeEmbedder(), root)
    builds = kept_builds(root)
    assert len(builds) == 3 and builds[0] == current_path(root)
    return builds


@pytest.mark.parametrize(("name", "how"), [
    (LEXICAL_ARRAY, "overwrite"), ("chars/data.csc.index.npy", "truncate"), ("vectors.faiss", "overwrite"),
    ("vectors.faiss", "truncate"), ("tables.npz", "overwrite"), ("articles.json", "truncate"),
    ("entries.jsonl", "delete"), ("suggest.json", "overwrite"),
])
def test_verify_build_names_the_damaged_file(small_index: Path, name: str, how: str) -> None:
    build = current_path(small_index)
    assert verify_build(build) is None
    damage(build / name, how)
    why = verify_build(build)
    assert why is not None and name.split("/")[0] in why and "kb build" in why
    with pytest.raises(BuildDamaged):
        load_index(small_index)


def test_the_newest_intact_build_is_picked(small_kb: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    newest, middle, oldest = _three_builds(small_kb, root)
    assert pick_build(root, verified) == (newest, {})
    overwrite(newest / LEXICAL_ARRAY)
    picked, damaged = pick_build(root, verified)
    assert picked == middle and list(damaged) == [newest.name] and "does not match its manifest" in damaged[newest.name]
    (middle / "articles.json").unlink()
    picked, damaged = pick_build(root, lambda b: load_index(b, expected_model="fake-ngram-64"))
    assert picked.path == oldest and set(damaged) == {newest.name, middle.name}
    with pytest.raises(BuildDamaged, match="no intact build to serve"):
        pick_build(root, verified, skip={oldest.name})
    damage(oldest / "vectors.faiss", "truncate")
    with pytest.raises(BuildDamaged, match=r"no intact build to serve in .*does not match its manifest.*2 more"):
        pick_build(root, verified)


def test_a_missing_current_build_falls_back_and_another_model_does_not(small_kb: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    newest, middle, _ = _three_builds(small_kb, root)
    import shutil

    shutil.rmtree(newest)  # the link now points nowhere
    picked, damaged = pick_build(root, verified)
    assert picked == middle and "is missing" in damaged[newest.name]
    switch_current(root, middle)
    with pytest.raises(IndexMismatchError, match="built with model") as caught:
        pick_build(root, lambda b: load_index(b, expected_model="other-model"))
    assert not isinstance(caught.value, BuildDamaged)  # a settings problem: refused, not worked around
    with pytest.raises(IndexMissingError, match="kb build"):
        pick_build(tmp_path / "empty", verified)


def test_a_failed_switch_leaves_no_link_behind(small_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = current_path(small_index)

    def refuse(src: str, dst: str) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        switch_current(small_index, live)
    assert not list(small_index.glob(".current-*"))
