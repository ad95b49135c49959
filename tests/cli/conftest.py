"""The CLI's tests run the commands through ``kb.cli.main`` with the fake embedder and no ``KB_*`` variables."""

from __future__ import annotations

import pytest

from tests.support.fakes import FakeEmbedder


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    embedder = FakeEmbedder()
    monkeypatch.setattr("kb.model.embed.load_embedder", lambda settings: embedder)
    for var in ("KB_ARTICLES_DIR", "KB_INDEX_DIR", "KB_MODEL", "KB_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    return embedder
