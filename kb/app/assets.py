"""Files served from memory: the pages' ``/static/*`` (:mod:`kb.app.routes.pages`), Swagger UI's ``/docs/*``
(:mod:`kb.app.docs`) and ``/widget.js`` (:mod:`kb.app.routes.widget`).

An :class:`Assets` holds name -> :class:`Asset` (bytes, media type, ETag), made on the first request that needs
one (Swagger UI is 1.7 MB: not at start-up); :meth:`Assets.response` answers a request for one, ``304 Not
Modified`` when the browser already holds that version (``If-None-Match``).
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.responses import Response

from kb.app.errors import shown

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11

# served as text with their charset; RFC 9239: text/javascript is the one JavaScript type
_TEXT = ("application/javascript", "application/json", "image/svg+xml")


def media_type(name: str) -> str:
    """The Content-Type for a file name (UTF-8 for text)."""
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media == "application/javascript":
        media = "text/javascript"
    if media.startswith("text/") or media in _TEXT:
        media += "; charset=utf-8"
    return media


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, name: str, body: bytes) -> Asset:
        """A file's bytes, typed by its name; the ETag is a hash of the bytes, so it changes when they do."""
        return cls(body, media_type(name), '"' + hashlib.sha256(body).hexdigest()[:16] + '"')


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (a list, ``*``, weak ``W/`` tags: RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in (t.removeprefix("W/") for t in tags)


def folder(files: Traversable) -> dict[str, Asset]:
    """The top-level files of a package folder (not its subfolders, not hidden files)."""
    return {item.name: Asset.of(item.name, item.read_bytes()) for item in files.iterdir()
            if item.is_file() and not item.name.startswith(".")}


class Assets:
    """Files by name, made once by ``load`` (on first use), each answered with its ETag and these headers.

    ``cache_control``: ``no-cache`` (the default) makes browsers ask again each time, answered by a 304 while
    the file is unchanged; pages link their files with ``?v=`` (:meth:`version`), so a new kb is seen at once.
    """

    def __init__(self, load: Callable[[], Mapping[str, Asset]], *, what: str = "file",
                 cache_control: str = "no-cache", headers: Mapping[str, str] | None = None) -> None:
        self._load = load
        self._files: Mapping[str, Asset] | None = None
        self._lock = threading.Lock()
        self.what = what  # for the 404's message: "no {what} 'x.js'"
        self.headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff", **(headers or {})}

    @property
    def files(self) -> Mapping[str, Asset]:
        if self._files is None:
            with self._lock:
                if self._files is None:
                    self._files = dict(self._load())
        return self._files

    def get(self, name: str) -> Asset | None:
        return self.files.get(name)

    def version(self) -> str:
        """A short hash of every file: changes when any of them does (for ``?v=`` in links)."""
        h = hashlib.sha256()
        for name, asset in sorted(self.files.items()):
            h.update(name.encode() + asset.etag.encode())
        return h.hexdigest()[:10]

    def response(self, name: str, if_none_match: str | None = None) -> Response:
        """The file, or 304 when ``If-None-Match`` names its ETag; 404 for a name that is not one of them."""
        asset = self.get(name)
        if asset is None:
            raise HTTPException(status_code=404, detail=f"no {self.what} {shown(name)}")
        headers = {"ETag": asset.etag, **self.headers}
        if matches(if_none_match, asset.etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
