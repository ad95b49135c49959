"""Lexical side of the search: BM25 (bm25s) over analysed documents (in kb: one per article).

Built once, by ``kb build``, from term lists (Kiwi morphemes, or character n-grams: the same class serves
both), saved with bm25s' ``save`` and loaded with ``mmap``: loading a build analyses nothing. A query costs
one analysis (~0.1 ms, done by the caller) and one sparse score pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# BM25 parameters. FAQ entries are short and of similar length, so length normalisation matters little;
# k1 1.2 / b 0.75 (the usual defaults) were within 0.005 hit@1 of the best on all three dev sets.
K1 = 1.2
B = 0.75
_EMPTY = "kb-empty.json"  # written instead of bm25s' files when no document has a term
_NO_TERM = "\x00"  # stands in for an empty document: bm25s' vocabulary breaks on one, no query produces it


class LexicalIndex:
    """BM25 over a list of analysed documents; document i is row i of every score array."""

    def __init__(self, bm25: Any | None, size: int) -> None:
        import numpy as np

        self._bm25 = bm25
        self.size = size
        self._zeros = np.zeros(size, dtype=np.float32)
        if bm25 is not None:
            # plain ndarray views of the memory-mapped arrays (no copy): indexing a np.memmap makes a memmap
            # object each time, which cost ~1 ms of a search's "why it matched" checks on the sample
            for key in ("data", "indices", "indptr"):  # bm25s' own scoring slices them too (~0.1 ms a query)
                bm25.scores[key] = np.asarray(bm25.scores[key])
            self._indptr = bm25.scores["indptr"]
            self._docs = bm25.scores["indices"]  # per term (column), the documents that have it
            self._vocab: dict[str, int] = bm25.vocab_dict

    @classmethod
    def from_terms(cls, doc_terms: Sequence[Sequence[str]], *, k1: float = K1, b: float = B) -> LexicalIndex:
        """Index already analysed documents (term lists, repeats kept: BM25 counts them)."""
        if not any(doc_terms):
            return cls(None, len(doc_terms))
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm25.index([list(t) if t else [_NO_TERM] for t in doc_terms], show_progress=False)
        return cls(bm25, len(doc_terms))

    # -- files --------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is None:
            (folder / _EMPTY).write_text(json.dumps({"size": self.size}), encoding="utf-8")
            return
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """Read a saved index (arrays memory-mapped); ``size`` is the number of documents expected."""
        if (folder / _EMPTY).is_file():
            return cls(None, size)
        import bm25s

        bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        docs = int(bm25.scores.get("num_docs", size))
        if docs != size:
            raise ValueError(f"lexical index in {folder.name} has {docs} documents, expected {size}")
        return cls(bm25, size)

    # -- scoring ------------------------------------------------------------------------------------

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for analysed query terms (zeros when nothing matches)."""
        if self._bm25 is None:
            return self._zeros.copy()
        ids = [self._vocab[t] for t in terms if t in self._vocab]
        if not ids:
            return self._zeros.copy()
        return self._bm25.get_scores_from_ids(ids)  # type: ignore[no-any-return]

    def doc_freq(self, term: str) -> int:
        if self._bm25 is None:
            return 0
        tid = self._vocab.get(term)
        return 0 if tid is None else int(self._indptr[tid + 1] - self._indptr[tid])

    def idf(self, term: str) -> float:
        """BM25 (Lucene) IDF of a term; a term no document has gets the highest possible IDF."""
        df = self.doc_freq(term)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def has(self, term: str, doc_index: int) -> bool:
        """Whether document ``doc_index`` contains ``term`` (one column of the sparse matrix)."""
        if self._bm25 is None:
            return False
        tid = self._vocab.get(term)
        if tid is None:
            return False
        docs = self._docs[self._indptr[tid] : self._indptr[tid + 1]]
        return bool((docs == doc_index).any())

    def coverage(self, terms: Sequence[str], doc_index: int) -> float:
        """Share of the query's IDF weight found in document ``doc_index`` (0..1).

        Unlike a BM25 score, it means the same for every query and knowledge base: 1 = every query term
        occurs there, 0 = none (unknown words, e.g. gibberish, count as missing).
        """
        if not terms:
            return 0.0
        weights = [(self.idf(t), self.has(t, doc_index)) for t in terms]
        total = sum(w for w, _ in weights)
        return sum(w for w, hit in weights if hit) / total if total > 0 else 0.0

    def matched_terms(self, terms: Sequence[str], doc_index: int) -> tuple[str, ...]:
        """The query terms that occur in document ``doc_index``: the lexical "why it matched"."""
        return tuple(t for t in terms if self.has(t, doc_index))
