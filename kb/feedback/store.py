"""What customers tell editors: "was this helpful?" votes and searches that found no answer.

One interface, two engines (:func:`open_store`): a SQLite file beside the index builds (the embedded
default, nothing to install) or PostgreSQL (``KB_DATABASE_URL=postgresql://...``), which several
``kb serve`` replicas share. The schema is versioned (:mod:`kb.feedback.store.schema`) and migrated at start.

Clients are pseudonymous: a salted hash of the address (the salt lives in the database, so every replica
hashes alike), never the address itself. One client counts once per article (votes) or query (reports)
per day, and every report ranks by distinct clients: a thousand votes from one client weigh one.

Reads degrade (zero counts, the reason in :attr:`FeedbackStore.problem`, shown by ``/health``) when the
store is unusable; writes raise :class:`StoreUnavailable` (the API answers 503). A corrupt SQLite file is
set aside and recreated.

The store also keeps the status of the editors' one-click fixes (:mod:`kb.feedback.fixes`): any replica answers for a
fix another one started, and the database lets one fix at a time run, whichever replica or worker asks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from kb.errors import KBError

if TYPE_CHECKING:
    pass

FILENAME = "feedback.sqlite"
MAX_QUERY_CHARS = 1000
UNANSWERED_KINDS = ("none", "contact")  # none: the page settled on no good answer; contact: then contacted support

log = logging.getLogger("kb.feedback.store")
T = TypeVar("T")


class StoreUnavailable(KBError):
    """The feedback store cannot be written now (database unreachable, disk full, ...)."""


@dataclass(frozen=True)
class Popular:
    """An article and its votes (distinct clients), for the "popular questions" list."""

    article_id: str
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class ArticleVotes:
    """An article customers voted "not helpful", with the queries they had typed: what editors fix first."""

    article_id: str
    helpful: int
    not_helpful: int
    queries: tuple[str, ...]  # distinct queries of the "not helpful" votes, most recent first


@dataclass(frozen=True)
class Unanswered:
    """A query customers searched without finding an answer: a missing article, or a missing question."""

    query: str
    none: int  # distinct clients for whom the page settled on "no good answer"
    contact: int  # distinct clients who then filled in the contact form
    last: str  # when it last happened (UTC, ISO 8601)


def _storable(text: str) -> str:
    """``text`` as both engines store it: no NUL (PostgreSQL refuses it), no lone surrogates (kept as it is
    otherwise)."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


def clean_text(text: str, limit: int = MAX_QUERY_CHARS) -> str:
    """Storable text with its whitespace collapsed, cut at ``limit``."""
    return " ".join(_storable(text).split())[:limit]


def clean_query(text: str) -> str:
    """A customer's query as stored: cleaned, and personal data replaced by placeholders (:mod:`kb.text.pii`)."""
    from kb.text.pii import scrub

    return clean_text(scrub(clean_text(text, 4 * MAX_QUERY_CHARS)))


DECISIONS = ("answer", "suggest", "none")
LOW_CONFIDENCE = 0.5  # a settled search below this confidence counts as a gap even when something was shown


@dataclass(frozen=True)
class DaySearches:
    """Searches of one day (distinct client and query), by decision."""

    day: str
    answer: int
    suggest: int
    none: int


@dataclass(frozen=True)
class TopQuery:
    query: str
    clients: int
    decision: str  # the decision most of its searches got


@dataclass(frozen=True)
class GapQuery:
    """A query customers did not get a good answer for: its distinct clients, and why it counts as a gap."""

    query: str
    clients: int
    sources: tuple[str, ...]  # unanswered | low_confidence | not_helpful
    top_article: str | None  # the article shown first, when one was


FIX_STATES = ("starting", "running", "built", "failed")  # starting: the edit is being written (not shown)
FIX_TIMEOUT = 30 * 60.0  # seconds a fix may hold the articles folder; then its process is taken for dead
START_TIMEOUT = 60.0  # seconds a fix may spend writing its edit (milliseconds, normally)
FIXES_KEPT = 50  # the newest fixes' statuses are kept; older ones are deleted when a fix starts


@dataclass(frozen=True)
class FixStatus:
    """Where a fix is: running, built (live), or failed (with lint's or the content tests' messages)."""

    id: str
    kind: str  # add_question | new_article
    article_id: str
    file: str  # relative to the articles folder
    added: tuple[str, ...]
    state: str = "running"  # running | built | failed (starting: inside the store only)
    messages: tuple[str, ...] = ()
    reverted: bool = False
    started: float = field(default_factory=time.time)  # Unix time
    finished: float | None = None

    @property
    def busy(self) -> bool:
        """Whether the fix holds the articles folder (one fix at a time does)."""
        return self.state in ("starting", "running")


def _json_list(items: tuple[str, ...]) -> str:
    return _storable(json.dumps(list(items), ensure_ascii=False))  # readable Hangul; NUL comes out escaped


def _timeout(state: str) -> float:
    return START_TIMEOUT if state == "starting" else FIX_TIMEOUT


def _timed_out_messages(state: str) -> tuple[str, ...]:
    what = "write its edit" if state == "starting" else "finish its build"
    return (f"the fix did not {what} within {_timeout(state) / 60:g} min: the server process running it "
            "probably stopped. Check the article file, then run `kb build --check` or start the fix again",)


def _now() -> tuple[str, str]:
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="seconds"), now.date().isoformat()


class FeedbackStore:
    """The store's logic in portable SQL (``?`` placeholders); engines provide connections and migrations."""

    dialect = ""

    def __init__(self) -> None:
        self.problem: str | None = None  # why the store is unusable right now, for /health (no paths)
        self._probing = threading.Lock()  # held while check()'s background probe runs
        self._salt: str | None = None

    # -- engine hooks -------------------------------------------------------------------------------

    def _run(self, work: Callable[[Any], T]) -> T:  # pragma: no cover - engines override
        """``work(connection)`` in one transaction; engine failures become :class:`StoreUnavailable`."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def check(self) -> str | None:
        """Why the store is unusable (``None`` when it works), for ``/health``; answers at once.

        ``problem`` alone is only as fresh as the last request: a replica that nobody wrote to since the
        database came back would report it down for ever. So while there is a problem, each call starts a
        probe in the background (one at a time; a probe that fails clears nothing), and a later call sees
        its result: a readiness check never waits on a database that is away.
        """
        if self.problem is not None and self._probing.acquire(blocking=False):
            threading.Thread(target=self._probe, name="kb-store-probe", daemon=True).start()
        return self.problem

    def _probe(self) -> None:
        try:
            self._run(lambda conn: conn.execute(self._sql("SELECT 1")).fetchone())
        except StoreUnavailable:
            pass
        finally:
            self._probing.release()

    def close(self) -> None:
        """Release connections (the store can be used again afterwards)."""

    # -- plumbing -----------------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda db: list(db.execute(self._sql(sql), params).fetchall()))

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a report, or none while the store is unusable (the reason is kept in ``problem``)."""
        try:
            return self._rows(sql, params)
        except StoreUnavailable:
            return []

    def _client(self, db: Any, address: str) -> str:
        if self._salt is None:
            db.execute(self._sql("INSERT INTO kb_meta (key, value) VALUES ('salt', ?) ON CONFLICT (key) DO NOTHING"),
                       (secrets.token_hex(16),))
            self._salt = str(db.execute(self._sql("SELECT value FROM kb_meta WHERE key = 'salt'")).fetchone()[0])
        return hashlib.sha256(f"{self._salt}\x1f{address}".encode("utf-8", "replace")).hexdigest()[:20]

    # -- writes -------------------------------------------------------------------------------------

    def add(self, query: str, article_id: str, helpful: bool, client: str = "") -> int:
        """Record a vote; a client's later vote on the same article the same day replaces its earlier one."""
        created, day = _now()

        def work(db: Any) -> int:
            return int(db.execute(self._sql(
                "INSERT INTO votes (created, day, client, query, article_id, helpful) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (day, client, article_id) DO UPDATE SET created = excluded.created, "
                "query = excluded.query, helpful = excluded.helpful RETURNING id"),
                (created, day, self._client(db, client), clean_query(query), clean_text(article_id, 200),
                 1 if helpful else 0)).fetchone()[0])

        return self._run(work)

    def add_unanswered(self, query: str, kind: str, client: str = "") -> int:
        """Record a search that found no answer (``kind``: none | contact), once per client, query and day."""
        if kind not in UNANSWERED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(UNANSWERED_KINDS)}, got {kind!r}")
        created, day = _now()

        def work(db: Any) -> int:
            return int(db.execute(self._sql(
                "INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (day, client, query, kind) DO UPDATE SET created = excluded.created RETURNING id"),
                (created, day, self._client(db, client), clean_query(query), kind)).fetchone()[0])

        return self._run(work)

    def add_search(self, query: str, decision: str, top_article: str | None, confidence: float, locale: str,
                   client: str = "") -> int:
        """Log a settled search (once per client, query and day: the latest decision kept)."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if not confidence == confidence or not 0.0 <= confidence <= 1.0:  # NaN or out of range
            raise ValueError("confidence must be between 0 and 1")
        created, day = _now()

        def work(db: Any) -> int:
            return int(db.execute(self._sql(
                "INSERT INTO searches (created, day, client, locale, query, decision, top_article, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, client, query) DO UPDATE SET "
                "created = excluded.created, decision = excluded.decision, top_article = excluded.top_article, "
                "confidence = excluded.confidence, locale = excluded.locale RETURNING id"),
                (created, day, self._client(db, client), clean_text(locale, 16) or "-", clean_query(query), decision,
                 clean_text(top_article, 200) if top_article else None, float(confidence))).fetchone()[0])

        return self._run(work)

    def prune(self, days: int) -> int:
        """Delete logged searches and unanswered reports older than ``days`` days; return how many went."""
        cutoff = _since(days)

        def work(db: Any) -> int:
            gone = 0
            for table in ("searches", "unanswered"):
                gone += max(0, db.execute(self._sql(f"DELETE FROM {table} WHERE day < ?"), (cutoff,)).rowcount)
            return gone

        return self._run(work)

    # -- the editors' sign-in state, shared by replicas ---------------------------------------------

    def sign_out(self, nonce: str, expires: int) -> None:
        """Refuse an admin session from now on, in every replica (kept until it would have expired)."""
        now = int(time.time())

        def work(db: Any) -> None:
            db.execute(self._sql("DELETE FROM admin_signouts WHERE expires <= ?"), (now,))
            db.execute(self._sql("INSERT INTO admin_signouts (nonce, expires) VALUES (?, ?) "
                                 "ON CONFLICT (nonce) DO NOTHING"), (clean_text(nonce, 100), int(expires)))

        self._run(work)

    def signed_out(self, nonce: str) -> bool:
        """Whether any replica signed this session out (False while the store is unusable)."""
        return bool(self._read("SELECT 1 FROM admin_signouts WHERE nonce = ? AND expires > ?",
                               (clean_text(nonce, 100), int(time.time()))))

    def sign_in_failed(self, client: str, window: float) -> None:
        """Count a wrong admin key from ``client``; forget those older than ``window`` seconds."""
        now = time.time()

        def work(db: Any) -> None:
            db.execute(self._sql("DELETE FROM admin_failures WHERE at < ?"), (now - window,))
            db.execute(self._sql("INSERT INTO admin_failures (client, at) VALUES (?, ?)"),
                       (self._client(db, client), now))

        self._run(work)

    def sign_in_failures(self, client: str, window: float) -> int:
        """Wrong admin keys from ``client`` in the last ``window`` seconds, in every replica."""
        def work(db: Any) -> int:
            return int(db.execute(self._sql("SELECT COUNT(*) FROM admin_failures WHERE client = ? AND at >= ?"),
                                  (self._client(db, client), time.time() - window)).fetchone()[0])

        return self._run(work)

    # -- one-click fixes ----------------------------------------------------------------------------

    _FIX_COLUMNS = "kind, article_id, file, added, state, messages, reverted, started, finished, busy"

    def _fix_values(self, s: FixStatus) -> tuple[Any, ...]:
        if s.state not in FIX_STATES:
            raise ValueError(f"state must be one of {', '.join(FIX_STATES)}, got {s.state!r}")
        return (_storable(s.kind), _storable(s.article_id), _storable(s.file), _json_list(s.added), s.state,
                _json_list(s.messages), 1 if s.reverted else 0, float(s.started),
                None if s.finished is None else float(s.finished), 1 if s.busy else None)

    def add_fix(self, status: FixStatus) -> bool:
        """Record a fix that takes the articles folder (state ``starting`` or ``running``); False, and nothing
        recorded, while another fix holds it, in this process or any other on the same database.

        In the same transaction, fixes whose process died (holding the folder past their timeout) are marked
        failed, and only the newest :data:`FIXES_KEPT` fixes are kept."""
        if not status.busy:
            raise ValueError("a new fix is starting or running")
        now = time.time()

        def work(db: Any) -> bool:
            for state in ("starting", "running"):
                db.execute(self._sql("UPDATE fixes SET state = 'failed', busy = NULL, finished = ?, messages = ? "
                                     "WHERE busy = 1 AND state = ? AND started < ?"),
                           (now, _json_list(_timed_out_messages(state)), state,
                            now - _timeout(state)))
            # the unique `busy` column refuses a second fix: the database decides, whoever asks at the same time
            row = db.execute(self._sql(f"INSERT INTO fixes (job, {self._FIX_COLUMNS}) VALUES "
                                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"),
                             (_storable(status.id), *self._fix_values(status))).fetchone()
            if row is None:
                return False
            db.execute(self._sql("DELETE FROM fixes WHERE busy IS NULL AND id NOT IN "
                                 "(SELECT id FROM fixes ORDER BY id DESC LIMIT ?)"), (FIXES_KEPT,))
            return True

        return self._run(work)

    def update_fix(self, status: FixStatus) -> bool:
        """Write a fix's new status; False when there is no such fix. A built or failed fix lets go of the
        articles folder; one still holding it is updated only while the folder is its own (not timed out)."""
        sql = (f"UPDATE fixes SET ({self._FIX_COLUMNS}) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE job = ?"
               + (" AND busy = 1" if status.busy else ""))
        values = (*self._fix_values(status), status.id)
        return self._run(lambda db: bool(db.execute(self._sql(sql), values).rowcount > 0))

    def discard_fix(self, job_id: str) -> None:
        """Forget a fix that never wrote its edit (it was refused), letting go of the articles folder."""
        self._run(lambda db: db.execute(self._sql("DELETE FROM fixes WHERE job = ? AND state = 'starting'"),
                                        (job_id,)))

    def _last_fix(self, where: str, params: tuple[Any, ...] = ()) -> FixStatus | None:
        rows = self._rows(f"SELECT job, {self._FIX_COLUMNS} FROM fixes WHERE {where} ORDER BY id DESC LIMIT 1",
                          params)
        if not rows:
            return None
        job, kind, article_id, file, added, state, messages, reverted, started, finished, _ = rows[0]
        status = FixStatus(str(job), str(kind), str(article_id), str(file), tuple(json.loads(added)), str(state),
                           tuple(json.loads(messages)), bool(reverted), float(started),
                           None if finished is None else float(finished))
        if status.busy and time.time() - status.started > _timeout(status.state):
            # its process died: failed, whether the next fix to start has written that down yet or not
            status = replace(status, state="failed", messages=_timed_out_messages(status.state),
                             finished=status.started + _timeout(status.state))
        return status

    def fix(self, job_id: str) -> FixStatus | None:
        """The fix ``job_id`` (None when unknown, or long gone); raises :class:`StoreUnavailable`."""
        return self._last_fix("job = ?", (job_id,))

    def running_fix(self) -> FixStatus | None:
        """The fix holding the articles folder now, if any (one that timed out holds nothing)."""
        status = self._last_fix("busy = 1")
        return status if status is not None and status.busy else None

    def latest_fix(self) -> FixStatus | None:
        """The newest fix that wrote its edit, for the insight page (None while the store is unusable)."""
        try:
            return self._last_fix("state <> 'starting'")
        except StoreUnavailable:
            return None

    # -- reports ------------------------------------------------------------------------------------

    _HELPFUL = "COUNT(DISTINCT CASE WHEN helpful = 1 THEN client END)"
    _UNHELPFUL = "COUNT(DISTINCT CASE WHEN helpful = 0 THEN client END)"

    def counts(self, article_id: str) -> dict[str, int]:
        """``{"helpful": n, "not_helpful": m}`` in distinct clients (zeros when none, or when unusable)."""
        rows = self._read(f"SELECT {self._HELPFUL}, {self._UNHELPFUL} FROM votes WHERE article_id = ?", (article_id,))
        h, n = rows[0] if rows else (0, 0)
        return {"helpful": int(h or 0), "not_helpful": int(n or 0)}

    def popular(self, limit: int = 10) -> list[Popular]:
        """Articles voted helpful, by most distinct clients (ties: fewer "not helpful", then id)."""
        rows = self._read(
            f"SELECT article_id, h, n FROM (SELECT article_id, {self._HELPFUL} AS h, {self._UNHELPFUL} AS n "
            "FROM votes GROUP BY article_id) t WHERE h > 0 ORDER BY h DESC, n ASC, article_id ASC LIMIT ?",
            (max(0, int(limit)),))
        return [Popular(str(a), int(h), int(n)) for a, h, n in rows]

    def helpful_counts(self) -> dict[str, int]:
        """Distinct clients who voted each article helpful (articles with none left out)."""
        rows = self._read(f"SELECT article_id, {self._HELPFUL} FROM votes GROUP BY article_id")
        return {str(a): int(h) for a, h in rows if h}

    def unhelpful(self, limit: int = 20, queries: int = 5) -> list[ArticleVotes]:
        """Articles voted "not helpful", by most distinct clients (ties: fewer helpful, then id), each with
        up to ``queries`` of the queries behind those votes, most recent first."""
        rows = self._read(
            f"SELECT article_id, h, n FROM (SELECT article_id, {self._HELPFUL} AS h, {self._UNHELPFUL} AS n "
            "FROM votes GROUP BY article_id) t WHERE n > 0 ORDER BY n DESC, h ASC, article_id ASC LIMIT ?",
            (max(0, int(limit)),))
        out = []
        for article_id, h, n in rows:
            texts = self._read("SELECT query FROM votes WHERE article_id = ? AND helpful = 0 AND query <> '' "
                               "GROUP BY query ORDER BY MAX(id) DESC LIMIT ?", (article_id, max(0, int(queries))))
            out.append(ArticleVotes(str(article_id), int(h), int(n), tuple(str(q) for (q,) in texts)))
        return out

    def unanswered(self, limit: int = 20) -> list[Unanswered]:
        """Queries that found no answer, by most distinct clients (ties: more contacts, then most recent)."""
        rows = self._read(
            "SELECT query, n, c, last FROM (SELECT query, "
            "COUNT(DISTINCT CASE WHEN kind = 'none' THEN client END) AS n, "
            "COUNT(DISTINCT CASE WHEN kind = 'contact' THEN client END) AS c, MAX(created) AS last "
            "FROM unanswered GROUP BY query) t ORDER BY n + c DESC, c DESC, last DESC, query ASC LIMIT ?",
            (max(0, int(limit)),))
        return [Unanswered(str(q), int(n), int(c), str(last)) for q, n, c, last in rows]

    def searches_per_day(self, days: int = 30) -> list[DaySearches]:
        """Logged searches per day for the last ``days`` days, oldest first (days without any left out)."""
        rows = self._read(
            "SELECT day, SUM(CASE WHEN decision = 'answer' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN decision = 'suggest' THEN 1 ELSE 0 END), SUM(CASE WHEN decision = 'none' THEN 1 ELSE 0 END) "
            "FROM searches WHERE day >= ? GROUP BY day ORDER BY day", (_since(days),))
        return [DaySearches(str(d), int(a), int(s), int(n)) for d, a, s, n in rows]

    def top_queries(self, days: int = 30, limit: int = 20) -> list[TopQuery]:
        """The most searched queries (distinct clients) of the last ``days`` days."""
        rows = self._read(
            "SELECT query, COUNT(DISTINCT client) AS c, "
            "SUM(CASE WHEN decision = 'answer' THEN 1 ELSE 0 END) AS a, "
            "SUM(CASE WHEN decision = 'suggest' THEN 1 ELSE 0 END) AS s, "
            "SUM(CASE WHEN decision = 'none' THEN 1 ELSE 0 END) AS n "
            "FROM searches WHERE day >= ? GROUP BY query ORDER BY c DESC, query ASC LIMIT ?",
            (_since(days), max(0, int(limit))))
        out = []
        for query, clients, a, s_, n in rows:
            decision = max((int(a), "answer"), (int(s_), "suggest"), (int(n), "none"))[1]
            out.append(TopQuery(str(query), int(clients), decision))
        return out

    def gap_queries(self, days: int = 30, limit: int = 2000) -> list[GapQuery]:
        """Queries that found no good answer in the last ``days`` days: reported unanswered, settled with low
        confidence (or none), or behind a "not helpful" vote; by most distinct clients."""
        since = _since(days)
        rows = self._read(
            "SELECT query, source, client, top_article FROM ("
            "SELECT query, 'unanswered' AS source, client, NULL AS top_article FROM unanswered WHERE day >= ? "
            "UNION ALL SELECT query, 'low_confidence', client, top_article FROM searches "
            "WHERE day >= ? AND (decision = 'none' OR confidence < ?) "
            "UNION ALL SELECT query, 'not_helpful', client, article_id FROM votes "
            "WHERE day >= ? AND helpful = 0 AND query <> '') t",
            (since, since, LOW_CONFIDENCE, since))
        clients: dict[str, set[str]] = {}
        sources: dict[str, set[str]] = {}
        tops: dict[str, str] = {}
        for query, source, client, top in rows:
            clients.setdefault(str(query), set()).add(str(client))
            sources.setdefault(str(query), set()).add(str(source))
            if top:
                tops.setdefault(str(query), str(top))
        ranked = sorted(clients, key=lambda q: (-len(clients[q]), q))[: max(0, int(limit))]
        return [GapQuery(q, len(clients[q]), tuple(sorted(sources[q])), tops.get(q)) for q in ranked]

    def ratings(self) -> list[ArticleVotes]:
        """Every voted article with its helpful / not helpful clients (for the helpful ratio per article)."""
        rows = self._read(f"SELECT article_id, {self._HELPFUL}, {self._UNHELPFUL} FROM votes GROUP BY article_id "
                          "ORDER BY article_id")
        return [ArticleVotes(str(a), int(h), int(n), ()) for a, h, n in rows]

    def export(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row (for copying a store into another engine)."""
        return {
            "votes": self._rows("SELECT created, day, client, query, article_id, helpful FROM votes ORDER BY id"),
            "unanswered": self._rows("SELECT created, day, client, query, kind FROM unanswered ORDER BY id"),
            "searches": self._rows("SELECT created, day, client, locale, query, decision, top_article, confidence "
                                   "FROM searches ORDER BY id"),
            "kb_meta": self._rows("SELECT key, value FROM kb_meta ORDER BY key"),
            # `fixes` is left out on purpose: a fix's status matters while its editor waits for it, and its
            # outcome is in the article files and the builds already; so are the sign-in tables (sign-outs and
            # wrong keys of the last hours): after a move to another engine, editors sign in again
        }


def _since(days: int) -> str:
    from datetime import timedelta

    return (datetime.now(timezone.utc).date() - timedelta(days=max(0, int(days)))).isoformat()
