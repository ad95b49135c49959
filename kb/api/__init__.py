"""The HTTP API (FastAPI). ``create_app(settings)`` builds it; the model and index load once, in the lifespan.

Routes live in one router module per resource: :mod:`kb.api.search` (search, articles, categories),
:mod:`kb.api.admin`, :mod:`kb.api.health`, and the pages' :mod:`kb.web.routes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from kb import __version__

if TYPE_CHECKING:
    from kb.embed import Embedder
    from kb.service import KBService
    from kb.settings import Settings


def create_app(
    settings: Settings, *, embedder: Embedder | None = None, service: KBService | None = None,
    watch: bool = True,
) -> FastAPI:
    """Build the app. Pass ``embedder`` (or a ready ``service``) to skip loading the real model (tests)."""
    from kb.api import admin, errors, health, search
    from kb.web import router as web_router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kb.service import KBService, Watcher

        svc = service
        if svc is None:
            from kb.embed import load_embedder

            svc = KBService(settings, embedder if embedder is not None else load_embedder(settings))
        app.state.kb = svc
        watcher = Watcher(svc) if watch else None
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()

    app = FastAPI(
        title="kb: help-center search", version=__version__, lifespan=lifespan,
        description="FAQ semantic search for a Korean (and multilingual) customer help center.",
    )
    app.state.settings = settings
    errors.install(app)
    for router in (health.router, search.router, admin.router, web_router):
        app.include_router(router)
    return app
