"""``/docs`` from the installed Swagger UI files under a strict CSP, and the limits in ``/openapi.json``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.settings import Settings
from tests.support.chromium import chrome
from tests.support.fakes import FakeEmbedder
from tests.support.live import serve


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(small_settings, embedder=FakeEmbedder(), watch=False)) as c:
        yield c


def test_docs_page_loads_only_its_own_files(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, flags=re.S)
    assert scripts and all('src="/docs/' in attrs and not body.strip() for attrs, body in scripts)  # no inline
    assert "http" not in r.text.lower().replace("http-equiv", "")  # no CDN, no absolute URL
    assert 'data-openapi="/openapi.json"' in r.text
    for url in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_docs_files_come_from_the_installed_package(client: TestClient) -> None:
    from importlib import resources

    r = client.get("/docs/swagger-ui-bundle.js")
    assert r.content == resources.files("fastapi_offline").joinpath("static", "swagger-ui-bundle.js").read_bytes()
    assert r.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert client.get("/docs/swagger-ui-bundle.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    init = client.get("/docs/swagger-ui-init.js").text
    assert "SwaggerUIBundle(" in init and "validatorUrl: null" in init
    assert client.get("/docs/index.j2").status_code == 404  # only the listed files
    assert client.get("/docs/..%2Fswagger-ui-bundle.js").status_code == 404


def test_no_cdn_pages_left(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


def test_openapi_documents_the_limits(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in (("/search", "get"), ("/suggest", "get"), ("/feedback", "post"), ("/unanswered", "post")):
        answer = paths[path][method]["responses"]["429"]
        assert "Retry-After" in answer["headers"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    for path in ("/feedback", "/unanswered"):
        assert {"408", "413"} <= set(paths[path]["post"]["responses"])
    assert "429" not in paths["/health"]["get"]["responses"] and "413" not in paths["/search"]["get"]["responses"]
    assert "ErrorOut" in doc["components"]["schemas"]
    assert not any(p.startswith("/docs") for p in paths)
    assert client.get("/openapi.json").json() == doc  # built once, not amended twice


@pytest.mark.slow  # starts Chromium (skips without it, fails under CI: tests/chromium.py)
def test_docs_render_in_a_browser_without_csp_violations(small_settings: Settings) -> None:
    """Swagger UI must show every operation of the OpenAPI 3.1 document under the page's CSP."""
    app = create_app(small_settings, embedder=FakeEmbedder(), watch=False)
    with serve(app) as base, chrome() as browser:
        browser.get(f"{base}/docs")
        expected = len([op for ops in app.openapi()["paths"].values() for op in ops])
        deadline = time.monotonic() + 20
        while len(browser.find_elements("css selector", ".opblock")) < expected:
            assert time.monotonic() < deadline, browser.find_element("tag name", "body").text[:500]
            time.sleep(0.2)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
