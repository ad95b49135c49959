"""kb.search.queries: long queries take turns in the model; a question never waits for them."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from kb.limits import MAX_QUERY_CHARS
from kb.search.queries import QueryVectors
from tests.support.fakes import FakeEmbedder


class GatedEmbedder(FakeEmbedder):
    """Holds each long text inside the model until ``release`` is set; records which texts are inside."""

    def __init__(self) -> None:
        super().__init__()
        self.inside: list[str] = []
        self.entered = threading.Condition()
        self.release = threading.Event()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self.entered:
            self.inside += texts
            self.entered.notify_all()
        if any(len(t) > 200 for t in texts):
            self.release.wait(timeout=30)
        out = super().embed_queries(texts)
        with self.entered:
            for t in texts:
                self.inside.remove(t)
        return out


def test_long_queries_take_turns_and_questions_pass_them() -> None:
    model = GatedEmbedder()
    queries = QueryVectors(model)
    first, second = "가" * MAX_QUERY_CHARS, "나" * MAX_QUERY_CHARS
    threads = [threading.Thread(target=queries.one, args=(text, None)) for text in (first, second)]
    threads[0].start()
    with model.entered:
        assert model.entered.wait_for(lambda: first in model.inside, timeout=30)
    threads[1].start()
    queries.one("택배 언제 와요", None)  # a question is answered while a long query holds the model
    threads[1].join(timeout=0.2)
    assert model.inside == [first]  # the second long query waits for the first
    model.release.set()
    for t in threads:
        t.join(timeout=30)
    assert model.inside == [] and queries.misses == 3
