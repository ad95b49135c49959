"""Signed search ids: what the server decided for a search, so that the search log (the insight page's chart, the
gap report's low-confidence searches) holds the server's decisions, never a page's word.

``/search`` returns an id: the decision, the top article, the confidence, the time and a nonce, signed with
HMAC-SHA256 over them and the normalised query. ``POST /searches`` sends the id back with the query; the server takes
the decision, article and confidence from the verified id, refuses a forged, altered or expired one, and logs each id
once (its nonce is kept in ``search_ids`` until it expires, in the same transaction as the search).

The key is derived from the feedback database's salt (created once, the one client hashes use: every replica that
shares the database signs and verifies alike, with nothing to configure); a distinct derivation keeps the ids and
the client hashes independent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.errors import KBError
from kb.feedback.engine import StoreUnavailable
from kb.feedback.store import DECISIONS
from kb.limits import MAX_ARTICLE_ID_CHARS

if TYPE_CHECKING:
    from kb.feedback.engine import Engine

TTL = 15 * 60  # seconds an id may be logged after its search: the page logs it within seconds (3 s settle)
SKEW = 60  # seconds an id may come from the future: replicas' clocks differ a little
ID_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"  # base64url payload, a dot, base64url MAC
MAX_ID_CHARS = 400  # far above a real id (~130 characters): anything longer is refused before it is decoded
_CONTEXT = b"kb search id v1"


class BadSearchId(KBError):
    """A search id that was not issued by this store for this query, or has expired."""


@dataclass(frozen=True)
class Decided:
    """What the server decided for a search, as its id says."""

    decision: str  # answer | suggest | none
    top_article: str | None
    confidence: float
    issued: int  # Unix time of the search
    nonce: str

    @property
    def expires(self) -> int:
        return self.issued + TTL


def normalise(query: str) -> str:
    """The query as signed: whitespace collapsed (what ``/search`` and ``POST /searches`` both see)."""
    return " ".join(query.split())


def _key(engine: Engine) -> bytes | None:
    salt = engine.salt()
    return None if salt is None else hmac.new(salt.encode(), _CONTEXT, hashlib.sha256).digest()


def _mac(key: bytes, payload: bytes, query: str) -> bytes:
    return hmac.new(key, payload + b"\x1f" + normalise(query).encode("utf-8", "replace"), hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)  # strict: no stray bytes


def issue(engine: Engine, query: str, decision: str, top_article: str | None, confidence: float,
          at: float | None = None) -> str | None:
    """A signed id for a search that got ``decision`` (None while the store is unusable and its key unknown: such a
    search cannot be logged, as nothing can be then)."""
    key = _key(engine)
    if key is None:
        return None
    confidence = min(max(float(confidence), 0.0), 1.0) if confidence == confidence else 0.0
    payload = json.dumps({"d": decision, "a": top_article, "c": round(confidence, 4),
                          "t": int(time.time() if at is None else at), "n": secrets.token_hex(8)},
                         separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(key, payload, query))}"


def verify(engine: Engine, token: str, query: str, at: float | None = None) -> Decided:
    """What the server decided for ``query``, from its id; raises :class:`BadSearchId` for an id this store did not
    issue for this query (forged, altered, for another query, malformed) or one older than :data:`TTL`, and
    :class:`~kb.feedback.engine.StoreUnavailable` while the key cannot be read."""
    key = _key(engine)
    if key is None:
        raise StoreUnavailable(engine.problem or "the feedback store is unavailable")
    payload_text, _, mac_text = token.partition(".")
    try:
        if len(token) > MAX_ID_CHARS or not payload_text or not mac_text:
            raise ValueError
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise BadSearchId("search_id is malformed: send the search_id /search returned") from None
    if not hmac.compare_digest(mac, _mac(key, payload, query)):
        raise BadSearchId("search_id was not issued for this query: send the search_id /search returned with it")
    fields = json.loads(payload)  # signed by this store: well formed
    decided = Decided(str(fields["d"]), fields["a"], float(fields["c"]), int(fields["t"]), str(fields["n"]))
    now = time.time() if at is None else at
    if decided.decision not in DECISIONS or (decided.top_article is not None
                                              and len(str(decided.top_article)) > MAX_ARTICLE_ID_CHARS):
        raise BadSearchId("search_id is malformed: send the search_id /search returned")
    if decided.issued > now + SKEW or now - decided.issued > TTL:
        raise BadSearchId(f"search_id has expired (a search is logged within {TTL // 60} minutes): search again")
    return decided
