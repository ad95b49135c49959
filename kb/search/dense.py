"""Dense scores of a large build from candidates: the approximate index's nearest entries and the lexical side's
best articles, each scored exactly, instead of every entry.

A build with an approximate index (:mod:`kb.index.ann`) is searched this way. The candidate articles are those
owning one of the ``candidates`` entries nearest the query in the HNSW graph, plus the top ``LEXICAL_CANDIDATES``
articles of each lexical signal (an article the words find but the graph missed still gets its true dense score).
Every entry of a candidate article is scored exactly with the flat vectors, so a candidate's dense score is the
one the exact path gives it; the other articles get ``-inf`` and leave the fusion, as filtered ones do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from kb.index.ann import AnnIndex
    from kb.index.store import LoadedIndex

LEXICAL_CANDIDATES = 100  # per lexical signal: twice the fusion's normalisation depth (FusionConfig.norm_depth)
# A filter (category, locale, audience) that leaves fewer than this share of the articles is served by scoring its
# articles exactly (at most this share of the exact path's cost); a wider one widens the graph search instead.
EXACT_BELOW_SHARE = 0.2


class ApproximateDense:
    """Per-article dense scores (and best question entries) of a query's candidate articles only."""

    def __init__(self, ann: AnnIndex, vectors: np.ndarray, entry_article: np.ndarray, is_doc: np.ndarray,
                 n_articles: int, doc_mix: float, translations: np.ndarray | None = None) -> None:
        import numpy as np

        self.ann = ann
        self._translations = np.zeros((0, 2), np.int64) if translations is None else translations
        self._vectors = vectors
        self._entry_article = entry_article
        self._is_doc = is_doc
        self._n = n_articles
        self._mix = doc_mix
        # entries grouped by article (entry order kept inside a group): article a owns order[starts[a]:starts[a+1]]
        self._order = np.argsort(entry_article, kind="stable")
        self._starts = np.searchsorted(entry_article[self._order], np.arange(n_articles + 1))
        self._doc_entry = np.full(n_articles, -1, dtype=np.int64)
        docs = np.flatnonzero(is_doc)
        self._doc_entry[entry_article[docs]] = docs

    @classmethod
    def of(cls, index: LoadedIndex, vectors: np.ndarray, doc_mix: float) -> ApproximateDense | None:
        """The approximate scorer of a loaded build, or None when the build has no approximate index."""
        if index.ann is None:
            return None
        tables = index.tables
        return cls(index.ann, vectors, tables.entry_article, tables.is_doc, len(index.articles), doc_mix,
                   tables.translations)

    def candidates(self, qvec: np.ndarray, signals: Sequence[np.ndarray | None] = (),
                   masks: Sequence[np.ndarray | None] = ()) -> np.ndarray:
        """Candidate article rows, sorted: owners of the graph's nearest entries, the lexical signals' best, and
        for each filter mask (allowed articles) either all its articles (a narrow one) or the graph's nearest
        entries searched deeper; and the translations and originals of all those."""
        import numpy as np

        k = self.ann.params.candidates
        parts = []
        narrow = []
        for mask in masks:
            if mask is None:
                continue
            share = float(mask.mean()) if len(mask) else 1.0
            if share < EXACT_BELOW_SHARE:
                narrow.append(mask)
            else:
                k = max(k, int(np.ceil(self.ann.params.candidates / max(share, 1e-9))))
        parts.append(self._entry_article[self.ann.search(qvec, k)])
        for mask in narrow:
            parts.append(np.flatnonzero(mask))
        for signal in signals:
            if signal is None:
                continue
            for mask in (None, *(m for m in masks if m is not None)):
                parts.append(_top(signal if mask is None else np.where(mask, signal, -np.inf), LEXICAL_CANDIDATES))
        found = np.unique(np.concatenate(parts))
        if len(self._translations):  # an article's translations follow it (Searcher._lift_originals)
            src, tr = self._translations.T
            found = np.unique(np.r_[found, src[np.isin(tr, found)], tr[np.isin(src, found)]])
        return found

    def scores(self, qvec: np.ndarray, signals: Sequence[np.ndarray | None] = (),
               masks: Sequence[np.ndarray | None] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Per article: dense score (``-inf`` outside the candidates) and best question entry (``-1`` there), as
        :meth:`kb.search.searcher.Searcher._dense` computes them for every article."""
        import numpy as np

        dense = np.full(self._n, -np.inf, dtype=np.float64)
        best_entry = np.full(self._n, -1, dtype=np.int64)
        cand = self.candidates(qvec, signals, masks)
        lengths = self._starts[cand + 1] - self._starts[cand]
        cand, lengths = cand[lengths > 0], lengths[lengths > 0]
        if not len(cand):
            return dense, best_entry
        group_starts = np.cumsum(lengths) - lengths
        pos = np.arange(int(lengths.sum())) - np.repeat(group_starts, lengths) + np.repeat(self._starts[cand], lengths)
        entries = self._order[pos]  # every entry of every candidate, grouped by article, entry order in a group
        sims = self._vectors[entries] @ np.asarray(qvec, dtype=np.float32).reshape(-1)
        is_doc = self._is_doc[entries]
        q_sims = np.where(is_doc, -np.inf, sims)
        best_q = np.maximum.reduceat(q_sims, group_starts)
        doc = np.maximum.reduceat(np.where(is_doc, sims, -np.inf), group_starts)  # an article has one passage
        first = np.flatnonzero(q_sims == np.repeat(best_q, lengths))  # the first max of a group wins
        groups = np.searchsorted(group_starts, first, side="right") - 1
        best = np.full(len(cand), -1, dtype=np.int64)
        best[groups[::-1]] = entries[first[::-1]]
        has_doc = self._doc_entry[cand] >= 0
        dense[cand] = np.where(has_doc, self._mix * best_q + (1 - self._mix) * doc, best_q)
        best_entry[cand] = best
        return dense, best_entry


def _top(signal: np.ndarray, k: int) -> np.ndarray:
    """The rows of the ``k`` highest scores above 0 (a lexical score of 0 finds nothing)."""
    import numpy as np

    hits = np.flatnonzero(signal > 0)
    if len(hits) <= k:
        return hits
    return hits[np.argpartition(-signal[hits], k - 1)[:k]]
