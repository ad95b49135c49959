"""The approximate index of a large build: FAISS HNSW over the entries' vectors, so a query scores a few hundred
entries instead of all of them (:mod:`kb.search.dense`).

Written by ``kb build`` beside ``vectors.faiss`` when a build holds at least ``THRESHOLD`` entries, recorded in the
manifest (``"ann"``: type, parameters, file; hashed like every other file) and read back by
:func:`kb.index.store.load_index`. Below the threshold, and for builds made before it existed, there is no such
file and search scores every entry exactly. The file is optional, so the build format is unchanged.

HNSW over 8-bit scalar-quantised vectors (``IndexHNSWSQ``): a quarter of the flat vectors' memory, and the
quantisation costs nothing in the ranking, since the candidates it returns are re-scored exactly with the flat
vectors. Measured on 100k structured random vectors (``scripts/bench.py --random-vectors 100000``; a noisy
2-core machine): built in ~10 s on 2 threads, 63 MB on disk, a search of the top 300 at ef 128 in ~0.3 ms,
recall@10 after exact re-scoring 1.000 against the exact top 10.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ANN = "ann.faiss"
# Entries from which a build gets an approximate index. The exact path costs one matrix-vector product over every
# entry plus per-article maxima: ~1 ms per 10k entries on one core, while the approximate one has a fixed cost
# (search, then exact scores of its candidates) of ~1-2 ms; 30k entries is where they meet (see docs/figures.md).
THRESHOLD = 30_000


@dataclass(frozen=True)
class AnnParams:
    """How the approximate index is made and searched (all recorded in the manifest)."""

    type: str = "hnsw-sq8"  # FAISS IndexHNSWSQ, 8-bit scalar quantiser, inner product
    m: int = 32  # graph neighbours per node
    ef_construction: int = 80
    ef_search: int = 128  # breadth of a search; at least the number of entries asked for
    candidates: int = 300  # entries a query takes from the index, re-scored exactly
    file: str = ANN

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AnnParams:
        known = {k: record[k] for k in ("type", "m", "ef_construction", "ef_search", "candidates", "file")
                 if k in record}
        params = cls(**known)
        if params.type != "hnsw-sq8" or params.file != ANN:
            raise ValueError(f"unknown approximate index {params.type!r} in {params.file!r}")
        return params


@dataclass
class AnnIndex:
    """A loaded approximate index and its parameters."""

    index: Any  # faiss.IndexHNSWSQ
    params: AnnParams

    def search(self, qvec: np.ndarray, k: int | None = None) -> np.ndarray:
        """Entry numbers of (about) the ``k`` entries nearest the query, best first (``-1`` padding dropped)."""
        import faiss
        import numpy as np

        k = min(k or self.params.candidates, int(self.index.ntotal))
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        opts = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        opts.efSearch = max(self.params.ef_search, k)  # FAISS returns k, but of an ef-wide search only
        _, ids = self.index.search(np.asarray(qvec, dtype=np.float32).reshape(1, -1), k, params=opts)
        found = ids[0]
        return found[found >= 0].astype(np.int64)


def plan(n_entries: int, threshold: int | None = None) -> AnnParams | None:
    """The approximate index a build of ``n_entries`` gets (None: search stays exact)."""
    limit = THRESHOLD if threshold is None else threshold
    return AnnParams() if n_entries >= max(limit, 1) else None


def write(folder: Path, vectors: np.ndarray, params: AnnParams) -> None:
    """Build the approximate index of ``vectors`` (entry order) and write it into a build folder."""
    import faiss

    index = faiss.IndexHNSWSQ(int(vectors.shape[1]), faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]
                              params.m,
                              faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params.ef_construction
    index.train(vectors)
    index.add(vectors)
    faiss.write_index(index, str(folder / params.file))


def load(folder: Path, manifest: dict[str, Any], n_entries: int) -> AnnIndex | None:
    """The approximate index a build's manifest records (None when it has none); ``ValueError`` /
    ``RuntimeError`` when it is unreadable or does not hold the build's ``n_entries`` vectors."""
    import faiss

    record = manifest.get("ann")
    if not record:
        return None
    if not isinstance(record, dict):
        raise ValueError("the manifest's approximate index record is not an object")
    params = AnnParams.from_record(record)
    index = faiss.read_index(str(folder / params.file))
    if index.ntotal != n_entries or index.d != manifest.get("dimension"):
        raise ValueError(f"{params.file} holds {index.ntotal} vectors of dimension {index.d}, "
                         f"the build {n_entries} of {manifest.get('dimension')}")
    return AnnIndex(index, params)
