"""kb.index.ann: a build from the threshold gets an approximate (HNSW) index, recorded and hashed by the manifest
and checked like every other file; a smaller build, or one made before it existed, stays exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.articles.parse import load_articles
from kb.index import ann, store
from kb.index.build import build_index
from kb.index.store import BuildDamaged, current_path, load_index, read_manifest
from tests.support.fakes import FakeEmbedder


def test_plan_follows_the_threshold() -> None:
    assert ann.plan(ann.THRESHOLD - 1) is None
    assert ann.plan(ann.THRESHOLD) == ann.AnnParams()
    assert ann.plan(5, threshold=5) is not None and ann.plan(4, threshold=5) is None


def test_a_build_from_the_threshold_records_its_approximate_index(small_kb: Path, tmp_path: Path) -> None:
    stats = build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "index", ann_threshold=1)
    build = current_path(tmp_path / "index")
    manifest = read_manifest(build)
    assert manifest["ann"] == ann.AnnParams().record() and manifest["ann"]["type"] == "hnsw-sq8"
    assert ann.ANN in manifest["files"] and (build / ann.ANN).is_file()
    index = load_index(tmp_path / "index")
    assert index.ann is not None and index.ann.index.ntotal == stats.entries
    assert index.ann.params == ann.AnnParams()


def test_the_threshold_keeps_small_builds_exact(small_index: Path) -> None:
    build = current_path(small_index)
    assert read_manifest(build)["ann"] is None and not (build / ann.ANN).exists()
    assert load_index(small_index).ann is None


def test_a_damaged_approximate_index_is_detected(small_kb: Path, tmp_path: Path) -> None:
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "index", ann_threshold=1)
    build = current_path(tmp_path / "index")
    data = bytearray((build / ann.ANN).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (build / ann.ANN).write_bytes(bytes(data))
    reason = store.verify_build(build)
    assert reason is not None and ann.ANN in reason and "does not match its manifest" in reason
    with pytest.raises(BuildDamaged, match="ann.faiss"):
        load_index(tmp_path / "index")
    (build / ann.ANN).unlink()
    with pytest.raises(BuildDamaged, match="missing ann.faiss"):
        load_index(tmp_path / "index")


def test_a_build_made_before_the_approximate_index_loads_exact(small_index: Path) -> None:
    """The file is optional, so the format version stays: a manifest without the "ann" record is an exact build."""
    build = current_path(small_index)
    manifest = read_manifest(build)
    del manifest["ann"]
    (build / store.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert load_index(small_index).ann is None


def test_an_unknown_approximate_index_is_refused(small_kb: Path, tmp_path: Path) -> None:
    build_index(load_articles(small_kb), FakeEmbedder(), tmp_path / "index", ann_threshold=1)
    build = current_path(tmp_path / "index")
    manifest = read_manifest(build)
    manifest["ann"]["type"] = "ivf-pq"
    (build / store.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BuildDamaged, match="unknown approximate index 'ivf-pq'"):
        load_index(tmp_path / "index")


def test_kb_ann_threshold_reaches_the_build(small_kb: Path, tmp_path: Path) -> None:
    from kb.errors import ConfigError
    from kb.pipeline import gated_build
    from kb.settings import Settings

    settings = Settings.from_env({"KB_ANN_THRESHOLD": "1"}, articles_dir=small_kb, index_dir=tmp_path / "index",
                                 cache_dir=tmp_path / "cache", model="fake-ngram-64")
    assert settings.ann_threshold == 1 and Settings.from_env({}).ann_threshold is None
    gated_build(settings, FakeEmbedder(), learned={})
    assert read_manifest(current_path(tmp_path / "index"))["ann"]["type"] == "hnsw-sq8"
    with pytest.raises(ConfigError, match="ann_threshold must be at least 1"):
        Settings.from_env({"KB_ANN_THRESHOLD": "0"})
