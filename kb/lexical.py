"""Lexical side of the search: BM25 (bm25s) over analysed documents (in kb: one per article).

Built in memory when a :class:`~kb.search.Searcher` is created, so nothing extra is stored in a build.
A query costs one analysis (~0.1 ms) and one sparse score pass. Documents are given as term lists, so the
same class serves Kiwi morpheme terms and character n-grams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kb.text import Analyzer

if TYPE_CHECKING:
    import numpy as np

# BM25 parameters. FAQ entries are short and of similar length, so length normalisation matters little;
# k1 1.2 / b 0.75 (the usual defaults) were within 0.005 hit@1 of the best on all three dev sets.
K1 = 1.2
B = 0.75


class LexicalIndex:
    """BM25 over a list of analysed documents (term lists); document i is row i of every score array."""

    def __init__(self, doc_terms: Sequence[Sequence[str]], analyzer: Analyzer | None = None, *,
                 k1: float = K1, b: float = B) -> None:
        import bm25s
        import numpy as np

        self.analyzer = analyzer
        self.size = len(doc_terms)
        self._term_sets = [frozenset(t) for t in doc_terms]
        self._bm25: Any = None
        if any(doc_terms):
            bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
            # an empty document would break bm25s' vocabulary: give it a term no query can produce
            bm25.index([list(t) if t else ["\x00"] for t in doc_terms], show_progress=False)
            self._bm25 = bm25
        self._zeros = np.zeros(self.size, dtype=np.float32)

    @classmethod
    def build(cls, texts: Sequence[str], analyzer: Analyzer, **params: float) -> LexicalIndex:
        """Analyse every text and index it."""
        return cls(analyzer.terms_many(texts), analyzer, **params)

    def query_terms(self, query: str) -> list[str]:
        """The query's distinct terms (a repeated word is not worth more)."""
        if self.analyzer is None:
            raise ValueError("this lexical index was built from terms without an analyzer")
        return list(dict.fromkeys(self.analyzer.terms(query)))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for already analysed query terms (zeros when nothing matches)."""
        if self._bm25 is None:
            return self._zeros.copy()
        ids = self._bm25.get_tokens_ids(list(terms))
        if not ids:
            return self._zeros.copy()
        return self._bm25.get_scores_from_ids(ids)

    def idf(self, term: str) -> float:
        """BM25 (Lucene) IDF of a term; a term no document has gets the highest possible IDF."""
        import math

        n = self.size
        df = self.doc_freq(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def coverage(self, terms: Sequence[str], doc_index: int) -> float:
        """Share of the query's IDF weight found in document ``doc_index`` (0..1).

        Unlike a BM25 score, it means the same for every query and knowledge base: 1 = every query term
        occurs there, 0 = none (unknown words, e.g. gibberish, count as missing).
        """
        if not terms:
            return 0.0
        have = self._term_sets[doc_index]
        weights = [(self.idf(t), t in have) for t in terms]
        total = sum(w for w, _ in weights)
        return sum(w for w, hit in weights if hit) / total if total > 0 else 0.0

    def doc_freq(self, term: str) -> int:
        if self._bm25 is None:
            return 0
        tid = self._bm25.vocab_dict.get(term)
        if tid is None:
            return 0
        indptr = self._bm25.scores["indptr"]
        return int(indptr[tid + 1] - indptr[tid])

    def matched_terms(self, terms: Sequence[str], doc_index: int) -> tuple[str, ...]:
        """The query terms that occur in document ``doc_index``: the lexical "why it matched"."""
        have = self._term_sets[doc_index]
        return tuple(t for t in terms if t in have)
