"""Prometheus metrics: one registry per app (tests run several apps in one process), served at ``/metrics``.

- ``kb_http_requests_total{route,status}`` and ``kb_http_request_duration_seconds{route}``: every request,
  labelled by its route's path template (``/articles/{article_id}``); paths that match no route share
  the label ``other``, so a scanner cannot grow the label set.
- ``kb_search_requests_total{decision}`` and ``kb_search_latency_seconds``: recorded by ``/search``.
- ``kb_rate_limited_total{route}``: requests refused with 429.
- ``kb_reloads_total{result}``: reload attempts (``ok`` / ``error``), from the service's reload listeners.
- ``kb_query_cache_hits_total`` / ``kb_query_cache_misses_total`` and ``kb_index_info{build,model}``:
  read from the service when scraped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kb.app.auth import checked_key

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from kb.app.service import KBService

OTHER_ROUTE = "other"  # the label of every path that matches no route
DECISIONS = ("answer", "suggest", "none")
RELOAD_RESULTS = ("ok", "error")
# queries take ~30 ms with the real model (README, Speed); the buckets resolve that range and its tail
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)

router = APIRouter()


class _ServiceCollector(Collector):
    """Values the service already counts, read at scrape time (nothing to keep in step)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        # the names, so the registry can refuse duplicates without calling collect() before start-up
        yield CounterMetricFamily("kb_query_cache_hits", "queries answered from the query-vector cache")
        yield CounterMetricFamily("kb_query_cache_misses", "queries that needed the model")
        yield GaugeMetricFamily("kb_index_info", "the serving build and its model (value 1)")

    def collect(self) -> Iterator[Metric]:
        svc = self.metrics.service
        if svc is None:  # before the lifespan loaded the index
            return
        yield CounterMetricFamily("kb_query_cache_hits", "queries answered from the query-vector cache",
                                  value=svc.queries.hits)
        yield CounterMetricFamily("kb_query_cache_misses", "queries that needed the model",
                                  value=svc.queries.misses)
        info = GaugeMetricFamily("kb_index_info", "the serving build and its model (value 1)",
                                 labels=["build", "model"])
        index = svc.index
        info.add_metric([index.build_id, index.model_id], 1)
        yield info


class Metrics:
    """The app's registry and its metrics; ``attach`` it to the service once that is loaded."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.service: KBService | None = None
        r = self.registry
        self.http_requests = Counter("kb_http_requests", "HTTP requests by route template and status",
                                     ["route", "status"], registry=r)
        self.http_latency = Histogram("kb_http_request_duration_seconds", "time to answer, by route template",
                                      ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.search_requests = Counter("kb_search_requests", "searches answered, by decision", ["decision"],
                                       registry=r)
        self.search_latency = Histogram("kb_search_latency_seconds", "time to answer a search",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.rate_limited = Counter("kb_rate_limited", "requests refused with 429, by route", ["route"], registry=r)
        self.reloads = Counter("kb_reloads", "index reload attempts, by result", ["result"], registry=r)
        for decision in DECISIONS:  # present from the start at 0, so rates work before the first one
            self.search_requests.labels(decision)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        r.register(_ServiceCollector(self))

    def attach(self, service: KBService) -> None:
        self.service = service
        service.reload_listeners.append(self.on_reload)

    def detach(self, service: KBService) -> None:
        if self.on_reload in service.reload_listeners:
            service.reload_listeners.remove(self.on_reload)
        self.service = None

    def on_reload(self, result: str) -> None:
        self.reloads.labels(result if result in RELOAD_RESULTS else "error").inc()

    def record_search(self, decision: str, seconds: float) -> None:
        self.search_requests.labels(decision if decision in DECISIONS else "none").inc()
        self.search_latency.observe(seconds)


def record_search(request: Request, decision: str, seconds: float) -> None:
    """Count one answered search (called by the ``/search`` route)."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.record_search(decision, seconds)


def route_templates(routes: Iterable[Any]) -> list[tuple[re.Pattern[str], str]]:
    """Every route's path pattern and template, included routers' routes too (kb mounts none with a prefix)."""
    out: list[tuple[re.Pattern[str], str]] = []
    for route in routes:
        path, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
        if isinstance(path, str) and regex is not None:
            out.append((regex, path))
        inner = getattr(route, "original_router", None) or getattr(route, "app", None)
        if inner is not None and inner is not route and hasattr(inner, "routes"):
            out += route_templates(inner.routes)
    return out


def route_label(scope: Scope, templates: Sequence[tuple[re.Pattern[str], str]] = ()) -> str:
    """The path template of the route that handled (or would handle) this request, else ``other``.

    Routing sets ``scope["route"]``; requests answered before routing (429, 413, 408) have none, so their
    path is matched against ``templates``: a refused search still counts under ``/search``.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return next((template for regex, template in templates if regex.match(scope.get("path", ""))), OTHER_ROUTE)


class HTTPMetrics:
    """Counts every HTTP request by route template and status, and times it (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.templates: list[tuple[re.Pattern[str], str]] | None = None  # read from the app on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app raises before it starts a response
        started = time.perf_counter()

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            if self.templates is None:
                self.templates = route_templates(getattr(scope.get("app"), "routes", ()))
            route = route_label(scope, self.templates)
            self.metrics.http_requests.labels(route, str(status)).inc()
            self.metrics.http_latency.labels(route).observe(time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format; behind ``Authorization: Bearer <KB_METRICS_KEY>`` when that is set (wrong keys
    are throttled, :mod:`kb.app.auth`)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    key = request.app.state.settings.metrics_key
    # the header's bytes as sent (nothing stripped); a wrong key counts with the admin and agent keys
    sent = next((bytes(v) for n, v in request.scope.get("headers", ()) if n == b"authorization"), b"")
    if key and not checked_key(request, sent[7:] if sent.startswith(b"Bearer ") else None, key):
        body: dict[str, Any] = {"detail": "missing or wrong metrics key (Authorization: Bearer <key>)",
                                "field": None}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
