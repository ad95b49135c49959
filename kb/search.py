"""Search: retrieve entries, keep the best entry per article, decide answer / suggest / none."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.errors import QueryError
from kb.markdown import snippet

if TYPE_CHECKING:
    import numpy as np

    from kb.embed import Embedder
    from kb.index import LoadedIndex

MAX_K = 50


@dataclass(frozen=True)
class Hit:
    """One article in the results, with the entry (question) that matched it best."""

    article_id: str
    title: str
    question: str
    answer: str
    snippet: str
    category: str
    locale: str
    score: float
    dense_score: float
    lexical_score: float
    matched_terms: tuple[str, ...]
    entry_field: str


@dataclass(frozen=True)
class SearchResponse:
    query: str
    results: tuple[Hit, ...]
    decision: str  # "answer" | "suggest" | "none"
    confidence: float
    took_ms: float


def check_query(query: str, k: int, max_chars: int = 512) -> str:
    """Normalise whitespace and validate; raise :class:`QueryError` with the reason."""
    text = " ".join(query.split())
    if not text:
        raise QueryError("query is empty: type a question")
    if len(text) > max_chars:
        raise QueryError(f"query is {len(text)} characters long; the limit is {max_chars}")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, got {k}")
    return text


class Searcher:
    """Dense retrieval over every entry with FAISS; one hit per article."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, max_query_chars: int = 512) -> None:
        self.index = index
        self.embedder = embedder
        self.max_query_chars = max_query_chars

    def _dense(self, qvec: np.ndarray, allowed: list[int] | None, depth: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss
        import numpy as np

        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self.index.faiss_index.search(qvec.reshape(1, -1), depth, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def search(self, query: str, k: int = 5, category: str | None = None, locale: str | None = None) -> SearchResponse:
        started = time.perf_counter()
        text = check_query(query, k, self.max_query_chars)
        entries = self.index.entries
        allowed = None
        if category or locale:
            allowed = [i for i, e in enumerate(entries)
                       if (not category or e.category == category) and (not locale or e.locale == locale)]
        hits: list[Hit] = []
        if allowed is None or allowed:
            qvec = self.embedder.embed_queries([text])[0]
            depth = min(len(entries) if allowed is None else len(allowed), max(64, k * 8))
            ids, scores = self._dense(qvec, allowed, depth)
            seen: set[str] = set()
            for i, s in zip(ids.tolist(), scores.tolist()):
                e = entries[i]
                if e.article_id in seen:
                    continue
                seen.add(e.article_id)
                a = self.index.articles[e.article_id]
                hits.append(Hit(e.article_id, a["title"], e.question, e.answer, snippet(e.answer), e.category,
                                e.locale, float(s), float(s), 0.0, (), e.field))
                if len(hits) == k:
                    break
        decision, confidence = ("suggest", hits[0].score) if hits else ("none", 0.0)
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(text, tuple(hits), decision, round(float(confidence), 4), round(took, 2))
