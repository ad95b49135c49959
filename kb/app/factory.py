"""The HTTP API (FastAPI). ``create_app(settings)`` builds it; the model and index load once, in the lifespan.

Routes live in one router module per resource: :mod:`kb.app.routes.search` (search, articles, categories),
:mod:`kb.app.routes.admin`, :mod:`kb.app.routes.health`, :mod:`kb.app.metrics` (``/metrics``), :mod:`kb.app.docs`
(``/docs``), and the pages' :mod:`kb.app.routes.pages`. What every request passes first (rate limits, body limit,
headers, request metrics) is in :mod:`kb.app.middleware`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from kb import __version__
from kb.app import docs, errors
from kb.app.cors import PublicCORS
from kb.app.metrics import HTTPMetrics, Metrics
from kb.app.metrics import router as metrics_router
from kb.app.middleware import BodyLimit, RateLimit, SecurityHeaders
from kb.app.routes import admin, fixes, health, insight, learned, public, search, session, signals
from kb.app.routes.pages import router as web_router
from kb.app.routes.widget import router as widget_router
from kb.app.routing import Methods, RelativeRedirects
from kb.app.service import KBService, Watcher
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.model.embed import Embedder

# below this a response goes as it is: compressing it saves less than it costs (a gzip header, the CPU)
GZIP_MIN_BYTES = 1000


def create_app(
    settings: Settings, *, embedder: Embedder | None = None, service: KBService | None = None,
    watch: bool = True,
) -> FastAPI:
    """Build the app. Pass ``embedder`` (or a ready ``service``) to skip loading the real model (tests)."""
    metrics = Metrics()  # one registry per app: several apps live in one test process

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service
        if svc is None:
            from kb.model.embed import load_embedder

            svc = KBService(settings, embedder if embedder is not None else load_embedder(settings))
        app.state.kb = svc
        metrics.attach(svc)
        watcher = Watcher(svc) if watch else None
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            metrics.detach(svc)  # a service handed in may outlive this app
            if service is None:
                svc.close()

    app = FastAPI(
        title="kb: help-center search", version=__version__, lifespan=lifespan,
        description="FAQ semantic search for a Korean (and multilingual) customer help center.",
        docs_url=None, redoc_url=None,  # FastAPI's pages load scripts from a CDN: kb.app.docs serves its own
    )
    app.state.settings = settings
    app.state.metrics = metrics
    errors.install(app)
    for router in (health.router, search.router, public.router, admin.router, metrics_router, web_router):
        app.include_router(router)
    app.include_router(widget_router)  # /widget.js: the search box for a shop's own pages
    app.include_router(signals.router)  # evidence for learning
    for router in (session.router, insight.router, fixes.router, learned.router):  # /admin
        app.include_router(router)
    docs.install(app)
    # the last added runs first: count everything, then headers on every answer, then refuse early
    # (rate limit before reading a body), then read and bound the body, then HEAD/OPTIONS/Allow for every
    # route and same-host redirects made relative (a forged Host must not pick the target)
    # compression innermost: what a route answers (HTML, JS, CSS, JSON over GZIP_MIN_BYTES; kb.css 20 KB -> 5 KB),
    # never images or an event stream (Starlette leaves those alone)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=6)
    app.add_middleware(RelativeRedirects)
    app.add_middleware(Methods, router=app.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    app.add_middleware(RateLimit, settings=settings, metrics=metrics)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PublicCORS, origins=settings.cors_origins)  # KB_CORS_ORIGINS, on the public API only
    app.add_middleware(HTTPMetrics, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``kb serve --workers N`` process, from the ``KB_*`` environment."""

    return create_app(Settings.from_env())
