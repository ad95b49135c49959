"""One error shape for every route: ``{"detail": reason, "field": name | null}``.

Validation errors never echo the input (a 50 MB query, or text that cannot even be encoded, must not come
back): only the reason and the field's name. A route that names the client's value in its reason (``no article
with id ...``) shows it through :func:`shown`: a short, escaped prefix. Every handler also bounds the detail
(:data:`MAX_DETAIL`), so no error path can hand a long input back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb.app.schemas import ErrorOut
from kb.app.service import SearchUnavailable

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "unusable input"}}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not signed in (no, expired or forged session cookie; no admin key)"},
    404: {"model": ErrorOut, "description": "admin routes are off (no KB_ADMIN_KEY)"},
    **ERROR_RESPONSES,
}
ADMIN_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ADMIN_RESPONSES, 403: {"model": ErrorOut, "description": "missing or wrong X-CSRF-Token"}}


class InputError(Exception):
    """A request value kb cannot use (empty query, too long, ...): answered 422 with the field named."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


MAX_SHOWN = 40  # characters of a client's value an error detail may show
MAX_DETAIL = 300  # characters of any error detail (ours are shorter; this bounds what a message may carry along)


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """A client's value as an error detail may show it: quoted, escaped (control and unencodable characters
    as ``\\x..``), at most ``limit`` characters of it, and its length when it was cut."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def _bounded(detail: str) -> str:
    return detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL - 1] + "…"


def _safe(text: str, limit: int = 80) -> str:
    """Printable, encodable and short (a field name can come from the client's JSON keys)."""
    text = text[:limit]
    if text.isprintable():
        return text
    return repr(text)[1:-1]  # escaped: a control character or a lone surrogate would garble logs and terminals


def _validation_reason(err: dict[str, Any]) -> tuple[str | None, str]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = _safe(".".join(loc)) if loc else None
    name = field or "the value"
    kind, ctx, value = err.get("type"), err.get("ctx") or {}, err.get("input")
    if kind == "json_invalid":
        return None, "the body is not valid JSON"
    if kind == "missing":
        return field, f"{name} is required"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return field, f"{name} is empty"
    if kind == "string_too_long" and isinstance(value, str):
        return field, f"{name} is {len(value)} characters long; the limit is {ctx.get('max_length')}"
    msg = _safe(str(err.get("msg", "invalid value")), 200)
    return field, (f"{field}: {msg}" if field else msg)


def install(app: FastAPI) -> None:
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        field, reason = _validation_reason(errors[0]) if errors else (None, "invalid request")
        return JSONResponse(status_code=422, content={"detail": _bounded(reason), "field": field})

    async def on_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        return JSONResponse(status_code=422, content={"detail": _bounded(exc.reason), "field": exc.field})

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not JSON text (e.g. not UTF-8): one shape, a documented 422
            return JSONResponse(status_code=422, content={"detail": "the body is not valid JSON text (UTF-8)",
                                                          "field": "body"})
        if exc.status_code in (204, 304):
            return await http_exception_handler(request, exc)
        detail = _bounded(exc.detail) if isinstance(exc.detail, str) else exc.detail
        return JSONResponse(status_code=exc.status_code, content={"detail": detail, "field": None},
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(StarletteHTTPException, on_http)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:  # a damaged build, never a 500
        return JSONResponse(status_code=503, content={"detail": str(exc), "field": None}, headers={"Retry-After": "5"})

    app.add_exception_handler(SearchUnavailable, on_unavailable)
