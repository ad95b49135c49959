"""Test doubles shared by the test suite: a deterministic embedder that needs no model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np


class FakeEmbedder:
    """Implements the ``Embedder`` protocol with hashed character n-grams (1-3), L2-normalised.

    Texts that share characters get similar vectors, so retrieval behaves plausibly in unit tests,
    and the same text always gives the same vector (across processes: hashing is sha1, not ``hash``).
    ``calls`` counts texts embedded, so tests can check what was (not) re-embedded.
    """

    def __init__(self, dimension: int = 64, model_id: str = "fake-ngram-64") -> None:
        self.model_id = model_id
        self.dimension = dimension
        self.calls = 0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        t = " ".join(text.lower().split())
        for n in (1, 2, 3):
            for i in range(max(len(t) - n + 1, 0)):
                digest = hashlib.sha1(t[i : i + n].encode("utf-8")).digest()
                slot = int.from_bytes(digest[:4], "little") % self.dimension
                v[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0  # empty text: a fixed unit vector, so the index never holds zeros
            return v
        return v / norm

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([self._vector(t) for t in texts]), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = self._embed(texts)
        if progress is not None:
            progress(len(texts))
        return out
