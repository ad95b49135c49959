"""The one static-file server (kb.app.assets) and what is served with it: the pages' /static files, /docs files
and /widget.js, the widget put together from the shared search box and its own part."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest
from fastapi import FastAPI, Header
from fastapi.responses import Response
from fastapi.testclient import TestClient

from kb.app.assets import Asset, Assets, matches, media_type
from kb.app.factory import create_app
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


def static_text(name: str) -> str:
    return resources.files("kb.app").joinpath("static", name).read_text(encoding="utf-8")


# --- the pieces ----------------------------------------------------------------------------------


def test_media_types_and_etags() -> None:
    assert media_type("a.js") == "text/javascript; charset=utf-8"
    assert media_type("a.css") == "text/css; charset=utf-8"
    assert media_type("a.svg") == "image/svg+xml; charset=utf-8"
    assert media_type("a.png") == "image/png"
    assert media_type("noext") == "application/octet-stream"
    one, same, other = Asset.of("a.js", b"1"), Asset.of("b.js", b"1"), Asset.of("a.js", b"2")
    assert one.etag == same.etag != other.etag  # from the bytes, not the name
    assert one.etag.startswith('"') and one.etag.endswith('"')


def test_if_none_match() -> None:
    tag = '"abc"'
    assert matches('"abc"', tag)
    assert matches('"x", "abc"', tag) and matches('"x","abc"', tag)  # a list
    assert matches('W/"abc"', tag)  # If-None-Match compares weakly
    assert matches("*", tag)
    assert not matches(None, tag) and not matches("", tag) and not matches('"abcd"', tag)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, list[int]]]:
    loads: list[int] = []

    def load() -> dict[str, Asset]:
        loads.append(1)
        return {"a.css": Asset.of("a.css", b"body {}")}

    files = Assets(load, what="test file", cache_control="public, max-age=60", headers={"X-Extra": "1"})
    app = FastAPI()

    @app.get("/f/{name}")
    def get(name: str, if_none_match: str | None = Header(default=None)) -> Response:
        return files.response(name, if_none_match)

    assert loads == []  # nothing is read before it is asked for
    with TestClient(app) as client:
        yield client, loads


def test_a_file_then_304_while_it_is_unchanged(served: tuple[TestClient, list[int]]) -> None:
    client, loads = served
    r = client.get("/f/a.css")
    assert r.status_code == 200 and r.content == b"body {}"
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-extra"] == "1"
    etag = r.headers["etag"]
    again = client.get("/f/a.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "public, max-age=60"
    assert client.get("/f/a.css", headers={"If-None-Match": '"old"'}).status_code == 200
    missing = client.get("/f/b.css")
    assert missing.status_code == 404 and "no test file 'b.css'" in missing.text
    assert loads == [1]  # read once


def test_version_follows_the_files() -> None:
    files = {"a.js": Asset.of("a.js", b"1")}
    before = Assets(lambda: files).version()
    assert Assets(lambda: dict(files)).version() == before
    assert Assets(lambda: {**files, "a.js": Asset.of("a.js", b"2")}).version() != before
    assert Assets(lambda: {**files, "b.js": Asset.of("b.js", b"1")}).version() != before


# --- the three places that serve files -------------------------------------------------------------


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False)) as c:
        yield c


@pytest.mark.parametrize("url", ["/static/searchbox.js", "/static/kb.css", "/docs/swagger-ui.css", "/widget.js"])
def test_every_place_answers_304_to_its_etag(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200 and r.content
    assert r.headers["x-content-type-options"] == "nosniff"
    again = client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == r.headers["etag"]


def test_the_pages_load_the_shared_search_box_first(client: TestClient) -> None:
    for page in ("/", "/agent"):
        html = client.get(page).text
        shared, common = html.index("/static/searchbox.js?v="), html.index("/static/common.js?v=")
        assert shared < common  # common.js builds on it
    assert "var kbSearchBox" in client.get("/static/searchbox.js").text


def test_the_widget_is_one_script_with_the_shared_search_box_once(client: TestClient) -> None:
    body = client.get("/widget.js").text
    shared, own = static_text("searchbox.js"), static_text("widget.js")
    assert body.count(shared) == 1
    assert body.count("var kbSearchBox") == 1 and body.count("function searchBox(") == 1
    head, _, tail = own.partition("/*@kb-strings*/{}")
    assert body.count(head) == 1 and body.count(tail) == 1  # its own part, the strings written in between
    assert body.index(shared) < body.index(head)
    # one function around both: a shop's page gets window.kbSearch and no other global
    assert body.startswith("(function () {\n") and body.rstrip().endswith("})();")


def test_the_widget_etag_is_the_served_scripts(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.headers["etag"] == Asset.of("widget.js", r.content).etag
    assert client.get("/widget.js").content == r.content
