"""Client address, rate limits, body limit and read timeout, and the headers every response carries."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from kb.app.factory import create_app
from kb.app.middleware import client_address
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve

TRUSTED = ("10.0.0.0/8", "fd00::/8")


def scope(peer: str | None, *xff: str | bytes, trusted: tuple[str, ...] = TRUSTED) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", v if isinstance(v, bytes) else v.encode("latin-1")) for v in xff]
    return {"type": "http", "client": (peer, 1234) if peer else None, "headers": headers,
            "app": type("App", (), {"state": type("State", (), {"settings": Settings(trusted_proxies=trusted)})})}


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    ("1.2.3.4", (), "1.2.3.4"),
    ("1.2.3.4", ("6.6.6.6",), "1.2.3.4"),  # an untrusted peer's header is not believed
    ("10.0.0.5", ("1.2.3.4",), "1.2.3.4"),
    ("10.0.0.5", ("6.6.6.6, 1.2.3.4, 10.0.0.9",), "1.2.3.4"),  # right-most not-trusted; the left is the client's say
    ("10.0.0.5", ("6.6.6.6", "1.2.3.4"), "1.2.3.4"),  # several header lines are one list
    ("10.0.0.5", ("10.0.0.7, 10.1.1.1",), "10.0.0.7"),  # only proxies: the furthest one
    ("10.0.0.5", ("garbage, 1.2.3.4",), "1.2.3.4"),
    ("10.0.0.5", ("1.2.3.4, garbage",), "10.0.0.5"),  # garbage where the client should be: the peer
    ("10.0.0.5", ("",), "10.0.0.5"),
    ("10.0.0.5", (b"\xff\xfe\x00, ,,",), "10.0.0.5"),
    ("10.0.0.5", ("1.2.3.4:5678",), "1.2.3.4"),
    ("10.0.0.5", ("[2001:db8::1]:443",), "2001:db8::/64"),  # an IPv6 client is its /64: it holds all of it
    ("fd00::1", ("2001:db8::2",), "2001:db8::/64"),
    ("2001:db8:1:2:aaaa::7", (), "2001:db8:1:2::/64"),
    ("2001:db8:1:3::7", (), "2001:db8:1:3::/64"),
    ("::ffff:1.2.3.4", (), "1.2.3.4"),  # an IPv4 client on a dual-stack socket
    ("::ffff:10.0.0.5", ("1.2.3.4",), "1.2.3.4"),
    ("testclient", ("1.2.3.4",), "testclient"),
    (None, ("1.2.3.4",), "unknown"),
])
def test_client_address(peer: str | None, xff: tuple[str, ...], expected: str) -> None:
    assert client_address(scope(peer, *xff)) == expected
    assert client_address(HTTPConnection(scope(peer, *xff))) == expected  # a Request works the same


def test_an_ipv6_client_cannot_be_many_clients_by_changing_its_address(make_client: Callable[..., TestClient]) -> None:
    """One subscriber holds a whole /64: a fresh address per request gave a fresh search budget each time."""
    client = make_client(peer=("10.0.0.5", 50000), trusted_proxies=("10.0.0.0/8",), rate_search="2/minute")
    statuses = [client.get("/search", params={"q": "반품"}, headers={"X-Forwarded-For": f"2001:db8:7:7:{n:x}::1"})
                .status_code for n in range(4)]
    assert statuses == [200, 200, 429, 429]
    other = client.get("/search", params={"q": "반품"}, headers={"X-Forwarded-For": "2001:db8:7:8::1"})
    assert other.status_code == 200  # the next /64 is another subscriber


def test_client_address_without_trusted_proxies_ignores_the_header() -> None:
    assert client_address(scope("10.0.0.5", "1.2.3.4", trusted=())) == "10.0.0.5"
    assert client_address(scope("10.0.0.5", "1.2.3.4", trusted=()), trusted=("10.0.0.0/8",)) == "1.2.3.4"


# --- through the app ----------------------------------------------------------------------------


@pytest.fixture
def make_client(small_settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """``make_client(peer=..., **settings)``: a TestClient on the small index with those settings."""
    clients: list[TestClient] = []

    def make(peer: tuple[str, int] = ("testclient", 50000), **overrides: Any) -> TestClient:
        settings = replace(small_settings, **overrides)
        client = TestClient(create_app(settings, embedder=FakeEmbedder(), watch=False), client=peer)
        clients.append(client.__enter__())
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def assert_error_shape(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "field"} and body["field"] is None and body["detail"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    return body


def vote(client: TestClient, **headers: str) -> httpx.Response:
    return client.post("/feedback", json={"query": "반품", "article_id": "return-request", "helpful": True},
                       headers=headers)


def test_a_burst_of_300_votes_from_one_client_is_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client()  # the default rate_reports, 20/minute;200/day
    statuses = [vote(client).status_code for _ in range(300)]
    assert statuses[0] == 201
    assert set(statuses) <= {200, 201, 429} and statuses.count(429) >= 280
    r = vote(client)
    body = assert_error_shape(r, 429)
    assert "20 per 1 minute" in body["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # unanswered reports share the budget; other routes have none
    r = client.post("/unanswered", json={"query": "없는 질문", "kind": "none"})
    assert r.status_code == 429
    assert client.get("/health").status_code == 200
    # logged searches have the same limit in a budget of their own: searching never uses up a customer's votes
    log = {"query": "반품", "search_id": client.get("/search", params={"q": "반품"}).json()["search_id"]}
    statuses = [client.post("/searches", json=log).status_code for _ in range(25)]
    assert statuses[:20] == [201] + [409] * 19 and set(statuses[20:]) == {429}  # an id is logged once


def test_search_limit_is_per_client_behind_a_trusted_proxy(make_client: Callable[..., TestClient]) -> None:
    client = make_client(peer=("10.0.0.5", 4000), trusted_proxies=TRUSTED, rate_search="5/second;100/minute")
    a = {"X-Forwarded-For": "1.2.3.4"}
    got = [client.get("/search", params={"q": "반품"}, headers=a).status_code for _ in range(6)]
    assert got == [200] * 5 + [429]
    # another customer behind the same proxy has a budget of its own; a spoofed left part changes nothing
    assert client.get("/search", params={"q": "반품"}, headers={"X-Forwarded-For": "5.6.7.8"}).status_code == 200
    r = client.get("/search", params={"q": "반품"}, headers={"X-Forwarded-For": "9.9.9.9, 1.2.3.4"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert client.get("/suggest", params={"q": "반"}, headers=a).status_code == 200  # its own group


def test_the_search_limit_counts_work_not_requests(make_client: Callable[..., TestClient]) -> None:
    from kb.limits import MAX_QUERY_CHARS, search_cost

    assert [search_cost(q) for q in ("", "반품", "가" * 64, "가" * 65, "가" * 300, "가" * MAX_QUERY_CHARS)] == [
        1, 1, 1, 2, 4, 4]  # past what the search reads (kb.limits), a longer query costs no more
    client = make_client(peer=("10.0.0.5", 4000), trusted_proxies=TRUSTED, rate_search="8/second;100/minute")
    abuser, customer = {"X-Forwarded-For": "1.2.3.4"}, {"X-Forwarded-For": "5.6.7.8"}
    maximal = ("반품하고싶어요" * 80)[:MAX_QUERY_CHARS]
    got = [client.get("/search", params={"q": maximal}, headers=abuser).status_code for _ in range(3)]
    assert got == [200, 200, 429]  # 4 each: two fill the 8 of this second
    r = client.get("/search", params={"q": maximal}, headers=abuser)
    assert "8 per 1 second (a search of this length counts as 4)" in assert_error_shape(r, 429)["detail"]
    assert client.get("/search", params={"q": "반품"}, headers=abuser).status_code == 429  # the budget is shared
    got = [client.get("/search", params={"q": "반품"}, headers=customer).status_code for _ in range(9)]
    assert got == [200] * 8 + [429]
    # a cost above a whole window is charged as that window: a long query is never refused for good
    small = make_client(peer=("10.0.0.5", 4000), trusted_proxies=TRUSTED, rate_search="2/minute")
    assert small.get("/search", params={"q": maximal}, headers=abuser).status_code == 200
    assert small.get("/search", params={"q": "반품"}, headers=abuser).status_code == 429


def test_an_untrusted_peer_cannot_escape_its_limit_with_the_header(make_client: Callable[..., TestClient]) -> None:
    client = make_client(peer=("203.0.113.9", 4000), trusted_proxies=TRUSTED, rate_suggest="3/minute")
    got = [client.get("/suggest", params={"q": "배"}, headers={"X-Forwarded-For": f"1.2.3.{i}"}).status_code
           for i in range(5)]
    assert got == [200, 200, 200, 429, 429]


@pytest.mark.parametrize("xff", ["", ",,,", "not an ip", "1.2.3.4:99999", "[::1", "999.1.1.1", "a" * 5000,
                                 "1.2.3.4, ::ffff:zz", "\t1.2.3.4\t"])
def test_a_malformed_forwarded_header_never_fails(make_client: Callable[..., TestClient], xff: str) -> None:
    client = make_client(peer=("10.0.0.5", 4000), trusted_proxies=TRUSTED)
    assert client.get("/search", params={"q": "반품"}, headers={"X-Forwarded-For": xff}).status_code == 200
    assert vote(client, **{"X-Forwarded-For": xff}).status_code in (200, 201)


def test_a_body_over_the_limit_is_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    big = json.dumps({"query": "가" * 2000, "article_id": "return-request", "helpful": True}).encode()
    body = assert_error_shape(client.post("/feedback", content=big, headers={"Content-Type": "application/json"}),
                              413)
    assert "1000 bytes" in body["detail"]
    # chunked: no Content-Length, the bytes are counted as they come
    chunks = iter([big[:600], big[600:]])
    r = client.post("/feedback", content=chunks, headers={"Content-Type": "application/json"})
    assert_error_shape(r, 413)
    assert vote(client).status_code == 201  # a normal vote still goes through
    small = iter([b'{"query": "", "article_id": ', b'"return-request", "helpful": false}'])
    assert client.post("/feedback", content=small, headers={"Content-Type": "application/json"}).status_code in (
        200, 201)


def test_api_answers_are_not_cached_or_sniffed_and_pages_keep_their_headers(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for r in (client.get("/search", params={"q": "반품"}), client.get("/search"), client.get("/articles/nope"),
              client.get("/health"), client.get("/openapi.json"), client.get("/no/such/path")):
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["cache-control"] == "no-store", r.url
    page = client.get("/")
    assert page.headers["cache-control"] == "no-cache" and "script-src 'self'" in page.headers[
        "content-security-policy"]
    static = client.get("/static/kb.css")
    assert static.headers["cache-control"] == "no-cache" and static.headers["x-content-type-options"] == "nosniff"
    assert [v for k, v in static.headers.multi_items() if k == "cache-control"] == ["no-cache"]  # not doubled


# --- on a real socket ---------------------------------------------------------------------------


@pytest.fixture
def live(small_settings: Settings) -> Iterator[str]:
    settings = replace(small_settings, body_timeout=1.0, max_body_bytes=2000)
    with serve(create_app(settings, embedder=FakeEmbedder(), watch=False)) as base:
        yield base


def _raw(base: str, data: bytes, wait: float) -> tuple[bytes, float, bool]:
    """Send ``data`` on a new connection; return what came back, when it started, and whether it closed."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        started = time.monotonic()
        s.sendall(data)
        received = b""
        first = 0.0
        closed = False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                first = first or time.monotonic() - started
                received += chunk
        except TimeoutError:
            pass
    return received, first, closed


def test_a_half_sent_body_is_answered_408_and_the_connection_dropped(live: str) -> None:
    head = (b"POST /feedback HTTP/1.1\r\nHost: kb\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    received, first, closed = _raw(live, head + b'{"query": ', wait=5.0)
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert 0.9 <= first <= 2.5, first  # body_timeout is 1 s
    assert closed, "the connection must be closed after the 408"
    body = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert body["field"] is None and "1 seconds" in body["detail"]
    assert httpx.get(f"{live}/health", timeout=5).status_code == 200  # and the server carries on


def test_a_declared_oversized_body_is_refused_before_it_is_sent(live: str) -> None:
    head = (b"POST /unanswered HTTP/1.1\r\nHost: kb\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000\r\n\r\n")
    received, first, closed = _raw(live, head, wait=5.0)
    assert received.startswith(b"HTTP/1.1 413") and first < 1.0 and closed, received[:200]


# --- methods and redirects ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/search?q=%EB%B0%98%ED%92%88", "/suggest?q=%EB%B0%98", "/metrics", "/health", "/",
                                  "/articles/return-request", "/categories", "/openapi.json", "/static/kb.css"])
def test_every_get_route_answers_head_like_get_without_a_body(make_client: Callable[..., TestClient],
                                                              path: str) -> None:
    client = make_client()
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200, (path, head.status_code)
    assert head.content == b"" and get.content
    for name in ("content-type", "content-encoding"):  # the GET answer's headers, as sent
        assert head.headers.get(name) == get.headers.get(name), name
    assert int(head.headers["content-length"]) > 0  # the length of the body left out (searches, metrics vary)


def test_head_keeps_the_get_answers_errors_and_limits(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_search="2/minute")
    assert client.head("/articles/nope").status_code == 404
    assert client.head("/search").status_code == 422  # q is required, as for GET
    assert client.head("/search", params={"q": "반품"}).status_code == 200
    assert client.get("/search", params={"q": "반품"}).status_code == 429  # HEAD and GET share the budget


def test_options_lists_every_method_of_the_path(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_key="k" * 20)
    r = client.options("/admin/session")
    assert r.status_code == 204 and r.content == b""
    assert set(r.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "OPTIONS", "POST"}
    assert set(client.options("/search").headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert client.options("/no/such/path").status_code == 404


def test_a_method_the_path_lacks_is_405_with_the_whole_allow_list(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_key="k" * 20)
    body = assert_error_shape(client.put("/admin/session"), 405)
    assert "DELETE, GET, HEAD, OPTIONS, POST" in body["detail"]
    assert client.put("/admin/session").headers["allow"] == "DELETE, GET, HEAD, OPTIONS, POST"  # not only POST
    r = client.head("/feedback")  # POST only: no GET to answer HEAD with
    assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443", "testserver", "[::1]:1"])
def test_a_trailing_slash_redirect_is_relative_whatever_the_host(make_client: Callable[..., TestClient],
                                                                 host: str) -> None:
    r = make_client().get("/search/", params={"q": "a"}, headers={"Host": host}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/search?q=a"


def test_an_odd_host_on_a_real_socket_gets_a_relative_redirect_and_head_works(live: str) -> None:
    received, _, _ = _raw(live, b"GET /search/?q=a HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
                          wait=5.0)
    assert received.startswith(b"HTTP/1.1 307"), received[:200]
    assert b"\r\nlocation: /search?q=a\r\n" in received.lower()
    r = httpx.head(f"{live}/search", params={"q": "반품"}, timeout=5)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0
    assert httpx.get(f"{live}/health", timeout=5).status_code == 200  # the connection's framing held
