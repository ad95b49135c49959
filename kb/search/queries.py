"""Query vectors: the embeddings of customers' queries, the recent ones kept, and the index's vectors as an array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kb.limits import search_cost

if TYPE_CHECKING:
    import numpy as np

    from kb.model.embed import Embedder

QUERY_CACHE = 2048  # recent query embeddings kept (as-you-type and popular searches repeat; ~3 MB)
# A query that costs more than this (kb.limits.search_cost; over 128 characters: 1-2% of the dev sets' questions)
# waits for the other long ones: one at a time in the model, so a client sending maximal queries never holds every
# model slot and a customer's question never queues behind two of them (issue 17).
LONG_QUERY_COST = 2


def flat_vectors(faiss_index: object) -> np.ndarray:
    """The vectors of a FAISS flat index as a read-only numpy view of its storage (held once)."""
    import faiss
    import numpy as np

    n, d = faiss_index.ntotal, faiss_index.d  # type: ignore[attr-defined]
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    view = faiss.rev_swig_ptr(faiss_index.get_xb(), n * d).reshape(n, d)  # type: ignore[attr-defined]
    view.flags.writeable = False
    return view  # type: ignore[no-any-return]


class QueryVectors:
    """Query embeddings, with the recent ones kept (LRU). One per embedder for the life of a process:
    a reload to a new build keeps them, since the model has not changed.

    A query typed without spaces is embedded with Kiwi's spacing too and the two vectors averaged
    (see :meth:`kb.text.analysis.Analyzer.respaced`); the cache key holds both forms. Long queries are embedded
    one at a time (``LONG_QUERY_COST``).
    """

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE) -> None:
        import threading
        from collections import OrderedDict

        self.embedder = embedder
        self.size = size
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[tuple[str, str | None], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._long = threading.Lock()  # held while a long query is in the model

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def embed(self, pairs: Sequence[tuple[str, str | None]]) -> np.ndarray:
        """Vectors of (typed, re-spaced or None) queries, in one model call, not cached (for batches)."""
        import numpy as np

        spaced = [(i, s) for i, (_, s) in enumerate(pairs) if s]
        out = np.array(self.embedder.embed_queries([*(t for t, _ in pairs), *(s for _, s in spaced)]),
                       dtype=np.float32)
        vecs = out[: len(pairs)]
        for (i, _), v in zip(spaced, out[len(pairs) :], strict=True):
            mean = vecs[i] + v
            vecs[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return vecs

    def one(self, text: str, respaced: str | None) -> np.ndarray:
        key = (text, respaced)
        with self._lock:
            vec = self._cache.get(key)
            if vec is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return vec
            self.misses += 1
        if search_cost(text) > LONG_QUERY_COST:
            with self._long:
                vec = self.embed([key])[0]
        else:
            vec = self.embed([key])[0]
        vec.setflags(write=False)
        with self._lock:
            self._cache[key] = vec
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return vec
