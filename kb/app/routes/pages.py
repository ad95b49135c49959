"""The help-center page and the agent view (their JSON routes: :mod:`kb.app.routes.public`); the pages'
templates (``render_page``: ``static/templates/base.html`` and each page's blocks in it) and their ``/static``
files."""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from kb.app import identity
from kb.app.assets import Asset, Assets, folder, matches
from kb.app.deps import ServiceDep
from kb.app.i18n import STRINGS, choose_lang
from kb.articles.site import LOGO_TYPES, Site
from kb.limits import (
    MAX_FEEDBACK_QUERY_CHARS,
)

# Pages load only their own files; article HTML is already escaped server-side, and this makes
# sure that even a slip there could not run a script or load anything from elsewhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# a logo file a shop put in its articles folder: an image, never a document that runs anything
LOGO_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400"}
PAGE_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

if TYPE_CHECKING:
    from kb.app.service import KBService

router = APIRouter()


STATIC = Assets(lambda: folder(resources.files("kb.app").joinpath("static")), what="static file")
"""Every top-level file of ``kb/app/static``, read once (they ship inside the package)."""


@lru_cache(maxsize=8)
def _template(name: str) -> str:
    # kept under static/ so the package-data glob that ships the assets ships the pages too;
    # /static serves only the top-level files, never these
    return resources.files("kb.app").joinpath("static", "templates", name).read_text(encoding="utf-8")


_SLOT = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
_EXTENDS = re.compile(r'\A\s*\{%\s*extends\s+"([\w.-]+)"\s*%\}')
# a block alone on its line takes the line with it when it comes out empty
_BLOCK = re.compile(r"(^[ \t]*)?\{%\s*block\s+(\w+)\s*%\}(.*?)\{%\s*endblock\s*%\}([ \t]*\n)?", re.S | re.M)


@lru_cache(maxsize=8)
def compose(name: str) -> str:
    """A page's template: the file itself, or, for one that starts ``{% extends "base.html" %}``, that base with
    each ``{% block x %}default{% endblock %}`` of the base replaced by the page's block ``x`` (its default where
    the page has none; a base may place one block in several spots). A page holds nothing but its blocks."""
    text = _template(name)
    base = _EXTENDS.match(text)
    if base is None:
        return text
    own = {m.group(2): m.group(3).strip("\n") for m in _BLOCK.finditer(text, base.end())}
    rest = _BLOCK.sub("", text[base.end():]).strip()
    frame = compose(base.group(1))
    unknown = set(own) - {m.group(2) for m in _BLOCK.finditer(frame)}
    if rest or unknown:
        raise ValueError(f"template {name}: text outside blocks ({rest[:40]!r}) or blocks {base.group(1)} "
                         f"does not have: {sorted(unknown)}")

    def fill(m: re.Match[str]) -> str:
        indent, key, default, newline = m.group(1) or "", m.group(2), m.group(3), m.group(4) or ""
        body = own.get(key, default)
        if not body and m.group(1) is not None and newline:
            return ""
        return indent + body + newline

    return _BLOCK.sub(fill, frame)


def render_page(name: str, lang: str, extra: dict[str, str] | None = None, *, site: Site | None = None,
                build: str = "") -> str:
    """The page ``name`` (:func:`compose`) with its ``{{name}}`` slots filled from the strings table (escaped)
    and the shop's identity (``site``, the serving build's, whose id is ``build``; neutral words without one);
    ``i18n_json`` is the table for scripts, ``v`` the version of the static files, ``extra`` more values."""
    site = (site or Site()).for_locale(lang)
    strings = {**STRINGS[lang], **identity.page_strings(site, lang)}
    raw = {
        "lang": lang,
        "v": STATIC.version(),
        # JSON inside <script type="application/json">: escape "<" so no "</script>" can end it early
        "i18n_json": json.dumps(strings, ensure_ascii=False).replace("<", "\\u003c"),
        "brand_mark": identity.brand_mark(site, build),
        "contact_channels": identity.channels_html(site, lang),
        "inquiry_hidden": "" if site.contact.email else " hidden",  # the form mails the shop: no address, no form
        "site_css": (f'<link rel="stylesheet" href="/site.css?lang={lang}&amp;v={build}">'
                     if site.brand_color else ""),
    }
    values = {"session": "", **(extra or {})}  # /admin's route says whether a session cookie came (admin.js)

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in raw:
            return raw[key]
        if key in values:
            return html.escape(values[key], quote=True)
        if key in strings:
            return html.escape(strings[key], quote=True)
        raise KeyError(f"template {name} uses unknown slot {key!r}")

    return _SLOT.sub(fill, compose(name))


def page_response(name: str, request: Request, lang: str, extra: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page in ``lang`` as the serving build's site shows it, with the pages' headers (and ``headers``)."""
    svc: KBService | None = getattr(request.app.state, "kb", None)
    site = svc.site if svc is not None else Site()
    build = svc.index.build_id if svc is not None else ""
    csp = CSP.replace("img-src 'self' data:", "img-src " + identity.image_sources(site.for_locale(lang)))
    return HTMLResponse(render_page(name, lang, extra, site=site, build=build), headers={
        **PAGE_HEADERS, "Content-Security-Policy": csp, "Content-Language": lang, "Vary": "Accept-Language",
        **(headers or {})})


def _page(name: str, request: Request, lang: str | None, accept_language: str | None) -> HTMLResponse:
    q = " ".join(request.query_params.get("q", "").split())[:MAX_FEEDBACK_QUERY_CHARS]
    return page_response(name, request, choose_lang(lang, accept_language), {"q": q})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def help_page(request: Request, lang: str | None = None,
              accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    return _page("index.html", request, lang, accept_language)


@router.get("/agent", response_class=HTMLResponse, include_in_schema=False)
def agent_page(request: Request, lang: str | None = None,
               accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    return _page("agent.html", request, lang, accept_language)


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return STATIC.response(name, if_none_match)


@router.get("/site.css", include_in_schema=False)
def site_css(svc: ServiceDep, lang: str | None = None,
             if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The shop's brand colour as kb.css's variables (:func:`kb.app.identity.site_css`); empty without one."""
    site = svc.site.for_locale(choose_lang(lang, None))
    asset = Asset.of("site.css", identity.site_css(site).encode("utf-8"))
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if matches(if_none_match, asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/site/{name}", include_in_schema=False)
def site_logo(name: str, svc: ServiceDep) -> Response:
    """The shop's logo image, the serving build's copy (``logo:`` in ``articles/_site.yml``)."""
    path = svc.logo_path(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no site file {name!r}")
    try:
        body = path.read_bytes()
    except OSError:  # the build was removed meanwhile (a newer one serves)
        raise HTTPException(status_code=404, detail=f"no site file {name!r}") from None
    return Response(body, media_type=LOGO_TYPES[path.suffix.lower()], headers=LOGO_HEADERS)
