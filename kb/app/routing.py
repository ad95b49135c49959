"""What routing leaves undone: ``HEAD`` on every ``GET`` route, ``OPTIONS`` and a complete ``Allow`` on every
path, and redirects that never name a host the client made up. Pure ASGI, like :mod:`kb.app.middleware`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kb.app.middleware import send_error

if TYPE_CHECKING:
    from starlette.routing import Router
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


# --- methods: HEAD, OPTIONS and a complete Allow --------------------------------------------------


class Methods:
    """``HEAD`` on every ``GET`` route (the ``GET`` answer, its body left out), ``OPTIONS`` on every route (204
    with ``Allow``), and a 405 whose ``Allow`` lists every method of the path.

    FastAPI makes one route per method and adds no ``HEAD``; Starlette's 405 then names only the first route's
    method. Monitors and caches probe with ``HEAD``, and RFC 9110 wants the full list in ``Allow``.
    """

    def __init__(self, app: ASGIApp, *, router: Router) -> None:
        self.app = app
        self.router = router
        self.routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None  # read on first use

    def allowed(self, scope: Scope) -> frozenset[str]:
        """The methods of the routes whose path matches, with HEAD for GET (empty: no route has this path)."""
        if self.routes is None:  # routes are all added by the time the first request comes
            self.routes = _route_methods(self.router.routes)
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        methods = {m for regex, route_methods in self.routes if regex.match(path) for m in route_methods}
        if "GET" in methods:
            methods.add("HEAD")
        return frozenset(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        allowed = self.allowed(scope)
        if not allowed:  # no such path: 404, or the trailing-slash redirect
            await self.app(scope, receive, send)
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        if method == "OPTIONS":
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(b"allow", allow.encode("ascii")), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
        elif method not in allowed:
            await send_error(send, 405, f"this method is not allowed here; the path allows {allow}", {"allow": allow})
        elif method == "HEAD" and "GET" in allowed:
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        else:
            await self.app(scope, receive, send)


def _route_methods(routes: Iterable[Any]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each route's path pattern and methods, the routes of included routers too (FastAPI nests them)."""
    out: list[tuple[re.Pattern[str], frozenset[str]]] = []
    for route in routes:
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and methods:
            out.append((regex, frozenset(methods)))
        inner = getattr(route, "original_router", None)
        if inner is not None and hasattr(inner, "routes"):
            out += _route_methods(inner.routes)
    return out


def _without_body(send: Send) -> Send:
    """The answer's status and headers (Content-Length included, as RFC 9110 allows for HEAD), no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return send_head


# --- redirects ----------------------------------------------------------------------------------


class RelativeRedirects:
    """Makes a redirect to this same host relative (``Location: /search?q=a``).

    Starlette's trailing-slash redirect (``/search/`` -> ``/search``) builds an absolute URL from the request's
    ``Host`` header, so a forged ``Host: evil.example`` sent a client (or a cache in front) to another site.
    A relative ``Location`` resolves against the address the client really used.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= int(message["status"]) < 400:
                headers = [(k, _relative(scope, v) if bytes(k).lower() == b"location" else v)
                           for k, v in message.get("headers", ())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_relative)


def _relative(scope: Scope, location: bytes) -> bytes:
    from urllib.parse import urlsplit, urlunsplit

    from starlette.datastructures import URL

    parts = urlsplit(bytes(location).decode("latin-1"))
    if not parts.netloc or parts.netloc != URL(scope=scope).netloc:
        return bytes(location)  # already relative, or another site on purpose
    path = "/" + parts.path.lstrip("/")  # never `//host`: that would be another site again
    return urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")
