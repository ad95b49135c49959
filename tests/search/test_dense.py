"""kb.search.dense: candidates from the approximate index and the lexical side, scored exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.articles.parse import load_articles
from kb.index.ann import AnnIndex, AnnParams
from kb.index.build import build_index
from kb.index.store import load_index
from kb.search.dense import ApproximateDense
from kb.search.searcher import Searcher
from tests.support.fakes import FakeEmbedder

QUERIES = ["택배 언제 와요", "반품하고 싶어요", "비밀번호 잊어버렸어요", "refund timing", "운송장 번호", "비번"]


def test_the_approximate_path_ranks_a_small_kb_as_the_exact_one(small_kb: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build_index(load_articles(small_kb), embedder, tmp_path / "exact")
    build_index(load_articles(small_kb), embedder, tmp_path / "approx", ann_threshold=1)
    exact = Searcher(load_index(tmp_path / "exact"), embedder)
    approx = Searcher(load_index(tmp_path / "approx"), embedder)
    assert exact._approx is None and approx._approx is not None
    for query in QUERIES:
        for category in (None, "배송"):
            want, got = exact.search(query, category=category), approx.search(query, category=category)
            assert [h.article_id for h in got.results] == [h.article_id for h in want.results], query
            assert [h.dense_score for h in got.results] == [h.dense_score for h in want.results], query
            assert (got.decision, got.confidence) == (want.decision, want.confidence), query


def clustered(n_articles: int = 300, per_article: int = 4, dim: int = 32, seed: int = 3) -> np.ndarray:
    """Unit vectors in groups: an article's entries near its own centre, as real questions are."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_articles, dim))
    vecs = np.repeat(centres, per_article, axis=0) + 0.4 * rng.standard_normal((n_articles * per_article, dim))
    return np.ascontiguousarray(vecs / np.linalg.norm(vecs, axis=1, keepdims=True), dtype=np.float32)


def scorer(vectors: np.ndarray, per_article: int, candidates: int) -> ApproximateDense:
    import faiss

    index = faiss.IndexHNSWSQ(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    entry_article = np.repeat(np.arange(len(vectors) // per_article), per_article)
    is_doc = np.arange(len(vectors)) % per_article == per_article - 1  # each article's last entry: its passage
    return ApproximateDense(AnnIndex(index, AnnParams(candidates=candidates)), vectors, entry_article, is_doc,
                            len(vectors) // per_article, doc_mix=0.4)


def exact_dense(vectors: np.ndarray, per_article: int, qvec: np.ndarray, mix: float = 0.4) -> np.ndarray:
    sims = (vectors @ qvec).reshape(-1, per_article)
    return mix * sims[:, :-1].max(axis=1) + (1 - mix) * sims[:, -1]


@pytest.fixture
def vectors() -> np.ndarray:
    return clustered()


def test_candidates_get_their_exact_score_and_the_top_is_found(vectors: np.ndarray) -> None:
    approx = scorer(vectors, 4, candidates=40)
    rng = np.random.default_rng(0)
    for entry in rng.choice(len(vectors), 20, replace=False):
        q = vectors[entry] + 0.2 * rng.standard_normal(vectors.shape[1]).astype(np.float32)
        q = (q / np.linalg.norm(q)).astype(np.float32)
        want = exact_dense(vectors, 4, q)
        dense, best = approx.scores(q)
        found = np.isfinite(dense)
        assert 0 < found.sum() <= 40
        np.testing.assert_allclose(dense[found], want[found], rtol=1e-5)
        assert int(np.argmax(dense)) == int(np.argmax(want))
        top = int(np.argmax(dense))
        assert best[top] // 4 == top and best[top] % 4 != 3  # a question entry of that article
        assert (best[~found] == -1).all()


def test_lexical_candidates_outside_the_graph_get_their_dense_score(vectors: np.ndarray) -> None:
    approx = scorer(vectors, 4, candidates=4)
    q = vectors[0]
    far = int(np.argmin(exact_dense(vectors, 4, q)))  # the article least like the query
    lexical = np.zeros(len(vectors) // 4)
    lexical[far] = 3.0
    dense, _ = approx.scores(q, (lexical, None))
    assert np.isfinite(dense[far]) and dense[far] == pytest.approx(exact_dense(vectors, 4, q)[far], rel=1e-5)
    assert not np.isfinite(approx.scores(q)[0][far])


def test_a_narrow_filter_scores_its_articles_exactly(vectors: np.ndarray) -> None:
    approx = scorer(vectors, 4, candidates=4)
    allowed = np.zeros(len(vectors) // 4, dtype=bool)
    allowed[[5, 17, 290]] = True
    dense, _ = approx.scores(vectors[0], (), (allowed,))
    assert np.isfinite(dense[allowed]).all()
    assert np.isfinite(dense).sum() <= 3 + 4  # those, and the graph's nearest


def test_a_wide_filter_searches_the_graph_deeper(vectors: np.ndarray) -> None:
    approx = scorer(vectors, 4, candidates=40)
    wide = np.ones(len(vectors) // 4, dtype=bool)
    wide[:150] = False  # half the articles allowed, not the query's own
    for entry in (0, 100, 597):
        want = np.where(wide, exact_dense(vectors, 4, vectors[entry]), -np.inf)
        dense, _ = approx.scores(vectors[entry], (), (wide,))
        assert 40 // 4 < np.isfinite(dense).sum() <= 80  # 80 entries searched, not 40
        assert int(np.argmax(np.where(wide, dense, -np.inf))) == int(np.argmax(want))
