"""``/metrics``: one registry per app, the metrics the issue lists, bounded route labels, the bearer key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.app.service import KBService
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def service(small_settings: Settings) -> KBService:
    return KBService(small_settings, FakeEmbedder())


@pytest.fixture
def client(small_settings: Settings, service: KBService) -> Iterator[TestClient]:
    settings = replace(small_settings, rate_search="5/second")
    with TestClient(create_app(settings, service=service, watch=False)) as c:
        yield c


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (labels given must all match)."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    raise AssertionError(f"no sample {name}{labels}")


def test_the_listed_metrics(client: TestClient, service: KBService) -> None:
    for q in ("비번 까먹었어요", "비번 까먹었어요", "오늘 날씨 어때요"):
        assert client.get("/search", params={"q": q}).status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-store"
    text = r.text
    assert sum(sample(text, "kb_search_requests_total", decision=d) for d in ("answer", "suggest", "none")) == 3
    assert sample(text, "kb_search_latency_seconds_count") == 3
    assert sample(text, "kb_http_requests_total", route="/search", status="200") == 3
    assert sample(text, "kb_query_cache_hits_total") == service.queries.hits >= 1  # the repeated query
    assert sample(text, "kb_query_cache_misses_total") == service.queries.misses
    assert sample(text, "kb_index_info", build=service.index.build_id, model="fake-ngram-64") == 1
    assert sample(text, "kb_reloads_total", result="ok") == 0
    assert "# TYPE kb_rate_limited_total counter" in text
    assert "# TYPE kb_http_request_duration_seconds histogram" in text


def test_route_labels_are_templates_and_unknown_paths_share_one(client: TestClient) -> None:
    client.get("/articles/return-request")
    client.get("/articles/no-such-article")
    for i in range(20):
        assert client.get(f"/wp-admin/{i}.php").status_code == 404
    text = client.get("/metrics").text
    assert sample(text, "kb_http_requests_total", route="/articles/{article_id}", status="200") == 1
    assert sample(text, "kb_http_requests_total", route="/articles/{article_id}", status="404") == 1
    assert sample(text, "kb_http_requests_total", route="other", status="404") == 20
    assert "return-request" not in text and "wp-admin" not in text


def test_refused_requests_are_counted_under_their_route(client: TestClient) -> None:
    statuses = [client.get("/search", params={"q": "반품"}).status_code for _ in range(7)]
    assert statuses.count(429) == 2
    text = client.get("/metrics").text
    assert sample(text, "kb_rate_limited_total", route="/search") == 2
    assert sample(text, "kb_http_requests_total", route="/search", status="429") == 2


def test_reloads_are_counted_and_the_listener_leaves_with_the_app(small_settings: Settings,
                                                                  service: KBService) -> None:
    with TestClient(create_app(small_settings, service=service, watch=False)) as c:
        assert service.reload(force=True)
        for listener in list(service.reload_listeners):
            listener("error")  # what a failed reload tells the listeners
        text = c.get("/metrics").text
        assert sample(text, "kb_reloads_total", result="ok") == 1
        assert sample(text, "kb_reloads_total", result="error") == 1
        with TestClient(create_app(small_settings, service=service, watch=False)) as other:  # its own registry
            assert sample(other.get("/metrics").text, "kb_reloads_total", result="ok") == 0
    assert service.reload_listeners == []


@pytest.mark.parametrize("header", [None, "Bearer wrong", "bearer s3cret", "Bearer s3cret ", "s3cret",
                                    "Bearer 비밀".encode(), b"Bearer \xff\xfe", "Basic czNjcmV0"])
def test_the_metrics_key(small_settings: Settings, header: str | bytes | None) -> None:
    settings = replace(small_settings, metrics_key="s3cret")
    with TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False)) as c:
        r = c.get("/metrics", headers={"Authorization": header} if header is not None else {})
        assert r.status_code == 401, header
        assert r.json() == {"detail": "missing or wrong metrics key (Authorization: Bearer <key>)", "field": None}
        assert r.headers["www-authenticate"] == "Bearer"
        ok = c.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "kb_http_requests_total" in ok.text


def test_metrics_are_not_in_the_openapi_document(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
