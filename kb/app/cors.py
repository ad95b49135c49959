"""CORS for the public API only, so a shop's own site can run the search box (``/widget.js``) against kb.

Starlette's ``CORSMiddleware`` answers for every path; here only the routes a customer's browser needs get
CORS headers: the searches and their lookups (GET), votes, unanswered reports and settled searches (POST),
their preflights, and ``/widget.js`` itself (so a shop can load it with ``integrity=`` and ``crossorigin``).
The admin routes, ``/metrics``, ``/health`` and the pages never do, whatever the origin. An origin that is not in
``KB_CORS_ORIGINS`` gets no CORS headers at all (its preflight is refused with 403); ``*`` allows any origin.
No credentials: the widget sends no cookies and no keys, so ``Access-Control-Allow-Credentials`` is never set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kb.app.middleware import send_error

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# path -> methods a page on another origin may use there (HEAD rides along with GET)
PUBLIC: Mapping[str, frozenset[str]] = {
    "/search": frozenset({"GET", "HEAD"}),
    "/suggest": frozenset({"GET", "HEAD"}),
    "/popular": frozenset({"GET", "HEAD"}),
    "/categories": frozenset({"GET", "HEAD"}),
    "/feedback": frozenset({"POST"}),
    "/unanswered": frozenset({"POST"}),
    "/searches": frozenset({"POST"}),
    "/signals": frozenset({"POST"}),
    "/widget.js": frozenset({"GET", "HEAD"}),
}
ARTICLE_PREFIX = "/articles/"  # GET /articles/{id}
ALLOWED_HEADERS = ("content-type", "accept")  # a JSON body; nothing that carries a secret
EXPOSED_HEADERS = ("retry-after",)  # so the widget can tell a rate-limited customer when to try again
MAX_AGE = "600"  # seconds a browser may reuse a preflight


def public_methods(path: str) -> frozenset[str] | None:
    """The methods another origin may use on ``path``, or ``None`` when the path is not public."""
    if path in PUBLIC:
        return PUBLIC[path]
    if path.startswith(ARTICLE_PREFIX) and "/" not in path[len(ARTICLE_PREFIX):] and len(path) > len(ARTICLE_PREFIX):
        return frozenset({"GET", "HEAD"})
    return None


class PublicCORS:
    """Pure ASGI: preflights on public paths are answered here; other answers get the headers on the way out."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _allow_origin(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [(b"access-control-allow-origin", b"*" if self.any_origin else origin.encode("latin-1"))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = public_methods(scope["path"]) if scope["type"] == "http" and self.origins else None
        if methods is None:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        wanted = _header(scope, b"access-control-request-method")
        if origin is not None and scope["method"] == "OPTIONS" and wanted is not None:
            await self._preflight(scope, send, origin, wanted.upper(), methods)
            return
        extra: list[tuple[bytes, bytes]] = []
        if not self.any_origin:
            # the answer depends on the Origin header: a cache (widget.js is cacheable) keeps one copy per origin
            extra.append((b"vary", b"Origin"))
        if origin is not None and self._allowed(origin):
            extra += [*self._allow_origin(origin),
                      (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())]
        # an origin not in the list is served as anyone is: the browser keeps the answer from its page

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str, wanted: str, methods: frozenset[str]) -> None:
        if not self._allowed(origin):
            await send_error(send, 403, f"origin {origin} may not call this API from a browser (KB_CORS_ORIGINS)")
            return
        if wanted not in methods:
            await send_error(send, 405, f"{wanted} is not allowed on {scope['path']}")
            return
        asked = _header(scope, b"access-control-request-headers") or ""
        refused = [h for h in (x.strip().lower() for x in asked.split(",")) if h and h not in ALLOWED_HEADERS]
        if refused:
            await send_error(send, 400, f"header(s) not allowed from another origin: {', '.join(refused)}")
            return
        headers: list[Any] = [
            *self._allow_origin(origin), *([] if self.any_origin else [(b"vary", b"Origin")]),
            (b"access-control-allow-methods", ", ".join(sorted(methods)).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None
