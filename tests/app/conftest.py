"""Shared fixtures of the app's tests: a service on the module's ``settings`` (the fake embedder) and a
TestClient on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.service import KBService
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def service(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[KBService]:
    svc = KBService(settings, fake_embedder)
    yield svc
    svc.close()


@pytest.fixture
def client(settings: Settings, service: KBService) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service=service, watch=False)) as c:
        yield c
