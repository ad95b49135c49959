"""``/docs``: Swagger UI served by kb itself, from the Swagger UI 5 files that the installed ``fastapi-offline``
package ships (no CDN), under a CSP that allows only this origin's scripts, so the start-up script is a file too.

Not ``swagger-ui-bundle``: its newest release (1.1.0) holds Swagger UI 4.15, which cannot render an OpenAPI 3.1
document ("does not specify a valid version field"), and FastAPI writes 3.1. Only the static files of
``fastapi-offline`` are used, not its app factory (whose pages have inline scripts).

FastAPI's own ``/docs`` and ``/redoc`` load their scripts from a CDN; ``create_app`` turns them off and
includes this router. ``/openapi.json`` stays FastAPI's, with the answers the middleware gives (408, 413,
429) added to the operations they apply to, so clients and the fuzz test know about them.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, Response

from kb.app.assets import Asset, Assets
from kb.app.middleware import RATE_LIMITED
from kb.app.routes.pages import PAGE_HEADERS  # the pages' CSP: Swagger UI 5 renders under it (see docs_page)
from kb.app.schemas import ErrorOut

if TYPE_CHECKING:
    from fastapi import FastAPI

router = APIRouter(include_in_schema=False)

INIT_JS = """\
// Starts Swagger UI on this server's OpenAPI document. A file rather than an inline script, so the page's
// CSP can be script-src 'self'.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,  // never send the document to validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  });
});
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API</title>
<link rel="stylesheet" href="{root}/docs/swagger-ui.css">
<link rel="icon" href="{root}/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{root}/docs/swagger-ui-bundle.js"></script>
<script src="{root}/docs/swagger-ui-init.js"></script>
</body>
</html>
"""

BUNDLE_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")  # what the page loads from the package


def _files() -> dict[str, Asset]:
    """Swagger UI's files, read on the first /docs request (1.7 MB: not at start-up)."""
    from importlib import resources

    try:
        static = resources.files("fastapi_offline").joinpath("static")
    except ModuleNotFoundError:  # pragma: no cover - a dependency; the message says how to get it
        raise ImportError("/docs needs fastapi-offline: pip install 'fastapi-offline>=1.7,<2'") from None
    out = {name: Asset.of(name, static.joinpath(name).read_bytes()) for name in BUNDLE_FILES}
    out["swagger-ui-init.js"] = Asset.of("swagger-ui-init.js", INIT_JS.encode("utf-8"))
    return out


FILES = Assets(_files, what="docs file")


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    # under the pages' policy (kb.app.routes.pages.CSP): Swagger UI 5 renders without a violation (checked in
    # headless Chromium: it sets styles from script, which style-src does not govern; its icons are data: images)
    app = request.app
    root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
    page = PAGE.format(title=html.escape(app.title), root=root,
                       openapi=root + html.escape(app.openapi_url or "/openapi.json", quote=True))
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/docs/{name}")
def docs_file(name: str, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return FILES.response(name, if_none_match)


# --- the limits in the OpenAPI document ---------------------------------------------------------


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    if headers:
        out["headers"] = headers
    return out


def document_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Add 429 to the rate-limited operations and those that take a key, and 408/413 to those with a request
    body (in place)."""

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorOut", ErrorOut.model_json_schema())
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if (method.upper(), path) in RATE_LIMITED:
                responses.setdefault("429", _error("too many requests from this client", {
                    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}))
            if any(p.get("in") == "header" and str(p.get("name", "")).lower() == "authorization"
                   for p in operation.get("parameters", ())):  # a key: kb.app.auth's throttle on wrong keys
                responses.setdefault("429", _error("too many wrong keys from this client", {
                    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}))
            if "requestBody" in operation:
                responses.setdefault("408", _error("the request body did not arrive in time"))
                responses.setdefault("413", _error("the request body is too large"))
    return schema


def install(app: FastAPI) -> None:
    """Serve /docs from the bundle and document the middleware's answers in /openapi.json."""
    app.include_router(router)
    make_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:  # FastAPI builds it once and keeps it on the app
            document_limits(make_schema())
        return app.openapi_schema or make_schema()

    app.openapi = openapi  # type: ignore[method-assign]
