"""The database under kb's shared state: one interface, two engines (a SQLite file beside the builds,
:mod:`kb.feedback.sqlite`, or PostgreSQL shared by replicas, :mod:`kb.feedback.postgres`), each giving
transactions in portable SQL (``?`` placeholders), the pseudonymous client hash and a health probe.

The stores built on an engine each keep one kind of state: :class:`kb.feedback.store.FeedbackStore` (votes,
unanswered searches, the search log), :class:`kb.feedback.signins.SignIns` (editors' sign-outs),
:class:`kb.feedback.keyfails.KeyFailures` (wrong keys per client) and :class:`kb.feedback.fixjobs.FixJobs`
(one-click fix status).

Clients are pseudonymous: a salted hash of the address (the salt lives in the database, so every replica
hashes alike), never the address itself. Writes raise :class:`StoreUnavailable` while the database is
unusable (the API answers 503); reads degrade to nothing, the reason kept in :attr:`Engine.problem`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from kb.errors import KBError
from kb.limits import MAX_FEEDBACK_QUERY_CHARS
from kb.text.pii import scrub

log = logging.getLogger("kb.feedback")
T = TypeVar("T")


class StoreUnavailable(KBError):
    """The feedback store cannot be written now (database unreachable, disk full, ...)."""


def storable(text: str) -> str:
    """``text`` as both engines store it: no NUL (PostgreSQL refuses it), no lone surrogates (kept as it is
    otherwise)."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


def clean_text(text: str, limit: int = MAX_FEEDBACK_QUERY_CHARS) -> str:
    """Storable text with its whitespace collapsed, cut at ``limit``."""
    return " ".join(storable(text).split())[:limit]


def clean_query(text: str) -> str:
    """A customer's query as stored: cleaned, and personal data replaced by placeholders (:mod:`kb.text.pii`)."""
    return clean_text(scrub(clean_text(text, 4 * MAX_FEEDBACK_QUERY_CHARS)))


def json_list(items: tuple[str, ...]) -> str:
    return storable(json.dumps(list(items), ensure_ascii=False))  # readable Hangul; NUL comes out escaped


def now() -> tuple[str, str]:
    """(timestamp, day) in UTC, ISO 8601."""
    at = datetime.now(timezone.utc)
    return at.isoformat(timespec="seconds"), at.date().isoformat()


def since(days: int) -> str:
    """The first day (ISO 8601) of a window of the last ``days`` days."""
    return (datetime.now(timezone.utc).date() - timedelta(days=max(0, int(days)))).isoformat()


PROBE_EVERY = 5.0  # seconds between check()'s probes of a store that seems well


class Engine:
    """Connections and transactions; engines override :meth:`run` (and :meth:`sql` for their placeholders)."""

    dialect = ""

    def __init__(self) -> None:
        self.problem: str | None = None  # why the store is unusable right now, for /health (no paths)
        self._probing = threading.Lock()  # held while check()'s background probe runs
        self._probe_due = 0.0  # monotonic time of check()'s next probe while all seems well
        self._salt: str | None = None

    def describe(self) -> str:  # pragma: no cover - engines override
        raise NotImplementedError

    def run(self, work: Callable[[Any], T]) -> T:  # pragma: no cover - engines override
        """``work(connection)`` in one transaction; engine failures become :class:`StoreUnavailable`."""
        raise NotImplementedError

    def sql(self, sql: str) -> str:
        return sql

    def check(self) -> str | None:
        """Why the store is unusable (``None`` when it works), for ``/health``; answers at once.

        ``problem`` alone is only as fresh as the last request: a replica that nobody wrote to since the
        database came back would report it down for ever, and one started while it is away would say "ok"
        until its first write. So while there is a problem each call, and otherwise the first call and then
        one every :data:`PROBE_EVERY` seconds, starts a probe in the background (one at a time), and a later
        call sees its result: a readiness check never waits on a database that is away.
        """
        now = time.monotonic()
        if (self.problem is not None or now >= self._probe_due) and self._probing.acquire(blocking=False):
            self._probe_due = now + PROBE_EVERY
            threading.Thread(target=self._probe, name="kb-store-probe", daemon=True).start()
        return self.problem

    def _probe(self) -> None:
        try:
            self.run(lambda conn: conn.execute(self.sql("SELECT 1")).fetchone())
        except StoreUnavailable:
            pass
        finally:
            self._probing.release()

    def close(self) -> None:
        """Release connections (the engine can be used again afterwards)."""

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.run(lambda db: list(db.execute(self.sql(sql), params).fetchall()))

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a report, or none while the store is unusable (the reason is kept in ``problem``)."""
        try:
            return self.rows(sql, params)
        except StoreUnavailable:
            return []

    def client(self, db: Any, address: str) -> str:
        """The pseudonym of a client address: a salted hash, alike in every replica."""
        if self._salt is None:
            db.execute(self.sql("INSERT INTO kb_meta (key, value) VALUES ('salt', ?) ON CONFLICT (key) DO NOTHING"),
                       (secrets.token_hex(16),))
            self._salt = str(db.execute(self.sql("SELECT value FROM kb_meta WHERE key = 'salt'")).fetchone()[0])
        return hashlib.sha256(f"{self._salt}\x1f{address}".encode("utf-8", "replace")).hexdigest()[:20]

    def salt(self) -> str | None:
        """The database's salt (see :meth:`client`), read once per process: signed search ids
        (:mod:`kb.feedback.searchids`) are keyed with it too, so every replica signs and verifies alike. None while
        the store is unusable and it was never read (not asked again until the store works: a search never waits
        on a database that is away)."""
        if self._salt is None and self.problem is None:
            try:
                self.run(lambda db: self.client(db, ""))
            except StoreUnavailable:
                pass
        return self._salt


class OnEngine:
    """Base of the stores: one kind of state kept through a shared :class:`Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def problem(self) -> str | None:
        return self.engine.problem

    def check(self) -> str | None:
        return self.engine.check()

    def close(self) -> None:
        self.engine.close()

    def describe(self) -> str:
        return self.engine.describe()

    def _run(self, work: Callable[[Any], T]) -> T:
        return self.engine.run(work)

    def _sql(self, sql: str) -> str:
        return self.engine.sql(sql)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.engine.rows(sql, params)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.engine.read(sql, params)

    def _client(self, db: Any, address: str) -> str:
        return self.engine.client(db, address)
