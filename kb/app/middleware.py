"""What a public endpoint needs before any route runs: who the client is, per-client rate limits, a bounded
request body that must arrive in time, and the headers every response carries (HEAD, OPTIONS, the 405's ``Allow``
and relative redirects: :mod:`kb.app.routing`).

All of it is pure ASGI (no ``BaseHTTPMiddleware``): nothing is buffered but the small bodies that are
checked, and the answers (408, 413, 429) are sent before the app is called, in the one error shape
``{"detail": reason, "field": null}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection

from kb.limits import search_cost

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from kb.app.metrics import Metrics
    from kb.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# (method, path) -> (limit group, Settings field); votes and unanswered reports share one budget
RATE_LIMITED: Mapping[tuple[str, str], tuple[str, str]] = {
    ("GET", "/search"): ("search", "rate_search"),
    ("HEAD", "/search"): ("search", "rate_search"),
    ("GET", "/suggest"): ("suggest", "rate_suggest"),
    ("HEAD", "/suggest"): ("suggest", "rate_suggest"),
    ("POST", "/feedback"): ("reports", "rate_reports"),
    ("POST", "/unanswered"): ("reports", "rate_reports"),
    ("POST", "/searches"): ("searches", "rate_reports"),  # same limit, its own budget: searching never uses up votes
    ("POST", "/signals"): ("signals", "rate_reports"),  # evidence for learning: the same limit, its own budget
}


# --- who is asking ------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _parse_ip(text: str) -> Address | None:
    """An address from a peer or an X-Forwarded-For item; tolerates ``1.2.3.4:567`` and ``[::1]:567``."""
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port (IPv6 has at least two colons)
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # an IPv4 client seen through a dual-stack socket is the same client as over IPv4
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Address | None, networks: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip.version == n.version and ip in n for n in networks)


def _who(ip: Address) -> str:
    """A client's identity: its IPv4 address, or its IPv6 /64 network."""
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def client_address(request_or_scope: HTTPConnection | Scope, trusted: tuple[str, ...] | None = None) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy.

    ``trusted`` defaults to the app's ``settings.trusted_proxies``. Never raises: a malformed header
    falls back to the peer (the proxy that sent it), since a client cannot choose that one. An IPv6 client is
    its /64 network (``2001:db8:1:2::/64``): one subscriber gets a whole /64 and can pick any address in it, so
    per-client budgets, key throttles and "one client counts once" would otherwise be 2^64 clients.
    """
    scope: Scope = request_or_scope.scope if isinstance(request_or_scope, HTTPConnection) else request_or_scope
    client = scope.get("client")
    peer_text = str(client[0]) if client else "unknown"
    if trusted is None:
        app = scope.get("app")
        settings = getattr(getattr(app, "state", None), "settings", None)
        trusted = tuple(getattr(settings, "trusted_proxies", ()) or ())
    peer = _parse_ip(peer_text)
    networks = _networks(trusted) if trusted else ()
    if not _trusted(peer, networks):
        return _who(peer) if peer is not None else peer_text
    # every X-Forwarded-For line, in order; each proxy appends the address it saw on the right
    hops = [item for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
            for item in value.decode("latin-1").split(",")]
    furthest: Address | None = peer
    for item in reversed(hops):
        ip = _parse_ip(item)
        if ip is None:
            break  # garbage where the client's address should be: do not believe anything further left
        if not _trusted(ip, networks):
            return _who(ip)
        furthest = ip
    # only proxies (a request from inside), or a malformed hop: the furthest proxy we can vouch for
    return _who(furthest) if furthest is not None else peer_text


# --- answers sent before the app runs -----------------------------------------------------------


async def send_error(send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
    """Answer ``status`` with the one error shape (``field`` is null: these are about the whole request)."""
    body = json.dumps({"detail": detail, "field": None}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


# --- body size and read timeout -----------------------------------------------------------------


class BodyLimit:
    """Reads a request body before the app does: at most ``max_bytes`` (413), within ``timeout`` seconds
    of the request's start (408), then hands it on in one piece.

    The bodies kb accepts (votes, reports) are tiny, so reading them up front costs nothing and means a
    client that sends half a body is answered and disconnected, instead of holding a route until it gives up.
    Requests without a body (no Content-Length, no Transfer-Encoding) pass straight through.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length_header = _header(scope, b"content-length")
        if length_header is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)
            return
        if length_header is not None:
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if length < 0:
                await send_error(send, 400, "the Content-Length header is not a number", {"connection": "close"})
                return
            if length > self.max_bytes:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                # `connection: close` makes the server drop the connection once this is sent
                await send_error(send, 408, f"the request body did not arrive within {self.timeout:g} seconds",
                                 {"connection": "close"})
                return
            if message["type"] == "http.disconnect":
                return  # the client left: there is nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:  # a chunked body (or one longer than it said) that goes over
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, f"the request body is larger than {self.max_bytes} bytes",
                         {"connection": "close"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then waits on the real one (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- rate limits --------------------------------------------------------------------------------


class RateLimit:
    """Per-client moving-window limits (the ``limits`` package, in memory: one budget per process).

    A request is counted (a search by its work: :func:`kb.limits.search_cost`) only when it passes every window
    of its group, so a client refused by the per-minute window does not also use up its per-second budget.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings, metrics: Metrics | None = None) -> None:
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.app = app
        self.metrics = metrics
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.groups = {group: tuple(parse_many(getattr(settings, field)))
                       for group, field in RATE_LIMITED.values()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in RATE_LIMITED:
            await self.app(scope, receive, send)
            return
        group, _ = RATE_LIMITED[(scope["method"], scope["path"])]
        client = client_address(scope)
        items = self.groups[group]
        cost = 1 if group != "search" else search_cost(next(
            (v for k, v in parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")) if k == "q"), ""))
        refused = next((i for i in items if not self.limiter.test(i, group, client, cost=min(cost, i.amount))), None)
        if refused is None:
            for item in items:
                self.limiter.hit(item, group, client, cost=min(cost, item.amount))
            await self.app(scope, receive, send)
            return
        reset = self.limiter.get_window_stats(refused, group, client)[0]  # WindowStats.reset_time
        retry = max(1, math.ceil(reset - time.time()))
        if self.metrics is not None:
            self.metrics.rate_limited.labels(scope["path"]).inc()
        counted = f" (a search of this length counts as {cost})" if cost > 1 else ""
        await send_error(send, 429, f"too many requests: the limit is {refused}{counted}; try again in {retry} s",
                         {"retry-after": str(retry)})


# --- headers on every response ------------------------------------------------------------------


class SecurityHeaders:
    """``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` on every response that does
    not set its own (the pages and static files do: theirs are kept).

    API answers are per-query and per-moment (votes, health), so no cache should keep them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", ()))
                names = {bytes(k).lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
